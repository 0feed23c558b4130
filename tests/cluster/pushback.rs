//! An API server under load pushes back: 429 Too Many Requests with
//! `Retry-After`, 503, 504. Each test puts a throttling proxy (TLS ended
//! with a certificate from the environment's CA, requests passed on to the
//! real API server as the context's user) in front of one region and checks
//! that the region still gets its verdict, reports how many retries it
//! needed, and ends by the deadline as `throttled` when the pushback never
//! stops; other statuses are not retried. Each test has its own namespace,
//! proxy and kubeconfig, so they run in parallel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::case::Case;
use crate::common::{Run, kinds, region, texts};
use keysvc_testenv::{Scenario, Throttle, ThrottleProxy};
use serde_json::Value;

const REGIONS: [&str; 3] = ["us-south", "us-east", "eu-de"];

/// How these tests run the binary, through throttling proxies.
trait Pushback {
    fn proxy(&self, region: &str, throttle: Throttle) -> (ThrottleProxy, PathBuf);
    fn run(&self, command: &str, kubeconfig: &Path, timeout: &str, output: &str) -> Run;
    fn diagnose(&self, kubeconfig: &Path, timeout: &str) -> (Run, Value);
}

impl Pushback for Case {
    /// A throttling proxy in front of `region`, speaking as this test's user,
    /// and a kubeconfig that reaches `region` through it.
    fn proxy(&self, region: &str, throttle: Throttle) -> (ThrottleProxy, PathBuf) {
        let proxy = self.env.throttle_proxy(&format!("{}@{region}", self.user), throttle).unwrap();
        let path = self.dir.path().join(format!("kubeconfig-{}", proxy.addr.port()));
        self.env.kubeconfig_with(&path, &[(region, proxy.url())]).unwrap();
        (proxy, path)
    }

    /// `COMMAND --env test -o OUTPUT --timeout TIMEOUT --runbook R --kubeconfig KUBECONFIG`.
    fn run(&self, command: &str, kubeconfig: &Path, timeout: &str, output: &str) -> Run {
        let limit = keysvc_check::duration::parse_duration(timeout).unwrap() + Duration::from_millis(1500);
        let line = self.line(&[command]).flags(&["-o", output, "--timeout", timeout]).kubeconfig(kubeconfig);
        let r = line.run_within(limit);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        r
    }

    fn diagnose(&self, kubeconfig: &Path, timeout: &str) -> (Run, Value) {
        let r = self.run("diagnose", kubeconfig, timeout, "json");
        let j = r.json();
        (r, j)
    }
}

fn verdicts(j: &Value) -> Vec<String> {
    REGIONS.iter().map(|r| region(j, r)["verdict"].as_str().unwrap().to_string()).collect()
}

fn retries(j: &Value, name: &str) -> (u64, Vec<u64>) {
    let r = region(j, name);
    let statuses = r["retried_statuses"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    (r["retries"].as_u64().unwrap(), statuses)
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_region_pushed_back_on_gets_the_same_verdict_and_counts_its_retries() {
    let s = Case::new("p-429").scenario("us-east", Scenario::CrashLoop).build();
    let (r, direct) = s.diagnose(s.env.kubeconfig(), "20s");
    assert_eq!(r.code, 1, "{}", r.stdout);
    for name in REGIONS {
        assert_eq!(retries(&direct, name), (0, vec![]), "no pushback, no retries");
    }

    // Every request to us-east is answered 429 (Retry-After: 1) once, then
    // passed through.
    let (proxy, kc) = s.proxy("us-east", Throttle::too_many_requests(1));
    let (r, j) = s.diagnose(&kc, "20s");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(verdicts(&j), verdicts(&direct), "the same verdicts as without the pushback");
    let east = region(&j, "us-east");
    assert_eq!(east["pods"]["ready"], region(&direct, "us-east")["pods"]["ready"]);
    assert_eq!(east["logs"]["status"], region(&direct, "us-east")["logs"]["status"], "{}", east["logs"]);
    assert_eq!(east["logs"]["error_lines"], region(&direct, "us-east")["logs"]["error_lines"], "{}", east["logs"]);
    // Each pushed-back request went again once, and only it: a log stream
    // is never asked for twice once it got through.
    assert!(proxy.answered() >= 4, "pods, logs, events, replicasets at least: {:?}", proxy.asked());
    assert_eq!(retries(&j, "us-east"), (proxy.answered() as u64, vec![429]));
    assert_eq!(proxy.most_asked(), 2, "{:?}", proxy.asked());
    assert!(proxy.asked().iter().any(|(req, _)| req.contains("/log?")), "{:?}", proxy.asked());
    for name in ["us-south", "eu-de"] {
        assert_eq!(retries(&j, name), (0, vec![]));
    }
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "api_pushback").expect("a finding");
    assert_eq!(f["region"], "us-east");
    assert_eq!(f["count"], proxy.answered() as u64);
    assert!(
        f["text"].as_str().unwrap().starts_with(&format!("API server pushed back: {} retries (429)", proxy.answered())),
        "{f}"
    );

    // The table says so too.
    proxy.set(Throttle::too_many_requests(2));
    let r = s.run("diagnose", &kc, "20s", "table");
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("us-east: API server pushed back: "), "{}", r.stdout);
    assert!(r.stdout.contains(" retries (429); its control plane is under load"), "{}", r.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_region_pushed_back_to_the_end_is_unknown_by_the_deadline_and_throttled() {
    let s = Case::new("p-always").build();
    let (proxy, kc) = s.proxy("eu-de", Throttle { first: None, ..Throttle::too_many_requests(0) });
    let (r, j) = s.diagnose(&kc, "4s");
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let de = region(&j, "eu-de");
    assert_eq!(de["verdict"], "unknown", "{de}");
    assert_eq!(de["pods"]["error"]["kind"], "throttled", "{}", de["pods"]);
    let msg = de["pods"]["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("throttled: the API server answered 429 Too Many Requests to list pods, still after "),
        "{msg}"
    );
    assert!(msg.contains(" retries; it asked to wait 1s, longer than the ") && msg.contains("(--timeout)"), "{msg}");
    let (n, statuses) = retries(&j, "eu-de");
    assert!(n >= 2 && statuses == [429], "{n} {statuses:?}");
    // Every request was pushed back to the end: its last answer was not followed by a retry.
    assert_eq!(n as usize, proxy.answered() - proxy.asked().len(), "{:?}", proxy.asked());
    for other in ["us-south", "us-east"] {
        assert_eq!(region(&j, other)["verdict"], "healthy");
    }
    assert!(texts(&j["findings"]).contains("eu-de: pods not checked: throttled: "), "{}", texts(&j["findings"]));
    assert!(kinds(&j).contains(&"api_pushback".to_string()));
    assert!(texts(&j["next_steps"]).contains("its API server is shedding load"), "{}", texts(&j["next_steps"]));
    // The deadline left no time for another retry: the run was cut short.
    assert_eq!(j["partial"], true, "{}", j["service"]);

    // A server asking for longer than the whole run is not waited for.
    let (proxy, kc) = s.proxy("eu-de", Throttle { status: 429, retry_after: Some(60), first: None });
    let (r, j) = s.diagnose(&kc, "4s");
    assert_eq!(r.code, 3, "{}", r.stdout);
    let msg = region(&j, "eu-de")["pods"]["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("to list pods; it asked to wait 60s, longer than the "), "{msg}");
    assert_eq!(retries(&j, "eu-de"), (0, vec![]));
    assert_eq!(proxy.most_asked(), 1, "{:?}", proxy.asked());
    assert_eq!(j["partial"], true, "{}", j["service"]);
    let r = s.run("diagnose", &kc, "4s", "table");
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(r.stdout.contains("throttled"), "{}", r.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn throttled_to_the_deadline_everywhere_is_partial_with_one_rerun_on_a_longer_timeout() {
    let s = Case::new("p-all-503").build();
    let proxies: Vec<ThrottleProxy> =
        REGIONS.iter().map(|r| s.env.throttle_proxy(&format!("oncall@{r}"), Throttle::always(503)).unwrap()).collect();
    let kc = s.dir.path().join("kubeconfig-all");
    let servers: Vec<(&str, String)> = REGIONS.iter().zip(&proxies).map(|(r, p)| (*r, p.url())).collect();
    s.env.kubeconfig_with(&kc, &servers).unwrap();
    let (r, j) = s.diagnose(&kc, "4s");
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(verdicts(&j), ["unknown", "unknown", "unknown"]);
    assert_eq!(j["partial"], true, "{}", j["service"]);
    let summary = j["service"]["summary"].as_str().unwrap();
    assert!(summary.ends_with("(partial: the run was cut short)"), "{summary}");
    // One next step for the whole run, whose command does not repeat the
    // timeout that was too short.
    let steps = j["next_steps"].as_array().unwrap();
    let reruns: Vec<&Value> = steps.iter().filter(|s| s["text"].as_str().unwrap().contains("re-run")).collect();
    assert_eq!(reruns.len(), 1, "{}", texts(&j["next_steps"]));
    assert_eq!(reruns[0]["region"], Value::Null);
    assert!(reruns[0]["text"].as_str().unwrap().contains("a longer --timeout (1m)"), "{}", reruns[0]);
    let command = reruns[0]["command"].as_str().unwrap();
    assert!(command.starts_with("keysvc-check diagnose --env test "), "{command}");
    assert!(command.ends_with(" --timeout 1m") && !command.contains("4s"), "{command}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn service_unavailable_and_gateway_timeout_are_retried() {
    // The token user: the proxy speaks upstream with the token, not a certificate.
    let s = Case::new("p-503").user("token").build();
    let (proxy, kc) = s.proxy("us-south", Throttle { status: 503, retry_after: None, first: Some(1) });
    let (r, j) = s.diagnose(&kc, "20s");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(verdicts(&j), ["healthy", "healthy", "healthy"]);
    assert_eq!(retries(&j, "us-south"), (proxy.answered() as u64, vec![503]));
    assert!(proxy.answered() > 0);

    let (proxy, kc) = s.proxy("us-south", Throttle { status: 504, retry_after: Some(1), first: Some(1) });
    let (r, j) = s.diagnose(&kc, "20s");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(retries(&j, "us-south"), (proxy.answered() as u64, vec![504]));
    assert_eq!(proxy.most_asked(), 2, "{:?}", proxy.asked());
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn internal_errors_and_forbidden_are_not_retried() {
    let s = Case::new("p-500").build();
    let (proxy, kc) = s.proxy("us-east", Throttle::always(500));
    let (r, j) = s.diagnose(&kc, "10s");
    assert_eq!(r.code, 3, "{}", r.stdout);
    let east = region(&j, "us-east");
    assert_eq!(east["verdict"], "unknown");
    assert_eq!(east["pods"]["error"]["kind"], "other", "{}", east["pods"]);
    assert!(east["pods"]["error"]["message"].as_str().unwrap().starts_with("500"), "{}", east["pods"]);
    assert_eq!(retries(&j, "us-east"), (0, vec![]));
    assert_eq!(proxy.most_asked(), 1, "{:?}", proxy.asked());
    assert!(!kinds(&j).contains(&"api_pushback".to_string()));

    let (proxy, kc) = s.proxy("us-east", Throttle::always(403));
    let (r, j) = s.diagnose(&kc, "10s");
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert_eq!(region(&j, "us-east")["pods"]["error"]["kind"], "forbidden");
    assert_eq!(retries(&j, "us-east"), (0, vec![]));
    assert_eq!(proxy.most_asked(), 1, "{:?}", proxy.asked());
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn the_doctor_retries_too_and_says_so() {
    let s = Case::new("p-doctor").build();
    let (proxy, kc) = s.proxy("us-east", Throttle::too_many_requests(1));
    let r = s.run("doctor", &kc, "20s", "json");
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    let row = j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "cluster" && c["region"] == "us-east")
        .unwrap_or_else(|| panic!("{j}"));
    assert_eq!(row["result"], "ok", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("; API server pushed back: {} retries (429)", proxy.answered())), "{detail}");
    for c in j["checks"].as_array().unwrap().iter().filter(|c| c["region"] == "us-east") {
        assert_ne!(c["result"], "fail", "{c}");
    }
    // The first of each request (the version, the access reviews, which
    // share one path, and the pods list that checks the selector) was
    // pushed back, and went again.
    let asked = proxy.asked();
    assert_eq!(proxy.answered(), asked.len(), "{asked:?}");
    assert!(asked.iter().any(|(r, _)| r.contains("selfsubjectaccessreviews")), "{asked:?}");
}
