//! The report: everything a run found, as plain data. Checks fill it in,
//! `verdict` judges it, renderers print it. Field names are the JSON schema
//! (`keysvc-check/report/v1`, see README) and stay stable.

use serde::Serialize;

pub const SCHEMA: &str = "keysvc-check/report/v1";

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
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem { kind, message: crate::sanitize::clean(&message.into(), crate::sanitize::MAX_CHARS) }
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
    /// What is wrong with the reply; empty when it passed.
    pub problems: Vec<String>,
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
    pub error: Option<Problem>,
    pub duration_ms: u64,
}

/// A group of like error lines (numbers and ids normalised).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorGroup {
    pub pattern: String,
    pub count: u64,
    pub example: String,
}

/// Step 3 for one pod's container.
#[derive(Debug, Clone, Serialize)]
pub struct PodLogs {
    pub pod: String,
    /// True for the previous (terminated) container instance.
    pub previous: bool,
    /// Lines in the window.
    pub lines: u64,
    /// Error lines in the window.
    pub error_lines: u64,
    pub top_errors: Vec<ErrorGroup>,
    /// Reading the window stopped early (deadline); counts cover what was read.
    pub partial: bool,
    pub error: Option<Problem>,
    /// The time before the window, read for the current container; `None`
    /// for a previous container or when it was not read.
    pub baseline: Option<PodBaseline>,
}

/// What one container logged in the baseline, the time before the window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PodBaseline {
    pub lines: u64,
    pub error_lines: u64,
    /// The time the read covered: from the later of the baseline's start and
    /// the container's start, to the window's start — or to the last line read
    /// when the read was cut short.
    pub span_secs: u64,
    /// The byte limit (`logs.baseline_max_bytes`) ended the read before the window.
    pub cut: bool,
    /// The deadline ended the read before the window.
    pub partial: bool,
    pub error: Option<Problem>,
}

/// Why the logs step got its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    /// No error lines in the window.
    Quiet,
    /// Errors, but fewer than `min_errors` or at about the baseline's rate.
    Steady,
    /// At least `min_errors` error lines and `spike_factor` times the baseline rate.
    Spike,
    /// An error absent from the baseline occurred at least `min_errors` times.
    NewError,
    /// A pod logged more error lines than `error_threshold`.
    Threshold,
    /// At least `min_errors` error lines and no baseline to compare with.
    NoBaseline,
}

impl Judgement {
    /// Whether the logs step warns (the region is degraded) for this reason.
    pub fn warns(self) -> bool {
        !matches!(self, Judgement::Quiet | Judgement::Steady)
    }
}

/// One error signature (the normalised grouping) merged over a region's pods.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorSignature {
    pub pattern: String,
    pub example: String,
    /// Lines in the window.
    pub window_count: u64,
    /// Lines in the baselines the region's rate is taken from.
    pub baseline_count: u64,
    /// Its usual rate: the sum over those pods of lines per minute of baseline.
    pub baseline_rate_per_min: f64,
    /// Absent from a baseline that was read; false when there is no baseline.
    pub new: bool,
}

/// Step 3 for one region.
#[derive(Debug, Clone, Serialize)]
pub struct LogsStep {
    pub status: Status,
    pub window_secs: u64,
    /// `logs.error_threshold`, the optional absolute rule; `None` when off.
    pub threshold: Option<u64>,
    /// `logs.min_errors`, `logs.spike_factor` and `logs.baseline` as used.
    pub min_errors: u64,
    pub spike_factor: f64,
    pub baseline_secs: u64,
    /// Error lines in the window, every pod's.
    pub error_lines: u64,
    /// Error lines per minute in the window.
    pub window_rate_per_min: f64,
    /// Error lines in the baselines the rate is taken from.
    pub baseline_error_lines: u64,
    /// The usual rate: the sum of the pods' baseline error lines per minute;
    /// `None` when no pod had a baseline at least as long as the window.
    pub baseline_rate_per_min: Option<f64>,
    /// Why the step got its status; `None` when no logs could be read at all.
    pub judgement: Option<Judgement>,
    /// The region's error signatures in the window, most significant first (bounded).
    pub signatures: Vec<ErrorSignature>,
    pub pods: Vec<PodLogs>,
    /// Some pods' logs could not be read or were cut short.
    pub partial: bool,
    pub error: Option<Problem>,
    pub duration_ms: u64,
}

impl Default for LogsStep {
    /// An empty, passing step (a starting point for tests and fixtures).
    fn default() -> Self {
        LogsStep {
            status: Status::Pass,
            window_secs: 0,
            threshold: None,
            min_errors: 0,
            spike_factor: 0.0,
            baseline_secs: 0,
            error_lines: 0,
            window_rate_per_min: 0.0,
            baseline_error_lines: 0,
            baseline_rate_per_min: None,
            judgement: None,
            signatures: vec![],
            pods: vec![],
            partial: false,
            error: None,
            duration_ms: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    pub name: String,
    pub context: String,
    pub verdict: Verdict,
    pub healthz: Option<HealthzCheck>,
    pub pods: Option<PodsStep>,
    pub logs: Option<LogsStep>,
    pub findings: Vec<String>,
    pub next_steps: Vec<String>,
    pub duration_ms: u64,
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
    pub runbook: String,
    pub service_name: String,
    pub environment: String,
    /// Which steps ran: "healthz", "pods", "logs".
    pub steps: Vec<&'static str>,
    pub service: ServiceVerdict,
    pub healthz: Option<HealthzCheck>,
    pub regions: Vec<RegionReport>,
    pub findings: Vec<String>,
    pub next_steps: Vec<String>,
    /// The run was cut short (deadline or Ctrl-C); some results are missing.
    pub partial: bool,
    pub duration_ms: u64,
}
