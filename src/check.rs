//! Running the steps against one region: list pods, then read each pod's
//! logs concurrently. Failures are recorded in the step results, never
//! returned as errors; every call is bounded by the run's deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, LogParams};
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

use crate::k8s;
use crate::logs::{self, Classifier, Tally};
use crate::plan::{Plan, RegionPlan};
use crate::pods;
use crate::report::{LogsStep, PodInfo, PodLogs, PodsStep, Problem, ProblemKind, RegionReport, Status, Verdict};
use crate::sanitize;

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
                s.logs = Some(failed_logs(&plan, p));
            }
            return;
        }
    };
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
        Ok(items) => items,
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
