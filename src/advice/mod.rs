//! Advice: a finished report's facts and verdicts turned into typed findings
//! and prioritised next steps, following the runbook's logic. Pure: no
//! network, no clock; unit- and snapshot-tested from fixture reports.
//!
//! Every suggested command is built from words and quoted once, carries the
//! user's kubeconfig and context, and is only suggested when the run did not
//! just see the user forbidden to run it (the permission is named instead).

use std::collections::BTreeMap;

use crate::evidence::pods::{restarted_within, short_age};
use crate::kube::pushback;
use crate::plan::{Fix, Plan, duration_word, shell_join};
use crate::report::{
    ErrorSignature, EventKind, Finding, FindingKind, HealthzCheck, Judgement, LogsStep, NextStep, PodInfo, Problem,
    ProblemKind, RegionReport, Report, Severity, Status, Verdict,
};
use crate::runbook::placeholder_url;

/// How urgent a next step is: the report lists them in this order, but for
/// the steps of a region (its rollback, its way in, its own trouble), which
/// come region by region, the worst region first (see [`step_order`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Priority {
    /// Nothing can be checked until the runbook is finished.
    Configure,
    /// Other APIs fail too: the platform first.
    Platform,
    /// One dependency failing everywhere.
    Shared,
    /// A region down or degraded right after a rollout.
    Rollback,
    /// Everything inside the clusters looks fine; the way in does not.
    Route,
    /// A region's own trouble: logs, events, describe.
    Region,
    /// Healthz answers while no pod can: what answers instead.
    Elsewhere,
    /// What could not be checked, and how to let it be.
    Access,
    /// Links and the all-clear.
    General,
}

/// Where a next step goes in the list. The service's own steps by priority;
/// a region's rollback, route and own steps together, region by region, the
/// worst verdict first (down, degraded, unknown, healthy; in the report's
/// order within a verdict), so that a rollback in a region still serving
/// never comes before the steps of a region that is down.
fn step_order(report: &Report, p: Priority, step: &NextStep) -> (Priority, u8, usize, Priority) {
    let region = step.region.as_deref().and_then(|name| report.regions.iter().position(|r| r.name == name));
    match (p, region) {
        (Priority::Rollback | Priority::Route | Priority::Region, Some(i)) => {
            let rank = match report.regions[i].verdict {
                Verdict::Down => 0,
                Verdict::Degraded => 1,
                Verdict::Unknown => 2,
                Verdict::Healthy => 3,
            };
            (Priority::Rollback, rank, i, p)
        }
        // The service's route comes before every region's steps.
        (Priority::Route, None) => (Priority::Shared, 4, 0, p),
        _ => (p, 0, 0, p),
    }
}

#[derive(Default)]
struct Advice {
    findings: Vec<Finding>,
    steps: Vec<(Priority, NextStep)>,
    /// What keeps each region from being fully checked, and the flag at
    /// fault: one next step when it is the same everywhere.
    access: Vec<(String, String, Option<Fix>)>,
    /// A step to take before a region's re-run (a command that shows what
    /// is wrong), listed right before it.
    before_rerun: Vec<(String, String, String)>,
}

impl Advice {
    fn find(&mut self, f: Finding) {
        self.findings.push(f);
    }

    fn step(&mut self, p: Priority, region: Option<&str>, text: impl Into<String>, command: Option<String>) {
        let step = NextStep { region: region.map(str::to_string), text: text.into(), command };
        if !self.steps.iter().any(|(_, s)| *s == step) {
            self.steps.push((p, step));
        }
    }
}

/// Fills in the report's findings and next steps.
pub fn advise(plan: &Plan, report: &mut Report) {
    let mut a = Advice::default();
    placeholders(plan, &mut a);
    healthz(plan, report, &mut a);
    let shared = shared_errors(report, &mut a);
    outliers(report, &mut a);
    drift(report, &mut a);
    for r in &report.regions {
        region(plan, r, &shared, &mut a);
    }
    mismatch_steps(plan, report, &mut a);
    access(plan, report, &mut a);
    one_finding_for_every_region(report, &mut a);
    unread_evidence(plan, report, &mut a);
    closing(plan, report, &mut a);

    // The most severe first; within a severity, service-level findings
    // first, then each region in the report's order.
    let order = |f: &Finding| {
        let region =
            f.region.as_ref().map_or(0, |name| 1 + report.regions.iter().position(|r| &r.name == name).unwrap_or(0));
        (std::cmp::Reverse(f.severity), region)
    };
    a.findings.sort_by_key(order);
    a.steps.sort_by_key(|(p, s)| step_order(report, *p, s));
    report.findings = a.findings;
    report.next_steps = a.steps.into_iter().map(|(_, s)| s).collect();
}

fn placeholders(plan: &Plan, a: &mut Advice) {
    for p in &plan.placeholders {
        a.find(Finding::new(
            p.region.as_deref(),
            FindingKind::Placeholder,
            Severity::Warn,
            format!("not checked: {} is the placeholder `{}`", p.key, p.value),
        ));
    }
    if plan.placeholders.is_empty() {
        return;
    }
    let keys: Vec<&str> = plan.placeholders.iter().map(|p| p.key.as_str()).collect();
    // The embedded runbook cannot be edited: `runbook init` writes a copy
    // where the next run finds it on its own.
    let embedded = plan.runbook_name.starts_with('<');
    let file = if embedded {
        "your own runbook (this writes one to ~/.config/keysvc-check/runbook.yaml, read from then on)".to_string()
    } else {
        plan.runbook_name.clone()
    };
    a.step(
        Priority::Configure,
        None,
        format!(
            "Set your real values for {} in {file}; --healthz-url and --context REGION=CONTEXT override them for one run",
            keys.join(", ")
        ),
        embedded.then(|| "keysvc-check runbook init".to_string()),
    );
}

fn healthz(plan: &Plan, report: &Report, a: &mut Advice) {
    let rb = &plan.runbook;
    let checks = report
        .healthz
        .iter()
        .map(|h| (None, h))
        .chain(report.regions.iter().filter_map(|r| r.healthz.as_ref().map(|h| (Some(r.name.as_str()), h))));
    for (region, h) in checks {
        let what = if region.is_some() { "regional healthz" } else { "healthz" };
        match h.status {
            Status::Fail => {
                let why = match (&h.error, h.problems.is_empty()) {
                    (Some(e), _) => e.message.clone(),
                    (None, false) => h.problems.join("; "),
                    (None, true) => "failed".into(),
                };
                a.find(Finding::new(
                    region,
                    FindingKind::HealthzFailed,
                    Severity::Fail,
                    format!("{what} {}: {why}", h.url),
                ));
            }
            Status::Warn => {
                if !h.unrendered.is_empty() {
                    misconfigured(plan, region, what, h, a);
                }
                if !h.mismatches.is_empty() {
                    a.find(Finding::new(
                        region,
                        FindingKind::HealthzMismatch,
                        Severity::Warn,
                        format!(
                            "{what} {} answers as operational, but {} (an alias, load balancer or port-forward answers for it?)",
                            h.url,
                            h.mismatches.join("; ")
                        ),
                    ));
                }
            }
            Status::Error if h.error.as_ref().is_some_and(|e| e.kind != ProblemKind::Placeholder) => {
                let why = h.error.as_ref().map_or_else(String::new, |e| e.message.clone());
                a.find(Finding::new(
                    region,
                    FindingKind::NotChecked,
                    Severity::Warn,
                    format!("{what} {}: {why}", h.url),
                ));
            }
            _ => {}
        }
    }
    answering_without_pods(plan, report, a);
    for r in &report.regions {
        regional_healthz_failing(plan, r, a);
    }
    let Some(env) = report.healthz.as_ref().filter(|h| h.status == Status::Fail) else { return };
    let pods_checked = plan.steps.pods && !report.regions.is_empty();
    let pods_fine =
        pods_checked && report.regions.iter().all(|r| r.pods.as_ref().is_some_and(|p| p.status == Status::Pass));

    // Other APIs: a platform outage or the service's own way in.
    let peers = &report.peers;
    let down: Vec<&str> = peers.iter().filter(|p| !p.up).map(|p| p.name.as_str()).collect();
    if !peers.is_empty() && down.len() * 2 > peers.len() {
        a.find(
            Finding::new(
                None,
                FindingKind::PlatformOutage,
                Severity::Fail,
                format!(
                    "{}/{} other APIs fail too ({}): a platform or network outage, not the Key Service alone",
                    down.len(),
                    peers.len(),
                    down.join(", ")
                ),
            )
            .count(down.len() as u64),
        );
        a.step(Priority::Platform, None, format!("{} first: other APIs fail the same way", tf(plan)), None);
        return;
    }
    if !down.is_empty() {
        a.find(Finding::new(
            None,
            FindingKind::HealthzFailed,
            Severity::Info,
            format!("{}/{} other APIs fail too ({})", down.len(), peers.len(), down.join(", ")),
        ));
    }
    if pods_fine {
        let up = peers.len() - down.len();
        let peers_note =
            if peers.is_empty() { String::new() } else { format!("{up}/{} other APIs answer and ", peers.len()) };
        a.find(Finding::new(
            None,
            FindingKind::ServiceUnreachable,
            Severity::Fail,
            format!(
                "{peers_note}every region's pods are ready, but healthz fails: the Key Service's route, ingress or network path is failing"
            ),
        ));
        if peers.is_empty() {
            let mut s = "Check whether other APIs fail the same way".to_string();
            if let Some(link) = link(&rb.guidance.other_apis) {
                s.push_str(&format!(" ({link})"));
            }
            s.push_str("; if they do, it is the platform or the network");
            a.step(Priority::Route, None, s, None);
        }
        a.step(
            Priority::Route,
            None,
            format!("{} if Kubernetes or the infrastructure underneath looks at fault", tf(plan)),
            None,
        );
    } else if !pods_checked {
        a.step(
            Priority::Region,
            None,
            "Healthz fails: check the pods and logs in every region",
            Some(plan.rerun.command("diagnose", None)),
        );
    } else if none_ready_anywhere(plan, report) {
        // Nothing is running: that is why healthz fails. The way in, other
        // APIs and what answers on the URL are beside the point until the
        // regions' own steps (below) get pods running.
        return;
    } else if peers.is_empty() {
        // Some region's pods are in trouble too, but unless none is ready
        // anywhere they do not explain a failing healthz on their own:
        // whether other APIs fail as well still tells platform from service.
        let mut s = "Healthz fails: check whether other APIs fail the same way".to_string();
        if let Some(link) = link(&rb.guidance.other_apis) {
            s.push_str(&format!(" ({link})"));
        }
        s.push_str("; the runbook's `peers` would let this tool check them for you");
        a.step(Priority::Route, None, s, None);
    }
    // Whatever else is wrong, what answers on the healthz URL is worth seeing.
    a.step(
        Priority::Route,
        None,
        "See what answers on the healthz URL (route, ingress, load balancer)",
        Some(curl(&curl_url(plan, None, &env.url))),
    );
}

/// What to do about a credential plugin that failed: install a missing one;
/// do what a failing one said (its message is in the finding).
pub fn plugin_fix(fault: Option<&crate::report::PluginFault>, context: &str) -> String {
    match fault {
        Some(crate::report::PluginFault::NotFound(c)) => format!(
            "install the credential plugin {c} (or put it on PATH, or fix user.exec.command in the kubeconfig) for context {context}"
        ),
        Some(crate::report::PluginFault::Failed(c)) => {
            format!("do what the credential plugin {c} says (sign in again?) for context {context}")
        }
        None => format!("refresh your credentials for context {context}"),
    }
}

/// The URL word of a `curl` command for a healthz check shown as `shown`:
/// a URL with credentials comes from an environment variable, since the
/// report does not show them (`--healthz-url`'s own `KEYSVC_HEALTHZ_URL`
/// for the environment's).
fn curl_url(plan: &Plan, region: Option<&str>, shown: &str) -> String {
    let raw = match region {
        None => Some(plan.healthz_url.as_str()),
        Some(name) => plan.regions.iter().find(|r| r.name == name).and_then(|r| r.healthz_url.as_deref()),
    };
    match (raw, region) {
        (Some(u), None) if crate::mask::url_has_secret(u) => {
            crate::plan::env_word("KEYSVC_HEALTHZ_URL", crate::plan::HEALTHZ_URL_HINT)
        }
        (Some(u), Some(name)) if crate::mask::url_has_secret(u) => {
            let var =
                format!("HEALTHZ_URL_{}", name.to_ascii_uppercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
            crate::plan::env_word(&var, &format!("set it to {name}'s healthz URL with its credentials"))
        }
        _ => shown.to_string(),
    }
}

/// `curl` showing the status, headers and body of what answers on `url`.
fn curl(url: &str) -> String {
    shell_join(&["curl", "-sS", "-i", "--max-time", "10", url])
}

/// "Contact Technical Foundation (link)".
fn tf(plan: &Plan) -> String {
    let mut s = "Contact Technical Foundation".to_string();
    if let Some(link) = link(&plan.runbook.guidance.technical_foundation) {
        s.push_str(&format!(" ({link})"));
    }
    s
}

/// Every region of the environment had its pods listed, and none has a
/// ready pod: nothing of the service is running.
fn none_ready_anywhere(plan: &Plan, report: &Report) -> bool {
    plan.all_regions
        && plan.steps.pods
        && !report.regions.is_empty()
        && report.regions.iter().all(|r| r.pods.as_ref().is_some_and(|p| p.error.is_none() && p.ready == 0))
}

/// A healthz reply with an unrendered template: the service answers, from a
/// deployment whose configuration was never filled in.
fn misconfigured(plan: &Plan, region: Option<&str>, what: &str, h: &HealthzCheck, a: &mut Advice) {
    a.find(Finding::new(
        region,
        FindingKind::HealthzMisconfigured,
        Severity::Warn,
        format!(
            "{what} {} answers as operational, but its reply holds an unrendered template ({}): a misconfigured deployment, deployed without its configuration filled in",
            h.url,
            h.unrendered.join("; ")
        ),
    ));
    let whose = if region.is_some() { "the region's" } else { "the service's" };
    a.step(
        Priority::Route,
        region,
        format!(
            "Check how {whose} deployment was configured: the values its templates are filled from (Helm values, ConfigMap, environment) were not rendered; see the whole reply"
        ),
        Some(curl(&curl_url(plan, region, &h.url))),
    );
}

/// Healthz answers as operational while no pod that could serve it is
/// ready: something else answers on the URL.
fn answering_without_pods(plan: &Plan, report: &Report, a: &mut Advice) {
    let answers = |h: &HealthzCheck| matches!(h.status, Status::Pass | Status::Warn);
    let env = report.healthz.as_ref().filter(|h| answers(h) && none_ready_anywhere(plan, report));
    let regional = report.regions.iter().filter_map(|r| {
        let h = r.healthz.as_ref().filter(|h| answers(h))?;
        r.pods.as_ref().filter(|p| p.error.is_none() && p.ready == 0).map(|_| (Some(r.name.as_str()), h))
    });
    for (region, h) in env.map(|h| (None, h)).into_iter().chain(regional) {
        let (what, pods) = match region {
            None => ("healthz", "no pod of the service is ready in any region".to_string()),
            Some(r) => ("regional healthz", format!("no pod is ready in {r}")),
        };
        a.find(Finding::new(
            region,
            FindingKind::HealthzWithoutPods,
            Severity::Warn,
            format!(
                "{what} {} answers as operational, but {pods}: these pods cannot be what answers (a wrong healthz URL, a cache, or another environment answering?)",
                h.url
            ),
        ));
        a.step(
            Priority::Elsewhere,
            region,
            "See who answers on the healthz URL while no pod is ready: its headers (Server, Via, Age, X-Cache) and body tell a cache or another environment",
            Some(curl(&curl_url(plan, region, &h.url))),
        );
    }
}

/// A region's own healthz failing: when its pods are ready, the region's
/// way in (route, ingress, load balancer) is at fault, not the service.
fn regional_healthz_failing(plan: &Plan, r: &RegionReport, a: &mut Advice) {
    let Some(h) = r.healthz.as_ref().filter(|h| h.status == Status::Fail) else { return };
    let name = r.name.as_str();
    let pods = r.pods.as_ref().filter(|p| p.error.is_none());
    if pods.is_some_and(|p| p.status == Status::Pass) {
        a.find(Finding::new(
            Some(name),
            FindingKind::ServiceUnreachable,
            Severity::Fail,
            "the pods are ready, but the regional healthz fails: the region's route, ingress or network path is failing",
        ));
        a.step(Priority::Route, Some(name), WHAT_ANSWERS_IN_REGION, Some(curl(&curl_url(plan, Some(name), &h.url))));
        a.step(
            Priority::Route,
            Some(name),
            format!("{} if the region's ingress, load balancer or network looks at fault", tf(plan)),
            None,
        );
    } else if pods.is_some_and(|p| p.ready == 0) {
        // Nothing runs in the region: that is why its healthz fails.
    } else {
        a.step(Priority::Route, Some(name), WHAT_ANSWERS_IN_REGION, Some(curl(&curl_url(plan, Some(name), &h.url))));
    }
}

const WHAT_ANSWERS_IN_REGION: &str =
    "see what answers on the regional healthz URL (the region's route, ingress, load balancer)";

/// One error signature (the normalised shape of an error line) in one region's window.
struct Signature {
    example: String,
    count: u64,
    /// New in the window or above its usual rate: not the region's everyday noise.
    unusual: bool,
}

/// A region's window error signatures, merged over its pods: the logs
/// step's own (judged against the baseline) when it has them, else the
/// pods' most frequent errors (e.g. only previous containers were read).
fn signatures(r: &RegionReport, spike_factor: f64) -> BTreeMap<String, Signature> {
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

/// "1 error line", "3 error lines".
fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// "5m", "1h" — a window or baseline length for prose.
fn span(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string().replace(' ', "")
}

/// The region's logs as findings: why the errors are (or are not) unusual,
/// against the service's own baseline, and the most frequent unusual error.
fn logs_findings(name: &str, l: &LogsStep, shared: &[String], a: &mut Advice) {
    let window = span(l.window_secs);
    let baseline_span = l.pods.iter().filter_map(|p| p.baseline.as_ref()).map(|b| b.span_secs).max().unwrap_or(0);
    let usual = l.baseline_rate_per_min.map(|r| r * l.window_secs as f64 / 60.0);
    let usual_text =
        |u: f64| format!("usual for this service: {u:.1} per {window} over the last {}", span(baseline_span));
    let n = l.error_lines;
    let sigs: Vec<&ErrorSignature> = l.signatures.iter().filter(|s| !shared.contains(&s.pattern)).collect();
    // The error the first finding already names, not to be repeated.
    let mut named: Option<&str> = None;
    let (kind, severity, text) = match l.judgement {
        Some(Judgement::Steady) if l.siblings_rate_per_min.is_some() => {
            let u = l.siblings_rate_per_min.unwrap_or(0.0) * l.window_secs as f64 / 60.0;
            (
                FindingKind::SteadyErrors,
                Severity::Info,
                format!(
                    "{} in {window}; no earlier logs here (the pods started recently), and the other regions usually log {u:.1} per {window} for as many pods",
                    plural(n, "error line")
                ),
            )
        }
        Some(Judgement::Steady) => {
            let t = match usual {
                Some(u) if n >= l.min_errors || u >= 0.05 => {
                    format!("{} in {window}; {}", plural(n, "error line"), usual_text(u))
                }
                _ => format!("{} in {window}, fewer than logs.min_errors ({})", plural(n, "error line"), l.min_errors),
            };
            (FindingKind::SteadyErrors, Severity::Info, t)
        }
        Some(Judgement::Spike) => {
            let u = usual.unwrap_or(0.0);
            // From nothing, there is no rate to be a multiple of.
            let text = if u > 0.0 {
                format!("{n} error lines in {window}, {:.0}× the usual rate; {}", n as f64 / u, usual_text(u))
            } else {
                format!("{n} error lines in {window}, none in the {} before", span(baseline_span))
            };
            (FindingKind::ErrorSpike, Severity::Warn, text)
        }
        Some(Judgement::NewError) => {
            let new: Vec<&&ErrorSignature> = sigs.iter().filter(|s| s.new).collect();
            named = new.first().map(|s| s.pattern.as_str());
            let first = new.first().map(|s| format!(": {}× {}", s.window_count, s.example)).unwrap_or_default();
            (
                FindingKind::NewError,
                Severity::Warn,
                format!(
                    "{n} error lines in {window}, with an error not seen in the {} before{first}",
                    span(baseline_span)
                ),
            )
        }
        Some(Judgement::NoBaseline) => (
            FindingKind::ErrorSpike,
            Severity::Warn,
            format!(
                "{} in {window}, and no earlier logs to compare with (logs.min_errors is {})",
                plural(n, "error line"),
                l.min_errors
            ),
        ),
        Some(Judgement::Threshold) => {
            let per_pod: Vec<String> = l
                .pods
                .iter()
                .filter(|p| l.threshold.is_some_and(|t| p.error_lines > t))
                .map(|p| format!("{}{}: {}", p.pod, if p.previous { " (previous)" } else { "" }, p.error_lines))
                .collect();
            (
                FindingKind::ErrorThreshold,
                Severity::Warn,
                format!(
                    "{n} error lines in {window}; more than {} in a pod (logs.error_threshold): {}",
                    l.threshold.unwrap_or(0),
                    per_pod.join(", ")
                ),
            )
        }
        Some(Judgement::Quiet) | None => return,
    };
    a.find(Finding::new(Some(name), kind, severity, text).count(n));
    if severity == Severity::Info {
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
    if let Some(s) = top.filter(|s| Some(s.pattern.as_str()) != named) {
        let tag = if s.new { "new " } else { "" };
        a.find(
            Finding::new(
                Some(name),
                if s.new { FindingKind::NewError } else { kind },
                Severity::Warn,
                format!("most frequent {tag}error ({}× in the region): {}", s.window_count, s.example),
            )
            .count(s.window_count),
        );
    }
}

/// The same error in the window of two or more regions whose logs stand
/// out is one service-level finding: a shared dependency. Returns the
/// patterns so the regions do not repeat them.
fn shared_errors(report: &Report, a: &mut Advice) -> Vec<String> {
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
    // pattern → (regions, lines, an example)
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
    for (pattern, (regions, count, example)) in shared.iter().take(3) {
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
        let _ = pattern;
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
fn outliers(report: &Report, a: &mut Advice) {
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

/// A pod's STATUS, with "not ready" added where the status alone reads as fine.
fn status_words(pod: &PodInfo) -> String {
    if !pod.is_ready && matches!(pod.status.as_str(), "Running" | "Completed") {
        format!("{}, not ready", pod.status)
    } else {
        pod.status.clone()
    }
}

fn pod_finding(name: &str, pod: &PodInfo, window: std::time::Duration) -> Option<Finding> {
    let restarted = pod.restarts > 0 && (pod.crash_looping || restarted_within(pod, window));
    let oom = restarted && pod.last_terminated.as_ref().is_some_and(|t| t.reason == "OOMKilled");
    let (kind, severity) = if oom {
        (FindingKind::OomKilled, Severity::Fail)
    } else if pod.crash_looping {
        (FindingKind::CrashLoop, Severity::Fail)
    } else if pod.terminating {
        (FindingKind::Terminating, Severity::Warn)
    } else if pod.pending {
        (FindingKind::Pending, Severity::Warn)
    } else if !pod.is_ready {
        (FindingKind::NotReady, Severity::Warn)
    } else if restarted {
        (FindingKind::Restarted, Severity::Warn)
    } else {
        return None;
    };
    let mut bits = vec![];
    if pod.crash_looping || pod.terminating || pod.pending || !pod.is_ready {
        let mut words = status_words(pod);
        // How long a running pod has not been ready: a probe flapping for
        // seconds is not a pod failing its probe for an hour.
        if let Some(s) = pod.not_ready_secs_ago.filter(|_| words.ends_with(", not ready")) {
            words.push_str(&format!(" for {}", short_age(s)));
        }
        bits.push(words);
    }
    if restarted {
        bits.push(format!("{} restarts", pod.restarts));
        if let Some(t) = &pod.last_terminated {
            let ago = t.finished_secs_ago.map(|s| format!(" {} ago", short_age(s))).unwrap_or_default();
            bits.push(format!("last terminated {} (exit {}){ago}", t.reason, t.exit_code));
        }
    }
    if let Some(why) = &pod.why {
        bits.push(why.clone());
    }
    let f = Finding::new(Some(name), kind, severity, format!("{} {}", pod.name, bits.join(", "))).pod(&pod.name);
    Some(if restarted { f.count(pod.restarts as u64) } else { f })
}

/// The problem that kept a step from being checked, unless it was a placeholder
/// (reported on its own).
fn real_problem(p: Option<&Problem>) -> Option<&Problem> {
    p.filter(|p| p.kind != ProblemKind::Placeholder)
}

fn region(plan: &Plan, r: &RegionReport, shared: &[String], a: &mut Advice) {
    let name = r.name.as_str();
    let rb = &plan.runbook;
    let window = plan.logs.since;
    let kubectl = plan.kubectl(&r.context);
    let cmd = |rest: &[&str]| {
        let mut words: Vec<&str> = kubectl.iter().map(String::as_str).collect();
        words.extend_from_slice(rest);
        shell_join(&words)
    };
    let logs_forbidden = [r.logs.as_ref().and_then(|l| l.error.as_ref())]
        .into_iter()
        .chain(r.logs.iter().flat_map(|l| l.pods.iter().map(|p| p.error.as_ref())))
        .flatten()
        .any(|p| p.kind == ProblemKind::Forbidden);

    let mut troubled: Vec<&PodInfo> = vec![];
    if let Some(p) = &r.pods {
        if let Some(e) = real_problem(p.error.as_ref()) {
            a.find(not_checked_or_mismatch(plan, name, "pods", e));
        } else if p.error.is_none() {
            if p.total == 0 {
                let mut note = p.note.clone().unwrap_or_else(|| "no pods".into());
                if !p.other_labels.is_empty() {
                    // Pods under other labels: a selector typo, or a relabelled Deployment.
                    note.push_str(&format!(
                        "; the namespace's pods have {} (is the runbook's selector right?)",
                        p.other_labels.join(", ")
                    ));
                }
                a.find(Finding::new(
                    Some(name),
                    FindingKind::NoPods,
                    Severity::Fail,
                    format!("0/{} pods ready: {note}", p.expected),
                ));
            } else if p.ready < p.expected {
                // The step passed with a pod short: one pod not ready for
                // less than the grace (pods::judge), said as information.
                let severity = match (p.ready, p.status) {
                    (0, _) => Severity::Fail,
                    (_, Status::Pass) => Severity::Info,
                    _ => Severity::Warn,
                };
                // The events say why; without them, the pod's own status may.
                let why = not_ready_reason(r)
                    .or_else(|| p.pods.iter().find_map(|pod| pod.why.clone()))
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default();
                a.find(
                    Finding::new(
                        Some(name),
                        FindingKind::NotReady,
                        severity,
                        format!("{}/{} pods ready{why}", p.ready, p.expected),
                    )
                    .count(p.ready as u64),
                );
            }
            // Pods in the same state are one finding: three identical lines
            // per region say less than one line naming the three pods.
            let mut groups: Vec<(Finding, Vec<&PodInfo>)> = vec![];
            for pod in &p.pods {
                let Some(mut f) = pod_finding(name, pod, window) else { continue };
                if p.status == Status::Pass && f.kind == FindingKind::NotReady {
                    f.severity = Severity::Info;
                    f.text.push_str(&format!(
                        " (less than not_ready_grace, {}, the others ready: a readiness probe flapping?)",
                        duration_word(rb.not_ready_grace.0)
                    ));
                }
                troubled.push(pod);
                match groups.iter_mut().find(|(g, pods)| g.kind == f.kind && status_words(pods[0]) == status_words(pod))
                {
                    Some((_, pods)) => pods.push(pod),
                    None => groups.push((f, vec![pod])),
                }
            }
            for (f, pods) in groups {
                if pods.len() == 1 {
                    a.find(f);
                } else {
                    let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
                    let state = status_words(pods[0]);
                    let head = format!("{} {state}", pods[0].name);
                    let rest = f.text.strip_prefix(&head).map_or("", |r| r.trim_start_matches([',', ' ']));
                    let mut text = format!("{} pods {state}: {}", pods.len(), names.join(", "));
                    if !rest.is_empty() {
                        text.push_str(&format!(" ({}: {rest})", pods[0].name));
                    }
                    let mut g = Finding::new(Some(name), f.kind, f.severity, text);
                    g.count = Some(pods.len() as u64);
                    a.find(g);
                }
                // What the (first) crashed container said last: often the cause.
                let pod = pods[0];
                let previous = r.logs.iter().flat_map(|l| l.pods.iter()).find(|l| l.pod == pod.name && l.previous);
                if let Some((l, g)) = previous.and_then(|l| l.top_errors.first().map(|g| (l, g))) {
                    a.find(
                        Finding::new(
                            Some(name),
                            FindingKind::CrashedLogs,
                            Severity::Warn,
                            format!(
                                "{}'s previous container logged {}, most often ({}×): {}",
                                pod.name,
                                plural(l.error_lines, "error line"),
                                g.count,
                                g.example
                            ),
                        )
                        .pod(&pod.name)
                        .count(l.error_lines),
                    );
                }
            }
        }
    }

    if r.retries > 0 {
        let text = format!("{}; its control plane is under load", pushback::summary(r.retries, &r.retried_statuses));
        a.find(Finding::new(Some(name), FindingKind::ApiPushback, Severity::Warn, text).count(u64::from(r.retries)));
    }
    events(r, a);
    rollout(plan, r, &cmd, a);
    scaled_down(plan, r, &cmd, a);

    let mut logs_bad = false;
    if let Some(l) = &r.logs {
        if l.status != Status::Error && (l.status == Status::Warn || l.judgement == Some(Judgement::Steady)) {
            logs_bad = l.status == Status::Warn;
            logs_findings(name, l, shared, a);
        } else if let Some(e) =
            real_problem(l.error.as_ref()).filter(|_| r.pods.as_ref().is_none_or(|p| p.error.is_none()))
        {
            a.find(not_checked_or_mismatch(plan, name, "logs", e));
        }
        if l.partial && l.status != Status::Error {
            a.find(Finding::new(
                Some(name),
                FindingKind::LogsPartial,
                Severity::Info,
                "logs partial: some pods' logs were cut short or could not be read",
            ));
        }
    }

    let pods_bad = r.pods.as_ref().is_some_and(|p| matches!(p.status, Status::Warn | Status::Fail));
    if pods_bad || logs_bad || matches!(r.verdict, Verdict::Down | Verdict::Degraded) {
        let since = format!("--since={}", crate::runbook::format_duration(window));
        let no_pods = r.pods.as_ref().is_some_and(|p| p.total == 0 && p.error.is_none());
        // Only suggest reading what this user was seen to be allowed to read;
        // when the run did not read it (a single step), diagnose will.
        let owners_read = r.rollout.as_ref().is_some_and(|o| !forbidden(o.error.as_ref()));
        let events_read = r.events.as_ref().is_some_and(|e| !forbidden(e.error.as_ref()));
        let evidence_tried = r.rollout.is_some() || r.events.is_some();
        let deployment = r.rollout.as_ref().and_then(|o| o.deployment.as_deref());
        // Every pod of the namespace with its labels: what anyone who may
        // list pods can run, and where a selector that no longer matches
        // shows at once. Not when the Deployment says why there are none.
        if no_pods && scaled_to_zero(r).is_none() {
            let empty =
                if owners_read && deployment.is_none() { ", and no Deployment or ReplicaSet does either" } else { "" };
            let needs = if evidence_tried && !owners_read {
                format!(
                    " (the deployment itself needs get and list on deployments and replicasets in namespace {}, context {})",
                    rb.namespace, r.context
                )
            } else {
                String::new()
            };
            a.step(
                Priority::Region,
                Some(name),
                format!("No pods match {}{empty}: list every pod in the namespace with its labels{needs}", rb.selector),
                Some(cmd(&["get", "pods", "--show-labels"])),
            );
        }
        // Then, when nothing was seen in the namespace, whether it exists (a
        // Deployment or Warning events read there say it does).
        let namespace_seen = r.rollout.as_ref().is_some_and(|o| o.deployment.is_some())
            || r.events.as_ref().is_some_and(|e| !e.groups.is_empty());
        if let Some(p) = r.pods.as_ref().and_then(|p| p.namespace_unchecked.as_ref()).filter(|_| !namespace_seen) {
            // Not known whether the namespace exists: the way to tell, and
            // with whose rights when this user was refused.
            let ns = &rb.namespace;
            let (text, context) = if p.kind == ProblemKind::Forbidden {
                (
                    format!(
                        "Whether namespace {ns} exists: {} may not get namespaces; run this with a context of {name}'s cluster that may",
                        r.context
                    ),
                    "CONTEXT",
                )
            } else {
                (format!("Whether namespace {ns} exists"), r.context.as_str())
            };
            let mut words = plan.kubectl_cluster(context);
            words.extend(["get".into(), "namespace".into(), ns.clone()]);
            a.step(Priority::Region, Some(name), text, Some(shell_join(&words)));
        }
        if no_pods && owners_read && deployment.is_some() && scaled_to_zero(r).is_none() {
            a.step(
                Priority::Region,
                Some(name),
                "No pods: see what the deployment is doing",
                Some(cmd(&["get", "deploy,rs"])),
            );
        } else if no_pods && !evidence_tried {
            a.step(
                Priority::Region,
                Some(name),
                "No pods: diagnose reads the Deployment and the Warning events, where you are allowed to",
                Some(plan.rerun.command("diagnose", Some(name))),
            );
        }
        // Only when there are some to see: an empty list says nothing.
        let events_seen = r.events.as_ref().is_some_and(|e| !e.groups.is_empty());
        if no_pods && events_read && events_seen {
            a.step(
                Priority::Region,
                Some(name),
                "Warning events in the namespace, newest last",
                Some(cmd(&["get", "events", "--field-selector", "type=Warning", "--sort-by=.lastTimestamp"])),
            );
        }
        if no_pods {
            // Nothing to read logs of or describe.
        } else if logs_forbidden {
            a.step(
                Priority::Region,
                Some(name),
                format!("read the logs: needs get on pods/log in namespace {} (context {})", rb.namespace, r.context),
                None,
            );
        } else {
            // `--tail=-1`: with a selector kubectl shows only 10 lines a pod
            // unless told otherwise. `--prefix --ignore-errors`: names each
            // pod, and goes on past a container waiting to restart. Not
            // after `logs`, which has just shown them.
            if plan.rerun.verb != "logs" {
                a.step(
                    Priority::Region,
                    Some(name),
                    "read the logs of every pod",
                    Some(cmd(&[
                        "logs",
                        "-l",
                        &rb.selector,
                        "-c",
                        &rb.container,
                        &since,
                        "--tail=-1",
                        "--prefix",
                        "--ignore-errors",
                    ])),
                );
            }
            // One crashed container's logs: pods crashing alike say the same.
            let crashed: Vec<&&PodInfo> = troubled.iter().filter(|p| p.restarts > 0).collect();
            if let Some(pod) = crashed.first() {
                let more = if crashed.len() > 1 {
                    format!(" ({} more crashed alike)", crashed.len() - 1)
                } else {
                    String::new()
                };
                a.step(
                    Priority::Region,
                    Some(name),
                    format!("logs of {}'s crashed container{more}", pod.name),
                    Some(cmd(&["logs", &pod.name, "-c", &rb.container, "--previous"])),
                );
            }
        }
        // One `describe` per distinct state: the pods in one state share a cause.
        let events_note = if forbidden(r.events.as_ref().and_then(|e| e.error.as_ref())) {
            " (its Events section will be empty: listing events needs a permission this user lacks)"
        } else {
            ""
        };
        let mut described: Vec<String> = vec![];
        for pod in &troubled {
            let state = status_words(pod);
            if described.contains(&state) {
                continue;
            }
            described.push(state.clone());
            a.step(
                Priority::Region,
                Some(name),
                format!("why {} is {state}{events_note}", pod.name),
                Some(cmd(&["describe", "pod", &pod.name])),
            );
        }
        if let Some(link) = rb.guidance.logs.get(name).filter(|l| !placeholder_url(l)) {
            a.step(Priority::Region, Some(name), format!("logs in the logging service: {link}"), None);
        }
    }
    event_steps(r, &cmd, a);
    let problems = [r.pods.as_ref().and_then(|p| p.error.as_ref()), r.logs.as_ref().and_then(|l| l.error.as_ref())];
    if let Some(p) = problems.into_iter().flatten().find(|p| p.kind != ProblemKind::Placeholder) {
        let (fix, flag) = match p.kind {
            ProblemKind::Forbidden => {
                // The pods were listed: only their logs are missing.
                let pods_read = r.pods.as_ref().is_some_and(|pods| pods.error.is_none());
                let what = if pods_read { "get on pods/log" } else { "get and list on pods and get on pods/log" };
                let mut fix = format!("ask for {what} in namespace {} for context {}", rb.namespace, r.context);
                if pods_forbidden(r) {
                    fix = format!(
                        "namespace {ns} may not exist, or this user may not read it (the API server refuses both alike): check {}; if it is right, {fix}",
                        rb.key_at("namespace", &plan.runbook_name),
                        ns = rb.namespace
                    );
                }
                (fix, None)
            }
            ProblemKind::ContextMissing => {
                let (fix, flag) = context_fix(plan, name, &r.context, p);
                (fix, Some(flag))
            }
            ProblemKind::SameCluster => {
                let from_flag =
                    plan.regions.iter().any(|p| p.name == name && p.context_from == crate::plan::ContextFrom::Flag);
                let fix = if from_flag {
                    format!("pass --context {name}=CONTEXT with a context of {name}'s own cluster")
                } else {
                    format!(
                        "set environments.{}.regions.{name}.context in {} to a context of {name}'s own cluster, or pass --context {name}=CONTEXT",
                        plan.env, plan.runbook_name
                    )
                };
                // Which cluster each context names, to pick the right one.
                let mut words = vec!["kubectl".to_string()];
                words.extend(plan.kubeconfig.iter().flat_map(|k| ["--kubeconfig".into(), crate::plan::absolute(k)]));
                words.extend(["config".into(), "get-contexts".into()]);
                a.before_rerun.push((
                    name.to_string(),
                    "the contexts in your kubeconfig and the cluster each names".into(),
                    shell_join(&words),
                ));
                (fix, Some(Fix::Context { region: name.to_string(), context: None }))
            }
            ProblemKind::Kubeconfig if p.file.is_some() && !p.message.contains("does not exist") => (
                format!(
                    "fix or replace the kubeconfig {} (it cannot be read as a kubeconfig), or pass --kubeconfig FILE",
                    p.file.as_deref().unwrap_or_default()
                ),
                Some(Fix::Kubeconfig),
            ),
            ProblemKind::Kubeconfig
                if ["does not exist", "none of these files exists", "no kubeconfig"]
                    .iter()
                    .any(|m| p.message.contains(m)) =>
            {
                ("pass --kubeconfig FILE or set KUBECONFIG to your kubeconfig".to_string(), Some(Fix::Kubeconfig))
            }
            ProblemKind::Kubeconfig if p.plugin.is_some() => (plugin_fix(p.plugin.as_ref(), &r.context), None),
            ProblemKind::Unauthorized | ProblemKind::Kubeconfig => {
                (format!("refresh your credentials for context {}", r.context), None)
            }
            ProblemKind::Throttled => {
                let longer = longer_timeout(plan.timeout);
                (
                    format!(
                        "its API server is shedding load: wait a minute, or give the retries more time with a longer --timeout ({})",
                        duration_word(longer)
                    ),
                    Some(Fix::Timeout(longer)),
                )
            }
            ProblemKind::RunbookMismatch => (runbook_fix(plan, p), None),
            ProblemKind::BadRequest => (
                format!(
                    "the API server refused the request as malformed: check the runbook's selector `{}` and namespace `{}` in {} (`keysvc-check runbook validate` checks them)",
                    rb.selector, rb.namespace, plan.runbook_name
                ),
                None,
            ),
            ProblemKind::Timeout | ProblemKind::Deadline if r.pods.as_ref().is_some_and(|p| p.error.is_none()) => {
                // The pods were listed: the API server answers, the logs took longer.
                let longer = longer_timeout(plan.timeout);
                (
                    format!(
                        "reading the logs did not finish in time: give it a longer --timeout ({})",
                        duration_word(longer)
                    ),
                    Some(Fix::Timeout(longer)),
                )
            }
            kind @ (ProblemKind::Refused
            | ProblemKind::Reset
            | ProblemKind::Dns
            | ProblemKind::Tls
            | ProblemKind::Timeout
            | ProblemKind::Deadline) => {
                let what = match kind {
                    ProblemKind::Refused => {
                        "nothing accepts connections at its API server's address: the API server is down, or the kubeconfig names the wrong address"
                    }
                    ProblemKind::Reset => "its API server, or something on the way, closed the connection",
                    ProblemKind::Dns => "its API server's host name does not resolve here (VPN, DNS)",
                    ProblemKind::Tls => {
                        "TLS with its API server failed: the kubeconfig's CA, or another server at that address"
                    }
                    _ => {
                        "its API server did not answer within --timeout: it hangs or is overloaded, or the way to it (VPN, proxy, firewall) drops the traffic"
                    }
                };
                // kubectl's own request timeout: a server that hangs must
                // not hang the command pasted to look at it.
                let mut words = plan.kubectl_cluster(&r.context);
                words.extend(["get", "--raw", "/readyz", "--request-timeout=5s"].map(String::from));
                a.before_rerun.push((
                    name.to_string(),
                    format!("see whether the API server of context {} answers (\"ok\" when it is ready)", r.context),
                    shell_join(&words),
                ));
                (what.to_string(), None)
            }
            _ => ("check that the cluster is reachable from here".into(), None),
        };
        a.access.push((name.to_string(), fix, flag));
    }
}

/// A longer `--timeout` for a run the API server throttled to its end:
/// double the run's, and a minute at least.
fn longer_timeout(timeout: std::time::Duration) -> std::time::Duration {
    (timeout * 2).max(std::time::Duration::from_secs(60))
}

/// The re-run step for each region that could not be fully checked; one,
/// about the whole run, when every region failed the same way (a kubeconfig
/// that cannot be used, a throttled run…).
fn access(plan: &Plan, report: &Report, a: &mut Advice) {
    let access = std::mem::take(&mut a.access);
    let before = std::mem::take(&mut a.before_rerun);
    let steps_before = |a: &mut Advice, region: Option<&str>| {
        for (name, text, command) in before.iter().filter(|(n, _, _)| region.is_none_or(|r| r == n)) {
            a.step(Priority::Access, Some(name), text.clone(), Some(command.clone()));
        }
    };
    let verb = plan.rerun.verb;
    let everywhere = report.regions.len() > 1
        && access.len() == report.regions.len()
        && access.iter().all(|(_, fix, flag)| (fix, flag) == (&access[0].1, &access[0].2));
    if everywhere {
        steps_before(a, None);
        let (_, fix, flag) = &access[0];
        let text = format!("no region could be fully checked: {fix}{}", then_rerun(fix));
        a.step(Priority::Access, None, text, Some(plan.rerun.fixed(verb, None, flag.as_ref())));
        return;
    }
    for (name, fix, flag) in access {
        steps_before(a, Some(&name));
        a.step(
            Priority::Access,
            Some(&name),
            format!("could not be fully checked: {fix}{}", then_rerun(&fix)),
            Some(plan.rerun.fixed(verb, Some(&name), flag.as_ref())),
        );
    }
}

/// "; then re-run", after a fix that may end in a question ("did you mean …?").
fn then_rerun(fix: &str) -> &'static str {
    if fix.ends_with('?') { " Then re-run" } else { "; then re-run" }
}

/// The same finding in every region (a kubeconfig that cannot be used) is
/// said once, for the service, naming the regions.
fn one_finding_for_every_region(report: &Report, a: &mut Advice) {
    let n = report.regions.len();
    if n < 2 {
        return;
    }
    let mut i = 0;
    while i < a.findings.len() {
        let f = &a.findings[i];
        if f.region.is_none()
            || !matches!(f.kind, FindingKind::NotChecked | FindingKind::Permission | FindingKind::RunbookMismatch)
        {
            i += 1;
            continue;
        }
        let alike: Vec<usize> = (i..a.findings.len())
            .filter(|&j| {
                let g = &a.findings[j];
                g.region.is_some() && (g.kind, g.severity, &g.text) == (f.kind, f.severity, &f.text)
            })
            .collect();
        let mut regions: Vec<String> = alike.iter().filter_map(|&j| a.findings[j].region.clone()).collect();
        regions.dedup();
        if regions.len() == n {
            let merged = Finding::new(None, f.kind, f.severity, format!("every region: {}", f.text)).regions(regions);
            for &j in alike.iter().skip(1).rev() {
                a.findings.remove(j);
            }
            a.findings[i] = merged;
        }
        i += 1;
    }
}

fn forbidden(p: Option<&Problem>) -> bool {
    p.is_some_and(|p| p.kind == ProblemKind::Forbidden)
}

/// Optional evidence the user may not read: said once (info), naming the
/// permission, with the regions it concerns; the verdicts do not depend on it.
fn unread_evidence(plan: &Plan, report: &Report, a: &mut Advice) {
    let ns = &plan.runbook.namespace;
    type Get = fn(&RegionReport) -> Option<&Problem>;
    let pieces: [(&str, String, Get); 2] = [
        ("Warning events", format!("list on events in namespace {ns}"), |r| {
            r.events.as_ref().and_then(|e| e.error.as_ref())
        }),
        (
            "the Deployment's revisions",
            format!("get and list on replicasets and deployments (apps) in namespace {ns}"),
            |r| r.rollout.as_ref().and_then(|o| o.error.as_ref()),
        ),
    ];
    for (what, permission, problem) in pieces.clone() {
        let regions: Vec<String> =
            report.regions.iter().filter(|r| forbidden(problem(r))).map(|r| r.name.clone()).collect();
        if regions.is_empty() {
            continue;
        }
        let (region, scope) = match regions.as_slice() {
            [one] => (Some(one.as_str()), String::new()),
            many => (None, format!(" in {}/{} regions", many.len(), report.regions.len())),
        };
        let f = Finding::new(
            region,
            FindingKind::Permission,
            Severity::Info,
            format!("{what} not read{scope} (optional; verdicts do not depend on them): needs {permission}"),
        );
        a.find(if region.is_none() { f.regions(regions) } else { f });
    }
    // Not read for another reason (throttled, timed out) in a region whose
    // pods were read: said per region, with the reason.
    for (what, _, problem) in pieces {
        for r in &report.regions {
            let pods_read = r.pods.as_ref().is_some_and(|p| p.error.is_none());
            match problem(r) {
                Some(p) if pods_read && p.kind != ProblemKind::Forbidden => a.find(Finding::new(
                    Some(&r.name),
                    FindingKind::NotChecked,
                    Severity::Info,
                    format!("{what} not read (optional; verdicts do not depend on them): {}", p.message),
                )),
                _ => {}
            }
        }
    }
}

/// The finding kind of a group of Warning events.
fn event_kind(k: EventKind) -> FindingKind {
    match k {
        EventKind::ProbeFailing => FindingKind::ProbeFailing,
        EventKind::BackOff => FindingKind::BackOff,
        EventKind::ImagePull => FindingKind::ImagePull,
        EventKind::Unschedulable => FindingKind::Unschedulable,
        EventKind::MountFailed => FindingKind::MountFailed,
        EventKind::Evicted => FindingKind::Evicted,
        EventKind::Other => FindingKind::Event,
    }
}

/// Why pods are not ready, as the events tell it: the first group (most
/// recent) of a kind that keeps a pod from being ready.
fn not_ready_reason(r: &RegionReport) -> Option<String> {
    let groups = &r.events.as_ref()?.groups;
    let g = groups.iter().find(|g| {
        matches!(
            g.kind,
            EventKind::ProbeFailing
                | EventKind::ImagePull
                | EventKind::Unschedulable
                | EventKind::MountFailed
                | EventKind::BackOff
        )
    })?;
    Some(format!("{} ({} ×{}): {}", event_words(g.kind), g.reason, g.count, g.message))
}

fn event_words(k: EventKind) -> &'static str {
    match k {
        EventKind::ProbeFailing => "probe failing",
        EventKind::BackOff => "restarting with back-off",
        EventKind::ImagePull => "image cannot be pulled",
        EventKind::Unschedulable => "cannot be scheduled",
        EventKind::MountFailed => "volume cannot be mounted",
        EventKind::Evicted => "evicted",
        EventKind::Other => "warning",
    }
}

/// One finding per group of Warning events.
fn events(r: &RegionReport, a: &mut Advice) {
    let Some(e) = &r.events else { return };
    for g in &e.groups {
        let severity = match g.kind {
            EventKind::ImagePull | EventKind::Unschedulable | EventKind::ProbeFailing | EventKind::MountFailed
                if matches!(r.verdict, Verdict::Down | Verdict::Degraded) =>
            {
                Severity::Fail
            }
            EventKind::Other => Severity::Info,
            _ => Severity::Warn,
        };
        let more = if g.objects_total > g.objects.len() {
            format!(" and {} more", g.objects_total - g.objects.len())
        } else {
            String::new()
        };
        let ago = g.last_seen_secs_ago.map(|s| format!(", last {} ago", short_age(s))).unwrap_or_default();
        a.find(
            Finding::new(
                Some(&r.name),
                event_kind(g.kind),
                severity,
                format!("{} ×{} on {}{more}{ago}: {}", g.reason, g.count, g.objects.join(", "), g.message),
            )
            .count(g.count),
        );
    }
}

/// Images as a short list for prose.
fn images(list: &[String]) -> String {
    if list.is_empty() { "no image".into() } else { list.join(", ") }
}

/// A rollout inside the baseline is a finding; in a region that is down or
/// degraded, the rollback command comes early in the next steps (suggested,
/// never run).
fn rollout(plan: &Plan, r: &RegionReport, cmd: &dyn Fn(&[&str]) -> String, a: &mut Advice) {
    let Some(o) = r.rollout.as_ref().filter(|o| o.error.is_none()) else { return };
    let (Some(deployment), Some(revision), Some(ago)) = (&o.deployment, o.revision, o.rolled_out_secs_ago) else {
        return;
    };
    if ago > recent_rollout(plan).as_secs() {
        return;
    }
    // Scaled to zero, the Deployment says why there are no pods: the
    // rollout is then a fact, not the suspect.
    let bad = matches!(r.verdict, Verdict::Down | Verdict::Degraded) && scaled_to_zero(r).is_none();
    let before = o
        .previous
        .as_ref()
        .map(|p| format!("; revision {} ({}) before", p.revision, images(&p.images)))
        .unwrap_or_default();
    a.find(Finding::new(
        Some(&r.name),
        FindingKind::Rollout,
        if bad { Severity::Warn } else { Severity::Info },
        format!("rolled out revision {revision} ({}) {} ago{before}", images(&o.images), short_age(ago)),
    ));
    if let (Some(p), true) = (&o.previous, bad) {
        let to = format!("--to-revision={}", p.revision);
        let deploy = format!("deployment/{deployment}");
        // The facts were read, so the history can be: the same reads. One
        // revision's history is only its template; the change is the two
        // templates side by side, each a command any shell pastes.
        a.step(
            Priority::Rollback,
            Some(&r.name),
            format!(
                "revision {revision} rolled out {} ago and the region is {}: see what changed, revision {}'s pod template (before) …",
                short_age(ago),
                r.verdict.as_str(),
                p.revision
            ),
            Some(cmd(&["rollout", "history", &deploy, &format!("--revision={}", p.revision)])),
        );
        a.step(
            Priority::Rollback,
            Some(&r.name),
            format!("… against revision {revision}'s (now): images, env, resources, probes"),
            Some(cmd(&["rollout", "history", &deploy, &format!("--revision={revision}")])),
        );
        a.step(
            Priority::Rollback,
            Some(&r.name),
            format!(
                "if it started with the rollout, roll back to revision {} ({}) — it changes the cluster: it needs permission to patch deployments, and check with your team first",
                p.revision,
                images(&p.images)
            ),
            Some(cmd(&["rollout", "undo", &deploy, &to])),
        );
    }
}

/// The Deployment, when it asks for no replicas at all.
fn scaled_to_zero(r: &RegionReport) -> Option<&str> {
    let o = r.rollout.as_ref()?;
    o.deployment.as_deref().filter(|_| o.replicas == Some(0))
}

/// A Deployment asking for fewer replicas than the runbook expects ready:
/// it explains missing pods before anything else does. Scaled to zero, the
/// command that shows who did it and the one that undoes it.
fn scaled_down(plan: &Plan, r: &RegionReport, cmd: &dyn Fn(&[&str]) -> String, a: &mut Advice) {
    let Some(o) = &r.rollout else { return };
    let (Some(deployment), Some(replicas)) = (&o.deployment, o.replicas) else { return };
    let expected = plan.runbook.expected_ready;
    if replicas >= expected {
        return;
    }
    let who = o
        .replicas_set
        .as_ref()
        .map(|c| {
            let ago = c.secs_ago.map(|s| format!(" {} ago", short_age(s))).unwrap_or_default();
            format!(", last written by {}{ago}", c.by)
        })
        .unwrap_or_default();
    let (severity, what) = if replicas == 0 {
        (Severity::Fail, "scaled to 0 replicas".to_string())
    } else {
        (Severity::Warn, format!("scaled to {}", plural(u64::from(replicas), "replica")))
    };
    a.find(
        Finding::new(
            Some(&r.name),
            FindingKind::ScaledDown,
            severity,
            format!("the Deployment {deployment} is {what} (spec.replicas{who}); expected_ready is {expected}"),
        )
        .count(u64::from(replicas)),
    );
    let deploy = format!("deployment/{deployment}");
    a.step(
        Priority::Region,
        Some(&r.name),
        format!("the Deployment asks for {replicas} of {expected}: see its replicas, conditions and scaling events"),
        Some(cmd(&["describe", &deploy])),
    );
    if replicas == 0 {
        a.step(
            Priority::Region,
            Some(&r.name),
            format!(
                "if it was not meant to be, scale it back to {expected} — it changes the cluster: it needs permission to patch deployments/scale, and check with your team first (an autoscaler or CD tool may scale it again)"
            ),
            Some(cmd(&["scale", &deploy, &format!("--replicas={expected}")])),
        );
    }
}

/// Steps for Warning events no other step shows: the object's `describe`,
/// whose Events section lists them (a FailedMount in a healthy region).
fn event_steps(r: &RegionReport, cmd: &dyn Fn(&[&str]) -> String, a: &mut Advice) {
    let Some(e) = &r.events else { return };
    for g in &e.groups {
        let Some(object) = g.objects.first() else { continue };
        let command = cmd(&["describe", object]);
        let (kind, name) = object.split_once('/').unwrap_or(("", object));
        let same = cmd(&["describe", kind, name]);
        let shown = a.steps.iter().any(|(_, s)| {
            s.region.as_deref() == Some(r.name.as_str())
                && s.command.as_ref().is_some_and(|c| *c == command || *c == same)
        });
        if shown {
            continue;
        }
        let more = if g.objects_total > 1 { format!(" (and {} more)", g.objects_total - 1) } else { String::new() };
        a.step(
            Priority::Region,
            Some(&r.name),
            format!("see the {} events of {object}{more} ({}) in its Events section", g.reason, event_words(g.kind)),
            Some(command),
        );
    }
}

/// How recent a rollout must be to count as "what changed": the log
/// baseline, the time errors are compared against.
fn recent_rollout(plan: &Plan) -> std::time::Duration {
    plan.runbook.logs.baseline.0
}

/// A region running other images than its siblings.
fn drift(report: &Report, a: &mut Advice) {
    let known: Vec<(&RegionReport, &Vec<String>)> = report
        .regions
        .iter()
        .filter_map(|r| {
            r.rollout.as_ref().filter(|o| o.error.is_none() && !o.images.is_empty()).map(|o| (r, &o.images))
        })
        .collect();
    if known.len() < 2 {
        return;
    }
    let mut sets: Vec<(&Vec<String>, Vec<&str>)> = vec![];
    for (r, imgs) in &known {
        match sets.iter_mut().find(|(s, _)| s == imgs) {
            Some((_, regions)) => regions.push(r.name.as_str()),
            None => sets.push((imgs, vec![r.name.as_str()])),
        }
    }
    if sets.len() < 2 {
        return;
    }
    // The most common set is the reference; each other set's regions drift.
    sets.sort_by_key(|(_, regions)| std::cmp::Reverse(regions.len()));
    let (common, common_regions) = &sets[0];
    for (imgs, regions) in &sets[1..] {
        for name in regions {
            let r = known.iter().find(|(r, _)| r.name == *name).map(|(r, _)| *r);
            let bad = r.is_some_and(|r| matches!(r.verdict, Verdict::Down | Verdict::Degraded));
            a.find(
                Finding::new(
                    Some(name),
                    FindingKind::VersionDrift,
                    if bad { Severity::Warn } else { Severity::Info },
                    format!("runs {}, while {} run {}", images(imgs), common_regions.join(", "), images(common)),
                )
                .regions(common_regions.iter().map(|s| s.to_string()).collect()),
            );
        }
    }
}

/// A runbook link, unless it is still a placeholder.
fn link(l: &Option<String>) -> Option<&str> {
    l.as_deref().filter(|l| !placeholder_url(l))
}

/// What to do about a region's context that is not in the kubeconfig: the
/// likely one when the name is a typo of one there, and the fix where the
/// wrong name came from (the runbook's key and line, or `--context`). The
/// re-run overrides the context with the likely one, or `CONTEXT`.
fn context_fix(plan: &Plan, region: &str, context: &str, p: &Problem) -> (String, Fix) {
    let guess = crate::runbook::did_you_mean(context, &p.instead).map(str::to_string);
    let from = plan.regions.iter().find(|r| r.name == region).map(|r| r.context_from.clone()).unwrap_or_default();
    let text = from.fix(&plan.runbook_name, region, context, guess.as_deref());
    (text, Fix::Context { region: region.to_string(), context: guess })
}

/// Listing the pods was forbidden: with roles per namespace, the API server
/// answers a namespace that does not exist with the same 403.
fn pods_forbidden(r: &RegionReport) -> bool {
    forbidden(r.pods.as_ref().and_then(|p| p.error.as_ref()))
}

/// A step not checked; when the runbook names what the cluster lacks, a
/// finding about the runbook, with the key and line to fix.
fn not_checked_or_mismatch(plan: &Plan, region: &str, what: &str, p: &Problem) -> Finding {
    if p.kind == ProblemKind::Forbidden && what == "pods" {
        let mut f = not_checked(region, what, p);
        f.text.push_str(&format!(", or namespace {} does not exist", plan.runbook.namespace));
        return f;
    }
    if p.kind == ProblemKind::ContextMissing
        && let Some(r) = plan.regions.iter().find(|r| r.name == region)
    {
        let mut f = not_checked(region, what, p);
        f.text.push_str(&format!("; {}", context_fix(plan, region, &r.context, p).0));
        return f;
    }
    if p.kind != ProblemKind::RunbookMismatch {
        return not_checked(region, what, p);
    }
    let mut text = format!("{what} not checked: {}", p.message);
    if what == "pods" && !p.instead.is_empty() {
        text.push_str(&format!(" (the namespace's pods have {})", p.instead.join(", ")));
    }
    text.push_str(&format!("; {}", runbook_fix(plan, p)));
    Finding::new(Some(region), FindingKind::RunbookMismatch, Severity::Fail, text)
}

/// The runbook key to change when the cluster lacks what it names, where it
/// is written, and the likeliest right value.
fn runbook_fix(plan: &Plan, p: &Problem) -> String {
    let rb = &plan.runbook;
    let (key, value) =
        if p.message.contains("no container") { ("container", &rb.container) } else { ("selector", &rb.selector) };
    let mut fix = format!("fix {}", rb.key_at(key, &plan.runbook_name));
    if let Some(better) = crate::runbook::did_you_mean(value, &p.instead) {
        fix.push_str(&format!(": did you mean {better}?"));
    } else if key == "container" && !p.instead.is_empty() {
        fix.push_str(&format!(" to one of {}", p.instead.join(", ")));
    }
    fix
}

/// When the runbook's selector matched nothing: the namespace's pods with
/// their labels, once (the regions run the same Deployment). When listing
/// pods was forbidden: what the user may do in the namespace, once — nothing
/// at all there points at a namespace that does not exist.
fn mismatch_steps(plan: &Plan, report: &Report, a: &mut Advice) {
    if let Some(r) = report.regions.iter().find(|r| pods_forbidden(r)) {
        let mut words = plan.kubectl(&r.context);
        words.extend(["auth".into(), "can-i".into(), "--list".into()]);
        a.step(
            Priority::Access,
            Some(&r.name),
            format!(
                "what you may do in namespace {}: no pods there means no permission, or no such namespace (compare with the namespace you know the service runs in)",
                plan.runbook.namespace
            ),
            Some(shell_join(&words)),
        );
    }
    let selector = |r: &&RegionReport| {
        r.pods.as_ref().and_then(|p| p.error.as_ref()).is_some_and(|e| e.kind == ProblemKind::RunbookMismatch)
    };
    if let Some(r) = report.regions.iter().find(selector) {
        let mut words = plan.kubectl(&r.context);
        words.extend(["get".into(), "pods".into(), "--show-labels".into()]);
        a.step(
            Priority::Region,
            Some(&r.name),
            format!(
                "the namespace's pods with their labels, to compare with the runbook's selector `{}`",
                plan.runbook.selector
            ),
            Some(shell_join(&words)),
        );
    }
}

fn not_checked(region: &str, what: &str, p: &Problem) -> Finding {
    let kind = match p.kind {
        ProblemKind::Forbidden => FindingKind::Permission,
        // Its message names both regions and the server: said as it is.
        ProblemKind::SameCluster => {
            return Finding::new(Some(region), FindingKind::SameCluster, Severity::Warn, p.message.clone());
        }
        _ => FindingKind::NotChecked,
    };
    Finding::new(Some(region), kind, Severity::Warn, format!("{what} not checked: {}", p.message))
}

fn closing(plan: &Plan, report: &Report, a: &mut Advice) {
    let rb = &plan.runbook;
    let verdict = report.service.verdict;
    let every_step = plan.steps.healthz && plan.steps.pods && plan.steps.logs;
    // A healthz that warns did not pass: it answered as operational, and
    // the mismatch is a finding.
    let mismatch = report.healthz_checks().iter().any(|(_, h)| h.status == Status::Warn);
    if verdict == Verdict::Healthy && !every_step {
        let text = if mismatch {
            "Healthz answered as operational, with the mismatch above; diagnose runs every step".to_string()
        } else {
            format!("The {} step passed; diagnose runs every step", plan.steps.names().join(" and "))
        };
        a.step(Priority::General, None, text, Some(plan.rerun.command("diagnose", None)));
    } else if verdict == Verdict::Healthy {
        let mut s = if mismatch {
            "Every other check passed; healthz answered as operational, with the mismatch above".to_string()
        } else {
            "Every check passed".to_string()
        };
        s.push_str(". If the alert still fires, it may come from missing metrics: check that the metrics pipeline receives data from the service");
        if let Some(link) = link(&rb.guidance.metrics).or(link(&rb.guidance.dashboard)) {
            s.push_str(&format!(" ({link})"));
        }
        a.step(Priority::General, None, s, None);
    } else if let Some(d) = link(&rb.guidance.dashboard) {
        a.step(Priority::General, None, format!("Dashboard of every region's pods: {d}"), None);
    }
}

#[cfg(test)]
mod tests {
    //! Advice from fixture reports: no cluster, no network.

    use std::time::Duration;

    use super::*;
    use crate::plan::{LogOptions, Output, PeerPlan, Placeholder, RegionPlan, Rerun, Steps};
    use crate::report::{
        ErrorGroup, EventGroup, EventsStep, HealthzCheck, PeerCheck, PodBaseline, PodLogs, PodsStep, RevisionFacts,
        RolloutFacts, ServiceVerdict, Terminated,
    };
    use crate::runbook::{Source, parse};

    const RUNBOOK: &str = "service: Key Service API\nnamespace: api\nselector: app=api-key-service\ncontainer: api-key-service\nenvironments:\n  prod:\n    healthz_url: https://keys.corp/healthz\n    regions:\n      us-south: { context: ctx-south }\n      us-east: { context: ctx-east }\n      eu-de: { context: ctx-de }\nguidance:\n  technical_foundation: https://runbooks.corp/tf\n";

    fn plan() -> Plan {
        let runbook = parse(&Source { name: "rb.yaml".into(), text: RUNBOOK.into() }).unwrap();
        let regions = runbook.environments.value["prod"]
            .regions
            .value
            .iter()
            .map(|(name, spec)| RegionPlan {
                name: name.clone(),
                context: spec.context.value.clone(),
                healthz_url: None,
                placeholder_context: None,
                context_from: Default::default(),
            })
            .collect();
        Plan {
            runbook,
            runbook_name: "rb.yaml".into(),
            env: "prod".into(),
            healthz_url: "https://keys.corp/healthz".into(),
            regions,
            all_regions: true,
            steps: Steps { healthz: true, pods: true, logs: true, evidence: true },
            timeout: Duration::from_secs(30),
            kubeconfig: Some("/home/me/.kube/prod config".into()),
            peers: vec![],
            placeholder_healthz: None,
            placeholders: vec![],
            logs: LogOptions {
                since: Duration::from_secs(300),
                tail: None,
                previous_only: false,
                grep: None,
                stream: false,
                max_streams: crate::cli::DEFAULT_MAX_LOG_STREAMS,
                all_streams: std::sync::Arc::new(tokio::sync::Semaphore::new(
                    crate::cli::DEFAULT_MAX_LOG_STREAMS_TOTAL,
                )),
            },
            output: Output::Json,
            color: false,
            quiet: false,
            rerun: Rerun { verb: "diagnose", args: vec!["--env".into(), "prod".into()], region: None },
        }
    }

    /// A region whose pods could not be listed for `problem`.
    fn unchecked(name: &str, problem: &Problem) -> RegionReport {
        let mut r = healthy(name);
        r.pods = Some(crate::evidence::region::failed_pods(3, problem.clone()));
        r.logs = None;
        r.verdict = crate::judge::region_verdict(&r);
        r
    }

    fn everywhere(p: &Plan, problem: &Problem) -> Report {
        let regions = ["us-south", "us-east", "eu-de"].map(|n| unchecked(n, problem)).to_vec();
        report(p, Status::Pass, regions)
    }

    #[test]
    fn a_kubeconfig_that_is_not_yaml_is_one_finding_and_one_step_to_fix_the_file() {
        let mut p = plan();
        p.kubeconfig = Some("bad-kc".into());
        p.rerun.args.extend(["--kubeconfig".into(), "bad-kc".into()]);
        let problem = Problem::new(
            ProblemKind::Kubeconfig,
            "kubeconfig bad-kc is not valid YAML (line 1, column 10: unclosed bracket)",
        )
        .in_file(std::path::Path::new("bad-kc"));
        let r = everywhere(&p, &problem);
        let not_checked: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == FindingKind::NotChecked).collect();
        assert_eq!(not_checked.len(), 1, "{:?}", r.findings);
        assert_eq!(not_checked[0].region, None);
        assert_eq!(not_checked[0].regions, ["us-south", "us-east", "eu-de"]);
        let access: Vec<&NextStep> = r.next_steps.iter().filter(|s| s.text.contains("re-run")).collect();
        assert_eq!(access.len(), 1, "{:?}", r.next_steps);
        assert_eq!(access[0].region, None);
        assert!(access[0].text.contains("fix or replace the kubeconfig bad-kc"), "{:?}", access[0]);
        assert!(!access[0].text.contains("credentials"), "{:?}", access[0]);
        assert_eq!(access[0].command.as_deref(), Some("keysvc-check diagnose --env prod --kubeconfig FILE"));
    }

    #[test]
    fn a_rerun_after_a_missing_kubeconfig_or_context_does_not_repeat_the_flag() {
        let mut p = plan();
        p.rerun.args.extend(["--kubeconfig".into(), "/tmp/nope.yaml".into()]);
        let missing = Problem::new(
            ProblemKind::Kubeconfig,
            "kubeconfig /tmp/nope.yaml does not exist; pass --kubeconfig FILE or set KUBECONFIG",
        );
        let r = everywhere(&p, &missing);
        let cmds: Vec<&str> = r.next_steps.iter().filter_map(|s| s.command.as_deref()).collect();
        assert_eq!(cmds, ["keysvc-check diagnose --env prod --kubeconfig FILE"], "{:?}", r.next_steps);

        let mut p = plan();
        p.rerun.args.extend(["--context".into(), "us-east=nope".into()]);
        let gone = Problem::new(ProblemKind::ContextMissing, "context `nope` is not in the kubeconfig");
        let r = report(&p, Status::Pass, vec![healthy("us-south"), unchecked("us-east", &gone), healthy("eu-de")]);
        let step = r.next_steps.iter().find(|s| s.text.contains("re-run")).unwrap();
        assert_eq!(
            step.command.as_deref(),
            Some("keysvc-check diagnose --env prod --context us-east=CONTEXT --region us-east")
        );
    }

    #[test]
    fn throttled_everywhere_suggests_one_rerun_with_a_longer_timeout() {
        let mut p = plan();
        p.timeout = Duration::from_secs(3);
        p.rerun.args.extend(["--timeout".into(), "3s".into()]);
        let throttled = Problem::new(ProblemKind::Throttled, "throttled: the API server answered 503");
        let r = everywhere(&p, &throttled);
        let access: Vec<&NextStep> = r.next_steps.iter().filter(|s| s.text.contains("re-run")).collect();
        assert_eq!(access.len(), 1, "{:?}", r.next_steps);
        assert!(access[0].text.contains("a longer --timeout (1m)"), "{:?}", access[0]);
        assert_eq!(access[0].command.as_deref(), Some("keysvc-check diagnose --env prod --timeout 1m"));
        p.timeout = Duration::from_secs(90);
        assert!(everywhere(&p, &throttled).next_steps.iter().any(|s| s.text.contains("(3m)")));
    }

    #[test]
    fn a_bad_request_names_the_runbooks_selector_and_namespace_not_the_network() {
        let p = plan();
        let bad = Problem::new(ProblemKind::BadRequest, "found 'key', expected: ',' or 'end of string'");
        let r = report(&p, Status::Pass, vec![healthy("us-south"), unchecked("us-east", &bad), healthy("eu-de")]);
        let step = r.next_steps.iter().find(|s| s.text.contains("re-run")).unwrap();
        assert!(step.text.contains("selector `app=api-key-service` and namespace `api` in rb.yaml"), "{step:?}");
        assert!(!step.text.contains("reachable"), "{step:?}");
    }

    fn pod(name: &str, ready: bool) -> PodInfo {
        PodInfo {
            name: name.into(),
            ready: if ready { "1/1" } else { "0/1" }.into(),
            is_ready: ready,
            status: "Running".into(),
            restarts: 0,
            last_restart_secs_ago: None,
            last_terminated: None,
            age_secs: Some(7200),
            node: Some("node-1".into()),
            terminating: false,
            crash_looping: false,
            pending: false,
            not_ready_secs_ago: None,
            why: None,
        }
    }

    fn crash_looping(name: &str) -> PodInfo {
        PodInfo {
            status: "CrashLoopBackOff".into(),
            restarts: 7,
            last_restart_secs_ago: Some(240),
            last_terminated: Some(Terminated { reason: "Error".into(), exit_code: 1, finished_secs_ago: Some(240) }),
            crash_looping: true,
            ..pod(name, false)
        }
    }

    /// A region's logs with these window errors (none in the baseline: each
    /// is new when the step warns).
    fn logs(status: Status, errors: &[(&str, u64)]) -> LogsStep {
        let top: Vec<ErrorGroup> = errors
            .iter()
            .map(|(e, n)| ErrorGroup {
                pattern: crate::evidence::logs::normalize(e),
                count: *n,
                example: e.to_string(),
                first_seen: None,
                last_seen: None,
            })
            .collect();
        let total = errors.iter().map(|(_, n)| n).sum();
        let warns = status == Status::Warn;
        LogsStep {
            status,
            window_secs: 300,
            min_errors: 5,
            spike_factor: 3.0,
            baseline_secs: 3600,
            error_lines: total,
            window_rate_per_min: total as f64 / 5.0,
            baseline_rate_per_min: Some(0.0),
            judgement: Some(match (total, warns) {
                (0, _) => Judgement::Quiet,
                (_, true) => Judgement::NewError,
                (_, false) => Judgement::Steady,
            }),
            signatures: top
                .iter()
                .map(|g| ErrorSignature {
                    pattern: g.pattern.clone(),
                    example: g.example.clone(),
                    window_count: g.count,
                    baseline_count: 0,
                    baseline_rate_per_min: 0.0,
                    new: warns,
                    first_seen: None,
                    last_seen: None,
                })
                .collect(),
            pods: vec![PodLogs {
                pod: "p-0".into(),
                previous: false,
                lines: 100,
                error_lines: total,
                format: None,
                top_errors: top,
                partial: false,
                error: None,
                baseline: Some(PodBaseline {
                    lines: 1200,
                    error_lines: 0,
                    span_secs: 3600,
                    cut: false,
                    partial: false,
                    error: None,
                }),
            }],
            ..LogsStep::default()
        }
    }

    #[test]
    fn steady_noise_is_info_with_its_usual_rate_and_no_steps() {
        let p = plan();
        let mut south = healthy("us-south");
        let l = south.logs.as_mut().unwrap();
        l.error_lines = 8;
        l.judgement = Some(Judgement::Steady);
        l.baseline_rate_per_min = Some(7.6 / 5.0);
        let r = report(&p, Status::Pass, vec![south, healthy("us-east"), healthy("eu-de")]);
        assert_eq!(r.service.verdict, Verdict::Healthy);
        assert_eq!(kinds(&r), [FindingKind::SteadyErrors]);
        assert_eq!(r.findings[0].severity, Severity::Info);
        assert_eq!(r.findings[0].text, "8 error lines in 5m; usual for this service: 7.6 per 5m over the last 1h");
        assert!(r.next_steps[0].text.starts_with("Every check passed"), "{:?}", r.next_steps);
    }

    #[test]
    fn a_spike_from_no_errors_says_there_were_none_before() {
        let p = plan();
        let spike = |baseline_per_min: f64| {
            let mut south = region("us-south", vec![pod("a", true)], logs(Status::Warn, &[("ERROR boom 1", 10)]));
            let l = south.logs.as_mut().unwrap();
            l.judgement = Some(Judgement::Spike);
            l.signatures[0].new = false;
            l.baseline_rate_per_min = Some(baseline_per_min);
            let r = report(&p, Status::Pass, vec![south, healthy("us-east"), healthy("eu-de")]);
            let f = r.findings.iter().find(|f| f.kind == FindingKind::ErrorSpike);
            f.unwrap_or_else(|| panic!("{:#?}", r.findings)).text.clone()
        };
        assert_eq!(spike(0.0), "10 error lines in 5m, none in the 1h before");
        assert_eq!(
            spike(0.2),
            "10 error lines in 5m, 10× the usual rate; usual for this service: 1.0 per 5m over the last 1h"
        );
    }

    #[test]
    fn no_pods_for_a_user_who_cannot_read_the_deployment_gets_a_command_they_can_run() {
        let p = plan();
        let forbidden = Problem::new(ProblemKind::Forbidden, "403 Forbidden: missing permission");
        let mut east = region("us-east", vec![], logs(Status::Pass, &[]));
        east.rollout = Some(crate::report::RolloutFacts {
            status: Status::Error,
            error: Some(forbidden),
            ..crate::evidence::rollout::empty()
        });
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        let step = r.next_steps.iter().find(|s| s.text.starts_with("No pods match")).expect("a no-pods step");
        assert_eq!(step.region.as_deref(), Some("us-east"));
        assert!(step.text.contains("needs get and list on deployments"), "{step:?}");
        let command = step.command.as_deref().expect("a command this user can run");
        assert!(command.ends_with("-n api get pods --show-labels"), "{command}");
    }

    #[test]
    fn no_pods_always_gets_the_labels_step_and_says_when_no_deployment_matches_either() {
        let p = plan();
        let mut east = region("us-east", vec![], logs(Status::Pass, &[]));
        east.rollout = Some(RolloutFacts {
            note: Some("no pods, and no ReplicaSet of a Deployment matches the selector".into()),
            ..crate::evidence::rollout::empty()
        });
        east.events = Some(EventsStep {
            status: Status::Pass,
            window_secs: 300,
            groups: vec![],
            truncated: false,
            error: None,
            duration_ms: 1,
        });
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        let steps: Vec<&NextStep> = r.next_steps.iter().filter(|s| s.region.as_deref() == Some("us-east")).collect();
        assert_eq!(steps.len(), 1, "only what shows something: {steps:?}");
        assert_eq!(
            steps[0].text,
            "No pods match app=api-key-service, and no Deployment or ReplicaSet does either: list every pod in the namespace with its labels"
        );
        assert!(steps[0].command.as_deref().unwrap().ends_with("-n api get pods --show-labels"), "{steps:?}");
    }

    #[test]
    fn a_deployment_scaled_to_zero_is_named_with_who_and_when_and_the_steps_that_show_and_undo_it() {
        let p = plan();
        let mut east = region("us-east", vec![], logs(Status::Pass, &[]));
        east.rollout = Some(RolloutFacts {
            deployment: Some("api-key-service".into()),
            revision: Some(1),
            replica_set: Some("api-key-service-1".into()),
            rolled_out_secs_ago: Some(14),
            replicas: Some(0),
            replicas_set: Some(crate::report::FieldChange { by: "kubectl-scale".into(), secs_ago: Some(90) }),
            ..crate::evidence::rollout::empty()
        });
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        let f = r.findings.iter().find(|f| f.kind == FindingKind::ScaledDown).expect("a scaled_down finding");
        assert_eq!(f.severity, Severity::Fail);
        assert_eq!(
            f.text,
            "the Deployment api-key-service is scaled to 0 replicas (spec.replicas, last written by kubectl-scale 90s ago); expected_ready is 3"
        );
        let rollout = r.findings.iter().find(|f| f.kind == FindingKind::Rollout).unwrap();
        assert_eq!(rollout.severity, Severity::Info, "the rollout is not the suspect");
        let cmds: Vec<&str> = r.next_steps.iter().filter_map(|s| s.command.as_deref()).collect();
        assert!(cmds.iter().any(|c| c.ends_with("-n api describe deployment/api-key-service")), "{cmds:?}");
        assert!(cmds.iter().any(|c| c.ends_with("-n api scale deployment/api-key-service --replicas=3")), "{cmds:?}");
        assert!(!cmds.iter().any(|c| c.contains("--show-labels") || c.contains("get deploy,rs")), "{cmds:?}");
    }

    #[test]
    fn a_warning_event_in_a_healthy_region_gets_the_step_that_shows_it() {
        let p = plan();
        let mut de = healthy("eu-de");
        de.events = Some(EventsStep {
            status: Status::Pass,
            window_secs: 300,
            groups: vec![EventGroup {
                reason: "FailedMount".into(),
                kind: EventKind::MountFailed,
                count: 3,
                objects: vec!["pod/a".into()],
                objects_total: 1,
                message:
                    "MountVolume.SetUp failed for volume \"keys\" : secret \"api-key-service-signing-keys\" not found"
                        .into(),
                first_seen_secs_ago: Some(200),
                last_seen_secs_ago: Some(20),
            }],
            truncated: false,
            error: None,
            duration_ms: 1,
        });
        let r = report(&p, Status::Pass, vec![healthy("us-south"), healthy("us-east"), de]);
        assert_eq!(r.regions[2].verdict, Verdict::Healthy);
        let step = r.next_steps.iter().find(|s| s.region.as_deref() == Some("eu-de")).expect("a step for eu-de");
        assert_eq!(step.text, "see the FailedMount events of pod/a (volume cannot be mounted) in its Events section");
        assert!(step.command.as_deref().unwrap().ends_with("-n api describe pod/a"), "{step:?}");
    }

    #[test]
    fn a_running_pod_not_ready_says_for_how_long_and_logs_does_not_suggest_reading_the_logs_again() {
        let mut p = plan();
        let east = |since: u64| {
            let mut b = pod("b", false);
            b.not_ready_secs_ago = Some(since);
            region("us-east", vec![pod("a", true), b, pod("c", true)], logs(Status::Pass, &[]))
        };
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east(90), healthy("eu-de")]);
        assert_eq!(r.regions[1].verdict, Verdict::Degraded);
        let f = r.findings.iter().find(|f| f.pod.as_deref() == Some("b")).unwrap();
        assert_eq!((f.severity, f.text.as_str()), (Severity::Warn, "b Running, not ready for 90s"));
        assert!(r.next_steps.iter().any(|s| s.text == "read the logs of every pod"), "{:?}", r.next_steps);
        p.rerun.verb = "logs";
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east(90), healthy("eu-de")]);
        assert!(!r.next_steps.iter().any(|s| s.text == "read the logs of every pod"), "{:?}", r.next_steps);
        assert!(r.next_steps.iter().any(|s| s.text.starts_with("why b is Running, not ready")), "{:?}", r.next_steps);
        // Under the runbook's not_ready_grace (30s) the pods step passed: information.
        p.rerun.verb = "diagnose";
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east(20), healthy("eu-de")]);
        assert_eq!(r.regions[1].verdict, Verdict::Healthy);
        let texts: Vec<(Severity, &str)> = r
            .findings
            .iter()
            .filter(|f| f.region.as_deref() == Some("us-east"))
            .map(|f| (f.severity, f.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                (Severity::Info, "2/3 pods ready"),
                (
                    Severity::Info,
                    "b Running, not ready for 20s (less than not_ready_grace, 30s, the others ready: a readiness probe flapping?)"
                )
            ]
        );
    }

    #[test]
    fn optional_evidence_not_read_for_another_reason_than_permission_says_why() {
        let p = plan();
        let mut east = healthy("us-east");
        east.events = Some(crate::report::EventsStep {
            status: Status::Error,
            window_secs: 300,
            groups: vec![],
            truncated: false,
            error: Some(Problem::new(ProblemKind::Throttled, "throttled: the API server answered 429 …")),
            duration_ms: 1,
        });
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        assert_eq!(r.service.verdict, Verdict::Healthy, "optional evidence changes no verdict");
        let f = r.findings.iter().find(|f| f.kind == FindingKind::NotChecked).expect("a finding says so");
        assert_eq!((f.region.as_deref(), f.severity), (Some("us-east"), Severity::Info));
        assert!(f.text.starts_with("Warning events not read (optional") && f.text.contains("throttled"), "{f:?}");
    }

    #[test]
    fn retries_are_a_finding_and_a_throttled_step_says_what_to_do() {
        let p = plan();
        let mut east = healthy("us-east");
        for status in [503, 429, 429] {
            east.count_retry(status);
        }
        assert_eq!((east.retries, east.retried_statuses.clone()), (3, vec![429, 503]));
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        assert_eq!(r.service.verdict, Verdict::Healthy, "retries that got through change no verdict");
        assert_eq!(kinds(&r), [FindingKind::ApiPushback]);
        let f = &r.findings[0];
        assert_eq!((f.region.as_deref(), f.severity, f.count), (Some("us-east"), Severity::Warn, Some(3)));
        assert_eq!(f.text, "API server pushed back: 3 retries (429, 503); its control plane is under load");

        let mut east = healthy("us-east");
        east.count_retry(429);
        let throttled = Problem::new(
            ProblemKind::Throttled,
            "throttled: the API server answered 429 Too Many Requests to list pods, still after 1 retry; no time was left to try again before the deadline (--timeout)",
        );
        east.pods = Some(crate::evidence::region::failed_pods(3, throttled));
        east.verdict = crate::judge::region_verdict(&east);
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        assert_eq!(r.regions[1].verdict, Verdict::Unknown);
        assert!(kinds(&r).contains(&FindingKind::ApiPushback) && kinds(&r).contains(&FindingKind::NotChecked));
        let step = r.next_steps.iter().find(|s| s.region.as_deref() == Some("us-east")).unwrap();
        assert!(step.text.contains("its API server is shedding load"), "{step:?}");
        assert!(step.command.as_deref().unwrap().contains("--region us-east"), "{step:?}");
    }

    fn region(name: &str, pods: Vec<PodInfo>, logs: LogsStep) -> RegionReport {
        let mut r = RegionReport {
            name: name.into(),
            context: format!("ctx-{name}"),
            verdict: Verdict::Healthy,
            healthz: None,
            pods: Some(crate::evidence::pods::step(
                pods,
                3,
                Duration::from_secs(300),
                Duration::from_secs(30),
                None,
                1,
            )),
            logs: Some(logs),
            events: None,
            rollout: None,
            retries: 0,
            retried_statuses: vec![],
            duration_ms: 1,
        };
        r.verdict = crate::judge::region_verdict(&r);
        r
    }

    fn healthy(name: &str) -> RegionReport {
        region(name, vec![pod("a", true), pod("b", true), pod("c", true)], logs(Status::Pass, &[]))
    }

    fn report(plan: &Plan, healthz: Status, regions: Vec<RegionReport>) -> Report {
        let mut r = Report {
            generated_at: "2026-01-01T12:00:00Z".into(),
            schema: crate::report::SCHEMA,
            tool_version: "test",
            runbook: "rb.yaml".into(),
            service_name: "Key Service API".into(),
            environment: "prod".into(),
            steps: vec!["healthz", "pods", "logs"],
            service: ServiceVerdict { verdict: Verdict::Unknown, summary: String::new(), impact: None },
            healthz: Some(HealthzCheck { status: healthz, ..crate::evidence::healthz::blank(&plan.healthz_url) }),
            peers: vec![],
            regions,
            findings: vec![],
            next_steps: vec![],
            partial: false,
            duration_ms: 1,
        };
        crate::judge::judge(plan, &mut r);
        advise(plan, &mut r);
        crate::render::json::check_schema(&r);
        r
    }

    fn kinds(r: &Report) -> Vec<FindingKind> {
        r.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn a_healthy_service_has_no_findings_and_one_closing_step() {
        let p = plan();
        let r = report(&p, Status::Pass, vec![healthy("us-south"), healthy("us-east"), healthy("eu-de")]);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.next_steps.len(), 1);
        assert!(r.next_steps[0].text.starts_with("Every check passed"));
    }

    #[test]
    fn commands_carry_the_kubeconfig_and_context_and_are_quoted_once() {
        let p = plan();
        let east = region("us-east", vec![pod("a", true), pod("b", true), crash_looping("c")], logs(Status::Pass, &[]));
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        let first = r.next_steps[0].command.as_deref().unwrap();
        assert_eq!(
            first,
            "kubectl --kubeconfig '/home/me/.kube/prod config' --context ctx-us-east -n api logs -l app=api-key-service -c api-key-service --since=5m --tail=-1 --prefix --ignore-errors"
        );
        let all: Vec<&str> = r.next_steps.iter().filter_map(|s| s.command.as_deref()).collect();
        assert!(all.iter().any(|c| c.ends_with("logs c -c api-key-service --previous")), "{all:?}");
        assert!(all.iter().any(|c| c.ends_with("describe pod c")), "{all:?}");
        assert_eq!(kinds(&r), [FindingKind::CrashLoop, FindingKind::NotReady]);
        assert_eq!(r.findings[0].region.as_deref(), Some("us-east"));
        assert_eq!(r.findings[0].pod.as_deref(), Some("c"));
    }

    #[test]
    fn the_most_severe_findings_come_first_and_a_failing_healthz_always_gets_its_steps() {
        let p = plan();
        let east = region("us-east", vec![pod("a", true), pod("b", true), crash_looping("c")], logs(Status::Pass, &[]));
        let mut south = healthy("us-south");
        let l = south.logs.as_mut().unwrap();
        (l.error_lines, l.judgement, l.baseline_rate_per_min) = (2, Some(Judgement::Steady), Some(0.5));
        let r = report(&p, Status::Fail, vec![south, east, healthy("eu-de")]);
        let severities: Vec<Severity> = r.findings.iter().map(|f| f.severity).collect();
        let mut sorted = severities.clone();
        sorted.sort_by_key(|s| std::cmp::Reverse(*s));
        assert_eq!(severities, sorted, "{:?}", r.findings);
        assert_eq!(r.findings.last().unwrap().kind, FindingKind::SteadyErrors);
        // A region in trouble does not explain a refused healthz: its steps stay.
        let texts: Vec<&str> = r.next_steps.iter().map(|s| s.text.as_str()).collect();
        assert!(texts.iter().any(|t| t.starts_with("Healthz fails: check whether other APIs fail")), "{texts:?}");
        let curl = r.next_steps.iter().find_map(|s| s.command.as_deref().filter(|c| c.starts_with("curl"))).unwrap();
        assert_eq!(curl, "curl -sS -i --max-time 10 https://keys.corp/healthz");
    }

    #[test]
    fn pods_failing_alike_get_one_describe_and_one_previous_log_read() {
        let p = plan();
        let all = vec![crash_looping("a"), crash_looping("b"), crash_looping("c")];
        let r = report(
            &p,
            Status::Pass,
            vec![healthy("us-south"), region("us-east", all, logs(Status::Pass, &[])), healthy("eu-de")],
        );
        let cmds: Vec<&str> = r.next_steps.iter().filter_map(|s| s.command.as_deref()).collect();
        assert_eq!(cmds.iter().filter(|c| c.contains(" describe pod ")).count(), 1, "{cmds:?}");
        assert_eq!(cmds.iter().filter(|c| c.ends_with(" --previous")).count(), 1, "{cmds:?}");
        assert!(r.next_steps.iter().any(|s| s.text.ends_with("(2 more crashed alike)")), "{:?}", r.next_steps);
        let crash: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == FindingKind::CrashLoop).collect();
        assert_eq!(crash.len(), 1, "{:?}", r.findings);
        assert_eq!(
            crash[0].text,
            "3 pods CrashLoopBackOff: a, b, c (a: 7 restarts, last terminated Error (exit 1) 4m ago)"
        );
    }

    #[test]
    fn forbidden_logs_name_the_permission_instead_of_a_command_that_would_fail() {
        let p = plan();
        let mut l = logs(Status::Error, &[]);
        l.error = Some(Problem::new(ProblemKind::Forbidden, "403 Forbidden: missing permission to get pods/log"));
        let east = region("us-east", vec![pod("a", true), pod("b", true), crash_looping("c")], l);
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        assert!(kinds(&r).contains(&FindingKind::Permission), "{:?}", r.findings);
        let cmds: Vec<&str> = r.next_steps.iter().filter_map(|s| s.command.as_deref()).collect();
        assert!(!cmds.iter().any(|c| c.contains(" logs ")), "{cmds:?}");
        assert!(
            r.next_steps.iter().any(|s| s.text.contains("needs get on pods/log in namespace api")),
            "{:?}",
            r.next_steps
        );
        // The re-run keeps the user's flags and names the region.
        assert!(cmds.contains(&"keysvc-check diagnose --env prod --region us-east"), "{cmds:?}");
    }

    #[test]
    fn one_error_in_several_regions_is_one_shared_finding_and_the_first_step() {
        let p = plan();
        let db = "ERROR failed to load signing keys: dial tcp db-7.internal:5432: connect: connection refused";
        let south =
            region("us-south", vec![pod("a", true), pod("b", true), pod("c", true)], logs(Status::Warn, &[(db, 40)]));
        let east = region(
            "us-east",
            vec![pod("a", true), pod("b", true), pod("c", true)],
            logs(Status::Warn, &[(db, 30), ("ERROR other", 9)]),
        );
        let de = region("eu-de", vec![pod("a", true), pod("b", true), pod("c", true)], logs(Status::Warn, &[(db, 35)]));
        let r = report(&p, Status::Pass, vec![south, east, de]);
        let shared: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == FindingKind::SharedError).collect();
        assert_eq!(shared.len(), 1, "{:?}", r.findings);
        assert_eq!(shared[0].region, None);
        assert_eq!(shared[0].regions, ["us-south", "us-east", "eu-de"]);
        assert_eq!(shared[0].count, Some(105), "the count is the sum over the regions");
        assert!(shared[0].text.contains("3/3 regions"), "{}", shared[0].text);
        assert!(r.next_steps[0].text.contains("something they share"), "{:?}", r.next_steps[0]);
        // The regions do not repeat it as their most frequent error.
        let repeats = r.findings.iter().filter(|f| f.region.is_some() && f.text.contains("signing keys")).count();
        assert_eq!(repeats, 0, "{:?}", r.findings);
        assert!(r.findings.iter().any(|f| f.region.as_deref() == Some("us-east") && f.text.contains("ERROR other")));
    }

    #[test]
    fn other_apis_failing_puts_the_platform_first() {
        let mut p = plan();
        p.peers = vec![PeerPlan { name: "iam".into(), url: "https://iam/healthz".into() }];
        let east = region("us-east", vec![pod("a", true), pod("b", true), crash_looping("c")], logs(Status::Pass, &[]));
        let mut r = report(&p, Status::Fail, vec![healthy("us-south"), east, healthy("eu-de")]);
        r.peers = vec![PeerCheck {
            name: "iam".into(),
            url: "https://iam/healthz".into(),
            up: false,
            http_status: Some(503),
            latency_ms: Some(3),
            error: None,
        }];
        advise(&p, &mut r);
        assert_eq!(kinds(&r)[..2], [FindingKind::HealthzFailed, FindingKind::PlatformOutage], "{:?}", r.findings);
        assert_eq!(
            r.next_steps[0].text,
            "Contact Technical Foundation (https://runbooks.corp/tf) first: other APIs fail the same way"
        );
    }

    #[test]
    fn placeholders_come_first_and_are_never_an_outage_finding() {
        let mut p = plan();
        p.placeholders = vec![Placeholder {
            region: None,
            key: "environments.prod.healthz_url".into(),
            value: "https://x.example.com".into(),
        }];
        let mut r = report(&p, Status::Pass, vec![healthy("us-south"), healthy("us-east"), healthy("eu-de")]);
        r.healthz = Some(HealthzCheck {
            status: Status::Error,
            error: Some(Problem::new(ProblemKind::Placeholder, "not checked")),
            ..crate::evidence::healthz::blank(&p.healthz_url)
        });
        crate::judge::judge(&p, &mut r);
        advise(&p, &mut r);
        assert_eq!(kinds(&r), [FindingKind::Placeholder]);
        assert!(r.next_steps[0].text.starts_with("Set your real values for environments.prod.healthz_url in rb.yaml"));
        assert_eq!(r.service.verdict, Verdict::Unknown);
    }

    #[test]
    fn the_advice_for_a_mixed_incident_reads_as_expected() {
        let p = plan();
        let mut oom = crash_looping("api-key-service-7d9c-x2x");
        oom.last_terminated =
            Some(Terminated { reason: "OOMKilled".into(), exit_code: 137, finished_secs_ago: Some(60) });
        let east = region(
            "us-east",
            vec![pod("api-key-service-7d9c-a1a", true), oom],
            logs(Status::Warn, &[("ERROR java.lang.OutOfMemoryError: Java heap space", 12)]),
        );
        let mut east = east;
        east.events = Some(EventsStep {
            status: Status::Pass,
            window_secs: 300,
            groups: vec![EventGroup {
                reason: "BackOff".into(),
                kind: EventKind::BackOff,
                count: 9,
                objects: vec!["pod/api-key-service-7d9c-x2x".into()],
                objects_total: 1,
                message: "Back-off restarting failed container api-key-service".into(),
                first_seen_secs_ago: Some(280),
                last_seen_secs_ago: Some(20),
            }],
            truncated: false,
            error: None,
            duration_ms: 1,
        });
        let revision = |n: u64, v: &str| RevisionFacts {
            revision: n,
            replica_set: format!("api-key-service-{n}"),
            images: vec![format!("keysvc/api-key-service:{v}")],
        };
        let rolled = |n: u64, v: &str, ago: u64| RolloutFacts {
            status: Status::Pass,
            deployment: Some("api-key-service".into()),
            revision: Some(n),
            replica_set: Some(format!("api-key-service-{n}")),
            images: vec![format!("keysvc/api-key-service:{v}")],
            rolled_out_secs_ago: Some(ago),
            previous: (n > 1).then(|| revision(n - 1, "1.4.2")),
            replicas: Some(3),
            replicas_set: None,
            note: None,
            error: None,
            duration_ms: 1,
        };
        east.rollout = Some(rolled(2, "1.4.3", 420));
        let mut south = healthy("us-south");
        south.rollout = Some(rolled(1, "1.4.2", 90_000));
        let mut de = healthy("eu-de");
        de.rollout = Some(rolled(1, "1.4.2", 90_000));
        de.pods = Some(PodsStep {
            total: 0,
            ready: 0,
            pods: vec![],
            note: Some("no pods match app=api-key-service in namespace api".into()),
            status: Status::Fail,
            ..de.pods.unwrap()
        });
        de.verdict = crate::judge::region_verdict(&de);
        let r = report(&p, Status::Pass, vec![south, east, de]);
        let kinds = kinds(&r);
        for k in [FindingKind::Rollout, FindingKind::VersionDrift, FindingKind::BackOff, FindingKind::OomKilled] {
            assert!(kinds.contains(&k), "{k:?} missing: {kinds:?}");
        }
        // eu-de is down: its steps first. Then us-east's: what changed (both
        // revisions' templates) and the rollback before its own steps, ready
        // to paste.
        let east: Vec<&NextStep> = r.next_steps.iter().filter(|s| s.region.as_deref() == Some("us-east")).collect();
        assert_eq!(r.next_steps[0].region.as_deref(), Some("eu-de"), "{:?}", r.next_steps);
        let history = "kubectl --kubeconfig '/home/me/.kube/prod config' --context ctx-us-east -n api rollout history deployment/api-key-service";
        assert_eq!(east[0].command, Some(format!("{history} --revision=1")));
        assert_eq!(east[1].command, Some(format!("{history} --revision=2")));
        assert_eq!(
            east[2].command.as_deref(),
            Some(
                "kubectl --kubeconfig '/home/me/.kube/prod config' --context ctx-us-east -n api rollout undo deployment/api-key-service --to-revision=1"
            )
        );
        insta::assert_json_snapshot!("mixed_incident_advice", (&r.findings, &r.next_steps));
    }

    /// A region with no pod at all (down).
    fn no_pods(name: &str) -> RegionReport {
        region(name, vec![], logs(Status::Pass, &[]))
    }

    /// A region whose three pods all crash-loop (down).
    fn all_crashing(name: &str) -> RegionReport {
        region(name, vec![crash_looping("a"), crash_looping("b"), crash_looping("c")], logs(Status::Pass, &[]))
    }

    /// A healthz check of `url` that got this status, with what it takes to get it.
    fn healthz_check(url: &str, status: Status) -> HealthzCheck {
        let mut h = HealthzCheck { status, http_status: Some(200), ..crate::evidence::healthz::blank(url) };
        if status == Status::Fail {
            h.http_status = Some(503);
            h.problems = vec!["HTTP status 503, expected 200".into()];
        }
        h
    }

    /// The report again after its facts were changed.
    fn rejudge(p: &Plan, r: &mut Report) {
        for reg in &mut r.regions {
            reg.verdict = crate::judge::region_verdict(reg);
        }
        crate::judge::judge(p, r);
        advise(p, r);
        crate::render::json::check_schema(r);
    }

    #[test]
    fn a_regions_own_healthz_failing_while_its_pods_are_ready_is_that_regions_route_not_the_services() {
        let p = plan();
        let mut r = report(&p, Status::Pass, vec![healthy("us-south"), healthy("us-east"), healthy("eu-de")]);
        r.regions[1].healthz = Some(healthz_check("https://us-east.keys.corp/healthz", Status::Fail));
        rejudge(&p, &mut r);
        assert_eq!((r.service.verdict, r.regions[1].verdict), (Verdict::Degraded, Verdict::Down));
        let unreachable: Vec<&Finding> =
            r.findings.iter().filter(|f| f.kind == FindingKind::ServiceUnreachable).collect();
        assert_eq!(unreachable.len(), 1, "{:?}", r.findings);
        assert_eq!(unreachable[0].region.as_deref(), Some("us-east"));
        assert_eq!(
            unreachable[0].text,
            "the pods are ready, but the regional healthz fails: the region's route, ingress or network path is failing"
        );
        // Its steps are the region's: what answers on its URL, and whom to ask.
        assert_eq!(r.next_steps[0].region.as_deref(), Some("us-east"), "{:?}", r.next_steps);
        assert_eq!(
            r.next_steps[0].command.as_deref(),
            Some("curl -sS -i --max-time 10 https://us-east.keys.corp/healthz")
        );
        assert!(
            r.next_steps[1].text.contains("if the region's ingress, load balancer or network"),
            "{:?}",
            r.next_steps
        );
        assert!(!r.next_steps.iter().any(|s| s.text.contains("other APIs")), "{:?}", r.next_steps);
        assert!(
            r.next_steps.iter().all(|s| s.region.is_some() || s.text.starts_with("Dashboard")),
            "{:?}",
            r.next_steps
        );
    }

    #[test]
    fn healthz_answering_while_no_pod_is_ready_anywhere_is_something_else_answering() {
        let p = plan();
        let down = || vec![all_crashing("us-south"), all_crashing("us-east"), no_pods("eu-de")];
        let r = report(&p, Status::Pass, down());
        assert_eq!(r.service.verdict, Verdict::Down);
        let f = r.findings.iter().find(|f| f.kind == FindingKind::HealthzWithoutPods).expect("a finding says so");
        assert_eq!((f.region.as_deref(), f.severity), (None, Severity::Warn));
        assert!(f.text.contains("no pod of the service is ready in any region"), "{}", f.text);
        let curl = r.next_steps.iter().position(|s| s.command.as_deref().is_some_and(|c| c.starts_with("curl")));
        let last_region = r.next_steps.iter().rposition(|s| s.region.is_some());
        assert!(curl > last_region, "after the regions' own steps: {:?}", r.next_steps);
        // One region with a ready pod could be serving it; one region asked
        // for alone says nothing of the others.
        let mut some = down();
        some[0] = healthy("us-south");
        assert!(!kinds(&report(&p, Status::Pass, some)).contains(&FindingKind::HealthzWithoutPods));
        let mut alone = plan();
        alone.all_regions = false;
        let r = report(&alone, Status::Pass, vec![all_crashing("us-east")]);
        assert!(!kinds(&r).contains(&FindingKind::HealthzWithoutPods), "{:?}", r.findings);
    }

    #[test]
    fn a_failing_healthz_while_nothing_runs_anywhere_gets_the_regions_steps_not_the_routes() {
        let p = plan();
        let r =
            report(&p, Status::Fail, vec![all_crashing("us-south"), all_crashing("us-east"), all_crashing("eu-de")]);
        assert_eq!(r.service.verdict, Verdict::Down);
        let texts: Vec<&str> = r.next_steps.iter().map(|s| s.text.as_str()).collect();
        assert!(
            !texts.iter().any(|t| t.contains("other APIs") || t.contains("answers on the healthz URL")),
            "{texts:?}"
        );
        assert_eq!(r.next_steps[0].region.as_deref(), Some("us-south"), "{:?}", r.next_steps);
        // With one region running, the route still matters.
        let r = report(&p, Status::Fail, vec![all_crashing("us-south"), healthy("us-east"), all_crashing("eu-de")]);
        assert!(r.next_steps.iter().any(|s| s.command.as_deref().is_some_and(|c| c.starts_with("curl"))));
    }

    #[test]
    fn a_rollback_in_a_region_still_serving_never_comes_before_a_region_that_is_down() {
        let p = plan();
        let mut east = region(
            "us-east",
            vec![pod("a", true), pod("b", true), pod("c", true)],
            logs(Status::Warn, &[("ERROR new", 30)]),
        );
        east.rollout = Some(RolloutFacts {
            status: Status::Pass,
            deployment: Some("api-key-service".into()),
            revision: Some(2),
            replica_set: Some("api-key-service-2".into()),
            images: vec!["keysvc/api-key-service:1.4.3".into()],
            rolled_out_secs_ago: Some(120),
            previous: Some(RevisionFacts {
                revision: 1,
                replica_set: "api-key-service-1".into(),
                images: vec!["keysvc/api-key-service:1.4.2".into()],
            }),
            replicas: Some(3),
            replicas_set: None,
            note: None,
            error: None,
            duration_ms: 1,
        });
        let r = report(&p, Status::Pass, vec![no_pods("us-south"), east, no_pods("eu-de")]);
        assert_eq!(r.regions[1].verdict, Verdict::Degraded);
        let regions: Vec<&str> = r.next_steps.iter().filter_map(|s| s.region.as_deref()).collect();
        let first_east = regions.iter().position(|n| *n == "us-east").expect("us-east has steps");
        assert!(regions[..first_east].contains(&"us-south") && regions[..first_east].contains(&"eu-de"), "{regions:?}");
        assert!(regions[first_east..].iter().all(|n| *n == "us-east"), "a region's steps stay together: {regions:?}");
        let east = &r.next_steps[first_east..];
        assert!(east[0].command.as_deref().unwrap().contains("rollout history"), "{east:?}");
        assert!(east[1].command.as_deref().unwrap().contains("rollout history"), "{east:?}");
        assert!(east[2].command.as_deref().unwrap().contains("rollout undo"), "{east:?}");
    }

    #[test]
    fn an_unrendered_template_in_the_healthz_reply_is_a_misconfigured_deployment_and_no_step_passed() {
        let mut p = plan();
        p.steps = Steps { healthz: true, pods: false, logs: false, evidence: false };
        let mut r = report(&p, Status::Pass, vec![]);
        r.healthz = Some(HealthzCheck {
            unrendered: vec!["href is {{site.data[site.target].url}}".into()],
            ..healthz_check(&p.healthz_url, Status::Warn)
        });
        rejudge(&p, &mut r);
        assert_eq!(r.service.verdict, Verdict::Degraded);
        assert_eq!(kinds(&r), [FindingKind::HealthzMisconfigured]);
        let text = &r.findings[0].text;
        assert!(
            text.contains("unrendered template (href is {{site.data[site.target].url}}): a misconfigured deployment"),
            "{text}"
        );
        assert!(!text.contains("alias"), "{text}");
        assert!(
            r.next_steps[0].text.starts_with("Check how the service's deployment was configured"),
            "{:?}",
            r.next_steps
        );
        // An alias answering is healthy, and is not said to have passed.
        r.healthz = Some(HealthzCheck {
            mismatches: vec!["href is http://localhost/healthz, expected https://keys.corp/healthz".into()],
            ..healthz_check(&p.healthz_url, Status::Warn)
        });
        rejudge(&p, &mut r);
        assert_eq!(r.service.verdict, Verdict::Healthy);
        assert!(r.next_steps.iter().all(|s| !s.text.contains("passed")), "{:?}", r.next_steps);
        assert!(r.next_steps[0].text.starts_with("Healthz answered as operational, with the mismatch above"));
    }
}
