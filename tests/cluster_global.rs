//! Faults that take down a whole region's process (its API server, its
//! kubelet stand-in). This test binary runs alone: cargo runs test binaries
//! one after another, so no other test sees the region down.

mod common;

use std::time::Duration;

use common::{cmd, region, run_within, runbook_text, write};
use keysvc_testenv::{Behavior, HealthzServer, TestEnv};

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn stopped_kubelet_and_stopped_api_server() {
    let mut env = TestEnv::load().unwrap();
    env.scenarios("g-stop", &[]).unwrap();
    let healthz = HealthzServer::start(Behavior::Healthy);
    let dir = tempfile::tempdir().unwrap();
    let runbook = write(dir.path(), "rb.yaml", &runbook_text("g-stop", &healthz.url, &|r| format!("oncall@{r}"), ""));
    let diagnose = |env: &TestEnv| {
        let mut c = cmd();
        c.args(["diagnose", "--env", "test", "-o", "json", "--timeout", "10s"])
            .arg("--runbook")
            .arg(&runbook)
            .arg("--kubeconfig")
            .arg(env.kubeconfig());
        let r = run_within(c, Duration::from_secs(12));
        let j = r.json();
        (r, j)
    };

    // Kubelet stand-in down: pods are fine, logs cannot be read.
    env.stop_kubelet("eu-de").unwrap();
    let (r, j) = diagnose(&env);
    env.start_kubelet("eu-de").unwrap();
    assert_eq!(r.code, 3, "{}", r.stdout);
    let eu = region(&j, "eu-de");
    assert_eq!(eu["pods"]["status"], "pass");
    assert_eq!(eu["pods"]["ready"], 3);
    assert_eq!(eu["logs"]["status"], "error", "{eu}");
    assert_eq!(eu["verdict"], "unknown");
    assert_eq!(region(&j, "us-south")["verdict"], "healthy");

    // API server stopped: connection refused, the others reported normally.
    env.stop_apiserver("us-south").unwrap();
    let (r, j) = diagnose(&env);
    env.start_apiserver("us-south").unwrap();
    assert_eq!(r.code, 3, "{}", r.stdout);
    let south = region(&j, "us-south");
    assert_eq!(south["verdict"], "unknown");
    assert_eq!(south["pods"]["error"]["kind"], "refused");
    assert_eq!(region(&j, "us-east")["verdict"], "healthy");
    assert_eq!(region(&j, "eu-de")["verdict"], "healthy");

    let (r, _) = diagnose(&env);
    assert_eq!(r.code, 0, "the regions are back: {}", r.stdout);
}
