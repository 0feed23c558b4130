//! Step 2: reading pods the way `kubectl get po` does. CrashLoopBackOff lives
//! in a container's waiting reason while the phase still says Running;
//! OOMKilled in its (last) terminated state; Terminating is a deletion
//! timestamp. The clock is passed in so ages are testable.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::report::{PodInfo, PodsStep, Status, Terminated};

fn secs_since(now: Timestamp, t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<u64> {
    t.map(|t| now.duration_since(t.0).as_secs().max(0) as u64)
}

/// One pod as kubectl shows it, at time `now`.
pub fn read_pod(pod: &Pod, container: &str, now: Timestamp) -> PodInfo {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.clone().unwrap_or_default();
    let spec_count = pod.spec.as_ref().map_or(0, |s| s.containers.len());
    let total = spec_count.max(statuses.len());
    let ready_count = statuses.iter().filter(|c| c.ready).count();

    let mut reason = status.phase.clone().unwrap_or_else(|| "Unknown".into());
    if let Some(r) = status.reason.clone().filter(|r| !r.is_empty()) {
        reason = r;
    }
    let mut has_running = false;
    for cs in statuses.iter().rev() {
        let state = cs.state.clone().unwrap_or_default();
        if let Some(w) = state.waiting.as_ref().and_then(|w| w.reason.clone()).filter(|r| !r.is_empty()) {
            reason = w;
        } else if let Some(t) = state.terminated.as_ref() {
            reason = match t.reason.clone().filter(|r| !r.is_empty()) {
                Some(r) => r,
                None if t.signal.unwrap_or(0) != 0 => format!("Signal:{}", t.signal.unwrap_or(0)),
                None => format!("ExitCode:{}", t.exit_code),
            };
        } else if cs.ready && state.running.is_some() {
            has_running = true;
        }
    }
    if reason == "Completed" && has_running {
        reason = "Running".into();
    }
    let terminating = pod.metadata.deletion_timestamp.is_some();
    if terminating {
        reason = if status.reason.as_deref() == Some("NodeLost") { "Unknown".into() } else { "Terminating".into() };
    }

    // Restarts and the last termination of the runbook's container (or any).
    let main = statuses.iter().find(|c| c.name == container).or_else(|| statuses.first());
    let restarts: i32 = statuses.iter().map(|c| c.restart_count).sum();
    let last_terminated =
        main.and_then(|c| c.last_state.as_ref()).and_then(|s| s.terminated.as_ref()).map(|t| Terminated {
            reason: t.reason.clone().unwrap_or_else(|| "Error".into()),
            exit_code: t.exit_code,
            finished_secs_ago: secs_since(now, t.finished_at.as_ref()),
        });
    let last_restart_secs_ago =
        if restarts > 0 { last_terminated.as_ref().and_then(|t| t.finished_secs_ago) } else { None };
    let crash_looping = statuses.iter().any(|c| {
        c.state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref()) == Some("CrashLoopBackOff")
    });
    let is_ready = !terminating
        && status
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map_or(total > 0 && ready_count == total, |c| c.status == "True");
    PodInfo {
        name,
        ready: format!("{ready_count}/{total}"),
        is_ready,
        status: reason,
        restarts,
        last_restart_secs_ago,
        last_terminated,
        age_secs: secs_since(now, pod.metadata.creation_timestamp.as_ref()),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        terminating,
        crash_looping,
        pending: status.phase.as_deref() == Some("Pending"),
    }
}

/// Judges the pods of one region: fail when none is ready; warn when fewer
/// than expected are ready, or one is crash-looping, Terminating, Pending, or
/// restarted within the log window.
pub fn judge(pods: &[PodInfo], expected: u32, window: Duration) -> Status {
    let ready = pods.iter().filter(|p| p.is_ready).count() as u32;
    if ready == 0 {
        return Status::Fail;
    }
    let troubled = pods
        .iter()
        .any(|p| p.crash_looping || p.terminating || p.pending || !p.is_ready || restarted_within(p, window));
    if ready < expected || troubled { Status::Warn } else { Status::Pass }
}

pub fn restarted_within(p: &PodInfo, window: Duration) -> bool {
    p.last_restart_secs_ago.is_some_and(|s| s <= window.as_secs())
}

pub fn step(pods: Vec<PodInfo>, expected: u32, window: Duration, note: Option<String>, duration_ms: u64) -> PodsStep {
    PodsStep {
        status: judge(&pods, expected, window),
        expected,
        ready: pods.iter().filter(|p| p.is_ready).count() as u32,
        total: pods.len() as u32,
        restarts: pods.iter().map(|p| p.restarts as i64).sum(),
        pods,
        note,
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
        assert_eq!(judge(&[p.clone(), p.clone(), p], 3, Duration::from_secs(300)), Status::Pass);
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
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
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
        assert_eq!(judge(&[], 3, w), Status::Fail);
        assert_eq!(judge(&[ready.clone(), ready.clone()], 3, w), Status::Warn);
        assert_eq!(judge(&[ready.clone(), ready.clone(), ready.clone(), ready], 3, w), Status::Pass);
        assert_eq!(short_age(59), "59s");
        assert_eq!(short_age(7200), "2h");
        assert_eq!(short_age(3 * 86400), "3d");
    }
}
