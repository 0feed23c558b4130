//! Proves the test environment with an independent client (kubectl), so that
//! the cluster tests of keysvc-check stand on a server known to behave.

use std::process::Command;

use keysvc_testenv::{EventSpec, Fault, LogSpec, REGIONS, Rollout, Scenario, TestEnv};

const NEEDS: &str = "needs the test cluster (tests/run-all.sh)";

fn kubectl(env: &TestEnv, args: &[&str]) -> (bool, String, String) {
    let out =
        Command::new("kubectl").arg("--kubeconfig").arg(env.kubeconfig()).args(args).output().expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn kubectl_lists_seeded_pods_and_reads_logs_in_every_region() {
    let _ = NEEDS;
    let env = TestEnv::load().unwrap();
    for region in REGIONS {
        let ctx = format!("oncall@{region}");
        let (ok, out, err) =
            kubectl(&env, &["--context", &ctx, "get", "po", "-napi", "-lapp=api-key-service", "--no-headers"]);
        assert!(ok, "{region}: {err}");
        let running: Vec<&str> = out.lines().filter(|l| l.contains(" Running ")).collect();
        assert_eq!(running.len(), 3, "{region}: {out}");
        let (ok, out, err) = kubectl(
            &env,
            &["--context", &ctx, "logs", "-napi", "-lapp=api-key-service", "-c", "api-key-service", "--since=5m"],
        );
        assert!(ok, "{region}: {err}");
        assert!(out.lines().filter(|l| l.starts_with("INFO")).count() >= 3, "{region}: {out}");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn nologs_user_is_forbidden_from_logs_but_lists_pods() {
    let env = TestEnv::load().unwrap();
    let (ok, out, _) = kubectl(&env, &["--context", "nologs@eu-de", "get", "po", "-napi", "--no-headers"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 3);
    let pod = out.split_whitespace().next().unwrap();
    let (ok, _, err) = kubectl(&env, &["--context", "nologs@eu-de", "logs", "-napi", pod]);
    assert!(!ok);
    assert!(err.contains("Forbidden") && err.contains("pods/log"), "{err}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn token_user_authenticates() {
    let env = TestEnv::load().unwrap();
    let (ok, out, err) = kubectl(&env, &["--context", "token@us-east", "get", "po", "-napi", "--no-headers"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn scenarios_show_as_kubectl_reads_them() {
    let env = TestEnv::load().unwrap();
    let ns = "selfcheck-scenarios";
    let cases = [
        (Scenario::CrashLoop, "CrashLoopBackOff", 3),
        (Scenario::Pending, "ContainerCreating", 3),
        (Scenario::Terminating, "Terminating", 3),
        (Scenario::NoPods, "", 0),
    ];
    for (scenario, status, count) in cases {
        env.scenario("us-south", ns, scenario).unwrap();
        let (ok, out, err) = kubectl(&env, &["--context", "us-south", "get", "po", "-n", ns, "--no-headers"]);
        assert!(ok, "{err}");
        assert_eq!(out.lines().count(), count, "{scenario:?}: {out}");
        if !status.is_empty() {
            assert!(out.contains(status), "{scenario:?}: {out}");
        }
    }
    let pods = env.scenario("us-south", ns, Scenario::CrashLoop).unwrap();
    let (_, out, _) = kubectl(&env, &["--context", "us-south", "get", "po", "-n", ns, &pods[2], "--no-headers"]);
    assert!(out.contains("CrashLoopBackOff") && out.contains(" 7 "), "{out}");
    let (ok, out, err) = kubectl(&env, &["--context", "us-south", "logs", "-n", ns, &pods[2], "--previous"]);
    assert!(ok, "{err}");
    assert!(out.contains("OutOfMemoryError"), "{out}");
    env.scenario("us-south", ns, Scenario::NoNamespace).unwrap();
    let (ok, _, err) = kubectl(&env, &["--context", "us-south", "get", "ns", ns]);
    assert!(!ok && err.contains("NotFound"), "{err}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn kubelet_stand_in_honours_log_options() {
    let env = TestEnv::load().unwrap();
    let ns = "selfcheck-logs";
    let pods = env.scenario("us-east", ns, Scenario::Healthy).unwrap();
    let pod = &pods[0];
    let spec = LogSpec::lines([
        (600.0, "old line"),
        (120.0, "recent 1"),
        (60.0, "recent 2"),
        (10.0, "\u{1b}[31mred\u{1b}[0m"),
    ]);
    env.set_logs("us-east", ns, pod, &spec).unwrap();
    let logs = |extra: &[&str]| {
        let mut args = vec!["--context", "us-east", "logs", "-n", ns, pod.as_str()];
        args.extend_from_slice(extra);
        kubectl(&env, &args)
    };
    assert_eq!(logs(&["--since=5m"]).1, "recent 1\nrecent 2\n\u{1b}[31mred\u{1b}[0m\n");
    assert_eq!(logs(&["--tail=2"]).1, "recent 2\n\u{1b}[31mred\u{1b}[0m\n");
    // tailLines is applied before sinceSeconds, as the kubelet does.
    assert_eq!(logs(&["--tail=3", "--since=90s"]).1, "recent 2\n\u{1b}[31mred\u{1b}[0m\n");
    assert_eq!(logs(&["--limit-bytes=10"]).1, "old line\nr");
    let (_, ts, _) = logs(&["--tail=1", "--timestamps"]);
    assert!(ts.split(' ').next().unwrap().ends_with('Z'), "{ts}");
    let (ok, _, err) = logs(&["--previous"]);
    assert!(!ok && err.contains("previous terminated container"), "{err}");
    // Generated lines are merged with the fixed ones by age, oldest first.
    let mut merged = LogSpec::lines([(600.0, "old line"), (100.0, "fixed recent")]);
    merged.generators = vec![
        keysvc_testenv::scenario::traffic(3, 300.0, 0, ""),
        keysvc_testenv::scenario::traffic(2, 250.0, 1, "ERROR e{n}"),
    ];
    env.set_logs("us-east", ns, pod, &merged).unwrap();
    let info = |n: u32| format!("INFO  GET /v1/keys/validate 200 4ms request_id=req-{n}");
    let want = [
        "old line".to_string(),
        info(0),
        "ERROR e0".into(),
        info(1),
        "ERROR e1".into(),
        "fixed recent".into(),
        info(2),
    ];
    assert_eq!(logs(&[]).1, format!("{}\n", want.join("\n")));
    assert_eq!(logs(&["--tail=2"]).1, format!("fixed recent\n{}\n", info(2)));
    env.set_logs("us-east", ns, pod, &keysvc_testenv::scenario::volume_logs(1_000_000, 1000)).unwrap();
    let (ok, out, _) = logs(&["--since=5m"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1_000_000);
    assert_eq!(out.lines().filter(|l| l.starts_with("ERROR")).count(), 1000);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn fault_proxy_passes_hangs_and_resets() {
    let env = TestEnv::load().unwrap();
    let proxy = env.proxy("eu-de", Fault::None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    env.kubeconfig_with(&kc, &[("eu-de", proxy.url())]).unwrap();
    let run = || {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["--context", "eu-de", "--request-timeout=2s", "get", "po", "-napi", "--no-headers"])
            .output()
            .unwrap()
    };
    assert!(run().status.success());
    proxy.set(Fault::Hang);
    let out = run();
    assert!(!out.status.success());
    proxy.set(Fault::Reset);
    let out = run();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reset"), "{}", String::from_utf8_lossy(&out.stderr));
    proxy.set(Fault::None);
    assert!(run().status.success());
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn deployment_history_works_with_kubectl_rollout_history_and_undo() {
    let env = TestEnv::load().unwrap();
    let ns = "selfcheck-rollout";
    let made = env.deploy("us-east", ns, &Rollout::versions(&["1.4.2", "1.4.3"])).unwrap();
    assert_eq!(made.replica_sets.len(), 2);
    let k = |args: &[&str]| {
        let mut all = vec!["--context", "us-east", "-n", ns];
        all.extend_from_slice(args);
        kubectl(&env, &all)
    };
    let (ok, out, err) = k(&["rollout", "history", "deployment/api-key-service"]);
    assert!(ok, "{err}");
    let revisions: Vec<&str> = out.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(revisions.ends_with(&["1", "2"]), "{out}");
    let (ok, out, err) = k(&["rollout", "history", "deployment/api-key-service", "--revision=1"]);
    assert!(ok && out.contains("keysvc/api-key-service:1.4.2"), "{out}{err}");
    let (ok, out, err) = k(&["rollout", "undo", "deployment/api-key-service", "--to-revision=1", "--dry-run=server"]);
    assert!(ok, "{err}");
    assert!(out.contains("rolled back"), "{out}");
    // A server dry run changed nothing.
    let (_, out, _) =
        k(&["get", "deployment/api-key-service", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    assert_eq!(out, "keysvc/api-key-service:1.4.3");
    // The pods are the current ReplicaSet's, carrying its template hash.
    let (_, out, _) = k(&[
        "get",
        "po",
        "-l",
        "app=api-key-service",
        "-o",
        "jsonpath={range .items[*]}{.metadata.ownerReferences[0].name} {.metadata.labels.pod-template-hash}{\"\\n\"}{end}",
    ]);
    let current = &made.replica_sets[1];
    assert_eq!(out.lines().count(), 3, "{out}");
    for line in out.lines() {
        let (owner, hash) = line.split_once(' ').unwrap();
        assert_eq!(owner, current);
        assert!(current.ends_with(hash), "{line}");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn new_pod_states_and_their_events_show_as_kubectl_reads_them() {
    let env = TestEnv::load().unwrap();
    let ns = "selfcheck-events";
    let cases = [
        (Scenario::ProbeFailing, "0/1", "Running", "Unhealthy", "Readiness probe failed"),
        (Scenario::ImagePull, "0/1", "ImagePullBackOff", "BackOff", "Back-off pulling image"),
        (Scenario::Unschedulable, "0/1", "Pending", "FailedScheduling", "Insufficient memory"),
    ];
    for (scenario, ready, status, reason, message) in cases {
        let pods = env.scenario("eu-de", ns, scenario).unwrap();
        let (ok, out, err) = kubectl(&env, &["--context", "eu-de", "get", "po", "-n", ns, &pods[2], "--no-headers"]);
        assert!(ok, "{err}");
        let cols: Vec<&str> = out.split_whitespace().collect();
        assert_eq!((cols[1], cols[2]), (ready, status), "{scenario:?}: {out}");
        // describe finds a pod's events by its uid: they are the pod's own.
        let (ok, out, err) = kubectl(&env, &["--context", "eu-de", "describe", "po", "-n", ns, &pods[2]]);
        assert!(ok, "{err}");
        let events = out.split("Events:").nth(1).unwrap_or_default();
        assert!(events.contains(reason) && events.contains(message), "{scenario:?}: {events}");
    }
    // Events about a ReplicaSet or Deployment, with the times and count given.
    let made = env.deploy("eu-de", ns, &Rollout::versions(&["1.4.3"])).unwrap();
    let spec = EventSpec::warning("ReplicaSet", &made.replica_sets[0], "FailedCreate", "exceeded quota")
        .count(3)
        .seen(200, 30);
    env.event("eu-de", ns, &spec).unwrap();
    let (ok, out, err) = kubectl(
        &env,
        &[
            "--context",
            "evidence@eu-de",
            "get",
            "events",
            "-n",
            ns,
            "-o",
            "jsonpath={range .items[*]}{.involvedObject.kind} {.reason} {.count}{\"\\n\"}{end}",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "ReplicaSet FailedCreate 3\n", "the scenario's events were cleared");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn evidence_user_reads_events_and_owners_and_oncall_only_pods() {
    let env = TestEnv::load().unwrap();
    let reads = [("list", "events"), ("list", "replicasets.apps"), ("get", "deployments.apps"), ("list", "pods")];
    for (verb, resource) in reads {
        let (_, out, _) = kubectl(&env, &["--context", "evidence@us-south", "auth", "can-i", verb, resource, "-napi"]);
        assert_eq!(out.trim(), "yes", "evidence {verb} {resource}");
    }
    for (verb, resource) in [("patch", "deployments.apps"), ("delete", "pods"), ("create", "events")] {
        let (_, out, _) = kubectl(&env, &["--context", "evidence@us-south", "auth", "can-i", verb, resource, "-napi"]);
        assert_eq!(out.trim(), "no", "evidence {verb} {resource}: read-only");
    }
    // The on-call user is tried with real reads only: the cluster tests
    // check that it never sends anything but gets and lists.
    for resource in ["events", "replicasets", "deployments"] {
        let (ok, _, err) = kubectl(&env, &["--context", "oncall@us-south", "get", resource, "-napi"]);
        assert!(!ok && err.contains("Forbidden"), "oncall get {resource}: {err}");
    }
    let (ok, _, err) = kubectl(&env, &["--context", "oncall@us-south", "get", "pods", "-napi"]);
    assert!(ok, "{err}");
}
