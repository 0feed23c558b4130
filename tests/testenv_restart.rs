//! Faults that touch a whole region (its API server or kubelet stand-in
//! stopped) live in their own test binary: cargo runs test binaries one after
//! another, so no other test sees the region down.

use std::process::Command;

use keysvc_testenv::TestEnv;

fn kubectl_ok(env: &TestEnv, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(["--request-timeout=5s"])
        .args(args)
        .output()
        .expect("kubectl runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn apiserver_and_kubelet_stop_and_start() {
    let mut env = TestEnv::load().unwrap();
    env.stop_apiserver("us-east").unwrap();
    let (ok, err) = kubectl_ok(&env, &["--context", "us-east", "get", "po", "-napi"]);
    assert!(!ok && err.contains("refused"), "{err}");
    env.start_apiserver("us-east").unwrap();
    assert!(kubectl_ok(&env, &["--context", "us-east", "get", "po", "-napi"]).0);

    env.stop_kubelet("us-east").unwrap();
    let (ok, err) = kubectl_ok(&env, &["--context", "us-east", "logs", "-napi", "-lapp=api-key-service"]);
    assert!(!ok, "{err}");
    assert!(kubectl_ok(&env, &["--context", "us-east", "get", "po", "-napi"]).0);
    env.start_kubelet("us-east").unwrap();
    let (ok, err) = kubectl_ok(&env, &["--context", "us-east", "logs", "-napi", "-lapp=api-key-service"]);
    assert!(ok, "{err}");
}
