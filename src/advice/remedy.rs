//! What to do about a problem that kept a step from being checked: the
//! remedy for each kind of problem, with the flag a re-run changes. Used by
//! the advice and by `doctor`.

use super::command::Kubectl;
use super::{Access, Advice, BeforeRerun, pods_forbidden};
use crate::plan::{Fix, Plan, duration_word};
use crate::report::{
    Finding, FindingKind, PluginFault, Problem, ProblemDetail, ProblemKind, RegionReport, Report, Severity,
};

/// What kept the region from being fully checked (its pods' problem, else
/// its logs'), and what to do about it: see [`super::steps::access`].
pub(super) fn region_access(plan: &Plan, r: &RegionReport, a: &mut Advice) {
    let Some(p) = first_problem(r) else { return };
    if a.contexts_missing && p.kind == ProblemKind::ContextMissing {
        return;
    }
    let (fix, flag) = fix(plan, r, p, &format!("context {}", r.context), a);
    // The same remedy worded for every region, to say once when every
    // region has it (the steps it would add before the re-run are the
    // region's own, added above).
    let (everywhere, _) = self::fix(plan, r, p, "each region's context", &mut Advice::default());
    let interrupted = p.kind == ProblemKind::Interrupted;
    a.access.push(Access { region: r.name.clone(), fix, flag, everywhere, interrupted });
}

/// What kept the region from being checked: its pods' problem, else its
/// logs' (placeholders are said on their own).
fn first_problem(r: &RegionReport) -> Option<&Problem> {
    let problems = [r.pods.as_ref().and_then(|p| p.error.as_ref()), r.logs.as_ref().and_then(|l| l.error.as_ref())];
    problems.into_iter().flatten().find(|p| p.kind != ProblemKind::Placeholder)
}

/// No region's context is in the kubeconfig (and none is a likely typo of
/// one there): one finding listing the kubeconfig's contexts once, and one
/// step, instead of the same words region by region.
pub(super) fn contexts_missing_everywhere(plan: &Plan, report: &Report, a: &mut Advice) {
    let missing: Option<Vec<(&RegionReport, &Problem)>> = report
        .regions
        .iter()
        .map(|r| {
            let p = first_problem(r).filter(|p| p.kind == ProblemKind::ContextMissing && !r.context.is_empty())?;
            let guess = crate::plan::context_guess(&r.context, &p.instead, &plan.taken_contexts(&r.name));
            guess.is_none().then_some((r, p))
        })
        .collect();
    let Some(missing) = missing.filter(|m| m.len() > 1) else { return };
    a.contexts_missing = true;
    let contexts: Vec<&str> = missing.iter().map(|(r, _)| r.context.as_str()).collect();
    let has = if missing[0].1.instead.is_empty() { "none".to_string() } else { missing[0].1.instead.join(", ") };
    let regions: Vec<String> = missing.iter().map(|(r, _)| r.name.clone()).collect();
    a.find(
        Finding::new(
            None,
            FindingKind::NotChecked,
            Severity::Warn,
            format!(
                "every region: pods not checked: no region's context is in the kubeconfig ({}; it has: {has})",
                contexts.join(", ")
            ),
        )
        .regions(regions),
    );
    let list = format!("`{}` lists yours", super::command::plan_contexts(plan).quoted());
    let from_flags = plan.regions.iter().all(|r| r.context_from == crate::plan::ContextFrom::Flag);
    let fix = if from_flags {
        format!("give each --context REGION=CONTEXT a context of your kubeconfig ({list}), or add those contexts to it")
    } else {
        format!(
            "set each region's environments.{}.regions.REGION.context of {} to a context of your kubeconfig ({list}), or add those contexts to it; --context REGION=CONTEXT overrides one for one run",
            plan.env, plan.runbook_name
        )
    };
    let text = format!("no region could be fully checked: {fix}{}", super::steps::then_rerun(&fix, false));
    a.step(super::steps::Priority::Access, None, text, None);
}

/// The remedy for one region's problem, and the flag a re-run changes;
/// `ctx` names the context it is for ("context oncall@us-east").
fn fix(plan: &Plan, r: &RegionReport, p: &Problem, ctx: &str, a: &mut Advice) -> (String, Option<Fix>) {
    let rb = &plan.runbook;
    let name = r.name.as_str();
    match p.kind {
        ProblemKind::Forbidden => (forbidden_fix(plan, r, ctx), None),
        ProblemKind::ContextMissing => {
            let (fix, flag) = context_fix(plan, name, &r.context, p);
            (fix, Some(flag))
        }
        ProblemKind::SameCluster => same_cluster_fix(plan, name, a),
        ProblemKind::Kubeconfig => kubeconfig_fix(p, ctx),
        ProblemKind::Unauthorized => (format!("refresh your credentials for {ctx}"), None),
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
        ProblemKind::Refused
        | ProblemKind::Reset
        | ProblemKind::Dns
        | ProblemKind::Tls
        | ProblemKind::Timeout
        | ProblemKind::Deadline => (network_fix(plan, r, p.kind, a), None),
        // Stopped by the user: nothing is wrong with the cluster.
        ProblemKind::Interrupted => ("the run was interrupted before it finished".into(), None),
        _ => ("check that the cluster is reachable from here".into(), None),
    }
}

/// Listing was forbidden: the permission to ask for, and, when the pods
/// could not be listed, that the namespace may not exist.
fn forbidden_fix(plan: &Plan, r: &RegionReport, ctx: &str) -> String {
    let rb = &plan.runbook;
    // The pods were listed: only their logs are missing.
    let pods_read = r.pods.as_ref().is_some_and(|pods| pods.error.is_none());
    let what = if pods_read { "get on pods/log" } else { "get and list on pods and get on pods/log" };
    let fix = format!("ask for {what} in namespace {} for {ctx}", rb.namespace);
    if !pods_forbidden(r) {
        return fix;
    }
    format!(
        "namespace {ns} may not exist, or this user may not read it (the API server refuses both alike): check {}; if it is right, {fix}",
        rb.key_at("namespace", &plan.runbook_name),
        ns = rb.namespace
    )
}

/// The region's context reaches another region's cluster: where to set its
/// own, and, before the re-run, the contexts to pick it from.
fn same_cluster_fix(plan: &Plan, name: &str, a: &mut Advice) -> (String, Option<Fix>) {
    let from_flag = plan.regions.iter().any(|p| p.name == name && p.context_from == crate::plan::ContextFrom::Flag);
    let fix = if from_flag {
        format!("pass --context {name}=CONTEXT with a context of {name}'s own cluster")
    } else {
        format!(
            "set environments.{}.regions.{name}.context in {} to a context of {name}'s own cluster, or pass --context {name}=CONTEXT",
            plan.env, plan.runbook_name
        )
    };
    // Which cluster each context names, to pick the right one.
    a.before_rerun.push(BeforeRerun {
        region: name.to_string(),
        text: "the contexts in your kubeconfig and the cluster each names".into(),
        command: super::command::plan_contexts(plan),
    });
    (fix, Some(Fix::Context { region: name.to_string(), context: None }))
}

/// The API server cannot be reached: what that means, and, before the
/// re-run, the command that shows whether it answers.
fn network_fix(plan: &Plan, r: &RegionReport, kind: ProblemKind, a: &mut Advice) -> String {
    let what = match kind {
        ProblemKind::Refused => {
            "nothing accepts connections at its API server's address: the API server is down, or the kubeconfig names the wrong address"
        }
        ProblemKind::Reset => "its API server, or something on the way, closed the connection",
        ProblemKind::Dns => "its API server's host name does not resolve here (VPN, DNS)",
        ProblemKind::Tls => "TLS with its API server failed: the kubeconfig's CA, or another server at that address",
        _ => {
            "its API server did not answer within --timeout: it hangs or is overloaded, or the way to it (VPN, proxy, firewall) drops the traffic"
        }
    };
    // kubectl's own request timeout: a server that hangs must
    // not hang the command pasted to look at it.
    a.before_rerun.push(BeforeRerun {
        region: r.name.clone(),
        text: format!("see whether the API server of context {} answers (\"ok\" when it is ready)", r.context),
        command: Kubectl::cluster(plan, &r.context).read(&["get", "--raw", "/readyz", "--request-timeout=5s"]),
    });
    what.to_string()
}

/// What to do about a kubeconfig problem: the one table of remedies, from
/// the problem's detail, that the advice and `doctor` word each their way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy<'p> {
    /// This file cannot be read as a kubeconfig: fix or replace it.
    ReplaceKubeconfig(&'p str),
    /// No kubeconfig to read: point at one.
    PointAtKubeconfig,
    /// The credential plugin is at fault: install it, or do what it says.
    Plugin(&'p PluginFault),
    /// The credentials could not be had: renew them.
    RenewCredentials,
    /// The context's entry cannot be used: fix it.
    FixContextEntry,
    /// Nothing more is known (the files could not be merged…).
    Unknown,
}

/// The remedy for a kubeconfig problem.
pub fn kubeconfig_remedy(p: &Problem) -> Remedy<'_> {
    match &p.detail {
        ProblemDetail::KubeconfigUnreadable { file } => Remedy::ReplaceKubeconfig(file),
        ProblemDetail::KubeconfigMissing => Remedy::PointAtKubeconfig,
        ProblemDetail::Plugin(fault) => Remedy::Plugin(fault),
        ProblemDetail::Credentials => Remedy::RenewCredentials,
        ProblemDetail::ContextUnusable => Remedy::FixContextEntry,
        _ => Remedy::Unknown,
    }
}

/// A kubeconfig problem's remedy as the advice says it, with the flag a
/// re-run changes; `ctx` names the context ("context oncall@us-east").
fn kubeconfig_fix(p: &Problem, ctx: &str) -> (String, Option<Fix>) {
    match kubeconfig_remedy(p) {
        Remedy::ReplaceKubeconfig(file) => (
            format!(
                "fix or replace the kubeconfig {file} (it cannot be read as a kubeconfig), or pass --kubeconfig FILE"
            ),
            Some(Fix::Kubeconfig),
        ),
        Remedy::PointAtKubeconfig => {
            ("pass --kubeconfig FILE or set KUBECONFIG to your kubeconfig".to_string(), Some(Fix::Kubeconfig))
        }
        Remedy::Plugin(fault) => (plugin_fix(fault, ctx), None),
        Remedy::RenewCredentials | Remedy::FixContextEntry | Remedy::Unknown => {
            (format!("refresh your credentials for {ctx}"), None)
        }
    }
}

/// What to do about a credential plugin that failed: install a missing one;
/// do what a failing one said (its message is in the finding). `ctx` names
/// the context ("context oncall@us-east").
pub fn plugin_fix(fault: &PluginFault, ctx: &str) -> String {
    match fault {
        PluginFault::NotFound(c) => format!(
            "install the credential plugin {c} (or put it on PATH, or fix user.exec.command in the kubeconfig) for {ctx}"
        ),
        PluginFault::Failed(c) => {
            format!("do what the credential plugin {c} says (sign in again?) for {ctx}")
        }
    }
}

/// A longer `--timeout` for a run the API server throttled to its end:
/// double the run's, and a minute at least.
pub(super) fn longer_timeout(timeout: std::time::Duration) -> std::time::Duration {
    (timeout * 2).max(std::time::Duration::from_secs(60))
}

/// What to do about a region's context that is not in the kubeconfig: the
/// likely one when the name is a typo of one there, and the fix where the
/// wrong name came from (the runbook's key and line, or `--context`). The
/// re-run overrides the context with the likely one, or `CONTEXT`.
pub(super) fn context_fix(plan: &Plan, region: &str, context: &str, p: &Problem) -> (String, Fix) {
    let guess = crate::plan::context_guess(context, &p.instead, &plan.taken_contexts(region)).map(str::to_string);
    let from = plan.regions.iter().find(|r| r.name == region).map(|r| r.context_from.clone()).unwrap_or_default();
    let contexts = super::command::plan_contexts(plan).quoted();
    let text = from.fix(&plan.runbook_name, region, context, guess.as_deref(), &contexts);
    (text, Fix::Context { region: region.to_string(), context: guess })
}

/// A region the run was interrupted in: what did not finish there, every
/// step of it named alike (the table names one, the finding all).
pub(super) fn interrupted(r: &RegionReport) -> Finding {
    let cut = |p: Option<&Problem>| p.is_some_and(|p| p.kind == ProblemKind::Interrupted);
    let steps: Vec<&str> = [
        (cut(r.pods.as_ref().and_then(|p| p.error.as_ref())), "listing pods"),
        (cut(r.logs.as_ref().and_then(|l| l.error.as_ref())), "reading logs"),
    ]
    .into_iter()
    .filter_map(|(c, what)| c.then_some(what))
    .collect();
    Finding::new(
        Some(&r.name),
        FindingKind::NotChecked,
        Severity::Warn,
        format!("not checked: the run was interrupted before {} finished", steps.join(" and ")),
    )
}

/// A step not checked; when the runbook names what the cluster lacks, a
/// finding about the runbook, with the key and line to fix.
pub(super) fn not_checked_or_mismatch(plan: &Plan, region: &str, what: &str, p: &Problem) -> Finding {
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
pub(super) fn runbook_fix(plan: &Plan, p: &Problem) -> String {
    let rb = &plan.runbook;
    let (key, value) = match p.detail {
        ProblemDetail::NoSuchContainer { .. } => ("container", &rb.container),
        _ => ("selector", &rb.selector),
    };
    let mut fix = format!("fix {}", rb.key_at(key, &plan.runbook_name));
    let better = match key {
        "selector" => crate::runbook::selector_did_you_mean(value, &p.instead),
        _ => crate::runbook::did_you_mean(value, &p.instead).map(str::to_string),
    };
    if let Some(better) = better {
        fix.push_str(&format!(": did you mean {better}?"));
    } else if key == "container" && !p.instead.is_empty() {
        fix.push_str(&format!(" to one of {}", p.instead.join(", ")));
    }
    fix
}

pub(super) fn not_checked(region: &str, what: &str, p: &Problem) -> Finding {
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
