//! `doctor`: a pre-flight check, run on a quiet day, that says whether the
//! tool will work with the user's credentials during the next incident.
//!
//! Per region, concurrently and under the run's deadline: the context is in
//! the kubeconfig and not a placeholder, the cluster answers (its version),
//! and a SelfSubjectAccessReview for each permission the checks use. Per
//! healthz URL: it is not a placeholder and its host resolves; the service's
//! health is `healthz`'s business, not this one's. Fetching (`fetch`) only
//! records answers; judging (`judge`) turns them into rows with a fix each,
//! without a cluster or a clock of its own, so every rule is unit-tested.
//!
//! The access reviews are the one request that is not a get or list: a
//! `create` on `selfsubjectaccessreviews`, which asks the API server a
//! question and stores nothing.

mod fetch;
mod judge;
mod telemetry;

pub use telemetry::TelemetryFacts;

pub use fetch::fetch;
pub use judge::judge;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use crate::evidence::selector::PodsSeen;
use crate::kube::client;
use crate::kube::pushback;
use crate::plan::{ContextFrom, Plan, shell_join};
use crate::report::{Problem, ProblemKind};
use crate::runbook;

/// The `-o json` schema name; a change that breaks readers gets a new one.
pub const SCHEMA: &str = "keysvc-check/doctor/v1";

/// A permission the checks use in the runbook's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub verb: &'static str,
    /// The API group (`""` for the core group).
    pub group: &'static str,
    pub resource: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub subresource: &'static str,
    /// Without it a step of the runbook cannot run; optional ones only
    /// cost `diagnose` some evidence.
    pub required: bool,
}

impl Permission {
    const fn new(verb: &'static str, group: &'static str, resource: &'static str, required: bool) -> Permission {
        Permission { verb, group, resource, subresource: "", required }
    }

    /// The resource as `kubectl auth can-i` takes it: `pods/log`, `replicasets.apps`.
    pub fn resource_name(&self) -> String {
        let mut s = self.resource.to_string();
        if !self.group.is_empty() {
            s = format!("{s}.{}", self.group);
        }
        if !self.subresource.is_empty() {
            s = format!("{s}/{}", self.subresource);
        }
        s
    }

    /// The same question as `kubectl auth can-i` takes it. A subresource
    /// goes in `--subresource`: `can-i get pods/log` asks about a pod
    /// named `log`, and answers yes to users who may not read logs.
    pub fn can_i(&self) -> String {
        let mut s = format!("{} {}", self.verb, self.resource);
        if !self.group.is_empty() {
            s = format!("{s}.{}", self.group);
        }
        if !self.subresource.is_empty() {
            s = format!("{s} --subresource={}", self.subresource);
        }
        s
    }
}

/// Every permission `pods`, `logs` and `diagnose` use: the pods list and
/// each pod's logs are required; Warning events, ReplicaSets and the
/// Deployment are the optional evidence of `diagnose`.
pub const PERMISSIONS: [Permission; 8] = [
    Permission::new("list", "", "pods", true),
    Permission::new("get", "", "pods", true),
    Permission { verb: "get", group: "", resource: "pods", subresource: "log", required: true },
    Permission::new("list", "", "events", false),
    Permission::new("get", "apps", "replicasets", false),
    Permission::new("list", "apps", "replicasets", false),
    Permission::new("get", "apps", "deployments", false),
    Permission::new("list", "apps", "deployments", false),
];

/// Which runbook is in effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunbookInfo {
    /// `embedded` or `file`.
    pub source: &'static str,
    /// The file's path, or the embedded runbook's name.
    pub name: String,
    /// What named the file: `--runbook`, `KEYSVC_RUNBOOK` or the config file; absent for the embedded one.
    pub via: Option<&'static str>,
}

impl RunbookInfo {
    /// Where the runbook came from. clap fills `--runbook` from
    /// `KEYSVC_RUNBOOK` too, so the variable counts only when the flag was
    /// not on the command line.
    pub fn new(path: Option<&Path>, name: String, env_value: Option<&std::ffi::OsStr>, flag_given: bool) -> Self {
        match path {
            // No flag or variable: the config file when the lookup found one.
            None if !name.starts_with('<') => RunbookInfo { source: "file", name, via: Some("config file") },
            None => RunbookInfo { source: "embedded", name, via: None },
            Some(p) => {
                let from_env = !flag_given && env_value.is_some_and(|v| Path::new(v) == p);
                RunbookInfo { source: "file", name, via: Some(if from_env { "KEYSVC_RUNBOOK" } else { "--runbook" }) }
            }
        }
    }
}

/// A healthz URL to check for use: the environment's or a region's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTarget {
    pub region: Option<String>,
    /// The runbook key (or flag) that sets it, for the fix.
    pub key: String,
    pub url: String,
}

/// The healthz URLs a run of `plan` would use. `flag` is whether the
/// environment's came from `--healthz-url`.
pub fn url_targets(plan: &Plan, flag: bool) -> Vec<UrlTarget> {
    let env_key = if flag { "--healthz-url".to_string() } else { format!("environments.{}.healthz_url", plan.env) };
    let mut out = vec![UrlTarget { region: None, key: env_key, url: plan.healthz_url.clone() }];
    for r in &plan.regions {
        let key = format!("environments.{}.regions.{}.healthz_url", plan.env, r.name);
        // The plan leaves a placeholder out of the region; the placeholder list keeps it.
        let url = r.healthz_url.clone().or_else(|| {
            plan.placeholders
                .iter()
                .find(|p| p.region.as_deref() == Some(r.name.as_str()) && p.key == key)
                .map(|p| p.value.clone())
        });
        if let Some(url) = url {
            out.push(UrlTarget { region: Some(r.name.clone()), key, url });
        }
    }
    out
}

/// What a SelfSubjectAccessReview answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub allowed: bool,
    /// The authorizer's reason or evaluation error, when it gave one.
    pub reason: Option<String>,
}

/// A step's answer: `None` when it did not finish before the deadline.
pub type Answer<T> = Option<Result<T, Problem>>;

/// What was learnt about one region.
#[derive(Debug, Clone)]
pub struct RegionFacts {
    pub name: String,
    pub context: String,
    /// The context is a placeholder: the runbook key (or flag) to set.
    pub placeholder_key: Option<String>,
    /// Where the context comes from, to name what to fix.
    pub context_from: ContextFrom,
    /// The contexts the environment gives its other regions: never the
    /// likely one for this region.
    pub taken_contexts: Vec<String>,
    /// No kubeconfig: the pod's service account reaches this API server
    /// (the context is not used).
    pub in_cluster: Option<String>,
    /// The context reaches the API server an earlier region's reaches:
    /// one cluster, not asked again as this region.
    pub same_cluster: Option<client::SameCluster>,
    /// The context is in the kubeconfig and a client could be built for it.
    pub client: Answer<()>,
    /// The API server's version (GET /version).
    pub version: Answer<String>,
    /// One answer per [`PERMISSIONS`] entry, in order.
    pub access: Vec<Answer<Access>>,
    /// The status of each request the API server pushed back on and that
    /// was sent again (429, 503, 504).
    pub retried: Vec<u16>,
    /// The pods the runbook's selector matches, listed when `list pods` is
    /// allowed; `None` when not listed or not finished.
    pub pods: Answer<PodsSeen>,
}

/// What was learnt about one healthz URL.
#[derive(Debug, Clone)]
pub struct UrlFacts {
    pub target: UrlTarget,
    /// The addresses its host resolves to (none for an IP address).
    pub resolved: Answer<Vec<IpAddr>>,
}

/// Everything `fetch` learnt; the input of `judge`.
#[derive(Debug, Clone)]
pub struct Facts {
    pub environment: String,
    pub namespace: String,
    pub runbook: RunbookInfo,
    /// The run's `--kubeconfig`, which every kubectl command it suggests carries.
    pub kubeconfig: Option<std::path::PathBuf>,
    pub timeout: Duration,
    pub regions: Vec<RegionFacts>,
    pub urls: Vec<UrlFacts>,
    pub duration_ms: u64,
    /// The runbook's selector and container, and where its keys are written.
    pub selector: String,
    pub container: String,
    pub lines: runbook::KeyLines,
    /// The telemetry provider, when the runbook configures one.
    pub telemetry: Option<TelemetryFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Runbook,
    Context,
    Cluster,
    Permission,
    /// The runbook's selector matches pods here.
    Selector,
    /// The matched pods have the runbook's container.
    Container,
    HealthzUrl,
    /// The variable holding the telemetry provider's key is set.
    TelemetryKey,
    /// The telemetry provider answers the runbook's query.
    TelemetryEndpoint,
    /// The answer names this region.
    TelemetryFacet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// Not there: a context not in the kubeconfig, a permission not granted.
    Missing,
    /// Could not be checked or did not work (unreachable, timed out, no such host).
    Fail,
    /// A placeholder value: configuration still to do.
    Placeholder,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Missing => "missing",
            Outcome::Fail => "fail",
            Outcome::Placeholder => "placeholder",
        }
    }
}

/// One row: a check in a region (or for the environment), its result and,
/// unless it passed, what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRow {
    pub check: CheckKind,
    /// The permission asked about (`check` is `permission`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
    /// `null` for the environment as a whole.
    pub region: Option<String>,
    pub required: bool,
    pub result: Outcome,
    pub detail: String,
    pub fix: Option<String>,
}

impl CheckRow {
    /// What the CHECK column shows: `context`, `get pods/log`, `healthz url`.
    pub fn label(&self) -> String {
        match (self.check, &self.permission) {
            (CheckKind::Permission, Some(p)) => format!("{} {}", p.verb, p.resource_name()),
            (CheckKind::Runbook, _) => "runbook".into(),
            (CheckKind::Context, _) => "context".into(),
            (CheckKind::Cluster, _) => "cluster".into(),
            (CheckKind::Permission, None) => "permission".into(),
            (CheckKind::Selector, _) => "selector".into(),
            (CheckKind::Container, _) => "container".into(),
            (CheckKind::HealthzUrl, _) => "healthz url".into(),
            (CheckKind::TelemetryKey, _) => "telemetry key".into(),
            (CheckKind::TelemetryEndpoint, _) => "telemetry".into(),
            (CheckKind::TelemetryFacet, _) => "telemetry facet".into(),
        }
    }
}

/// The `-o json` document (schema `keysvc-check/doctor/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub schema: &'static str,
    pub tool_version: &'static str,
    pub generated_at: String,
    pub environment: String,
    pub namespace: String,
    pub runbook: RunbookInfo,
    /// Every required check passed (optional ones may be missing).
    pub ok: bool,
    pub summary: String,
    pub checks: Vec<CheckRow>,
    pub duration_ms: u64,
}

impl DoctorReport {
    /// 0 when every required check passed, else 1.
    pub fn exit_code(&self) -> crate::error::ExitCode {
        if self.ok { crate::error::ExitCode::Healthy } else { crate::error::ExitCode::Degraded }
    }
}
