//! The service as a Deployment with its revision history, as the
//! Deployment controller would have left it: the Deployment, one ReplicaSet
//! per revision (annotated with its revision, labelled and selected by its
//! `pod-template-hash`, controlled by the Deployment), and the pods owned by
//! the current ReplicaSet. No controller runs, so everything is created
//! directly and stays as made; `kubectl rollout history` and `kubectl
//! rollout undo --dry-run=server` work against it.

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::cluster::RegionState;
use crate::scenario::{self, APP, CONTAINER, PodKind, PodOwner};

/// The annotation the Deployment controller numbers revisions with.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// A Deployment's history: one image per revision, the last the current one,
/// and the current ReplicaSet's pods.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub images: Vec<String>,
    pub pods: Vec<PodKind>,
}

impl Rollout {
    /// Revisions 1, 2, … running the service at these versions
    /// (`["1.4.2", "1.4.3"]`), three ready pods on the last.
    pub fn versions(versions: &[&str]) -> Rollout {
        Rollout { images: versions.iter().map(|v| scenario::image(v)).collect(), pods: vec![PodKind::Ready; 3] }
    }

    /// The current revision's pods, in order.
    pub fn pods(mut self, kinds: &[PodKind]) -> Rollout {
        self.pods = kinds.to_vec();
        self
    }
}

/// What was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    pub deployment: String,
    /// The ReplicaSets by revision: `replica_sets[0]` is revision 1.
    pub replica_sets: Vec<String>,
    pub pods: Vec<String>,
}

/// A stand-in for the controller's template hash: stable for an image and
/// revision, in the alphabet Kubernetes uses for generated names.
pub fn template_hash(image: &str, revision: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf29ce484222325;
    for b in image.bytes().chain(revision.to_le_bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn template(image: &str, hash: Option<&str>) -> serde_json::Value {
    let mut labels = json!({"app": APP});
    if let Some(h) = hash {
        labels["pod-template-hash"] = json!(h);
    }
    json!({"metadata": {"labels": labels},
           "spec": {"terminationGracePeriodSeconds": 30, "containers": [{"name": CONTAINER, "image": image}]}})
}

fn owner_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> serde_json::Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
           "controller": true, "blockOwnerDeletion": true})
}

/// Puts `ns` into `rollout`: whatever a scenario left is cleared first.
pub async fn apply(client: &Client, region: &RegionState, ns: &str, rollout: &Rollout) -> Result<Deployed> {
    anyhow::ensure!(!rollout.images.is_empty(), "a rollout needs at least one revision");
    scenario::ensure_namespace(client, ns).await?;
    scenario::clear(client, ns).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let current = rollout.images.len();
    let image = rollout.images[current - 1].as_str();
    let replicas = rollout.pods.len();
    let ready = rollout.pods.iter().filter(|k| **k == PodKind::Ready).count();
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP, "namespace": ns, "labels": {"app": APP},
                     "annotations": {REVISION: current.to_string()}},
        "spec": {"replicas": replicas, "revisionHistoryLimit": 10,
                 "selector": {"matchLabels": {"app": APP}}, "template": template(image, None)}
    }))?;
    let d = deployments.create(&PostParams::default(), &d).await.context("creating the deployment")?;
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let status = json!({"status": {"observedGeneration": d.metadata.generation, "replicas": replicas,
        "updatedReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready}});
    deployments
        .patch_status(APP, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .context("setting the deployment's status")?;

    let mut names = vec![];
    let mut current_rs = None;
    for (i, image) in rollout.images.iter().enumerate() {
        let revision = i + 1;
        let hash = template_hash(image, revision);
        let name = format!("{APP}-{hash}");
        let n = if revision == current { replicas } else { 0 };
        let rs: ReplicaSet = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": ns,
                "labels": {"app": APP, "pod-template-hash": hash},
                "annotations": {REVISION: revision.to_string(),
                                "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                                "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string()},
                "ownerReferences": [owner_ref("apps/v1", "Deployment", APP, &uid)]},
            "spec": {"replicas": n, "selector": {"matchLabels": {"app": APP, "pod-template-hash": hash}},
                     "template": template(image, Some(&hash))}
        }))?;
        let rs = replica_sets
            .create(&PostParams::default(), &rs)
            .await
            .with_context(|| format!("creating replicaset {name} (revision {revision})"))?;
        let ready_here = if revision == current { ready } else { 0 };
        let status = json!({"status": {"observedGeneration": rs.metadata.generation, "replicas": n,
            "fullyLabeledReplicas": n, "readyReplicas": ready_here, "availableReplicas": ready_here}});
        replica_sets
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .with_context(|| format!("setting the status of replicaset {name}"))?;
        if revision == current {
            current_rs = Some((name.clone(), hash, rs.metadata.uid.clone().unwrap_or_default()));
        }
        names.push(name);
    }
    let (rs_name, hash, rs_uid) = current_rs.expect("the last revision is current");
    let owner = PodOwner {
        prefix: rs_name.clone(),
        hash: Some(hash),
        owner: Some(owner_ref("apps/v1", "ReplicaSet", &rs_name, &rs_uid)),
        image,
    };
    let pods = scenario::create_pods(client, region, ns, &rollout.pods, &owner).await?;
    Ok(Deployed { deployment: APP.to_string(), replica_sets: names, pods })
}

/// Deletes the service's Deployments and ReplicaSets from `ns` (without a
/// garbage collector, the ReplicaSets do not go with the Deployment).
pub async fn clear(client: &Client, ns: &str) -> Result<()> {
    let lp = ListParams::default().labels(&format!("app={APP}"));
    let dp = DeleteParams::default();
    Api::<Deployment>::namespaced(client.clone(), ns)
        .delete_collection(&dp, &lp)
        .await
        .context("deleting deployments")?;
    Api::<ReplicaSet>::namespaced(client.clone(), ns)
        .delete_collection(&dp, &lp)
        .await
        .context("deleting replicasets")?;
    Ok(())
}
