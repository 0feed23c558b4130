//! The report: everything a run found, as plain data. Checks fill it in,
//! `verdict` judges it, renderers print it. Field names are the JSON schema
//! (`keysvc-check/report/v2`, see README) and stay stable.

use serde::Serialize;

mod logs;
mod step;
mod telemetry;

pub use logs::{ErrorGroup, ErrorSignature, Judgement, LogsStep, PodBaseline, PodLogs};
pub use step::{NextStep, StepCommand};
pub use telemetry::{RegionTelemetry, TelemetryStep};

pub const SCHEMA: &str = "keysvc-check/report/v2";

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Could not be checked; never counted as passing.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Healthy,
    Degraded,
    Down,
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Down => "down",
            Verdict::Unknown => "unknown",
        }
    }
}

/// Why a step could not be checked, in a few fixed kinds plus plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    ContextMissing,
    Kubeconfig,
    Refused,
    Reset,
    Dns,
    Tls,
    Timeout,
    Unauthorized,
    Forbidden,
    NotFound,
    BadRequest,
    Deadline,
    Interrupted,
    /// The API server pushed back (429, 503, 504) until no time was left to retry.
    Throttled,
    /// A URL or context on a reserved placeholder name: not checked.
    Placeholder,
    /// The region's context reaches the API server another region's does:
    /// not checked again as a second region.
    SameCluster,
    /// The telemetry provider refused the query (a syntax error, an unknown
    /// account): the runbook's `telemetry.query` or account is the cause.
    Query,
    /// The runbook names what the cluster does not have: a container the
    /// pods lack, a selector that matches no pod anywhere while healthz
    /// passes. The runbook, not the service, is the likeliest cause.
    RunbookMismatch,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    /// What the problem is about, beyond its kind: what the advice and
    /// doctor decide on, never the message's words.
    #[serde(skip)]
    pub detail: ProblemDetail,
    /// What the cluster has instead of what the runbook or a flag names (the
    /// pods' containers, the kubeconfig's contexts, the labels of the
    /// namespace's pods): where a "did you mean" is looked for.
    #[serde(skip)]
    pub instead: Vec<String>,
}

/// What a problem is about, beyond its kind, set where the problem is made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProblemDetail {
    #[default]
    None,
    /// No kubeconfig to read: the files named do not exist, or HOME is unset.
    KubeconfigMissing,
    /// This kubeconfig file cannot be read as a kubeconfig (unreadable, not YAML).
    KubeconfigUnreadable { file: String },
    /// The kubeconfig files could not be merged.
    KubeconfigMerge,
    /// The context's entry in the kubeconfig cannot be used.
    ContextUnusable,
    /// The runbook gives the region no context, and the kubeconfig has no
    /// current one.
    NoContext,
    /// The context's credentials could not be had (no plugin to blame).
    Credentials,
    /// The context's credential plugin (`user.exec.command`) is at fault.
    Plugin(PluginFault),
    /// The pods have no container the runbook names; the ones they have.
    NoSuchContainer { containers: Vec<String> },
    /// The runbook's selector matches no pod anywhere.
    SelectorMatchesNothing,
    /// The environment's healthz got no reply, and nothing else answered
    /// from here either (no region's cluster, no other API): this
    /// machine's network, VPN or kubeconfig as likely as an outage.
    NothingReached,
    /// The API server refused `verb` on `resource`.
    Forbidden { verb: String, resource: String },
    /// The environment variable that holds a key or token is not set.
    EnvUnset { var: String },
    /// The telemetry answer has no value for the region's name in the
    /// runbook, but this near one that no region claims.
    TelemetryName { near: String },
}

/// How a kubeconfig's credential plugin failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginFault {
    /// The command is not on PATH (or its path does not exist).
    NotFound(String),
    /// It ran and failed; its own message is in the problem's.
    Failed(String),
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: crate::sanitize::clean(&message.into(), crate::sanitize::MAX_CHARS),
            detail: ProblemDetail::None,
            instead: vec![],
        }
    }

    /// What the cluster has instead (see [`Problem::instead`]).
    pub fn instead(mut self, names: Vec<String>) -> Problem {
        self.instead = names;
        self
    }

    /// What the problem is about (see [`ProblemDetail`]).
    pub fn detail(mut self, detail: ProblemDetail) -> Problem {
        self.detail = detail;
        self
    }

    /// The problem is this kubeconfig file's own: it cannot be read as one.
    pub fn in_file(self, file: &std::path::Path) -> Problem {
        let file = crate::sanitize::clean(&file.display().to_string(), crate::sanitize::MAX_CHARS);
        self.detail(ProblemDetail::KubeconfigUnreadable { file })
    }

    /// The credential plugin at fault.
    pub fn plugin(&self) -> Option<&PluginFault> {
        match &self.detail {
            ProblemDetail::Plugin(f) => Some(f),
            _ => None,
        }
    }
}

/// Step 1: one healthz URL.
#[derive(Debug, Clone, Serialize)]
pub struct HealthzCheck {
    pub url: String,
    pub status: Status,
    pub http_status: Option<u16>,
    pub latency_ms: Option<u64>,
    /// The parsed JSON reply, when there was one.
    pub reply: Option<serde_json::Value>,
    /// The start of a body that was not the expected JSON (control characters escaped).
    pub body_excerpt: Option<String>,
    /// What makes the reply a failure; empty when it passed.
    pub problems: Vec<String>,
    /// What differs from the runbook in a reply that says the service is
    /// operational (another `href` or description): a warning only.
    pub mismatches: Vec<String>,
    /// Fields of a reply that says the service is operational whose value is
    /// an unrendered template placeholder (`href is {{site.url}}`): a
    /// misconfigured deployment, so the service is degraded, never healthy.
    pub unrendered: Vec<String>,
    /// Set when no reply could be had at all.
    pub error: Option<Problem>,
}

/// One pod as `kubectl get po` shows it, plus what the verdict needs.
#[derive(Debug, Clone, Serialize)]
pub struct PodInfo {
    pub name: String,
    /// "1/1"
    pub ready: String,
    pub is_ready: bool,
    /// The STATUS column: Running, CrashLoopBackOff, OOMKilled, Pending, Terminating…
    pub status: String,
    pub restarts: i32,
    pub last_restart_secs_ago: Option<u64>,
    /// Why the last container instance ended (e.g. OOMKilled, exit 137).
    pub last_terminated: Option<Terminated>,
    pub age_secs: Option<u64>,
    pub node: Option<String>,
    pub terminating: bool,
    pub crash_looping: bool,
    pub pending: bool,
    /// Since its Ready condition last turned false, when it is not ready
    /// (the condition's `lastTransitionTime`); `None` when ready or unknown.
    pub not_ready_secs_ago: Option<u64>,
    /// Why it is not running, in the pod's own words (the scheduler's or a
    /// waiting container's message), when its status gives one.
    pub why: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Terminated {
    pub reason: String,
    pub exit_code: i32,
    pub finished_secs_ago: Option<u64>,
}

/// Step 2 for one region.
#[derive(Debug, Clone, Serialize)]
pub struct PodsStep {
    pub status: Status,
    pub expected: u32,
    pub ready: u32,
    pub total: u32,
    pub restarts: i64,
    pub pods: Vec<PodInfo>,
    /// A note such as "namespace api does not exist".
    pub note: Option<String>,
    /// No pods were listed and whether the namespace exists could not be
    /// asked (the user may not get namespaces, or the question failed):
    /// why. The note says it in words; the advice offers a way to tell.
    #[serde(skip)]
    pub namespace_unchecked: Option<Problem>,
    /// When no pod matches the selector: the labels the namespace's pods
    /// have on the selector's keys (`app=api-key-service`), most pods
    /// first, at most 10 — a typo in the selector shows here. Empty
    /// otherwise, or when they could not be listed.
    pub other_labels: Vec<String>,
    pub error: Option<Problem>,
    pub duration_ms: u64,
}

/// What a group of Warning events points at. A closed list: new reasons
/// land in `other` rather than growing the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `Unhealthy`: a readiness, liveness or startup probe failed.
    ProbeFailing,
    /// `BackOff` restarting a failed container.
    BackOff,
    /// The image could not be pulled (`Failed`, `ErrImagePull`, `ImagePullBackOff`, `BackOff` pulling).
    ImagePull,
    /// `FailedScheduling`.
    Unschedulable,
    /// `FailedMount`, `FailedAttachVolume`.
    MountFailed,
    /// `Evicted`.
    Evicted,
    Other,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ProbeFailing => "probe_failing",
            EventKind::BackOff => "back_off",
            EventKind::ImagePull => "image_pull",
            EventKind::Unschedulable => "unschedulable",
            EventKind::MountFailed => "mount_failed",
            EventKind::Evicted => "evicted",
            EventKind::Other => "other",
        }
    }
}

/// Warning events with the same reason and kind, summed over the objects
/// involved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventGroup {
    pub reason: String,
    pub kind: EventKind,
    /// Occurrences, summed over the events' `count`s.
    pub count: u64,
    /// Objects involved as kubectl names them (`pod/NAME`), the most recent first, at most a few.
    pub objects: Vec<String>,
    /// How many objects were involved in all.
    pub objects_total: usize,
    /// The most recent message that says why (`Failed to pull image "…": not
    /// found` over a later `Error: ImagePullBackOff`), else the most recent
    /// (control characters escaped, capped).
    pub message: String,
    pub first_seen_secs_ago: Option<u64>,
    pub last_seen_secs_ago: Option<u64>,
}

/// The Warning events of one region's pods, ReplicaSets and Deployment seen
/// within the log window.
#[derive(Debug, Clone, Serialize)]
pub struct EventsStep {
    /// `pass` when the events were read (whatever they say), `error` when not.
    pub status: Status,
    pub window_secs: u64,
    /// The most recent first.
    pub groups: Vec<EventGroup>,
    /// The namespace had more Warning events than one bounded list returns;
    /// the groups cover those that were returned.
    pub truncated: bool,
    pub error: Option<Problem>,
    pub duration_ms: u64,
}

/// One revision of a Deployment, as its ReplicaSet records it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionFacts {
    pub revision: u64,
    pub replica_set: String,
    /// The pod template's container images, sorted (comparable across regions).
    pub images: Vec<String>,
}

/// What changed: the Deployment behind the pods, its current revision and
/// the one before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutFacts {
    /// `pass` when the owners were read, `error` when not (what was read is kept).
    pub status: Status,
    pub deployment: Option<String>,
    pub revision: Option<u64>,
    pub replica_set: Option<String>,
    /// The current revision's container images, sorted (comparable across regions).
    pub images: Vec<String>,
    /// Since the current revision's ReplicaSet was created.
    pub rolled_out_secs_ago: Option<u64>,
    /// The next-highest revision, when the Deployment has one.
    pub previous: Option<RevisionFacts>,
    /// The Deployment's desired replicas (`spec.replicas`); `None` when the
    /// Deployment was not read.
    pub replicas: Option<u32>,
    /// Who last wrote `spec.replicas` (`kubectl-patch`, a CD tool, an
    /// autoscaler) and how long ago that manager last wrote the Deployment,
    /// as its managed fields record it; `None` when they do not.
    pub replicas_set: Option<FieldChange>,
    /// Why there is nothing to say, e.g. "the pods are not owned by a Deployment".
    pub note: Option<String>,
    pub error: Option<Problem>,
    pub duration_ms: u64,
}

/// Who last changed a field of an object, and how long ago (its managed fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// The field manager: `kubectl-scale`, `kubectl-patch`, `argocd`…
    pub by: String,
    pub secs_ago: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    pub name: String,
    pub context: String,
    /// The runbook gives the region no context: `context` is the
    /// kubeconfig's current one, as kubectl uses it.
    pub current_context: bool,
    pub verdict: Verdict,
    pub healthz: Option<HealthzCheck>,
    pub pods: Option<PodsStep>,
    pub logs: Option<LogsStep>,
    /// Warning events of the pods and their owners (`diagnose` only; optional evidence).
    pub events: Option<EventsStep>,
    /// The Deployment's current and previous revision (`diagnose` only; optional evidence).
    pub rollout: Option<RolloutFacts>,
    /// What the telemetry provider says of the region (when the runbook configures one).
    pub telemetry: Option<RegionTelemetry>,
    /// Requests the API server pushed back on (429, 503, 504) that were sent
    /// again, over every step; 0 when none. A control plane under load.
    pub retries: u32,
    /// The statuses those retries answered, each once, in order (`[429]`).
    pub retried_statuses: Vec<u16>,
    pub duration_ms: u64,
}

impl Report {
    /// The kubeconfig's current context, when some region uses it (the
    /// runbook gives them none), with those regions.
    pub fn current_context(&self) -> Option<(&str, Vec<&str>)> {
        let regions: Vec<&RegionReport> = self.regions.iter().filter(|r| r.current_context).collect();
        let first = regions.first()?;
        Some((first.context.as_str(), regions.iter().map(|r| r.name.as_str()).collect()))
    }
}

impl RegionReport {
    /// Counts one request sent again after `status`.
    pub fn count_retry(&mut self, status: u16) {
        self.retries += 1;
        if let Err(at) = self.retried_statuses.binary_search(&status) {
            self.retried_statuses.insert(at, status);
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceVerdict {
    pub verdict: Verdict,
    pub summary: String,
    /// The user impact, stated when the service is down.
    pub impact: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool_version: &'static str,
    /// When the run started, RFC 3339 in UTC (`2025-01-02T03:04:05Z`).
    pub generated_at: String,
    pub runbook: String,
    pub service_name: String,
    pub environment: String,
    /// Which steps ran: "healthz", "pods", "logs".
    pub steps: Vec<&'static str>,
    pub service: ServiceVerdict,
    pub healthz: Option<HealthzCheck>,
    /// Other APIs' healthz, probed with the service's (runbook `peers`).
    pub peers: Vec<PeerCheck>,
    /// The telemetry step (`diagnose`, `telemetry`): `configured` false when
    /// the runbook has none; absent for the commands that do not run it.
    pub telemetry: Option<TelemetryStep>,
    pub regions: Vec<RegionReport>,
    /// What the run found, most severe first; each names its region or none.
    pub findings: Vec<Finding>,
    /// What to do, in order: the first is what to do first.
    pub next_steps: Vec<NextStep>,
    /// The run was cut short (deadline or Ctrl-C); some results are missing.
    pub partial: bool,
    pub duration_ms: u64,
}

/// Another API's healthz, probed to tell a platform outage from the
/// service's own: up means any 2xx reply.
#[derive(Debug, Clone, Serialize)]
pub struct PeerCheck {
    pub name: String,
    pub url: String,
    pub up: bool,
    pub http_status: Option<u16>,
    pub latency_ms: Option<u64>,
    pub error: Option<Problem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Fail,
}

/// The closed list of finding kinds (README, "JSON report").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Fewer pods ready than expected.
    NotReady,
    /// More pods ready than expected (information: the count is not wrong).
    MoreReady,
    /// No pod of the service in the region (or no namespace).
    NoPods,
    CrashLoop,
    OomKilled,
    /// A container restarted inside the log window.
    Restarted,
    Pending,
    Terminating,
    /// What a crashed container logged before it ended.
    CrashedLogs,
    /// More error lines than usual for the service.
    ErrorSpike,
    /// An error not seen in the baseline.
    NewError,
    /// Errors at the service's usual rate.
    SteadyErrors,
    /// More error lines than the runbook's absolute `error_threshold`.
    ErrorThreshold,
    /// The same error in the window of two or more regions.
    SharedError,
    /// A region's error rate far above its siblings'.
    ErrorOutlier,
    ProbeFailing,
    BackOff,
    ImagePull,
    Unschedulable,
    MountFailed,
    Evicted,
    /// Another Warning event of the service's objects.
    Event,
    Rollout,
    /// The Deployment asks for fewer replicas than the runbook expects ready (0: scaled to zero).
    ScaledDown,
    VersionDrift,
    HealthzFailed,
    /// Healthz answers as operational, but `href` or `description` differ.
    HealthzMismatch,
    /// Healthz answers as operational with an unrendered template in its
    /// reply: a misconfigured deployment.
    HealthzMisconfigured,
    /// Healthz answers as operational while no pod that could serve it is
    /// ready: something else answers on the URL.
    HealthzWithoutPods,
    /// Other APIs fail too: the platform or network.
    PlatformOutage,
    /// The provider has received nothing (or less) from a region while its
    /// API answers and its pods are ready: the monitoring, not the service.
    TelemetryMissing,
    /// Telemetry arrives from a region whose API does not answer: its pods are alive.
    TelemetryAlive,
    /// The telemetry provider could not be asked (unreachable, key, query).
    TelemetryError,
    /// Other APIs answer and the pods are fine: the service's route.
    ServiceUnreachable,
    /// A runbook value is a placeholder; it was not checked.
    Placeholder,
    /// A step could not be checked (unreachable, timeout, credentials).
    NotChecked,
    /// Nothing answered from this machine: healthz got no reply, no
    /// region's cluster could be checked, no other API answered. Its
    /// network, VPN or kubeconfig, as likely as an outage.
    NothingReached,
    /// Two regions' contexts reach one API server: the later is not checked.
    SameCluster,
    /// A permission is missing.
    Permission,
    /// The API server pushed back (429, 503, 504) and requests were retried.
    ApiPushback,
    /// Some logs were cut short or could not be read.
    LogsPartial,
    /// A runbook value (`container`, `selector`) does not match the cluster.
    RunbookMismatch,
}

/// One thing the run found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    /// The region it is about; none for the service as a whole.
    pub region: Option<String>,
    pub kind: FindingKind,
    pub severity: Severity,
    pub text: String,
    /// The pod it is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The regions it concerns (service-level findings that span regions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// A count the text states (error lines, events, restarts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl Finding {
    pub fn new(region: Option<&str>, kind: FindingKind, severity: Severity, text: impl Into<String>) -> Finding {
        Finding {
            region: region.map(str::to_string),
            kind,
            severity,
            text: text.into(),
            pod: None,
            regions: vec![],
            count: None,
        }
    }

    pub fn pod(mut self, pod: &str) -> Finding {
        self.pod = Some(pod.to_string());
        self
    }

    pub fn count(mut self, n: u64) -> Finding {
        self.count = Some(n);
        self
    }

    pub fn regions(mut self, regions: Vec<String>) -> Finding {
        self.regions = regions;
        self
    }
}

impl Report {
    /// Every healthz check of the run, named: the environment's, then each
    /// region's own.
    pub fn healthz_checks(&self) -> Vec<(String, &HealthzCheck)> {
        let env = self.healthz.iter().map(|h| ("environment".to_string(), h));
        let regions = self.regions.iter().filter_map(|r| r.healthz.as_ref().map(|h| (format!("region {}", r.name), h)));
        env.chain(regions).collect()
    }
}

// What `diagnose --watch` keeps between runs: facts about a series of reports.

/// A region's verdict changed between two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub region: String,
    pub from: Verdict,
    pub to: Verdict,
    /// When the run that saw the new verdict started.
    pub at: jiff::Timestamp,
}

/// What is remembered of a region between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionState {
    pub name: String,
    pub verdict: Verdict,
    /// Since when it has had this verdict: the run that first saw it.
    pub since: jiff::Timestamp,
    pub last_change: Option<Transition>,
}
