//! Running the steps against one region: list pods, then read each pod's
//! logs concurrently; for `diagnose`, the optional evidence (Warning events,
//! ReplicaSets and the Deployment) alongside. Failures are recorded in the
//! step results, never returned as errors; every call is bounded by the
//! run's deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, LogParams};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant as TokioInstant;

use crate::k8s;
use crate::logs::{self, Classifier, Tally};
use crate::plan::{Plan, RegionPlan};
use crate::pods;
use crate::report::{
    EventsStep, LogsStep, PodInfo, PodLogs, PodsStep, Problem, ProblemKind, RegionReport, RolloutFacts, Status, Verdict,
};
use crate::{events, rollout, sanitize};

/// Log streams open at once per region (one connection each).
pub const MAX_LOG_STREAMS: usize = 6;

/// One log line on its way to the single writer.
#[derive(Debug)]
pub struct LogLine {
    pub region: String,
    pub pod: String,
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
        error: Some(p),
        duration_ms: 0,
    }
}

pub fn failed_logs(plan: &Plan, p: Problem) -> LogsStep {
    LogsStep {
        status: Status::Error,
        window_secs: plan.logs.since.as_secs(),
        threshold: plan.runbook.logs.error_threshold,
        error_lines: 0,
        pods: vec![],
        partial: true,
        error: Some(p),
        duration_ms: 0,
    }
}

/// Runs the Kubernetes steps of `plan` for one region, writing results into
/// `slot` as they finish so that a deadline or Ctrl-C keeps what is done.
pub async fn run_region(
    plan: Arc<Plan>,
    kubeconfig: Arc<k8s::Loaded>,
    region: RegionPlan,
    slot: Arc<Mutex<RegionReport>>,
    sink: Option<mpsc::Sender<LogLine>>,
    deadline: TokioInstant,
) {
    let started = Instant::now();
    let remaining = || deadline.saturating_duration_since(TokioInstant::now()).max(Duration::from_millis(1));
    let client = match k8s::client(&kubeconfig, &region.context, remaining()).await {
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
            return;
        }
    };
    let cx = RegionRun { plan: &plan, region: &region, slot: &slot, deadline, started };
    let (pods_seen, pods_rx) = oneshot::channel();
    let main = pods_and_logs(&cx, client.clone(), sink, pods_seen);
    if plan.steps.evidence {
        // Optional evidence starts with the pods list and never holds it up.
        tokio::join!(main, evidence(&cx, client, pods_rx));
    } else {
        main.await;
    }
    slot.lock().expect("slot").duration_ms = started.elapsed().as_millis() as u64;
}

/// What the steps of one region share.
struct RegionRun<'a> {
    plan: &'a Arc<Plan>,
    region: &'a RegionPlan,
    slot: &'a Mutex<RegionReport>,
    deadline: TokioInstant,
    started: Instant,
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
    let pod_list = match listed {
        Err(_) => Err(Problem::new(ProblemKind::Timeout, "listing pods did not finish before the deadline")),
        Ok(Err(e)) => Err(k8s::problem(&e, "list", "pods", &ns)),
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
    let mut note = None;
    if infos.is_empty() {
        // Tell "no pods" from "no namespace" when we are allowed to look.
        let nss: Api<Namespace> = Api::all(client.clone());
        note = Some(match tokio::time::timeout_at(deadline, nss.get_opt(&ns)).await {
            Ok(Ok(None)) => format!("namespace {ns} does not exist"),
            _ => format!("no pods match {} in namespace {ns}", plan.runbook.selector),
        });
    }
    let step = pods::step(
        infos.clone(),
        plan.runbook.expected_ready,
        plan.logs.since,
        note,
        list_started.elapsed().as_millis() as u64,
    );
    slot.lock().expect("slot").pods = Some(step);

    if plan.steps.logs {
        let logs_started = Instant::now();
        let classifier =
            Classifier::new(&plan.runbook.logs.error_patterns.iter().map(|p| p.0.clone()).collect::<Vec<_>>());
        let mut reads = vec![];
        for info in &infos {
            let restarted = pods::restarted_within(info, plan.logs.since);
            if !plan.logs.previous_only {
                reads.push((info.name.clone(), false));
            }
            if plan.logs.previous_only || restarted {
                reads.push((info.name.clone(), true));
            }
        }
        // Stop reading a little before the deadline so partial counts are kept.
        let read_deadline = deadline.checked_sub(Duration::from_millis(150)).unwrap_or(deadline);
        // A bounded number of log streams per region at a time.
        let results: Vec<PodLogs> = futures::stream::iter(reads.into_iter().map(|(pod, previous)| {
            read_pod_logs(&api, &plan, &region.name, pod, previous, &classifier, sink.clone(), read_deadline)
        }))
        .buffered(MAX_LOG_STREAMS)
        .collect()
        .await;
        tracing::debug!(region = %region.name, streams = results.len(), "logs read");
        let mut step = LogsStep {
            status: Status::Pass,
            window_secs: plan.logs.since.as_secs(),
            threshold: plan.runbook.logs.error_threshold,
            error_lines: results.iter().map(|r| r.error_lines).sum(),
            partial: results.iter().any(|r| r.partial || r.error.as_ref().is_some_and(|e| !expected_absence(e.kind))),
            pods: results,
            error: None,
            duration_ms: logs_started.elapsed().as_millis() as u64,
        };
        step.status = judge_logs(&step);
        if step.status == Status::Error {
            step.error = step.pods.iter().find_map(|p| p.error.clone());
        }
        slot.lock().expect("slot").logs = Some(step);
    }
    slot.lock().expect("slot").duration_ms = started.elapsed().as_millis() as u64;
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
    RolloutFacts {
        status: Status::Error,
        deployment: None,
        revision: None,
        replica_set: None,
        images: vec![],
        rolled_out_secs_ago: None,
        previous: None,
        note: None,
        error: Some(p),
        duration_ms: 0,
    }
}

/// Warn when a pod logged more error lines than the threshold; error when
/// some logs could not be read (a container that has not started has none
/// to read, and a pod deleted meanwhile is gone: neither is a failure).
pub fn judge_logs(step: &LogsStep) -> Status {
    if step.pods.iter().any(|p| p.error_lines > step.threshold) {
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

#[allow(clippy::too_many_arguments)]
async fn read_pod_logs(
    api: &Api<Pod>,
    plan: &Plan,
    region: &str,
    pod: String,
    previous: bool,
    classifier: &Classifier,
    sink: Option<mpsc::Sender<LogLine>>,
    deadline: TokioInstant,
) -> PodLogs {
    let ns = &plan.runbook.namespace;
    let mut out = PodLogs {
        pod: pod.clone(),
        previous,
        lines: 0,
        error_lines: 0,
        top_errors: vec![],
        partial: false,
        error: None,
    };
    let lp = LogParams {
        container: Some(plan.runbook.container.clone()),
        since_seconds: Some(plan.logs.since.as_secs().max(1) as i64),
        tail_lines: plan.logs.tail,
        previous,
        ..LogParams::default()
    };
    let mut tally = Tally::default();
    let work = async {
        let stream = api.log_stream(&pod, &lp).await.map_err(|e| k8s::problem(&e, "get", "pods/log", ns))?;
        let grep = plan.logs.grep.clone();
        let region = region.to_string();
        let pod_name = pod.clone();
        let result = logs::read_lines(stream, classifier, &mut tally, sink.as_ref(), |line: &str, is_error: bool| {
            grep.as_ref().is_none_or(|g| g.is_match(line)).then(|| LogLine {
                region: region.clone(),
                pod: pod_name.clone(),
                text: sanitize::clean(line, 4096),
                is_error,
            })
        })
        .await;
        result.map_err(|e| {
            let (kind, msg) = crate::neterr::classify(&e);
            Problem::new(kind, format!("reading logs stopped: {msg}"))
        })
    };
    match tokio::time::timeout_at(deadline, work).await {
        Err(_) => {
            out.partial = true;
        }
        Ok(Err(p)) => {
            out.error = Some(match p.kind {
                ProblemKind::NotFound => {
                    Problem::new(ProblemKind::NotFound, "the pod was deleted before its logs were read")
                }
                _ => p,
            });
        }
        Ok(Ok(())) => {}
    }
    out.lines = tally.lines;
    out.error_lines = tally.error_lines;
    out.top_errors = tally.top(logs::TOP_GROUPS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RegionPlan;
    use crate::report::{EventGroup, EventKind};
    use crate::verdict::region_verdict;

    fn region(pods: Status) -> RegionReport {
        let mut r = empty_region(&RegionPlan {
            name: "r".into(),
            context: "c".into(),
            healthz_url: None,
            placeholder_context: None,
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
