//! Proves the test environment with an independent client (kubectl), so that
//! the cluster tests of keysvc-check stand on a server known to behave.

use std::process::Command;

use keysvc_testenv::{Fault, LogSpec, REGIONS, Scenario, TestEnv};

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
