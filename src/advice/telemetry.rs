//! Telemetry as advice: a region whose provider has received nothing (or
//! less) while its API answers and its pods are ready is the monitoring's
//! trouble, not the service's (`telemetry_missing`); every region at once
//! is one finding for the service. Telemetry that arrives from a region
//! whose API does not answer says its pods are alive. The next steps: the
//! query to run (the key from its variable, never on screen), and where to
//! look at what sends the data.

use std::time::Duration;

use super::steps::Priority;
use super::{Advice, link};
use crate::duration::format_duration;
use crate::plan::Plan;
use crate::report::{
    Finding, FindingKind, Problem, ProblemDetail, ProblemKind, RegionReport, RegionTelemetry, Report, Severity, Status,
    StepCommand, Verdict,
};
use crate::runbook::{Provider, Telemetry};
use crate::shell::{env_word, env_word_after};

/// What the service's own steps say of a region: whether its API answers
/// and how many of its pods are ready (`None`: not checked).
struct Up {
    answers: Option<bool>,
    ready: Option<(u32, u32)>,
}

impl Up {
    fn of(report: &Report, r: &RegionReport) -> Up {
        let hz = r.healthz.as_ref().or(report.healthz.as_ref()).map(|h| h.status);
        let answers = hz.filter(|s| *s != Status::Error).map(|s| matches!(s, Status::Pass | Status::Warn));
        let ready = r.pods.as_ref().filter(|p| p.status != Status::Error).map(|p| (p.ready, p.expected));
        Up { answers, ready }
    }

    /// Down by what was checked: the API does not answer, or no pod is ready.
    fn down(&self) -> bool {
        self.answers == Some(false) || self.ready.is_some_and(|(r, _)| r == 0)
    }

    /// "the API answers and 3/3 pods are ready", as far as it was checked.
    fn words(&self) -> Option<String> {
        let api = (self.answers == Some(true)).then(|| "the API answers".to_string());
        let pods = self.ready.map(|(r, e)| format!("{r}/{e} pods are ready"));
        match (api, pods) {
            (Some(a), Some(p)) => Some(format!("{a} and {p}")),
            (a, p) => a.or(p),
        }
    }
}

fn window(t: &RegionTelemetry) -> String {
    format_duration(Duration::from_secs(t.window_secs))
}

/// When the data was looked for: the window, or now for a query that does
/// not ask over one.
fn over(tel: &Telemetry) -> String {
    if tel.windowed() { format!("in the last {}", format_duration(tel.since)) } else { "now".into() }
}

/// What the provider has of a region that did not pass.
fn lacks(tel: &Telemetry, region: &str, t: &RegionTelemetry) -> String {
    let who = tel.provider.display();
    match t.pods_reporting {
        Some(n) if n > 0 && n < t.expected => {
            format!("{who} has data from {n}/{} pods of {region} {}", t.expected, over(tel))
        }
        Some(n) if n > 0 => {
            let ago = t.latest_secs_ago.map_or_else(String::new, |s| format_duration(Duration::from_secs(s)));
            format!("{who}'s latest point from {region} is {ago} old (window {})", window(t))
        }
        _ if tel.windowed() => format!("{who} has received nothing from {region} for {}", window(t)),
        _ => format!("{who} has no current data from {region}"),
    }
}

/// The findings and next steps of the telemetry step.
pub(super) fn telemetry(plan: &Plan, report: &Report, a: &mut Advice) {
    let (Some(t), Some(step)) = (&plan.telemetry, report.telemetry.as_ref().filter(|s| s.configured)) else { return };
    if let Some(e) = step.error.as_ref().filter(|e| e.kind != ProblemKind::Placeholder) {
        let text = format!("telemetry not checked: {}", e.message);
        a.find(Finding::new(None, FindingKind::TelemetryError, Severity::Warn, text));
        error_step(plan, t, e, a);
        return;
    }
    alive(plan, t, report, a);
    unmatched(plan, t, report, a);
    misnamed(plan, t, report, a);
    missing(plan, t, report, a);
}

/// Regions whose name in the runbook is near a value of the answer that no
/// region claims (judged so): the runbook's name for the region, not the
/// monitoring (`us-eats` for `us-east`). Each is a finding with the fix.
fn misnamed(plan: &Plan, t: &Telemetry, report: &Report, a: &mut Advice) {
    let who = t.provider.display();
    for r in &report.regions {
        let Some(rt) = &r.telemetry else { continue };
        let Some(ProblemDetail::TelemetryName { near }) = rt.error.as_ref().map(|e| &e.detail) else { continue };
        let key = format!("environments.{}.regions.{}.telemetry", plan.env, r.name);
        let text = format!(
            "{who}'s answer has no `{}` for {} but has `{near}`, which no region claims: the runbook's name for the region, not the monitoring",
            rt.facet, r.name
        );
        a.find(Finding::new(Some(&r.name), FindingKind::RunbookMismatch, Severity::Warn, text));
        let fix = format!("did you mean {near}? set {key} to it in {}", plan.runbook_name);
        let command = super::command::rerun(plan, plan.rerun.verb, None, None);
        let text = format!("{fix}{}", super::steps::then_rerun(&fix, command.is_some()));
        a.step(Priority::Telemetry, Some(&r.name), text, command);
    }
}

/// Telemetry from pods of a region where the runbook's selector matches
/// none: pods run there, and the selector or namespace may be what is wrong.
fn unmatched(plan: &Plan, t: &Telemetry, report: &Report, a: &mut Advice) {
    for r in &report.regions {
        let Some(rt) = r.telemetry.as_ref().filter(|rt| rt.present()) else { continue };
        if !r.pods.as_ref().is_some_and(|p| p.error.is_none() && p.pods.is_empty()) {
            continue;
        }
        let rb = &plan.runbook;
        let text = format!(
            "{} has data from {} pods of {} {}, yet no pod matches {} in namespace {}: pods run there; is the runbook's selector or namespace still theirs?",
            t.provider.display(),
            rt.pods_reporting.unwrap_or(0),
            r.name,
            over(t),
            rb.selector,
            rb.namespace
        );
        a.find(Finding::new(Some(&r.name), FindingKind::TelemetryAlive, Severity::Info, text));
    }
}

/// Every region, or each one, alone: one finding for the service when
/// every region of the run says the same.
fn one_or_each(plan: &Plan, report: &Report, each: Vec<(&RegionReport, Finding)>, every: Finding, a: &mut Advice) {
    if plan.all_regions && report.regions.len() > 1 && each.len() == report.regions.len() {
        let regions = each.iter().map(|(r, _)| r.name.clone()).collect();
        a.find(every.regions(regions));
    } else {
        for (_, f) in each {
            a.find(f);
        }
    }
}

/// Telemetry arriving from a region whose API does not answer: its pods are alive.
fn alive(plan: &Plan, t: &Telemetry, report: &Report, a: &mut Advice) {
    let who = t.provider.display();
    let mut each = vec![];
    for r in &report.regions {
        let Some(rt) = r.telemetry.as_ref().filter(|rt| rt.present()) else { continue };
        if Up::of(report, r).answers != Some(false) {
            continue;
        }
        let n = rt.pods_reporting.unwrap_or(0);
        let text = format!(
            "{who} receives data from {n} pods of {} {}: the pods are alive while the API does not answer",
            r.name,
            over(t)
        );
        each.push((r, Finding::new(Some(&r.name), FindingKind::TelemetryAlive, Severity::Info, text)));
    }
    let text = format!(
        "{who} receives data from every region's pods {}: the pods are alive while the API does not answer",
        over(t)
    );
    one_or_each(plan, report, each, Finding::new(None, FindingKind::TelemetryAlive, Severity::Info, text), a);
}

/// Telemetry missing (or from fewer pods, or late) where the service is up.
fn missing(plan: &Plan, t: &Telemetry, report: &Report, a: &mut Advice) {
    let who = t.provider.display();
    let mut each: Vec<(&RegionReport, Finding)> = vec![];
    for r in &report.regions {
        let Some(rt) = &r.telemetry else { continue };
        let up = Up::of(report, r);
        if !matches!(rt.status, Status::Warn | Status::Fail) || up.down() {
            continue;
        }
        let text = match up.words() {
            Some(w) => format!("{}; {w}: the monitoring, not the service", lacks(t, &r.name, rt)),
            None => format!("{}; diagnose tells whether the service is up", lacks(t, &r.name, rt)),
        };
        each.push((r, Finding::new(Some(&r.name), FindingKind::TelemetryMissing, Severity::Warn, text)));
    }
    if each.is_empty() {
        return;
    }
    let regions: Vec<&RegionReport> = each.iter().map(|(r, _)| *r).collect();
    let nothing_anywhere = each.iter().all(|(r, _)| r.telemetry.as_ref().is_some_and(|t| t.status == Status::Fail));
    let instead = report.regions.iter().find_map(super::steps::containers_instead);
    if let Some(has) = instead.filter(|_| nothing_anywhere && t.query_of_container) {
        return container_query(plan, t, has, a);
    }
    let every = nothing_anywhere && plan.all_regions && report.regions.len() > 1 && each.len() == report.regions.len();
    if nothing_anywhere {
        let nothing = if t.windowed() {
            format!("has received nothing from any region for {}", format_duration(t.since))
        } else {
            "has no current data from any region".into()
        };
        let text = format!(
            "{who} {nothing} while the service's pods are ready: the monitoring, not the service (what sends the data, its key or the pipeline)"
        );
        one_or_each(plan, report, each, Finding::new(None, FindingKind::TelemetryMissing, Severity::Warn, text), a);
    } else {
        for (_, f) in each {
            a.find(f);
        }
    }
    steps(plan, t, &regions, every, a);
}

/// Nothing anywhere, asked by the default query, which names the runbook's
/// `container`, a container the pods lack: the runbook's, not the monitoring.
fn container_query(plan: &Plan, t: &Telemetry, has: &[String], a: &mut Advice) {
    let text = format!(
        "{} has nothing for `{}` from any region: the default telemetry query names the runbook's `container`, which the pods lack (they have: {}): the runbook's, not the monitoring",
        t.provider.display(),
        plan.runbook.container,
        has.join(", ")
    );
    a.find(Finding::new(None, FindingKind::RunbookMismatch, Severity::Warn, text));
}

/// What to do when the provider could not be asked, then the re-run.
fn error_step(plan: &Plan, t: &Telemetry, e: &Problem, a: &mut Advice) {
    let who = t.provider.display();
    let var = t.key_env.as_deref().unwrap_or(crate::runbook::DEFAULT_API_KEY_ENV);
    let file = &plan.runbook_name;
    let url_key = t.url_key.as_deref().unwrap_or("telemetry.url (or telemetry.region)");
    let fix = match (&e.detail, e.kind) {
        (ProblemDetail::EnvUnset { var }, _) => {
            format!(
                "{var} is not set: export it with your {who} User API key (the runbook names the variable, never the key)"
            )
        }
        (_, ProblemKind::Unauthorized | ProblemKind::Forbidden) if t.provider == Provider::Newrelic => {
            format!(
                "{who} refused the key in {var}: set it to a valid User API key of account {}",
                t.account_id.unwrap_or(0)
            )
        }
        (_, ProblemKind::Unauthorized | ProblemKind::Forbidden) => {
            format!("{who} refused the request: set {var} to a valid token")
        }
        (_, ProblemKind::Query) => format!("fix telemetry.query (or the account) in {file}"),
        (_, ProblemKind::Throttled | ProblemKind::Timeout | ProblemKind::Deadline) => {
            format!("{who} did not answer in time: a longer --timeout may let it")
        }
        _ => format!("check {url_key} in {file}: {who} must be reachable from here"),
    };
    let verb = plan.rerun.verb;
    let command = super::command::rerun(plan, verb, None, None);
    let text = format!("{fix}{}", super::steps::then_rerun(&fix, command.is_some()));
    a.step(Priority::Telemetry, None, text, command);
}

/// The query the check ran, to run by hand; where to look at what sends the data.
fn steps(plan: &Plan, t: &Telemetry, regions: &[&RegionReport], every: bool, a: &mut Advice) {
    let who = t.provider.display();
    a.step(
        Priority::Telemetry,
        None,
        format!("ask {who} what it has from each region {} (the query the check ran)", over(t)),
        Some(query_command(t)),
    );
    match t.provider {
        Provider::Prometheus => a.step(
            Priority::Telemetry,
            None,
            "Prometheus' scrape targets, with each one's health and last error: the ones of the service's pods that are down say why",
            Some(targets_command(t)),
        ),
        Provider::Newrelic => {
            let where_ = if every { "every region's cluster".to_string() } else { regions_words(regions) };
            a.step(
                Priority::Telemetry,
                None,
                format!(
                    "look at what sends the data in {where_}: New Relic's infrastructure pods (label app.kubernetes.io/name=newrelic-infrastructure) and their logs, and whether the key of its integration was rotated"
                ),
                None,
            );
        }
    }
    let rb = &plan.runbook;
    if let Some(l) = link(&rb.guidance.metrics).or(link(&rb.guidance.dashboard)) {
        a.step(Priority::Telemetry, None, format!("the {} dashboard: {l}", rb.service), None);
    }
}

fn regions_words(regions: &[&RegionReport]) -> String {
    let names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
    match names.as_slice() {
        [one] => format!("{one}'s cluster"),
        many => format!("the clusters of {}", many.join(", ")),
    }
}

/// The URL as a word of a command: as written, or from a variable when
/// showing it would show a credential.
fn url_word(url: &str) -> String {
    if crate::mask::url_has_secret(url) {
        env_word("KEYSVC_TELEMETRY_URL", "set it to the telemetry URL with its credentials")
    } else {
        url.to_string()
    }
}

/// The check's own query as `curl`: the key or token from its variable.
pub(super) fn query_command(t: &Telemetry) -> StepCommand {
    let mut argv: Vec<String> =
        vec!["curl".into(), "-sS".into(), "--fail-with-body".into(), "--max-time".into(), "10".into()];
    match t.provider {
        Provider::Prometheus => {
            let base = t.url.trim_end_matches('/');
            argv.extend(["-G".into(), url_word(&format!("{base}/api/v1/query"))]);
            argv.extend(["--data-urlencode".into(), format!("query={}", t.filled_query())]);
            if let Some(var) = &t.key_env {
                argv.extend([
                    "-H".into(),
                    env_word_after("Authorization: Bearer ", var, &format!("set {var} to the token")),
                ]);
            }
        }
        Provider::Newrelic => {
            let var = t.key_env.clone().unwrap_or_else(|| crate::runbook::DEFAULT_API_KEY_ENV.into());
            argv.push(url_word(&t.url));
            argv.extend(["-H".into(), env_word_after("API-Key: ", &var, "set it to your New Relic User API key")]);
            argv.extend(["-H".into(), "Content-Type: application/json".into()]);
            argv.extend(["--data".into(), crate::evidence::telemetry::nerdgraph_body(t)]);
        }
    }
    StepCommand::reads(argv)
}

/// Prometheus' active scrape targets.
fn targets_command(t: &Telemetry) -> StepCommand {
    let base = t.url.trim_end_matches('/');
    let mut argv: Vec<String> =
        vec!["curl".into(), "-sS".into(), "--fail-with-body".into(), "--max-time".into(), "10".into()];
    argv.extend([
        "-G".into(),
        url_word(&format!("{base}/api/v1/targets")),
        "--data-urlencode".into(),
        "state=active".into(),
    ]);
    if let Some(var) = &t.key_env {
        argv.extend(["-H".into(), env_word_after("Authorization: Bearer ", var, &format!("set {var} to the token"))]);
    }
    StepCommand::reads(argv)
}

/// Whether a region's verdict is degraded by its telemetry alone: its
/// service's own steps find it healthy.
pub(super) fn degraded_by_telemetry_only(r: &RegionReport) -> bool {
    r.verdict == Verdict::Degraded
        && matches!(crate::judge::service_steps_verdict(r), Verdict::Healthy | Verdict::Unknown)
}
