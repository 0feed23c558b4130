//! Running a plan: the healthz checks and every region's Kubernetes steps
//! run concurrently under one deadline. Results land in per-region slots as
//! they finish, so a deadline or Ctrl-C still reports what is done; log lines
//! (the `logs` command) go through this task, the one writer to stdout.

pub mod progress;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant as TokioInstant;

use crate::advice;
use crate::evidence::healthz;
use crate::evidence::region::{self, LogLine};
use crate::execute::progress::Sink;
use crate::judge;
use crate::kube::client;
use crate::plan::Plan;
use crate::render;
use crate::report::{HealthzCheck, PeerCheck, Problem, ProblemKind, Report, SCHEMA, Status};

/// Time allowed past the deadline for tasks to hand in what they have.
const GRACE: Duration = Duration::from_millis(400);

pub struct Outcome {
    pub report: Report,
    pub interrupted: bool,
}

/// Runs `plan`; each region's step goes to `progress` as it changes.
pub async fn execute(plan: Arc<Plan>, progress: Sink) -> Result<Outcome> {
    let started = Instant::now();
    let generated_at =
        jiff::Timestamp::now().round(jiff::Unit::Second).map_or_else(|_| String::new(), |t| t.to_string());
    let deadline = TokioInstant::now() + plan.timeout;
    // Listen for Ctrl-C before any work starts, so an early one is not lost.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut tasks: JoinSet<()> = JoinSet::new();

    let http = healthz::client(plan.runbook.healthz.timeout.0.min(plan.timeout))?;
    let hz_timeout = plan.runbook.healthz.timeout.0.min(plan.timeout);
    let env_healthz: Arc<Mutex<Option<HealthzCheck>>> = Arc::new(Mutex::new(None));
    let peer_slots: Vec<Arc<Mutex<Option<PeerCheck>>>> =
        plan.peers.iter().map(|_| Arc::new(Mutex::new(None))).collect();
    if let Some(key) = plan.placeholder_healthz.as_ref().filter(|_| plan.steps.healthz) {
        *env_healthz.lock().expect("slot") = Some(unfinished_healthz(&plan.healthz_url, placeholder(key)));
    } else if plan.steps.healthz {
        let (slot, client, p) = (env_healthz.clone(), http.clone(), plan.clone());
        tasks.spawn(async move {
            let r = cut_by_run(healthz::check(&client, &p.healthz_url, &p.runbook.healthz, hz_timeout).await, &p);
            *slot.lock().expect("slot") = Some(r);
        });
        // Other APIs are probed alongside, not after: when the service's
        // healthz fails they tell a platform outage from its own, at no extra wait.
        for (peer, slot) in plan.peers.iter().zip(&peer_slots) {
            let (slot, http, peer) = (slot.clone(), http.clone(), peer.clone());
            tasks.spawn(async move {
                let r = healthz::probe_peer(&http, &peer.name, &peer.url, hz_timeout).await;
                *slot.lock().expect("slot") = Some(r);
            });
        }
    }

    let kubeconfig = Arc::new(if plan.steps.pods {
        client::load(plan.kubeconfig.as_deref())
    } else {
        Err(Problem::new(ProblemKind::Other, "not needed"))
    });
    let (tx, mut rx) = mpsc::channel::<LogLine>(1024);
    // Without the Kubernetes steps, only regions with a healthz URL of their own have anything to report.
    let regions: Vec<_> = plan.regions.iter().filter(|r| plan.steps.pods || r.healthz_url.is_some()).cloned().collect();
    let slots: Vec<_> = regions.iter().map(|r| Arc::new(Mutex::new(region::empty_region(r)))).collect();
    // A region on a cluster another region already checks is not checked
    // again: its results would pass for a second region's.
    let same = if plan.steps.pods { client::same_clusters(&kubeconfig, &regions) } else { vec![None; regions.len()] };
    for ((region, slot), same) in regions.iter().zip(&slots).zip(same) {
        if plan.steps.healthz
            && let Some(url) = region.healthz_url.clone()
        {
            let (slot, http, plan) = (slot.clone(), http.clone(), plan.clone());
            tasks.spawn(async move {
                let r = cut_by_run(healthz::check(&http, &url, &plan.runbook.healthz, hz_timeout).await, &plan);
                slot.lock().expect("slot").healthz = Some(r);
            });
        }
        if let Some(key) = region.placeholder_context.as_ref().filter(|_| plan.steps.pods) {
            let mut s = slot.lock().expect("slot");
            s.pods = Some(region::failed_pods(plan.runbook.expected_ready, placeholder(key)));
            if plan.steps.logs {
                s.logs = Some(region::failed_logs(&plan, placeholder(key)));
            }
            progress.region(&region.name).step(crate::execute::progress::Step::Done);
        } else if let Some(same) = same {
            let p = same.problem(&region.context, &plan.runbook.namespace);
            let mut s = slot.lock().expect("slot");
            s.pods = Some(region::failed_pods(plan.runbook.expected_ready, p.clone()));
            if plan.steps.logs {
                s.logs = Some(region::failed_logs(&plan, p.clone()));
            }
            if plan.steps.evidence {
                s.events = Some(region::failed_events(&plan, p.clone()));
                s.rollout = Some(region::failed_rollout(p));
            }
            progress.region(&region.name).step(crate::execute::progress::Step::Done);
        } else if plan.steps.pods {
            let sink = plan.logs.stream.then(|| tx.clone());
            tasks.spawn(region::run_region(
                plan.clone(),
                kubeconfig.clone(),
                region.clone(),
                slot.clone(),
                sink,
                progress.region(&region.name),
                deadline,
            ));
        }
    }
    drop(tx);

    let mut interrupted = false;
    let mut streaming = plan.logs.stream;
    let hard_deadline = deadline + GRACE;
    let mut stdout = std::io::stdout();
    loop {
        tokio::select! {
            biased;
            _ = interrupt.recv() => { interrupted = true; break; }
            Some(line) = rx.recv() => {
                if streaming && render::table::log_line(&line, plan.color, &mut stdout).is_err() {
                    // A closed pipe: stop printing, keep checking.
                    streaming = false;
                }
            }
            joined = tasks.join_next() => {
                if joined.is_none() {
                    break;
                }
            }
            () = tokio::time::sleep_until(hard_deadline) => break,
        }
    }
    tasks.abort_all();
    while let Ok(line) = rx.try_recv() {
        if streaming && render::table::log_line(&line, plan.color, &mut stdout).is_err() {
            streaming = false;
        }
    }
    let _ = stdout.flush();

    let cut_short = |what: &str| {
        if interrupted {
            Problem::new(ProblemKind::Interrupted, format!("{what}: interrupted before it finished"))
        } else {
            Problem::new(
                ProblemKind::Deadline,
                format!("{what}: did not finish within {} (--timeout)", humantime::format_duration(plan.timeout)),
            )
        }
    };
    // A run that lasted to its deadline was cut short, whichever way each
    // step recorded it (a client read timeout fires at the deadline too).
    let mut partial = interrupted || started.elapsed() >= plan.timeout;
    let healthz = if plan.steps.healthz {
        Some(env_healthz.lock().expect("slot").clone().unwrap_or_else(|| {
            partial = true;
            unfinished_healthz(&plan.healthz_url, cut_short("healthz"))
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
        .zip(&peer_slots)
        .filter_map(|(peer, slot)| {
            let done = slot.lock().expect("slot").clone();
            done.or_else(|| {
                plan.placeholder_healthz.is_none().then(|| PeerCheck {
                    name: peer.name.clone(),
                    url: crate::mask::url(&peer.url),
                    up: false,
                    http_status: None,
                    latency_ms: None,
                    error: Some(cut_short("peer healthz")),
                })
            })
        })
        .collect();
    let mut reports = vec![];
    for (region, slot) in regions.iter().zip(&slots) {
        let mut r = slot.lock().expect("slot").clone();
        if plan.steps.healthz && region.healthz_url.is_some() && r.healthz.is_none() {
            partial = true;
            r.healthz = Some(unfinished_healthz(
                region.healthz_url.as_deref().unwrap_or_default(),
                cut_short("regional healthz"),
            ));
        }
        if plan.steps.pods && r.pods.is_none() {
            partial = true;
            r.pods = Some(region::failed_pods(plan.runbook.expected_ready, cut_short("listing pods")));
        }
        if plan.steps.logs && r.logs.is_none() {
            partial = true;
            r.logs = Some(region::failed_logs(&plan, cut_short("reading logs")));
        }
        // Optional evidence cut short says so in its own step; it does not
        // make the run partial, since no verdict rests on it.
        if plan.steps.evidence && r.events.is_none() {
            r.events = Some(region::failed_events(&plan, cut_short("reading events")));
        }
        if plan.steps.evidence && r.rollout.is_none() {
            r.rollout = Some(region::failed_rollout(cut_short("reading the deployment's revisions")));
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
        r.verdict = judge::region_verdict(&r);
        reports.push(r);
    }
    judge::judge_without_baseline(&mut reports);
    judge::doubt_empty_selector(&plan, healthz.as_ref(), &mut reports);
    let mut report = Report {
        schema: SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION"),
        generated_at,
        runbook: plan.runbook_name.clone(),
        service_name: plan.runbook.service.clone(),
        environment: plan.env.clone(),
        steps: plan.steps.names(),
        service: crate::report::ServiceVerdict {
            verdict: crate::report::Verdict::Unknown,
            summary: String::new(),
            impact: None,
        },
        healthz,
        peers,
        regions: reports,
        findings: vec![],
        next_steps: vec![],
        partial,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    judge::judge(&plan, &mut report);
    advice::advise(&plan, &mut report);
    Ok(Outcome { report, interrupted })
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
