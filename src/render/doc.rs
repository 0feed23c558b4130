//! The report as the parts a pasted report is made of, in order: the title,
//! the summary lines, one table, the log error groups, the findings, the
//! next steps and the command that made it. `-o markdown` and `-o slack`
//! lay out the same parts, each in its own syntax and with its own escapes.

use super::View;
use super::errors::{self, Block};
use super::table::{self, Grid};
use crate::report::{HealthzCheck, Report, Severity, Status};
use crate::shell::shell_join;

pub(super) struct Doc {
    pub service: String,
    pub environment: String,
    /// `DEGRADED`.
    pub verdict: String,
    pub generated_at: String,
    pub summary: String,
    pub runbook: String,
    /// The current context some regions use, the runbook giving them none.
    pub context: Option<String>,
    pub impact: Option<String>,
    pub partial: bool,
    /// `diagnose`: the service's healthz on a line of its own.
    pub healthz: Option<HealthzLine>,
    /// `diagnose`, `telemetry`: what the metrics provider said, in a line.
    pub telemetry: Option<String>,
    pub table: Table,
    /// The log error groups (`diagnose` by region, `logs` by container).
    pub errors: Vec<Block>,
    pub findings: Vec<FindingLine>,
    pub steps: Vec<StepLine>,
    /// The command line that made the report, shell-quoted.
    pub command: String,
}

pub(super) struct HealthzLine {
    pub url: String,
    pub status: Status,
    /// `HTTP 200 in 41 ms`.
    pub summary: String,
}

/// A table: headers in sentence case, every cell as text.
pub(super) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub(super) struct FindingLine {
    pub severity: Severity,
    pub region: Option<String>,
    pub text: String,
}

pub(super) struct StepLine {
    pub region: Option<String>,
    pub text: String,
    /// Shell-quoted, to run as it is.
    pub command: Option<String>,
}

/// `FAIL`, `WARN`, `INFO`.
pub(super) fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Fail => "FAIL",
        Severity::Warn => "WARN",
        Severity::Info => "INFO",
    }
}

/// The parts of `r` shown for `view`; `argv` is the command, program first.
pub(super) fn build(r: &Report, view: View, argv: &[String]) -> Doc {
    let table = match view {
        View::Diagnose => grid(&table::diagnose_grid(r)),
        View::Pods => grid(&table::pods_grid(r)),
        View::Logs => grid(&table::logs_grid(r)),
        View::Healthz => healthz_table(r),
        View::Telemetry if r.telemetry.as_ref().is_some_and(|t| t.configured) => grid(&table::telemetry_grid(r)),
        View::Telemetry => Table { header: vec![], rows: vec![] },
    };
    let errors = match view {
        View::Diagnose => errors::by_region(r),
        View::Logs => errors::by_container(r),
        View::Pods | View::Healthz | View::Telemetry => vec![],
    };
    let healthz = r.healthz.as_ref().filter(|_| view == View::Diagnose).map(|h| HealthzLine {
        url: h.url.clone(),
        status: h.status,
        summary: table::healthz_summary(h),
    });
    Doc {
        service: r.service_name.clone(),
        environment: r.environment.clone(),
        verdict: r.service.verdict.as_str().to_uppercase(),
        generated_at: r.generated_at.clone(),
        summary: r.service.summary.clone(),
        runbook: r.runbook.clone(),
        context: r.current_context().map(|(ctx, regions)| table::current_context_words(ctx, &regions)),
        impact: r.service.impact.clone(),
        partial: r.partial,
        healthz,
        telemetry: table::telemetry_line(r),
        table,
        errors,
        findings: r
            .findings
            .iter()
            .map(|f| FindingLine { severity: f.severity, region: f.region.clone(), text: f.text.clone() })
            .collect(),
        steps: r
            .next_steps
            .iter()
            .map(|s| StepLine {
                region: s.region.clone(),
                text: s.text.clone(),
                command: s.command.as_ref().map(|c| shell_join(&c.argv)),
            })
            .collect(),
        command: shell_join(argv),
    }
}

/// The table renderer's rows, every column kept: a pasted report has no
/// terminal width to fit.
pub(super) fn grid(g: &Grid) -> Table {
    Table {
        header: g.header.iter().map(|h| sentence_case(h)).collect(),
        rows: g.rows.iter().map(|r| r.iter().map(|(t, _)| t.clone()).collect()).collect(),
    }
}

/// `PODS READY` → `Pods ready`: table headers in capitals read as shouting.
fn sentence_case(h: &str) -> String {
    let lower = h.to_lowercase();
    let mut chars = lower.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// One row per healthz URL; the detail holds what the text output says
/// under it: the error, the problems, the body when it was not the JSON
/// expected.
fn healthz_table(r: &Report) -> Table {
    let header = ["Check", "URL", "Result", "HTTP", "Latency", "Detail"].map(String::from).to_vec();
    let rows = r
        .healthz_checks()
        .into_iter()
        .map(|(name, h)| {
            vec![
                name,
                h.url.clone(),
                h.status.as_str().into(),
                h.http_status.map_or("-".into(), |c| c.to_string()),
                h.latency_ms.map_or("-".into(), |ms| format!("{ms} ms")),
                healthz_detail(h).join("; "),
            ]
        })
        .collect();
    Table { header, rows }
}

fn healthz_detail(h: &HealthzCheck) -> Vec<String> {
    let mut detail: Vec<String> = h.error.iter().map(|e| e.message.clone()).collect();
    detail.extend(h.problems.iter().cloned());
    detail.extend(h.mismatches.iter().cloned());
    detail.extend(h.unrendered.iter().map(|u| format!("unrendered template: {u}")));
    if let Some(b) = h.body_excerpt.as_ref().filter(|b| !b.is_empty()) {
        detail.push(format!("body: {b}"));
    }
    detail
}
