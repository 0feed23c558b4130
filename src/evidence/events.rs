//! Kubernetes Warning events as evidence: why a pod is not ready (probe
//! failures, back-off, image pulls, scheduling, mounts, evictions), read as
//! `kubectl describe` reads them. One bounded, namespaced list of Warning
//! events; the service's objects are picked out once the pods and
//! ReplicaSets are known, and grouped by reason. Optional: a user without
//! `list events` gets the same verdicts and a recorded Forbidden.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use tokio::time::Instant as TokioInstant;

use crate::evidence::rollout::{self, PodRefs};
use crate::kube::client;
use crate::report::{EventGroup, EventKind, EventsStep, Problem, ProblemKind, Status};
use crate::sanitize;

/// Warning events read per region at most. A namespace shared with other
/// services can hold many; one bounded page keeps the run's cost fixed.
pub const LIST_LIMIT: u32 = 500;
/// Objects named per group; the rest are counted in `objects_total`.
pub const MAX_OBJECTS: usize = 5;
/// Characters kept of an event's message.
pub const MESSAGE_CHARS: usize = 300;

/// The Warning events of a namespace, as listed.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    pub events: Vec<Event>,
    /// The list stopped at `LIST_LIMIT` (the server had more).
    pub truncated: bool,
}

/// One namespaced list of Warning events, bounded by `LIST_LIMIT` and the deadline.
pub async fn list(client: &kube::Client, ns: &str, deadline: TokioInstant) -> Result<Listed, Problem> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().fields("type=Warning").limit(LIST_LIMIT);
    match tokio::time::timeout_at(deadline, api.list(&lp)).await {
        Err(_) => Err(Problem::new(ProblemKind::Timeout, "listing events did not finish before the deadline")),
        Ok(Err(e)) => Err(client::problem(&e, "list", "events", ns)),
        Ok(Ok(list)) => {
            let truncated = list.metadata.continue_.as_ref().is_some_and(|c| !c.is_empty());
            Ok(Listed { events: list.items, truncated })
        }
    }
}

/// The objects whose events are the service's: its pods, their ReplicaSets
/// and the Deployments that own those.
#[derive(Debug, Clone, Default)]
pub struct Involved {
    pods: HashSet<String>,
    /// Pods were not listed: a pod counts when its name is one a known
    /// ReplicaSet gives its pods (`RS-NAME-xxxxx`).
    pod_prefixes: Vec<String>,
    replica_sets: HashSet<String>,
    deployments: HashSet<String>,
}

impl Involved {
    /// From what is known: the listed pods (None when they could not be
    /// listed) and the ReplicaSets listed by the service's selector.
    pub fn new(pods: Option<&PodRefs>, replica_sets: Option<&[ReplicaSet]>) -> Involved {
        let mut inv = Involved::default();
        if let Some(p) = pods {
            inv.pods.extend(p.names.iter().cloned());
            inv.replica_sets.extend(p.replica_sets.iter().cloned());
        }
        for rs in replica_sets.unwrap_or_default() {
            if let Some(name) = &rs.metadata.name {
                inv.replica_sets.insert(name.clone());
            }
            if let Some(owner) = rollout::controller(&rs.metadata).filter(|o| o.kind == "Deployment") {
                inv.deployments.insert(owner.name.clone());
            }
        }
        if pods.is_none() {
            let mut prefixes: Vec<String> = inv.replica_sets.iter().map(|rs| format!("{rs}-")).collect();
            prefixes.sort();
            inv.pod_prefixes = prefixes;
        }
        inv
    }

    /// Nothing is known to attribute events to (neither pods nor ReplicaSets were read).
    pub fn unknown(&self, pods_listed: bool) -> bool {
        !pods_listed && self.replica_sets.is_empty()
    }

    fn contains(&self, kind: &str, name: &str) -> bool {
        match kind {
            "Pod" => self.pods.contains(name) || self.pod_prefixes.iter().any(|p| name.starts_with(p.as_str())),
            "ReplicaSet" => self.replica_sets.contains(name),
            "Deployment" => self.deployments.contains(name),
            _ => false,
        }
    }
}

/// What a Warning event points at, from its reason (and, where one reason
/// means two things, its message: `BackOff` is both restarting a container
/// and pulling an image; `Failed` is mostly a failed pull).
pub fn classify(reason: &str, message: &str) -> EventKind {
    let m = message.to_ascii_lowercase();
    let about_image = m.contains("pull") || m.contains("image");
    match reason {
        "Unhealthy" => EventKind::ProbeFailing,
        "BackOff" if about_image => EventKind::ImagePull,
        "BackOff" => EventKind::BackOff,
        "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" | "InspectFailed" => {
            EventKind::ImagePull
        }
        "Failed" if about_image => EventKind::ImagePull,
        "FailedScheduling" => EventKind::Unschedulable,
        "FailedMount" | "FailedAttachVolume" => EventKind::MountFailed,
        "Evicted" => EventKind::Evicted,
        _ => EventKind::Other,
    }
}

/// When the event last happened: the latest of `lastTimestamp`, `eventTime`
/// and `series.lastObservedTime` (clients fill different ones), else when
/// it was first seen or created.
pub fn last_seen(e: &Event) -> Option<Timestamp> {
    let latest = [
        e.last_timestamp.as_ref().map(|t| t.0),
        e.event_time.as_ref().map(|t| t.0),
        e.series.as_ref().and_then(|s| s.last_observed_time.as_ref()).map(|t| t.0),
    ]
    .into_iter()
    .flatten()
    .max();
    latest.or_else(|| first_seen(e))
}

fn first_seen(e: &Event) -> Option<Timestamp> {
    [
        e.first_timestamp.as_ref().map(|t| t.0),
        e.event_time.as_ref().map(|t| t.0),
        e.metadata.creation_timestamp.as_ref().map(|t| t.0),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// How many times the event happened: the series' count or the event's
/// `count`, at least once.
fn occurrences(e: &Event) -> u64 {
    let series = e.series.as_ref().and_then(|s| s.count).unwrap_or(0);
    e.count.unwrap_or(0).max(series).max(1) as u64
}

fn secs_ago(now: Timestamp, t: Option<Timestamp>) -> Option<u64> {
    t.map(|t| now.duration_since(t).as_secs().max(0) as u64)
}

/// A message that only restates a status (`Error: ImagePullBackOff`,
/// `Error: ErrImagePull`): the kubelet records one next to the message that
/// says why (`Failed to pull image "…": … not found`), and more often.
fn bare_status(message: &str) -> bool {
    let m = message.trim();
    let word = m.strip_prefix("Error:").unwrap_or(m).trim();
    word.is_empty() || !word.contains(char::is_whitespace)
}

/// The involved objects' Warning events last seen within `window` before
/// `now`, grouped by reason and kind, the most recently seen first. A
/// group's message is its latest that says why, rather than only restating
/// a status, when it has one.
pub fn group(events: &[Event], involved: &Involved, window: Duration, now: Timestamp) -> Vec<EventGroup> {
    struct Acc<'a> {
        count: u64,
        latest: Option<(Timestamp, &'a Event)>,
        /// The latest event whose message says more than a status word.
        telling: Option<(Timestamp, &'a Event)>,
        first: Option<Timestamp>,
        /// Object name and when it was last seen in this group.
        objects: HashMap<String, Timestamp>,
    }
    let since = now.checked_sub(jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX)).ok();
    let mut groups: HashMap<(EventKind, String), Acc> = HashMap::new();
    for e in events {
        if e.type_.as_deref().is_some_and(|t| t != "Warning") {
            continue;
        }
        let obj = &e.involved_object;
        let (Some(kind), Some(name)) = (obj.kind.as_deref(), obj.name.as_deref()) else { continue };
        if !involved.contains(kind, name) {
            continue;
        }
        // Without any time the event cannot be placed in the window.
        let Some(seen) = last_seen(e) else { continue };
        if since.is_some_and(|since| seen < since) {
            continue;
        }
        let reason = e.reason.clone().unwrap_or_default();
        let message = e.message.as_deref().unwrap_or_default();
        let acc = groups.entry((classify(&reason, message), reason)).or_insert_with(|| Acc {
            count: 0,
            latest: None,
            telling: None,
            first: None,
            objects: HashMap::new(),
        });
        acc.count += occurrences(e);
        if acc.latest.is_none_or(|(l, _)| seen > l) {
            acc.latest = Some((seen, e));
        }
        if !bare_status(message) && acc.telling.is_none_or(|(l, _)| seen > l) {
            acc.telling = Some((seen, e));
        }
        acc.first = [acc.first, first_seen(e)].into_iter().flatten().min();
        let object = format!("{}/{name}", kind.to_ascii_lowercase());
        let entry = acc.objects.entry(object).or_insert(seen);
        *entry = (*entry).max(seen);
    }
    let mut out: Vec<EventGroup> = groups
        .into_iter()
        .map(|((kind, reason), acc)| {
            let mut objects: Vec<(String, Timestamp)> = acc.objects.into_iter().collect();
            objects.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let objects_total = objects.len();
            let message = acc.telling.or(acc.latest).and_then(|(_, e)| e.message.as_deref()).unwrap_or_default();
            EventGroup {
                reason,
                kind,
                count: acc.count,
                objects: objects.into_iter().take(MAX_OBJECTS).map(|(o, _)| o).collect(),
                objects_total,
                message: sanitize::clean(message.trim(), MESSAGE_CHARS),
                first_seen_secs_ago: secs_ago(now, acc.first),
                last_seen_secs_ago: secs_ago(now, acc.latest.map(|(t, _)| t)),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.last_seen_secs_ago
            .unwrap_or(u64::MAX)
            .cmp(&b.last_seen_secs_ago.unwrap_or(u64::MAX))
            .then_with(|| b.count.cmp(&a.count))
            .then_with(|| a.reason.cmp(&b.reason))
    });
    out
}

/// The events step from what was listed and what is known of the service's objects.
pub fn step(
    listed: Result<Listed, Problem>,
    involved: &Involved,
    pods_listed: bool,
    window: Duration,
    now: Timestamp,
    started: Instant,
) -> EventsStep {
    let mut step = EventsStep {
        status: Status::Pass,
        window_secs: window.as_secs(),
        groups: vec![],
        truncated: false,
        error: None,
        duration_ms: 0,
    };
    match listed {
        Err(p) => {
            step.status = Status::Error;
            step.error = Some(p);
        }
        Ok(_) if involved.unknown(pods_listed) => {
            step.status = Status::Error;
            step.error = Some(Problem::new(
                ProblemKind::Other,
                "events were read, but neither the pods nor their ReplicaSets could be listed to pick the service's",
            ));
        }
        Ok(l) => {
            step.groups = group(&l.events, involved, window, now);
            step.truncated = l.truncated;
        }
    }
    step.duration_ms = started.elapsed().as_millis() as u64;
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    fn ago(secs: i64) -> String {
        format!("{:.0}", now() - jiff::SignedDuration::from_secs(secs))
    }

    fn event(kind: &str, name: &str, reason: &str, message: &str, count: i32, first: i64, last: i64) -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{name}.{reason}{last}"), "namespace": "api"},
            "involvedObject": {"kind": kind, "name": name, "namespace": "api"},
            "type": "Warning", "reason": reason, "message": message, "count": count,
            "firstTimestamp": ago(first), "lastTimestamp": ago(last),
        }))
        .unwrap()
    }

    fn pods(names: &[&str]) -> PodRefs {
        PodRefs { names: names.iter().map(|s| s.to_string()).collect(), replica_sets: vec!["web-5f6d8".into()] }
    }

    const WINDOW: Duration = Duration::from_secs(300);

    #[test]
    fn classifies_each_reason_kubelet_and_scheduler_give() {
        let cases = [
            ("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", EventKind::ProbeFailing),
            ("Unhealthy", "Liveness probe failed: Get \"http://10.0.0.1:8080/healthz\": EOF", EventKind::ProbeFailing),
            ("BackOff", "Back-off restarting failed container api in pod api-1_api(uid)", EventKind::BackOff),
            ("BackOff", "Back-off pulling image \"keysvc/api:9.9\"", EventKind::ImagePull),
            ("Failed", "Failed to pull image \"keysvc/api:9.9\": not found", EventKind::ImagePull),
            ("Failed", "Error: ErrImagePull", EventKind::ImagePull),
            ("Failed", "Error: ImagePullBackOff", EventKind::ImagePull),
            ("ErrImagePull", "", EventKind::ImagePull),
            ("ImagePullBackOff", "", EventKind::ImagePull),
            ("FailedScheduling", "0/3 nodes are available: 3 Insufficient memory.", EventKind::Unschedulable),
            ("FailedMount", "MountVolume.SetUp failed for volume \"keys\"", EventKind::MountFailed),
            ("FailedAttachVolume", "AttachVolume.Attach failed", EventKind::MountFailed),
            ("Evicted", "The node was low on resource: memory.", EventKind::Evicted),
            ("Failed", "Error: context deadline exceeded", EventKind::Other),
            ("FailedCreate", "pods \"x\" is forbidden: exceeded quota", EventKind::Other),
        ];
        for (reason, message, kind) in cases {
            assert_eq!(classify(reason, message), kind, "{reason}: {message}");
        }
    }

    #[test]
    fn groups_by_reason_with_summed_counts_latest_message_and_objects() {
        let events = [
            event("Pod", "web-5f6d8-a", "Unhealthy", "Readiness probe failed: 503 (old)", 10, 250, 100),
            event("Pod", "web-5f6d8-b", "Unhealthy", "Readiness probe failed: 503 (new)", 4, 200, 20),
            event("Pod", "web-5f6d8-a", "BackOff", "Back-off restarting failed container", 3, 120, 60),
        ];
        let inv = Involved::new(Some(&pods(&["web-5f6d8-a", "web-5f6d8-b"])), None);
        let g = group(&events, &inv, WINDOW, now());
        assert_eq!(g.len(), 2, "{g:#?}");
        assert_eq!(g[0].kind, EventKind::ProbeFailing);
        assert_eq!(g[0].reason, "Unhealthy");
        assert_eq!(g[0].count, 14);
        assert_eq!(g[0].message, "Readiness probe failed: 503 (new)");
        assert_eq!(g[0].objects, ["pod/web-5f6d8-b", "pod/web-5f6d8-a"]);
        assert_eq!(g[0].objects_total, 2);
        assert_eq!(g[0].last_seen_secs_ago, Some(20));
        assert_eq!(g[0].first_seen_secs_ago, Some(250));
        assert_eq!((g[1].kind, g[1].count, g[1].last_seen_secs_ago), (EventKind::BackOff, 3, Some(60)));
    }

    #[test]
    fn a_group_keeps_the_message_that_says_why_over_a_later_bare_status() {
        let pulled = "Failed to pull image \"keysvc/api:1.0\": rpc error: code = NotFound desc = not found";
        let events = [
            event("Pod", "web-5f6d8-a", "Failed", pulled, 4, 240, 60),
            event("Pod", "web-5f6d8-a", "Failed", "Error: ErrImagePull", 4, 240, 60),
            event("Pod", "web-5f6d8-a", "Failed", "Error: ImagePullBackOff", 9, 230, 8),
        ];
        let inv = Involved::new(Some(&pods(&["web-5f6d8-a"])), None);
        let g = group(&events, &inv, WINDOW, now());
        assert_eq!((g.len(), g[0].count, g[0].message.as_str()), (1, 17, pulled));
        assert_eq!(g[0].last_seen_secs_ago, Some(8), "when the group was last seen is still its latest event's");
        // With nothing better, the latest bare status stays.
        let g = group(&events[1..], &inv, WINDOW, now());
        assert_eq!(g[0].message, "Error: ImagePullBackOff");
        for bare in ["Error: ImagePullBackOff", " ErrImagePull ", "", "Error:"] {
            assert!(bare_status(bare), "{bare:?}");
        }
        for telling in ["Error: secret \"keys\" not found", "Back-off pulling image \"x\"", pulled] {
            assert!(!bare_status(telling), "{telling:?}");
        }
    }

    #[test]
    fn keeps_only_the_window_and_the_services_objects() {
        let events = [
            event("Pod", "web-5f6d8-a", "Unhealthy", "in window", 1, 400, 290),
            event("Pod", "web-5f6d8-a", "Unhealthy", "before the window", 5, 900, 400),
            event("Pod", "other-app-1", "Unhealthy", "another service", 7, 10, 5),
            event("ReplicaSet", "web-5f6d8", "FailedCreate", "exceeded quota", 2, 30, 30),
            event("ReplicaSet", "other-rs", "FailedCreate", "not ours", 2, 30, 30),
            event("Node", "node-1", "NodeNotReady", "not ours", 1, 30, 30),
        ];
        let inv = Involved::new(Some(&pods(&["web-5f6d8-a"])), None);
        let g = group(&events, &inv, WINDOW, now());
        let summary: Vec<(&str, u64, &str)> =
            g.iter().map(|g| (g.reason.as_str(), g.count, g.objects[0].as_str())).collect();
        assert_eq!(summary, [("FailedCreate", 2, "replicaset/web-5f6d8"), ("Unhealthy", 1, "pod/web-5f6d8-a")]);
    }

    #[test]
    fn last_seen_is_the_latest_of_the_three_times_and_series_count_counts() {
        let e: Event = serde_json::from_value(json!({
            "metadata": {"name": "e", "creationTimestamp": ago(3000)},
            "involvedObject": {"kind": "Pod", "name": "web-5f6d8-a"},
            "type": "Warning", "reason": "Unhealthy", "message": "Liveness probe failed",
            "eventTime": format!("{:.6}", now() - jiff::SignedDuration::from_secs(2000)),
            "series": {"count": 42, "lastObservedTime": format!("{:.6}", now() - jiff::SignedDuration::from_secs(30))},
        }))
        .unwrap();
        assert_eq!(last_seen(&e), Some(now() - jiff::SignedDuration::from_secs(30)));
        let inv = Involved::new(Some(&pods(&["web-5f6d8-a"])), None);
        let g = group(&[e], &inv, WINDOW, now());
        assert_eq!((g[0].count, g[0].last_seen_secs_ago, g[0].first_seen_secs_ago), (42, Some(30), Some(3000)));
    }

    #[test]
    fn objects_are_bounded_and_messages_cleaned() {
        let names: Vec<String> = (0..8).map(|i| format!("web-5f6d8-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let events: Vec<Event> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                event("Pod", n, "Unhealthy", &format!("probe \u{1b}[31mfailed{}", "x".repeat(400)), 1, 60, i as i64)
            })
            .collect();
        let g = group(&events, &Involved::new(Some(&pods(&refs)), None), WINDOW, now());
        assert_eq!(g[0].objects.len(), MAX_OBJECTS);
        assert_eq!(g[0].objects[0], "pod/web-5f6d8-0", "the most recently seen first");
        assert_eq!(g[0].objects_total, 8);
        assert!(g[0].message.starts_with("probe \\x1b[31mfailed"), "{}", g[0].message);
        // The cap counts the original characters; an escape adds a few.
        assert!(g[0].message.ends_with('…') && g[0].message.chars().count() <= MESSAGE_CHARS + 4);
    }

    #[test]
    fn without_the_pod_list_pods_are_matched_by_their_replicasets_name() {
        let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "web-5f6d8",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u", "controller": true}]}}))
        .unwrap();
        let events = [
            event("Pod", "web-5f6d8-zz9", "FailedScheduling", "0/1 nodes are available", 3, 50, 10),
            event("Deployment", "web", "SomethingWrong", "deployment warning", 1, 50, 10),
            event("Pod", "web-7c9-zz9", "FailedScheduling", "another ReplicaSet's pod", 3, 50, 10),
        ];
        let inv = Involved::new(None, Some(std::slice::from_ref(&rs)));
        let g = group(&events, &inv, WINDOW, now());
        let objs: Vec<&str> = g.iter().flat_map(|g| g.objects.iter().map(String::as_str)).collect();
        assert_eq!(objs.len(), 2, "{objs:?}");
        assert!(objs.contains(&"pod/web-5f6d8-zz9") && objs.contains(&"deployment/web"), "{objs:?}");
    }

    #[test]
    fn step_records_why_events_were_not_read() {
        let forbidden = Problem::new(ProblemKind::Forbidden, "403 Forbidden: missing permission to list events");
        let s = step(Err(forbidden), &Involved::default(), true, WINDOW, now(), Instant::now());
        assert_eq!(s.status, Status::Error);
        assert_eq!(s.error.unwrap().kind, ProblemKind::Forbidden);
        let s = step(Ok(Listed::default()), &Involved::default(), false, WINDOW, now(), Instant::now());
        assert_eq!(s.status, Status::Error, "nothing to attribute events to");
        let s = step(
            Ok(Listed { events: vec![], truncated: true }),
            &Involved::default(),
            true,
            WINDOW,
            now(),
            Instant::now(),
        );
        assert_eq!((s.status, s.truncated, s.groups.len()), (Status::Pass, true, 0));
    }
}
