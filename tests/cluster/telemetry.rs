//! The telemetry step against the environment's real Prometheus and its
//! NerdGraph stand-in, each scraping or probing one exporter per region:
//! a region whose exporter stops is `telemetry_missing` while the service
//! is up; every region at once is one finding for the service; fewer pods
//! reporting warns; a wrong key or an absent provider is named, bounded and
//! changes no verdict; the commands the report suggests run as pasted.

use std::process::{Command, Stdio};
use std::time::Duration;

use keysvc_testenv::{Exporter, TestEnv};
use serde_json::Value;

use crate::common::case::{API_KEY_ENV, Case, Provider};
use crate::common::{Run, kinds, region};

const REGIONS: [&str; 3] = ["us-south", "us-east", "eu-de"];

fn run(c: &Case, args: &[&str]) -> Run {
    c.line(args).run_within(Duration::from_secs(40))
}

/// The findings of `kind`, as (region, text).
fn findings(j: &Value, kind: &str) -> Vec<(Option<String>, String)> {
    j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| (f["region"].as_str().map(str::to_string), f["text"].as_str().unwrap().to_string()))
        .collect()
}

/// Runs every `curl` the report suggests as a user pasting it would (the
/// key only in its variable), and returns what each printed.
fn run_suggested_curls(j: &Value, key: Option<&str>) -> Vec<String> {
    let mut out = vec![];
    for step in j["next_steps"].as_array().unwrap() {
        let Some(command) = step["command"].as_str().filter(|c| c.starts_with("curl ")) else { continue };
        if let Some(k) = key {
            assert!(!command.contains(k), "the key is never in a suggested command: {command}");
        }
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(command).stdin(Stdio::null()).env_remove(API_KEY_ENV);
        if let Some(k) = key {
            sh.env(API_KEY_ENV, k);
        }
        let done = sh.output().unwrap();
        let stdout = String::from_utf8_lossy(&done.stdout).to_string();
        assert!(
            done.status.success(),
            "suggested command failed: {command}\n{stdout}\n{}",
            String::from_utf8_lossy(&done.stderr)
        );
        out.push(stdout);
    }
    assert!(!out.is_empty(), "the report suggests no curl: {}", j["next_steps"]);
    out
}

/// Returns the exit code of `diagnose`.
fn missing_in_one_region(provider: Provider, ns: &str) -> i32 {
    let c = Case::new(ns).telemetry(provider).exporter("us-east", Exporter::Stopped).build();
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 1, "degraded: {}\n{}", r.stdout, r.stderr);
    assert_eq!((j["healthz"]["status"].as_str(), j["service"]["verdict"].as_str()), (Some("pass"), Some("degraded")));
    assert_eq!(j["telemetry"]["configured"], true);
    assert!(j["steps"].as_array().unwrap().contains(&"telemetry".into()), "{}", j["steps"]);
    for name in REGIONS {
        let reg = region(&j, name);
        assert_eq!(reg["pods"]["ready"], 3, "{reg}");
        let (verdict, status, pods) =
            if name == "us-east" { ("degraded", "fail", Value::Null) } else { ("healthy", "pass", 3.into()) };
        assert_eq!(
            (reg["verdict"].as_str(), reg["telemetry"]["status"].as_str()),
            (Some(verdict), Some(status)),
            "{reg}"
        );
        assert_eq!(reg["telemetry"]["pods_reporting"], pods, "{reg}");
    }
    // The default PromQL asks for what Prometheus has now; the NRQL asks over the window.
    let (who, lacks, when) = if provider == Provider::Prometheus {
        ("Prometheus", "has no current data from us-east".to_string(), "now")
    } else {
        ("New Relic", "has received nothing from us-east for 10m".to_string(), "last 10m")
    };
    assert_eq!(
        findings(&j, "telemetry_missing"),
        [(
            Some("us-east".to_string()),
            format!("{who} {lacks}; the API answers and 3/3 pods are ready: the monitoring, not the service")
        )]
    );
    // The region's own trouble steps (its logs, describe) are not suggested: its pods are fine.
    assert!(!j["next_steps"].to_string().contains(" logs -l "), "{}", j["next_steps"]);
    let key = (provider == Provider::NewRelic).then(|| c.telemetry_env().api_key.clone());
    let printed = run_suggested_curls(&j, key.as_deref());
    // The query pasted says the same: data from the two other regions.
    assert!(
        printed[0].contains("us-south") && printed[0].contains("eu-de") && !printed[0].contains("\"us-east\""),
        "{}",
        printed[0]
    );
    // On a pipe: the column and the note.
    let t = run(&c, &["diagnose"]);
    let line = t.stdout.lines().find(|l| l.contains("us-east")).unwrap();
    assert!(line.contains("none") && line.contains("degraded") && line.contains("no telemetry"), "{}", t.stdout);
    assert!(t.stdout.contains(&format!("Telemetry ({who}, {when}): data from 2/3 regions")), "{}", t.stdout);
    r.code
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn prometheus_a_stopped_exporter_is_telemetry_missing_for_that_region_only() {
    let code = missing_in_one_region(Provider::Prometheus, "t-tel-miss-prom");
    assert_eq!(code, 1, "degraded");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn newrelic_a_stopped_exporter_is_telemetry_missing_for_that_region_only() {
    let code = missing_in_one_region(Provider::NewRelic, "t-tel-miss-nr");
    assert_eq!(code, 1, "degraded");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn every_region_without_telemetry_is_one_finding_for_the_service() {
    let mut b = Case::new("t-tel-every").telemetry(Provider::Prometheus);
    for r in REGIONS {
        b = b.exporter(r, Exporter::Stopped);
    }
    let c = b.build();
    let (_, j) = c.diagnose_json();
    let f = findings(&j, "telemetry_missing");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, None);
    assert!(f[0].1.starts_with("Prometheus has no current data from any region"), "{}", f[0].1);
    let all = j["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "telemetry_missing").unwrap();
    assert_eq!(all["regions"], serde_json::json!(REGIONS));
    for name in REGIONS {
        assert_eq!(region(&j, name)["verdict"], "degraded");
    }
    run_suggested_curls(&j, None);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn one_pod_reporting_warns() {
    let c = Case::new("t-tel-pods").telemetry(Provider::NewRelic).exporter("eu-de", Exporter::Pods(1)).build();
    let (_, j) = c.diagnose_json();
    let de = region(&j, "eu-de");
    assert_eq!(
        (de["telemetry"]["status"].as_str(), de["telemetry"]["pods_reporting"].as_u64()),
        (Some("warn"), Some(1))
    );
    assert_eq!((de["pods"]["ready"].as_u64(), de["verdict"].as_str()), (Some(3), Some("degraded")));
    assert_eq!(
        findings(&j, "telemetry_missing"),
        [(
            Some("eu-de".to_string()),
            "New Relic has data from 1/3 pods of eu-de in the last 10m; the API answers and 3/3 pods are ready: the monitoring, not the service".to_string()
        )]
    );
    // The single step says the same, on a pipe.
    let t = run(&c, &["telemetry"]);
    let line = t.stdout.lines().find(|l| l.contains("eu-de")).unwrap();
    assert!(line.contains("1/3") && line.contains("degraded"), "{}", t.stdout);
    let j = run(&c, &["telemetry", "-o", "json"]).json();
    assert_eq!(j["steps"], serde_json::json!(["telemetry"]));
    assert_eq!(
        (region(&j, "eu-de")["telemetry"]["status"].as_str(), region(&j, "eu-de")["pods"].is_null()),
        (Some("warn"), true)
    );
    let md = run(&c, &["telemetry", "-o", "markdown"]);
    assert!(md.stdout.contains("| eu-de | 1/3 |"), "{}", md.stdout);
    let t = run(&c, &["telemetry", "--region", "us-south"]);
    assert_eq!(t.code, 0, "{}\n{}", t.stdout, t.stderr);
    assert!(!t.stdout.contains("eu-de"), "{}", t.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_wrong_or_missing_key_is_named_masked_and_changes_no_verdict() {
    let c = Case::new("t-tel-key").telemetry(Provider::NewRelic).build();
    let wrong = "NRAK-WRONGWRONGWRONGWRONGWRONG1";
    for (line, said) in [
        (c.line(&["diagnose", "-o", "json"]).env(API_KEY_ENV, wrong), "New Relic answered 401 Unauthorized"),
        (c.line(&["diagnose", "-o", "json"]).env_remove(API_KEY_ENV), "NEW_RELIC_API_KEY is not set"),
    ] {
        let r = line.run_within(Duration::from_secs(40));
        assert!(!r.stdout.contains(wrong) && !r.stderr.contains(wrong), "the key is never shown");
        let j = r.json();
        assert_eq!(r.code, 0, "{}", r.stdout);
        assert_eq!(j["service"]["verdict"], "healthy");
        for name in REGIONS {
            let reg = region(&j, name);
            assert_eq!(
                (reg["verdict"].as_str(), reg["telemetry"]["status"].as_str()),
                (Some("healthy"), Some("error"))
            );
        }
        let e = findings(&j, "telemetry_error");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].0.is_none() && e[0].1.contains(said), "{e:?}");
        assert!(!kinds(&j).contains(&"telemetry_missing".to_string()));
        assert!(j["next_steps"].to_string().contains("NEW_RELIC_API_KEY"), "{}", j["next_steps"]);
    }
    // doctor names the variable, and the endpoint's refusal.
    let d = c.line(&["doctor", "-o", "json"]).env(API_KEY_ENV, wrong).run_within(Duration::from_secs(40));
    let j: Value = serde_json::from_str(&d.stdout).unwrap();
    let row = |label: &str| j["checks"].as_array().unwrap().iter().find(|r| r["check"] == label).cloned();
    assert_eq!(row("telemetry_key").unwrap()["result"], "ok");
    let endpoint = row("telemetry_endpoint").unwrap();
    assert_eq!(endpoint["result"], "fail", "{endpoint}");
    assert!(endpoint["fix"].as_str().unwrap().contains("NEW_RELIC_API_KEY"), "{endpoint}");
    assert!(!d.stdout.contains(wrong));
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_region_misnamed_in_the_runbook_is_the_runbooks_not_the_monitoring_and_the_fix_works() {
    let c = Case::new("t-tel-facet")
        .telemetry(Provider::Prometheus)
        .replace(
            "us-east: { context: \"oncall@us-east\" }",
            "us-east: { context: \"oncall@us-east\", telemetry: us-eats }",
        )
        .build();
    let (_, j) = c.diagnose_json();
    assert!(findings(&j, "telemetry_missing").is_empty(), "{}", j["findings"]);
    let f = findings(&j, "runbook_mismatch");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0.as_deref(), Some("us-east"));
    assert!(f[0].1.contains("no `us-eats` for us-east but has `us-east`"), "{}", f[0].1);
    let step = j["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["text"].as_str().unwrap().starts_with("did you mean us-east?"))
        .unwrap_or_else(|| panic!("no fix in {}", j["next_steps"]));
    assert!(step["text"].as_str().unwrap().contains("environments.test.regions.us-east.telemetry"), "{step}");
    // The runbook's name, not the monitoring: no verdict changes.
    let east = j["regions"].as_array().unwrap().iter().find(|r| r["name"] == "us-east").unwrap();
    assert_eq!(
        (east["verdict"].as_str(), east["telemetry"]["status"].as_str()),
        (Some("healthy"), Some("error")),
        "{east}"
    );
    // Made as told, the same run passes.
    let text = std::fs::read_to_string(&c.runbook).unwrap().replace("telemetry: us-eats", "telemetry: us-east");
    std::fs::write(&c.runbook, text).unwrap();
    let (r, j) = c.diagnose_json();
    assert_eq!((r.code, j["service"]["verdict"].as_str()), (0, Some("healthy")), "{}", j["findings"]);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn a_container_misspelt_in_the_runbook_is_not_blamed_on_the_monitoring_through_the_default_query() {
    let c = Case::new("t-tel-ctr")
        .telemetry(Provider::Prometheus)
        .replace("container: api-key-service", "container: api-keyservice")
        .build();
    let (_, j) = c.diagnose_json();
    assert!(findings(&j, "telemetry_missing").is_empty(), "{}", j["findings"]);
    let f = findings(&j, "runbook_mismatch");
    let query = f.iter().find(|(_, t)| t.contains("default telemetry query")).unwrap_or_else(|| panic!("{f:?}"));
    assert_eq!(query.0, None, "one finding for the service");
    assert!(query.1.contains("`api-keyservice`") && query.1.contains("they have: api-key-service"), "{}", query.1);
    // The container's own fix is there, and made, the telemetry passes.
    let text =
        std::fs::read_to_string(&c.runbook).unwrap().replace("container: api-keyservice", "container: api-key-service");
    std::fs::write(&c.runbook, text).unwrap();
    let (r, j) = c.diagnose_json();
    assert_eq!((r.code, j["service"]["verdict"].as_str()), (0, Some("healthy")), "{}", j["findings"]);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn doctor_checks_the_key_the_endpoint_and_a_facet_per_region() {
    let c = Case::new("t-tel-doctor").telemetry(Provider::NewRelic).build();
    let d = c.line(&["doctor", "-o", "json"]).run_within(Duration::from_secs(40));
    let j: Value = serde_json::from_str(&d.stdout).unwrap();
    let rows: Vec<(String, Option<String>, String)> = j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["check"].as_str().unwrap().starts_with("telemetry"))
        .map(|r| {
            (
                r["check"].as_str().unwrap().into(),
                r["region"].as_str().map(str::to_string),
                r["result"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut want =
        vec![("telemetry_key".to_string(), None, "ok".to_string()), ("telemetry_endpoint".into(), None, "ok".into())];
    want.extend(REGIONS.iter().map(|r| ("telemetry_facet".to_string(), Some(r.to_string()), "ok".to_string())));
    assert_eq!(rows, want, "{}", d.stdout);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn an_unreachable_or_silent_provider_is_bounded_and_changes_no_verdict() {
    let env = TestEnv::load().unwrap();
    let url = env.telemetry().unwrap().prometheus_url().unwrap().to_string();
    // Nobody listening on one port; on another, a listener that never answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    for (port, kind) in [(closed, "refused"), (silent_port, "timeout")] {
        let c = Case::new(&format!("t-tel-{kind}"))
            .telemetry(Provider::Prometheus)
            .replace(&format!("url: {url}"), &format!("url: http://127.0.0.1:{port}"))
            .build();
        let r = c.line(&["diagnose", "-o", "json", "--timeout", "4s"]).run_within(Duration::from_secs(20));
        let j = r.json();
        assert!(r.elapsed < Duration::from_secs(10), "bounded by --timeout: {:?}", r.elapsed);
        assert_eq!(r.code, 0, "the other steps finished: {}", j["service"]);
        assert_eq!(j["partial"], false);
        assert_eq!(j["telemetry"]["error"]["kind"], kind, "{}", j["telemetry"]);
        for name in REGIONS {
            let reg = region(&j, name);
            assert_eq!(
                (reg["verdict"].as_str(), reg["telemetry"]["status"].as_str()),
                (Some("healthy"), Some("error"))
            );
        }
        assert_eq!(findings(&j, "telemetry_error").len(), 1);
    }
    drop(silent);
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn without_a_telemetry_block_the_report_says_not_configured() {
    let c = Case::new("t-tel-none").build();
    let (_, j) = c.diagnose_json();
    assert_eq!(j["telemetry"]["configured"], false);
    assert!(!j["steps"].as_array().unwrap().contains(&"telemetry".into()));
    let t = run(&c, &["diagnose"]);
    assert!(t.stdout.contains("\ntelemetry: not configured\n"), "{}", t.stdout);
    assert!(!t.stdout.contains("TELEMETRY"), "{}", t.stdout);
    let t = run(&c, &["telemetry"]);
    assert_eq!(t.code, 78, "{}", t.stderr);
    assert_eq!(t.stderr.lines().count(), 1, "one line: {}", t.stderr);
    assert!(t.stderr.contains("has no `telemetry` block for environment test"), "{}", t.stderr);
    // What to do, from the binary alone: the starter it writes has an example.
    assert!(
        t.stderr.contains("`keysvc-check runbook init starter.yaml`") && !t.stderr.contains("README"),
        "{}",
        t.stderr
    );
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn telemetry_while_the_api_does_not_answer_says_the_pods_are_alive() {
    let c = Case::new("t-tel-alive").telemetry(Provider::Prometheus).build();
    c.healthz.set(keysvc_testenv::Behavior::html(503, "<html>upstream connect error</html>"));
    let (r, j) = c.diagnose_json();
    assert_eq!(r.code, 2, "down: {}", j["service"]);
    let alive = findings(&j, "telemetry_alive");
    assert_eq!(alive.len(), 1, "one for the service: {alive:?}");
    assert_eq!(alive[0].0, None);
    assert!(alive[0].1.contains("the pods are alive while the API does not answer"), "{}", alive[0].1);
    assert!(!kinds(&j).contains(&"telemetry_missing".to_string()), "{:?}", kinds(&j));
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn telemetry_from_a_region_where_the_selector_matches_no_pod_says_pods_run_there() {
    let c = Case::new("t-tel-nopods")
        .telemetry(Provider::Prometheus)
        .scenario("us-east", keysvc_testenv::Scenario::NoPods)
        .build();
    let (r, j) = c.diagnose_json();
    assert_eq!(region(&j, "us-east")["verdict"], "down", "{}", r.stdout);
    let alive = findings(&j, "telemetry_alive");
    assert_eq!(alive.len(), 1, "{alive:?}");
    assert_eq!(alive[0].0.as_deref(), Some("us-east"));
    assert!(
        alive[0].1.starts_with("Prometheus has data from 3 pods of us-east now, yet no pod matches app=api-key-service in namespace t-tel-nopods"),
        "{}",
        alive[0].1
    );
}
