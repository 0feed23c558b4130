//! The region's logs as findings, and what the logs of several regions say
//! together: the same error in many (a shared cause), one region far above
//! the others.

use std::collections::BTreeMap;

use super::remedy::not_checked_or_mismatch;
use super::steps::Priority;
use super::{Advice, plural, real_problem};
use crate::plan::Plan;
use crate::report::{
    ErrorSignature, Finding, FindingKind, Judgement, LogsStep, RegionReport, Report, Severity, Status,
};

/// Whether a region's logs are in trouble: they call for the region's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LogsHealth {
    Troubled,
    /// Fine, not read, or not judged.
    Other,
}

/// The region's logs: their findings, or why they were not checked.
pub(super) fn region_logs(plan: &Plan, r: &RegionReport, shared: &[String], a: &mut Advice) -> LogsHealth {
    let Some(l) = &r.logs else { return LogsHealth::Other };
    let mut health = LogsHealth::Other;
    if l.status != Status::Error && (l.status == Status::Warn || l.judgement == Some(Judgement::Steady)) {
        if l.status == Status::Warn {
            health = LogsHealth::Troubled;
        }
        logs_findings(&r.name, l, shared, a);
    } else if let Some(e) = real_problem(l.error.as_ref()).filter(|_| r.pods.as_ref().is_none_or(|p| p.error.is_none()))
    {
        a.find(if e.kind == crate::report::ProblemKind::Interrupted {
            super::remedy::interrupted(r)
        } else {
            not_checked_or_mismatch(plan, &r.name, "logs", e)
        });
    }
    if l.partial && l.status != Status::Error {
        a.find(Finding::new(
            Some(&r.name),
            FindingKind::LogsPartial,
            Severity::Info,
            "logs partial: some pods' logs were cut short or could not be read",
        ));
    }
    health
}

/// The logs' judgement as a finding; `named` is the error its text already
/// names, not to be repeated.
struct Judged<'l> {
    kind: FindingKind,
    severity: Severity,
    text: String,
    named: Option<&'l str>,
}

/// The region's logs as findings: why the errors are (or are not) unusual,
/// against the service's own baseline, and the most frequent unusual error.
fn logs_findings(name: &str, l: &LogsStep, shared: &[String], a: &mut Advice) {
    let sigs: Vec<&ErrorSignature> = l.signatures.iter().filter(|s| !shared.contains(&s.pattern)).collect();
    let Some(j) = judged(l, &sigs) else { return };
    a.find(Finding::new(Some(name), j.kind, j.severity, j.text).count(l.error_lines));
    if j.severity == Severity::Info {
        return;
    }
    // The most frequent error that is not the region's everyday noise (and
    // not already a shared finding), counted over the region's pods.
    let top = sigs
        .iter()
        .filter(|s| {
            s.new
                || l.baseline_rate_per_min.is_none()
                || s.window_count as f64 >= l.spike_factor * s.baseline_rate_per_min * l.window_secs as f64 / 60.0
        })
        .max_by_key(|s| s.window_count);
    if let Some(s) = top.filter(|s| Some(s.pattern.as_str()) != j.named) {
        let tag = if s.new { "new " } else { "" };
        // The format the region's services log in, when it is not plain text.
        let format = l.pods.iter().filter_map(|p| p.format.as_deref()).find(|f| *f != "text");
        let read = format.map(|f| format!(", {f} logs")).unwrap_or_default();
        a.find(
            Finding::new(
                Some(name),
                if s.new { FindingKind::NewError } else { j.kind },
                Severity::Warn,
                format!("most frequent {tag}error ({}× in the region{read}): {}", s.window_count, s.example),
            )
            .count(s.window_count),
        );
    }
}

/// The longest baseline any pod's logs were compared against.
fn baseline_span(l: &LogsStep) -> u64 {
    l.pods.iter().filter_map(|p| p.baseline.as_ref()).map(|b| b.span_secs).max().unwrap_or(0)
}

/// The errors usual in the window, from the baseline rate.
fn usual(l: &LogsStep) -> Option<f64> {
    l.baseline_rate_per_min.map(|r| r * l.window_secs as f64 / 60.0)
}

fn usual_text(l: &LogsStep, u: f64) -> String {
    let window = span(l.window_secs);
    format!("usual for this service: {u:.1} per {window} over the last {}", span(baseline_span(l)))
}

fn judged<'l>(l: &LogsStep, sigs: &[&'l ErrorSignature]) -> Option<Judged<'l>> {
    let window = span(l.window_secs);
    let n = l.error_lines;
    let judged = |kind, severity, text| Some(Judged { kind, severity, text, named: None });
    match l.judgement {
        Some(Judgement::Steady) => judged(FindingKind::SteadyErrors, Severity::Info, steady_text(l)),
        Some(Judgement::Spike) => {
            let u = usual(l).unwrap_or(0.0);
            // From nothing, there is no rate to be a multiple of.
            let text = if u > 0.0 {
                format!("{n} error lines in {window}, {:.0}× the usual rate; {}", n as f64 / u, usual_text(l, u))
            } else {
                format!("{n} error lines in {window}, none in the {} before", span(baseline_span(l)))
            };
            judged(FindingKind::ErrorSpike, Severity::Warn, text)
        }
        Some(Judgement::NewError) => {
            let new: Vec<&&ErrorSignature> = sigs.iter().filter(|s| s.new).collect();
            let first = new.first().map(|s| format!(": {}× {}", s.window_count, s.example)).unwrap_or_default();
            let text = format!(
                "{n} error lines in {window}, with an error not seen in the {} before{first}",
                span(baseline_span(l))
            );
            Some(Judged {
                kind: FindingKind::NewError,
                severity: Severity::Warn,
                text,
                named: new.first().map(|s| s.pattern.as_str()),
            })
        }
        Some(Judgement::NoBaseline) => judged(
            FindingKind::ErrorSpike,
            Severity::Warn,
            format!(
                "{} in {window}, and no earlier logs to compare with (logs.min_errors is {})",
                plural(n, "error line"),
                l.min_errors
            ),
        ),
        Some(Judgement::Threshold) => judged(FindingKind::ErrorThreshold, Severity::Warn, threshold_text(l)),
        Some(Judgement::Quiet) | None => None,
    }
}

/// Steady errors: against the other regions when there are no earlier logs
/// here, else against the baseline, or below logs.min_errors.
fn steady_text(l: &LogsStep) -> String {
    let window = span(l.window_secs);
    let n = l.error_lines;
    if let Some(rate) = l.siblings_rate_per_min {
        let u = rate * l.window_secs as f64 / 60.0;
        return format!(
            "{} in {window}; no earlier logs here (the pods started recently), and the other regions usually log {u:.1} per {window} for as many pods",
            plural(n, "error line")
        );
    }
    match usual(l) {
        Some(u) if n >= l.min_errors || u >= 0.05 => {
            format!("{} in {window}; {}", plural(n, "error line"), usual_text(l, u))
        }
        _ => format!("{} in {window}, fewer than logs.min_errors ({})", plural(n, "error line"), l.min_errors),
    }
}

fn threshold_text(l: &LogsStep) -> String {
    let per_pod: Vec<String> = l
        .pods
        .iter()
        .filter(|p| l.threshold.is_some_and(|t| p.error_lines > t))
        .map(|p| format!("{}{}: {}", p.pod, if p.previous { " (previous)" } else { "" }, p.error_lines))
        .collect();
    format!(
        "{} error lines in {}; more than {} in a pod (logs.error_threshold): {}",
        l.error_lines,
        span(l.window_secs),
        l.threshold.unwrap_or(0),
        per_pod.join(", ")
    )
}

/// One error signature (the normalised shape of an error line) in one region's window.
pub(super) struct Signature {
    example: String,
    count: u64,
    /// New in the window or above its usual rate: not the region's everyday noise.
    unusual: bool,
}

/// A region's window error signatures, merged over its pods: the logs
/// step's own (judged against the baseline) when it has them, else the
/// pods' most frequent errors (e.g. only previous containers were read).
pub(super) fn signatures(r: &RegionReport, spike_factor: f64) -> BTreeMap<String, Signature> {
    let mut out: BTreeMap<String, Signature> = BTreeMap::new();
    let Some(l) = &r.logs else { return out };
    let window_min = (l.window_secs as f64 / 60.0).max(1.0 / 60.0);
    if !l.signatures.is_empty() {
        for s in &l.signatures {
            let rate = s.window_count as f64 / window_min;
            let unusual = s.new || l.baseline_rate_per_min.is_none() || rate >= spike_factor * s.baseline_rate_per_min;
            out.insert(s.pattern.clone(), Signature { example: s.example.clone(), count: s.window_count, unusual });
        }
        return out;
    }
    for g in l.pods.iter().flat_map(|p| p.top_errors.iter()) {
        if g.example.is_empty() {
            continue;
        }
        let e = out.entry(g.pattern.clone()).or_insert_with(|| Signature {
            example: g.example.clone(),
            count: 0,
            unusual: true,
        });
        e.count += g.count;
    }
    out
}

/// "5m", "1h" — a window or baseline length for prose.
pub(super) fn span(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string().replace(' ', "")
}

/// The same error in the window of two or more regions whose logs stand
/// out is one service-level finding: a shared dependency. Returns the
/// patterns so the regions do not repeat them.
pub(super) fn shared_errors(report: &Report, a: &mut Advice) -> Vec<String> {
    let troubled: Vec<(&str, BTreeMap<String, Signature>)> = report
        .regions
        .iter()
        .filter(|r| r.logs.as_ref().is_some_and(|l| l.status == Status::Warn))
        .map(|r| {
            let mut sigs = signatures(r, r.logs.as_ref().map_or(3.0, |l| l.spike_factor));
            sigs.retain(|_, s| s.unusual);
            (r.name.as_str(), sigs)
        })
        .collect();
    let checked = report.regions.iter().filter(|r| r.logs.as_ref().is_some_and(|l| l.status != Status::Error)).count();
    // template → (regions, lines, an example)
    type Spread<'a> = (Vec<&'a str>, u64, &'a str);
    let mut by_pattern: BTreeMap<&str, Spread> = BTreeMap::new();
    for (region, sigs) in &troubled {
        for (pattern, s) in sigs {
            let e = by_pattern.entry(pattern.as_str()).or_insert((vec![], 0, s.example.as_str()));
            e.0.push(region);
            e.1 += s.count;
        }
    }
    let mut shared: Vec<(&str, Spread)> =
        by_pattern.into_iter().filter(|(_, (regions, _, _))| regions.len() >= 2).collect();
    shared.sort_by_key(|(_, (regions, count, _))| std::cmp::Reverse((regions.len(), *count)));
    for (_, (regions, count, example)) in shared.iter().take(3) {
        a.find(
            Finding::new(
                None,
                FindingKind::SharedError,
                Severity::Fail,
                format!(
                    "the same error in {}/{checked} regions ({}), {count} lines: {example} → a cause the regions share",
                    regions.len(),
                    regions.join(", ")
                ),
            )
            .count(*count)
            .regions(regions.iter().map(|r| r.to_string()).collect()),
        );
    }
    if let Some((_, (regions, _, example))) = shared.first() {
        a.step(
            Priority::Shared,
            None,
            format!(
                "The same error in {} regions points at something they share (a database, key store, secret, network path or the same release): check it first — {example}",
                regions.len()
            ),
            None,
        );
    }
    shared.into_iter().map(|(p, _)| p.to_string()).collect()
}

/// A region whose window error count stands far above its siblings'. Only
/// for a region whose errors are unusual for it too: a busier region's
/// everyday noise is no news.
pub(super) fn outliers(report: &Report, a: &mut Advice) {
    let counts: Vec<(&RegionReport, u64)> = report
        .regions
        .iter()
        .filter_map(|r| r.logs.as_ref().filter(|l| l.status != Status::Error).map(|l| (r, l.error_lines)))
        .collect();
    if counts.len() < 3 {
        return;
    }
    for (r, n) in &counts {
        if r.logs.as_ref().is_none_or(|l| l.status != Status::Warn) {
            continue;
        }
        let others: Vec<u64> = counts.iter().filter(|(o, _)| o.name != r.name).map(|(_, c)| *c).collect();
        let mean = others.iter().sum::<u64>() as f64 / others.len() as f64;
        if *n >= 5 && *n as f64 >= 3.0 * mean.max(1.0) {
            a.find(
                Finding::new(
                    Some(&r.name),
                    FindingKind::ErrorOutlier,
                    Severity::Warn,
                    format!("{n} error lines in the window, against {mean:.0} on average in the other regions"),
                )
                .count(*n),
            );
        }
    }
}
