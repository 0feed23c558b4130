//! Putting a region into a known state through the real API server: the Node
//! that points at the kubelet stand-in, the restricted users' roles, a
//! namespace, and the service's pods with their status written through the
//! status subresource (nothing else writes it: no kubelet or controllers run).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::cluster::RegionState;
use crate::deployment;
use crate::events::{self, EventSpec};
use crate::kubelet::{self, Generate, LogSpec};

pub const APP: &str = "api-key-service";
pub const CONTAINER: &str = "api-key-service";
/// The image pods run unless a Deployment says otherwise.
pub const DEFAULT_IMAGE: &str = "keysvc/api-key-service:1.0";

/// The service's image at `version` (`image("1.4.3")`).
pub fn image(version: &str) -> String {
    format!("keysvc/api-key-service:{version}")
}

/// The states a region can be put into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 3 pods Running and Ready.
    Healthy,
    /// 2 Ready, 1 in CrashLoopBackOff (7 restarts, last terminated OOMKilled
    /// exit 137 four minutes ago, Ready=False).
    CrashLoop,
    /// 2 Ready, 1 Pending (container creating).
    Pending,
    /// 2 Ready, 1 Terminating (deletionTimestamp set, held by a finalizer).
    Terminating,
    /// Every pod crash-looping.
    AllCrashLoop,
    /// The namespace exists but holds no pods.
    NoPods,
    /// The namespace does not exist.
    NoNamespace,
    /// 2 Ready, 1 Running whose readiness probe fails (Ready=False), with its
    /// `Unhealthy` events.
    ProbeFailing,
    /// 2 Ready, 1 Pending that cannot pull its image (ImagePullBackOff), with
    /// its `Failed`/`BackOff` events.
    ImagePull,
    /// 2 Ready, 1 Pending that no node can take (PodScheduled=False,
    /// Unschedulable), with its `FailedScheduling` event.
    Unschedulable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodKind {
    Ready,
    CrashLoop,
    Pending,
    Terminating,
    /// Running, its readiness probe failing: Ready=False; `Unhealthy` events.
    ProbeFailing,
    /// Pending, waiting in ImagePullBackOff; `Failed` and `BackOff` events.
    ImagePull,
    /// Pending, not scheduled (no node); a `FailedScheduling` event.
    Unschedulable,
}

impl Scenario {
    pub fn pods(self) -> Vec<PodKind> {
        use PodKind::*;
        match self {
            Scenario::Healthy => vec![Ready, Ready, Ready],
            Scenario::CrashLoop => vec![Ready, Ready, CrashLoop],
            Scenario::Pending => vec![Ready, Ready, Pending],
            Scenario::Terminating => vec![Ready, Ready, Terminating],
            Scenario::AllCrashLoop => vec![CrashLoop, CrashLoop, CrashLoop],
            Scenario::ProbeFailing => vec![Ready, Ready, ProbeFailing],
            Scenario::ImagePull => vec![Ready, Ready, ImagePull],
            Scenario::Unschedulable => vec![Ready, Ready, Unschedulable],
            Scenario::NoPods | Scenario::NoNamespace => vec![],
        }
    }
}

const FINALIZER: &str = "keysvc.test/hold";

/// The restricted users bound in every namespace, each to `keysvc-{user}`:
/// `oncall` has the minimal role, `nologs` lacks `pods/log`, `evidence` adds
/// the optional reads.
pub const USERS: [&str; 3] = ["oncall", "nologs", "evidence"];

fn rfc3339(t: Timestamp) -> String {
    format!("{t:.0}")
}

/// Cluster-wide objects every region needs once: the Node and the roles.
pub async fn seed_region(client: &Client, region: &RegionState) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": region.node, "labels": {"topology.kubernetes.io/region": region.name}}});
    let pp = PatchParams::apply("keysvc-testenv").force();
    nodes.patch(&region.node, &pp, &Patch::Apply(&node)).await.context("creating the node")?;
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": region.node}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": region.kubelet_port}},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "stand-in",
                        "lastHeartbeatTime": rfc3339(Timestamp::now()), "lastTransitionTime": rfc3339(Timestamp::now())}]
    }});
    nodes
        .patch_status(&region.node, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .context("setting the node's status")?;
    let roles: Api<ClusterRole> = Api::all(client.clone());
    for (name, resources) in [("keysvc-oncall", json!(["pods", "pods/log"])), ("keysvc-nologs", json!(["pods"]))] {
        let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": resources, "verbs": ["get", "list"]}]});
        roles.patch(name, &pp, &Patch::Apply(&role)).await.with_context(|| format!("creating role {name}"))?;
    }
    // The on-call role plus the optional evidence: events, ReplicaSets and
    // Deployments, still only read.
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "keysvc-evidence"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
            {"apiGroups": ["apps"], "resources": ["replicasets", "deployments"], "verbs": ["get", "list"]}]});
    roles.patch("keysvc-evidence", &pp, &Patch::Apply(&role)).await.context("creating role keysvc-evidence")?;
    Ok(())
}

pub(crate) async fn ensure_namespace(client: &Client, ns: &str) -> Result<()> {
    let nss: Api<Namespace> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    // A namespace still being removed must finish first.
    while let Some(existing) = nss.get_opt(ns).await? {
        if existing.metadata.deletion_timestamp.is_none() {
            break;
        }
        finalize_namespace(client, ns).await?;
        if Instant::now() > deadline {
            bail!("namespace {ns} is stuck terminating");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pp = PatchParams::apply("keysvc-testenv").force();
    nss.patch(ns, &pp, &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})))
        .await
        .with_context(|| format!("creating namespace {ns}"))?;
    let rbs: Api<RoleBinding> = Api::namespaced(client.clone(), ns);
    for user in USERS {
        let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": user, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("keysvc-{user}")},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]});
        rbs.patch(user, &pp, &Patch::Apply(&rb)).await.with_context(|| format!("binding {user} in {ns}"))?;
    }
    Ok(())
}

/// Without a namespace controller, a deleted namespace keeps its finalizer;
/// clearing it through the finalize subresource lets it go.
async fn finalize_namespace(client: &Client, ns: &str) -> Result<()> {
    let nss: Api<Namespace> = Api::all(client.clone());
    let Some(mut obj) = nss.get_opt(ns).await? else {
        return Ok(());
    };
    if let Some(spec) = obj.spec.as_mut() {
        spec.finalizers = Some(vec![]);
    }
    match nss.replace_subresource("finalize", ns, &PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes every pod of the service from `ns`, finalizers and all.
async fn clear_pods(client: &Client, ns: &str) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("app={APP}"));
    let dp = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
    for pod in pods.list(&lp).await?.items {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if pod.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
            pods.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
                .await?;
        }
        match pods.delete(&name, &dp).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pods.list(&lp).await?.items.is_empty() {
        if Instant::now() > deadline {
            bail!("pods in {ns} were not removed within 30s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = Timestamp::now().as_nanosecond() as u64 ^ (std::process::id() as u64).rotate_left(32);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            c
        })
        .collect()
}

fn ready_status(now: Timestamp, image: &str) -> serde_json::Value {
    ready_status_since(now - SignedDuration::from_hours(2), image)
}

/// A Running, Ready pod whose container started at `started`.
fn ready_status_since(started: Timestamp, image: &str) -> serde_json::Value {
    let started = rfc3339(started);
    json!({
        "phase": "Running", "hostIP": "127.0.0.1", "podIP": "10.244.0.10", "startTime": started,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
            {"type": "Ready", "status": "True", "lastTransitionTime": started},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": started},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started}],
        "containerStatuses": [{"name": CONTAINER, "ready": true, "started": true, "restartCount": 0,
            "image": image, "imageID": "",
            "state": {"running": {"startedAt": started}}}]
    })
}

fn status_for(kind: PodKind, now: Timestamp, image: &str) -> serde_json::Value {
    let started = rfc3339(now - SignedDuration::from_hours(2));
    match kind {
        PodKind::Ready | PodKind::Terminating => ready_status(now, image),
        PodKind::CrashLoop => json!({
            "phase": "Running", "hostIP": "127.0.0.1", "podIP": "10.244.0.11", "startTime": started,
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": started},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started}],
            "containerStatuses": [{"name": CONTAINER, "ready": false, "started": false, "restartCount": 7,
                "image": image, "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off 5m0s restarting failed container={CONTAINER}")}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                    "startedAt": rfc3339(now - SignedDuration::from_secs(300)),
                    "finishedAt": rfc3339(now - SignedDuration::from_secs(240))}}}]
        }),
        PodKind::Pending => json!({
            "phase": "Pending", "hostIP": "127.0.0.1", "startTime": rfc3339(now - SignedDuration::from_secs(90)),
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                           {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": started}],
            "containerStatuses": [{"name": CONTAINER, "ready": false, "started": false, "restartCount": 0,
                "image": image, "imageID": "",
                "state": {"waiting": {"reason": "ContainerCreating"}}}]
        }),
        PodKind::ProbeFailing => json!({
            "phase": "Running", "hostIP": "127.0.0.1", "podIP": "10.244.0.12", "startTime": started,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                 "message": format!("containers with unready status: [{CONTAINER}]"), "lastTransitionTime": started},
                {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": started},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started}],
            "containerStatuses": [{"name": CONTAINER, "ready": false, "started": true, "restartCount": 0,
                "image": image, "imageID": "", "state": {"running": {"startedAt": started}}}]
        }),
        PodKind::ImagePull => json!({
            "phase": "Pending", "hostIP": "127.0.0.1", "startTime": rfc3339(now - SignedDuration::from_secs(240)),
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                           {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": started}],
            "containerStatuses": [{"name": CONTAINER, "ready": false, "started": false, "restartCount": 0,
                "image": image, "imageID": "",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}}}]
        }),
        PodKind::Unschedulable => json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                            "message": UNSCHEDULABLE, "lastTransitionTime": rfc3339(now - SignedDuration::from_secs(240))}]
        }),
    }
}

const UNSCHEDULABLE: &str = "0/1 nodes are available: 1 Insufficient memory.";

/// The Warning events the kubelet or scheduler would have recorded for a
/// pod of `kind` over the last few minutes.
pub fn pod_events(kind: PodKind, pod: &str, image: &str) -> Vec<EventSpec> {
    let ev = |reason: &str, message: String| EventSpec::warning("Pod", pod, reason, &message);
    match kind {
        PodKind::ProbeFailing => vec![
            ev("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503".into())
                .count(14)
                .seen(280, 5),
        ],
        PodKind::ImagePull => vec![
            ev("Failed", format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/{image}\": not found"))
                .count(4)
                .seen(240, 60),
            ev("Failed", "Error: ErrImagePull".into()).count(4).seen(240, 60),
            ev("BackOff", format!("Back-off pulling image \"{image}\"")).count(9).seen(230, 8),
            ev("Failed", "Error: ImagePullBackOff".into()).count(9).seen(230, 8),
        ],
        PodKind::Unschedulable => vec![
            ev("FailedScheduling", UNSCHEDULABLE.into()).count(6).seen(240, 20).component("default-scheduler"),
        ],
        PodKind::Ready | PodKind::CrashLoop | PodKind::Pending | PodKind::Terminating => vec![],
    }
}

/// Log lines a healthy instance of the service writes.
pub fn info_logs(pod: &str) -> LogSpec {
    LogSpec::lines((0..20).map(|i| {
        (
            280.0 - i as f64 * 14.0,
            format!("INFO  [{pod}] GET /v1/keys/validate 200 {}ms request_id=req-{i:04}", 3 + i % 5),
        )
    }))
}

/// What a crash-looping instance logged before the OOM kill.
pub fn crash_logs(pod: &str) -> LogSpec {
    let mut previous = LogSpec::lines([
        (290.0, format!("INFO  [{pod}] starting api-key-service 1.0")),
        (280.0, "ERROR failed to load signing keys: connection refused (db-7.internal:5432) attempt=1".to_string()),
        (270.0, "ERROR failed to load signing keys: connection refused (db-7.internal:5432) attempt=2".to_string()),
        (260.0, "ERROR panic in handler: java.lang.OutOfMemoryError: Java heap space".to_string()),
        (260.0, "\tat com.example.keys.Signer.sign(Signer.java:88)".to_string()),
        (260.0, "\tat com.example.keys.Handler.handle(Handler.java:41)".to_string()),
    ]);
    previous.previous = None;
    LogSpec {
        lines: vec![],
        generate: None,
        previous: Some(Box::new(previous)),
        error: Some((400, format!("container \"{CONTAINER}\" in pod \"{pod}\" is waiting to start: CrashLoopBackOff"))),
        ..LogSpec::default()
    }
}

/// Puts `ns` in a region into `scenario`; returns the new pods' names.
pub async fn apply(client: &Client, region: &RegionState, ns: &str, scenario: Scenario) -> Result<Vec<String>> {
    apply_pods(client, region, ns, scenario, &scenario.pods()).await
}

/// Like [`apply`], with the pods given one by one.
pub async fn apply_pods(
    client: &Client,
    region: &RegionState,
    ns: &str,
    scenario: Scenario,
    kinds: &[PodKind],
) -> Result<Vec<String>> {
    if scenario == Scenario::NoNamespace {
        let nss: Api<Namespace> = Api::all(client.clone());
        if nss.get_opt(ns).await?.is_some() {
            clear_pods(client, ns).await?;
            let _ = nss.delete(ns, &DeleteParams::default()).await;
            finalize_namespace(client, ns).await?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while nss.get_opt(ns).await?.is_some() {
                if Instant::now() > deadline {
                    bail!("namespace {ns} was not removed within 30s");
                }
                finalize_namespace(client, ns).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        return Ok(vec![]);
    }
    ensure_namespace(client, ns).await?;
    clear(client, ns).await?;
    let owner = PodOwner { prefix: format!("{APP}-5f6d8{}", suffix()), hash: None, owner: None, image: DEFAULT_IMAGE };
    create_pods(client, region, ns, kinds, &owner).await
}

/// How a batch of pods is named, labelled and owned.
pub struct PodOwner<'a> {
    /// Pod names are `{prefix}-xxxxx`.
    pub prefix: String,
    /// The `pod-template-hash` label, for pods of a Deployment's ReplicaSet.
    pub hash: Option<String>,
    /// The controlling owner reference.
    pub owner: Option<serde_json::Value>,
    pub image: &'a str,
}

/// Creates the service's pods with their status, logs and the
/// events their state comes with.
pub async fn create_pods(
    client: &Client,
    region: &RegionState,
    ns: &str,
    kinds: &[PodKind],
    owner: &PodOwner<'_>,
) -> Result<Vec<String>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let now = Timestamp::now();
    let mut names = vec![];
    for (i, &kind) in kinds.iter().enumerate() {
        let base = ["9vdzm", "k2x7q", "p8w4t", "h6n3b", "c4r8j", "t7b2f", "w5q8z", "x3m9d"][i % 8];
        // Past the eighth, five characters still, as the ReplicaSet controller makes them.
        let suffix = if i < 8 { base.to_string() } else { format!("{}{:02}", &base[..3], i / 8) };
        let name = format!("{}-{suffix}", owner.prefix);
        let mut meta = json!({"name": name, "namespace": ns, "labels": {"app": APP}});
        if let Some(hash) = &owner.hash {
            meta["labels"]["pod-template-hash"] = json!(hash);
        }
        if let Some(o) = &owner.owner {
            meta["ownerReferences"] = json!([o]);
        }
        if kind == PodKind::Terminating {
            meta["finalizers"] = json!([FINALIZER]);
        }
        let mut spec = json!({"terminationGracePeriodSeconds": 30,
                              "containers": [{"name": CONTAINER, "image": owner.image}]});
        // A pod no node could take has none.
        if kind != PodKind::Unschedulable {
            spec["nodeName"] = json!(region.node);
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
        let pod: Pod = serde_json::from_value(pod)?;
        pods.create(&PostParams::default(), &pod).await.with_context(|| format!("creating pod {name}"))?;
        pods.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status_for(kind, now, owner.image)})),
        )
        .await
        .with_context(|| format!("setting status of {name}"))?;
        let waiting = |why: &str| LogSpec {
            error: Some((400, format!("container \"{CONTAINER}\" in pod \"{name}\" is waiting to start: {why}"))),
            ..LogSpec::default()
        };
        let spec = match kind {
            PodKind::CrashLoop => crash_logs(&name),
            PodKind::Pending => waiting("ContainerCreating"),
            PodKind::ImagePull => waiting("trying and failing to pull image"),
            _ => info_logs(&name),
        };
        kubelet::write_spec(&region.logs_dir, ns, &name, CONTAINER, &spec)?;
        for e in pod_events(kind, &name, owner.image) {
            events::create(client, ns, &e.host(&region.node)).await?;
        }
        if kind == PodKind::Terminating {
            pods.delete(&name, &DeleteParams::default()).await?;
        }
        names.push(name);
    }
    Ok(names)
}

/// A pod given as it should read: any spec and status, for states the
/// scenarios do not cover (init containers, sidecars, evictions, lost nodes).
#[derive(Debug, Clone)]
pub struct RawPod {
    /// The pod's name; it gets the service's label so keysvc-check lists it.
    pub name: String,
    /// The pod's spec, as the API server takes it.
    pub spec: serde_json::Value,
    /// Written through the status subresource after the pod is created.
    pub status: serde_json::Value,
    /// Deleted once its status is written, and held by a finalizer so that it
    /// stays, with a deletion timestamp.
    pub deleted: bool,
}

/// Replaces the service's pods in `ns` with `pods`, each exactly as given.
pub async fn put_raw_pods(client: &Client, ns: &str, raw: &[RawPod]) -> Result<()> {
    ensure_namespace(client, ns).await?;
    clear_pods(client, ns).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for p in raw {
        let mut meta = json!({"name": p.name, "namespace": ns, "labels": {"app": APP}});
        if p.deleted {
            meta["finalizers"] = json!([FINALIZER]);
        }
        let pod: Pod =
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": p.spec}))
                .with_context(|| format!("pod {}: the spec", p.name))?;
        pods.create(&PostParams::default(), &pod).await.with_context(|| format!("creating pod {}", p.name))?;
        pods.patch_status(&p.name, &PatchParams::default(), &Patch::Merge(json!({"status": p.status})))
            .await
            .with_context(|| format!("setting status of {}", p.name))?;
        if p.deleted {
            pods.delete(&p.name, &DeleteParams::default()).await.with_context(|| format!("deleting pod {}", p.name))?;
        }
    }
    Ok(())
}

/// Empties `ns` of what a scenario leaves: the service's pods, its
/// Deployment and ReplicaSets, and every event.
pub async fn clear(client: &Client, ns: &str) -> Result<()> {
    clear_pods(client, ns).await?;
    deployment::clear(client, ns).await?;
    events::clear(client, ns).await
}

/// Makes a Running, Ready pod's container (and the pod) have started `ago` before now.
pub async fn set_started(client: &Client, ns: &str, name: &str, ago: SignedDuration) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    // The status is replaced whole: keep the image the pod runs.
    let current = pods.get(name).await.with_context(|| format!("reading {name}"))?;
    let image = current
        .status
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.into_iter().next())
        .map_or_else(|| DEFAULT_IMAGE.to_string(), |c| c.image);
    let status = ready_status_since(Timestamp::now() - ago, &image);
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": status})))
        .await
        .with_context(|| format!("setting the start of {name}"))?;
    Ok(())
}

/// Traffic of `count` lines spread evenly over the last `span_secs` seconds,
/// one in `error_every` (if non-zero) the error `error` (`{n}` becomes the
/// line number), the rest INFO request lines.
pub fn traffic(count: u64, span_secs: f64, error_every: u64, error: &str) -> Generate {
    Generate {
        count,
        span_secs,
        template: "INFO  GET /v1/keys/validate 200 4ms request_id=req-{n}".into(),
        error_every,
        error_template: error.into(),
    }
}

/// Deletes a pod at once (no grace period).
pub async fn delete_pod(client: &Client, ns: &str, name: &str) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let dp = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
    pods.delete(name, &dp).await?;
    Ok(())
}

/// A log spec of `count` generated lines over the last four minutes, one in
/// `error_every` an ERROR.
pub fn volume_logs(count: u64, error_every: u64) -> LogSpec {
    LogSpec {
        generate: Some(Generate {
            count,
            span_secs: 240.0,
            template: "INFO  GET /v1/keys/validate 200 4ms request_id=req-{n}".into(),
            error_every,
            error_template: "ERROR token validation failed: signature mismatch kid=key-{n}".into(),
        }),
        ..LogSpec::default()
    }
}
