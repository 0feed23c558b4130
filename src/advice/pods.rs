//! The region's pods as findings: how many are ready, and the pods in
//! trouble, those in the same state said once.

use super::remedy::not_checked_or_mismatch;
use super::words::{not_ready_reason, reads_fine_but_not_ready, status_words};
use super::{Advice, plural, real_problem};
use crate::evidence::pods::{restarted_within, short_age};
use crate::plan::{Plan, duration_word};
use crate::report::{Finding, FindingKind, PodInfo, PodsStep, RegionReport, Severity, Status};

/// The region's pods as findings. Returns the pods in trouble, for the steps
/// that look closer at them.
pub(super) fn findings<'r>(plan: &Plan, r: &'r RegionReport, a: &mut Advice) -> Vec<&'r PodInfo> {
    let Some(p) = &r.pods else { return vec![] };
    if let Some(e) = real_problem(p.error.as_ref()) {
        match e.kind {
            crate::report::ProblemKind::ContextMissing if a.contexts_missing => {}
            crate::report::ProblemKind::Interrupted => a.find(super::remedy::interrupted(r)),
            _ => a.find(not_checked_or_mismatch(plan, &r.name, "pods", e)),
        }
        return vec![];
    }
    if p.error.is_some() {
        return vec![];
    }
    if p.total == 0 {
        no_pods(&r.name, p, a);
    } else if p.ready < p.expected {
        too_few_ready(r, p, a);
    } else if p.ready > p.expected {
        // PODS READY shows ready/expected, as kubectl's READY does for a
        // Deployment: 4/3 is one more than expected, never a fault.
        let text = format!(
            "{}/{} pods ready: {} more than expected_ready ({}), during a rollout or with more replicas than the runbook expects",
            p.ready,
            p.expected,
            p.ready - p.expected,
            p.expected
        );
        a.find(Finding::new(Some(&r.name), FindingKind::MoreReady, Severity::Info, text).count(u64::from(p.ready)));
    }
    let Troubled { groups, pods } = troubled(plan, &r.name, p);
    for g in groups {
        say_group(r, g, a);
    }
    pods
}

fn no_pods(name: &str, p: &PodsStep, a: &mut Advice) {
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
}

fn too_few_ready(r: &RegionReport, p: &PodsStep, a: &mut Advice) {
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
            Some(&r.name),
            FindingKind::NotReady,
            severity,
            format!("{}/{} pods ready{why}", p.ready, p.expected),
        )
        .count(p.ready as u64),
    );
}

/// Pods in the same state, said as one finding: three identical lines per
/// region say less than one line naming the three pods.
struct PodGroup<'r> {
    /// The first pod's finding.
    finding: Finding,
    pods: Vec<&'r PodInfo>,
}

/// The pods with a finding: in groups, and in the order they were listed.
struct Troubled<'r> {
    groups: Vec<PodGroup<'r>>,
    pods: Vec<&'r PodInfo>,
}

fn troubled<'r>(plan: &Plan, name: &str, p: &'r PodsStep) -> Troubled<'r> {
    let mut groups: Vec<PodGroup> = vec![];
    let mut troubled: Vec<&PodInfo> = vec![];
    for pod in &p.pods {
        let Some(mut f) = pod_finding(name, pod, plan.logs.since) else { continue };
        if p.status == Status::Pass && f.kind == FindingKind::NotReady {
            f.severity = Severity::Info;
            f.text.push_str(&format!(
                " (less than not_ready_grace, {}, the others ready: a readiness probe flapping?)",
                duration_word(plan.runbook.not_ready_grace.0)
            ));
        }
        troubled.push(pod);
        match groups.iter_mut().find(|g| g.finding.kind == f.kind && status_words(g.pods[0]) == status_words(pod)) {
            Some(g) => g.pods.push(pod),
            None => groups.push(PodGroup { finding: f, pods: vec![pod] }),
        }
    }
    Troubled { groups, pods: troubled }
}

fn say_group(r: &RegionReport, g: PodGroup, a: &mut Advice) {
    let name = r.name.as_str();
    let PodGroup { finding: f, pods } = g;
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

pub(super) fn pod_finding(name: &str, pod: &PodInfo, window: std::time::Duration) -> Option<Finding> {
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
        if let Some(s) = pod.not_ready_secs_ago.filter(|_| reads_fine_but_not_ready(pod)) {
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
