//! Proves the environment's telemetry with plain HTTP: Prometheus counts
//! every region's targets and follows `keysvc-testenv telemetry`, and the
//! NerdGraph stand-in answers as NerdGraph does. Stopping an exporter takes
//! its region's telemetry away from every test: these live in a binary of
//! their own (cargo runs test binaries one after another), one at a time.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keysvc_testenv::{REGIONS, Telemetry, TestEnv};
use serde_json::{Value, json};

/// The tests here change the exporters: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const QUERY: &str = r#"count by (region) (up{job="api-key-service"} == 1)"#;
const NRQL: &str = "SELECT latest(timestamp), uniqueCount(k8s.podName) FROM Metric WHERE k8s.deploymentName = 'api-key-service' FACET k8s.clusterName SINCE 10 minutes AGO";

fn testenv() -> PathBuf {
    PathBuf::from(common::BIN).with_file_name("keysvc-testenv")
}

/// `keysvc-testenv telemetry --region REGION ARGS…`, which must succeed.
fn telemetry_command(region: &str, args: &[&str]) {
    let out = Command::new(testenv()).args(["telemetry", "--region", region]).args(args).output().unwrap();
    assert!(out.status.success(), "telemetry {region} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts every region's exporter again when the test ends, even failed.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        for region in REGIONS {
            telemetry_command(region, &["start"]);
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Prometheus's answer to QUERY: targets up, by region.
fn prometheus_counts(t: &Telemetry) -> Vec<(String, u64)> {
    let base = format!("{}/api/v1/query", t.prometheus_url().unwrap());
    let url = reqwest::Url::parse_with_params(&base, &[("query", QUERY)]).unwrap();
    let v: Value = block_on(async {
        let r = reqwest::Client::new().get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    });
    assert_eq!(v["status"], "success", "{v}");
    let mut out: Vec<(String, u64)> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["metric"]["region"].as_str().unwrap().to_string(), r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Polls Prometheus until it answers `want` (sorted by region).
fn prometheus_shows(t: &Telemetry, want: &[(&str, u64)]) {
    let mut want: Vec<(String, u64)> = want.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    want.sort();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = prometheus_counts(t);
        if seen == want {
            return;
        }
        assert!(Instant::now() < deadline, "Prometheus shows {seen:?}, not {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// POSTs `graphql` to the NerdGraph stand-in with `key`: status and body.
fn nerdgraph(t: &Telemetry, key: Option<&str>, graphql: &str) -> (u16, Value) {
    block_on(async {
        let mut req = reqwest::Client::new()
            .post(&t.nerdgraph_url)
            .header("content-type", "application/json")
            .body(json!({ "query": graphql }).to_string());
        if let Some(k) = key {
            req = req.header("API-Key", k);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, serde_json::from_str(&r.text().await.unwrap()).unwrap())
    })
}

fn nrql_request(account: u64, nrql: &str) -> String {
    format!("{{ actor {{ account(id: {account}) {{ nrql(query: {}) {{ results }} }} }} }}", Value::from(nrql))
}

/// The stand-in's rows for the default query: (facet, pods), by region.
fn nerdgraph_rows(t: &Telemetry) -> Vec<(String, u64)> {
    let (status, v) = nerdgraph(t, Some(&t.api_key), &nrql_request(t.account_id, NRQL));
    assert_eq!(status, 200, "{v}");
    assert!(v.get("errors").is_none(), "{v}");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut rows = vec![];
    for row in v["data"]["actor"]["account"]["nrql"]["results"].as_array().unwrap() {
        let facet = row["facet"].as_str().unwrap().to_string();
        assert_eq!(row["k8s.clusterName"], facet.as_str(), "{row}");
        // Data within the query's window (10 minutes).
        let latest = row["latest.timestamp"].as_u64().unwrap();
        assert!(latest <= now_ms + 1000 && latest + 600_000 > now_ms, "{row}");
        rows.push((facet, row["uniqueCount.k8s.podName"].as_u64().unwrap()));
    }
    rows.sort();
    rows
}

fn every_region(n: u64) -> Vec<(&'static str, u64)> {
    REGIONS.iter().map(|r| (*r, n)).collect()
}

fn sorted(rows: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = rows.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn prometheus_counts_each_regions_targets_and_follows_the_telemetry_command() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let env = TestEnv::load().unwrap();
    let t = env.telemetry().unwrap();
    let _restore = Restore;
    // `up` waited for a scrape of every target.
    assert_eq!(prometheus_counts(t), sorted(&every_region(3)));

    telemetry_command("us-east", &["stop"]);
    prometheus_shows(t, &[("us-south", 3), ("eu-de", 3)]);
    telemetry_command("us-east", &["pods", "1"]);
    prometheus_shows(t, &[("us-south", 3), ("us-east", 1), ("eu-de", 3)]);
    telemetry_command("us-east", &["start"]);
    prometheus_shows(t, &every_region(3));

    // The library's way, as the cluster tests change an exporter.
    env.set_exporter("eu-de", keysvc_testenv::Exporter::Pods(2)).unwrap();
    assert_eq!(prometheus_counts(t), sorted(&[("us-south", 3), ("us-east", 3), ("eu-de", 2)]));
    env.set_exporter("eu-de", keysvc_testenv::Exporter::Up).unwrap();
    assert_eq!(prometheus_counts(t), sorted(&every_region(3)));
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn nerdgraph_stand_in_answers_as_nerdgraph_from_the_exporters() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let env = TestEnv::load().unwrap();
    let t = env.telemetry().unwrap();
    let _restore = Restore;
    assert!(t.api_key.starts_with("NRAK-") && t.api_key.len() == 32, "{}", t.api_key);
    assert!(t.nerdgraph_url.ends_with("/graphql"), "{}", t.nerdgraph_url);

    // No key, a wrong key: 401 with a JSON `errors` body that does not echo it.
    let request = nrql_request(t.account_id, NRQL);
    for key in [None, Some("NRAK-WRONGWRONGWRONGWRONGWRONGWRO")] {
        let (status, v) = nerdgraph(t, key, &request);
        assert_eq!(status, 401, "{key:?}: {v}");
        assert!(v["errors"][0]["message"].is_string(), "{v}");
        assert!(!v.to_string().contains("WRONG"), "{v}");
    }

    assert_eq!(nerdgraph_rows(t), sorted(&every_region(3)));

    // NRQL it cannot read: 200, `nrql` null and a GraphQL error on that path.
    let (status, v) = nerdgraph(t, Some(&t.api_key), &nrql_request(t.account_id, "SELEC uniqueCount(x) FROM Metric"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["actor"]["account"]["nrql"], Value::Null, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().starts_with("NRQL Syntax Error"), "{v}");
    assert_eq!(v["errors"][0]["path"], json!(["actor", "account", "nrql"]), "{v}");

    // A stopped region has no facet; thinned-out ones count what answers.
    telemetry_command("eu-de", &["stop"]);
    telemetry_command("us-south", &["pods", "1"]);
    assert_eq!(nerdgraph_rows(t), sorted(&[("us-south", 1), ("us-east", 3)]));
    telemetry_command("eu-de", &["start"]);
    telemetry_command("us-south", &["start"]);
    assert_eq!(nerdgraph_rows(t), sorted(&every_region(3)));
}
