//! Running the steps against one region: list pods, then read each pod's
//! logs — the window and, at the same time, the baseline before it —
//! concurrently; for `diagnose`, the optional evidence (Warning events,
//! ReplicaSets and the Deployment) alongside. Failures are recorded in the
//! step results, never returned as errors; every call is bounded by the
//! run's deadline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant as TokioInstant;

use crate::evidence::events;
use crate::evidence::log_reads::{self, Listed, LogReads, Pods};
use crate::evidence::region::{self, LogLine, failed_events, failed_logs, failed_pods, failed_rollout};
use crate::evidence::rollout;
use crate::execute::progress::{RegionSink, Step};
use crate::kube::client;
use crate::kube::pushback::Pushback;
use crate::plan::{Plan, RegionPlan};
use crate::report::{Problem, RegionReport};

/// What a region's run is given: where its results go and what it shares
/// with the other regions.
pub struct RegionTask {
    pub plan: Arc<Plan>,
    pub kubeconfig: Arc<client::Loaded>,
    pub region: RegionPlan,
    pub slot: Arc<Mutex<RegionReport>>,
    pub sink: Option<mpsc::Sender<LogLine>>,
    pub progress: RegionSink,
    pub deadline: TokioInstant,
    /// Log reads open at once in all regions.
    pub all_streams: Arc<Semaphore>,
}

/// Runs the Kubernetes steps of a plan for one region, writing results into
/// the slot as they finish so that a deadline or Ctrl-C keeps what is done.
pub async fn run_region(t: RegionTask) {
    let RegionTask { plan, kubeconfig, region, slot, sink, progress, deadline, all_streams } = t;
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
            fail_all(&plan, &mut slot.lock().expect("slot"), &p);
            progress.step(Step::Done);
            return;
        }
    };
    progress.step(Step::ListingPods);
    let server = client::server(&kubeconfig, &region.context);
    let cx = RegionRun {
        plan: &plan,
        region: &region,
        slot: &slot,
        deadline,
        started,
        progress: &progress,
        server,
        all_streams: &all_streams,
    };
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

/// Every step of the plan failed with `p` (no client for the region, or
/// not run for a reason found before it started).
pub fn fail_all(plan: &Plan, s: &mut RegionReport, p: &Problem) {
    if plan.steps.pods {
        s.pods = Some(failed_pods(plan.runbook.expected_ready, p.clone()));
    }
    if plan.steps.logs {
        s.logs = Some(failed_logs(plan, p.clone()));
    }
    if plan.steps.evidence {
        s.events = Some(failed_events(plan, p.clone()));
        s.rollout = Some(failed_rollout(p.clone()));
    }
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
    all_streams: &'a Semaphore,
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
    let api: Api<Pod> = Api::namespaced(client.clone(), &plan.runbook.namespace);
    let list_started = Instant::now();
    let pod_list = region::list_pods(&api, &plan, cx.server.as_deref(), deadline).await;
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
    // The decoded objects (tens of KB each with their managed fields) are
    // not kept while the logs stream.
    let listed = Listed::of(&pod_list, &plan.runbook.container, Timestamp::now());
    drop(pod_list);
    let took = || list_started.elapsed().as_millis() as u64;
    let step = region::pods_step(&client, &api, &plan, listed.infos.clone(), deadline, took).await;
    slot.lock().expect("slot").pods = Some(step);

    if plan.steps.logs {
        let pods = Pods { infos: &listed.infos, starts: &listed.starts, lacking: &listed.lacking };
        let reads =
            LogReads { api: &api, plan: &plan, region: &region.name, all_streams: cx.all_streams, sink, deadline };
        let on_read = |done, total| cx.progress.step(Step::ReadingLogs { done, total });
        let step = log_reads::read_logs(reads, pods, on_read).await;
        slot.lock().expect("slot").logs = Some(step);
    }
    slot.lock().expect("slot").duration_ms = started.elapsed().as_millis() as u64;
}
