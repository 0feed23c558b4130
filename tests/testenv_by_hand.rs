//! The local environment used by hand, as a new user would: `keysvc-testenv
//! up` says what to export and what to try, those work as printed, and
//! `down` stops everything and removes what it made (private keys included).
//! A second environment of its own, next to the one the other tests use.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn testenv() -> PathBuf {
    // Built with the workspace (tests/run-all.sh), next to keysvc-check.
    PathBuf::from(common::BIN).with_file_name("keysvc-testenv")
}

#[test]
#[ignore = "needs the test cluster's kube-apiserver (tests/run-all.sh)"]
fn up_says_how_to_use_it_and_down_removes_everything() {
    let out = Command::new(testenv()).arg("up").stdin(Stdio::null()).output().expect("keysvc-testenv up");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let state = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let dir = state.parent().unwrap().to_path_buf();
    let down = || {
        let ok = Command::new(testenv()).args(["down", "--state"]).arg(&state).status().unwrap().success();
        assert!(ok, "keysvc-testenv down failed");
    };

    // stdout is the state file alone; stderr says what to export and try.
    let export = stderr.lines().find(|l| l.trim_start().starts_with("export KUBECONFIG=")).unwrap_or_else(|| {
        down();
        panic!("no export line in:\n{stderr}")
    });
    let runbook = dir.join("runbook.yaml");
    assert!(runbook.exists() && stderr.contains(&runbook.display().to_string()), "{stderr}");
    assert!(stderr.contains("keysvc-check diagnose --env local"), "{stderr}");
    // The telemetry: Prometheus's and NerdGraph's URLs and the key to export.
    let t = keysvc_testenv::State::load(&state).unwrap().telemetry.expect("telemetry in the state");
    for shown in [t.prometheus_url.clone().unwrap_or_default(), t.nerdgraph_url.clone()] {
        assert!(!shown.is_empty() && stderr.contains(&shown), "{shown} not in:\n{stderr}");
    }
    assert!(stderr.contains(&format!("export NEW_RELIC_API_KEY={}", t.api_key)), "{stderr}");

    // The printed exports, then the printed command: healthy, exit 0.
    let mut c = common::cmd();
    for pair in export.trim_start().trim_start_matches("export ").split(' ') {
        let (k, v) = pair.split_once('=').unwrap();
        c.env(k, v);
    }
    c.args(["diagnose", "--env", "local"]);
    let r = common::run_within(c, Duration::from_secs(40));
    let healthy = r.code == 0 && r.stdout.starts_with("Key Service API (local): HEALTHY");
    // The runbook asks the environment's Prometheus: data from every region.
    let telemetry = r.stdout.lines().any(|l| l.starts_with("Telemetry") && l.contains("3/3 regions"));

    down();
    assert!(healthy, "{}\n{}", r.stdout, r.stderr);
    assert!(telemetry, "no telemetry from every region in:\n{}", r.stdout);
    assert!(!dir.exists(), "down leaves {} behind (it holds private keys)", dir.display());
}
