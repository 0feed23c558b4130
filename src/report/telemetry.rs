//! The telemetry step's facts: the one query asked of the provider, and
//! what it said of each region.

use serde::Serialize;

use super::{Problem, Status};

/// The telemetry step of a run: whether the runbook configures one, whom
/// it asked and what; the regions' answers are in each region's report.
#[derive(Debug, Clone, Serialize)]
pub struct TelemetryStep {
    /// False when the runbook has no `telemetry` block: nothing was asked.
    pub configured: bool,
    /// `prometheus` or `newrelic`.
    pub provider: Option<crate::runbook::Provider>,
    /// The endpoint asked (credentials masked).
    pub url: Option<String>,
    /// The query as sent (`{since}` filled in).
    pub query: Option<String>,
    pub window_secs: u64,
    /// Whether the query asks over the window (`{since}` in it); false: it
    /// asks for what the provider has now.
    pub windowed: bool,
    /// The values naming a region in the answer (facets or label values),
    /// each once, at most 20: where a region's name that matches none shows.
    pub facets: Vec<String>,
    /// Requests the provider pushed back on (429, 503, 504) and that were sent again.
    pub retries: u32,
    /// What kept the query from being answered; every region's error then.
    pub error: Option<Problem>,
    pub duration_ms: u64,
}

impl TelemetryStep {
    /// The step of a runbook without telemetry.
    pub fn not_configured() -> TelemetryStep {
        TelemetryStep {
            configured: false,
            provider: None,
            url: None,
            query: None,
            window_secs: 0,
            windowed: false,
            facets: vec![],
            retries: 0,
            error: None,
            duration_ms: 0,
        }
    }
}

/// What the provider says of one region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionTelemetry {
    /// pass: data in the window from as many pods as expected; warn: fewer
    /// pods, or the latest point older than half the window; fail: no data;
    /// error: the provider could not be asked.
    pub status: Status,
    /// The value naming the region in the provider's data.
    pub facet: String,
    pub expected: u32,
    /// Pods reporting in the window; `None` when nothing came (or on error).
    pub pods_reporting: Option<u32>,
    /// The latest point, RFC 3339 in UTC, when the answer has one.
    pub latest: Option<jiff::Timestamp>,
    pub latest_secs_ago: Option<u64>,
    pub window_secs: u64,
    pub error: Option<Problem>,
}

impl RegionTelemetry {
    /// Data came from the region in the window.
    pub fn present(&self) -> bool {
        self.pods_reporting.is_some_and(|n| n > 0)
    }
}
