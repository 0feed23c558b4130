//! What a region's facts say, read for the advice of every topic: the
//! events' reason pods are not ready, a Deployment scaled to zero, a pod's
//! status in words. It imports no other advice file, so the topic files
//! can all read it.

use crate::report::{EventKind, PodInfo, RegionReport};

/// Why pods are not ready, as the events tell it: the first group (most
/// recent) of a kind that keeps a pod from being ready.
pub(super) fn not_ready_reason(r: &RegionReport) -> Option<String> {
    let groups = &r.events.as_ref()?.groups;
    let g = groups.iter().find(|g| {
        matches!(
            g.kind,
            EventKind::ProbeFailing
                | EventKind::ImagePull
                | EventKind::Unschedulable
                | EventKind::MountFailed
                | EventKind::BackOff
        )
    })?;
    Some(format!("{} ({} ×{}): {}", event_words(g.kind), g.reason, g.count, g.message))
}

pub(super) fn event_words(k: EventKind) -> &'static str {
    match k {
        EventKind::ProbeFailing => "probe failing",
        EventKind::BackOff => "restarting with back-off",
        EventKind::ImagePull => "image cannot be pulled",
        EventKind::Unschedulable => "cannot be scheduled",
        EventKind::MountFailed => "volume cannot be mounted",
        EventKind::Evicted => "evicted",
        EventKind::Other => "warning",
    }
}

/// The Deployment, when it asks for no replicas at all.
pub(super) fn scaled_to_zero(r: &RegionReport) -> Option<&str> {
    let o = r.rollout.as_ref()?;
    o.deployment.as_deref().filter(|_| o.replicas == Some(0))
}

/// A pod's STATUS, with "not ready" added where the status alone reads as fine.
pub(super) fn status_words(pod: &PodInfo) -> String {
    if reads_fine_but_not_ready(pod) { format!("{}, not ready", pod.status) } else { pod.status.clone() }
}

/// A pod whose status alone reads as fine (Running, Completed) while it is not ready.
pub(super) fn reads_fine_but_not_ready(pod: &PodInfo) -> bool {
    !pod.is_ready && matches!(pod.status.as_str(), "Running" | "Completed")
}
