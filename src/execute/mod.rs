//! Running a plan: the healthz checks and every region's Kubernetes steps
//! run concurrently under one deadline (`gather`). Results land in
//! per-region slots as they finish, so a deadline or Ctrl-C still reports
//! what is done. Streamed log lines go to the line sink the caller gives.
//! What comes out is facts: judging them is `judge`'s, wording them
//! `advice`'s and `render`'s.

pub mod gather;
pub mod progress;
pub mod region;
mod telemetry;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant as TokioInstant;

use crate::evidence::healthz;
use crate::evidence::region::{LogLine, empty_region, failed_events, failed_logs, failed_pods, failed_rollout};
use crate::execute::gather::Gather;
use crate::execute::progress::{Sink, Step};
use crate::execute::region::{RegionTask, fail_all, run_region};
use crate::kube::client;
use crate::plan::{ContextFrom, Plan, RegionPlan};
use crate::report::{
    HealthzCheck, PeerCheck, Problem, ProblemKind, RegionReport, Report, SCHEMA, ServiceVerdict, Status, Verdict,
};

pub struct Outcome {
    pub report: Report,
    pub interrupted: bool,
}

/// Where streamed log lines go (the `logs` command in table mode): an error
/// (a closed pipe) stops the printing, never the checks.
pub type LineSink<'a> = &'a mut dyn FnMut(&LogLine) -> std::io::Result<()>;

type Slot<T> = Arc<Mutex<T>>;

/// The slots the tasks of a run write into.
struct Slots {
    healthz: Slot<Option<HealthzCheck>>,
    peers: Vec<Slot<Option<PeerCheck>>>,
    regions: Vec<RegionPlan>,
    region: Vec<Slot<RegionReport>>,
    telemetry: Slot<Option<telemetry::Done>>,
}

/// Runs `plan`: each region's step goes to `progress` as it changes, each
/// streamed log line to `lines`. The report's verdicts are left unjudged.
pub async fn execute(plan: Arc<Plan>, progress: Sink, lines: Option<LineSink<'_>>) -> Result<Outcome> {
    let started = Instant::now();
    let generated_at = crate::duration::whole_second(jiff::Timestamp::now()).to_string();
    let deadline = TokioInstant::now() + plan.timeout;
    // Listen for Ctrl-C before any work starts, so an early one is not lost.
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let (tx, rx) = mpsc::channel::<LogLine>(1024);
    let mut gather = Gather::new(deadline).interrupted_by(interrupt).with_lines(rx);
    let http = healthz::client(plan.runbook.healthz.timeout.0.min(plan.timeout))?;
    let slots = schedule(&plan, &mut gather, &http, &progress, &tx, deadline);
    drop(tx);

    let mut streaming = plan.logs.stream;
    let mut lines = lines;
    let interrupted = gather
        .wait(|line| {
            if let Some(write) = lines.as_mut().filter(|_| streaming)
                && write(&line).is_err()
            {
                // A closed pipe: stop printing, keep checking.
                streaming = false;
            }
        })
        .await;
    let report = collect(&plan, &slots, interrupted, started, generated_at);
    Ok(Outcome { report, interrupted })
}

/// Starts every task of `plan`: the healthz checks (the service's, its
/// peers', each region's own) and each region's Kubernetes steps.
fn schedule(
    plan: &Arc<Plan>,
    gather: &mut Gather<LogLine>,
    http: &reqwest::Client,
    progress: &Sink,
    tx: &mpsc::Sender<LogLine>,
    deadline: TokioInstant,
) -> Slots {
    let hz_timeout = plan.runbook.healthz.timeout.0.min(plan.timeout);
    // Without the Kubernetes steps, only regions with a healthz URL of their own have anything to report.
    let telemetry = plan.steps.telemetry && plan.telemetry.is_some();
    let regions: Vec<_> =
        plan.regions.iter().filter(|r| plan.steps.pods || telemetry || r.healthz_url.is_some()).cloned().collect();
    let slots = Slots {
        healthz: Arc::new(Mutex::new(None)),
        peers: plan.peers.iter().map(|_| Arc::new(Mutex::new(None))).collect(),
        region: regions.iter().map(|r| Arc::new(Mutex::new(empty_region(r)))).collect(),
        regions,
        telemetry: Arc::new(Mutex::new(None)),
    };
    schedule_healthz(plan, gather, http, &slots, hz_timeout);
    telemetry::schedule(plan, gather, &slots.telemetry, &slots.regions, deadline);
    let kubeconfig = Arc::new(if plan.steps.pods {
        client::load(plan.kubeconfig.as_deref())
    } else {
        Err(Problem::new(ProblemKind::Other, "not needed"))
    });
    let all_streams = Arc::new(Semaphore::new(plan.logs.max_streams_total));
    // A region on a cluster another region already checks is not checked
    // again: its results would pass for a second region's.
    let same = if plan.steps.pods {
        same_clusters(plan, &kubeconfig, &slots.regions)
    } else {
        vec![None; slots.regions.len()]
    };
    for ((region, slot), same) in slots.regions.iter().zip(&slots.region).zip(same) {
        if plan.steps.healthz
            && let Some(url) = region.healthz_url.clone()
        {
            let (slot, http, plan) = (slot.clone(), http.clone(), plan.clone());
            gather.spawn(async move {
                let r = cut_by_run(healthz::check(&http, &url, &plan.runbook.healthz, hz_timeout).await, &plan);
                slot.lock().expect("slot").healthz = Some(r);
            });
        }
        if let Some(key) = region.placeholder_context.as_ref().filter(|_| plan.steps.pods) {
            let mut s = slot.lock().expect("slot");
            s.pods = Some(failed_pods(plan.runbook.expected_ready, placeholder(key)));
            if plan.steps.logs {
                s.logs = Some(failed_logs(plan, placeholder(key)));
            }
            progress.region(&region.name).step(Step::Done);
        } else if let Some(same) = same {
            let p = same.problem(&region.context, &plan.runbook.namespace);
            fail_all(plan, &mut slot.lock().expect("slot"), &p);
            progress.region(&region.name).step(Step::Done);
        } else if plan.steps.pods {
            gather.spawn(run_region(RegionTask {
                plan: plan.clone(),
                kubeconfig: kubeconfig.clone(),
                region: region.clone(),
                slot: slot.clone(),
                sink: plan.logs.stream.then(|| tx.clone()),
                progress: progress.region(&region.name),
                deadline,
                all_streams: all_streams.clone(),
            }));
        }
    }
    slots
}

/// The service's healthz and, alongside, its peers'.
fn schedule_healthz(
    plan: &Arc<Plan>,
    gather: &mut Gather<LogLine>,
    http: &reqwest::Client,
    slots: &Slots,
    hz_timeout: Duration,
) {
    if let Some(key) = plan.placeholder_healthz.as_ref().filter(|_| plan.steps.healthz) {
        *slots.healthz.lock().expect("slot") = Some(unfinished_healthz(&plan.healthz_url, placeholder(key)));
    } else if plan.steps.healthz {
        let (slot, client, p) = (slots.healthz.clone(), http.clone(), plan.clone());
        gather.spawn(async move {
            let r = cut_by_run(healthz::check(&client, &p.healthz_url, &p.runbook.healthz, hz_timeout).await, &p);
            *slot.lock().expect("slot") = Some(r);
        });
        // Other APIs are probed alongside, not after: when the service's
        // healthz fails they tell a platform outage from its own, at no extra wait.
        for (peer, slot) in plan.peers.iter().zip(&slots.peers) {
            let (slot, http, peer) = (slot.clone(), http.clone(), peer.clone());
            gather.spawn(async move {
                let r = healthz::probe_peer(&http, &peer.name, &peer.url, hz_timeout).await;
                *slot.lock().expect("slot") = Some(r);
            });
        }
    }
}

/// The report of what the slots hold once the tasks are done or stopped:
/// what did not finish says why; `partial` when the run was cut short.
fn collect(plan: &Plan, slots: &Slots, interrupted: bool, started: Instant, generated_at: String) -> Report {
    let cut = Cut { plan, interrupted };
    // A run that lasted to its deadline was cut short, whichever way each
    // step recorded it (a client read timeout fires at the deadline too).
    let mut partial = interrupted || started.elapsed() >= plan.timeout;
    let healthz = if plan.steps.healthz {
        Some(slots.healthz.lock().expect("slot").clone().unwrap_or_else(|| {
            partial = true;
            unfinished_healthz(&plan.healthz_url, cut.short("healthz"))
        }))
    } else {
        None
    };
    if healthz.as_ref().and_then(|h| h.error.as_ref()).is_some_and(|e| e.kind == ProblemKind::Deadline) {
        partial = true;
    }
    let peers: Vec<PeerCheck> = plan
        .peers
        .iter()
        .zip(&slots.peers)
        .filter_map(|(peer, slot)| {
            let done = slot.lock().expect("slot").clone();
            done.or_else(|| {
                plan.placeholder_healthz.is_none().then(|| PeerCheck {
                    name: peer.name.clone(),
                    url: crate::mask::url(&peer.url),
                    up: false,
                    http_status: None,
                    latency_ms: None,
                    error: Some(cut.short("peer healthz")),
                })
            })
        })
        .collect();
    let mut regions = vec![];
    let done = slots.telemetry.lock().expect("slot").clone();
    let (telemetry, mut by_region) = telemetry::collect(plan, done, &cut.short("telemetry"));
    for (region, slot) in slots.regions.iter().zip(&slots.region) {
        let mut r = slot.lock().expect("slot").clone();
        r.telemetry = by_region.remove(&region.name);
        let (r, cut_short) = cut.fill_in(region, r);
        partial |= cut_short;
        regions.push(r);
    }
    Report {
        schema: SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION"),
        generated_at,
        runbook: plan.runbook_name.clone(),
        service_name: plan.runbook.service.clone(),
        environment: plan.env.clone(),
        steps: plan.step_names(),
        service: ServiceVerdict { verdict: Verdict::Unknown, summary: String::new(), impact: None },
        healthz,
        peers,
        telemetry,
        regions,
        findings: vec![],
        next_steps: vec![],
        partial,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

/// How a run was cut short, to say so in what did not finish.
struct Cut<'a> {
    plan: &'a Plan,
    interrupted: bool,
}

impl Cut<'_> {
    fn short(&self, what: &str) -> Problem {
        if self.interrupted {
            Problem::new(ProblemKind::Interrupted, format!("{what}: interrupted before it finished"))
        } else {
            Problem::new(
                ProblemKind::Deadline,
                format!("{what}: did not finish within {} (--timeout)", humantime::format_duration(self.plan.timeout)),
            )
        }
    }

    /// `r` with every step that did not finish saying why; true when that
    /// makes the run partial.
    fn fill_in(&self, region: &RegionPlan, mut r: RegionReport) -> (RegionReport, bool) {
        let plan = self.plan;
        let mut partial = false;
        if plan.steps.healthz && region.healthz_url.is_some() && r.healthz.is_none() {
            partial = true;
            r.healthz = Some(unfinished_healthz(
                region.healthz_url.as_deref().unwrap_or_default(),
                self.short("regional healthz"),
            ));
        }
        if plan.steps.pods && r.pods.is_none() {
            partial = true;
            r.pods = Some(failed_pods(plan.runbook.expected_ready, self.short("listing pods")));
        }
        if plan.steps.logs && r.logs.is_none() {
            partial = true;
            r.logs = Some(failed_logs(plan, self.short("reading logs")));
        }
        // Optional evidence cut short says so in its own step; it does not
        // make the run partial, since no verdict rests on it.
        if plan.steps.evidence && r.events.is_none() {
            r.events = Some(failed_events(plan, self.short("reading events")));
        }
        if plan.steps.evidence && r.rollout.is_none() {
            r.rollout = Some(failed_rollout(self.short("reading the deployment's revisions")));
        }
        if r.logs.as_ref().is_some_and(|l| l.partial)
            && r.logs.as_ref().is_some_and(|l| l.pods.iter().any(|p| p.partial))
        {
            partial = true;
        }
        // A step throttled to its end stopped because the deadline left no
        // time for another retry: cut short by the deadline, as a hang is.
        let throttled = |p: Option<&Problem>| p.is_some_and(|p| p.kind == ProblemKind::Throttled);
        if throttled(r.pods.as_ref().and_then(|p| p.error.as_ref()))
            || r.logs
                .as_ref()
                .is_some_and(|l| throttled(l.error.as_ref()) || l.pods.iter().any(|p| throttled(p.error.as_ref())))
        {
            partial = true;
        }
        (r, partial)
    }
}

/// The regions as the kube client asks which of them share a cluster.
/// For each of `regions`, the region of the environment whose context
/// reaches the same API server and stands for it (see
/// [`client::same_clusters`]); every region of the environment is compared,
/// so that a run of one region catches a context that is another's.
pub fn same_clusters(
    plan: &Plan,
    kubeconfig: &client::Loaded,
    regions: &[RegionPlan],
) -> Vec<Option<client::SameCluster>> {
    let all = plan.env_regions();
    let same = client::same_clusters(kubeconfig, &targets(all));
    regions.iter().map(|r| all.iter().position(|a| a.name == r.name).and_then(|i| same[i].clone())).collect()
}

pub fn targets(regions: &[RegionPlan]) -> Vec<client::Target<'_>> {
    regions
        .iter()
        .map(|r| client::Target {
            region: &r.name,
            context: r.placeholder_context.is_none().then_some(r.context.as_str()),
            // A context the runbook names stands for its cluster before
            // one given by --context or taken as the current one.
            from_flag: matches!(r.context_from, ContextFrom::Flag | ContextFrom::Current { .. }),
        })
        .collect()
}

/// The result of a check not run because its runbook value is a placeholder.
fn placeholder(key: &str) -> Problem {
    Problem::new(ProblemKind::Placeholder, format!("not checked: {key} is a placeholder"))
}

/// A healthz request that timed out because the run's `--timeout` is
/// shorter than the runbook's healthz timeout was cut by the run, not by the
/// service: it is not an outage but a check that could not finish.
fn cut_by_run(mut h: HealthzCheck, plan: &Plan) -> HealthzCheck {
    let run_is_shorter = plan.timeout < plan.runbook.healthz.timeout.0;
    if run_is_shorter && h.error.as_ref().is_some_and(|e| e.kind == ProblemKind::Timeout) {
        h.status = Status::Error;
        h.error = Some(Problem::new(
            ProblemKind::Deadline,
            format!(
                "no reply within the run's {} (--timeout), shorter than the runbook's healthz timeout of {}",
                humantime::format_duration(plan.timeout),
                humantime::format_duration(plan.runbook.healthz.timeout.0)
            ),
        ));
    }
    h
}

fn unfinished_healthz(url: &str, p: Problem) -> HealthzCheck {
    HealthzCheck { status: Status::Error, error: Some(p), ..healthz::blank(url) }
}
