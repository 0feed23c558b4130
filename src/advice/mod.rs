//! Advice: a finished report's facts and verdicts turned into typed findings
//! and prioritised next steps, following the runbook's logic. Pure: no
//! network, no clock; unit- and snapshot-tested from fixture reports.
//!
//! Every suggested command is built from words ([`command`]), marked where
//! it is built as reading or changing the cluster, and quoted once where it
//! is shown; it carries the user's kubeconfig and context, and is only
//! suggested when the run did not just see the user forbidden to run it (the
//! permission is named instead).
//!
//! One file per topic: [`healthz`], [`pods`], [`logs`], [`evidence`] (events,
//! rollout, selector), [`reach`] (nothing answered from here), [`steps`]
//! (the next steps and their order) and [`remedy`] (a problem → what to do
//! about it, shared with `doctor`).

pub mod command;
mod evidence;
mod healthz;
mod logs;
mod pods;
mod reach;
pub mod remedy;
mod steps;
mod telemetry;
mod words;

use crate::kube::pushback;
use crate::plan::{Fix, Plan};
use crate::report::{
    Finding, FindingKind, NextStep, Problem, ProblemKind, RegionReport, Report, Severity, Status, StepCommand, Verdict,
};
use crate::runbook::placeholder_url;

use command::Kubectl;
use steps::Priority;

/// What keeps a region from being fully checked, and the flag at fault.
#[derive(Debug, Clone, PartialEq)]
struct Access {
    region: String,
    fix: String,
    flag: Option<Fix>,
    /// The fix worded for every region (no one region's context in it):
    /// equal in every region, it is said once.
    everywhere: String,
    /// The run was interrupted: nothing to fix, only to re-run.
    interrupted: bool,
}

/// A step to take before a region's re-run: a command that shows what is wrong.
struct BeforeRerun {
    region: String,
    text: String,
    command: StepCommand,
}

#[derive(Default)]
struct Advice {
    findings: Vec<Finding>,
    steps: Vec<(Priority, NextStep)>,
    /// What keeps each region from being fully checked: one next step when
    /// it is the same everywhere.
    access: Vec<Access>,
    /// Listed right before the region's re-run.
    before_rerun: Vec<BeforeRerun>,
    /// No region's context is in the kubeconfig: said once for them all
    /// ([`remedy::contexts_missing_everywhere`]), not region by region.
    contexts_missing: bool,
}

impl Advice {
    fn find(&mut self, f: Finding) {
        self.findings.push(f);
    }

    fn step(&mut self, p: Priority, region: Option<&str>, text: impl Into<String>, command: Option<StepCommand>) {
        let step = NextStep { region: region.map(str::to_string), text: text.into(), command };
        if !self.steps.iter().any(|(_, s)| *s == step) {
            self.steps.push((p, step));
        }
    }
}

/// Fills in the report's findings and next steps.
pub fn advise(plan: &Plan, report: &mut Report) {
    let mut a = Advice::default();
    steps::placeholders(plan, &mut a);
    healthz::healthz(plan, report, &mut a);
    reach::nothing_reached(plan, report, &mut a);
    let shared = logs::shared_errors(report, &mut a);
    logs::outliers(report, &mut a);
    evidence::drift(report, &mut a);
    remedy::contexts_missing_everywhere(plan, report, &mut a);
    for r in &report.regions {
        region(plan, r, &shared, &mut a);
    }
    telemetry::telemetry(plan, report, &mut a);
    steps::mismatch_steps(plan, report, &mut a);
    steps::access(plan, report, &mut a);
    one_finding_for_every_region(report, &mut a);
    evidence::unread_evidence(plan, report, &mut a);
    steps::closing(plan, report, &mut a);

    // The most severe first; within a severity, service-level findings
    // first, then each region in the report's order.
    let order = |f: &Finding| {
        let region =
            f.region.as_ref().map_or(0, |name| 1 + report.regions.iter().position(|r| &r.name == name).unwrap_or(0));
        (std::cmp::Reverse(f.severity), region)
    };
    a.findings.sort_by_key(order);
    a.steps.sort_by_key(|(p, s)| steps::step_order(report, *p, s));
    report.findings = a.findings;
    report.next_steps = a.steps.into_iter().map(|(_, s)| s).collect();
}

/// One region: its pods, events, rollout and logs as findings; then, when
/// it is in trouble, the steps to look closer; then what kept it from being
/// fully checked.
fn region(plan: &Plan, r: &RegionReport, shared: &[String], a: &mut Advice) {
    let kubectl = Kubectl::region(plan, &r.context);
    let troubled = pods::findings(plan, r, a);
    if r.retries > 0 {
        let text = format!("{}; its control plane is under load", pushback::summary(r.retries, &r.retried_statuses));
        a.find(Finding::new(Some(&r.name), FindingKind::ApiPushback, Severity::Warn, text).count(u64::from(r.retries)));
    }
    evidence::events(r, a);
    evidence::rollout(plan, r, &kubectl, a);
    evidence::scaled_down(plan, r, &kubectl, a);
    let logs = logs::region_logs(plan, r, shared, a);
    let pods_bad = r.pods.as_ref().is_some_and(|p| matches!(p.status, Status::Warn | Status::Fail));
    let troubled_verdict =
        matches!(r.verdict, Verdict::Down | Verdict::Degraded) && !telemetry::degraded_by_telemetry_only(r);
    if pods_bad || logs == logs::LogsHealth::Troubled || troubled_verdict {
        steps::region_steps(plan, r, &troubled, &kubectl, a);
    }
    evidence::event_steps(r, &kubectl, a);
    remedy::region_access(plan, r, a);
}

/// The problem that kept a step from being checked, unless it was a placeholder
/// (reported on its own).
fn real_problem(p: Option<&Problem>) -> Option<&Problem> {
    p.filter(|p| p.kind != ProblemKind::Placeholder)
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

/// A runbook link, unless it is still a placeholder.
fn link(l: &Option<String>) -> Option<&str> {
    l.as_deref().filter(|l| !placeholder_url(l))
}

/// Listing the pods was forbidden: with roles per namespace, the API server
/// answers a namespace that does not exist with the same 403.
fn pods_forbidden(r: &RegionReport) -> bool {
    forbidden(r.pods.as_ref().and_then(|p| p.error.as_ref()))
}

/// "1 error line", "3 error lines".
pub(crate) fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

#[cfg(test)]
mod tests {
    //! Advice from fixture reports: no cluster, no network.

    use std::time::Duration;

    use super::*;
    use crate::plan::{PeerPlan, Placeholder, RegionPlan, Rerun, Steps};
    use crate::report::{
        ErrorGroup, ErrorSignature, EventGroup, EventKind, EventsStep, HealthzCheck, Judgement, LogsStep, PeerCheck,
        PluginFault, PodBaseline, PodInfo, PodLogs, PodsStep, RevisionFacts, RolloutFacts, ServiceVerdict,
        TelemetryStep, Terminated,
    };
    use crate::runbook::{Source, parse};

    const RUNBOOK: &str = "service: Key Service API\nnamespace: api\nselector: app=api-key-service\ncontainer: api-key-service\nenvironments:\n  prod:\n    healthz_url: https://keys.corp/healthz\n    regions:\n      us-south: { context: ctx-south }\n      us-east: { context: ctx-east }\n      eu-de: { context: ctx-de }\nguidance:\n  platform: https://runbooks.corp/tf\n";

    fn plan() -> Plan {
        let runbook = parse(&Source { name: "rb.yaml".into(), text: RUNBOOK.into() }).unwrap();
        let regions = runbook.environments.value["prod"]
            .regions
            .value
            .iter()
            .map(|(name, spec)| RegionPlan::for_tests(name, spec.context.as_ref().map_or("", |c| c.value.as_str())))
            .collect();
        Plan {
            healthz_url: "https://keys.corp/healthz".into(),
            regions,
            kubeconfig: Some("/home/me/.kube/prod config".into()),
            rerun: Rerun { verb: "diagnose", args: vec!["--env".into(), "prod".into()], region: None, own: vec![] },
            ..Plan::for_tests(runbook, "rb.yaml")
        }
    }

    /// A step's command, as its words (none without one).
    fn argv(s: &NextStep) -> Vec<&str> {
        s.command.iter().flat_map(|c| c.argv.iter().map(String::as_str)).collect()
    }

    /// What a kubectl step asks, after `kubectl … -n NS` (none for another command).
    fn kubectl_args(s: &NextStep) -> Vec<&str> {
        let words = argv(s);
        match words.iter().position(|w| *w == "-n") {
            Some(i) if words.first() == Some(&"kubectl") => words[i + 2..].to_vec(),
            _ => vec![],
        }
    }

    /// The steps that re-run this tool (after fixing what kept a region
    /// from being checked).
    fn reruns(r: &Report) -> Vec<&NextStep> {
        r.next_steps.iter().filter(|s| argv(s).first() == Some(&"keysvc-check")).collect()
    }

    /// Every step's command, as words.
    fn argvs(r: &Report) -> Vec<Vec<&str>> {
        r.next_steps.iter().filter(|s| s.command.is_some()).map(argv).collect()
    }

    /// The findings and next steps as a reader sees them, for a snapshot of
    /// their prose: the tests assert kinds and argv, the snapshot the words.
    fn prose(r: &Report) -> String {
        let mut out = String::from("findings:\n");
        for f in &r.findings {
            let region = f.region.as_deref().unwrap_or("-");
            out.push_str(&format!("  {:?} {:?} {region}: {}\n", f.severity, f.kind, f.text));
        }
        out.push_str("next steps:\n");
        for (i, s) in r.next_steps.iter().enumerate() {
            out.push_str(&format!("  {}. {}: {}\n", i + 1, s.region.as_deref().unwrap_or("-"), s.text));
            if let Some(c) = &s.command {
                let changes = if c.changes_cluster { "  (changes the cluster)" } else { "" };
                out.push_str(&format!("     $ {}{changes}\n", c.quoted()));
            }
        }
        out
    }

    /// Whether a step's command changes the cluster.
    fn changes(s: &NextStep) -> bool {
        s.command.as_ref().is_some_and(|c| c.changes_cluster)
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
    fn an_interrupted_run_is_said_so_and_never_blamed_on_the_network() {
        let p = plan();
        let stopped = Problem::new(ProblemKind::Interrupted, "listing pods: interrupted before it finished");
        let r = everywhere(&p, &stopped);
        assert_eq!(kinds(&r), [FindingKind::NotChecked], "{:?}", r.findings);
        assert_eq!((r.findings[0].region.as_deref(), r.findings[0].severity), (None, Severity::Warn));
        assert_eq!(r.findings[0].regions, ["us-south", "us-east", "eu-de"]);
        // One step for every region: re-run as it was, no flag to fix.
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        assert_eq!(r.next_steps[0].region, None);
        assert_eq!(argv(&r.next_steps[0]), ["keysvc-check", "diagnose", "--env", "prod"]);
        // No kind tells an unreachable cluster from an interrupted run in the
        // step's advice: the words are checked here, and in the snapshot
        // ("interrupted").
        let texts: Vec<&str> = r.next_steps.iter().map(|s| s.text.as_str()).collect();
        assert!(!texts.iter().any(|t| t.contains("reachable")), "{texts:?}");
        insta::assert_snapshot!("interrupted_run", prose(&r));
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
        // One step, for the run; another kubeconfig only the user can
        // name: no command with a word to fill in.
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        assert_eq!((r.next_steps[0].region.as_deref(), r.next_steps[0].command.as_ref()), (None, None));
        // "fix or replace the kubeconfig bad-kc": see the snapshot. No kind
        // tells the file's advice from a credential plugin's: the words are
        // checked here.
        assert!(!r.next_steps[0].text.contains("credentials"), "{:?}", r.next_steps[0]);
        insta::assert_snapshot!("kubeconfig_not_yaml", prose(&r));
    }

    #[test]
    fn a_rerun_after_a_missing_kubeconfig_or_context_does_not_repeat_the_flag() {
        let mut p = plan();
        p.rerun.args.extend(["--kubeconfig".into(), "/tmp/nope.yaml".into()]);
        let missing = Problem::new(
            ProblemKind::Kubeconfig,
            "kubeconfig /tmp/nope.yaml does not exist; pass --kubeconfig FILE or set KUBECONFIG",
        )
        .detail(crate::report::ProblemDetail::KubeconfigMissing);
        let r = everywhere(&p, &missing);
        // A re-run with the same kubeconfig fails the same way, one with a
        // word to fill in fails pasted: the step says what to do, no command.
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        assert!(argvs(&r).is_empty(), "{:?}", r.next_steps);

        let mut p = plan();
        p.rerun.args.extend(["--context".into(), "us-east=nope".into()]);
        let gone = Problem::new(ProblemKind::ContextMissing, "context `nope` is not in the kubeconfig");
        let r = report(&p, Status::Pass, vec![healthy("us-south"), unchecked("us-east", &gone), healthy("eu-de")]);
        assert_eq!(kinds(&r), [FindingKind::NotChecked], "{:?}", r.findings);
        assert_eq!(r.findings[0].region.as_deref(), Some("us-east"));
        // No context of the kubeconfig is the likely one: the user names
        // it, and no command stands with a word to fill in.
        assert!(reruns(&r).is_empty(), "{:?}", r.next_steps);
        let step: Vec<&NextStep> = r.next_steps.iter().filter(|s| s.region.as_deref() == Some("us-east")).collect();
        assert_eq!((step.len(), step[0].command.as_ref()), (1, None), "{:?}", r.next_steps);
        insta::assert_snapshot!("context_missing", prose(&r));
    }

    #[test]
    fn no_regions_context_in_the_kubeconfig_is_one_finding_and_one_step_listing_the_contexts_once() {
        let mut p = plan();
        for (i, r) in p.regions.iter_mut().enumerate() {
            let key = format!("environments.prod.regions.{}.context", r.name);
            r.context_from = crate::plan::ContextFrom::Runbook { key, line: 9 + i as u64 };
        }
        let has: Vec<String> = ["admin", "staging-one", "staging-two"].map(String::from).to_vec();
        let regions = ["us-south", "us-east", "eu-de"]
            .map(|name| {
                let message = format!("context `ctx-{name}` is not in the kubeconfig (it has: {})", has.join(", "));
                unchecked(name, &Problem::new(ProblemKind::ContextMissing, message).instead(has.clone()))
            })
            .to_vec();
        let r = report(&p, Status::Pass, regions);
        assert_eq!(kinds(&r), [FindingKind::NotChecked], "{:?}", r.findings);
        assert_eq!(r.findings[0].region, None);
        assert_eq!(r.findings[0].regions, ["us-south", "us-east", "eu-de"]);
        assert_eq!(r.findings[0].text.matches("staging-one").count(), 1, "{}", r.findings[0].text);
        // One step, the kubeconfig's contexts listed by a command that reads
        // the run's kubeconfig, not by name again.
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        let step = &r.next_steps[0];
        assert_eq!((step.region.as_deref(), step.command.as_ref()), (None, None));
        assert!(
            step.text.contains("`kubectl --kubeconfig '/home/me/.kube/prod config' config get-contexts` lists yours")
        );
        assert!(!step.text.contains("staging-one"), "{}", step.text);
        insta::assert_snapshot!("contexts_missing_everywhere", prose(&r));

        // A likely context for one region: each region's own fix.
        let mut regions = r.regions.clone();
        let typo = Problem::new(ProblemKind::ContextMissing, "context `ctx-us-east` is not in the kubeconfig")
            .instead(vec!["ctx-us-eastt".into()]);
        regions[1] = unchecked("us-east", &typo);
        let r = report(&p, Status::Pass, regions);
        assert_eq!(r.next_steps.iter().filter(|s| s.region.is_some()).count(), 3, "{:?}", r.next_steps);
    }

    #[test]
    fn the_same_failure_in_every_region_is_one_step_whatever_the_regions_contexts() {
        let p = plan();
        let plugin = Problem::new(ProblemKind::Kubeconfig, "credential plugin sso-login failed: exit status 1")
            .detail(crate::report::ProblemDetail::Plugin(PluginFault::Failed("sso-login".into())));
        let forbidden = Problem::new(ProblemKind::Forbidden, "403 Forbidden: missing permission to list pods")
            .detail(crate::report::ProblemDetail::Forbidden { verb: "list".into(), resource: "pods".into() });
        for problem in [plugin, forbidden] {
            let mut regions: Vec<RegionReport> =
                ["us-south", "us-east", "eu-de"].map(|n| unchecked(n, &problem)).to_vec();
            for r in &mut regions {
                r.context = format!("ctx-{}", r.name);
            }
            let r = report(&p, Status::Pass, regions);
            let access: Vec<&NextStep> = r.next_steps.iter().filter(|s| s.text.contains("fully checked")).collect();
            assert_eq!(access.len(), 1, "{:?}", r.next_steps);
            assert_eq!(access[0].region, None, "{:?}", access[0]);
            assert_eq!(argv(access[0]), ["keysvc-check", "diagnose", "--env", "prod"]);
        }
    }

    #[test]
    fn throttled_everywhere_suggests_one_rerun_with_a_longer_timeout() {
        let mut p = plan();
        p.timeout = Duration::from_secs(3);
        p.rerun.args.extend(["--timeout".into(), "3s".into()]);
        let throttled = Problem::new(ProblemKind::Throttled, "throttled: the API server answered 503");
        let r = everywhere(&p, &throttled);
        assert_eq!(kinds(&r), [FindingKind::NotChecked], "{:?}", r.findings);
        assert_eq!(r.findings[0].region, None);
        let access = reruns(&r);
        assert_eq!(access.len(), 1, "{:?}", r.next_steps);
        assert_eq!(access[0].region, None);
        assert_eq!(argv(access[0]), ["keysvc-check", "diagnose", "--env", "prod", "--timeout", "1m"]);
        // "a longer --timeout (1m)": see the snapshot.
        insta::assert_snapshot!("throttled_everywhere", prose(&r));
        p.timeout = Duration::from_secs(90);
        let r = everywhere(&p, &throttled);
        assert_eq!(argvs(&r), [["keysvc-check", "diagnose", "--env", "prod", "--timeout", "3m"]], "{:?}", r.next_steps);
        insta::assert_snapshot!("throttled_everywhere_longer", prose(&r));
    }

    #[test]
    fn a_bad_request_names_the_runbooks_selector_and_namespace_not_the_network() {
        let p = plan();
        let bad = Problem::new(ProblemKind::BadRequest, "found 'key', expected: ',' or 'end of string'");
        let r = report(&p, Status::Pass, vec![healthy("us-south"), unchecked("us-east", &bad), healthy("eu-de")]);
        assert_eq!(kinds(&r), [FindingKind::NotChecked], "{:?}", r.findings);
        assert_eq!((r.findings[0].region.as_deref(), r.findings[0].severity), (Some("us-east"), Severity::Warn));
        let steps = reruns(&r);
        assert_eq!(steps.len(), 1, "{:?}", r.next_steps);
        let step = steps[0];
        assert_eq!(step.region.as_deref(), Some("us-east"));
        // The runbook is at fault, not a flag: the re-run changes none.
        assert_eq!(argv(step), ["keysvc-check", "diagnose", "--env", "prod", "--region", "us-east"]);
        // "selector `app=api-key-service` and namespace `api` in rb.yaml":
        // see the snapshot. No kind tells the runbook's advice from the
        // network's: the words are checked here.
        assert!(!step.text.contains("reachable"), "{step:?}");
        insta::assert_snapshot!("bad_request", prose(&r));
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
        // Only the closing step ("Every check passed": see the snapshot).
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        assert_eq!((r.next_steps[0].region.as_deref(), &r.next_steps[0].command), (None, &None));
        insta::assert_snapshot!("steady_noise", prose(&r));
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
        let k: Vec<(Option<&str>, FindingKind, Severity)> =
            r.findings.iter().map(|f| (f.region.as_deref(), f.kind, f.severity)).collect();
        let east = Some("us-east");
        assert_eq!(k, [(east, FindingKind::NoPods, Severity::Fail), (east, FindingKind::Permission, Severity::Info)]);
        // One step: the labels, a command this user can run; the deployment
        // is named with the permission it needs ("needs get and list on
        // deployments": see the snapshot), not as a command that would fail.
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        let step = &r.next_steps[0];
        assert_eq!(step.region.as_deref(), Some("us-east"));
        assert_eq!(kubectl_args(step), ["get", "pods", "--show-labels"], "a command this user can run: {step:?}");
        assert!(!changes(step));
        insta::assert_snapshot!("no_pods_deployment_forbidden", prose(&r));
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
        assert_eq!(kubectl_args(steps[0]), ["get", "pods", "--show-labels"], "{steps:?}");
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
        let cmds: Vec<(Vec<&str>, bool)> = r.next_steps.iter().map(|s| (kubectl_args(s), changes(s))).collect();
        assert!(cmds.contains(&(vec!["describe", "deployment/api-key-service"], false)), "{cmds:?}");
        // Scaling back changes the cluster, and is marked so where it is built.
        assert!(cmds.contains(&(vec!["scale", "deployment/api-key-service", "--replicas=3"], true)), "{cmds:?}");
        assert_eq!(cmds.iter().filter(|(_, changes)| *changes).count(), 1, "{cmds:?}");
        assert!(!cmds.iter().any(|(c, _)| c.contains(&"--show-labels") || c.contains(&"deploy,rs")), "{cmds:?}");
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
        assert_eq!(kubectl_args(step), ["describe", "pod/a"], "{step:?}");
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
        let read_logs = |s: &NextStep| kubectl_args(s).starts_with(&["logs", "-l"]);
        assert!(r.next_steps.iter().any(read_logs), "{:?}", r.next_steps);
        p.rerun.verb = "logs";
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east(90), healthy("eu-de")]);
        assert!(!r.next_steps.iter().any(read_logs), "{:?}", r.next_steps);
        // Why b is not ready ("why b is Running, not ready": see the snapshot).
        let cmds: Vec<(Option<&str>, Vec<&str>)> =
            r.next_steps.iter().map(|s| (s.region.as_deref(), kubectl_args(s))).collect();
        assert_eq!(cmds, [(Some("us-east"), vec!["describe", "pod", "b"])]);
        insta::assert_snapshot!("not_ready_in_logs", prose(&r));
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
        assert_eq!(kinds(&r), [FindingKind::NotChecked], "{:?}", r.findings);
        // Nothing to do about optional evidence: the closing step only.
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        assert_eq!((r.next_steps[0].region.as_deref(), &r.next_steps[0].command), (None, &None));
        // "Warning events not read (optional…): throttled…": see the snapshot.
        insta::assert_snapshot!("optional_events_not_read", prose(&r));
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
        // The throttled region's re-run gives the retries more time ("its API
        // server is shedding load": see the snapshot).
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        let step = &r.next_steps[0];
        assert_eq!(step.region.as_deref(), Some("us-east"));
        assert_eq!(argv(step), ["keysvc-check", "diagnose", "--env", "prod", "--timeout", "1m", "--region", "us-east"]);
        insta::assert_snapshot!("throttled_pods", prose(&r));
    }

    fn region(name: &str, pods: Vec<PodInfo>, logs: LogsStep) -> RegionReport {
        let mut r = RegionReport {
            name: name.into(),
            context: format!("ctx-{name}"),
            current_context: false,
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
            telemetry: None,
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
            telemetry: plan.telemetry.as_ref().map(|t| TelemetryStep {
                configured: true,
                provider: Some(t.provider),
                url: Some(t.url.clone()),
                query: Some(t.filled_query()),
                window_secs: t.since.as_secs(),
                windowed: t.windowed(),
                ..TelemetryStep::not_configured()
            }),
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
        // The closing step ("Every check passed": see the snapshot).
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        assert_eq!((r.next_steps[0].region.as_deref(), &r.next_steps[0].command), (None, &None));
        insta::assert_snapshot!("healthy_service", prose(&r));
    }

    #[test]
    fn commands_carry_the_kubeconfig_and_context_and_are_quoted_once() {
        let p = plan();
        let east = region("us-east", vec![pod("a", true), pod("b", true), crash_looping("c")], logs(Status::Pass, &[]));
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        let first = r.next_steps[0].command.as_ref().unwrap();
        assert_eq!(
            first.quoted(),
            "kubectl --kubeconfig '/home/me/.kube/prod config' --context ctx-us-east -n api logs -l app=api-key-service -c api-key-service --since=5m --tail=-1 --prefix --ignore-errors"
        );
        let all: Vec<Vec<&str>> = r.next_steps.iter().map(kubectl_args).collect();
        assert!(all.contains(&vec!["logs", "c", "-c", "api-key-service", "--previous"]), "{all:?}");
        assert!(all.contains(&vec!["describe", "pod", "c"]), "{all:?}");
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
        // The service's two steps come first: whether other APIs fail (no
        // command; "Healthz fails: check whether other APIs fail": see the
        // snapshot), then what answers on the healthz URL.
        let service: Vec<(Option<&str>, Vec<&str>)> =
            r.next_steps[..2].iter().map(|s| (s.region.as_deref(), argv(s))).collect();
        assert_eq!(
            service,
            [(None, vec![]), (None, vec!["curl", "-sS", "-i", "--max-time", "10", "https://keys.corp/healthz"])],
            "{:?}",
            r.next_steps
        );
        assert!(r.next_steps[2..].iter().all(|s| s.region.as_deref() == Some("us-east")), "{:?}", r.next_steps);
        insta::assert_snapshot!("failing_healthz_and_a_region_in_trouble", prose(&r));
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
        let cmds: Vec<Vec<&str>> = r.next_steps.iter().map(kubectl_args).collect();
        assert_eq!(cmds.iter().filter(|c| c.starts_with(&["describe", "pod"])).count(), 1, "{cmds:?}");
        assert_eq!(cmds.iter().filter(|c| c.contains(&"--previous")).count(), 1, "{cmds:?}");
        // Every pod's current container waits to restart: the one log read
        // is every crashed container's, by the selector; none of the
        // current containers', which have nothing to show.
        assert_eq!(
            cmds.iter().find(|c| c.first() == Some(&"logs")).unwrap(),
            &[
                "logs",
                "-l",
                "app=api-key-service",
                "-c",
                "api-key-service",
                "--previous",
                "--tail=-1",
                "--prefix",
                "--ignore-errors"
            ]
        );
        assert_eq!(cmds.iter().filter(|c| c.first() == Some(&"logs")).count(), 1, "{cmds:?}");
        // Two pods crashed, one running: the current logs of every pod, and
        // one crashed container's.
        let mixed = report(
            &p,
            Status::Pass,
            vec![
                healthy("us-south"),
                region(
                    "us-east",
                    vec![crash_looping("a"), crash_looping("b"), pod("c", true)],
                    logs(Status::Pass, &[]),
                ),
                healthy("eu-de"),
            ],
        );
        let cmds: Vec<Vec<&str>> = mixed.next_steps.iter().map(kubectl_args).collect();
        assert!(cmds.contains(&vec!["logs", "a", "-c", "api-key-service", "--previous"]), "{cmds:?}");
        assert!(cmds.iter().any(|c| c.starts_with(&["logs", "-l"]) && c.contains(&"--since=5m")), "{cmds:?}");
        let crash: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == FindingKind::CrashLoop).collect();
        assert_eq!(crash.len(), 1, "{:?}", r.findings);
        assert_eq!(
            crash[0].text,
            "3 pods CrashLoopBackOff: a, b, c (a: 7 restarts, last terminated Error (exit 1) 4m ago)"
        );
        insta::assert_snapshot!("pods_failing_alike", prose(&r));
    }

    #[test]
    fn forbidden_logs_name_the_permission_instead_of_a_command_that_would_fail() {
        let p = plan();
        let mut l = logs(Status::Error, &[]);
        l.error = Some(Problem::new(ProblemKind::Forbidden, "403 Forbidden: missing permission to get pods/log"));
        let east = region("us-east", vec![pod("a", true), pod("b", true), crash_looping("c")], l);
        let r = report(&p, Status::Pass, vec![healthy("us-south"), east, healthy("eu-de")]);
        assert!(kinds(&r).contains(&FindingKind::Permission), "{:?}", r.findings);
        let cmds: Vec<Vec<&str>> = r.next_steps.iter().map(kubectl_args).collect();
        assert!(!cmds.iter().any(|c| c.first() == Some(&"logs")), "{cmds:?}");
        let permission: Vec<(Option<&str>, Severity)> = r
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::Permission)
            .map(|f| (f.region.as_deref(), f.severity))
            .collect();
        assert_eq!(permission, [(Some("us-east"), Severity::Warn)]);
        // Reading the logs is a step without a command ("needs get on
        // pods/log in namespace api": see the snapshot), and comes first.
        assert_eq!((r.next_steps[0].region.as_deref(), &r.next_steps[0].command), (Some("us-east"), &None));
        // The re-run keeps the user's flags and names the region.
        assert!(argvs(&r).contains(&vec!["keysvc-check", "diagnose", "--env", "prod", "--region", "us-east"]));
        insta::assert_snapshot!("forbidden_logs", prose(&r));
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
        // The first step is about what the regions share, for the service.
        assert_eq!((r.next_steps[0].region.as_deref(), &r.next_steps[0].command), (None, &None));
        // Each region's own finding counts its lines; the shared error is
        // not repeated as a region's most frequent one (only us-east's
        // "ERROR other" is named: see the snapshot).
        let own: Vec<(&str, FindingKind, Option<u64>)> = r
            .findings
            .iter()
            .filter(|f| f.kind != FindingKind::SharedError)
            .filter_map(|f| Some((f.region.as_deref()?, f.kind, f.count)))
            .collect();
        let new = FindingKind::NewError;
        assert_eq!(own, [("us-south", new, Some(40)), ("us-east", new, Some(39)), ("eu-de", new, Some(35))]);
        // "3/3 regions", "something they share", the other error's words.
        insta::assert_snapshot!("shared_error", prose(&r));
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
            "Contact the platform/infrastructure team (https://runbooks.corp/tf) first: other APIs fail the same way"
        );
        // A runbook without the link: the same generic words, no link
        // invented; its older key name gives the link alike.
        let mut bare = p.clone();
        bare.runbook.guidance.platform = None;
        let mut r2 = r.clone();
        advise(&bare, &mut r2);
        assert_eq!(
            r2.next_steps[0].text,
            "Contact the platform/infrastructure team first: other APIs fail the same way"
        );
        let old = parse(&Source {
            name: "rb.yaml".into(),
            text: RUNBOOK.replace("  platform: ", "  technical_foundation: "),
        })
        .unwrap();
        assert_eq!(old.guidance.platform.as_deref(), Some("https://runbooks.corp/tf"));
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
        assert_eq!((r.findings[0].region.as_deref(), r.findings[0].severity), (None, Severity::Warn));
        // One step, for the service, without a command ("Set your real values
        // for environments.prod.healthz_url in rb.yaml": see the snapshot).
        assert_eq!(r.next_steps.len(), 1, "{:?}", r.next_steps);
        assert_eq!((r.next_steps[0].region.as_deref(), &r.next_steps[0].command), (None, &None));
        assert_eq!(r.service.verdict, Verdict::Unknown);
        insta::assert_snapshot!("placeholders_first", prose(&r));
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
        let kubectl =
            ["kubectl", "--kubeconfig", "/home/me/.kube/prod config", "--context", "ctx-us-east", "-n", "api"];
        let history = [&kubectl[..], &["rollout", "history", "deployment/api-key-service"]].concat();
        assert_eq!(argv(east[0]), [&history[..], &["--revision=1"]].concat());
        assert_eq!(argv(east[1]), [&history[..], &["--revision=2"]].concat());
        assert_eq!((changes(east[0]), changes(east[1])), (false, false), "reading the history changes nothing");
        assert!(changes(east[2]), "the rollback changes the cluster: {:?}", east[2]);
        assert_eq!(
            argv(east[2]),
            [&kubectl[..], &["rollout", "undo", "deployment/api-key-service", "--to-revision=1"]].concat()
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
        // Its steps are the region's: what answers on its URL, and whom to ask.
        assert_eq!(r.next_steps[0].region.as_deref(), Some("us-east"), "{:?}", r.next_steps);
        assert_eq!(
            argv(&r.next_steps[0]),
            ["curl", "-sS", "-i", "--max-time", "10", "https://us-east.keys.corp/healthz"]
        );
        assert_eq!((r.next_steps[1].region.as_deref(), &r.next_steps[1].command), (Some("us-east"), &None));
        // No step for the service (other APIs, the platform) but the
        // dashboard; the route, not the pods: whom to ask about its ingress.
        let service: Vec<&NextStep> = r.next_steps.iter().filter(|s| s.region.is_none()).collect();
        assert!(service.len() <= 1 && service.iter().all(|s| s.command.is_none()), "{:?}", r.next_steps);
        insta::assert_snapshot!("regional_healthz_route", prose(&r));
    }

    #[test]
    fn healthz_answering_while_no_pod_is_ready_anywhere_is_something_else_answering() {
        let p = plan();
        let down = || vec![all_crashing("us-south"), all_crashing("us-east"), no_pods("eu-de")];
        let r = report(&p, Status::Pass, down());
        assert_eq!(r.service.verdict, Verdict::Down);
        let f = r.findings.iter().find(|f| f.kind == FindingKind::HealthzWithoutPods).expect("a finding says so");
        assert_eq!((f.region.as_deref(), f.severity), (None, Severity::Warn));
        // "no pod of the service is ready in any region": see the snapshot.
        assert_eq!(kinds(&r).iter().filter(|k| **k == FindingKind::HealthzWithoutPods).count(), 1);
        insta::assert_snapshot!("healthz_without_pods", prose(&r));
        let curl = r.next_steps.iter().position(|s| argv(s).first() == Some(&"curl"));
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
        // No step for the service (whether other APIs fail, what answers on
        // the healthz URL): every step is a region's, none a curl.
        assert!(r.next_steps.iter().all(|s| s.region.is_some()), "{:?}", r.next_steps);
        assert!(!r.next_steps.iter().any(|s| argv(s).first() == Some(&"curl")), "{:?}", r.next_steps);
        assert_eq!(r.next_steps[0].region.as_deref(), Some("us-south"), "{:?}", r.next_steps);
        insta::assert_snapshot!("nothing_runs_anywhere", prose(&r));
        // With one region running, the route still matters.
        let r = report(&p, Status::Fail, vec![all_crashing("us-south"), healthy("us-east"), all_crashing("eu-de")]);
        assert!(r.next_steps.iter().any(|s| argv(s).first() == Some(&"curl")));
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
        assert!(kubectl_args(&east[0]).starts_with(&["rollout", "history"]) && !changes(&east[0]), "{east:?}");
        assert!(kubectl_args(&east[1]).starts_with(&["rollout", "history"]) && !changes(&east[1]), "{east:?}");
        assert!(kubectl_args(&east[2]).starts_with(&["rollout", "undo"]) && changes(&east[2]), "{east:?}");
    }

    #[test]
    fn an_unrendered_template_in_the_healthz_reply_is_a_misconfigured_deployment_and_no_step_passed() {
        let mut p = plan();
        p.steps = Steps { healthz: true, pods: false, logs: false, evidence: false, telemetry: false };
        let mut r = report(&p, Status::Pass, vec![]);
        r.healthz = Some(HealthzCheck {
            unrendered: vec!["href is {{site.data[site.target].url}}".into()],
            ..healthz_check(&p.healthz_url, Status::Warn)
        });
        rejudge(&p, &mut r);
        assert_eq!(r.service.verdict, Verdict::Degraded);
        assert_eq!(kinds(&r), [FindingKind::HealthzMisconfigured]);
        assert_eq!(r.findings[0].severity, Severity::Warn);
        assert!(r.next_steps.iter().all(|s| s.region.is_none()), "{:?}", r.next_steps);
        // The unrendered template named, a misconfigured deployment (not an
        // alias), and the deployment's configuration to check first.
        insta::assert_snapshot!("unrendered_template", prose(&r));
        // An alias answering is healthy, and is not said to have passed.
        r.healthz = Some(HealthzCheck {
            mismatches: vec!["href is http://localhost/healthz, expected https://keys.corp/healthz".into()],
            ..healthz_check(&p.healthz_url, Status::Warn)
        });
        rejudge(&p, &mut r);
        assert_eq!(r.service.verdict, Verdict::Healthy);
        // Not said to have passed: answered as operational, with the
        // mismatch above; diagnose runs every step.
        assert_eq!(argvs(&r), [["keysvc-check", "diagnose", "--env", "prod"]]);
        insta::assert_snapshot!("alias_answering", prose(&r));
    }

    #[test]
    fn nothing_answering_from_here_is_one_finding_with_doctor_first_and_nothing_of_an_outage() {
        let mut p = plan();
        p.peers = vec![PeerPlan { name: "iam".into(), url: "https://iam.corp/healthz".into() }];
        let missing = Problem::new(ProblemKind::ContextMissing, "context `ctx` is not in the kubeconfig");
        let mut r = everywhere(&p, &missing);
        let dns = Problem::new(ProblemKind::Dns, "DNS lookup failed: the host name does not resolve");
        r.healthz = Some(HealthzCheck { error: Some(dns.clone()), ..crate::evidence::healthz::blank(&p.healthz_url) });
        r.peers = vec![PeerCheck {
            name: "iam".into(),
            url: "https://iam.corp/healthz".into(),
            up: false,
            http_status: None,
            latency_ms: Some(3),
            error: Some(dns),
        }];
        crate::judge::run(&p, &mut r);
        advise(&p, &mut r);
        crate::render::json::check_schema(&r);
        assert_eq!(r.service.verdict, Verdict::Unknown);
        assert_eq!(r.service.impact, None);
        let reached = r.findings.iter().filter(|f| f.kind == FindingKind::NothingReached).count();
        assert_eq!((reached, r.findings[0].kind), (1, FindingKind::NothingReached), "{:?}", r.findings);
        // Not an outage: neither the healthz failing nor other APIs failing too.
        for kind in [FindingKind::HealthzFailed, FindingKind::PlatformOutage, FindingKind::ServiceUnreachable] {
            assert!(!kinds(&r).contains(&kind), "{kind:?}: {:?}", r.findings);
        }
        assert!(!argvs(&r).iter().any(|a| a[0] == "curl"), "{:?}", r.next_steps);
        assert_eq!(argv(&r.next_steps[0]), ["keysvc-check", "doctor", "--env", "prod"]);
        insta::assert_snapshot!("nothing_answering_from_here", prose(&r));
    }

    mod telemetry {
        //! Telemetry as findings and steps: the monitoring, not the service.

        use super::*;
        use crate::report::RegionTelemetry;

        fn plan_with(provider: &str) -> Plan {
            let extra = match provider {
                "prometheus" => "telemetry:\n  provider: prometheus\n  url: http://prometheus.corp:9090\n",
                _ => "telemetry:\n  provider: newrelic\n  account_id: 1234567\n",
            };
            let runbook = parse(&Source { name: "rb.yaml".into(), text: format!("{RUNBOOK}{extra}") }).unwrap();
            let mut p = plan();
            p.telemetry = runbook.telemetry_for("prod");
            p.runbook = runbook;
            p
        }

        /// A healthy region whose provider says `pods` reported (none: no data).
        fn reporting(name: &str, pods: Option<u32>) -> RegionReport {
            let mut r = healthy(name);
            let mut t = RegionTelemetry {
                status: Status::Pass,
                facet: name.into(),
                expected: 3,
                pods_reporting: pods,
                latest: None,
                latest_secs_ago: pods.map(|_| 20),
                window_secs: 600,
                error: None,
            };
            crate::judge::telemetry::judge_step(&mut t);
            r.telemetry = Some(t);
            r.verdict = crate::judge::region_verdict(&r);
            r
        }

        #[test]
        fn missing_in_one_region_while_it_is_up_is_the_monitoring_with_the_query_to_paste() {
            let p = plan_with("newrelic");
            let regions = vec![reporting("us-south", Some(3)), reporting("us-east", None), reporting("eu-de", Some(3))];
            let r = report(&p, Status::Pass, regions);
            assert_eq!(r.regions[1].verdict, Verdict::Degraded);
            assert_eq!((r.service.verdict, kinds(&r)), (Verdict::Degraded, vec![FindingKind::TelemetryMissing]));
            assert_eq!(
                r.findings[0].text,
                "New Relic has received nothing from us-east for 10m; the API answers and 3/3 pods are ready: the monitoring, not the service"
            );
            let curl = r.next_steps.iter().find(|s| argv(s).first() == Some(&"curl")).expect("the query as curl");
            let words = argv(curl);
            assert!(words.contains(&"https://api.newrelic.com/graphql"), "{words:?}");
            let quoted = curl.command.as_ref().unwrap().quoted();
            assert!(quoted.contains(r#""API-Key: ${NEW_RELIC_API_KEY:?"#), "the key from its variable: {quoted}");
            // No logs or describe steps: the region's pods are fine.
            assert!(r.next_steps.iter().all(|s| kubectl_args(s).is_empty()), "{:?}", r.next_steps);
            insta::assert_snapshot!("telemetry_missing_in_one_region", prose(&r));
        }

        #[test]
        fn missing_everywhere_is_one_finding_for_the_service() {
            let p = plan_with("prometheus");
            let regions = ["us-south", "us-east", "eu-de"].map(|n| reporting(n, None)).to_vec();
            let r = report(&p, Status::Pass, regions);
            assert_eq!(kinds(&r), [FindingKind::TelemetryMissing]);
            assert_eq!((r.findings[0].region.as_deref(), r.findings[0].regions.len()), (None, 3));
            let curls: Vec<Vec<&str>> = argvs(&r).into_iter().filter(|a| a.first() == Some(&"curl")).collect();
            assert_eq!(curls.len(), 2, "the query and the scrape targets: {curls:?}");
            assert!(curls[0].contains(&"query=count by (region) (up{job=\"api-key-service\"} == 1)"), "{curls:?}");
            insta::assert_snapshot!("telemetry_missing_everywhere", prose(&r));
        }

        #[test]
        fn a_region_named_near_a_value_no_region_claims_is_the_runbooks_name_not_the_monitoring() {
            let p = plan_with("prometheus");
            let misnamed = |unclaimed: &[&str]| {
                let mut east = reporting("us-east", None);
                let t = east.telemetry.as_mut().unwrap();
                t.facet = "us-eats".into();
                let unclaimed: Vec<String> = unclaimed.iter().map(|s| s.to_string()).collect();
                crate::judge::telemetry::misnamed(t, &unclaimed);
                east.verdict = crate::judge::region_verdict(&east);
                report(&p, Status::Pass, vec![reporting("us-south", Some(3)), east, reporting("eu-de", Some(3))])
            };
            let r = misnamed(&["us-east"]);
            assert_eq!(r.regions[1].verdict, Verdict::Healthy, "the runbook's name changes no verdict");
            assert_eq!(kinds(&r), [FindingKind::RunbookMismatch]);
            assert_eq!(
                r.findings[0].text,
                "Prometheus's answer has no `us-eats` for us-east but has `us-east`, which no region claims: the runbook's name for the region, not the monitoring"
            );
            let fix = r.next_steps.iter().find(|s| s.text.starts_with("did you mean us-east?")).expect("the fix");
            assert!(fix.text.contains("environments.prod.regions.us-east.telemetry"), "{}", fix.text);
            assert_eq!(argv(fix), ["keysvc-check", "diagnose", "--env", "prod"]);
            // A value the answer lacks with nothing near: the monitoring.
            let r = misnamed(&["ap-south"]);
            assert_eq!(r.regions[1].verdict, Verdict::Degraded);
            assert_eq!(kinds(&r), [FindingKind::TelemetryMissing]);
        }

        #[test]
        fn nothing_answering_from_here_but_the_provider_says_the_pods_are_alive() {
            let p = plan_with("newrelic");
            let missing = Problem::new(ProblemKind::ContextMissing, "context `ctx` is not in the kubeconfig");
            let mut r = everywhere(&p, &missing);
            let dns = Problem::new(ProblemKind::Dns, "DNS lookup failed: the host name does not resolve");
            r.healthz = Some(HealthzCheck { error: Some(dns), ..crate::evidence::healthz::blank(&p.healthz_url) });
            for region in &mut r.regions {
                region.telemetry = reporting(&region.name, Some(3)).telemetry;
            }
            crate::judge::run(&p, &mut r);
            advise(&p, &mut r);
            assert_eq!(r.service.verdict, Verdict::Unknown);
            let reached = r.findings.iter().find(|f| f.kind == FindingKind::NothingReached).expect("nothing reached");
            assert!(
                reached.text.ends_with(
                    "; yet New Relic answers from here, with data from the pods of 3/3 regions: they are alive"
                ),
                "{}",
                reached.text
            );
        }

        #[test]
        fn a_query_without_the_window_is_said_to_ask_for_now_not_for_the_window() {
            let one = |p: &Plan| {
                let regions =
                    vec![reporting("us-south", Some(3)), reporting("us-east", None), reporting("eu-de", Some(1))];
                let r = report(p, Status::Pass, regions);
                r.findings
                    .iter()
                    .filter(|f| f.kind == FindingKind::TelemetryMissing)
                    .map(|f| f.text.clone())
                    .collect::<Vec<_>>()
            };
            // The default PromQL asks for the samples there are now.
            let instant = one(&plan_with("prometheus"));
            assert!(instant[0].starts_with("Prometheus has no current data from us-east;"), "{instant:?}");
            assert!(instant[1].starts_with("Prometheus has data from 1/3 pods of eu-de now;"), "{instant:?}");
            // A query over `{since}` asks over the window, and says so.
            let mut windowed = plan_with("prometheus");
            windowed.telemetry.as_mut().unwrap().query =
                "count by (region) (max_over_time(up{job=\"api-key-service\"}[{since}]) == 1)".into();
            let over = one(&windowed);
            assert!(over[0].starts_with("Prometheus has received nothing from us-east for 10m;"), "{over:?}");
            assert!(over[1].starts_with("Prometheus has data from 1/3 pods of eu-de in the last 10m;"), "{over:?}");
        }

        #[test]
        fn fewer_pods_reporting_warns_and_a_region_down_is_not_blamed_on_monitoring() {
            let p = plan_with("newrelic");
            let mut east = reporting("us-east", None);
            east.pods = Some(crate::evidence::pods::step(
                vec![],
                3,
                Duration::from_secs(300),
                Duration::from_secs(30),
                None,
                1,
            ));
            east.verdict = crate::judge::region_verdict(&east);
            let regions = vec![reporting("us-south", Some(1)), east, reporting("eu-de", Some(3))];
            let r = report(&p, Status::Pass, regions);
            assert_eq!(r.regions[1].verdict, Verdict::Down);
            let missing: Vec<(Option<&str>, &str)> = r
                .findings
                .iter()
                .filter(|f| f.kind == FindingKind::TelemetryMissing)
                .map(|f| (f.region.as_deref(), f.text.as_str()))
                .collect();
            assert_eq!(
                missing,
                [(
                    Some("us-south"),
                    "New Relic has data from 1/3 pods of us-south in the last 10m; the API answers and 3/3 pods are ready: the monitoring, not the service"
                )]
            );
        }

        #[test]
        fn telemetry_while_the_api_does_not_answer_says_the_pods_are_alive() {
            let p = plan_with("prometheus");
            let regions = ["us-south", "us-east", "eu-de"].map(|n| reporting(n, Some(3))).to_vec();
            let r = report(&p, Status::Fail, regions);
            assert_eq!(r.service.verdict, Verdict::Down);
            let alive: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == FindingKind::TelemetryAlive).collect();
            assert_eq!(alive.len(), 1, "one for the service: {:?}", r.findings);
            assert_eq!((alive[0].region.as_deref(), alive[0].severity), (None, Severity::Info));
            assert!(alive[0].text.contains("the pods are alive while the API does not answer"), "{}", alive[0].text);
            assert!(!kinds(&r).contains(&FindingKind::TelemetryMissing));
        }

        #[test]
        fn a_provider_that_could_not_be_asked_is_one_finding_and_the_fix_then_a_rerun() {
            let p = plan_with("newrelic");
            let unset = Problem::new(
                ProblemKind::Unauthorized,
                "NEW_RELIC_API_KEY is not set: New Relic's API key is read from it",
            )
            .detail(crate::report::ProblemDetail::EnvUnset { var: "NEW_RELIC_API_KEY".into() });
            let mut regions = vec![healthy("us-south"), healthy("us-east"), healthy("eu-de")];
            for r in &mut regions {
                r.telemetry = Some(RegionTelemetry {
                    status: Status::Error,
                    facet: r.name.clone(),
                    expected: 3,
                    pods_reporting: None,
                    latest: None,
                    latest_secs_ago: None,
                    window_secs: 600,
                    error: Some(unset.clone()),
                });
                r.verdict = crate::judge::region_verdict(r);
            }
            let mut p2 = p.clone();
            p2.telemetry = p.telemetry.clone();
            let mut r = report(&p2, Status::Pass, regions);
            assert_eq!(r.service.verdict, Verdict::Healthy, "verdicts unchanged");
            // The step's error is what the advice reads.
            r.telemetry.as_mut().unwrap().error = Some(unset);
            advise(&p2, &mut r);
            assert_eq!(kinds(&r), [FindingKind::TelemetryError]);
            let fix = r.next_steps.iter().find(|s| s.text.contains("NEW_RELIC_API_KEY")).expect("the variable named");
            assert_eq!(argv(fix), ["keysvc-check", "diagnose", "--env", "prod"]);
            // Not "every check passed": one could not be made.
            let last = &r.next_steps.last().unwrap().text;
            assert!(last.starts_with("Every other check passed; the telemetry could not be checked"), "{last}");
        }
    }
}
