//! keysvc-check end to end against the real three-region test environment
//! (tests/run-all.sh brings it up). Each test works in a namespace of its own,
//! so tests run in parallel without seeing each other's scenarios.

use crate::common;

use std::time::Duration;

use crate::common::case::Case;
use crate::common::{Run, region, texts, write};
use keysvc_testenv::{Behavior, Fault, HealthzServer, LogSpec, Scenario, TestEnv};
use serde_json::Value;

/// How these tests run the binary: `ARGS --env test --runbook R --kubeconfig K`.
trait Runs {
    fn run(&self, args: &[&str]) -> Run;
    fn run_limit(&self, args: &[&str], limit: Duration) -> Run;
}

impl Runs for Case {
    fn run(&self, args: &[&str]) -> Run {
        self.run_limit(args, Duration::from_secs(40))
    }

    fn run_limit(&self, args: &[&str], limit: Duration) -> Run {
        self.line(args).run_within(limit)
    }
}

const NEEDS: &str = "needs the test cluster (tests/run-all.sh)";

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn healthy_everywhere_exits_0() {
    let _ = NEEDS;
    let c = Case::new("t-healthy").build();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["schema"], "keysvc-check/report/v2");
    assert_eq!(j["service"]["verdict"], "healthy");
    assert_eq!(j["healthz"]["status"], "pass");
    for name in ["us-south", "us-east", "eu-de"] {
        let reg = region(&j, name);
        assert_eq!(reg["verdict"], "healthy", "{reg}");
        assert_eq!(reg["context"], format!("oncall@{name}"));
        assert_eq!(reg["pods"]["ready"], 3);
        assert_eq!(reg["pods"]["status"], "pass");
        assert_eq!(reg["logs"]["status"], "pass");
        assert_eq!(reg["logs"]["error_lines"], 0);
        assert_eq!(reg["logs"]["pods"].as_array().unwrap().len(), 3);
        assert!(reg["logs"]["pods"][0]["lines"].as_u64().unwrap() >= 15, "{reg}");
    }
    assert!(texts(&j["next_steps"]).contains("missing metrics"), "{}", j["next_steps"]);

    // One step for one region: the diagnose it suggests is for that region too.
    let (r, j) = {
        let r = c.run(&["pods", "--region", "us-east", "-o", "json"]);
        let j = r.json();
        (r, j)
    };
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let commands: Vec<&str> =
        j["next_steps"].as_array().unwrap().iter().filter_map(|s| s["command"].as_str()).collect();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(commands[0].starts_with("keysvc-check diagnose --env test --runbook "), "{commands:?}");
    assert!(commands[0].ends_with(" --region us-east"), "{commands:?}");

    let t = c.run(&["diagnose"]);
    assert_eq!(t.code, 0);
    assert!(t.stdout.starts_with("Key Service API (test): HEALTHY"), "{}", t.stdout);
    for name in ["us-south", "us-east", "eu-de"] {
        assert!(
            t.stdout.lines().any(|l| l.contains(name) && l.contains("3/3") && l.contains("healthy")),
            "{}",
            t.stdout
        );
    }
    // stdout is a pipe here: no width limit, so nothing wraps and the
    // header and each region are exactly one line of the table.
    let rows: Vec<&str> = t.stdout.lines().filter(|l| l.starts_with('│')).collect();
    assert_eq!(rows.len(), 4, "a table row spans lines:\n{}", t.stdout);
    assert!(rows[0].contains("REGION") && rows[0].contains("PODS READY") && rows[0].contains("NOTE"), "{}", rows[0]);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn crash_loop_in_one_region_is_degraded_with_evidence_and_commands() {
    let c = Case::new("t-crash").scenario("us-east", Scenario::CrashLoop).build();
    let crashed = &c.pods[1][2];
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(j["service"]["verdict"], "degraded");
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "degraded");
    assert_eq!(east["pods"]["ready"], 2);
    assert_eq!(east["pods"]["restarts"], 7);
    let pod = east["pods"]["pods"].as_array().unwrap().iter().find(|p| p["name"] == crashed.as_str()).unwrap();
    assert_eq!(pod["status"], "CrashLoopBackOff");
    assert_eq!(pod["ready"], "0/1");
    assert_eq!(pod["last_terminated"]["reason"], "OOMKilled");
    assert_eq!(pod["last_terminated"]["exit_code"], 137);
    // The previous container's logs were read, because it restarted inside the window.
    let prev = east["logs"]["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pod"] == crashed.as_str() && p["previous"] == true)
        .unwrap();
    assert_eq!(prev["error_lines"], 3, "{prev}");
    assert_eq!(prev["top_errors"][0]["count"], 2);
    let findings = texts(&j["findings"]);
    assert!(
        findings.contains(&format!(
            "us-east: {crashed} CrashLoopBackOff, 7 restarts, last terminated OOMKilled (exit 137) 4m ago"
        )),
        "{findings}"
    );
    let next = texts(&j["next_steps"]);
    assert!(next.contains(&format!("--context oncall@us-east -n t-crash describe pod {crashed}")), "{next}");
    assert!(
        next.contains(&format!("--context oncall@us-east -n t-crash logs {crashed} -c api-key-service --previous")),
        "{next}"
    );
    // Every suggested command names the kubeconfig the run used, and works when pasted.
    assert_eq!(j["next_steps"][0]["region"], "us-east", "{}", j["next_steps"]);
    assert!(
        j["next_steps"][0]["command"].as_str().unwrap().contains("logs -l app=api-key-service"),
        "{}",
        j["next_steps"]
    );
    common::run_suggested_commands(&j);
    for name in ["us-south", "eu-de"] {
        assert_eq!(region(&j, name)["verdict"], "healthy");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn zero_pods_and_missing_namespace_are_down() {
    let c = Case::new("t-empty")
        .scenarios(&[("us-south", Scenario::NoPods), ("eu-de", Scenario::NoNamespace)])
        .user("admin")
        .build();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(j["service"]["verdict"], "degraded");
    assert_eq!(region(&j, "us-south")["verdict"], "down");
    assert_eq!(region(&j, "us-south")["pods"]["note"], "no pods match app=api-key-service in namespace t-empty");
    assert_eq!(region(&j, "eu-de")["verdict"], "down");
    assert_eq!(region(&j, "eu-de")["pods"]["note"], "namespace t-empty does not exist");
    assert_eq!(region(&j, "us-east")["verdict"], "healthy");
}

/// The case's runbook with `peers` (other APIs' healthz) added to its environment.
fn with_peers(c: &mut Case, peers: &[(&str, &HealthzServer)]) {
    let text = std::fs::read_to_string(&c.runbook).unwrap();
    let mut list = "    peers:\n".to_string();
    for (name, server) in peers {
        list.push_str(&format!("      - {{ name: {name}, healthz_url: \"{}\" }}\n", server.url));
    }
    let text = text.replacen("    regions:\n", &format!("{list}    regions:\n"), 1);
    c.runbook = write(c.dir.path(), "runbook-peers.yaml", &text);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn other_apis_failing_too_is_a_platform_outage() {
    let mut c = Case::new("t-platform").build();
    c.healthz.set(Behavior::html(502, "<html>bad gateway</html>"));
    let iam = HealthzServer::start(Behavior::html(502, "bad gateway"));
    let billing = HealthzServer::start(Behavior::html(503, "unavailable"));
    let search = HealthzServer::start(Behavior::Healthy);
    with_peers(&mut c, &[("iam-api", &iam), ("billing-api", &billing), ("search-api", &search)]);
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert_eq!(j["service"]["verdict"], "down");
    let peers = j["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3);
    assert_eq!(peers.iter().filter(|p| p["up"] == true).count(), 1, "{peers:?}");
    assert!(common::kinds(&j).contains(&"platform_outage".to_string()), "{}", j["findings"]);
    assert!(!common::kinds(&j).contains(&"service_unreachable".to_string()));
    let first = j["next_steps"][0]["text"].as_str().unwrap();
    assert!(first.starts_with("Contact the platform/infrastructure team first"), "{}", j["next_steps"]);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn other_apis_fine_and_pods_fine_is_the_service_route() {
    let mut c = Case::new("t-route").build();
    c.healthz.set(Behavior::html(502, "<html>no healthy upstream</html>"));
    let iam = HealthzServer::start(Behavior::Healthy);
    let billing = HealthzServer::start(Behavior::json(204, serde_json::json!({})));
    with_peers(&mut c, &[("iam-api", &iam), ("billing-api", &billing)]);
    let r = c.run(&["diagnose", "-o", "json"]);
    let j = r.json();
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(j["peers"].as_array().unwrap().iter().all(|p| p["up"] == true), "{}", j["peers"]);
    let kinds = common::kinds(&j);
    assert!(kinds.contains(&"service_unreachable".to_string()), "{kinds:?}");
    assert!(!kinds.contains(&"platform_outage".to_string()));
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "service_unreachable").unwrap();
    assert!(f["text"].as_str().unwrap().contains("2/2 other APIs answer"), "{f}");
    let next = texts(&j["next_steps"]);
    assert!(next.contains("route, ingress"), "{next}");
    // Healthy pods: no per-region kubectl steps, and the peers are not probed twice.
    assert!(!next.contains("kubectl"), "{next}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn every_region_down_is_service_down_with_impact() {
    let set = [("us-south", Scenario::AllCrashLoop), ("us-east", Scenario::AllCrashLoop), ("eu-de", Scenario::NoPods)];
    let impact = "guidance:\n  impact: Every application that validates JWTs through this service is failing.\n";
    let c = Case::new("t-alldown").scenarios(&set).extra(impact).build();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert_eq!(j["service"]["verdict"], "down");
    assert!(j["service"]["impact"].as_str().unwrap().contains("JWT"));
    let t = c.run(&["diagnose"]);
    assert_eq!(t.code, 2);
    assert!(t.stdout.contains("DOWN") && t.stdout.contains("Impact:"), "{}", t.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn healthz_failing_with_healthy_pods_points_at_networking() {
    let c = Case::new("t-hzfail").build();
    c.healthz.set(Behavior::html(503, "<html>upstream connect error</html>"));
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 2);
    assert_eq!(j["service"]["verdict"], "down");
    assert!(common::kinds(&j).contains(&"service_unreachable".to_string()), "{}", j["findings"]);
    let next = texts(&j["next_steps"]);
    assert!(next.contains("route, ingress") && next.contains("the platform/infrastructure team"), "{next}");
    assert!(next.contains(&format!("curl -sS -i --max-time 10 {}", c.healthz.url)), "{next}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn pending_and_terminating_pods_degrade_their_regions() {
    let c = Case::new("t-pendterm")
        .scenarios(&[("us-south", Scenario::Pending), ("us-east", Scenario::Terminating)])
        .build();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}", r.stdout);
    let south = region(&j, "us-south");
    assert_eq!(south["verdict"], "degraded");
    assert!(
        south["pods"]["pods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["status"] == "ContainerCreating" && p["pending"] == true)
    );
    // A container that never started has no logs: not a failed check.
    assert_eq!(south["logs"]["status"], "pass", "{}", south["logs"]);
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "degraded");
    assert!(east["pods"]["pods"].as_array().unwrap().iter().any(|p| p["status"] == "Terminating"));
    assert_eq!(east["pods"]["ready"], 2);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn pods_command_shows_pods_as_kubectl_does() {
    let c = Case::new("t-podscmd").scenario("us-east", Scenario::CrashLoop).build();
    let r = c.run(&["pods", "--region", "us-east"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    for pod in &c.pods[1] {
        assert!(r.stdout.contains(pod.as_str()), "{}", r.stdout);
    }
    let crash_line = r.stdout.lines().find(|l| l.contains(c.pods[1][2].as_str())).unwrap();
    for col in ["0/1", "CrashLoopBackOff", "7 (4m ago)", "node-us-east"] {
        assert!(crash_line.contains(col), "{col} missing: {crash_line}");
    }
    assert!(!r.stdout.contains("us-south"), "only the asked region");
    let top = r.stdout.lines().next().unwrap();
    assert!(top.ends_with("DEGRADED — us-east degraded (only this region was checked)"), "{top}");
    // Cross-check with kubectl.
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(["--context", "oncall@us-east", "get", "po", "-n", &c.ns, "--no-headers"])
        .output()
        .unwrap();
    let kubectl = String::from_utf8_lossy(&out.stdout);
    let kline = kubectl.lines().find(|l| l.contains(c.pods[1][2].as_str())).unwrap();
    assert!(kline.contains("CrashLoopBackOff") && kline.contains("0/1"), "{kline}");
    let j = c.run(&["pods", "-o", "json"]).json();
    assert!(j["regions"][0]["logs"].is_null());
    assert_eq!(j["steps"], serde_json::json!(["pods"]));
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn logs_command_streams_prefixed_lines_and_summarises_errors() {
    // Two lines of an error the baseline never had are enough here.
    let c = Case::new("t-logscmd").extra("logs:\n  min_errors: 2\n").build();
    let pod = &c.pods[2][0];
    let spec = LogSpec::lines([
        (200.0, "INFO started"),
        (100.0, "ERROR failed to sign token kid=key-1"),
        (99.0, "\tat com.example.Signer.sign(Signer.java:88)"),
        (50.0, "ERROR failed to sign token kid=key-2"),
        (10.0, "\u{1b}]0;owned\u{7}\u{1b}[31mcoloured\u{1b}[0m INFO"),
        (600.0, "ERROR too old to count"),
    ]);
    // Lines are served in order; put the old one first.
    let mut spec = spec;
    spec.lines.rotate_right(1);
    c.env.set_logs("eu-de", &c.ns, pod, &spec).unwrap();
    let r = c.run(&["logs", "--region", "eu-de"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("eu-de {pod} │ ERROR failed to sign token kid=key-1")), "{}", r.stdout);
    assert!(!r.stdout.contains("too old"), "the window is 5m");
    assert!(!r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{7}'), "{:?}", r.stdout);
    assert!(r.stdout.contains("\\x1b[31mcoloured"));
    let summary = r.stdout.lines().find(|l| l.contains(pod.as_str()) && l.contains("2×")).expect("summary row");
    assert!(summary.contains("ERROR failed to sign token"), "{summary}");
    let j = c.run(&["logs", "--region", "eu-de", "-o", "json"]).json();
    let logs = &region(&j, "eu-de")["logs"];
    assert_eq!(logs["judgement"], "new_error", "{logs}");
    assert_eq!(logs["min_errors"], 2);
    assert_eq!(logs["signatures"][0]["pattern"], "failed to sign token kid=<*>", "{logs}");
    assert_eq!(logs["signatures"][0]["new"], true);
    // The old error line is the baseline's, not the window's.
    let p = logs["pods"].as_array().unwrap().iter().find(|p| p["pod"] == pod.as_str()).unwrap();
    assert_eq!(p["error_lines"], 2, "{p}");
    assert_eq!(p["baseline"]["error_lines"], 1, "{p}");

    let g = c.run(&["logs", "--region", "eu-de", "--grep", "kid=key-2"]);
    let shown: Vec<&str> = g.stdout.lines().filter(|l| l.contains(" │ ")).collect();
    assert_eq!(shown.len(), 1, "{}", g.stdout);
    // --tail limits the lines shown, never the counts or the verdict.
    let full = c.run(&["logs", "--region", "eu-de", "-o", "json"]);
    let t = c.run(&["logs", "--region", "eu-de", "--tail", "1", "-o", "json"]);
    let (fj, tj) = (full.json(), t.json());
    assert_eq!(
        region(&tj, "eu-de")["logs"],
        region(&fj, "eu-de")["logs"].clone().tap_durations(&region(&tj, "eu-de")["logs"])
    );
    assert_eq!(t.code, full.code);
    let shown = c.run(&["logs", "--region", "eu-de", "--tail", "1"]);
    let lines: Vec<&str> = shown.stdout.lines().filter(|l| l.contains(" │ ")).collect();
    assert_eq!(lines.len(), 3, "the last line of each of the 3 pods: {}", shown.stdout);
    assert!(lines.iter().any(|l| l.contains(pod.as_str()) && l.contains("coloured")), "{}", shown.stdout);
    assert_eq!(shown.code, full.code);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn logs_command_marks_previous_lines_and_a_container_with_no_logs_yet() {
    let c = Case::new("t-logsprev").scenario("us-east", Scenario::CrashLoop).build();
    let crashed = &c.pods[1][2];
    for args in [&["logs", "--region", "us-east"][..], &["logs", "--region", "us-east", "--tail", "2"]] {
        let r = c.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}\n{}", r.stdout, r.stderr);
        let lines: Vec<&str> = r.stdout.lines().filter(|l| l.contains(" │ ")).collect();
        // The crashed pod's lines are its previous container's, and say so.
        let crashed_lines: Vec<&&str> = lines.iter().filter(|l| l.contains(crashed.as_str())).collect();
        assert!(!crashed_lines.is_empty(), "{args:?}: {}", r.stdout);
        for l in crashed_lines {
            assert!(l.starts_with(&format!("us-east {crashed} (previous) │ ")), "{args:?}: {l}");
        }
        // Its current container has not started: no logs, not an error line.
        let row = r
            .stdout
            .lines()
            .find(|l| l.starts_with('│') && l.contains(crashed.as_str()) && !l.contains("(previous)"))
            .unwrap_or_else(|| panic!("no row for the current container: {}", r.stdout));
        assert!(row.contains("(no logs: waiting to start, CrashLoopBackOff)"), "{row}");
        // The logs were just shown, the crashed container's too: no step
        // to read them again.
        assert!(!r.stdout.contains("read the logs of every pod"), "{}", r.stdout);
        assert!(!r.stdout.contains("--previous") && !r.stdout.contains("crashed container"), "{}", r.stdout);
    }
}

trait TapDurations {
    /// This report part with its `duration_ms` fields taken from `other`,
    /// so two runs compare on what they found.
    fn tap_durations(self, other: &Value) -> Value;
}

impl TapDurations for Value {
    fn tap_durations(mut self, other: &Value) -> Value {
        fn copy(a: &mut Value, b: &Value) {
            match (a, b) {
                (Value::Object(a), Value::Object(b)) => {
                    for (k, v) in a.iter_mut() {
                        // The test kubelet dates lines by their age from now:
                        // when an error was seen differs from run to run too.
                        if matches!(k.as_str(), "duration_ms" | "first_seen" | "last_seen") {
                            *v = b.get(k).cloned().unwrap_or(Value::Null);
                        } else if let Some(bv) = b.get(k) {
                            copy(v, bv);
                        }
                    }
                }
                (Value::Array(a), Value::Array(b)) => a.iter_mut().zip(b).for_each(|(x, y)| copy(x, y)),
                _ => {}
            }
        }
        copy(&mut self, other);
        self
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn unreachable_region_is_unknown_while_others_are_reported() {
    let c = Case::new("t-unreach").build();
    let kc = c.dir.path().join("kubeconfig");
    let port = keysvc_testenv::proxy::closed_port();
    c.env.kubeconfig_with(&kc, &[("us-east", format!("https://127.0.0.1:{port}"))]).unwrap();
    let mut c = c;
    c.kubeconfig = kc;
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(j["service"]["verdict"], "unknown");
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "unknown");
    assert_eq!(east["pods"]["status"], "error");
    assert_eq!(east["pods"]["error"]["kind"], "refused");
    // Which address refused is the first thing to check.
    assert_eq!(
        east["pods"]["error"]["message"],
        format!("connection refused (https://127.0.0.1:{port})"),
        "{}",
        east["pods"]
    );
    assert_eq!(east["logs"]["status"], "error");
    assert_eq!(region(&j, "us-south")["verdict"], "healthy");
    assert_eq!(region(&j, "eu-de")["verdict"], "healthy");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn forbidden_logs_are_named_and_pods_still_reported() {
    let c = Case::new("t-nologs").user("nologs").build();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 3, "{}", r.stdout);
    for name in ["us-south", "us-east", "eu-de"] {
        let reg = region(&j, name);
        assert_eq!(reg["verdict"], "unknown");
        assert_eq!(reg["pods"]["status"], "pass");
        assert_eq!(reg["pods"]["ready"], 3);
        assert_eq!(reg["logs"]["status"], "error");
        let e = &reg["logs"]["error"];
        assert_eq!(e["kind"], "forbidden");
        assert!(e["message"].as_str().unwrap().contains("get pods/log in namespace t-nologs"), "{e}");
    }
    let steps = texts(&j["next_steps"]);
    assert!(steps.contains("ask for get on pods/log in namespace t-nologs"), "{steps}");
    // The pods were listed: only the logs permission is asked for.
    assert!(!steps.contains("get and list on pods"), "{steps}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn missing_context_and_context_override() {
    let c = Case::new("t-context").build();
    let text = std::fs::read_to_string(&c.runbook).unwrap().replace("oncall@eu-de", "no-such-context");
    std::fs::write(&c.runbook, text).unwrap();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 3);
    let eu = region(&j, "eu-de");
    assert_eq!(eu["pods"]["error"]["kind"], "context_missing");
    assert!(eu["pods"]["error"]["message"].as_str().unwrap().contains("no-such-context"));
    let r = c.run(&["diagnose", "--context", "eu-de=oncall@eu-de"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // An override naming a missing context, with no likely one in the
    // kubeconfig: not repeated, and no re-run with a word to fill in.
    let r = c.run(&["diagnose", "-o", "json", "--context", "eu-de=nope", "--context", "us-east=oncall@us-east"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    let j = r.json();
    let step = j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["text"].as_str().unwrap().contains("fully checked"))
        .unwrap_or_else(|| panic!("{}", j["next_steps"]));
    assert_eq!(step["region"], "eu-de");
    assert_eq!(step["command"], serde_json::Value::Null, "{step}");
    common::paste_every_command(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn token_user_reads_everything() {
    let c = Case::new("t-token").user("token").build();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(j["service"]["verdict"], "healthy");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(!all.contains(keysvc_testenv::ONCALL_TOKEN));
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn hanging_region_is_unknown_by_the_deadline() {
    let c = Case::new("t-hang").build();
    let proxy = c.env.proxy("us-south", Fault::Hang).unwrap();
    let kc = c.dir.path().join("kubeconfig");
    c.env.kubeconfig_with(&kc, &[("us-south", proxy.url())]).unwrap();
    let mut c = c;
    c.kubeconfig = kc;
    let r = c.run_limit(&["diagnose", "-o", "json", "--timeout", "3s"], Duration::from_secs(5));
    assert_eq!(r.code, 3, "{}", r.stdout);
    let j = r.json();
    let south = region(&j, "us-south");
    assert_eq!(south["verdict"], "unknown");
    assert!(matches!(south["pods"]["error"]["kind"].as_str(), Some("timeout" | "deadline")), "{south}");
    assert_eq!(j["partial"], true, "a run cut by --timeout is partial");
    assert!(
        j["service"]["summary"].as_str().unwrap().ends_with("(partial: the run was cut short)"),
        "{}",
        j["service"]
    );
    assert_eq!(region(&j, "us-east")["verdict"], "healthy");
    assert_eq!(region(&j, "eu-de")["verdict"], "healthy");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn read_only_the_oncall_role_suffices_and_the_api_servers_saw_only_reads() {
    let c = Case::new("t-audit").scenario("us-east", Scenario::CrashLoop).build();
    let (r, j) = c.diagnose_json();
    // The oncall role allows only get/list pods and get pods/log: every
    // required step ran (the optional evidence is recorded as forbidden).
    assert_eq!(r.code, 1, "{}", r.stdout);
    for reg in j["regions"].as_array().unwrap() {
        assert_ne!(reg["pods"]["status"], "error", "{reg}");
        assert_ne!(reg["logs"]["status"], "error", "{reg}");
    }
    let logs_run = c.run(&["logs", "-o", "json"]);
    assert_eq!(logs_run.code, 1);
    for name in ["us-south", "us-east", "eu-de"] {
        // Poll the audit log until this test's requests are in it.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let ours = loop {
            let events = c.env.audit_events(name).unwrap();
            let ours: Vec<Value> = events
                .into_iter()
                .filter(|e| e["user"]["username"] == "oncall" && e["objectRef"]["namespace"] == "t-audit")
                .collect();
            let has_logs = ours.iter().any(|e| e["objectRef"]["subresource"] == "log");
            if has_logs || std::time::Instant::now() > deadline {
                break ours;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            ours.iter().any(|e| e["verb"] == "list" && e["objectRef"]["resource"] == "pods"),
            "{name}: no list pods"
        );
        assert!(ours.iter().any(|e| e["objectRef"]["subresource"] == "log"), "{name}: no pods/log reads");
        for e in &ours {
            let verb = e["verb"].as_str().unwrap();
            assert!(verb == "get" || verb == "list", "{name}: a {verb} request: {e}");
            // Besides pods, only the optional evidence was asked for, and the
            // minimal role refused it.
            let resource = e["objectRef"]["resource"].as_str().unwrap_or_default();
            if resource != "pods" {
                assert!(["events", "replicasets", "deployments"].contains(&resource), "{e}");
                assert_eq!(e["annotations"]["authorization.k8s.io/decision"], "forbid", "{e}");
            }
        }
        // Across the whole run, the on-call user only ever read, but for
        // `doctor`'s access reviews (tests/cluster/doctor.rs shares this
        // environment): a create that asks a question and stores nothing.
        // So is `kubectl auth can-i --list`, which a next step suggests and
        // the tests paste as kubectl, not as keysvc-check.
        for e in c.env.audit_events(name).unwrap().iter().filter(|e| e["user"]["username"] == "oncall") {
            let verb = e["verb"].as_str().unwrap();
            let pasted_rules_review = e["objectRef"]["resource"] == "selfsubjectrulesreviews"
                && e["userAgent"].as_str().is_some_and(|a| a.starts_with("kubectl/"));
            let review =
                verb == "create" && (e["objectRef"]["resource"] == "selfsubjectaccessreviews" || pasted_rules_review);
            assert!(verb == "get" || verb == "list" || review, "{name}: oncall made a {verb} request: {e}");
        }
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn regional_healthz_failure_takes_only_that_region_down() {
    let c = Case::new("t-reghz").build();
    let regional =
        HealthzServer::start(Behavior::json(200, serde_json::json!({"href": "x", "code": 5, "description": "no"})));
    let text = std::fs::read_to_string(&c.runbook).unwrap().replace(
        "us-east: { context: \"oncall@us-east\" }",
        &format!("us-east: {{ context: \"oncall@us-east\", healthz_url: \"{}\" }}", regional.url),
    );
    std::fs::write(&c.runbook, text).unwrap();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}", r.stdout);
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "down");
    assert_eq!(east["healthz"]["status"], "fail");
    assert!(east["healthz"]["problems"].to_string().contains("code is 5"));
    assert_eq!(region(&j, "us-south")["healthz"], Value::Null);
    let h = c.run(&["healthz", "-o", "json"]);
    assert_eq!(h.code, 1, "{}", h.stdout);
    let hj = h.json();
    assert_eq!(hj["regions"].as_array().unwrap().len(), 1, "only regions with their own URL");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn json_report_shape_is_stable() {
    let c = Case::new("t-snapshot").scenarios(&[("us-east", Scenario::CrashLoop), ("eu-de", Scenario::NoPods)]).build();
    let (r, mut j) = c.diagnose_json();
    assert_eq!(r.code, 1);
    let text = serde_json::to_string(&j).unwrap();
    // Names, ports and times differ per run: replace them before comparing.
    let mut text = text.replace(&c.healthz.url, "http://127.0.0.1:[port]/healthz");
    text = text.replace(c.kubeconfig.to_str().unwrap(), "[kubeconfig]");
    for (i, pods) in c.pods.iter().enumerate() {
        for (k, p) in pods.iter().enumerate() {
            text = text.replace(p.as_str(), &format!("[pod-{i}-{k}]"));
        }
    }
    j = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!("diagnose_report", j, {
        ".duration_ms" => "[ms]",
        ".**.duration_ms" => "[ms]",
        ".**.latency_ms" => "[ms]",
        ".**.age_secs" => "[secs]",
        ".**.finished_secs_ago" => "[secs]",
        ".**.last_restart_secs_ago" => "[secs]",
        // Null for a ready pod; for one not ready, the seconds since.
        ".**.not_ready_secs_ago" => insta::dynamic_redaction(|v, _| if v.is_nil() { v } else { "[secs]".into() }),
        // When an error group was first and last seen: the lines' times.
        ".**.first_seen" => insta::dynamic_redaction(|v, _| if v.is_nil() { v } else { "[time]".into() }),
        ".**.last_seen" => insta::dynamic_redaction(|v, _| if v.is_nil() { v } else { "[time]".into() }),
        ".runbook" => "[runbook]",
        ".tool_version" => "[version]",
        ".generated_at" => "[time]",
    });
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn pod_deleted_between_list_and_log_read() {
    use keysvc_testenv::scenario::PodKind;
    let c = Case::new("t-deleted").build();
    // Seven pods: the first are read (at most 6 streams at once, a window and
    // a baseline per pod) from a slow kubelet; the seventh, last by name, is
    // deleted while they are read.
    let pods = c.env.pods("us-south", &c.ns, &[PodKind::Ready; 7]).unwrap();
    let mut sorted = pods.clone();
    sorted.sort();
    let victim = sorted.last().unwrap().clone();
    let slow = LogSpec { delay_ms: 1500, ..keysvc_testenv::scenario::info_logs("slow") };
    for p in &sorted[..6] {
        c.env.set_logs("us-south", &c.ns, p, &slow).unwrap();
    }
    let mut cmd = common::cmd();
    // Six reads at a time: the slow pods' hold the victim's read back.
    cmd.args([
        "logs",
        "--env",
        "test",
        "--region",
        "us-south",
        "-o",
        "json",
        "--timeout",
        "20s",
        "--max-log-streams",
        "6",
    ])
    .arg("--runbook")
    .arg(&c.runbook)
    .arg("--kubeconfig")
    .arg(&c.kubeconfig)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !c.env.logs_requested("us-south", &c.ns, &sorted[0]).unwrap() {
        assert!(std::time::Instant::now() < deadline, "the log reads never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!c.env.logs_requested("us-south", &c.ns, &victim).unwrap(), "the victim was read too early");
    c.env.delete_pod("us-south", &c.ns, &victim).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let j = common::json(&String::from_utf8_lossy(&out.stdout));
    let logs = &region(&j, "us-south")["logs"];
    let gone = logs["pods"].as_array().unwrap().iter().find(|p| p["pod"] == victim.as_str()).unwrap();
    assert_eq!(gone["error"]["kind"], "not_found", "{gone}");
    assert_eq!(gone["error"]["message"], "the pod was deleted before its logs were read");
    // A pod that is gone has no logs to read: the step is not failed for it.
    assert_eq!(logs["status"], "pass", "{logs}");
    assert_eq!(logs["pods"].as_array().unwrap().len(), 7);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_regions_log_streams_share_one_connection() {
    use keysvc_testenv::scenario::PodKind;
    let c = Case::new("t-one-conn").build();
    let pods = c.env.pods("eu-de", &c.ns, &[PodKind::Ready; 12]).unwrap();
    let slow = LogSpec { delay_ms: 500, ..keysvc_testenv::scenario::info_logs("slow") };
    for p in &pods {
        c.env.set_logs("eu-de", &c.ns, p, &slow).unwrap();
    }
    let proxy = c.env.proxy("eu-de", Fault::None).unwrap();
    let kc = c.dir.path().join("kubeconfig");
    c.env.kubeconfig_with(&kc, &[("eu-de", proxy.url())]).unwrap();
    let mut c = c;
    c.kubeconfig = kc;
    let r = c.run(&["logs", "--region", "eu-de", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let j = r.json();
    let logs = &region(&j, "eu-de")["logs"];
    let read = logs["pods"].as_array().unwrap();
    assert_eq!(read.len(), 12);
    assert!(read.iter().all(|p| p["error"].is_null() && p["baseline"]["error"].is_null()), "{logs}");
    // The API server speaks HTTP/2: the pods list and the 24 log reads
    // (window and baseline of each pod), many at once, all went over the
    // connection that listed the pods. Over HTTP/1.1 each read open at once
    // would be a connection of its own.
    assert_eq!(proxy.accepted(), 1, "connections opened to the API server");
    let most = c.env.most_log_reads_at_once("eu-de", &c.ns).unwrap();
    assert!((1..=keysvc_check::cli::DEFAULT_MAX_LOG_STREAMS).contains(&most), "{most} reads at once");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn max_log_streams_bounds_the_reads_open_at_once() {
    use keysvc_testenv::scenario::PodKind;
    let c = Case::new("t-bounded").build();
    let pods = c.env.pods("eu-de", &c.ns, &[PodKind::Ready; 6]).unwrap();
    let slow = LogSpec { delay_ms: 300, ..keysvc_testenv::scenario::info_logs("slow") };
    for p in &pods {
        c.env.set_logs("eu-de", &c.ns, p, &slow).unwrap();
    }
    let r = c.run(&["logs", "--region", "eu-de", "-o", "json", "--max-log-streams", "2"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let j = r.json();
    let logs = &region(&j, "eu-de")["logs"];
    assert_eq!(logs["pods"].as_array().unwrap().len(), 6);
    assert!(logs["pods"].as_array().unwrap().iter().all(|p| p["lines"].as_u64() > Some(0)), "{logs}");
    // Twelve slow reads, two at a time at the kubelet.
    let most = c.env.most_log_reads_at_once("eu-de", &c.ns).unwrap();
    assert!((1..=2).contains(&most), "{most} reads at once");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn max_log_streams_total_bounds_the_reads_of_the_whole_run() {
    use keysvc_testenv::scenario::PodKind;
    let c = Case::new("t-reads-in-all").build();
    let pods = c.env.pods("eu-de", &c.ns, &[PodKind::Ready; 6]).unwrap();
    let slow = LogSpec { delay_ms: 300, ..keysvc_testenv::scenario::info_logs("slow") };
    for p in &pods {
        c.env.set_logs("eu-de", &c.ns, p, &slow).unwrap();
    }
    // The region may have 40 reads open, the run 2: the run's bound holds.
    let r = c.run(&["logs", "--region", "eu-de", "-o", "json", "--max-log-streams-total", "2"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let j = r.json();
    let logs = &region(&j, "eu-de")["logs"];
    assert!(logs["pods"].as_array().unwrap().iter().all(|p| p["lines"].as_u64() > Some(0)), "{logs}");
    let most = c.env.most_log_reads_at_once("eu-de", &c.ns).unwrap();
    assert!((1..=2).contains(&most), "{most} reads at once");
}

// Errors judged against the baseline. Every pod gets an hour and five minutes
// of traffic (one line every 3.75 s); the error lines in it are set per test.

/// One ERROR every `error_every`-th line of 1040 lines over 65 minutes
/// (error_every 10: 8 per pod per 5 minutes), and `extra` generators on top.
fn hour_of(error_every: u64, error: &str, extra: Vec<keysvc_testenv::kubelet::Generate>) -> LogSpec {
    let mut generators = vec![keysvc_testenv::scenario::traffic(1040, 3900.0, error_every, error)];
    generators.extend(extra);
    LogSpec { generators, ..LogSpec::default() }
}

const TIMEOUT: &str = "ERROR upstream timeout after 3000ms calling auth-7 request_id=req-{n}";

fn close(v: &Value, want: f64, tol: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() <= tol)
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn normal_noise_is_healthy() {
    let c = Case::new("t-noise").build();
    // A sporadic error now and then: twice in the hour before, once in the window.
    let mut spec = hour_of(0, "", vec![]);
    spec.lines = LogSpec::lines([
        (3000.0, "ERROR upstream timeout after 3000ms calling auth-7"),
        (1800.0, "ERROR upstream timeout after 3001ms calling auth-7"),
        (200.0, "ERROR upstream timeout after 2999ms calling auth-7"),
    ])
    .lines;
    c.all_logs(&spec);
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["service"]["verdict"], "healthy");
    for name in ["us-south", "us-east", "eu-de"] {
        let reg = region(&j, name);
        let logs = &reg["logs"];
        assert_eq!(reg["verdict"], "healthy", "{logs}");
        assert_eq!(logs["status"], "pass");
        assert_eq!(logs["judgement"], "steady", "{logs}");
        assert_eq!(logs["error_lines"], 3);
        assert_eq!(logs["baseline_error_lines"], 6);
        assert_eq!((logs["min_errors"].as_u64(), logs["spike_factor"].as_f64()), (Some(5), Some(3.0)));
        assert_eq!(logs["baseline_secs"], 3600);
        assert!(logs["threshold"].is_null());
        assert!(close(&logs["window_rate_per_min"], 0.6, 0.001), "{logs}");
        // Two an hour per pod, three pods: 0.1 a minute.
        assert!(close(&logs["baseline_rate_per_min"], 0.1, 0.001), "{logs}");
        let sig = &logs["signatures"][0];
        assert_eq!(sig["pattern"], "upstream timeout after <*> calling <*>", "{sig}");
        assert_eq!((sig["window_count"].as_u64(), sig["baseline_count"].as_u64()), (Some(3), Some(6)));
        assert_eq!(sig["new"], false);
        for p in logs["pods"].as_array().unwrap() {
            let b = &p["baseline"];
            assert_eq!(b["span_secs"], 3600, "{p}");
            assert_eq!(b["error_lines"], 2, "{p}");
            assert_eq!(b["cut"], false);
            // 3600 s of one line every 3.75 s, and the two errors.
            assert!((958..=962).contains(&b["lines"].as_u64().unwrap()), "{p}");
        }
    }
    // Said as information with the service's usual rate; nothing to do. (The
    // oncall role reads no events or Deployments: said once each, as info.)
    let kinds: Vec<String> = common::kinds(&j).into_iter().filter(|k| k != "permission").collect();
    assert_eq!(kinds, ["steady_errors", "steady_errors", "steady_errors"], "{}", j["findings"]);
    assert!(j["findings"].as_array().unwrap().iter().all(|f| f["severity"] == "info"));
    let steady = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "steady_errors").unwrap();
    assert_eq!(
        steady["text"], "3 error lines in 5m; usual for this service: 0.5 per 5m over the last 1h",
        "{}",
        j["findings"]
    );
    assert!(j["next_steps"][0]["text"].as_str().unwrap().starts_with("Every check passed"));

    // The absolute threshold, when set, still warns on its own.
    let text = std::fs::read_to_string(&c.runbook).unwrap();
    std::fs::write(&c.runbook, text.replace("environments:", "logs:\n  error_threshold: 0\nenvironments:")).unwrap();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}", r.stdout);
    for name in ["us-south", "us-east", "eu-de"] {
        let logs = &region(&j, name)["logs"];
        assert_eq!(logs["judgement"], "threshold", "{logs}");
        assert_eq!(logs["threshold"], 0);
        assert_eq!(region(&j, name)["verdict"], "degraded");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn steady_noise_all_hour_is_healthy() {
    let c = Case::new("t-steady").build();
    c.all_logs(&hour_of(10, TIMEOUT, vec![]));
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["service"]["verdict"], "healthy");
    for name in ["us-south", "us-east", "eu-de"] {
        let reg = region(&j, name);
        let logs = &reg["logs"];
        assert_eq!(reg["verdict"], "healthy", "{logs}");
        assert_eq!(logs["judgement"], "steady", "{logs}");
        // About 8 per pod per 5 minutes, now and in the hour before.
        let errors = logs["error_lines"].as_u64().unwrap();
        assert!((22..=26).contains(&errors), "{logs}");
        assert!(close(&logs["baseline_rate_per_min"], 4.8, 0.1), "{logs}");
        assert_eq!(logs["signatures"][0]["new"], false);
    }
    // The same steady error in every region is no shared outage.
    let kinds = common::kinds(&j);
    assert!(kinds.iter().all(|k| k == "steady_errors" || k == "permission"), "{kinds:?}");
    let t = c.run(&["diagnose"]);
    assert_eq!(t.code, 0);
    assert!(t.stdout.contains("usual for this service: 2"), "{}", t.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn error_spike_in_one_region_degrades_it() {
    let c = Case::new("t-spike").build();
    c.all_logs(&hour_of(10, TIMEOUT, vec![]));
    // us-east: the same error, 20 more per pod in the last 4 minutes.
    let burst = keysvc_testenv::scenario::traffic(20, 240.0, 1, TIMEOUT);
    for pod in &c.pods[1] {
        c.env.set_logs("us-east", &c.ns, pod, &hour_of(10, TIMEOUT, vec![burst.clone()])).unwrap();
    }
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(j["service"]["verdict"], "degraded");
    let east = region(&j, "us-east");
    let logs = &east["logs"];
    assert_eq!(east["verdict"], "degraded", "{logs}");
    assert_eq!(logs["status"], "warn");
    assert_eq!(logs["judgement"], "spike", "{logs}");
    assert!(logs["error_lines"].as_u64().unwrap() >= 80, "{logs}");
    assert!(close(&logs["baseline_rate_per_min"], 4.8, 0.1), "{logs}");
    assert!(logs["window_rate_per_min"].as_f64().unwrap() >= 16.0, "{logs}");
    assert_eq!(logs["signatures"][0]["new"], false, "the error is the usual one, more of it");
    for name in ["us-south", "eu-de"] {
        assert_eq!(region(&j, name)["verdict"], "healthy");
        assert_eq!(region(&j, name)["logs"]["judgement"], "steady");
    }
    let spike: Vec<&Value> = j["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "error_spike").collect();
    assert_eq!(spike.len(), 2, "the spike and its most frequent error: {}", j["findings"]);
    assert_eq!((spike[0]["region"].as_str(), spike[0]["severity"].as_str()), (Some("us-east"), Some("warn")));
    assert!(spike[0]["text"].as_str().unwrap().contains("the usual rate; usual for this service: 2"), "{}", spike[0]);
    assert!(common::kinds(&j).contains(&"error_outlier".to_string()), "{}", j["findings"]);
    assert!(!common::kinds(&j).contains(&"shared_error".to_string()), "one region is no shared cause");
    assert_eq!(j["next_steps"][0]["region"], "us-east");
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn one_dependency_failing_in_every_region_is_one_shared_finding_first() {
    let c = Case::new("t-shared").build();
    // The usual noise all hour, then every region fails on the same database.
    let db = keysvc_testenv::scenario::traffic(
        12,
        240.0,
        1,
        "ERROR failed to load signing keys: dial tcp db-7.internal:5432: connect: connection refused attempt={n}",
    );
    c.all_logs(&hour_of(10, TIMEOUT, vec![db]));
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    for name in ["us-south", "us-east", "eu-de"] {
        assert_eq!(region(&j, name)["verdict"], "degraded");
        assert_eq!(region(&j, name)["logs"]["judgement"], "new_error");
    }
    let shared: Vec<&Value> =
        j["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "shared_error").collect();
    assert_eq!(shared.len(), 1, "{}", j["findings"]);
    let f = shared[0];
    assert!(f["region"].is_null());
    assert_eq!(f["regions"], serde_json::json!(["us-south", "us-east", "eu-de"]));
    assert_eq!(f["count"], 3 * 3 * 12, "every pod of every region");
    let text = f["text"].as_str().unwrap();
    assert!(text.starts_with("the same error in 3/3 regions"), "{text}");
    assert!(text.contains("db-7.internal:5432") && text.ends_with("→ a cause the regions share"), "{text}");
    // Listed once: the regions do not repeat it.
    let repeats = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["region"].is_null() && f["text"].as_str().unwrap().contains("db-7.internal"))
        .count();
    assert_eq!(repeats, 0, "{}", j["findings"]);
    let first = j["next_steps"][0]["text"].as_str().unwrap();
    assert!(first.starts_with("The same error in 3 regions points at something they share"), "{first}");
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn new_error_signature_in_the_window_degrades_its_region() {
    let c = Case::new("t-newerr").build();
    c.all_logs(&hour_of(10, TIMEOUT, vec![]));
    // One pod in us-south starts failing in a way the hour before never did:
    // six times in the last 4 minutes, not enough for a spike of the region.
    let novel = keysvc_testenv::scenario::traffic(6, 240.0, 1, "ERROR signing key kid=key-{n} not found in keystore");
    let pod = &c.pods[0][1];
    c.env.set_logs("us-south", &c.ns, pod, &hour_of(10, TIMEOUT, vec![novel])).unwrap();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let south = region(&j, "us-south");
    let logs = &south["logs"];
    assert_eq!(south["verdict"], "degraded", "{logs}");
    assert_eq!(logs["judgement"], "new_error", "{logs}");
    let first = &logs["signatures"][0];
    assert_eq!(first["pattern"], "signing key kid=<*> not found in keystore", "{logs}");
    assert_eq!((first["window_count"].as_u64(), first["baseline_count"].as_u64()), (Some(6), Some(0)));
    assert_eq!(first["new"], true);
    assert!(first["example"].as_str().unwrap().starts_with("ERROR signing key kid=key-"), "{first}");
    assert_eq!(logs["signatures"][1]["new"], false);
    for name in ["us-east", "eu-de"] {
        assert_eq!(region(&j, name)["verdict"], "healthy");
    }
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "new_error").expect("a new_error finding");
    assert_eq!(f["region"], "us-south");
    assert!(
        f["text"].as_str().unwrap().contains("an error not seen in the 1h before: 6× ERROR signing key kid=key-"),
        "{f}"
    );
    common::run_suggested_commands(&j);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_region_just_rolled_out_is_judged_against_its_siblings_usual_rate() {
    let c = Case::new("t-fresh").build();
    c.all_logs(&hour_of(10, TIMEOUT, vec![]));
    // us-south's pods all started 2 minutes ago, logging the usual error at
    // the usual rate: nothing to compare with of their own.
    let fresh =
        LogSpec { generators: vec![keysvc_testenv::scenario::traffic(32, 120.0, 10, TIMEOUT)], ..LogSpec::default() };
    for pod in &c.pods[0] {
        c.env.set_started("us-south", &c.ns, pod, 120).unwrap();
        c.env.set_logs("us-south", &c.ns, pod, &fresh).unwrap();
    }
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "a rollout is no alarm: {}\n{}", r.stdout, r.stderr);
    let south = region(&j, "us-south");
    let logs = &south["logs"];
    assert_eq!(south["verdict"], "healthy", "{logs}");
    assert_eq!(logs["judgement"], "steady", "{logs}");
    assert!(logs["baseline_rate_per_min"].is_null(), "{logs}");
    // The others' usual: about 1.6 a minute per pod, three pods.
    assert!(close(&logs["siblings_rate_per_min"], 4.8, 0.2), "{logs}");
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["region"] == "us-south").unwrap();
    assert_eq!(f["kind"], "steady_errors");
    assert!(f["text"].as_str().unwrap().contains("the other regions usually log"), "{f}");

    // Several times the siblings' rate, just after a rollout, is still an alarm.
    let loud =
        LogSpec { generators: vec![keysvc_testenv::scenario::traffic(64, 120.0, 1, TIMEOUT)], ..LogSpec::default() };
    for pod in &c.pods[0] {
        c.env.set_logs("us-south", &c.ns, pod, &loud).unwrap();
    }
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}", r.stdout);
    let logs = &region(&j, "us-south")["logs"];
    assert_eq!(logs["judgement"], "no_baseline", "{logs}");
    assert!(logs["siblings_rate_per_min"].is_null());
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_pod_started_20_minutes_ago_has_a_shorter_baseline() {
    let c = Case::new("t-young").build();
    c.all_logs(&hour_of(10, TIMEOUT, vec![]));
    let young = &c.pods[2][0];
    c.env.set_started("eu-de", &c.ns, young, 1200).unwrap();
    // It has logged only since it started: 8 errors per 5 minutes too.
    let since_start =
        LogSpec { generators: vec![keysvc_testenv::scenario::traffic(320, 1200.0, 10, TIMEOUT)], ..LogSpec::default() };
    c.env.set_logs("eu-de", &c.ns, young, &since_start).unwrap();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let eu = region(&j, "eu-de");
    let logs = &eu["logs"];
    assert_eq!(eu["verdict"], "healthy", "{logs}");
    assert_eq!(logs["judgement"], "steady", "{logs}");
    for p in logs["pods"].as_array().unwrap() {
        let span = p["baseline"]["span_secs"].as_u64().unwrap();
        if p["pod"] == young.as_str() {
            // From its start to the window's: 15 minutes.
            assert!((898..=902).contains(&span), "{p}");
            let errors = p["baseline"]["error_lines"].as_u64().unwrap();
            assert!((23..=25).contains(&errors), "{p}");
        } else {
            assert_eq!(span, 3600, "{p}");
        }
    }
    // Its usual rate counts over its 15 minutes, like the others' over their hour.
    assert!(close(&logs["baseline_rate_per_min"], 4.8, 0.1), "{logs}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_baseline_cut_by_its_byte_limit_covers_what_was_read() {
    let c = Case::new("t-cut").extra("logs:\n  baseline_max_bytes: 40000\n").build();
    // One line a second for 65 minutes, one in ten an error: about 85 bytes a
    // line with its timestamp, so the limit is reached some 470 s in.
    let busy = LogSpec {
        generators: vec![keysvc_testenv::scenario::traffic(3900, 3900.0, 10, TIMEOUT)],
        ..LogSpec::default()
    };
    let pod = &c.pods[1][0];
    c.env.set_logs("us-east", &c.ns, pod, &busy).unwrap();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let logs = &region(&j, "us-east")["logs"];
    let p = logs["pods"].as_array().unwrap().iter().find(|p| p["pod"] == pod.as_str()).unwrap();
    let b = &p["baseline"];
    assert_eq!(b["cut"], true, "{p}");
    let (span, lines, errors) =
        (b["span_secs"].as_u64().unwrap(), b["lines"].as_u64().unwrap(), b["error_lines"].as_u64().unwrap());
    assert!((380..=560).contains(&span), "{p}");
    // One line a second: the span is the time the lines read cover.
    assert!(span.abs_diff(lines) <= 2, "{p}");
    // The region's usual rate is this pod's errors over that span (the others had none).
    let want = errors as f64 / span as f64 * 60.0;
    assert!(close(&logs["baseline_rate_per_min"], want, 0.05), "{logs}");
    // The window, read again on its own after the cut: one line a second.
    assert!(p["lines"].as_u64().unwrap().abs_diff(300) <= 2, "{p}");
    // 30 errors in the window at the usual 6 a minute: steady.
    assert_eq!(logs["judgement"], "steady", "{logs}");
    for other in logs["pods"].as_array().unwrap().iter().filter(|p| p["pod"] != pod.as_str()) {
        assert_eq!(other["baseline"]["cut"], false);
        assert_eq!(other["baseline"]["span_secs"], 3600);
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn each_container_is_read_once_for_its_baseline_and_window() {
    use keysvc_testenv::scenario::PodKind;
    let c = Case::new("t-together").build();
    // Seven pods, more than the streams open at once, each read once: its
    // baseline read holds its window.
    let pods = c.env.pods("us-south", &c.ns, &[PodKind::Ready; 7]).unwrap();
    for p in &pods {
        c.env.set_logs("us-south", &c.ns, p, &keysvc_testenv::scenario::info_logs("read once")).unwrap();
    }
    let r = c.run_limit(&["logs", "--region", "us-south", "-o", "json", "--timeout", "8s"], Duration::from_secs(12));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    let logs = &region(&j, "us-south")["logs"];
    assert_eq!(logs["status"], "pass", "{logs}");
    assert_eq!(logs["partial"], false, "{logs}");
    assert_eq!(logs["pods"].as_array().unwrap().len(), 7);
    for p in logs["pods"].as_array().unwrap() {
        assert_eq!(p["lines"], 20, "{p}");
        assert_eq!(p["baseline"]["partial"], false, "{p}");
        assert_eq!(p["baseline"]["span_secs"], 3600, "{p}");
    }
}

/// The runbook's selector and namespace checks agree with the API server:
/// it lists pods with every selector the check accepts and refuses every one
/// it rejects, and would create a namespace of every name it accepts only.
#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn the_runbook_selector_and_namespace_checks_agree_with_the_api_server() {
    use keysvc_check::runbook::labels::{check_namespace, check_selector};
    let env = TestEnv::load().expect("the test cluster (tests/run-all.sh)");
    let kubectl = |ns: &str, selector: &str| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(env.kubeconfig())
            .args(["--context", "us-east", "-n", ns, "get", "pods", "-o", "name", "-l", selector])
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // The samples the unit tests of the selector check use.
    let selectors = include_str!("../data/selectors.txt")
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| ["ok", "bad"].contains(k));
    for (said, s) in selectors {
        let (server, stderr) = kubectl("default", s);
        assert_eq!(server, said == "ok", "selector {s:?}: the list says {said}, kubectl: {stderr}");
        let ours = check_selector(s);
        assert_eq!(ours.is_ok(), server, "selector {s:?}: ours {ours:?}, kubectl: {stderr}");
    }
    // Listing in a namespace that cannot exist is no error, only empty: ask
    // whether it could be created (as the admin, a dry run changes nothing).
    let long = "n".repeat(64);
    for ns in ["key-service-check", "a1", "Key_Service", "-api", "api-", "a.b", long.as_str()] {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(env.kubeconfig())
            .args(["--context", "us-east", "create", "namespace", ns, "--dry-run=server"])
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl");
        let ours = check_namespace(ns);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(ours.is_ok(), out.status.success(), "namespace {ns:?}: ours {ours:?}, kubectl: {stderr}");
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn log_reads_with_no_line_by_the_deadline_say_so_and_suggest_a_longer_timeout() {
    let c = Case::new("t-logs-deadline").build();
    // us-east's kubelet answers every log read long after the run's deadline.
    let stuck = LogSpec { delay_ms: 20_000, ..keysvc_testenv::scenario::info_logs("stuck") };
    for pod in &c.pods[1] {
        c.env.set_logs("us-east", &c.ns, pod, &stuck).unwrap();
    }
    let r = c.line(&["diagnose", "-o", "json"]).flags(&["--timeout", "3s"]).run_within(Duration::from_secs(10));
    let j = r.json();
    assert_eq!(r.code, 3, "{}", r.stderr);
    let logs = &region(&j, "us-east")["logs"];
    assert_eq!(logs["status"], "error", "{logs}");
    // The step names why it failed: the deadline, not nothing.
    assert_eq!(logs["error"]["kind"], "deadline", "{logs}");
    let east: Vec<&Value> = j["findings"].as_array().unwrap().iter().filter(|f| f["region"] == "us-east").collect();
    assert!(east.iter().any(|f| f["kind"] == "not_checked"), "{east:?}");
    // The next step is a re-run with a longer --timeout, and it is runnable as printed.
    let steps = texts(&j["next_steps"]);
    assert!(steps.contains("--timeout"), "{steps}");
    for region in ["us-south", "eu-de"] {
        assert_eq!(common::region(&j, region)["logs"]["status"], "pass", "{region}");
    }
}
