//! Pod-state reading: a pod list as the API server sends it (JSON) turned
//! into what `pods` prints for each pod (kubectl's status, ready, restarts,
//! the last restart) and why it is not running. Twenty pods of a Deployment
//! in the states an incident shows: ready, crash-looping after an OOM kill,
//! pulling an image, unschedulable, terminating, waiting on an init
//! container and running with a sidecar. Throughput is pods per second on
//! one core.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use k8s_openapi::List;
use k8s_openapi::api::core::v1::Pod;
use keysvc_check::evidence::pods::read_pod;
use serde_json::{Value, json};

const CONTAINER: &str = "api-key-service";

fn container_status(name: &str, ready: bool, restarts: i32, state: Value, last: Value) -> Value {
    json!({"name": name, "ready": ready, "restartCount": restarts, "image": "registry.acme.internal/keysvc/api-key-service:1.4.3",
        "imageID": "registry.acme.internal/keysvc/api-key-service@sha256:5f6d8aa0c4e1b2", "containerID": "containerd://0a1b2c3d",
        "started": ready, "state": state, "lastState": last})
}

/// One pod of the Deployment in state `kind`, the `n`th of the list.
fn pod(n: usize, kind: usize) -> Value {
    let running = json!({"running": {"startedAt": "2026-11-26T02:10:00Z"}});
    let oom = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-26T03:01:00Z",
        "finishedAt": "2026-11-26T03:08:00Z", "containerID": "containerd://9f8e7d"}});
    let (phase, statuses, init, conditions, deleting) = match kind {
        1 => (
            "Running",
            json!([container_status(
                CONTAINER,
                false,
                7,
                json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": "back-off 5m0s restarting failed container=api-key-service"}}),
                oom
            )]),
            Value::Null,
            json!([{"type": "Ready", "status": "False"}]),
            false,
        ),
        2 => (
            "Pending",
            json!([container_status(
                CONTAINER,
                false,
                0,
                json!({"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"registry.acme.internal/keysvc/api-key-service:9.9\""}}),
                json!({})
            )]),
            Value::Null,
            json!([{"type": "Ready", "status": "False"}]),
            false,
        ),
        3 => (
            "Pending",
            Value::Null,
            Value::Null,
            json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/12 nodes are available: 12 Insufficient memory."}]),
            false,
        ),
        4 => (
            "Running",
            json!([container_status(CONTAINER, true, 0, running.clone(), json!({}))]),
            Value::Null,
            json!([{"type": "Ready", "status": "True"}]),
            true,
        ),
        5 => (
            "Pending",
            json!([container_status(
                CONTAINER,
                false,
                0,
                json!({"waiting": {"reason": "PodInitializing"}}),
                json!({})
            )]),
            json!([container_status("migrate", false, 2, json!({"waiting": {"reason": "CrashLoopBackOff"}}), oom)]),
            json!([{"type": "Initialized", "status": "False"}]),
            false,
        ),
        6 => (
            "Running",
            json!([container_status(CONTAINER, true, 1, running.clone(), oom)]),
            json!([container_status("envoy", true, 0, running.clone(), json!({}))]),
            json!([{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]),
            false,
        ),
        _ => (
            "Running",
            json!([container_status(CONTAINER, true, 0, running.clone(), json!({}))]),
            Value::Null,
            json!([{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}]),
            false,
        ),
    };
    let mut metadata = json!({
        "name": format!("api-key-service-5f6d8-{n:05}"), "namespace": "api", "uid": format!("6b0e{n:08}"),
        "creationTimestamp": "2026-11-26T02:09:58Z", "resourceVersion": "184467",
        "labels": {"app": "api-key-service", "pod-template-hash": "5f6d8"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-key-service-5f6d8",
            "uid": "2a9c", "controller": true, "blockOwnerDeletion": true}]
    });
    if deleting {
        metadata["deletionTimestamp"] = json!("2026-11-26T03:09:00Z");
        metadata["deletionGracePeriodSeconds"] = json!(30);
    }
    let mut spec = json!({"nodeName": format!("node-{}", n % 6), "restartPolicy": "Always",
        "containers": [{"name": CONTAINER, "image": "registry.acme.internal/keysvc/api-key-service:1.4.3",
            "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}}}]});
    if kind == 5 {
        spec["initContainers"] = json!([{"name": "migrate", "image": "registry.acme.internal/keysvc/migrate:1.4.3"}]);
    }
    if kind == 6 {
        spec["initContainers"] =
            json!([{"name": "envoy", "image": "envoyproxy/envoy:v1.31", "restartPolicy": "Always"}]);
    }
    let mut status = json!({"phase": phase, "conditions": conditions, "hostIP": "10.0.3.7", "podIP": "10.244.3.17",
        "startTime": "2026-11-26T02:09:58Z", "qosClass": "Burstable"});
    if !statuses.is_null() {
        status["containerStatuses"] = statuses;
    }
    if !init.is_null() {
        status["initContainerStatuses"] = init;
    }
    json!({"metadata": metadata, "spec": spec, "status": status})
}

/// A pod list of 20: mostly ready, one pod in each other state.
fn pod_list() -> String {
    let items: Vec<Value> = (0..20).map(|n| pod(n, if n < 7 { n } else { 0 })).collect();
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "184470"}, "items": items})
        .to_string()
}

fn pod_state(c: &mut Criterion) {
    let text = pod_list();
    let now: Timestamp = "2026-11-26T03:12:00Z".parse().unwrap();
    let pods: Vec<Pod> = serde_json::from_str::<List<Pod>>(&text).unwrap().items;
    let mut group = c.benchmark_group("pods");
    group.throughput(Throughput::Elements(pods.len() as u64));
    group.bench_function("read_pod/20-pods", |b| {
        b.iter(|| black_box(&pods).iter().map(|p| read_pod(p, CONTAINER, now)).filter(|i| i.is_ready).count())
    });
    group.bench_function("json-and-read_pod/20-pods", |b| {
        b.iter(|| {
            let list: List<Pod> = serde_json::from_str(black_box(&text)).unwrap();
            list.items.iter().map(|p| read_pod(p, CONTAINER, now)).filter(|i| i.is_ready).count()
        })
    });
    group.finish();
}

criterion_group!(benches, pod_state);
criterion_main!(benches);
