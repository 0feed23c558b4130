//! Nothing answered from here (see `judge::reach`): one finding that says
//! what got no reply and that it looks like this machine's network, VPN or
//! kubeconfig rather than an outage, and the step to check this machine's
//! access first, with `doctor`, which checks it piece by piece.

use super::Advice;
use super::steps::Priority;
use crate::plan::Plan;
use crate::report::{Finding, FindingKind, Problem, ProblemDetail, ProblemKind, Report, Severity};

pub(super) fn nothing_reached(plan: &Plan, report: &Report, a: &mut Advice) {
    let Some(env) = report.healthz.as_ref().filter(|_| crate::judge::reach::unreached(report)) else { return };
    let why = env.error.as_ref().map_or_else(String::new, |e| format!(" ({})", e.message));
    let mut text = format!("nothing answered from this machine: healthz {} got no reply{why}", env.url);
    if !report.peers.is_empty() {
        let names: Vec<&str> = report.peers.iter().map(|p| p.name.as_str()).collect();
        text.push_str(&format!(", nor did the other APIs probed ({})", names.join(", ")));
    }
    let problems: Vec<&Problem> =
        report.regions.iter().filter_map(|r| r.pods.as_ref().and_then(|p| p.error.as_ref())).collect();
    let mut reasons: Vec<&str> = vec![];
    for p in &problems {
        let r = reason(p);
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    if !problems.is_empty() {
        let which = if report.regions.len() == 1 { "the region's cluster" } else { "no region's cluster" };
        let could = if report.regions.len() == 1 { "could not be checked" } else { "could be checked" };
        text.push_str(&format!(", and {which} {could} ({})", reasons.join("; ")));
    }
    // No cluster was to be checked (the `healthz` command): no kubeconfig to blame.
    let mine = if problems.is_empty() { "network or VPN" } else { "network, VPN or kubeconfig" };
    text.push_str(&format!(
        ": this looks like this machine's {mine} rather than an outage; whether {} is down cannot be told from here",
        plan.runbook.service
    ));
    text.push_str(&alive(plan, report));
    let regions = report.regions.iter().map(|r| r.name.clone()).collect();
    a.find(Finding::new(None, FindingKind::NothingReached, Severity::Warn, text).regions(regions));

    let host = reqwest::Url::parse(&env.url).ok().and_then(|u| u.host_str().map(str::to_string));
    let network = match host {
        Some(h) => format!("the VPN or network that reaches {h}"),
        None => "the VPN or network the environment needs".to_string(),
    };
    let kubeconfig = if problems.is_empty() { "" } else { ", and a kubeconfig with the environment's contexts" };
    a.step(
        Priority::Reach,
        None,
        format!("Check this machine's access first: {network}{kubeconfig}; doctor checks each from here"),
        super::command::rerun(plan, "doctor", None, None),
    );
}

/// The metrics provider answering from here with data from the regions'
/// pods: they are alive, and the service's own endpoints are what this
/// machine cannot reach (a private network, most likely).
fn alive(plan: &Plan, report: &Report) -> String {
    let (Some(t), Some(step)) = (&plan.telemetry, report.telemetry.as_ref()) else { return String::new() };
    let with = report.regions.iter().filter(|r| r.telemetry.as_ref().is_some_and(|t| t.present())).count();
    if !step.configured || step.error.is_some() || with == 0 {
        return String::new();
    }
    format!(
        "; yet {} answers from here, with data from the pods of {with}/{} regions: they are alive",
        t.provider.display(),
        report.regions.len()
    )
}

/// Why a region's cluster could not be checked, in a few words.
fn reason(p: &Problem) -> &'static str {
    match (p.kind, &p.detail) {
        (ProblemKind::ContextMissing, ProblemDetail::NoContext) => "no context",
        (ProblemKind::ContextMissing, _) => "context not in the kubeconfig",
        (ProblemKind::Kubeconfig, ProblemDetail::Credentials | ProblemDetail::Plugin(_)) => "no credentials",
        (ProblemKind::Kubeconfig, _) => "kubeconfig not usable",
        (ProblemKind::Unauthorized, _) => "credentials refused",
        (ProblemKind::Forbidden, _) => "no permission",
        (ProblemKind::Placeholder, _) => "placeholder context",
        (ProblemKind::SameCluster, _) => "another region's cluster",
        _ => "API server not answering from here",
    }
}
