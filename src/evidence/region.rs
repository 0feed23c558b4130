//! Running the steps against one region: list pods, then read each pod's
//! logs — the window and, at the same time, the baseline before it —
//! concurrently; for `diagnose`, the optional evidence (Warning events,
//! ReplicaSets and the Deployment) alongside. Failures are recorded in the
//! step results, never returned as errors; every call is bounded by the
//! run's deadline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, LogParams};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as TokioInstant;

use crate::doctor::PodsSeen;
use crate::evidence::events;
use crate::evidence::logs::{self, BaselineRead, Classifier, Flow, RegionTally, Tally};
use crate::evidence::pods;
use crate::evidence::rollout;
use crate::execute::progress::{RegionSink, Step};
use crate::kube::client;
use crate::kube::pushback::Pushback;
use crate::plan::{Plan, RegionPlan};
use crate::report::{
    EventsStep, LogsStep, PodBaseline, PodInfo, PodLogs, PodsStep, Problem, ProblemKind, RegionReport, RolloutFacts,
    Status, Verdict,
};
use crate::sanitize;

/// One log line on its way to the single writer.
#[derive(Debug)]
pub struct LogLine {
    pub region: String,
    pub pod: String,
    /// From the pod's previous (terminated) container.
    pub previous: bool,
    pub text: String,
    pub is_error: bool,
}

pub fn empty_region(r: &RegionPlan) -> RegionReport {
    RegionReport {
        name: r.name.clone(),
        context: r.context.clone(),
        verdict: Verdict::Unknown,
        healthz: None,
        pods: None,
        logs: None,
        events: None,
        rollout: None,
        retries: 0,
        retried_statuses: vec![],
        duration_ms: 0,
    }
}

pub fn failed_pods(expected: u32, p: Problem) -> PodsStep {
    PodsStep {
        status: Status::Error,
        expected,
        ready: 0,
        total: 0,
        restarts: 0,
        pods: vec![],
        note: None,
        namespace_unchecked: None,
        other_labels: vec![],
        error: Some(p),
        duration_ms: 0,
    }
}

pub fn failed_logs(plan: &Plan, p: Problem) -> LogsStep {
    LogsStep { status: Status::Error, partial: true, error: Some(p), ..logs_step(plan) }
}

/// A logs step with the window and the thresholds of `plan` and nothing read.
fn logs_step(plan: &Plan) -> LogsStep {
    let l = &plan.runbook.logs;
    LogsStep {
        window_secs: plan.logs.since.as_secs(),
        threshold: l.error_threshold,
        min_errors: l.min_errors.0,
        spike_factor: l.spike_factor.0,
        baseline_secs: l.baseline.0.as_secs(),
        ..LogsStep::default()
    }
}

fn rule(plan: &Plan) -> logs::Rule {
    let l = &plan.runbook.logs;
    logs::Rule { min_errors: l.min_errors.0, spike_factor: l.spike_factor.0, threshold: l.error_threshold }
}

/// Runs the Kubernetes steps of `plan` for one region, writing results into
/// `slot` as they finish so that a deadline or Ctrl-C keeps what is done.
pub async fn run_region(
    plan: Arc<Plan>,
    kubeconfig: Arc<client::Loaded>,
    region: RegionPlan,
    slot: Arc<Mutex<RegionReport>>,
    sink: Option<mpsc::Sender<LogLine>>,
    progress: RegionSink,
    deadline: TokioInstant,
) {
    let started = Instant::now();
    progress.step(Step::Connecting);
    let remaining = || deadline.saturating_duration_since(TokioInstant::now()).max(Duration::from_millis(1));
    // Every request the API server pushed back on and that went again is
    // counted in the slot at once, so a run cut short keeps the count.
    // The progress line shows the wait too.
    let counted = slot.clone();
    let told = progress.clone();
    let pushback = Pushback::new(deadline, move |status| {
        counted.lock().expect("slot").count_retry(status);
        told.retry(status);
    });
    let client = match client::client(&kubeconfig, &region.context, remaining(), pushback).await {
        Ok(c) => c,
        Err(p) => {
            let mut s = slot.lock().expect("slot");
            if plan.steps.pods {
                s.pods = Some(failed_pods(plan.runbook.expected_ready, p.clone()));
            }
            if plan.steps.logs {
                s.logs = Some(failed_logs(&plan, p.clone()));
            }
            if plan.steps.evidence {
                s.events = Some(failed_events(&plan, p.clone()));
                s.rollout = Some(failed_rollout(p));
            }
            progress.step(Step::Done);
            return;
        }
    };
    progress.step(Step::ListingPods);
    let server = client::server(&kubeconfig, &region.context);
    let cx = RegionRun { plan: &plan, region: &region, slot: &slot, deadline, started, progress: &progress, server };
    let (pods_seen, pods_rx) = oneshot::channel();
    let main = pods_and_logs(&cx, client.clone(), sink, pods_seen);
    if plan.steps.evidence {
        // Optional evidence starts with the pods list and never holds it up.
        let main = async {
            main.await;
            progress.step(Step::ReadingEvents);
        };
        tokio::join!(main, evidence(&cx, client, pods_rx));
    } else {
        main.await;
    }
    progress.step(Step::Done);
    slot.lock().expect("slot").duration_ms = started.elapsed().as_millis() as u64;
}

/// What the steps of one region share.
struct RegionRun<'a> {
    plan: &'a Arc<Plan>,
    region: &'a RegionPlan,
    slot: &'a Mutex<RegionReport>,
    deadline: TokioInstant,
    started: Instant,
    progress: &'a RegionSink,
    /// The cluster's API server, as the kubeconfig names it.
    server: Option<String>,
}

/// Warning events and the pods' owners. Both lists go out at once, next to
/// the pods list; events are picked out once the pods and ReplicaSets are
/// known, and the owning Deployment is one more get. Each lands in the slot
/// as soon as it is done.
async fn evidence(cx: &RegionRun<'_>, client: kube::Client, pods: oneshot::Receiver<rollout::PodRefs>) {
    let ns = &cx.plan.runbook.namespace;
    // A dropped sender means the pods could not be listed.
    let pods = async { pods.await.ok() }.shared();
    let rss = rollout::list_replica_sets(&client, ns, &cx.plan.runbook.selector, cx.deadline).shared();
    let started = Instant::now();
    let events_part = async {
        let (listed, pods, rss) = tokio::join!(events::list(&client, ns, cx.deadline), pods.clone(), rss.clone());
        let involved = events::Involved::new(pods.as_ref(), rss.as_ref().ok().map(|r| r.as_slice()));
        let step = events::step(listed, &involved, pods.is_some(), cx.plan.logs.since, Timestamp::now(), started);
        cx.slot.lock().expect("slot").events = Some(step);
    };
    let rollout_part = async {
        let (pods, rss) = tokio::join!(pods.clone(), rss.clone());
        let facts = rollout::read(&client, ns, pods.as_ref(), rss, cx.deadline, started).await;
        cx.slot.lock().expect("slot").rollout = Some(facts);
    };
    tokio::join!(events_part, rollout_part);
}

/// Lists the pods and reads their logs; tells `pods_seen` which pods there
/// are as soon as they are listed.
async fn pods_and_logs(
    cx: &RegionRun<'_>,
    client: kube::Client,
    sink: Option<mpsc::Sender<LogLine>>,
    pods_seen: oneshot::Sender<rollout::PodRefs>,
) {
    let plan = Arc::clone(cx.plan);
    let RegionRun { region, slot, deadline, started, .. } = *cx;
    let ns = plan.runbook.namespace.clone();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let list_started = Instant::now();
    let lp = ListParams::default().labels(&plan.runbook.selector);
    let listed = tokio::time::timeout_at(deadline, api.list(&lp)).await;
    // No answer by the deadline, whichever timer saw it first: said as
    // what it is, with the server that did not answer.
    let no_answer = || {
        let from = cx.server.as_deref().map_or_else(|| "the API server".to_string(), crate::mask::url);
        Problem::new(
            ProblemKind::Timeout,
            format!(
                "no answer from {from} to the pods list within {} (--timeout)",
                humantime::format_duration(plan.timeout)
            ),
        )
    };
    let pod_list = match listed {
        Err(_) => Err(no_answer()),
        Ok(Err(e)) => match client::problem(&e, "list", "pods", &ns) {
            // The client's read timeout is the deadline; its connect
            // timeout (10s at most) may come sooner, and says only "timed out".
            p if p.kind == ProblemKind::Timeout && TokioInstant::now() + Duration::from_millis(100) >= deadline => {
                Err(no_answer())
            }
            p => Err(client::at_server(p, cx.server.as_deref())),
        },
        Ok(Ok(list)) => Ok(list.items),
    };
    tracing::debug!(region = %region.name, context = %region.context, ok = pod_list.is_ok(), "pods listed");
    let pod_list = match pod_list {
        Ok(items) => {
            let _ = pods_seen.send(rollout::PodRefs::of(&items));
            items
        }
        Err(p) => {
            let mut s = slot.lock().expect("slot");
            s.pods = Some(failed_pods(plan.runbook.expected_ready, p.clone()));
            if plan.steps.logs {
                s.logs = Some(failed_logs(
                    &plan,
                    Problem::new(p.kind, format!("not read: pods could not be listed ({})", p.message)),
                ));
            }
            s.duration_ms = started.elapsed().as_millis() as u64;
            return;
        }
    };
    let now = Timestamp::now();
    let infos: Vec<PodInfo> = pod_list.iter().map(|p| pods::read_pod(p, &plan.runbook.container, now)).collect();
    // What the log reads need of each pod; the decoded objects (tens of KB
    // each with their managed fields) are not kept while the logs stream.
    let starts: Vec<Option<Timestamp>> =
        pod_list.iter().map(|p| container_started(p, &plan.runbook.container)).collect();
    let lacking: Vec<Option<Problem>> = pod_list.iter().map(|p| lacks_container(p, &plan.runbook.container)).collect();
    drop(pod_list);
    let (mut note, mut namespace_unchecked) = (None, None);
    // The labels of the namespace's other pods, when none match.
    let other_labels =
        if infos.is_empty() { labels_elsewhere(&api, &plan.runbook.selector, deadline).await } else { vec![] };
    if infos.is_empty() && !other_labels.is_empty() {
        // Other pods there: the namespace exists.
        note = Some(format!("no pods match {} in namespace {ns}", plan.runbook.selector));
    } else if infos.is_empty() {
        // Tell "no pods" from "no namespace" when we are allowed to look;
        // when we are not, say that it may be either.
        let nss: Api<Namespace> = Api::all(client.clone());
        let no_pods = format!("no pods match {} in namespace {ns}", plan.runbook.selector);
        let unknown = |p: Problem, why: &str| (format!("{no_pods}, or namespace {ns} does not exist: {why}"), Some(p));
        let (text, unchecked) = match tokio::time::timeout_at(deadline, nss.get_opt(&ns)).await {
            Ok(Ok(None)) => (format!("namespace {ns} does not exist"), None),
            Ok(Ok(Some(_))) => (no_pods, None),
            Ok(Err(e)) => match client::problem(&e, "get", "namespaces", &ns) {
                p if p.kind == ProblemKind::Forbidden => unknown(p, "this user may not get namespaces to tell"),
                p => {
                    let why = format!("asking which failed ({})", p.message);
                    unknown(p, &why)
                }
            },
            Err(_) => unknown(
                Problem::new(ProblemKind::Timeout, "no answer before the deadline"),
                "asking which had no answer before the deadline",
            ),
        };
        note = Some(text);
        namespace_unchecked = unchecked;
    }
    let mut step = pods::step(
        infos.clone(),
        plan.runbook.expected_ready,
        plan.logs.since,
        plan.runbook.not_ready_grace.0,
        note,
        list_started.elapsed().as_millis() as u64,
    );
    step.namespace_unchecked = namespace_unchecked;
    step.other_labels = other_labels;
    slot.lock().expect("slot").pods = Some(step);

    if plan.steps.logs {
        let pods = Pods { infos: &infos, starts: &starts, lacking: &lacking };
        let step = read_logs(&api, &plan, (&region.name, cx.progress), pods, sink, deadline).await;
        slot.lock().expect("slot").logs = Some(step);
    }
    slot.lock().expect("slot").duration_ms = started.elapsed().as_millis() as u64;
}

/// For `doctor`: whether the runbook's selector matches pods in this
/// region, and whether they have its container (a few pods are enough).
pub async fn pods_seen(client: &kube::Client, plan: &Plan, deadline: TokioInstant) -> Result<PodsSeen, Problem> {
    let rb = &plan.runbook;
    let api: Api<Pod> = Api::namespaced(client.clone(), &rb.namespace);
    let lp = ListParams::default().labels(&rb.selector).limit(20);
    let list = match tokio::time::timeout_at(deadline, api.list(&lp)).await {
        Err(_) => return Err(Problem::new(ProblemKind::Timeout, "listing pods did not finish before the deadline")),
        Ok(Err(e)) => return Err(client::problem(&e, "list", "pods", &rb.namespace)),
        Ok(Ok(list)) => list.items,
    };
    let lacking = list.iter().find_map(|p| lacks_container(p, &rb.container));
    let other_labels = if list.is_empty() { labels_elsewhere(&api, &rb.selector, deadline).await } else { vec![] };
    Ok(PodsSeen { matched: list.len(), other_labels, lacking })
}

/// How the namespace's pods are labelled on the keys `selector` names,
/// most pods first (at most 10): the same list as the pods, without the
/// selector. Nothing when none could be listed.
async fn labels_elsewhere(api: &Api<Pod>, selector: &str, deadline: TokioInstant) -> Vec<String> {
    let keys = selector_keys(selector);
    let lp = ListParams::default().limit(500);
    let Ok(Ok(list)) = tokio::time::timeout_at(deadline, api.list_metadata(&lp)).await else { return vec![] };
    let mut counts: Vec<(String, usize)> = vec![];
    for pod in &list.items {
        let Some(labels) = &pod.metadata.labels else { continue };
        for key in &keys {
            let Some(value) = labels.get(key) else { continue };
            let label = sanitize::clean(&format!("{key}={value}"), 200);
            match counts.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => counts.push((label, 1)),
            }
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.into_iter().take(10).map(|(l, _)| l).collect()
}

/// The label keys a selector names: `app` of `app=x`, `tier in (a,b)`, `!canary`.
fn selector_keys(selector: &str) -> Vec<String> {
    let mut terms = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    let mut keys: Vec<String> = vec![];
    for t in terms {
        let t = t.trim().trim_start_matches('!').trim_start();
        let key = t.split(|c: char| c == '=' || c == '!' || c.is_whitespace()).next().unwrap_or("");
        if !key.is_empty() && !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    }
    keys
}

pub fn failed_events(plan: &Plan, p: Problem) -> EventsStep {
    EventsStep {
        status: Status::Error,
        window_secs: plan.logs.since.as_secs(),
        groups: vec![],
        truncated: false,
        error: Some(p),
        duration_ms: 0,
    }
}

pub fn failed_rollout(p: Problem) -> RolloutFacts {
    rollout::failed(p)
}

/// One log read: a pod's window (current or previous container) or the
/// baseline of its current container. `slot` is the pod's entry in the step.
enum Read {
    Window { slot: usize, pod: String, previous: bool },
    Baseline { slot: usize, pod: String, container_start: Option<Timestamp> },
}

/// The time frame of a run's log reads, fixed once so every read agrees.
#[derive(Debug, Clone, Copy)]
struct Frame {
    window_start: Timestamp,
    /// Where the baseline reads begin: the baseline before the window.
    baseline_start: Timestamp,
    baseline_since_secs: i64,
}

impl Frame {
    fn new(now: Timestamp, window: Duration, baseline: Duration) -> Frame {
        let window_start = now - window;
        let baseline_start = window_start - baseline;
        Frame { window_start, baseline_start, baseline_since_secs: (window + baseline).as_secs().max(1) as i64 }
    }
}

/// What the log reads need of the listed pods, in the order of `infos`:
/// when each one's current container started, and why its logs cannot be
/// read at all (the runbook's `container` is not one of its containers).
#[derive(Clone, Copy)]
struct Pods<'a> {
    infos: &'a [PodInfo],
    starts: &'a [Option<Timestamp>],
    lacking: &'a [Option<Problem>],
}

/// `Some` when `pod` has no container named `container` (none of its
/// containers, init or ephemeral ones, each of which has logs): the API
/// server would answer 400, as for a container that has not started, but
/// no wait makes this one readable. The problem names the containers the
/// pod has, which are what the runbook's `container` may name.
fn lacks_container(pod: &Pod, container: &str) -> Option<Problem> {
    let spec = pod.spec.as_ref()?;
    let named = |c: &str| c == container;
    if spec.containers.iter().any(|c| named(&c.name))
        || spec.init_containers.iter().flatten().any(|c| named(&c.name))
        || spec.ephemeral_containers.iter().flatten().any(|c| named(&c.name))
    {
        return None;
    }
    let has: Vec<String> = spec.containers.iter().map(|c| c.name.clone()).collect();
    Some(
        Problem::new(
            ProblemKind::RunbookMismatch,
            format!("the pods have no container `{container}` (they have: {})", has.join(", ")),
        )
        .instead(has),
    )
}

/// Reads every pod's logs, the window and the baseline of each current
/// container started together, a bounded number of streams at a time, and
/// merges each read into the region's counts as it finishes.
async fn read_logs(
    api: &Api<Pod>,
    plan: &Plan,
    (region, progress): (&str, &RegionSink),
    pods: Pods<'_>,
    sink: Option<mpsc::Sender<LogLine>>,
    deadline: TokioInstant,
) -> LogsStep {
    let logs_started = Instant::now();
    let classifier = Classifier::new(&plan.runbook.logs.error_patterns.iter().map(|p| p.0.clone()).collect::<Vec<_>>());
    let frame = Frame::new(Timestamp::now(), plan.logs.since, plan.runbook.logs.baseline.0);
    let (mut entries, reads) = plan_reads(plan, pods);
    // Stop reading a little before the deadline so partial counts are kept.
    let read_deadline = deadline.checked_sub(Duration::from_millis(150)).unwrap_or(deadline);
    let ctx = ReadCtx { api, plan, region, classifier: &classifier, frame, deadline: read_deadline };
    let window_secs = plan.logs.since.as_secs_f64();
    let total = reads.len();
    progress.step(Step::ReadingLogs { done: 0, total });
    let mut region_tally = RegionTally::default();
    let mut done = futures::stream::iter(reads.into_iter().map(|read| ctx.read(read, sink.clone())))
        .buffer_unordered(plan.logs.max_streams);
    let mut streams = 0;
    while let Some(finished) = done.next().await {
        streams += 1;
        progress.step(Step::ReadingLogs { done: streams, total });
        match finished {
            Finished::Window { slot, tally, partial, error } => {
                region_tally.add_window(&tally);
                let e = &mut entries[slot];
                e.lines = tally.lines;
                e.error_lines = tally.error_lines;
                e.top_errors = tally.top(logs::TOP_GROUPS);
                e.format = tally.format().map(str::to_string);
                e.partial = partial;
                e.error = error;
            }
            Finished::Baseline { slot, tally, baseline } => {
                if baseline.error.is_none() {
                    region_tally.add_baseline(&tally, baseline.span_secs as f64, window_secs);
                }
                entries[slot].baseline = Some(baseline);
            }
        }
    }
    tracing::debug!(region, streams, "logs read");
    finish_logs(plan, entries, &region_tally, logs_started.elapsed().as_millis() as u64)
}

/// The entries of the logs step (one per container instance read) and the
/// reads that fill them: each pod's current container's window with its
/// baseline right after it (so the two start together), and the previous
/// container's window when it restarted inside the window. `starts` is when
/// each pod's current container started, in the order of `infos`.
fn plan_reads(plan: &Plan, pods: Pods<'_>) -> (Vec<PodLogs>, Vec<Read>) {
    let mut entries: Vec<PodLogs> = vec![];
    let mut reads = vec![];
    for ((info, &container_start), lacking) in pods.infos.iter().zip(pods.starts).zip(pods.lacking) {
        if let Some(p) = lacking {
            // Nothing to read: one entry with the reason, no request.
            entries.push(PodLogs {
                pod: info.name.clone(),
                previous: false,
                lines: 0,
                error_lines: 0,
                format: None,
                top_errors: vec![],
                partial: false,
                error: Some(p.clone()),
                baseline: None,
            });
            continue;
        }
        let restarted = pods::restarted_within(info, plan.logs.since);
        let mut entry = |previous: bool| {
            entries.push(PodLogs {
                pod: info.name.clone(),
                previous,
                lines: 0,
                error_lines: 0,
                format: None,
                top_errors: vec![],
                partial: false,
                error: None,
                baseline: None,
            });
            entries.len() - 1
        };
        if !plan.logs.previous_only {
            let slot = entry(false);
            reads.push(Read::Window { slot, pod: info.name.clone(), previous: false });
            reads.push(Read::Baseline { slot, pod: info.name.clone(), container_start });
        }
        // `--previous` reads the containers that have a previous instance;
        // asking the others only yields "previous terminated container not found".
        if (plan.logs.previous_only && info.restarts > 0) || (!plan.logs.previous_only && restarted) {
            let slot = entry(true);
            reads.push(Read::Window { slot, pod: info.name.clone(), previous: true });
        }
    }
    (entries, reads)
}

/// The logs step from what was read: the region's conclusion and status.
fn finish_logs(plan: &Plan, entries: Vec<PodLogs>, region_tally: &RegionTally, duration_ms: u64) -> LogsStep {
    let c = region_tally.conclude(&rule(plan), plan.logs.since.as_secs_f64());
    // Nothing to judge when every pod's logs failed to read (a container not
    // started or a pod gone is no failure: it has no logs, so no errors).
    let unreadable =
        !entries.is_empty() && entries.iter().all(|p| p.error.as_ref().is_some_and(|e| !expected_absence(e.kind)));
    let mut step = LogsStep {
        error_lines: entries.iter().map(|r| r.error_lines).sum(),
        window_rate_per_min: c.window_rate_per_min,
        baseline_error_lines: c.baseline_error_lines,
        baseline_rate_per_min: c.baseline_rate_per_min,
        judgement: (!unreadable).then_some(c.judgement),
        signatures: c.signatures,
        partial: entries.iter().any(|r| r.partial || r.error.as_ref().is_some_and(|e| !expected_absence(e.kind))),
        pods: entries,
        duration_ms,
        ..logs_step(plan)
    };
    step.status = judge_logs(&step);
    if step.status == Status::Error {
        step.error = step.pods.iter().find_map(|p| p.error.clone());
    }
    step
}

/// When the current instance of `container` started (running or since
/// terminated); `None` when it has not.
fn container_started(pod: &Pod, container: &str) -> Option<Timestamp> {
    let status = pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == container)?;
    let state = status.state.as_ref()?;
    let started = state
        .running
        .as_ref()
        .and_then(|r| r.started_at.as_ref())
        .or_else(|| state.terminated.as_ref().and_then(|t| t.started_at.as_ref()))?;
    Some(started.0)
}

/// Warn when the rule says the errors are not the usual noise (see
/// [`logs::judge`]); error when some logs could not be read (a container that
/// has not started has none to read, and a pod deleted meanwhile is gone:
/// neither is a failure).
pub fn judge_logs(step: &LogsStep) -> Status {
    if step.judgement.is_some_and(|j| j.warns()) {
        return Status::Warn;
    }
    let unreadable = step.pods.iter().any(|p| {
        p.error.as_ref().is_some_and(|e| !expected_absence(e.kind)) || (p.partial && p.error.is_none() && p.lines == 0)
    });
    if unreadable { Status::Error } else { Status::Pass }
}

/// A container that has not started (400) or a pod deleted meanwhile (404)
/// has no logs to read: that is a fact about the pod, not a failed check.
fn expected_absence(kind: ProblemKind) -> bool {
    matches!(kind, ProblemKind::BadRequest | ProblemKind::NotFound)
}

/// What one read brought back.
enum Finished {
    Window { slot: usize, tally: Tally, partial: bool, error: Option<Problem> },
    Baseline { slot: usize, tally: Tally, baseline: PodBaseline },
}

/// What every read of a region shares.
struct ReadCtx<'a> {
    api: &'a Api<Pod>,
    plan: &'a Plan,
    region: &'a str,
    classifier: &'a Classifier,
    frame: Frame,
    deadline: TokioInstant,
}

impl ReadCtx<'_> {
    async fn read(&self, read: Read, sink: Option<mpsc::Sender<LogLine>>) -> Finished {
        match read {
            Read::Window { slot, pod, previous } => {
                let (tally, partial, error) = self.window(&pod, previous, sink).await;
                Finished::Window { slot, tally, partial, error }
            }
            Read::Baseline { slot, pod, container_start } => {
                let (tally, baseline) = self.baseline(&pod, container_start).await;
                Finished::Baseline { slot, tally, baseline }
            }
        }
    }

    fn log_problem(&self, e: &kube::Error) -> Problem {
        match client::problem(e, "get", "pods/log", &self.plan.runbook.namespace) {
            p if p.kind == ProblemKind::NotFound => {
                Problem::new(ProblemKind::NotFound, "the pod was deleted before its logs were read")
            }
            p => p,
        }
    }

    /// The window of one container, streamed to `sink` when there is one.
    async fn window(
        &self,
        pod: &str,
        previous: bool,
        sink: Option<mpsc::Sender<LogLine>>,
    ) -> (Tally, bool, Option<Problem>) {
        let plan = self.plan;
        // `--tail` limits the lines shown, never what is counted and judged:
        // the whole window is read, and only the last N shown lines are kept.
        let lp = LogParams {
            container: Some(plan.runbook.container.clone()),
            since_seconds: Some(plan.logs.since.as_secs().max(1) as i64),
            timestamps: true,
            previous,
            ..LogParams::default()
        };
        let mut tally = Tally::default();
        let tail = plan.logs.tail.map(|n| n.max(0) as usize);
        let mut last: VecDeque<LogLine> = VecDeque::new();
        let work = async {
            // One of the run's reads open at once in all regions, until this one ends.
            let _open = self.plan.logs.all_streams.acquire().await.ok();
            let stream = self.api.log_stream(pod, &lp).await.map_err(|e| self.log_problem(&e))?;
            let grep = plan.logs.grep.clone();
            let direct = if tail.is_some() { None } else { sink.as_ref() };
            let result = logs::read_lines(stream, self.classifier, &mut tally, direct, |line: &str, is_error: bool| {
                // Cleaning and masking a line is only worth it when it is shown.
                sink.as_ref()?;
                let shown = grep.as_ref().is_none_or(|g| g.is_match(line)).then(|| LogLine {
                    region: self.region.to_string(),
                    pod: pod.to_string(),
                    previous,
                    text: sanitize::clean(line, 4096),
                    is_error,
                });
                match (tail, shown) {
                    (Some(n), Some(l)) if sink.is_some() => {
                        if last.len() == n {
                            last.pop_front();
                        }
                        if n > 0 {
                            last.push_back(l);
                        }
                        None
                    }
                    (_, shown) => shown,
                }
            })
            .await;
            result.map_err(|e| stopped(&e))
        };
        let outcome = tokio::time::timeout_at(self.deadline, work).await;
        if let Some(tx) = &sink {
            for l in last {
                if tx.send(l).await.is_err() {
                    break;
                }
            }
        }
        match outcome {
            Err(_) => (tally, true, None),
            Ok(Err(p)) => (tally, false, Some(p)),
            Ok(Ok(())) => (tally, false, None),
        }
    }

    /// The baseline of a pod's current container: the time before the
    /// window, with timestamps, at most `baseline_max_bytes`.
    async fn baseline(&self, pod: &str, container_start: Option<Timestamp>) -> (Tally, PodBaseline) {
        let limit = self.plan.runbook.logs.baseline_max_bytes.0;
        let lp = LogParams {
            container: Some(self.plan.runbook.container.clone()),
            since_seconds: Some(self.frame.baseline_since_secs),
            timestamps: true,
            limit_bytes: Some(limit as i64),
            ..LogParams::default()
        };
        let mut read = BaselineRead::new(self.frame.window_start);
        let work = async {
            let _open = self.plan.logs.all_streams.acquire().await.ok();
            let stream = self.api.log_stream(pod, &lp).await.map_err(|e| self.log_problem(&e))?;
            let classifier = self.classifier;
            // The rest of the reply (the window's lines, at most the byte
            // limit) is read and ignored rather than dropped: a stream
            // dropped mid-reply closes its connection, and the next read
            // would pay for a new one.
            let mut before_window = true;
            logs::for_each_line::<_, (), _>(stream, None, |line| {
                before_window = before_window && read.feed(classifier, line);
                Flow::Next(None)
            })
            .await
            .map_err(|e| stopped(&e))
        };
        let mut out = PodBaseline::default();
        let stopped_early = match tokio::time::timeout_at(self.deadline, work).await {
            Err(_) => {
                out.partial = true;
                true
            }
            Ok(Err(p)) => {
                out.error = Some(p);
                true
            }
            Ok(Ok(bytes)) => {
                // Stopping short of the window with the limit used up: the
                // limit, not the container's log, ended the read.
                out.cut = !read.reached_window() && bytes >= limit;
                out.cut
            }
        };
        if out.error.is_none() {
            let until = read.covered_until(stopped_early);
            out.span_secs = logs::baseline_span(self.frame.baseline_start, container_start, until).round() as u64;
        }
        out.lines = read.tally.lines;
        out.error_lines = read.tally.error_lines;
        (read.tally, out)
    }
}

fn stopped(e: &std::io::Error) -> Problem {
    let (kind, msg) = crate::kube::neterr::classify(e);
    Problem::new(kind, format!("reading logs stopped: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_puts_the_baseline_just_before_the_window() {
        let now: Timestamp = "2026-01-01T10:05:00Z".parse().unwrap();
        let f = Frame::new(now, Duration::from_secs(300), Duration::from_secs(3600));
        assert_eq!(f.window_start, "2026-01-01T10:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(f.baseline_start, "2026-01-01T09:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(f.baseline_since_secs, 3900);
    }

    fn plan(previous_only: bool) -> Plan {
        use crate::plan::{LogOptions, Output, Steps};
        Plan {
            runbook: crate::runbook::parse(&crate::runbook::Source::embedded()).unwrap(),
            runbook_name: "rb".into(),
            env: "prod".into(),
            healthz_url: "https://h/healthz".into(),
            regions: vec![],
            all_regions: true,
            steps: Steps { healthz: false, pods: true, logs: true, evidence: false },
            timeout: Duration::from_secs(30),
            kubeconfig: None,
            peers: vec![],
            placeholder_healthz: None,
            placeholders: vec![],
            logs: LogOptions {
                since: Duration::from_secs(300),
                tail: None,
                previous_only,
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
            rerun: crate::plan::Rerun::default(),
        }
    }

    fn info(name: &str, last_restart_secs_ago: Option<u64>) -> PodInfo {
        PodInfo {
            name: name.into(),
            ready: "1/1".into(),
            is_ready: true,
            status: "Running".into(),
            restarts: i32::from(last_restart_secs_ago.is_some()),
            last_restart_secs_ago,
            last_terminated: None,
            age_secs: Some(7200),
            node: None,
            terminating: false,
            crash_looping: false,
            pending: false,
            not_ready_secs_ago: None,
            why: None,
        }
    }

    fn describe(reads: &[Read]) -> Vec<String> {
        reads
            .iter()
            .map(|r| match r {
                Read::Window { slot, pod, previous } => {
                    format!("{slot} window {pod}{}", if *previous { " prev" } else { "" })
                }
                Read::Baseline { slot, pod, .. } => format!("{slot} baseline {pod}"),
            })
            .collect()
    }

    #[test]
    fn each_current_container_gets_a_baseline_read_next_to_its_window() {
        let infos = [info("a", None), info("b", Some(60))];
        let starts = [None, None];
        let pods = Pods { infos: &infos, starts: &starts, lacking: &[None, None] };
        let (entries, reads) = plan_reads(&plan(false), pods);
        assert_eq!(describe(&reads), ["0 window a", "0 baseline a", "1 window b", "1 baseline b", "2 window b prev"]);
        assert_eq!(entries.len(), 3);
        assert!(entries[2].previous && entries.iter().all(|e| e.baseline.is_none()));
        // Only previous containers asked for: nothing current, so no
        // baseline, and only the pod that restarted has a previous one.
        let (_, reads) = plan_reads(&plan(true), pods);
        assert_eq!(describe(&reads), ["0 window b prev"]);
    }

    #[test]
    fn a_selectors_keys_are_read_from_every_form_of_term() {
        assert_eq!(selector_keys("app=api-key-service"), ["app"]);
        assert_eq!(
            selector_keys("app==a, tier in (x,y),!canary,env!=dev, track"),
            ["app", "tier", "canary", "env", "track"]
        );
        assert_eq!(selector_keys("app=a,app!=b"), ["app"]);
    }

    #[test]
    fn a_pod_without_the_runbooks_container_is_not_read_and_says_what_it_has() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "api-key-service"}, {"name": "proxy"}],
                     "initContainers": [{"name": "migrate"}]}
        }))
        .unwrap();
        assert_eq!(lacks_container(&pod, "api-key-service"), None);
        assert_eq!(lacks_container(&pod, "migrate"), None);
        let p = lacks_container(&pod, "api-keyservice").unwrap();
        assert_eq!(p.kind, ProblemKind::RunbookMismatch);
        assert_eq!(p.message, "the pods have no container `api-keyservice` (they have: api-key-service, proxy)");
        let infos = [info("a", None), info("b", Some(60))];
        let pods = Pods { infos: &infos, starts: &[None, None], lacking: &[Some(p.clone()), None] };
        let (entries, reads) = plan_reads(&plan(false), pods);
        assert_eq!(describe(&reads), ["1 window b", "1 baseline b", "2 window b prev"]);
        assert_eq!(entries[0].error.as_ref(), Some(&p));
        // Unlike a container that has not started, it is a failed step.
        let step = finish_logs(&plan(false), entries, &RegionTally::default(), 1);
        assert_eq!(step.status, Status::Error);
        assert_eq!(step.error.as_ref().map(|e| e.kind), Some(ProblemKind::RunbookMismatch));
    }

    #[test]
    fn container_start_comes_from_the_named_containers_current_state() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "status": {"startTime": "2026-01-01T08:00:00Z", "containerStatuses": [
                {"name": "sidecar", "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"running": {"startedAt": "2026-01-01T08:00:01Z"}}},
                {"name": "app", "ready": true, "restartCount": 1, "image": "i", "imageID": "",
                 "state": {"running": {"startedAt": "2026-01-01T09:45:00Z"}},
                 "lastState": {"terminated": {"exitCode": 1, "startedAt": "2026-01-01T08:00:02Z"}}},
                {"name": "done", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"terminated": {"exitCode": 0, "startedAt": "2026-01-01T08:30:00Z"}}},
                {"name": "waiting", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"waiting": {"reason": "ContainerCreating"}}}]}
        }))
        .unwrap();
        let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        assert_eq!(container_started(&pod, "app"), at("2026-01-01T09:45:00Z"));
        assert_eq!(container_started(&pod, "done"), at("2026-01-01T08:30:00Z"));
        assert_eq!(container_started(&pod, "waiting"), None);
        assert_eq!(container_started(&pod, "missing"), None);
    }

    mod evidence {
        use super::*;
        use crate::judge::region_verdict;
        use crate::plan::RegionPlan;
        use crate::report::{EventGroup, EventKind};

        fn region(pods: Status) -> RegionReport {
            let mut r = empty_region(&RegionPlan {
                name: "r".into(),
                context: "c".into(),
                healthz_url: None,
                placeholder_context: None,
                context_from: Default::default(),
            });
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
