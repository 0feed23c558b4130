//! The verdict rules (README, "Verdicts"), and the findings and next steps
//! that follow the runbook's logic. Pure functions of the report.

use crate::plan::Plan;
use crate::pods::{restarted_within, short_age};
use crate::report::{HealthzCheck, ProblemKind, RegionReport, Report, ServiceVerdict, Status, Verdict};

/// A region is down when no pod is ready or its regional healthz fails;
/// degraded when pods or logs warn; unknown when a step could not run and
/// nothing worse was seen; healthy otherwise.
pub fn region_verdict(r: &RegionReport) -> Verdict {
    let statuses: Vec<Status> =
        [r.healthz.as_ref().map(|h| h.status), r.pods.as_ref().map(|p| p.status), r.logs.as_ref().map(|l| l.status)]
            .into_iter()
            .flatten()
            .collect();
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

/// The service is down when the environment's healthz fails or every region
/// is down (`all_regions`: the report covers every region of the
/// environment, so "every region" can be said); degraded when any region is down or degraded; unknown when any
/// region (or the healthz check) could not be checked; healthy otherwise.
pub fn service_verdict(healthz: Option<&HealthzCheck>, regions: &[RegionReport], all_regions: bool) -> Verdict {
    let hz = healthz.map(|h| h.status);
    let every_region_down = all_regions && !regions.is_empty() && regions.iter().all(|r| r.verdict == Verdict::Down);
    if hz == Some(Status::Fail) || every_region_down {
        Verdict::Down
    } else if regions.iter().any(|r| matches!(r.verdict, Verdict::Down | Verdict::Degraded)) {
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

fn healthz_finding(h: &HealthzCheck) -> Option<String> {
    if h.status == Status::Pass {
        return None;
    }
    let what = match (&h.error, h.problems.is_empty()) {
        (Some(e), _) => e.message.clone(),
        (None, false) => h.problems.join("; "),
        (None, true) => "failed".into(),
    };
    Some(format!("healthz {}: {what}", h.url))
}

fn kubectl(plan: &Plan, context: &str) -> String {
    format!("kubectl --context {} -n {}", shell_word(context), shell_word(&plan.runbook.namespace))
}

/// `s` quoted for a POSIX shell when it needs it.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command that runs every step for the same environment and runbook.
fn diagnose_command(plan: &Plan) -> String {
    let mut words: Vec<&str> = plan.rerun.split(' ').collect();
    if words.len() > 1 {
        words[1] = "diagnose";
    }
    words.join(" ")
}

/// Fills in each region's findings and next steps.
pub fn explain_region(plan: &Plan, r: &mut RegionReport) {
    let name = r.name.clone();
    let mut findings = vec![];
    let mut next = vec![];
    if let Some(h) = &r.healthz
        && let Some(f) = healthz_finding(h)
    {
        findings.push(format!("{name}: regional {f}"));
    }
    let window = plan.logs.since;
    let mut troubled: Vec<String> = vec![];
    let mut crashed: Vec<String> = vec![];
    if let Some(p) = &r.pods {
        if let Some(e) = &p.error {
            findings.push(format!("{name}: pods not checked: {}", e.message));
        } else {
            if p.ready < p.expected {
                findings.push(format!("{name}: {}/{} pods ready", p.ready, p.expected));
            }
            if let Some(n) = &p.note {
                findings.push(format!("{name}: {n}"));
            }
            for pod in &p.pods {
                let mut bits = vec![];
                if pod.crash_looping || pod.terminating || pod.pending || !pod.is_ready {
                    bits.push(pod.status.clone());
                }
                if pod.restarts > 0 && (pod.crash_looping || restarted_within(pod, window)) {
                    bits.push(format!("{} restarts", pod.restarts));
                    if let Some(t) = &pod.last_terminated {
                        let ago = t.finished_secs_ago.map(|s| format!(" {} ago", short_age(s))).unwrap_or_default();
                        bits.push(format!("last terminated {} (exit {}){ago}", t.reason, t.exit_code));
                    }
                }
                if !bits.is_empty() {
                    findings.push(format!("{name}: {} {}", pod.name, bits.join(", ")));
                    troubled.push(pod.name.clone());
                    if pod.restarts > 0 {
                        crashed.push(pod.name.clone());
                    }
                }
            }
        }
    }
    if let Some(l) = &r.logs {
        if l.status == Status::Warn {
            let per_pod: Vec<String> = l
                .pods
                .iter()
                .filter(|p| p.error_lines > 0)
                .map(|p| format!("{}{}: {}", p.pod, if p.previous { " (previous)" } else { "" }, p.error_lines))
                .collect();
            findings.push(format!(
                "{name}: {} error lines in the last {} ({})",
                l.error_lines,
                humantime::format_duration(std::time::Duration::from_secs(l.window_secs)),
                per_pod.join(", ")
            ));
            let mut top: Vec<&crate::report::ErrorGroup> = l.pods.iter().flat_map(|p| p.top_errors.iter()).collect();
            top.sort_by_key(|g| std::cmp::Reverse(g.count));
            if let Some(g) = top.first() {
                findings.push(format!("{name}: most frequent error ({}×): {}", g.count, g.example));
            }
        } else if l.status == Status::Error && r.pods.as_ref().is_none_or(|p| p.error.is_none()) {
            let why = l.error.as_ref().map_or("some logs could not be read".to_string(), |e| e.message.clone());
            findings.push(format!("{name}: logs not checked: {why}"));
        }
        if l.partial && l.status != Status::Error {
            findings.push(format!("{name}: logs partial: some pods' logs were cut short or could not be read"));
        }
    }

    let k = kubectl(plan, &r.context);
    let rb = &plan.runbook;
    let since = humantime::format_duration(window).to_string().replace(' ', "");
    let pods_bad = r.pods.as_ref().is_some_and(|p| matches!(p.status, Status::Warn | Status::Fail));
    let logs_bad = r.logs.as_ref().is_some_and(|l| l.status == Status::Warn);
    if pods_bad || logs_bad {
        let no_pods = r.pods.as_ref().is_some_and(|p| p.total == 0);
        if no_pods {
            next.push(format!("{name}: check the deployment and recent events: {k} get deploy,rs,events"));
        } else {
            next.push(format!(
                "{name}: read the logs: {k} logs -l {} -c {} --since={since}",
                shell_word(&rb.selector),
                shell_word(&rb.container)
            ));
        }
        for pod in crashed.iter().take(3) {
            next.push(format!(
                "{name}: logs of the crashed container: {k} logs {pod} -c {} --previous",
                shell_word(&rb.container)
            ));
        }
        for pod in troubled.iter().take(3) {
            next.push(format!("{name}: {k} describe pod {pod}"));
        }
        if let Some(link) = rb.guidance.logs.get(&name) {
            next.push(format!("{name}: logs in the logging service: {link}"));
        }
    }
    let problems = [r.pods.as_ref().and_then(|p| p.error.as_ref()), r.logs.as_ref().and_then(|l| l.error.as_ref())];
    if let Some(p) = problems.into_iter().flatten().next() {
        let fix = match p.kind {
            ProblemKind::Forbidden => format!(
                "ask for get and list on pods and get on pods/log in namespace {} for context {}",
                rb.namespace, r.context
            ),
            ProblemKind::ContextMissing => {
                format!("add context {} to your kubeconfig or pass --context {name}=CONTEXT", r.context)
            }
            ProblemKind::Unauthorized | ProblemKind::Kubeconfig => {
                format!("refresh your credentials for context {}", r.context)
            }
            _ => "check that the cluster is reachable from here".into(),
        };
        next.push(format!("{name}: could not be fully checked: {fix}; then re-run {} --region {name}", plan.rerun));
    }
    r.findings = findings;
    r.next_steps = next;
}

/// The service verdict with its summary, and the report-wide findings and
/// next steps.
pub fn explain(plan: &Plan, report: &mut Report) {
    for r in &mut report.regions {
        explain_region(plan, r);
    }
    let verdict = service_verdict(report.healthz.as_ref(), &report.regions, plan.all_regions && plan.steps.pods);
    let count = |v: Verdict| report.regions.iter().filter(|r| r.verdict == v).count();
    let n = report.regions.len();
    let mut parts = vec![];
    if let Some(h) = &report.healthz {
        parts.push(format!("healthz {}", h.status.as_str()));
    }
    for v in [Verdict::Healthy, Verdict::Degraded, Verdict::Down, Verdict::Unknown] {
        let c = count(v);
        if c > 0 {
            parts.push(format!("{c}/{n} regions {}", v.as_str()));
        }
    }
    let rb = &plan.runbook;
    let impact = (verdict == Verdict::Down).then(|| {
        rb.guidance.impact.clone().unwrap_or_else(|| {
            "Every application that generates or validates JWTs through the Key Service is failing.".into()
        })
    });
    report.service = ServiceVerdict { verdict, summary: parts.join(", "), impact };
    if report.partial {
        report.service.summary.push_str(" (partial: the run was cut short)");
    }

    let mut findings = vec![];
    if let Some(h) = &report.healthz
        && let Some(f) = healthz_finding(h)
    {
        findings.push(f);
    }
    for r in &report.regions {
        findings.extend(r.findings.iter().cloned());
    }
    let mut next = vec![];
    let hz_failing = report.healthz.as_ref().is_some_and(|h| h.status == Status::Fail)
        || report.regions.iter().any(|r| r.healthz.as_ref().is_some_and(|h| h.status == Status::Fail));
    let pods_checked = plan.steps.pods && !report.regions.is_empty();
    let pods_fine =
        pods_checked && report.regions.iter().all(|r| r.pods.as_ref().is_some_and(|p| p.status == Status::Pass));
    if hz_failing && pods_fine {
        let mut s = "Pods are healthy in every region but healthz fails: this points at networking or Kubernetes. Check whether other APIs fail the same way".to_string();
        if let Some(link) = &rb.guidance.other_apis {
            s.push_str(&format!(" ({link})"));
        }
        next.push(s);
        let mut tf =
            "If Kubernetes or the infrastructure underneath looks at fault, contact Technical Foundation".to_string();
        if let Some(link) = &rb.guidance.technical_foundation {
            tf.push_str(&format!(" ({link})"));
        }
        next.push(tf);
    } else if hz_failing && !pods_checked {
        next.push(format!("Healthz fails: check the pods and logs in every region: {}", diagnose_command(plan)));
    }
    for r in &report.regions {
        next.extend(r.next_steps.iter().cloned());
    }
    let every_step = plan.steps.healthz && plan.steps.pods && plan.steps.logs;
    if verdict == Verdict::Healthy && !every_step {
        next.push(format!(
            "The {} step passed; {} runs every step",
            plan.steps.names().join(" and "),
            diagnose_command(plan)
        ));
    } else if verdict == Verdict::Healthy {
        let mut s = "Every check passed. If the alert still fires, it may come from missing metrics: check that the metrics pipeline receives data from the service".to_string();
        if let Some(link) = rb.guidance.metrics.as_ref().or(rb.guidance.dashboard.as_ref()) {
            s.push_str(&format!(" ({link})"));
        }
        next.push(s);
    } else if let Some(d) = &rb.guidance.dashboard {
        next.push(format!("Dashboard of every region's pods: {d}"));
    }
    report.findings = findings;
    report.next_steps = next;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{LogsStep, PodsStep, Problem};

    fn region(healthz: Option<Status>, pods: Option<Status>, logs: Option<Status>) -> RegionReport {
        RegionReport {
            name: "r".into(),
            context: "c".into(),
            verdict: Verdict::Unknown,
            healthz: healthz.map(|s| HealthzCheck { status: s, ..crate::healthz::blank("u") }),
            pods: pods.map(|s| PodsStep {
                status: s,
                expected: 3,
                ready: 0,
                total: 0,
                restarts: 0,
                pods: vec![],
                note: None,
                error: (s == Status::Error).then(|| Problem::new(ProblemKind::Refused, "connection refused")),
                duration_ms: 0,
            }),
            logs: logs.map(|s| LogsStep { status: s, window_secs: 300, ..LogsStep::default() }),
            findings: vec![],
            next_steps: vec![],
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
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("keysvc-prod-us-south"), "keysvc-prod-us-south");
        assert_eq!(shell_word("app=api-key-service"), "app=api-key-service");
        assert_eq!(shell_word("a b'c"), "'a b'\\''c'");
    }
}
