//! The logs step's part of the report: what was read, per pod and per error
//! template, and how the window compares with the baseline.

use serde::Serialize;

use super::{Problem, Status};

/// A group of like error entries: one message template.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorGroup {
    /// The template (`connection to <*> refused`), the group's key.
    pub pattern: String,
    pub count: u64,
    pub example: String,
    /// When the group's first and last entries were logged in the window
    /// (`None` when the lines carried no time).
    pub first_seen: Option<jiff::Timestamp>,
    pub last_seen: Option<jiff::Timestamp>,
}

/// Step 3 for one pod's container.
#[derive(Debug, Clone, Serialize)]
pub struct PodLogs {
    pub pod: String,
    /// True for the previous (terminated) container instance.
    pub previous: bool,
    /// Lines in the window.
    pub lines: u64,
    /// Error entries in the window (a stack trace with its frames is one).
    pub error_lines: u64,
    /// The format most of the window's entries are in (`json`, `logfmt`,
    /// `klog`, `text`); `None` when it logged nothing.
    pub format: Option<String>,
    pub top_errors: Vec<ErrorGroup>,
    /// Reading the window stopped early (deadline); counts cover what was read.
    pub partial: bool,
    pub error: Option<Problem>,
    /// The time before the window, read for the current container; `None`
    /// for a previous container or when it was not read.
    pub baseline: Option<PodBaseline>,
}

impl PodLogs {
    /// A container instance whose logs are still to be read.
    pub fn unread(pod: &str, previous: bool) -> PodLogs {
        PodLogs {
            pod: pod.to_string(),
            previous,
            lines: 0,
            error_lines: 0,
            format: None,
            top_errors: vec![],
            partial: false,
            error: None,
            baseline: None,
        }
    }
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

/// One error signature (a message template) merged over a region's pods.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorSignature {
    /// The template, the key shared with the baseline and other regions.
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
    /// When its first and last entries were logged in the window, over the
    /// region's pods (`None` when the lines carried no time).
    pub first_seen: Option<jiff::Timestamp>,
    pub last_seen: Option<jiff::Timestamp>,
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
    /// With no baseline of its own (its pods all started inside the
    /// baseline, e.g. after a rollout), the usual rate the other regions
    /// show for as many pods, in error lines per minute; the errors were
    /// judged against it. `None` when not used.
    pub siblings_rate_per_min: Option<f64>,
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
            siblings_rate_per_min: None,
            signatures: vec![],
            pods: vec![],
            partial: false,
            error: None,
            duration_ms: 0,
        }
    }
}
