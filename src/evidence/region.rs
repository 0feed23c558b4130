//! A region's required evidence as facts: listing the runbook's pods (and,
//! when none match, whether the namespace exists and how its pods are
//! labelled), the step results of what could not run, and the log line
//! type shown by the `logs` command. Running the steps is `execute`'s;
//! reading the logs is `log_reads`'.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams};
use tokio::time::Instant as TokioInstant;

use crate::evidence::pods;
use crate::evidence::rollout;
use crate::evidence::selector::labels_elsewhere;
use crate::kube::client;
use crate::plan::{Plan, RegionPlan};
use crate::report::{
    EventsStep, LogsStep, PodInfo, PodsStep, Problem, ProblemKind, RegionReport, RolloutFacts, Status, Verdict,
};

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
        // In a pod the service account's, whatever the runbook says.
        current_context: matches!(r.context_from, crate::plan::ContextFrom::Current { .. })
            && r.context != crate::plan::IN_CLUSTER,
        verdict: Verdict::Unknown,
        healthz: None,
        pods: None,
        logs: None,
        events: None,
        rollout: None,
        telemetry: None,
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
pub fn logs_step(plan: &Plan) -> LogsStep {
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

/// Lists the runbook's pods. No answer by the deadline, whichever timer saw
/// it first, is said as what it is, with the server that did not answer.
pub async fn list_pods(
    api: &Api<Pod>,
    plan: &Plan,
    server: Option<&str>,
    deadline: TokioInstant,
) -> Result<Vec<Pod>, Problem> {
    let ns = &plan.runbook.namespace;
    let lp = ListParams::default().labels(&plan.runbook.selector);
    let listed = tokio::time::timeout_at(deadline, api.list(&lp)).await;
    let no_answer = || {
        let from = server.map_or_else(|| "the API server".to_string(), crate::mask::url);
        Problem::new(
            ProblemKind::Timeout,
            format!(
                "no answer from {from} to the pods list within {} (--timeout)",
                humantime::format_duration(plan.timeout)
            ),
        )
    };
    match listed {
        Err(_) => Err(no_answer()),
        Ok(Err(e)) => match client::problem(&e, "list", "pods", ns) {
            // The client's read timeout is the deadline; its connect
            // timeout (10s at most) may come sooner, and says only "timed out".
            p if p.kind == ProblemKind::Timeout && TokioInstant::now() + Duration::from_millis(100) >= deadline => {
                Err(no_answer())
            }
            p => Err(client::at_server(p, server)),
        },
        Ok(Ok(list)) => Ok(list.items),
    }
}

/// The pods step of the listed pods (`infos`): when none match, with a note
/// that tells "no pods" from "no namespace" and the labels the namespace's
/// other pods have.
pub async fn pods_step(
    client: &kube::Client,
    api: &Api<Pod>,
    plan: &Plan,
    infos: Vec<PodInfo>,
    deadline: TokioInstant,
    duration_ms: impl Fn() -> u64,
) -> PodsStep {
    let rb = &plan.runbook;
    let (mut note, mut namespace_unchecked) = (None, None);
    // The labels of the namespace's other pods, when none match.
    let other_labels = if infos.is_empty() { labels_elsewhere(api, &rb.selector, deadline).await } else { vec![] };
    if infos.is_empty() && !other_labels.is_empty() {
        // Other pods there: the namespace exists.
        note = Some(format!("no pods match {} in namespace {}", rb.selector, rb.namespace));
    } else if infos.is_empty() {
        let (text, unchecked) = no_pods(client, plan, deadline).await;
        note = Some(text);
        namespace_unchecked = unchecked;
    }
    let mut step = pods::step(infos, rb.expected_ready, plan.logs.since, rb.not_ready_grace.0, note, duration_ms());
    step.namespace_unchecked = namespace_unchecked;
    step.other_labels = other_labels;
    step
}

/// Tells "no pods" from "no namespace" when we are allowed to look; when we
/// are not, says that it may be either, with why it could not tell.
async fn no_pods(client: &kube::Client, plan: &Plan, deadline: TokioInstant) -> (String, Option<Problem>) {
    let ns = &plan.runbook.namespace;
    let nss: Api<Namespace> = Api::all(client.clone());
    let no_pods = format!("no pods match {} in namespace {ns}", plan.runbook.selector);
    let unknown = |p: Problem, why: &str| (format!("{no_pods}, or namespace {ns} does not exist: {why}"), Some(p));
    match tokio::time::timeout_at(deadline, nss.get_opt(ns)).await {
        Ok(Ok(None)) => (format!("namespace {ns} does not exist"), None),
        Ok(Ok(Some(_))) => (no_pods, None),
        Ok(Err(e)) => match client::problem(&e, "get", "namespaces", ns) {
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
    }
}
