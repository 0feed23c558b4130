//! Step 2: reading pods the way `kubectl get po` prints them. The READY,
//! STATUS and RESTARTS columns follow kubectl 1.32's pod printer: init
//! containers (`Init:1/2`, `Init:CrashLoopBackOff`), restartable init
//! containers (sidecars) counted as containers, scheduling gates, partly
//! completed pods (`NotReady`), Terminating and NodeLost. CrashLoopBackOff
//! lives in a container's waiting reason while the phase still says Running;
//! OOMKilled in its (last) terminated state. The clock is passed in so ages
//! are testable.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::report::{PodInfo, PodsStep, Status, Terminated};

/// The reasons kubectl gives meaning to; any other reason is printed as is.
const CRASH_LOOP: &str = "CrashLoopBackOff";
const COMPLETED: &str = "Completed";
const POD_INITIALIZING: &str = "PodInitializing";
const SCHEDULING_GATED: &str = "SchedulingGated";
const NODE_LOST: &str = "NodeLost";

fn secs_since(now: Timestamp, t: Option<&Time>) -> Option<u64> {
    t.map(|t| now.duration_since(t.0).as_secs().max(0) as u64)
}

/// How a container ended, in kubectl's words: its reason, else the signal
/// that killed it, else its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Reason(String),
    Signal(i32),
    ExitCode(i32),
}

impl Ended {
    fn of(t: &ContainerStateTerminated) -> Ended {
        match (t.reason.as_deref().filter(|r| !r.is_empty()), t.signal.filter(|s| *s != 0)) {
            (Some(reason), _) => Ended::Reason(reason.to_string()),
            (None, Some(signal)) => Ended::Signal(signal),
            (None, None) => Ended::ExitCode(t.exit_code),
        }
    }
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Reason(r) => f.write_str(r),
            Ended::Signal(s) => write!(f, "Signal:{s}"),
            Ended::ExitCode(c) => write!(f, "ExitCode:{c}"),
        }
    }
}

/// The STATUS column: what kubectl says about a pod, from the most general
/// fact (the phase) to the most specific (a container's state), with deletion
/// overriding everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    /// The phase (Pending, Running, Succeeded, Failed, Unknown), or the reason
    /// the pod itself gives instead (Evicted, NodeAffinity, OutOfcpu…).
    Pod(String),
    /// Not scheduled while it has scheduling gates.
    SchedulingGated,
    /// Init container `done` (counting from 0) of `total` has not finished.
    Init { done: usize, total: usize },
    /// An init container is waiting: CrashLoopBackOff, ImagePullBackOff…
    InitWaiting(String),
    /// An init container failed.
    InitEnded(Ended),
    /// A container is waiting: CrashLoopBackOff, ContainerCreating…
    Waiting(String),
    /// A container has ended: Completed, Error, OOMKilled, Signal:9, ExitCode:2.
    Ended(Ended),
    /// A container completed while another still runs: "Running" when the
    /// pod is Ready, "NotReady" when not.
    PartlyCompleted { pod_ready: bool },
    /// Being deleted.
    Terminating,
    /// Being deleted while its node is unreachable.
    Unknown,
}

impl PodState {
    /// kubectl compares the word it has so far with "Completed", whichever
    /// rule produced it.
    fn is_completed(&self) -> bool {
        match self {
            PodState::Pod(r) | PodState::Waiting(r) | PodState::Ended(Ended::Reason(r)) => r == COMPLETED,
            _ => false,
        }
    }
}

impl fmt::Display for PodState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodState::Pod(r) | PodState::Waiting(r) => f.write_str(r),
            PodState::SchedulingGated => f.write_str(SCHEDULING_GATED),
            PodState::Init { done, total } => write!(f, "Init:{done}/{total}"),
            PodState::InitWaiting(r) => write!(f, "Init:{r}"),
            PodState::InitEnded(e) => write!(f, "Init:{e}"),
            PodState::Ended(e) => write!(f, "{e}"),
            PodState::PartlyCompleted { pod_ready: true } => f.write_str("Running"),
            PodState::PartlyCompleted { pod_ready: false } => f.write_str("NotReady"),
            PodState::Terminating => f.write_str("Terminating"),
            PodState::Unknown => f.write_str("Unknown"),
        }
    }
}

/// Restarts summed over some containers, and when the latest of them ended.
#[derive(Debug, Clone, Copy, Default)]
struct Restarts {
    count: i32,
    latest: Option<Timestamp>,
}

impl Restarts {
    fn add(&mut self, cs: &ContainerStatus) {
        self.count += cs.restart_count;
        if let Some(t) = last_terminated(cs).and_then(|t| t.finished_at.as_ref()) {
            self.latest = self.latest.max(Some(t.0));
        }
    }
}

/// The READY, STATUS and RESTARTS columns of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    pub ready: usize,
    pub total: usize,
    pub state: PodState,
    pub restarts: i32,
    /// When the latest counted restart happened (its previous instance ended).
    pub last_restart: Option<Timestamp>,
}

fn container_state(cs: &ContainerStatus) -> ContainerState {
    cs.state.clone().unwrap_or_default()
}

fn waiting_reason(state: &ContainerState) -> Option<&str> {
    state.waiting.as_ref().and_then(|w| w.reason.as_deref()).filter(|r| !r.is_empty())
}

fn last_terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.last_state.as_ref().and_then(|s| s.terminated.as_ref())
}

fn condition_true(status: &PodStatus, type_: &str) -> bool {
    status.conditions.iter().flatten().any(|c| c.type_ == type_ && c.status == "True")
}

/// kubectl's pod printer. Init containers run one after another, so the first
/// that has not finished says what the pod is doing; a restartable init
/// container (a sidecar) that has started counts as a running container
/// instead. Once initialised, the regular containers are read last to first,
/// so the first container with a waiting or terminated state has the last
/// word.
pub fn print(pod: &Pod) -> Printed {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.clone().unwrap_or_default();
    let init_specs = spec.init_containers.unwrap_or_default();
    let is_sidecar =
        |name: &str| init_specs.iter().any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"));

    let mut state = PodState::Pod(status.reason.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| phase.clone()));
    let gated = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some(SCHEDULING_GATED));
    if gated {
        state = PodState::SchedulingGated;
    }

    let total = spec.containers.len() + init_specs.iter().filter(|c| is_sidecar(&c.name)).count();
    let mut ready = 0;
    let (mut all_init, mut sidecars) = (Restarts::default(), Restarts::default());
    let mut initializing = false;
    for (i, cs) in status.init_container_statuses.iter().flatten().enumerate() {
        all_init.add(cs);
        let sidecar = is_sidecar(&cs.name);
        if sidecar {
            sidecars.add(cs);
        }
        let st = container_state(cs);
        if st.terminated.as_ref().is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if sidecar && cs.started == Some(true) {
            ready += usize::from(cs.ready);
            continue;
        }
        state = match (&st.terminated, waiting_reason(&st).filter(|r| *r != POD_INITIALIZING)) {
            (Some(t), _) => PodState::InitEnded(Ended::of(t)),
            (None, Some(r)) => PodState::InitWaiting(r.to_string()),
            (None, None) => PodState::Init { done: i, total: init_specs.len() },
        };
        initializing = true;
        break;
    }

    let mut restarts = all_init;
    if !initializing || condition_true(&status, "Initialized") {
        // Once the pod runs, init restarts no longer matter, except a
        // sidecar's: it keeps running next to the containers.
        restarts = sidecars;
        let mut has_running = false;
        for cs in status.container_statuses.iter().flatten().rev() {
            restarts.add(cs);
            let st = container_state(cs);
            if let Some(r) = waiting_reason(&st) {
                state = PodState::Waiting(r.to_string());
            } else if let Some(t) = &st.terminated {
                state = PodState::Ended(Ended::of(t));
            } else if cs.ready && st.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if state.is_completed() && has_running {
            state = PodState::PartlyCompleted { pod_ready: condition_true(&status, "Ready") };
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        if status.reason.as_deref() == Some(NODE_LOST) {
            state = PodState::Unknown;
        } else if phase != "Succeeded" && phase != "Failed" {
            // A pod that already finished keeps saying how it finished.
            state = PodState::Terminating;
        }
    }

    Printed { ready, total, state, restarts: restarts.count, last_restart: restarts.latest }
}

/// One pod as kubectl shows it, at time `now`, plus what the verdict needs.
pub fn read_pod(pod: &Pod, container: &str, now: Timestamp) -> PodInfo {
    let printed = print(pod);
    let status = pod.status.clone().unwrap_or_default();
    let init = status.init_container_statuses.as_deref().unwrap_or_default();
    let regular = status.container_statuses.as_deref().unwrap_or_default();
    let every = || init.iter().chain(regular.iter());

    // The runbook's container says why it last ended; when it has not ended
    // (a pod stuck in an init container), the container that ended last does.
    let named = regular.iter().find(|c| c.name == container).or_else(|| regular.first()).and_then(last_terminated);
    let latest = every().filter_map(last_terminated).max_by_key(|t| t.finished_at.as_ref().map(|f| f.0));
    let last_terminated = named.or(latest).map(|t| Terminated {
        reason: t.reason.clone().unwrap_or_else(|| "Error".into()),
        exit_code: t.exit_code,
        finished_secs_ago: secs_since(now, t.finished_at.as_ref()),
    });
    // A crash-looping init container keeps the pod from ever starting: that
    // is a crash loop as much as the service's own container is.
    let crash_looping = every().any(|c| waiting_reason(&container_state(c)) == Some(CRASH_LOOP));
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let is_ready = !terminating
        && status
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map_or(printed.total > 0 && printed.ready == printed.total, |c| c.status == "True");
    PodInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        ready: format!("{}/{}", printed.ready, printed.total),
        is_ready,
        status: printed.state.to_string(),
        restarts: printed.restarts,
        last_restart_secs_ago: if printed.restarts != 0 {
            printed.last_restart.map(|t| now.duration_since(t).as_secs().max(0) as u64)
        } else {
            None
        },
        last_terminated,
        age_secs: secs_since(now, pod.metadata.creation_timestamp.as_ref()),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        terminating,
        crash_looping,
        pending: status.phase.as_deref() == Some("Pending"),
        not_ready_secs_ago: if is_ready {
            None
        } else {
            let ready = status.conditions.iter().flatten().find(|c| c.type_ == "Ready" && c.status != "True");
            secs_since(now, ready.and_then(|c| c.last_transition_time.as_ref()))
        },
        why: why(&status),
    }
}

/// What the pod's own status says about why it is not running: the
/// scheduler's message ("0/3 nodes are available: …"), or a waiting
/// container's ("Back-off pulling image …"). Read with the pod, so it is
/// there for users who may not list events.
fn why(status: &k8s_openapi::api::core::v1::PodStatus) -> Option<String> {
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .and_then(|c| c.message.clone());
    let waiting = || {
        status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
            .filter(|w| {
                // These say no more than the STATUS column does.
                !matches!(w.reason.as_deref(), Some("ContainerCreating" | "PodInitializing" | "CrashLoopBackOff"))
            })
            .find_map(|w| w.message.clone())
    };
    unscheduled.or_else(waiting).filter(|m| !m.trim().is_empty()).map(|m| crate::sanitize::clean(&m, 300))
}

/// Judges the pods of one region: fail when none is ready; warn when fewer
/// than expected are ready, or one is crash-looping, Terminating, Pending, or
/// restarted within the log window.
///
/// One pod Running but not ready for less than `grace`, the others ready,
/// counts as ready: a readiness probe flapping is everyday noise.
pub fn judge(pods: &[PodInfo], expected: u32, window: Duration, grace: Duration) -> Status {
    let ready = pods.iter().filter(|p| p.is_ready).count() as u32;
    if ready == 0 {
        return Status::Fail;
    }
    let troubled: Vec<&PodInfo> = pods
        .iter()
        .filter(|p| p.crash_looping || p.terminating || p.pending || !p.is_ready || restarted_within(p, window))
        .collect();
    if let [one] = troubled.as_slice()
        && briefly_not_ready(one, window, grace)
        && ready + 1 >= expected
    {
        return Status::Pass;
    }
    if ready < expected || !troubled.is_empty() { Status::Warn } else { Status::Pass }
}

/// Running, not ready for less than `grace`, and nothing else wrong with it.
pub fn briefly_not_ready(p: &PodInfo, window: Duration, grace: Duration) -> bool {
    !p.is_ready
        && p.status == "Running"
        && !(p.crash_looping || p.terminating || p.pending || restarted_within(p, window))
        && p.not_ready_secs_ago.is_some_and(|s| s < grace.as_secs())
}

pub fn restarted_within(p: &PodInfo, window: Duration) -> bool {
    p.last_restart_secs_ago.is_some_and(|s| s <= window.as_secs())
}

pub fn step(
    pods: Vec<PodInfo>,
    expected: u32,
    window: Duration,
    grace: Duration,
    note: Option<String>,
    duration_ms: u64,
) -> PodsStep {
    PodsStep {
        status: judge(&pods, expected, window, grace),
        expected,
        ready: pods.iter().filter(|p| p.is_ready).count() as u32,
        total: pods.len() as u32,
        restarts: pods.iter().map(|p| p.restarts as i64).sum(),
        pods,
        note,
        namespace_unchecked: None,
        other_labels: vec![],
        error: None,
        duration_ms,
    }
}

/// "3m", "2h", "5d" — as kubectl prints ages.
pub fn short_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 2 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn now() -> Timestamp {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn base(status: serde_json::Value) -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T10:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "api-key-service"}]},
            "status": status
        }))
    }

    #[test]
    fn why_a_pod_is_not_running_comes_from_its_own_status() {
        let unscheduled = read_pod(
            &base(serde_json::json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory."}]})),
            "api-key-service",
            now(),
        );
        assert_eq!(unscheduled.why.as_deref(), Some("0/3 nodes are available: 3 Insufficient memory."));
        let pulling = read_pod(
            &base(serde_json::json!({"phase": "Pending",
            "containerStatuses": [{"name": "api-key-service", "ready": false, "restartCount": 0, "image": "", "imageID": "",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"keysvc/api-key-service:9.9\""}}}]})),
            "api-key-service",
            now(),
        );
        assert_eq!(pulling.why.as_deref(), Some("Back-off pulling image \"keysvc/api-key-service:9.9\""));
    }

    #[test]
    fn running_and_ready() {
        let p = read_pod(
            &base(serde_json::json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "api-key-service", "ready": true, "restartCount": 0, "image": "", "imageID": "",
                "state": {"running": {"startedAt": "2026-01-01T10:00:00Z"}}}]})),
            "api-key-service",
            now(),
        );
        assert_eq!((p.status.as_str(), p.ready.as_str(), p.is_ready), ("Running", "1/1", true));
        assert_eq!(p.age_secs, Some(7200));
        assert_eq!(p.node.as_deref(), Some("n1"));
        assert_eq!(judge(&[p.clone(), p.clone(), p], 3, Duration::from_secs(300), GRACE), Status::Pass);
    }

    #[test]
    fn crash_loop_is_read_from_waiting_reason_while_phase_is_running() {
        let p = read_pod(
            &base(serde_json::json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "api-key-service", "ready": false, "restartCount": 7, "image": "", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-01-01T11:56:00Z"}}}]})),
            "api-key-service",
            now(),
        );
        assert_eq!(p.status, "CrashLoopBackOff");
        assert!(p.crash_looping && !p.is_ready);
        assert_eq!(p.restarts, 7);
        let t = p.last_terminated.clone().unwrap();
        assert_eq!((t.reason.as_str(), t.exit_code, t.finished_secs_ago), ("OOMKilled", 137, Some(240)));
        assert_eq!(p.last_restart_secs_ago, Some(240));
        assert!(restarted_within(&p, Duration::from_secs(300)));
        assert!(!restarted_within(&p, Duration::from_secs(60)));
    }

    #[test]
    fn oomkilled_terminated_and_evicted_and_pending() {
        let p = read_pod(
            &base(serde_json::json!({"phase": "Running",
            "containerStatuses": [{"name": "api-key-service", "ready": false, "restartCount": 1, "image": "", "imageID": "",
                "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]})),
            "api-key-service",
            now(),
        );
        assert_eq!(p.status, "OOMKilled");
        let p = read_pod(&base(serde_json::json!({"phase": "Failed", "reason": "Evicted"})), "api-key-service", now());
        assert_eq!(p.status, "Evicted");
        assert!(!p.is_ready);
        let p = read_pod(
            &base(serde_json::json!({"phase": "Pending",
            "containerStatuses": [{"name": "api-key-service", "ready": false, "restartCount": 0, "image": "", "imageID": "",
                "state": {"waiting": {"reason": "ContainerCreating"}}}]})),
            "api-key-service",
            now(),
        );
        assert_eq!(p.status, "ContainerCreating");
        assert!(p.pending);
        let p = read_pod(
            &base(serde_json::json!({"phase": "Running",
            "containerStatuses": [{"name": "api-key-service", "ready": false, "restartCount": 0, "image": "", "imageID": "",
                "state": {"terminated": {"exitCode": 2}}}]})),
            "api-key-service",
            now(),
        );
        assert_eq!(p.status, "ExitCode:2");
    }

    #[test]
    fn terminating_is_the_deletion_timestamp() {
        let mut p = base(serde_json::json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "api-key-service", "ready": true, "restartCount": 0, "image": "", "imageID": "",
                "state": {"running": {}}}]}));
        p.metadata.deletion_timestamp = Some(Time(now()));
        let p = read_pod(&p, "api-key-service", now());
        assert_eq!(p.status, "Terminating");
        assert!(p.terminating && !p.is_ready);
    }

    #[test]
    fn judging_counts_ready_pods() {
        let ready = read_pod(
            &base(serde_json::json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "api-key-service", "ready": true, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}}]})),
            "api-key-service",
            now(),
        );
        let w = Duration::from_secs(300);
        assert_eq!(judge(&[], 3, w, GRACE), Status::Fail);
        assert_eq!(judge(&[ready.clone(), ready.clone()], 3, w, GRACE), Status::Warn);
        assert_eq!(judge(&[ready.clone(), ready.clone(), ready.clone(), ready], 3, w, GRACE), Status::Pass);
        assert_eq!(short_age(59), "59s");
        assert_eq!(short_age(7200), "2h");
        assert_eq!(short_age(3 * 86400), "3d");
    }

    const GRACE: Duration = Duration::from_secs(30);

    #[test]
    fn one_pod_not_ready_for_less_than_the_grace_the_others_ready_passes() {
        let at = |ready: bool, since: i64| {
            let t = format!("{:.0}", now() - jiff::SignedDuration::from_secs(since));
            read_pod(
                &base(serde_json::json!({"phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": t}],
                "containerStatuses": [{"name": "api-key-service", "ready": ready, "restartCount": 0, "image": "", "imageID": "",
                    "state": {"running": {"startedAt": "2026-01-01T10:00:00Z"}}}]})),
                "api-key-service",
                now(),
            )
        };
        let (ok, flapping, long) = (at(true, 7200), at(false, 20), at(false, 30));
        assert_eq!((ok.not_ready_secs_ago, flapping.not_ready_secs_ago), (None, Some(20)));
        let w = Duration::from_secs(300);
        assert_eq!(judge(&[ok.clone(), flapping.clone(), ok.clone()], 3, w, GRACE), Status::Pass, "under the grace");
        assert_eq!(judge(&[ok.clone(), long.clone(), ok.clone()], 3, w, GRACE), Status::Warn, "at the grace");
        assert_eq!(judge(&[ok.clone(), flapping.clone(), flapping.clone()], 3, w, GRACE), Status::Warn, "two pods");
        assert_eq!(judge(&[ok.clone(), flapping.clone()], 3, w, GRACE), Status::Warn, "one pod short besides");
        let mut restarted = flapping.clone();
        (restarted.restarts, restarted.last_restart_secs_ago) = (1, Some(25));
        assert_eq!(judge(&[ok.clone(), restarted, ok.clone()], 3, w, GRACE), Status::Warn, "it restarted");
        assert_eq!(judge(&[ok.clone(), flapping, ok], 3, w, Duration::from_secs(10)), Status::Warn, "a shorter grace");
    }

    // What follows checks kubectl's printer rule by rule, on pods built from
    // a spec and a status as the API server returns them.

    fn cs(name: &str, ready: bool, restarts: i32, state: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"name": name, "ready": ready, "restartCount": restarts, "image": "", "imageID": "", "state": state})
    }

    fn running() -> serde_json::Value {
        serde_json::json!({"running": {"startedAt": "2026-01-01T10:00:00Z"}})
    }

    fn waiting(reason: &str) -> serde_json::Value {
        serde_json::json!({"waiting": {"reason": reason}})
    }

    fn exited(code: i32, reason: Option<&str>) -> serde_json::Value {
        serde_json::json!({"terminated": {"exitCode": code, "reason": reason}})
    }

    fn with(spec: serde_json::Value, status: serde_json::Value) -> Pod {
        pod(serde_json::json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T10:00:00Z"},
            "spec": spec, "status": status}))
    }

    fn columns(p: &Pod) -> (String, String, i32) {
        let info = read_pod(p, "api-key-service", now());
        (info.ready, info.status, info.restarts)
    }

    fn cols(ready: &str, status: &str, restarts: i32) -> (String, String, i32) {
        (ready.into(), status.into(), restarts)
    }

    fn one_init(n_init: usize) -> serde_json::Value {
        let inits: Vec<_> = (0..n_init).map(|i| serde_json::json!({"name": format!("init-{i}")})).collect();
        serde_json::json!({"initContainers": inits, "containers": [{"name": "api-key-service"}]})
    }

    #[test]
    fn init_containers_show_progress_until_the_first_unfinished_one() {
        let p = with(
            one_init(1),
            serde_json::json!({"phase": "Pending",
            "initContainerStatuses": [cs("init-0", false, 0, running())],
            "containerStatuses": [cs("api-key-service", false, 0, waiting("PodInitializing"))]}),
        );
        assert_eq!(columns(&p), cols("0/1", "Init:0/1", 0));
        assert!(read_pod(&p, "api-key-service", now()).pending);
        let p = with(
            one_init(3),
            serde_json::json!({"phase": "Pending",
            "initContainerStatuses": [cs("init-0", false, 0, exited(0, Some("Completed"))),
                cs("init-1", false, 0, exited(0, Some("Completed"))), cs("init-2", false, 0, running())]}),
        );
        assert_eq!(columns(&p), cols("0/1", "Init:2/3", 0));
        // Waiting for PodInitializing is no reason of its own: still counting.
        let p = with(
            one_init(2),
            serde_json::json!({"phase": "Pending",
            "initContainerStatuses": [cs("init-0", false, 0, exited(0, None)), cs("init-1", false, 0, waiting("PodInitializing"))]}),
        );
        assert_eq!(columns(&p).1, "Init:1/2");
    }

    #[test]
    fn a_crash_looping_init_container_is_a_crash_loop() {
        let p = with(
            one_init(1),
            serde_json::json!({"phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False"}],
            "initContainerStatuses": [{"name": "init-0", "ready": false, "restartCount": 4, "image": "", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T11:57:00Z"}}}],
            "containerStatuses": [cs("api-key-service", false, 0, waiting("PodInitializing"))]}),
        );
        let info = read_pod(&p, "api-key-service", now());
        assert_eq!((info.ready.as_str(), info.status.as_str(), info.restarts), ("0/1", "Init:CrashLoopBackOff", 4));
        assert!(info.crash_looping && !info.is_ready);
        assert_eq!(info.last_restart_secs_ago, Some(180));
        // The service's container never ran, so the init container says why.
        let t = info.last_terminated.unwrap();
        assert_eq!((t.reason.as_str(), t.exit_code, t.finished_secs_ago), ("Error", 1, Some(180)));
    }

    #[test]
    fn a_failed_init_container_shows_its_reason_signal_or_exit_code() {
        for (state, want) in [
            (exited(1, Some("Error")), "Init:Error"),
            (exited(2, None), "Init:ExitCode:2"),
            (serde_json::json!({"terminated": {"exitCode": 137, "signal": 9}}), "Init:Signal:9"),
            (waiting("ImagePullBackOff"), "Init:ImagePullBackOff"),
        ] {
            let p = with(
                one_init(2),
                serde_json::json!({"phase": "Pending",
                "initContainerStatuses": [cs("init-0", false, 0, state), cs("init-1", false, 0, waiting("PodInitializing"))]}),
            );
            assert_eq!(columns(&p).1, want);
        }
    }

    #[test]
    fn init_restarts_count_only_while_initialising() {
        // Restarts of init containers up to the unfinished one count while
        // the pod initialises; once it runs only the containers' count.
        let p = with(
            one_init(2),
            serde_json::json!({"phase": "Pending",
            "initContainerStatuses": [cs("init-0", false, 2, exited(0, None)), cs("init-1", false, 3, running())],
            "containerStatuses": [cs("api-key-service", false, 9, waiting("PodInitializing"))]}),
        );
        assert_eq!(columns(&p), cols("0/1", "Init:1/2", 5));
        let p = with(
            one_init(1),
            serde_json::json!({"phase": "Running",
            "initContainerStatuses": [cs("init-0", false, 2, exited(0, Some("Completed")))],
            "containerStatuses": [cs("api-key-service", true, 1, running())]}),
        );
        assert_eq!(columns(&p), cols("1/1", "Running", 1));
    }

    #[test]
    fn an_initialized_pod_is_read_from_its_containers_whatever_its_init_statuses_say() {
        let p = with(
            one_init(1),
            serde_json::json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [cs("init-0", false, 0, running())],
            "containerStatuses": [cs("api-key-service", true, 0, running())]}),
        );
        assert_eq!(columns(&p), cols("1/1", "Init:0/1", 0));
        let p = with(
            one_init(1),
            serde_json::json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [cs("init-0", false, 0, running())],
            "containerStatuses": [cs("api-key-service", false, 1, waiting("CrashLoopBackOff"))]}),
        );
        assert_eq!(columns(&p), cols("0/1", "CrashLoopBackOff", 1));
    }

    fn sidecar_spec() -> serde_json::Value {
        serde_json::json!({"initContainers": [{"name": "init-0"}, {"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "api-key-service"}]})
    }

    #[test]
    fn a_started_sidecar_counts_as_a_container_in_ready_and_restarts() {
        let proxy = serde_json::json!({"name": "proxy", "ready": true, "started": true, "restartCount": 2, "image": "", "imageID": "",
            "state": running(), "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T11:30:00Z"}}});
        let p = with(
            sidecar_spec(),
            serde_json::json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [cs("init-0", false, 5, exited(0, Some("Completed"))), proxy],
            "containerStatuses": [cs("api-key-service", true, 1, running())]}),
        );
        let info = read_pod(&p, "api-key-service", now());
        // The finished init container's 5 restarts no longer count; the sidecar's 2 do.
        assert_eq!((info.ready.as_str(), info.status.as_str(), info.restarts), ("2/2", "Running", 3));
        assert_eq!(info.last_restart_secs_ago, Some(1800));
        assert!(info.is_ready);
    }

    #[test]
    fn a_sidecar_not_yet_started_holds_initialisation() {
        let p = with(
            sidecar_spec(),
            serde_json::json!({"phase": "Pending",
            "initContainerStatuses": [cs("init-0", false, 0, exited(0, None)),
                {"name": "proxy", "ready": false, "started": false, "restartCount": 0, "image": "", "imageID": "", "state": running()}],
            "containerStatuses": [cs("api-key-service", false, 0, waiting("PodInitializing"))]}),
        );
        assert_eq!(columns(&p), cols("0/2", "Init:1/2", 0));
        // A crash-looping sidecar is a crash loop too.
        let p = with(
            sidecar_spec(),
            serde_json::json!({"phase": "Running",
            "initContainerStatuses": [cs("init-0", false, 0, exited(0, None)),
                {"name": "proxy", "ready": false, "started": false, "restartCount": 6, "image": "", "imageID": "", "state": waiting("CrashLoopBackOff")}]}),
        );
        let info = read_pod(&p, "api-key-service", now());
        assert_eq!((info.status.as_str(), info.restarts, info.crash_looping), ("Init:CrashLoopBackOff", 6, true));
    }

    #[test]
    fn a_completed_container_next_to_a_running_one_is_running_or_not_ready() {
        let spec = serde_json::json!({"containers": [{"name": "api-key-service"}, {"name": "job"}]});
        let status = |ready: &str| {
            serde_json::json!({"phase": "Running", "conditions": [{"type": "Ready", "status": ready}],
                "containerStatuses": [cs("api-key-service", true, 0, running()), cs("job", false, 0, exited(0, Some("Completed")))]})
        };
        assert_eq!(columns(&with(spec.clone(), status("True"))), cols("1/2", "Running", 0));
        let info = read_pod(&with(spec, status("False")), "api-key-service", now());
        assert_eq!((info.ready.as_str(), info.status.as_str(), info.is_ready), ("1/2", "NotReady", false));
    }

    #[test]
    fn the_first_container_with_a_reason_has_the_last_word() {
        let spec = serde_json::json!({"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]});
        let p = with(
            spec,
            serde_json::json!({"phase": "Running", "containerStatuses": [
            cs("a", false, 1, waiting("ImagePullBackOff")), cs("b", true, 0, running()), cs("c", false, 2, waiting("CrashLoopBackOff"))]}),
        );
        assert_eq!(columns(&p), cols("1/3", "ImagePullBackOff", 3));
        assert!(read_pod(&p, "a", now()).crash_looping);
    }

    #[test]
    fn a_container_killed_by_a_signal_shows_the_signal() {
        let p = base(serde_json::json!({"phase": "Running", "containerStatuses": [
            cs("api-key-service", false, 0, serde_json::json!({"terminated": {"exitCode": 137, "signal": 9}}))]}));
        assert_eq!(columns(&p).1, "Signal:9");
    }

    #[test]
    fn succeeded_pods_show_completed_and_pending_ones_their_phase() {
        let p = base(serde_json::json!({"phase": "Succeeded",
            "containerStatuses": [cs("api-key-service", false, 0, exited(0, Some("Completed")))]}));
        assert_eq!(columns(&p), cols("0/1", "Completed", 0));
        assert_eq!(columns(&base(serde_json::json!({"phase": "Pending"}))), cols("0/1", "Pending", 0));
        let p = base(serde_json::json!({"phase": "Failed", "reason": "NodeAffinity"}));
        assert_eq!(columns(&p).1, "NodeAffinity");
    }

    #[test]
    fn scheduling_gates_show_as_scheduling_gated() {
        let p = base(serde_json::json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}));
        assert_eq!(columns(&p), cols("0/1", "SchedulingGated", 0));
        let p = base(serde_json::json!({"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}));
        assert_eq!(columns(&p).1, "Pending");
    }

    fn deleted(status: serde_json::Value) -> Pod {
        let mut p = base(status);
        p.metadata.deletion_timestamp = Some(Time(now()));
        p
    }

    #[test]
    fn deletion_overrides_all_but_a_finished_pod() {
        let p = deleted(serde_json::json!({"phase": "Running", "reason": "NodeLost",
            "containerStatuses": [cs("api-key-service", true, 0, running())]}));
        assert_eq!(columns(&p), cols("1/1", "Unknown", 0));
        let p = deleted(serde_json::json!({"phase": "Pending",
            "containerStatuses": [cs("api-key-service", false, 3, waiting("CrashLoopBackOff"))]}));
        assert_eq!(columns(&p).1, "Terminating");
        let p = deleted(serde_json::json!({"phase": "Failed",
            "containerStatuses": [cs("api-key-service", false, 0, exited(1, Some("Error")))]}));
        let info = read_pod(&p, "api-key-service", now());
        assert_eq!((info.status.as_str(), info.terminating), ("Error", true));
        let p = deleted(serde_json::json!({"phase": "Succeeded"}));
        assert_eq!(columns(&p).1, "Succeeded");
    }

    #[test]
    fn the_latest_restart_of_any_counted_container_is_the_last_restart() {
        let spec = serde_json::json!({"containers": [{"name": "api-key-service"}, {"name": "proxy"}]});
        let with_last = |name: &str, restarts: i32, finished: &str| {
            serde_json::json!({"name": name, "ready": true, "restartCount": restarts, "image": "", "imageID": "", "state": running(),
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": finished}}})
        };
        let p = with(
            spec,
            serde_json::json!({"phase": "Running", "containerStatuses": [
            with_last("api-key-service", 1, "2026-01-01T11:00:00Z"), with_last("proxy", 2, "2026-01-01T11:50:00Z")]}),
        );
        let info = read_pod(&p, "api-key-service", now());
        assert_eq!((info.restarts, info.last_restart_secs_ago), (3, Some(600)));
        // The service's own container still says why it ended.
        assert_eq!(info.last_terminated.unwrap().finished_secs_ago, Some(3600));
        // No restarts, no "ago", whatever the last state says.
        let p = base(serde_json::json!({"phase": "Running",
            "containerStatuses": [with_last("api-key-service", 0, "2026-01-01T11:00:00Z")]}));
        assert_eq!(read_pod(&p, "api-key-service", now()).last_restart_secs_ago, None);
    }
}
