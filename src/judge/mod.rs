//! The verdict rules (README, "Verdicts"): facts → region and service
//! verdicts. Small and pure; the findings and next steps are `advice`'s.

pub mod logs;
pub mod reach;
pub mod telemetry;

use crate::error::ExitCode;
use crate::plan::Plan;
use crate::report::{
    HealthzCheck, Judgement, Problem, ProblemKind, RegionReport, Report, ServiceVerdict, Status, Verdict,
};

/// Judges the facts of a run, in order: each region's logs step and
/// verdict, the regions without a baseline against their siblings, an
/// empty selector while healthz passes, nothing answering from here, then
/// the service.
pub fn run(plan: &Plan, report: &mut Report) {
    let answered = report.telemetry.as_ref().map_or(&[][..], |t| t.facets.as_slice());
    let claimed: Vec<String> =
        report.regions.iter().filter_map(|r| r.telemetry.as_ref()).map(|t| t.facet.clone()).collect();
    let unclaimed: Vec<String> = answered.iter().filter(|f| !claimed.contains(f)).cloned().collect();
    for r in &mut report.regions {
        if let Some(l) = r.logs.as_mut() {
            logs::judge_step(l);
        }
        if let Some(t) = r.telemetry.as_mut() {
            telemetry::judge_step(t);
            telemetry::misnamed(t, &unclaimed);
        }
        r.verdict = region_verdict(r);
    }
    judge_without_baseline(&mut report.regions);
    doubt_empty_selector(plan, report.healthz.as_ref(), &mut report.regions);
    reach::doubt_unreached(report);
    judge(plan, report);
}

/// A region is down when no pod is ready or its regional healthz fails;
/// degraded when pods or logs warn, or its healthz reply shows a
/// misconfigured deployment; unknown when a step could not run and
/// nothing worse was seen; healthy otherwise. Telemetry missing (or from
/// fewer pods) makes a region that is otherwise healthy degraded; it never
/// makes one down or unknown: healthz and pods say whether it is up. Alone
/// (the `telemetry` command), it says what it can: healthy, degraded or unknown.
pub fn region_verdict(r: &RegionReport) -> Verdict {
    let base = service_steps_verdict(r);
    let telemetry = r.telemetry.as_ref().map(|t| t.status);
    let alone = r.healthz.is_none() && r.pods.is_none() && r.logs.is_none();
    match (base, telemetry) {
        (Verdict::Healthy, Some(Status::Warn | Status::Fail)) => Verdict::Degraded,
        (Verdict::Unknown, Some(s)) if alone => match s {
            Status::Pass => Verdict::Healthy,
            Status::Warn | Status::Fail => Verdict::Degraded,
            Status::Error => Verdict::Unknown,
        },
        _ => base,
    }
}

/// The verdict of healthz, pods and logs alone.
pub fn service_steps_verdict(r: &RegionReport) -> Verdict {
    // A healthz that answers as operational with another href or description
    // is a finding, not a degraded region; with an unrendered template in
    // its reply the deployment is misconfigured.
    let hz =
        r.healthz.as_ref().map(|h| if h.status == Status::Warn && !misconfigured(h) { Status::Pass } else { h.status });
    let statuses: Vec<Status> =
        [hz, r.pods.as_ref().map(|p| p.status), r.logs.as_ref().map(|l| l.status)].into_iter().flatten().collect();
    let pods_fail = r.pods.as_ref().is_some_and(|p| p.status == Status::Fail);
    let healthz_fail = r.healthz.as_ref().is_some_and(|h| h.status == Status::Fail);
    if pods_fail || healthz_fail {
        Verdict::Down
    } else if statuses.contains(&Status::Warn) || statuses.contains(&Status::Fail) {
        Verdict::Degraded
    } else if statuses.contains(&Status::Error) || statuses.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Healthy
    }
}

/// Healthz answered as operational from a misconfigured deployment: its
/// reply holds an unrendered template.
pub fn misconfigured(h: &HealthzCheck) -> bool {
    h.status == Status::Warn && !h.unrendered.is_empty()
}

/// The service is down when the environment's healthz fails or every region
/// is down (`all_regions`: the report covers every region of the
/// environment, so "every region" can be said); degraded when any region is
/// down or degraded, or the healthz reply shows a misconfigured deployment;
/// unknown when any region (or the healthz check) could not be checked;
/// healthy otherwise.
pub fn service_verdict(healthz: Option<&HealthzCheck>, regions: &[RegionReport], all_regions: bool) -> Verdict {
    let hz = healthz.map(|h| h.status);
    let every_region_down = all_regions && !regions.is_empty() && regions.iter().all(|r| r.verdict == Verdict::Down);
    if hz == Some(Status::Fail) || every_region_down {
        Verdict::Down
    } else if regions.iter().any(|r| matches!(r.verdict, Verdict::Down | Verdict::Degraded))
        || healthz.is_some_and(misconfigured)
    {
        Verdict::Degraded
    } else if hz == Some(Status::Error)
        || regions.iter().any(|r| r.verdict == Verdict::Unknown)
        || (hz.is_none() && regions.is_empty())
    {
        Verdict::Unknown
    } else {
        Verdict::Healthy
    }
}

/// A region whose pods all started inside the baseline (a rollout, a
/// restart) has no usual rate of its own, and any `min_errors` error lines
/// would make it degraded. Its siblings run the same service: when they have
/// a baseline, their usual rate per pod, times this region's pods, is what
/// this region would usually log. Errors within `spike_factor` of that, all
/// of them signatures the siblings know, are steady noise, not an alarm.
pub fn judge_without_baseline(regions: &mut [RegionReport]) {
    let per_pod: Vec<(usize, f64, Vec<String>)> = regions
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let l = r.logs.as_ref()?;
            let rate = l.baseline_rate_per_min?;
            let with_baseline = l
                .pods
                .iter()
                .filter(|p| p.baseline.as_ref().is_some_and(|b| b.error.is_none() && b.span_secs >= l.window_secs))
                .count();
            let known = l.signatures.iter().filter(|s| s.baseline_count > 0).map(|s| s.pattern.clone()).collect();
            (with_baseline > 0).then(|| (i, rate / with_baseline as f64, known))
        })
        .collect();
    for (i, r) in regions.iter_mut().enumerate() {
        let Some(l) = r.logs.as_mut().filter(|l| l.judgement == Some(Judgement::NoBaseline)) else { continue };
        let siblings: Vec<&(usize, f64, Vec<String>)> = per_pod.iter().filter(|(j, _, _)| *j != i).collect();
        if siblings.is_empty() {
            continue;
        }
        let usual_per_pod = siblings.iter().map(|(_, r, _)| r).sum::<f64>() / siblings.len() as f64;
        let pods = l.pods.iter().filter(|p| !p.previous).count() as f64;
        let usual = usual_per_pod * pods;
        let known = |pattern: &str| siblings.iter().any(|(_, _, k)| k.iter().any(|p| p == pattern));
        let unknown_error = l.signatures.iter().any(|s| s.window_count >= l.min_errors && !known(&s.pattern));
        if usual > 0.0 && l.window_rate_per_min < l.spike_factor * usual && !unknown_error {
            l.judgement = Some(Judgement::Steady);
            l.siblings_rate_per_min = Some(usual);
            l.status = logs::status(l);
            r.verdict = region_verdict(r);
        }
    }
}

/// No pod matches the runbook's selector in any region, while the
/// environment's healthz passes: the service answers, so its pods run
/// somewhere, and the runbook's selector (or namespace) is the likeliest
/// cause, not an outage in every region. Each region's pods step is then
/// `error` (`runbook_mismatch`, "could not be checked") rather than failed,
/// so the regions are unknown, not down, and no user impact is stated.
/// Only for a run over every region: one region without pods while the
/// service answers may be that region alone.
pub fn doubt_empty_selector(plan: &Plan, healthz: Option<&HealthzCheck>, regions: &mut [RegionReport]) {
    let answers = healthz.is_some_and(|h| matches!(h.status, Status::Pass | Status::Warn));
    let empty = |r: &RegionReport| r.pods.as_ref().is_some_and(|p| p.error.is_none() && p.total == 0);
    if !answers || !plan.all_regions || regions.is_empty() || !regions.iter().all(empty) {
        return;
    }
    let rb = &plan.runbook;
    for r in regions.iter_mut() {
        let Some(p) = r.pods.as_mut() else { continue };
        let message = format!(
            "no pod matches the selector `{}` in namespace {} in any region, yet healthz passes: the runbook's selector is the likeliest cause",
            rb.selector, rb.namespace
        );
        p.status = Status::Error;
        p.error = Some(
            Problem::new(ProblemKind::RunbookMismatch, message)
                .detail(crate::report::ProblemDetail::SelectorMatchesNothing)
                .instead(p.other_labels.clone()),
        );
        r.verdict = region_verdict(r);
    }
}

/// The service verdict and its one-line summary, and the user impact when
/// the service is down.
pub fn judge(plan: &Plan, report: &mut Report) {
    let verdict = service_verdict(report.healthz.as_ref(), &report.regions, plan.all_regions && plan.steps.pods);
    let count = |v: Verdict| report.regions.iter().filter(|r| r.verdict == v).count();
    let n = report.regions.len();
    let mut parts = vec![];
    // What qualifies the summary, in one bracket group at its end.
    let mut notes = vec![];
    if let Some(h) = &report.healthz {
        parts.push(format!("healthz {}", h.status.as_str()));
    }
    if !plan.all_regions && n == 1 {
        // One region asked for: "1/1 regions down" under a DEGRADED verdict
        // reads as a contradiction; name the region and why the service is
        // not judged down from it alone.
        let r = &report.regions[0];
        parts.push(format!("{} {}", r.name, r.verdict.as_str()));
        notes.push("only this region was checked");
    } else {
        for v in [Verdict::Healthy, Verdict::Degraded, Verdict::Down, Verdict::Unknown] {
            let c = count(v);
            if c > 0 {
                parts.push(format!("{c}/{n} regions {}", v.as_str()));
            }
        }
    }
    // The impact is the runbook's to say: the code knows no service.
    let impact = (verdict == Verdict::Down).then(|| plan.runbook.guidance.impact.clone()).flatten();
    let summary = if only_placeholders(report) {
        "nothing checked: the runbook's URLs and contexts are still placeholders".to_string()
    } else {
        parts.join(", ")
    };
    if reach::unreached(report) {
        notes.push("nothing answered from here");
    }
    // The telemetry alone says what the monitoring has, not whether the
    // service is up.
    if plan.steps.telemetry && !plan.steps.healthz && !plan.steps.pods {
        notes.push("the monitoring's view: diagnose tells whether the service is up");
    }
    if report.partial {
        notes.push("partial: the run was cut short");
    }
    let summary = if notes.is_empty() { summary } else { format!("{summary} ({})", notes.join("; ")) };
    report.service = ServiceVerdict { verdict, summary, impact };
}

/// The exit code of a finished run: its verdict's, or 78 when nothing real
/// was checked (only placeholders: configuration still to do).
pub fn exit_code(r: &Report) -> ExitCode {
    if only_placeholders(r) {
        return ExitCode::Config;
    }
    match r.service.verdict {
        Verdict::Healthy => ExitCode::Healthy,
        Verdict::Degraded => ExitCode::Degraded,
        Verdict::Down => ExitCode::Down,
        Verdict::Unknown => ExitCode::Unknown,
    }
}

/// Nothing real was checked: every step that ran was skipped for a
/// placeholder (exit 78, a configuration to finish, not an outage).
pub fn only_placeholders(report: &Report) -> bool {
    let placeholder = |p: Option<&Problem>| p.is_some_and(|p| p.kind == ProblemKind::Placeholder);
    let mut any = false;
    let mut all = true;
    let mut see = |is: bool| {
        any = true;
        all &= is;
    };
    if let Some(h) = &report.healthz {
        see(placeholder(h.error.as_ref()));
    }
    for r in &report.regions {
        if let Some(h) = &r.healthz {
            see(placeholder(h.error.as_ref()));
        }
        if let Some(p) = &r.pods {
            see(placeholder(p.error.as_ref()));
        }
    }
    any && all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{LogsStep, PodsStep, Problem};

    fn region(healthz: Option<Status>, pods: Option<Status>, logs: Option<Status>) -> RegionReport {
        RegionReport {
            name: "r".into(),
            context: "c".into(),
            current_context: false,
            verdict: Verdict::Unknown,
            healthz: healthz.map(|s| HealthzCheck { status: s, ..crate::evidence::healthz::blank("u") }),
            pods: pods.map(|s| PodsStep {
                status: s,
                error: (s == Status::Error).then(|| Problem::new(ProblemKind::Refused, "connection refused")),
                ..crate::evidence::region::failed_pods(3, Problem::new(ProblemKind::Refused, ""))
            }),
            logs: logs.map(|s| LogsStep { status: s, window_secs: 300, ..LogsStep::default() }),
            events: None,
            rollout: None,
            telemetry: None,
            retries: 0,
            retried_statuses: vec![],
            duration_ms: 0,
        }
    }

    use Status::*;

    #[test]
    fn region_rules() {
        assert_eq!(region_verdict(&region(None, Some(Pass), Some(Pass))), Verdict::Healthy);
        assert_eq!(region_verdict(&region(None, Some(Fail), Some(Pass))), Verdict::Down);
        assert_eq!(region_verdict(&region(Some(Fail), Some(Pass), Some(Pass))), Verdict::Down);
        assert_eq!(region_verdict(&region(None, Some(Warn), Some(Pass))), Verdict::Degraded);
        assert_eq!(region_verdict(&region(None, Some(Pass), Some(Warn))), Verdict::Degraded);
        assert_eq!(region_verdict(&region(None, Some(Error), Some(Error))), Verdict::Unknown);
        // What did run shows something worse than "could not check".
        assert_eq!(region_verdict(&region(None, Some(Warn), Some(Error))), Verdict::Degraded);
        assert_eq!(region_verdict(&region(None, Some(Pass), Some(Error))), Verdict::Unknown);
        assert_eq!(region_verdict(&region(None, None, None)), Verdict::Unknown);
    }

    #[test]
    fn the_telemetry_alone_says_it_is_the_monitorings_view() {
        let rb = crate::runbook::parse(&crate::runbook::Source::embedded()).unwrap();
        let mut plan = Plan::for_tests(rb, "rb");
        plan.steps = crate::plan::Steps { healthz: false, pods: false, logs: false, evidence: false, telemetry: true };
        let mut report = crate::render::fixture::report();
        report.healthz = None;
        judge(&plan, &mut report);
        assert!(
            report.service.summary.ends_with("(the monitoring's view: diagnose tells whether the service is up)"),
            "{}",
            report.service.summary
        );
    }

    #[test]
    fn one_region_cut_short_is_qualified_in_one_bracket_group() {
        let rb = crate::runbook::parse(&crate::runbook::Source::embedded()).unwrap();
        let plan = Plan { all_regions: false, ..Plan::for_tests(rb, "rb") };
        let mut report = crate::render::fixture::report();
        report.regions.truncate(1);
        report.healthz = None;
        report.partial = true;
        judge(&plan, &mut report);
        let name = &report.regions[0].name;
        let verdict = report.regions[0].verdict.as_str();
        assert_eq!(
            report.service.summary,
            format!("{name} {verdict} (only this region was checked; partial: the run was cut short)")
        );
    }

    #[test]
    fn telemetry_degrades_a_region_that_is_up_and_never_makes_one_down_or_unknown() {
        let tel = |mut r: RegionReport, s: Status| {
            r.telemetry = Some(crate::report::RegionTelemetry {
                status: s,
                facet: "r".into(),
                expected: 3,
                pods_reporting: None,
                latest: None,
                latest_secs_ago: None,
                window_secs: 600,
                error: None,
            });
            region_verdict(&r)
        };
        let up = || region(Some(Pass), Some(Pass), Some(Pass));
        assert_eq!(tel(up(), Fail), Verdict::Degraded);
        assert_eq!(tel(up(), Warn), Verdict::Degraded);
        assert_eq!(tel(up(), Pass), Verdict::Healthy);
        assert_eq!(tel(up(), Error), Verdict::Healthy, "a provider not asked changes no verdict");
        assert_eq!(tel(region(None, Some(Fail), None), Fail), Verdict::Down);
        assert_eq!(tel(region(None, Some(Fail), None), Pass), Verdict::Down, "healthz and pods say whether it is up");
        assert_eq!(tel(region(None, Some(Error), None), Fail), Verdict::Unknown);
        // Alone (the telemetry command): what it can say.
        assert_eq!(tel(region(None, None, None), Pass), Verdict::Healthy);
        assert_eq!(tel(region(None, None, None), Fail), Verdict::Degraded);
        assert_eq!(tel(region(None, None, None), Error), Verdict::Unknown);
    }

    fn with(v: Verdict) -> RegionReport {
        let mut r = region(None, Some(Pass), None);
        r.verdict = v;
        r
    }

    #[test]
    fn service_rules() {
        use Verdict::*;
        let hz = |s| HealthzCheck { status: s, ..region(Some(s), None, None).healthz.unwrap() };
        assert_eq!(service_verdict(Some(&hz(Pass)), &[with(Healthy), with(Healthy)], true), Healthy);
        assert_eq!(service_verdict(Some(&hz(Fail)), &[with(Healthy)], true), Down);
        assert_eq!(service_verdict(Some(&hz(Pass)), &[with(Down), with(Down)], true), Down);
        assert_eq!(service_verdict(Some(&hz(Pass)), &[with(Down), with(Healthy)], true), Degraded);
        assert_eq!(service_verdict(Some(&hz(Pass)), &[with(Unknown), with(Degraded)], true), Degraded);
        assert_eq!(service_verdict(Some(&hz(Pass)), &[with(Unknown), with(Healthy)], true), Unknown);
        assert_eq!(service_verdict(Some(&hz(Error)), &[with(Healthy)], true), Unknown);
        assert_eq!(service_verdict(None, &[with(Healthy)], true), Healthy);
        // One region checked alone cannot make the whole service down.
        assert_eq!(service_verdict(Some(&hz(Pass)), &[with(Down)], false), Degraded);
        // Never healthy while any region is unknown.
        assert_ne!(service_verdict(Some(&hz(Pass)), &[with(Healthy), with(Unknown)], true), Healthy);
        // An alias answering is healthy; a reply with an unrendered template is a misconfigured deployment.
        assert_eq!(service_verdict(Some(&hz(Warn)), &[with(Healthy)], true), Healthy);
        let template = HealthzCheck { unrendered: vec!["href is {{site.url}}".into()], ..hz(Warn) };
        assert_eq!(service_verdict(Some(&template), &[with(Healthy)], true), Degraded);
        let mut r = region(Some(Warn), Some(Pass), Some(Pass));
        assert_eq!(region_verdict(&r), Verdict::Healthy);
        r.healthz = Some(template);
        assert_eq!(region_verdict(&r), Verdict::Degraded);
    }

    mod evidence {
        use super::*;
        use crate::evidence::region::{empty_region, failed_pods, failed_rollout};
        use crate::plan::RegionPlan;
        use crate::report::{EventGroup, EventKind};
        use crate::report::{EventsStep, RolloutFacts};

        fn region(pods: Status) -> RegionReport {
            let mut r = empty_region(&RegionPlan::for_tests("r", "c"));
            let mut step = failed_pods(3, Problem::new(ProblemKind::Refused, "connection refused"));
            step.status = pods;
            r.pods = Some(step);
            r
        }

        fn events(status: Status, groups: Vec<EventGroup>, error: Option<Problem>) -> EventsStep {
            EventsStep { status, window_secs: 300, groups, truncated: false, error, duration_ms: 0 }
        }

        /// Optional evidence, read or not, whatever it says, leaves the region's
        /// verdict as the required steps make it.
        #[test]
        fn optional_evidence_never_changes_a_verdict() {
            let forbidden = Problem::new(ProblemKind::Forbidden, "403 Forbidden: missing permission to list events");
            let probe = EventGroup {
                reason: "Unhealthy".into(),
                kind: EventKind::ProbeFailing,
                count: 3,
                objects: vec!["pod/p".into()],
                objects_total: 1,
                message: "Readiness probe failed".into(),
                first_seen_secs_ago: Some(60),
                last_seen_secs_ago: Some(5),
            };
            for pods in [Status::Pass, Status::Warn, Status::Fail, Status::Error] {
                let base = region(pods);
                let expected = region_verdict(&base);
                let mut unread = base.clone();
                unread.events = Some(events(Status::Error, vec![], Some(forbidden.clone())));
                unread.rollout = Some(failed_rollout(forbidden.clone()));
                assert_eq!(region_verdict(&unread), expected, "{pods:?}, evidence forbidden");
                let mut read = base.clone();
                read.events = Some(events(Status::Pass, vec![probe.clone()], None));
                read.rollout =
                    Some(RolloutFacts { status: Status::Pass, error: None, ..failed_rollout(forbidden.clone()) });
                assert_eq!(region_verdict(&read), expected, "{pods:?}, evidence read");
            }
        }
    }
}
