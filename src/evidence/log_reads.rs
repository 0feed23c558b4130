//! Reading a region's pod logs: each current container's baseline and
//! window in one read (from the baseline's start, with timestamps; the
//! window is read again on its own only when the baseline's byte limit cut
//! that read), plus the previous container's window when it restarted
//! inside the window; a bounded number of streams at a time, every read
//! bounded by the run's deadline. The counts are facts; whether they warn
//! is `judge`'s.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant as TokioInstant;

use crate::evidence::logs::{self, BaselineRead, Classifier, Flow, RegionTally, Tally};
use crate::evidence::pods;
use crate::evidence::region::{LogLine, logs_step};
use crate::kube::client;
use crate::plan::Plan;
use crate::report::{LogsStep, PodBaseline, PodInfo, PodLogs, Problem, ProblemKind};
use crate::sanitize;

/// What every log read of one region shares.
pub struct LogReads<'a> {
    pub api: &'a Api<Pod>,
    pub plan: &'a Plan,
    pub region: &'a str,
    /// Log reads open at once in all regions (`--max-log-streams-total`):
    /// every read holds a permit of this one semaphore while it is open.
    pub all_streams: &'a Semaphore,
    /// Where shown lines go (the `logs` command), if anywhere.
    pub sink: Option<mpsc::Sender<LogLine>>,
    pub deadline: TokioInstant,
}

fn rule(plan: &Plan) -> logs::Rule {
    let l = &plan.runbook.logs;
    logs::Rule { min_errors: l.min_errors.0, spike_factor: l.spike_factor.0, threshold: l.error_threshold }
}

/// One log read: a previous container's window, or a current container's
/// baseline and window. `slot` is the pod's entry in the step.
enum Read {
    Window { slot: usize, pod: String, previous: bool },
    Current { slot: usize, pod: String, container_start: Option<Timestamp> },
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
pub struct Pods<'a> {
    pub infos: &'a [PodInfo],
    pub starts: &'a [Option<Timestamp>],
    pub lacking: &'a [Option<Problem>],
}

/// Reads every pod's logs, the window and the baseline of each current
/// container started together, a bounded number of streams at a time, and
/// merges each read into the region's counts as it finishes. `on_read` is
/// told how many of how many reads are done.
pub async fn read_logs(r: LogReads<'_>, pods: Pods<'_>, on_read: impl Fn(usize, usize)) -> LogsStep {
    let LogReads { api, plan, region, all_streams, sink, deadline } = r;
    let logs_started = Instant::now();
    let classifier = Classifier::of(&plan.runbook.logs);
    let frame = Frame::new(Timestamp::now(), plan.logs.since, plan.runbook.logs.baseline.0);
    let (mut entries, reads) = plan_reads(plan, pods);
    // Stop reading a little before the deadline so partial counts are kept.
    let read_deadline = deadline.checked_sub(Duration::from_millis(150)).unwrap_or(deadline);
    let ctx = ReadCtx { api, plan, region, all_streams, classifier: &classifier, frame, deadline: read_deadline };
    let window_secs = plan.logs.since.as_secs_f64();
    let total = reads.len();
    on_read(0, total);
    let mut region_tally = RegionTally::default();
    let mut done = futures::stream::iter(reads.into_iter().map(|read| ctx.read(read, sink.clone())))
        .buffer_unordered(plan.logs.max_streams);
    let mut streams = 0;
    while let Some(finished) = done.next().await {
        streams += 1;
        on_read(streams, total);
        let Finished { slot, window, baseline } = finished;
        window.record(&mut entries[slot], &mut region_tally);
        if let Some((tally, baseline)) = baseline {
            if baseline.error.is_none() {
                region_tally.add_baseline(&tally, baseline.span_secs as f64, window_secs);
            }
            entries[slot].baseline = Some(baseline);
        }
    }
    tracing::debug!(region, streams, "logs read");
    finish_logs(plan, entries, &region_tally, logs_started.elapsed().as_millis() as u64)
}

/// The entries of the logs step (one per container instance read) and the
/// reads that fill them: each pod's current container's baseline and
/// window (one read), and the previous
/// container's window when it restarted inside the window. `starts` is when
/// each pod's current container started, in the order of `infos`.
fn plan_reads(plan: &Plan, pods: Pods<'_>) -> (Vec<PodLogs>, Vec<Read>) {
    let mut entries: Vec<PodLogs> = vec![];
    let mut reads = vec![];
    for ((info, &container_start), lacking) in pods.infos.iter().zip(pods.starts).zip(pods.lacking) {
        if let Some(p) = lacking {
            // Nothing to read: one entry with the reason, no request.
            entries.push(PodLogs { error: Some(p.clone()), ..PodLogs::unread(&info.name, false) });
            continue;
        }
        let restarted = pods::restarted_within(info, plan.logs.since);
        let mut entry = |previous: bool| {
            entries.push(PodLogs::unread(&info.name, previous));
            entries.len() - 1
        };
        if !plan.logs.previous_only {
            let slot = entry(false);
            reads.push(Read::Current { slot, pod: info.name.clone(), container_start });
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

/// The logs step from what was read: the region's conclusion, not yet judged.
pub fn finish_logs(plan: &Plan, entries: Vec<PodLogs>, region_tally: &RegionTally, duration_ms: u64) -> LogsStep {
    let c = region_tally.conclude(&rule(plan), plan.logs.since.as_secs_f64());
    // Nothing to judge when every pod's logs failed to read (a container not
    // started or a pod gone is no failure: it has no logs, so no errors).
    let unreadable =
        !entries.is_empty() && entries.iter().all(|p| p.error.as_ref().is_some_and(|e| !expected_absence(e.kind)));
    let step = LogsStep {
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
    // Whether the counts warn, and the first failed read as the step's
    // error, are `judge::logs::judge_step`'s.
    step
}

/// When the current instance of `container` started (running or since
/// terminated); `None` when it has not.
pub fn container_started(pod: &Pod, container: &str) -> Option<Timestamp> {
    let status = pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == container)?;
    let state = status.state.as_ref()?;
    let started = state
        .running
        .as_ref()
        .and_then(|r| r.started_at.as_ref())
        .or_else(|| state.terminated.as_ref().and_then(|t| t.started_at.as_ref()))?;
    Some(started.0)
}

/// A container that has not started (400) or a pod deleted meanwhile (404)
/// has no logs to read: that is a fact about the pod, not a failed check.
pub fn expected_absence(kind: ProblemKind) -> bool {
    matches!(kind, ProblemKind::BadRequest | ProblemKind::NotFound)
}

/// What one read brought back: a window and, for a current container,
/// its baseline.
struct Finished {
    slot: usize,
    window: WindowRead,
    baseline: Option<(Tally, PodBaseline)>,
}

/// A container's window as read: its counts, whether the deadline cut it
/// and why it failed.
struct WindowRead {
    tally: Tally,
    partial: bool,
    error: Option<Problem>,
}

impl WindowRead {
    fn record(self, e: &mut PodLogs, region: &mut RegionTally) {
        region.add_window(&self.tally);
        e.lines = self.tally.lines;
        e.error_lines = self.tally.error_lines;
        e.top_errors = self.tally.top(logs::TOP_GROUPS);
        e.format = self.tally.format().map(str::to_string);
        e.partial = self.partial;
        e.error = self.error;
    }
}

/// Which of a window's lines are shown, and where they go: every line
/// `--grep` keeps, straight to the sink, or with `--tail N` only the last N,
/// sent when the read ends. Lines at or before `shown_until` were shown by
/// an earlier read of the same window.
struct Shown<'a> {
    sink: Option<mpsc::Sender<LogLine>>,
    region: &'a str,
    pod: &'a str,
    previous: bool,
    grep: Option<&'a regex::Regex>,
    tail: Option<usize>,
    last: VecDeque<LogLine>,
    shown_until: Option<Timestamp>,
}

impl<'a> Shown<'a> {
    fn new(ctx: &'a ReadCtx<'_>, pod: &'a str, previous: bool, sink: Option<mpsc::Sender<LogLine>>) -> Shown<'a> {
        let plan = ctx.plan;
        Shown {
            sink,
            region: ctx.region,
            pod,
            previous,
            grep: plan.logs.grep.as_ref(),
            tail: plan.logs.tail.map(|n| n.max(0) as usize),
            last: VecDeque::new(),
            shown_until: None,
        }
    }

    /// Where lines go as they are read: nowhere with `--tail`.
    fn direct(&self) -> Option<&mpsc::Sender<LogLine>> {
        if self.tail.is_some() { None } else { self.sink.as_ref() }
    }

    /// One line of the window (logged at `at`): what to send now, if anything.
    fn offer(&mut self, at: Option<Timestamp>, line: &str, is_error: bool) -> Option<LogLine> {
        // Cleaning and masking a line is only worth it when it is shown.
        self.sink.as_ref()?;
        if self.shown_until.is_some_and(|until| at.is_none_or(|at| at <= until)) {
            return None;
        }
        self.shown_until = None;
        let shown = self.grep.is_none_or(|g| g.is_match(line)).then(|| LogLine {
            region: self.region.to_string(),
            pod: self.pod.to_string(),
            previous: self.previous,
            text: sanitize::clean(line, 4096),
            is_error,
        })?;
        let Some(n) = self.tail else { return Some(shown) };
        if self.last.len() == n {
            self.last.pop_front();
        }
        if n > 0 {
            self.last.push_back(shown);
        }
        None
    }

    /// Sends what `--tail` kept.
    async fn finish(self) {
        if let Some(tx) = &self.sink {
            for l in self.last {
                if tx.send(l).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// What every read of a region shares.
struct ReadCtx<'a> {
    api: &'a Api<Pod>,
    plan: &'a Plan,
    region: &'a str,
    all_streams: &'a Semaphore,
    classifier: &'a Classifier,
    frame: Frame,
    deadline: TokioInstant,
}

impl ReadCtx<'_> {
    async fn read(&self, read: Read, sink: Option<mpsc::Sender<LogLine>>) -> Finished {
        match read {
            Read::Window { slot, pod, previous } => {
                let window = self.window(&pod, previous, Shown::new(self, &pod, previous, sink)).await;
                Finished { slot, window, baseline: None }
            }
            Read::Current { slot, pod, container_start } => {
                let (tally, baseline, window) = self.current(&pod, container_start, sink).await;
                Finished { slot, window, baseline: Some((tally, baseline)) }
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

    /// The window of one container on its own, its lines offered to `shown`.
    async fn window(&self, pod: &str, previous: bool, mut shown: Shown<'_>) -> WindowRead {
        // `--tail` limits the lines shown, never what is counted and judged:
        // the whole window is read, and only the last N shown lines are kept.
        let lp = LogParams {
            container: Some(self.plan.runbook.container.clone()),
            since_seconds: Some(self.plan.logs.since.as_secs().max(1) as i64),
            timestamps: true,
            previous,
            ..LogParams::default()
        };
        let mut tally = Tally::default();
        let work = async {
            // One of the run's reads open at once in all regions, until this one ends.
            let _open = self.all_streams.acquire().await.ok();
            let stream = self.api.log_stream(pod, &lp).await.map_err(|e| self.log_problem(&e))?;
            let direct = shown.direct().cloned();
            logs::for_each_line(stream, direct.as_ref(), |line| {
                let (at, text) = logs::split_timestamp(line).map_or((None, line), |(at, text)| (Some(at), text));
                let is_error = tally.feed_at(self.classifier, at, text);
                Flow::Next(shown.offer(at, text, is_error))
            })
            .await
            .map_err(|e| stopped(&e))
        };
        let outcome = tokio::time::timeout_at(self.deadline, work).await;
        shown.finish().await;
        match outcome {
            Err(_) => {
                let error = self.no_line_by_the_deadline(pod, &tally);
                WindowRead { tally, partial: true, error }
            }
            Ok(Err(p)) => WindowRead { tally, partial: false, error: Some(p) },
            Ok(Ok(_)) => WindowRead { tally, partial: false, error: None },
        }
    }

    /// A pod's current container: one read from the baseline's start, with
    /// timestamps, at most `baseline_max_bytes`. Lines before the window's
    /// start are the baseline, the rest the window. When the byte limit ended
    /// the read, the window is incomplete and is read again on its own
    /// (lines already shown are not shown twice).
    async fn current(
        &self,
        pod: &str,
        container_start: Option<Timestamp>,
        sink: Option<mpsc::Sender<LogLine>>,
    ) -> (Tally, PodBaseline, WindowRead) {
        let limit = self.plan.runbook.logs.baseline_max_bytes.0;
        let lp = LogParams {
            container: Some(self.plan.runbook.container.clone()),
            since_seconds: Some(self.frame.baseline_since_secs),
            timestamps: true,
            limit_bytes: Some(limit as i64),
            ..LogParams::default()
        };
        let mut read = BaselineRead::new(self.frame.window_start);
        let mut window = Tally::default();
        let mut shown = Shown::new(self, pod, false, sink.clone());
        let mut last_shown: Option<Timestamp> = None;
        let work = async {
            let _open = self.all_streams.acquire().await.ok();
            let stream = self.api.log_stream(pod, &lp).await.map_err(|e| self.log_problem(&e))?;
            let classifier = self.classifier;
            let direct = shown.direct().cloned();
            let mut in_window = false;
            logs::for_each_line(stream, direct.as_ref(), |line| {
                in_window = in_window || !read.feed(classifier, line);
                if !in_window {
                    return Flow::Next(None);
                }
                let (at, text) = logs::split_timestamp(line).map_or((None, line), |(at, text)| (Some(at), text));
                let is_error = window.feed_at(classifier, at, text);
                let sent = shown.offer(at, text, is_error);
                if sent.is_some() {
                    last_shown = at.or(last_shown);
                }
                Flow::Next(sent)
            })
            .await
            .map_err(|e| stopped(&e))
        };
        let mut out = PodBaseline::default();
        let outcome = tokio::time::timeout_at(self.deadline, work).await;
        let (stopped_early, whole) = match &outcome {
            Err(_) => (true, false),
            Ok(Err(p)) => {
                out.error = Some(p.clone());
                (true, false)
            }
            // The byte limit, not the container's log, ended the read: before
            // the window, the baseline was cut; anywhere, the window was.
            Ok(Ok(bytes)) => {
                let limited = *bytes >= limit;
                out.cut = limited && !read.reached_window();
                (out.cut, !limited)
            }
        };
        if out.error.is_none() {
            let until = read.covered_until(stopped_early);
            out.span_secs = logs::baseline_span(self.frame.baseline_start, container_start, until).round() as u64;
        }
        (out.lines, out.error_lines) = (read.tally.lines, read.tally.error_lines);
        let window = match outcome {
            Ok(Ok(_)) if !whole => {
                let mut again = Shown::new(self, pod, false, sink);
                again.shown_until = last_shown;
                self.window(pod, false, again).await
            }
            Err(_) => {
                shown.finish().await;
                let error = self.no_line_by_the_deadline(pod, &window);
                WindowRead { tally: window, partial: true, error }
            }
            Ok(Err(p)) => WindowRead { tally: window, partial: false, error: Some(p) },
            Ok(Ok(_)) => {
                shown.finish().await;
                WindowRead { tally: window, partial: false, error: None }
            }
        };
        (read.tally, out, window)
    }
}

impl ReadCtx<'_> {
    /// A read the deadline cut before any line of the window: it failed,
    /// and says why (`None` when it brought lines: it is only partial).
    fn no_line_by_the_deadline(&self, pod: &str, window: &Tally) -> Option<Problem> {
        if window.lines > 0 {
            return None;
        }
        let within = humantime::format_duration(self.plan.timeout);
        Some(Problem::new(
            ProblemKind::Deadline,
            format!("reading logs of {pod}: no line of the window before the deadline ({within}, --timeout)"),
        ))
    }
}

fn stopped(e: &std::io::Error) -> Problem {
    let (kind, msg) = crate::kube::neterr::classify(e);
    Problem::new(kind, format!("reading logs stopped: {msg}"))
}

/// What the log reads need of each listed pod, read before the decoded
/// objects (tens of KB each with their managed fields) are dropped.
pub struct Listed {
    pub infos: Vec<PodInfo>,
    /// When each pod's current container started.
    pub starts: Vec<Option<Timestamp>>,
    /// Why a pod's logs cannot be read at all: it lacks the runbook's container.
    pub lacking: Vec<Option<Problem>>,
}

impl Listed {
    pub fn of(items: &[Pod], container: &str, now: Timestamp) -> Listed {
        Listed {
            infos: items.iter().map(|p| pods::read_pod(p, container, now)).collect(),
            starts: items.iter().map(|p| container_started(p, container)).collect(),
            lacking: items.iter().map(|p| crate::evidence::selector::lacks_container(p, container)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::selector::lacks_container;
    use crate::report::Status;

    #[test]
    fn the_frame_puts_the_baseline_just_before_the_window() {
        let now: Timestamp = "2026-01-01T10:05:00Z".parse().unwrap();
        let f = Frame::new(now, Duration::from_secs(300), Duration::from_secs(3600));
        assert_eq!(f.window_start, "2026-01-01T10:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(f.baseline_start, "2026-01-01T09:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(f.baseline_since_secs, 3900);
    }

    fn plan(previous_only: bool) -> Plan {
        use crate::plan::Steps;
        let mut plan = Plan::for_tests(crate::runbook::parse(&crate::runbook::Source::embedded()).unwrap(), "rb");
        plan.steps = Steps { healthz: false, pods: true, logs: true, evidence: false, telemetry: false };
        plan.logs.previous_only = previous_only;
        plan
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
                Read::Current { slot, pod, .. } => format!("{slot} current {pod}"),
            })
            .collect()
    }

    #[test]
    fn each_current_container_is_one_read_for_its_baseline_and_window() {
        let infos = [info("a", None), info("b", Some(60))];
        let starts = [None, None];
        let pods = Pods { infos: &infos, starts: &starts, lacking: &[None, None] };
        let (entries, reads) = plan_reads(&plan(false), pods);
        assert_eq!(describe(&reads), ["0 current a", "1 current b", "2 window b prev"]);
        assert_eq!(entries.len(), 3);
        assert!(entries[2].previous && entries.iter().all(|e| e.baseline.is_none()));
        // Only previous containers asked for: nothing current, so no
        // baseline, and only the pod that restarted has a previous one.
        let (_, reads) = plan_reads(&plan(true), pods);
        assert_eq!(describe(&reads), ["0 window b prev"]);
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
        assert_eq!(describe(&reads), ["1 current b", "2 window b prev"]);
        assert_eq!(entries[0].error.as_ref(), Some(&p));
        // Unlike a container that has not started, it is a failed step.
        let mut step = finish_logs(&plan(false), entries, &RegionTally::default(), 1);
        crate::judge::logs::judge_step(&mut step);
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
}
