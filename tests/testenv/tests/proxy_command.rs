//! `keysvc-testenv proxy` against a running environment: kubectl reaches every
//! region through the kubeconfig it writes, a round trip late, and the
//! command stops on SIGTERM; with `--regions N`, N clusters over the three
//! API servers (and `deploy --replicas`, to give them many pods).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keysvc_testenv::{REGIONS, TestEnv};

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn proxy_command_serves_every_region_with_latency_until_sigterm() {
    let env = TestEnv::load().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let rtt = Duration::from_millis(200);
    let child = serve("proxy", &["--latency-ms", "200"], &kc);

    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&kc).unwrap()).unwrap();
    let direct = env.kubeconfig_json().unwrap();
    for region in REGIONS {
        let server = |k: &serde_json::Value| {
            k["clusters"].as_array().unwrap().iter().find(|c| c["name"] == region).unwrap()["cluster"]["server"].clone()
        };
        assert_ne!(server(&written), server(&direct), "{region} does not go through a proxy");
        let started = Instant::now();
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kc)
            .args(["--context", &format!("oncall@{region}"), "get", "po", "-napi", "--no-headers"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{region}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3, "{region}");
        // A connection's handshake and one request are two round trips at least.
        assert!(started.elapsed() >= rtt * 2, "{region}: no latency added");
    }

    stop(child);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn proxy_regions_makes_that_many_clusters_over_the_three_api_servers() {
    // Loaded for its check that the environment is up.
    TestEnv::load().unwrap();
    let state = std::env::var_os(keysvc_testenv::ENV_VAR).unwrap();
    let testenv = env!("CARGO_BIN_EXE_keysvc-testenv");
    // Twelve pods in us-east (more than the eight names a scenario has).
    let out = Command::new(testenv)
        .args([
            "deploy",
            "--region",
            "us-east",
            "--namespace",
            "t-many",
            "--replicas",
            "12",
            "1.4.2",
            "1.4.3",
            "--state",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut made: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 12, "{made:?}");

    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let mut child = serve("proxy", &["--latency-ms", "0", "--regions", "5"], &kc);
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&kc).unwrap()).unwrap();
    let clusters: Vec<&str> =
        written["clusters"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(clusters, ["r00", "r01", "r02", "r03", "r04"]);
    let servers: std::collections::HashSet<&str> =
        written["clusters"].as_array().unwrap().iter().map(|c| c["cluster"]["server"].as_str().unwrap()).collect();
    assert_eq!(servers.len(), 5, "a proxy per region");
    // r04 is the second region's API server (4 mod 3 = 1: us-east).
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["--context", "oncall@r04", "get", "po", "-n", "t-many", "-o", "name"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut listed: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim_start_matches("pod/").to_string()).collect();
    listed.sort();
    assert_eq!(listed, made);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Starts `keysvc-testenv COMMAND ARGS --kubeconfig KC` and waits for the
/// path it prints once the kubeconfig is written and its proxies listen.
fn serve(command: &str, args: &[&str], kc: &std::path::Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keysvc-testenv"))
        .arg(command)
        .args(args)
        .arg("--state")
        .arg(std::env::var_os(keysvc_testenv::ENV_VAR).unwrap())
        .arg("--kubeconfig")
        .arg(kc)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), kc.display().to_string());
    child
}

fn stop(mut child: std::process::Child) -> String {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn kubectl_get_po(kc: &std::path::Path, region: &str) -> std::process::Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kc)
        .args(["--context", &format!("oncall@{region}"), "get", "po", "-napi", "--no-headers"])
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn throttle_command_puts_one_region_behind_an_api_server_under_load() {
    TestEnv::load().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");

    // Every request answered 503 without Retry-After: kubectl gives up.
    let child = serve("throttle", &["--region", "us-east", "--status", "503", "--retry-after", "0", "--always"], &kc);
    let out = kubectl_get_po(&kc, "us-east");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ServiceUnavailable"), "{out:?}");
    // The other regions do not go through it.
    assert!(kubectl_get_po(&kc, "us-south").status.success());
    let said = stop(child);
    assert!(said.contains("answered") && !said.contains("answered 0 of"), "{said}");

    // The first of each request answered 429 with Retry-After: 1, then
    // passed on: kubectl waits and gets the pods.
    let child = serve("throttle", &["--region", "us-east", "--first", "1"], &kc);
    let out = kubectl_get_po(&kc, "us-east");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let said = stop(child);
    assert!(!said.contains("answered 0 of"), "{said}");
}
