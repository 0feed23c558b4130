//! Next steps: what to look at in a region in trouble, what to fix before a
//! re-run, the closing step, and the order they are listed in.

use super::command::rerun;
use super::words::scaled_to_zero;
use super::{Access, Advice, Kubectl, forbidden, link, pods_forbidden};
use crate::plan::Plan;
use crate::report::{
    Finding, FindingKind, NextStep, PodInfo, ProblemDetail, ProblemKind, RegionReport, Report, Severity, Status,
    StepCommand, Verdict,
};
use crate::runbook::placeholder_url;

/// Where a next step sorts: its group (the service's steps by priority, or
/// [`Priority::Rollback`] for every region's own), the region's rank (the
/// worst verdict first) and place in the report, then its own priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct StepOrder {
    group: Priority,
    rank: u8,
    region: usize,
    priority: Priority,
}

/// What was seen of a region's pods and optional evidence, which decides
/// the steps that look closer at it.
struct RegionSeen<'r> {
    /// The pods were listed, and none matched.
    no_pods: bool,
    /// The Deployment and ReplicaSets were read (not forbidden).
    owners_read: bool,
    /// The Warning events were read (not forbidden).
    events_read: bool,
    /// Some were read: events or owners.
    evidence_tried: bool,
    /// The Deployment, when one was found.
    deployment: Option<&'r str>,
    /// Something was seen in the namespace: it exists.
    namespace_seen: bool,
    /// Reading a pod's logs was forbidden.
    logs_forbidden: bool,
}

impl<'r> RegionSeen<'r> {
    fn of(r: &'r RegionReport) -> RegionSeen<'r> {
        let logs_forbidden = [r.logs.as_ref().and_then(|l| l.error.as_ref())]
            .into_iter()
            .chain(r.logs.iter().flat_map(|l| l.pods.iter().map(|p| p.error.as_ref())))
            .flatten()
            .any(|p| p.kind == ProblemKind::Forbidden);
        RegionSeen {
            no_pods: r.pods.as_ref().is_some_and(|p| p.total == 0 && p.error.is_none()),
            owners_read: r.rollout.as_ref().is_some_and(|o| !forbidden(o.error.as_ref())),
            events_read: r.events.as_ref().is_some_and(|e| !forbidden(e.error.as_ref())),
            evidence_tried: r.rollout.is_some() || r.events.is_some(),
            deployment: r.rollout.as_ref().and_then(|o| o.deployment.as_deref()),
            namespace_seen: r.rollout.as_ref().is_some_and(|o| o.deployment.is_some())
                || r.events.as_ref().is_some_and(|e| !e.groups.is_empty()),
            logs_forbidden,
        }
    }
}

/// The steps that look closer at a region in trouble: where its pods went,
/// their logs, and why each troubled pod is in its state. Only what this
/// user was seen to be allowed to read; when the run did not read it (a
/// single step), diagnose will.
pub(super) fn region_steps(plan: &Plan, r: &RegionReport, troubled: &[&PodInfo], k: &Kubectl, a: &mut Advice) {
    let seen = RegionSeen::of(r);
    no_pods_steps(plan, r, &seen, k, a);
    if seen.no_pods {
        // Nothing to read logs of or describe.
    } else if seen.logs_forbidden {
        a.step(
            Priority::Region,
            Some(&r.name),
            format!(
                "read the logs: needs get on pods/log in namespace {} (context {})",
                plan.runbook.namespace, r.context
            ),
            None,
        );
    } else {
        logs_steps(plan, r, troubled, k, a);
    }
    describe_steps(r, troubled, k, a);
    if let Some(link) = plan.runbook.guidance.logs.get(&r.name).filter(|l| !placeholder_url(l)) {
        a.step(Priority::Region, Some(&r.name), format!("logs in the logging service: {link}"), None);
    }
}

/// No pods: every pod of the namespace with its labels, whether the
/// namespace exists, what the Deployment is doing, the Warning events.
fn no_pods_steps(plan: &Plan, r: &RegionReport, seen: &RegionSeen, k: &Kubectl, a: &mut Advice) {
    let rb = &plan.runbook;
    let name = r.name.as_str();
    // Every pod of the namespace with its labels: what anyone who may
    // list pods can run, and where a selector that no longer matches
    // shows at once. Not when the Deployment says why there are none.
    if seen.no_pods && scaled_to_zero(r).is_none() {
        let empty = if seen.owners_read && seen.deployment.is_none() {
            ", and no Deployment or ReplicaSet does either"
        } else {
            ""
        };
        let needs = if seen.evidence_tried && !seen.owners_read {
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
            Some(k.read(&["get", "pods", "--show-labels"])),
        );
    }
    namespace_step(plan, r, seen, a);
    if seen.no_pods && seen.owners_read && seen.deployment.is_some() && scaled_to_zero(r).is_none() {
        a.step(
            Priority::Region,
            Some(name),
            "No pods: see what the deployment is doing",
            Some(k.read(&["get", "deploy,rs"])),
        );
    } else if seen.no_pods && !seen.evidence_tried {
        a.step(
            Priority::Region,
            Some(name),
            "No pods: diagnose reads the Deployment and the Warning events, where you are allowed to",
            rerun(plan, "diagnose", Some(name), None),
        );
    }
    // Only when there are some to see: an empty list says nothing.
    let events_seen = r.events.as_ref().is_some_and(|e| !e.groups.is_empty());
    if seen.no_pods && seen.events_read && events_seen {
        a.step(
            Priority::Region,
            Some(name),
            "Warning events in the namespace, newest last",
            Some(k.read(&["get", "events", "--field-selector", "type=Warning", "--sort-by=.lastTimestamp"])),
        );
    }
}

/// When nothing was seen in the namespace, whether it exists (a Deployment
/// or Warning events read there say it does): the way to tell, and with
/// whose rights when this user was refused.
fn namespace_step(plan: &Plan, r: &RegionReport, seen: &RegionSeen, a: &mut Advice) {
    let Some(p) = r.pods.as_ref().and_then(|p| p.namespace_unchecked.as_ref()).filter(|_| !seen.namespace_seen) else {
        return;
    };
    let ns = &plan.runbook.namespace;
    let command = Kubectl::cluster(plan, &r.context).read(&["get", "namespace", ns]);
    if p.kind == ProblemKind::Forbidden {
        // Another context is needed, which only the user can name: said in
        // words, not as a command that fails as written.
        let text = format!(
            "Whether namespace {ns} exists: {} may not get namespaces; ask someone whose context of {}'s cluster may to run: kubectl get namespace {ns}",
            r.context, r.name
        );
        a.step(Priority::Region, Some(&r.name), text, None);
    } else {
        a.step(Priority::Region, Some(&r.name), format!("Whether namespace {ns} exists"), Some(command));
    }
}

/// The containers a region's pods were seen to have, when they lack the
/// runbook's `container`.
pub(super) fn containers_instead(r: &RegionReport) -> Option<&Vec<String>> {
    let logs = r.logs.as_ref();
    logs.and_then(|l| l.error.as_ref())
        .into_iter()
        .chain(logs.into_iter().flat_map(|l| l.pods.iter().filter_map(|p| p.error.as_ref())))
        .find_map(|p| match &p.detail {
            ProblemDetail::NoSuchContainer { containers } => Some(containers),
            _ => None,
        })
}

/// The container the region's `kubectl logs` commands name: the runbook's,
/// unless its pods were seen to lack it; then the likely one (a near name),
/// or the pods' only container. `Err` with the containers they have when
/// only the user can tell which is meant.
fn logs_container(plan: &Plan, r: &RegionReport) -> Result<String, Vec<String>> {
    let container = &plan.runbook.container;
    let Some(has) = containers_instead(r) else { return Ok(container.clone()) };
    match (crate::runbook::did_you_mean(container, has), has.as_slice()) {
        (Some(likely), _) => Ok(likely.to_string()),
        (None, [only]) => Ok(only.clone()),
        _ => Err(has.clone()),
    }
}

/// The logs of every pod, and of one crashed container.
fn logs_steps(plan: &Plan, r: &RegionReport, troubled: &[&PodInfo], k: &Kubectl, a: &mut Advice) {
    let rb = &plan.runbook;
    let name = r.name.as_str();
    let container = match logs_container(plan, r) {
        Ok(c) => c,
        Err(has) => {
            // Which container is meant only the user can tell: said, with
            // no command naming the one the pods lack.
            let text = format!(
                "read the logs of every pod: they have no container `{}` (they have: {}); name the one to read with kubectl logs -c",
                rb.container,
                has.join(", ")
            );
            a.step(Priority::Region, Some(name), text, None);
            return;
        }
    };
    let since = format!("--since={}", crate::duration::format_duration(plan.logs.since));
    let after_logs = plan.rerun.verb == "logs";
    let pods = r.pods.as_ref().map_or(&[][..], |p| p.pods.as_slice());
    // Every pod's current container waits to restart: only the crashed
    // ones have logged anything, and kubectl reads them by selector too.
    let all_waiting = !pods.is_empty() && pods.iter().all(|p| p.crash_looping && p.restarts > 0);
    // Not after `logs`, which has just shown them.
    if all_waiting && !(after_logs && pods.iter().all(|p| previous_read(r, &p.name))) {
        a.step(
            Priority::Region,
            Some(name),
            "read the logs of every pod's previous (crashed) container: the current ones are waiting to restart",
            Some(every_pods_logs(k, &rb.selector, &container, "--previous")),
        );
        return;
    }
    if all_waiting {
        return;
    }
    if !after_logs {
        a.step(
            Priority::Region,
            Some(name),
            "read the logs of every pod",
            Some(every_pods_logs(k, &rb.selector, &container, &since)),
        );
    }
    // One crashed container's logs: pods crashing alike say the same. Not
    // after `logs`, which has just shown the ones it read.
    let crashed: Vec<&&PodInfo> =
        troubled.iter().filter(|p| p.restarts > 0 && !(after_logs && previous_read(r, &p.name))).collect();
    if let Some(pod) = crashed.first() {
        let more =
            if crashed.len() > 1 { format!(" ({} more crashed alike)", crashed.len() - 1) } else { String::new() };
        a.step(
            Priority::Region,
            Some(name),
            format!("logs of {}'s crashed container{more}", pod.name),
            Some(k.read(&["logs", &pod.name, "-c", &container, "--previous"])),
        );
    }
}

/// `kubectl logs` of every pod the selector matches, `which` (`--previous`,
/// `--since=5m`). `--tail=-1`: with a selector kubectl shows only 10 lines
/// a pod unless told otherwise. `--prefix --ignore-errors`: names each
/// pod, and goes on past a container waiting to restart.
fn every_pods_logs(k: &Kubectl, selector: &str, container: &str, which: &str) -> StepCommand {
    k.read(&["logs", "-l", selector, "-c", container, which, "--tail=-1", "--prefix", "--ignore-errors"])
}

/// The run read `pod`'s previous (crashed) container's logs.
fn previous_read(r: &RegionReport, pod: &str) -> bool {
    r.logs.as_ref().is_some_and(|l| l.pods.iter().any(|p| p.pod == pod && p.previous && p.error.is_none()))
}

/// One `describe` per distinct state: the pods in one state share a cause.
fn describe_steps(r: &RegionReport, troubled: &[&PodInfo], k: &Kubectl, a: &mut Advice) {
    let events_note = if forbidden(r.events.as_ref().and_then(|e| e.error.as_ref())) {
        " (its Events section will be empty: listing events needs a permission this user lacks)"
    } else {
        ""
    };
    let mut described: Vec<String> = vec![];
    for pod in troubled {
        let state = super::words::status_words(pod);
        if described.contains(&state) {
            continue;
        }
        described.push(state.clone());
        a.step(
            Priority::Region,
            Some(&r.name),
            format!("why {} is {state}{events_note}", pod.name),
            Some(k.read(&["describe", "pod", &pod.name])),
        );
    }
}

/// How urgent a next step is: the report lists them in this order, but for
/// the steps of a region (its rollback, its way in, its own trouble), which
/// come region by region, the worst region first (see [`step_order`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Priority {
    /// Nothing can be checked until the runbook is finished.
    Configure,
    /// Nothing answered from here: this machine's access first.
    Reach,
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
    /// The metrics provider lacks data: the query, what sends the data.
    Telemetry,
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
pub(super) fn step_order(report: &Report, p: Priority, step: &NextStep) -> StepOrder {
    let region = step.region.as_deref().and_then(|name| report.regions.iter().position(|r| r.name == name));
    let order = |group, rank, region| StepOrder { group, rank, region, priority: p };
    match (p, region) {
        (Priority::Rollback | Priority::Route | Priority::Region, Some(i)) => {
            let rank = match report.regions[i].verdict {
                Verdict::Down => 0,
                Verdict::Degraded => 1,
                Verdict::Unknown => 2,
                Verdict::Healthy => 3,
            };
            order(Priority::Rollback, rank, i)
        }
        // The service's route comes before every region's steps.
        (Priority::Route, None) => order(Priority::Shared, 4, 0),
        _ => order(p, 0, 0),
    }
}

pub(super) fn placeholders(plan: &Plan, a: &mut Advice) {
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
    let (file, command) = match (&plan.config_file, embedded) {
        (_, false) => (plan.runbook_name.clone(), None),
        (Some(path), true) => (
            format!("your own runbook (this writes one to {}, read from then on)", path.display()),
            Some(StepCommand::reads(["keysvc-check", "runbook", "init"])),
        ),
        // No home for the config file: a file of the user's choosing,
        // given with --runbook from then on.
        (None, true) => (
            "your own runbook (`keysvc-check runbook init FILE` writes one; give it with --runbook FILE)".to_string(),
            None,
        ),
    };
    a.step(
        Priority::Configure,
        None,
        format!(
            "Set your real values for {} in {file}; --healthz-url and --context REGION=CONTEXT override them for one run",
            keys.join(", ")
        ),
        command,
    );
}

/// The re-run step for each region that could not be fully checked; one,
/// about the whole run, when every region failed the same way (a kubeconfig
/// that cannot be used, a throttled run…).
pub(super) fn access(plan: &Plan, report: &Report, a: &mut Advice) {
    let access = std::mem::take(&mut a.access);
    let before = std::mem::take(&mut a.before_rerun);
    let steps_before = |a: &mut Advice, region: Option<&str>| {
        for b in before.iter().filter(|b| region.is_none_or(|r| r == b.region)) {
            a.step(Priority::Access, Some(&b.region), b.text.clone(), Some(b.command.clone()));
        }
    };
    let verb = plan.rerun.verb;
    let everywhere = report.regions.len() > 1
        && access.len() == report.regions.len()
        && access.iter().all(|x| (&x.everywhere, &x.flag) == (&access[0].everywhere, &access[0].flag));
    if everywhere {
        steps_before(a, None);
        let Access { everywhere: fix, flag, interrupted, .. } = &access[0];
        let command = rerun(plan, verb, None, flag.as_ref());
        let then = if *interrupted { rerun_only(command.is_some()) } else { then_rerun(fix, command.is_some()) };
        let text = format!("no region could be fully checked: {fix}{then}");
        a.step(Priority::Access, None, text, command);
        return;
    }
    for Access { region: name, fix, flag, interrupted, .. } in access {
        steps_before(a, Some(&name));
        let command = rerun(plan, verb, Some(&name), flag.as_ref());
        a.step(
            Priority::Access,
            Some(&name),
            format!(
                "could not be fully checked: {fix}{}",
                if interrupted { rerun_only(command.is_some()) } else { then_rerun(&fix, command.is_some()) }
            ),
            command,
        );
    }
}

/// "; re-run", after what needs no fix (an interrupted run), with or
/// without a command to show.
fn rerun_only(command: bool) -> &'static str {
    if command { "; re-run" } else { "; run keysvc-check again" }
}

/// "; then re-run", after a fix that may end in a question ("did you mean
/// …?"), or without a command to show.
pub(super) fn then_rerun(fix: &str, command: bool) -> &'static str {
    match (fix.ends_with('?'), command) {
        (true, true) => " Then re-run",
        (false, true) => "; then re-run",
        (true, false) => " Then run keysvc-check again",
        (false, false) => "; then run keysvc-check again",
    }
}

/// When the runbook's selector matched nothing: the namespace's pods with
/// their labels, once (the regions run the same Deployment). When listing
/// pods was forbidden: what the user may do in the namespace, once — nothing
/// at all there points at a namespace that does not exist.
pub(super) fn mismatch_steps(plan: &Plan, report: &Report, a: &mut Advice) {
    if let Some(r) = report.regions.iter().find(|r| pods_forbidden(r)) {
        a.step(
            Priority::Access,
            Some(&r.name),
            format!(
                "what you may do in namespace {}: if `pods` is not among the resources it lists, you have no permission there, or the namespace does not exist (compare with the namespace you know the service runs in)",
                plan.runbook.namespace
            ),
            Some(Kubectl::region(plan, &r.context).read(&["auth", "can-i", "--list"])),
        );
    }
    let selector = |r: &&RegionReport| {
        r.pods.as_ref().and_then(|p| p.error.as_ref()).is_some_and(|e| e.kind == ProblemKind::RunbookMismatch)
    };
    if let Some(r) = report.regions.iter().find(selector) {
        a.step(
            Priority::Region,
            Some(&r.name),
            format!(
                "the namespace's pods with their labels, to compare with the runbook's selector `{}`",
                plan.runbook.selector
            ),
            Some(Kubectl::region(plan, &r.context).read(&["get", "pods", "--show-labels"])),
        );
    }
}

pub(super) fn closing(plan: &Plan, report: &Report, a: &mut Advice) {
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
            format!("The {} step passed; diagnose runs every step", plan.step_names().join(" and "))
        };
        a.step(Priority::General, None, text, rerun(plan, "diagnose", None, None));
    } else if verdict == Verdict::Healthy {
        let unasked = report.telemetry.as_ref().is_some_and(|t| t.configured && t.error.is_some());
        let mut s = match (mismatch, unasked) {
            (true, _) => {
                "Every other check passed; healthz answered as operational, with the mismatch above".to_string()
            }
            (false, true) => "Every other check passed; the telemetry could not be checked (above)".to_string(),
            (false, false) => "Every check passed".to_string(),
        };
        if mismatch && unasked {
            s.push_str("; the telemetry could not be checked");
        }
        // With telemetry checked, the metrics side of the alert passed too.
        if !report.telemetry.as_ref().is_some_and(|t| t.configured && t.error.is_none()) {
            s.push_str(". If the alert still fires, it may come from missing metrics: check that the metrics pipeline receives data from the service");
            if let Some(link) = link(&rb.guidance.metrics).or(link(&rb.guidance.dashboard)) {
                s.push_str(&format!(" ({link})"));
            }
        }
        a.step(Priority::General, None, s, None);
    } else if let Some(d) = link(&rb.guidance.dashboard) {
        a.step(Priority::General, None, format!("Dashboard of every region's pods: {d}"), None);
    }
}
