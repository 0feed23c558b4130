//! keysvc-check's READY, STATUS and RESTARTS against `kubectl get po`, pod
//! state by pod state, on a real API server.
//!
//! `kubectl get po` asks the API server for a table (`as=Table`) and prints
//! the server's cells, so the oracle here is the test environment's
//! kube-apiserver 1.20 printer, shown by the machine's kubectl. keysvc-check
//! follows kubectl 1.32's rules; where 1.32 changed a rule since 1.20 the case
//! names what 1.20 prints, and the test holds both to their answers. What a
//! 1.20 server cannot store at all is checked by the unit tests in src/pods.rs
//! only: restartable init containers (sidecars; the server drops
//! `restartPolicy` on an init container) and the "(5m ago)" of RESTARTS (the
//! 1.20 server prints a bare count).

use std::process::Command;

use crate::common::case::Case;
use jiff::{SignedDuration, Timestamp};
use keysvc_testenv::{RawPod, TestEnv};
use serde_json::{Value, json};

const REGION: &str = "us-south";
const NS: &str = "t-pods-kubectl";
const C: &str = "api-key-service";

/// One pod state: how kubectl 1.32 prints it, and how the 1.20 server does
/// when that differs.
struct PodState {
    name: &'static str,
    spec: Value,
    status: Value,
    deleted: bool,
    ready: &'static str,
    status_col: &'static str,
    restarts: i32,
    server_1_20: Option<&'static str>,
}

fn time(t: Timestamp) -> String {
    format!("{t:.0}")
}

fn ago(mins: i64) -> String {
    time(Timestamp::now() - SignedDuration::from_mins(mins))
}

fn cs(name: &str, ready: bool, restarts: i32, state: Value) -> Value {
    json!({"name": name, "ready": ready, "restartCount": restarts, "image": "keysvc/x:1", "imageID": "", "state": state})
}

/// A container status that restarted, the previous instance ending 30 minutes ago.
fn restarted(name: &str, restarts: i32, state: Value) -> Value {
    let mut v = cs(name, false, restarts, state);
    v["lastState"] =
        json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ago(31), "finishedAt": ago(30)}});
    v
}

fn running() -> Value {
    json!({"running": {"startedAt": ago(60)}})
}

fn waiting(reason: &str) -> Value {
    json!({"waiting": {"reason": reason}})
}

fn ended(code: i32, reason: Option<&str>, signal: Option<i32>) -> Value {
    let mut t = json!({"exitCode": code, "startedAt": ago(50), "finishedAt": ago(40)});
    if let Some(r) = reason {
        t["reason"] = json!(r);
    }
    if let Some(s) = signal {
        t["signal"] = json!(s);
    }
    json!({"terminated": t})
}

fn cond(type_: &str, status: &str, reason: Option<&str>) -> Value {
    let mut c = json!({"type": type_, "status": status, "lastTransitionTime": ago(60)});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

fn spec(node: &str, inits: &[&str], containers: &[&str]) -> Value {
    let mut s = json!({"nodeName": node,
        "containers": containers.iter().map(|c| json!({"name": c, "image": "keysvc/x:1"})).collect::<Vec<_>>()});
    if !inits.is_empty() {
        s["initContainers"] = inits.iter().map(|c| json!({"name": c, "image": "keysvc/init:1"})).collect();
    }
    s
}

fn status(phase: &str, ready: bool, inits: Vec<Value>, containers: Vec<Value>) -> Value {
    let r = if ready { "True" } else { "False" };
    let mut s = json!({"phase": phase, "conditions": [cond("PodScheduled", "True", None), cond("Ready", r, None)],
        "containerStatuses": containers});
    if !inits.is_empty() {
        s["initContainerStatuses"] = json!(inits);
    }
    s
}

fn state(
    name: &'static str,
    spec: Value,
    status: Value,
    ready: &'static str,
    status_col: &'static str,
    restarts: i32,
) -> PodState {
    PodState { name, spec, status, deleted: false, ready, status_col, restarts, server_1_20: None }
}

impl PodState {
    fn deleted(mut self) -> PodState {
        self.deleted = true;
        self
    }

    fn on_1_20(mut self, printed: &'static str) -> PodState {
        self.server_1_20 = Some(printed);
        self
    }
}

fn states(node: &str) -> Vec<PodState> {
    let one = || spec(node, &[], &[C]);
    let two = || spec(node, &[], &[C, "job"]);
    let init = |n: usize| spec(node, &["init-a", "init-b", "init-c"][..n], &[C]);
    let init_done = || cs("init-a", false, 0, ended(0, Some("Completed"), None));
    let initializing = || cs(C, false, 0, waiting("PodInitializing"));
    let mut unscheduled = json!({"containers": [{"name": C, "image": "keysvc/x:1"}]});
    unscheduled["terminationGracePeriodSeconds"] = json!(30);
    vec![
        state("running", one(), status("Running", true, vec![], vec![cs(C, true, 0, running())]), "1/1", "Running", 0),
        state(
            "running-not-ready",
            one(),
            status("Running", false, vec![], vec![cs(C, false, 0, running())]),
            "0/1",
            "Running",
            0,
        ),
        state(
            "crash-loop",
            one(),
            status("Running", false, vec![], vec![restarted(C, 7, waiting("CrashLoopBackOff"))]),
            "0/1",
            "CrashLoopBackOff",
            7,
        ),
        state(
            "oom-killed",
            one(),
            status("Running", false, vec![], vec![restarted(C, 1, ended(137, Some("OOMKilled"), None))]),
            "0/1",
            "OOMKilled",
            1,
        ),
        state(
            "error",
            one(),
            status("Running", false, vec![], vec![cs(C, false, 0, ended(1, Some("Error"), None))]),
            "0/1",
            "Error",
            0,
        ),
        state(
            "exit-code",
            one(),
            status("Running", false, vec![], vec![cs(C, false, 0, ended(2, None, None))]),
            "0/1",
            "ExitCode:2",
            0,
        ),
        state(
            "signal",
            one(),
            status("Running", false, vec![], vec![cs(C, false, 0, ended(137, None, Some(9)))]),
            "0/1",
            "Signal:9",
            0,
        ),
        state(
            "container-creating",
            one(),
            status("Pending", false, vec![], vec![cs(C, false, 0, waiting("ContainerCreating"))]),
            "0/1",
            "ContainerCreating",
            0,
        ),
        state(
            "image-pull",
            one(),
            status("Pending", false, vec![], vec![cs(C, false, 0, waiting("ImagePullBackOff"))]),
            "0/1",
            "ImagePullBackOff",
            0,
        ),
        state(
            "unschedulable",
            unscheduled.clone(),
            json!({"phase": "Pending", "conditions": [cond("PodScheduled", "False", Some("Unschedulable"))]}),
            "0/1",
            "Pending",
            0,
        ),
        state(
            "evicted",
            one(),
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
            "0/1",
            "Evicted",
            0,
        ),
        state("node-affinity", one(), json!({"phase": "Failed", "reason": "NodeAffinity"}), "0/1", "NodeAffinity", 0),
        state(
            "completed",
            one(),
            json!({"phase": "Succeeded", "containerStatuses": [cs(C, false, 0, ended(0, Some("Completed"), None))]}),
            "0/1",
            "Completed",
            0,
        ),
        state(
            "partly-completed-ready",
            two(),
            status(
                "Running",
                true,
                vec![],
                vec![cs(C, true, 0, running()), cs("job", false, 0, ended(0, Some("Completed"), None))],
            ),
            "1/2",
            "Running",
            0,
        ),
        state(
            "partly-completed-not-ready",
            two(),
            status(
                "Running",
                false,
                vec![],
                vec![cs(C, true, 0, running()), cs("job", false, 0, ended(0, Some("Completed"), None))],
            ),
            "1/2",
            "NotReady",
            0,
        ),
        state(
            "one-of-two-crash-looping",
            two(),
            status(
                "Running",
                false,
                vec![],
                vec![restarted(C, 2, waiting("CrashLoopBackOff")), restarted("job", 3, running())],
            ),
            "0/2",
            "CrashLoopBackOff",
            5,
        ),
        state(
            "init-0-of-1",
            init(1),
            status("Pending", false, vec![cs("init-a", false, 0, running())], vec![initializing()]),
            "0/1",
            "Init:0/1",
            0,
        ),
        state(
            "init-2-of-3",
            init(3),
            status(
                "Pending",
                false,
                vec![init_done(), cs("init-b", false, 0, ended(0, None, None)), cs("init-c", false, 0, running())],
                vec![initializing()],
            ),
            "0/1",
            "Init:2/3",
            0,
        ),
        state(
            "init-waiting-to-start",
            init(2),
            status("Pending", false, vec![init_done(), cs("init-b", false, 0, waiting("PodInitializing"))], vec![]),
            "0/1",
            "Init:1/2",
            0,
        ),
        state(
            "init-crash-loop",
            init(1),
            status("Pending", false, vec![restarted("init-a", 4, waiting("CrashLoopBackOff"))], vec![initializing()]),
            "0/1",
            "Init:CrashLoopBackOff",
            4,
        ),
        state(
            "init-image-pull",
            init(1),
            status("Pending", false, vec![cs("init-a", false, 0, waiting("ImagePullBackOff"))], vec![initializing()]),
            "0/1",
            "Init:ImagePullBackOff",
            0,
        ),
        state(
            "init-error",
            init(2),
            status(
                "Pending",
                false,
                vec![
                    restarted("init-a", 2, ended(1, Some("Error"), None)),
                    cs("init-b", false, 0, waiting("PodInitializing")),
                ],
                vec![initializing()],
            ),
            "0/1",
            "Init:Error",
            2,
        ),
        state(
            "init-exit-code",
            init(1),
            status("Pending", false, vec![cs("init-a", false, 0, ended(2, None, None))], vec![initializing()]),
            "0/1",
            "Init:ExitCode:2",
            0,
        ),
        state(
            "init-signal",
            init(1),
            status("Pending", false, vec![cs("init-a", false, 0, ended(137, None, Some(9)))], vec![initializing()]),
            "0/1",
            "Init:Signal:9",
            0,
        ),
        state(
            "init-done",
            init(1),
            status(
                "Running",
                true,
                vec![restarted("init-a", 3, ended(0, Some("Completed"), None))],
                vec![cs(C, true, 0, running())],
            ),
            "1/1",
            "Running",
            0,
        ),
        state(
            "terminating",
            one(),
            status("Running", true, vec![], vec![cs(C, true, 0, running())]),
            "1/1",
            "Terminating",
            0,
        )
        .deleted(),
        state(
            "terminating-crash-loop",
            one(),
            status("Running", false, vec![], vec![restarted(C, 7, waiting("CrashLoopBackOff"))]),
            "0/1",
            "Terminating",
            7,
        )
        .deleted(),
        state(
            "node-lost",
            one(),
            json!({"phase": "Running", "reason": "NodeLost", "message": "Node is not responding",
                "conditions": [cond("Ready", "False", None)], "containerStatuses": [cs(C, true, 0, running())]}),
            "1/1",
            "Unknown",
            0,
        )
        .deleted(),
        // kubectl 1.31 stopped calling a finished pod Terminating.
        state(
            "finished-then-deleted",
            one(),
            json!({"phase": "Failed", "containerStatuses": [cs(C, false, 0, ended(1, Some("Error"), None))]}),
            "0/1",
            "Error",
            0,
        )
        .deleted()
        .on_1_20("Terminating"),
        // The scheduling-gates rule is from 1.26; a 1.20 server stores the
        // condition but prints the phase.
        state(
            "scheduling-gated",
            unscheduled,
            json!({"phase": "Pending", "conditions": [cond("PodScheduled", "False", Some("SchedulingGated"))]}),
            "0/1",
            "SchedulingGated",
            0,
        )
        .on_1_20("Pending"),
        // Since 1.29 an Initialized pod is read from its containers even when
        // an init container's status lags behind.
        state(
            "initialized-but-init-lagging",
            init(1),
            json!({"phase": "Running",
                "conditions": [cond("Initialized", "True", None), cond("Ready", "False", None)],
                "initContainerStatuses": [cs("init-a", false, 0, running())],
                "containerStatuses": [cs(C, false, 0, waiting("CrashLoopBackOff"))]}),
            "0/1",
            "CrashLoopBackOff",
            0,
        )
        .on_1_20("Init:0/1"),
    ]
}

/// `kubectl get po` rows by pod name: (READY, STATUS, RESTARTS).
fn kubectl_rows(env: &TestEnv) -> Vec<(String, String, String, String)> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(["--context", REGION, "-n", NS, "get", "po", "--no-headers"])
        .env_remove("KUBECONFIG")
        .output()
        .expect("running kubectl");
    assert!(out.status.success(), "kubectl get po failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string(), f[3].to_string())
        })
        .collect()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn ready_status_and_restarts_read_as_kubectl_prints_them() {
    let c = Case::new(NS).no_scenarios().user("admin").healthz_url("http://127.0.0.1:9/healthz").build();
    let env = &c.env;
    let node = env.state.region(REGION).unwrap().node.clone();
    let cases = states(&node);
    let pod_name = |c: &PodState| format!("{C}-{}", c.name);
    let raw: Vec<RawPod> = cases
        .iter()
        .map(|c| RawPod { name: pod_name(c), spec: c.spec.clone(), status: c.status.clone(), deleted: c.deleted })
        .collect();
    env.raw_pods(REGION, NS, &raw).unwrap();

    let run = c.line(&["pods", "-o", "json"]).flags(&["--region", REGION]).run();
    let j = run.json();
    let ours: Vec<Value> = j["regions"][0]["pods"]["pods"].as_array().cloned().unwrap_or_default();
    let theirs = kubectl_rows(env);
    assert_eq!(ours.len(), cases.len(), "keysvc-check listed {} pods:\n{}", ours.len(), run.stdout);
    assert_eq!(theirs.len(), cases.len(), "kubectl listed {} pods", theirs.len());

    let mut wrong = vec![];
    for case in &cases {
        let name = pod_name(case);
        let p = ours.iter().find(|p| p["name"] == name.as_str()).unwrap_or_else(|| panic!("keysvc-check lost {name}"));
        let k = theirs.iter().find(|k| k.0 == name).unwrap_or_else(|| panic!("kubectl lost {name}"));
        let mine = (p["ready"].as_str().unwrap(), p["status"].as_str().unwrap(), p["restarts"].as_i64().unwrap());
        let want = (case.ready, case.status_col, case.restarts as i64);
        if mine != want {
            wrong.push(format!("{name}: keysvc-check {mine:?}, kubectl 1.32 rules {want:?}"));
        }
        // The server prints a bare count; "(30m ago)" is unit-tested.
        let printed = (k.1.as_str(), k.2.as_str(), k.3.parse::<i64>().unwrap_or(-1));
        let server = (case.ready, case.server_1_20.unwrap_or(case.status_col), case.restarts as i64);
        if printed != server {
            wrong.push(format!("{name}: kubectl get po {printed:?}, expected {server:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} pod states differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));

    // The age of the latest restart, which the 1.20 server does not print:
    // every previous instance here ended 30 minutes ago, a few seconds
    // before this test reads it.
    for case in ["crash-loop", "init-crash-loop", "one-of-two-crash-looping", "oom-killed"] {
        let name = format!("{C}-{case}");
        let p = ours.iter().find(|p| p["name"] == name.as_str()).unwrap();
        let ago = p["last_restart_secs_ago"].as_u64().unwrap_or_else(|| panic!("{name}: no last restart: {p}"));
        assert!((1800..1860).contains(&ago), "{name}: last restart {ago}s ago, want 30m");
    }
    let p = ours.iter().find(|p| p["name"] == format!("{C}-init-done").as_str()).unwrap();
    assert!(p["last_restart_secs_ago"].is_null(), "a finished init container's restarts no longer count: {p}");
}
