//! Services that log JSON (zap-style), logfmt and klog, read for their own
//! levels: the usual noise is healthy, a spike in one region degrades it
//! and is named by its template, one dependency failing in every region is
//! one shared finding, a stack trace is one error entry, and a secret in a
//! JSON value is masked in the example shown.

use crate::common::case::Case;
use crate::common::{self, region};
use keysvc_testenv::LogSpec;
use keysvc_testenv::kubelet::Generate;
use serde_json::Value;

const JSON_INFO: &str = r#"{"level":"info","ts":1764126245.1,"caller":"http/serve.go:88","msg":"ERROR budget at 3%, request served","request_id":"req-{n}"}"#;
const JSON_ERROR: &str = r#"{"level":"error","ts":1764126245.2,"caller":"auth/client.go:41","msg":"upstream timeout","error":"context deadline exceeded after 3000ms","request_id":"req-{n}"}"#;
const LOGFMT_INFO: &str = r#"time=2026-11-26T03:04:05Z level=info msg="request served" request_id=req-{n}"#;
const LOGFMT_ERROR: &str = r#"time=2026-11-26T03:04:05Z level=error msg="upstream timeout" err="deadline exceeded after 3000ms" request_id=req-{n}"#;
const KLOG_INFO: &str = "I1204 12:00:00.123456       1 server.go:88] served request req-{n}";
const KLOG_DB: &str = "E1204 12:00:00.123456       1 keys.go:41] failed to load signing keys: dial tcp db-7.internal:5432: connect: connection refused attempt={n}";

/// `count` lines over `span_secs` (the newest now), every `error_every`-th
/// one `error`.
fn lines(count: u64, span_secs: f64, info: &str, error_every: u64, error: &str) -> Generate {
    Generate { count, span_secs, template: info.into(), error_every, error_template: error.into() }
}

/// An hour and five minutes of `info`, every tenth line `error`, and `extra` on top.
fn hour(info: &str, error: &str, extra: Vec<Generate>) -> LogSpec {
    let mut generators = vec![lines(1040, 3900.0, info, if error.is_empty() { 0 } else { 10 }, error)];
    generators.extend(extra);
    LogSpec { generators, ..LogSpec::default() }
}

fn pods(j: &Value, name: &str) -> Vec<Value> {
    region(j, name)["logs"]["pods"].as_array().unwrap().clone()
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn json_noise_is_healthy_and_info_lines_that_say_error_are_not_errors() {
    let c = Case::new("t-fmt-json").build();
    c.all_logs(&hour(JSON_INFO, JSON_ERROR, vec![]));
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for name in ["us-south", "us-east", "eu-de"] {
        let logs = &region(&j, name)["logs"];
        assert_eq!(region(&j, name)["verdict"], "healthy", "{logs}");
        assert_eq!(logs["judgement"], "steady", "{logs}");
        // One in ten lines: the info lines that say ERROR are not counted.
        let errors = logs["error_lines"].as_u64().unwrap();
        assert!((15..=30).contains(&errors), "{logs}");
        assert_eq!(logs["signatures"][0]["pattern"], "upstream timeout: context deadline exceeded after <*>", "{logs}");
        assert_eq!(logs["signatures"][0]["new"], false);
        for p in pods(&j, name) {
            assert_eq!(p["format"], "json", "{p}");
            let g = &p["top_errors"][0];
            assert!(g["first_seen"].is_string() && g["last_seen"].is_string(), "{g}");
            assert!(g["first_seen"].as_str() <= g["last_seen"].as_str(), "{g}");
        }
    }
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_logfmt_spike_in_one_region_degrades_it_and_is_named_by_its_template() {
    let c = Case::new("t-fmt-logfmt").build();
    c.all_logs(&hour(LOGFMT_INFO, LOGFMT_ERROR, vec![]));
    let burst = lines(20, 240.0, LOGFMT_ERROR, 1, LOGFMT_ERROR);
    for pod in &c.pods[1] {
        c.env.set_logs("us-east", &c.ns, pod, &hour(LOGFMT_INFO, LOGFMT_ERROR, vec![burst.clone()])).unwrap();
    }
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let east = &region(&j, "us-east")["logs"];
    assert_eq!(region(&j, "us-east")["verdict"], "degraded", "{east}");
    assert_eq!(east["judgement"], "spike", "{east}");
    assert_eq!(east["signatures"][0]["pattern"], "upstream timeout: deadline exceeded after <*>", "{east}");
    assert!(pods(&j, "us-east").iter().all(|p| p["format"] == "logfmt"));
    for name in ["us-south", "eu-de"] {
        assert_eq!(region(&j, name)["verdict"], "healthy");
    }
    assert!(common::kinds(&j).contains(&"error_spike".to_string()), "{}", j["findings"]);
    // The finding that names the most frequent error says what the logs were read as.
    let texts = common::texts(&j["findings"]);
    assert!(texts.contains("in the region, logfmt logs): "), "{texts}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_klog_dependency_failing_in_every_region_is_one_shared_finding() {
    let c = Case::new("t-fmt-klog").build();
    let db = lines(12, 240.0, KLOG_DB, 1, KLOG_DB);
    c.all_logs(&hour(KLOG_INFO, "", vec![db]));
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    for name in ["us-south", "us-east", "eu-de"] {
        let logs = &region(&j, name)["logs"];
        assert_eq!(region(&j, name)["verdict"], "degraded", "{logs}");
        assert_eq!(logs["judgement"], "new_error", "{logs}");
        assert_eq!(
            logs["signatures"][0]["pattern"],
            "failed to load signing keys: dial tcp <*>: connect: connection refused attempt=<*>",
            "{logs}"
        );
        assert!(pods(&j, name).iter().all(|p| p["format"] == "klog"));
    }
    let shared: Vec<&Value> =
        j["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "shared_error").collect();
    assert_eq!(shared.len(), 1, "{}", j["findings"]);
    assert_eq!(shared[0]["regions"], serde_json::json!(["us-south", "us-east", "eu-de"]));
    assert_eq!(shared[0]["count"], 3 * 3 * 12);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_stack_trace_is_one_error_entry() {
    let c = Case::new("t-fmt-stack").build();
    let pod = &c.pods[2][0];
    let stack = [
        "2026-11-26 03:04:05,123 ERROR [main] c.a.k.Loader: load failed for tenant 42",
        "java.lang.IllegalStateException: no keys",
        "\tat com.acme.keys.Loader.load(Loader.java:12)",
        "\tat com.acme.keys.Main.main(Main.java:5)",
        "Caused by: java.net.ConnectException: Connection refused",
        "\tat java.net.Socket.connect(Socket.java:1)",
        "\t... 12 more",
        "2026-11-26 03:04:06,000 INFO [main] c.a.k.Loader: rotating",
        "Traceback (most recent call last):",
        "  File \"rotate.py\", line 3, in <module>",
        "    rotate()",
        "KeyError: 'kid-7'",
        "2026-11-26 03:04:07,001 INFO [main] c.a.k.Loader: retrying",
    ];
    let spec = LogSpec::lines(stack.iter().enumerate().map(|(i, l)| (100.0 - i as f64 * 0.01, *l)));
    c.env.set_logs("eu-de", &c.ns, pod, &spec).unwrap();
    let (_, j) = c.diagnose_json();
    let p = pods(&j, "eu-de").into_iter().find(|p| p["pod"] == pod.as_str()).unwrap();
    assert_eq!(p["lines"], stack.len(), "{p}");
    assert_eq!(p["error_lines"], 2, "the Java stack and the traceback, one entry each: {p}");
    let patterns: Vec<&str> =
        p["top_errors"].as_array().unwrap().iter().map(|g| g["pattern"].as_str().unwrap()).collect();
    assert!(patterns.contains(&"[main] c.a.k.Loader: load failed for tenant <*>"), "{patterns:?}");
    assert!(patterns.contains(&"KeyError: '<*>'"), "{patterns:?}");
    assert_eq!(p["format"], "text");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_secret_inside_a_json_value_is_masked_in_the_example() {
    let c = Case::new("t-fmt-secret").build();
    let pod = &c.pods[0][0];
    let line = r#"{"level":"error","msg":"vault login failed","password":"hunter2-Sup3r","token":"tkn-Zx81-secret","user":"svc-{n}"}"#;
    let spec = LogSpec { generators: vec![lines(6, 200.0, line, 1, line)], ..LogSpec::default() };
    c.env.set_logs("us-south", &c.ns, pod, &spec).unwrap();
    let (_, j) = c.diagnose_json();
    let p = pods(&j, "us-south").into_iter().find(|p| p["pod"] == pod.as_str()).unwrap();
    let g = &p["top_errors"][0];
    assert_eq!((g["pattern"].as_str(), g["count"].as_u64()), (Some("vault login failed"), Some(6)), "{p}");
    let example = g["example"].as_str().unwrap();
    assert!(example.contains(r#""password":"[masked]""#), "{example}");
    let all = j.to_string();
    assert!(!all.contains("hunter2") && !all.contains("tkn-Zx81"), "a secret is in the report");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_custom_level_field_is_read_only_when_the_runbook_names_it() {
    // The level is in `sev` and the message in `text`: fields no logger
    // convention uses. The info lines say ERROR in their message.
    const INFO: &str = r#"{"sev":"I","text":"ERROR budget at 3%, request served","request_id":"req-{n}"}"#;
    const ERROR: &str =
        r#"{"sev":"E","text":"upstream timeout","error":"deadline exceeded after 3000ms","request_id":"req-{n}"}"#;
    let c = Case::new("t-fmt-sev").extra("logs:\n  level_field: sev\n  message_field: text\n").build();
    c.all_logs(&hour(INFO, ERROR, vec![]));
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for name in ["us-south", "us-east", "eu-de"] {
        let logs = &region(&j, name)["logs"];
        let errors = logs["error_lines"].as_u64().unwrap();
        assert!((15..=30).contains(&errors), "one line in ten: {logs}");
        assert_eq!(logs["signatures"][0]["pattern"], "upstream timeout: deadline exceeded after <*>", "{logs}");
        assert!(pods(&j, name).iter().all(|p| p["format"] == "json"));
    }
    // Without the keys the level is not found: the info lines that say
    // ERROR are taken for errors and the real ones are missed.
    let text = std::fs::read_to_string(&c.runbook)
        .unwrap()
        .replace("  level_field: sev\n  message_field: text\n", "  format: auto\n");
    let plain = c.dir.path().join("plain.yaml");
    std::fs::write(&plain, text).unwrap();
    let j = c.line(&["diagnose", "-o", "json"]).runbook(&plain).run().json();
    for name in ["us-south", "us-east", "eu-de"] {
        let logs = &region(&j, name)["logs"];
        assert!(logs["error_lines"].as_u64().unwrap() > 100, "{logs}");
        let patterns = logs["signatures"].to_string();
        assert!(!patterns.contains("upstream timeout"), "{patterns}");
    }
}
