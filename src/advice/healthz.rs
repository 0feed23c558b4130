//! Healthz as findings: a failing check, a reply that answers as operational
//! but is not the service's, and what a failing healthz means given the pods
//! and the other APIs (the platform, the way in, or the service).

use super::steps::Priority;
use super::{Advice, link};
use crate::plan::Plan;
use crate::report::{
    Finding, FindingKind, HealthzCheck, ProblemDetail, ProblemKind, RegionReport, Report, Severity, Status, StepCommand,
};

pub(super) fn healthz(plan: &Plan, report: &Report, a: &mut Advice) {
    let checks = report
        .healthz
        .iter()
        .map(|h| (None, h))
        .chain(report.regions.iter().filter_map(|r| r.healthz.as_ref().map(|h| (Some(r.name.as_str()), h))));
    for (region, h) in checks {
        check(plan, region, h, a);
    }
    answering_without_pods(plan, report, a);
    for r in &report.regions {
        regional_healthz_failing(plan, r, a);
    }
    if let Some(env) = report.healthz.as_ref().filter(|h| h.status == Status::Fail) {
        failing(plan, report, env, a);
    }
}

/// One healthz check's own finding: failed, answering wrongly, or not checked.
fn check(plan: &Plan, region: Option<&str>, h: &HealthzCheck, a: &mut Advice) {
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
        // Placeholders, and nothing answering from here, have findings of their own.
        Status::Error
            if h.error
                .as_ref()
                .is_some_and(|e| e.kind != ProblemKind::Placeholder && e.detail != ProblemDetail::NothingReached) =>
        {
            let why = h.error.as_ref().map_or_else(String::new, |e| e.message.clone());
            a.find(Finding::new(region, FindingKind::NotChecked, Severity::Warn, format!("{what} {}: {why}", h.url)));
        }
        _ => {}
    }
}

/// What the pods were seen to be, in every region, when healthz fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodsSeen {
    /// Not listed (the pods step did not run, or no region).
    NotChecked,
    /// Every region's pods passed.
    AllFine,
    /// Listed everywhere, and none is ready anywhere.
    NoneReady,
    /// Some region's pods are in trouble.
    SomeInTrouble,
}

fn pods_seen(plan: &Plan, report: &Report) -> PodsSeen {
    let checked = plan.steps.pods && !report.regions.is_empty();
    if !checked {
        PodsSeen::NotChecked
    } else if report.regions.iter().all(|r| r.pods.as_ref().is_some_and(|p| p.status == Status::Pass)) {
        PodsSeen::AllFine
    } else if none_ready_anywhere(plan, report) {
        PodsSeen::NoneReady
    } else {
        PodsSeen::SomeInTrouble
    }
}

/// The environment's healthz fails: other APIs tell a platform outage from
/// the service's own way in; the pods tell the way in from the service.
fn failing(plan: &Plan, report: &Report, env: &HealthzCheck, a: &mut Advice) {
    if platform_outage(plan, report, a) {
        return;
    }
    let peers = &report.peers;
    match pods_seen(plan, report) {
        PodsSeen::AllFine => route_failing(plan, report, a),
        PodsSeen::NotChecked => a.step(
            Priority::Region,
            None,
            "Healthz fails: check the pods and logs in every region",
            super::command::rerun(plan, "diagnose", None, None),
        ),
        // Nothing is running: that is why healthz fails. The way in, other
        // APIs and what answers on the URL are beside the point until the
        // regions' own steps get pods running.
        PodsSeen::NoneReady => return,
        // Some region's pods are in trouble too, but unless none is ready
        // anywhere they do not explain a failing healthz on their own:
        // whether other APIs fail as well still tells platform from service.
        PodsSeen::SomeInTrouble if peers.is_empty() => {
            let mut s = "Healthz fails: check whether other APIs fail the same way".to_string();
            if let Some(link) = link(&plan.runbook.guidance.other_apis) {
                s.push_str(&format!(" ({link})"));
            }
            s.push_str("; the runbook's `peers` would let this tool check them for you");
            a.step(Priority::Route, None, s, None);
        }
        PodsSeen::SomeInTrouble => {}
    }
    // Whatever else is wrong, what answers on the healthz URL is worth seeing.
    a.step(
        Priority::Route,
        None,
        "See what answers on the healthz URL (route, ingress, load balancer)",
        Some(curl(&curl_url(plan, None, &env.url))),
    );
}

/// Most other APIs fail too: a platform outage (true), said as such. A few
/// failing are information.
fn platform_outage(plan: &Plan, report: &Report, a: &mut Advice) -> bool {
    let peers = &report.peers;
    let down: Vec<&str> = peers.iter().filter(|p| !p.up).map(|p| p.name.as_str()).collect();
    if !peers.is_empty() && down.len() * 2 > peers.len() {
        a.find(
            Finding::new(
                None,
                FindingKind::PlatformOutage,
                Severity::Fail,
                format!(
                    "{}/{} other APIs fail too ({}): a platform or network outage, not the {} alone",
                    down.len(),
                    peers.len(),
                    down.join(", "),
                    plan.runbook.service
                ),
            )
            .count(down.len() as u64),
        );
        a.step(Priority::Platform, None, format!("{} first: other APIs fail the same way", platform_team(plan)), None);
        return true;
    }
    if !down.is_empty() {
        a.find(Finding::new(
            None,
            FindingKind::HealthzFailed,
            Severity::Info,
            format!("{}/{} other APIs fail too ({})", down.len(), peers.len(), down.join(", ")),
        ));
    }
    false
}

/// Every region's pods are ready while healthz fails: the way in.
fn route_failing(plan: &Plan, report: &Report, a: &mut Advice) {
    let peers = &report.peers;
    let up = peers.iter().filter(|p| p.up).count();
    let peers_note =
        if peers.is_empty() { String::new() } else { format!("{up}/{} other APIs answer and ", peers.len()) };
    a.find(Finding::new(
        None,
        FindingKind::ServiceUnreachable,
        Severity::Fail,
        format!(
            "{peers_note}every region's pods are ready, but healthz fails: the route, ingress or network path to {} is failing",
            plan.runbook.service
        ),
    ));
    if peers.is_empty() {
        let mut s = "Check whether other APIs fail the same way".to_string();
        if let Some(link) = link(&plan.runbook.guidance.other_apis) {
            s.push_str(&format!(" ({link})"));
        }
        s.push_str("; if they do, it is the platform or the network");
        a.step(Priority::Route, None, s, None);
    }
    a.step(
        Priority::Route,
        None,
        format!("{} if Kubernetes or the infrastructure underneath looks at fault", platform_team(plan)),
        None,
    );
}

/// The URL word of a `curl` command for a healthz check shown as `shown`:
/// a URL with credentials comes from an environment variable, since the
/// report does not show them (`--healthz-url`'s own `KEYSVC_HEALTHZ_URL`
/// for the environment's).
pub(super) fn curl_url(plan: &Plan, region: Option<&str>, shown: &str) -> String {
    let raw = match region {
        None => Some(plan.healthz_url.as_str()),
        Some(name) => plan.regions.iter().find(|r| r.name == name).and_then(|r| r.healthz_url.as_deref()),
    };
    match (raw, region) {
        (Some(u), None) if crate::mask::url_has_secret(u) => {
            crate::shell::env_word("KEYSVC_HEALTHZ_URL", crate::plan::HEALTHZ_URL_HINT)
        }
        (Some(u), Some(name)) if crate::mask::url_has_secret(u) => {
            let var =
                format!("HEALTHZ_URL_{}", name.to_ascii_uppercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
            crate::shell::env_word(&var, &format!("set it to {name}'s healthz URL with its credentials"))
        }
        _ => shown.to_string(),
    }
}

/// `curl` showing the status, headers and body of what answers on `url`.
pub(super) fn curl(url: &str) -> StepCommand {
    StepCommand::reads(["curl", "-sS", "-i", "--max-time", "10", url])
}

/// "Contact the platform/infrastructure team (link)": generic words, the
/// runbook's `guidance.platform` link when it gives one.
pub(super) fn platform_team(plan: &Plan) -> String {
    let mut s = "Contact the platform/infrastructure team".to_string();
    if let Some(link) = link(&plan.runbook.guidance.platform) {
        s.push_str(&format!(" ({link})"));
    }
    s
}

/// Every region of the environment had its pods listed, and none has a
/// ready pod: nothing of the service is running.
pub(super) fn none_ready_anywhere(plan: &Plan, report: &Report) -> bool {
    plan.all_regions
        && plan.steps.pods
        && !report.regions.is_empty()
        && report.regions.iter().all(|r| r.pods.as_ref().is_some_and(|p| p.error.is_none() && p.ready == 0))
}

/// A healthz reply with an unrendered template: the service answers, from a
/// deployment whose configuration was never filled in.
pub(super) fn misconfigured(plan: &Plan, region: Option<&str>, what: &str, h: &HealthzCheck, a: &mut Advice) {
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
pub(super) fn answering_without_pods(plan: &Plan, report: &Report, a: &mut Advice) {
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
pub(super) fn regional_healthz_failing(plan: &Plan, r: &RegionReport, a: &mut Advice) {
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
            format!("{} if the region's ingress, load balancer or network looks at fault", platform_team(plan)),
            None,
        );
    } else if pods.is_some_and(|p| p.ready == 0) {
        // Nothing runs in the region: that is why its healthz fails.
    } else {
        a.step(Priority::Route, Some(name), WHAT_ANSWERS_IN_REGION, Some(curl(&curl_url(plan, Some(name), &h.url))));
    }
}

pub(super) const WHAT_ANSWERS_IN_REGION: &str =
    "see what answers on the regional healthz URL (the region's route, ingress, load balancer)";
