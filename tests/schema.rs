//! The published JSON Schemas (`schemas/`): each is a valid JSON Schema
//! 2020-12, each document the tool prints has one, the shipped runbooks
//! match the runbook schema, and the schemas are strict enough to catch
//! what the tool never prints. Every JSON document the other tests read
//! through `common::json` or `Run::json` is checked against its schema too.

mod common;

use common::{SCHEMAS, check_against, check_schema, cmd, run, schema_files};
use serde_json::{Value, json};

#[test]
fn every_schema_file_is_a_valid_schema_with_an_id_and_each_document_has_one() {
    let files = schema_files();
    assert!(files.len() >= 4, "{:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
    for (name, schema) in &files {
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "schemas/{name}");
        assert!(schema["$id"].as_str().is_some_and(|id| id.starts_with("urn:keysvc-check:")), "schemas/{name}");
        assert!(schema["description"].as_str().is_some_and(|d| !d.is_empty()), "schemas/{name} says what it is");
        // Building the validator checks the schema against the meta-schema.
        common::validator(name);
    }
    for (doc, file) in SCHEMAS {
        let (_, schema) = files.iter().find(|(n, _)| n == file).unwrap_or_else(|| panic!("schemas/{file}"));
        assert_eq!(schema["properties"]["schema"]["const"], *doc, "schemas/{file} describes {doc}");
    }
}

/// A real report, from a run that needs no cluster: healthz refused.
fn report() -> Value {
    let mut c = cmd();
    c.args(["healthz", "--env", "prod", "--healthz-url", "http://127.0.0.1:9/healthz", "-o", "json"]);
    run(c).json()
}

fn rejected(file: &str, v: &Value) -> bool {
    std::panic::catch_unwind(|| check_against(file, v)).is_err()
}

#[test]
fn the_report_schema_rejects_what_the_tool_never_prints() {
    let good = report();
    assert_eq!(good["schema"], "keysvc-check/report/v2");
    check_schema(&good);
    type Mutation = (&'static str, fn(&mut Value));
    let mutations: [Mutation; 6] = [
        ("an unknown top-level field", |v| v["surprise"] = json!(1)),
        ("an unknown verdict", |v| v["service"]["verdict"] = json!("fine")),
        ("an unknown error kind", |v| v["healthz"]["error"]["kind"] = json!("gremlins")),
        ("a negative duration", |v| v["duration_ms"] = json!(-1)),
        ("a missing field", |v| {
            v.as_object_mut().unwrap().remove("partial");
        }),
        ("a finding of an unknown kind", |v| {
            v["findings"] = json!([{"region": null, "kind": "vibes", "severity": "warn", "text": "x"}])
        }),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert!(rejected("report-v2.json", &bad), "the schema accepts {what}");
    }
}

#[test]
fn the_shipped_runbooks_match_the_runbook_schema() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let v: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            check_against("runbook-v1.json", &v);
            seen += 1;
        }
    }
    assert!(seen >= 1, "no runbook in runbooks/");
    // What `runbook init` writes, and the effective runbook `runbook show` prints.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rb.yaml");
    let mut c = cmd();
    c.args(["runbook", "init"]).arg(&file);
    assert_eq!(run(c).code, 0);
    let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    check_against("runbook-v1.json", &v);
    let mut c = cmd();
    c.args(["--runbook"]).arg(&file).args(["runbook", "show", "-o", "json"]);
    let shown = run(c).json();
    assert!(shown["runbook"]["environments"].is_object());
    // A typo in a field name is what the schema exists to catch in an editor.
    let mut typo = v.clone();
    typo["namspace"] = json!("api");
    assert!(rejected("runbook-v1.json", &typo), "the runbook schema accepts an unknown field");
    let mut bad_ns = v.clone();
    bad_ns["namespace"] = json!("API_NS");
    assert!(rejected("runbook-v1.json", &bad_ns), "the runbook schema accepts a namespace Kubernetes refuses");
    let mut bad_logs = v;
    bad_logs["logs"] = json!({"spike_factor": 1});
    assert!(rejected("runbook-v1.json", &bad_logs), "the runbook schema accepts spike_factor 1");
}

#[test]
fn readme_links_every_schema() {
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for (name, _) in schema_files() {
        assert!(readme.contains(&format!("schemas/{name}")), "README does not link schemas/{name}");
    }
}

#[test]
fn the_runbook_schema_and_runbook_validate_agree_on_durations() {
    let tmp = tempfile::tempdir().unwrap();
    let embedded = keysvc_check::runbook::EMBEDDED;
    assert!(embedded.contains("  since: 5m\n"));
    // Only s, m and h, whole numbers, no spaces: `5M` (months, to some
    // parsers), `1 hour`, `5 m`, `1d` and, for a log window, `500ms` are refused.
    for d in [
        "5m",
        "1h30m",
        "1h 30m",
        "90s",
        "1.5h",
        "10 seconds",
        "0s",
        "0m 0s",
        "5minuts",
        "5x",
        "-1s",
        "m5",
        "",
        "5M",
        "1 hour",
        "5 m",
        "1d",
        "500ms",
        "2H",
        "1h0m",
        "0h5m",
    ] {
        let text = embedded.replace("  since: 5m\n", &format!("  since: '{d}'\n"));
        let file = tmp.path().join("rb.yaml");
        std::fs::write(&file, &text).unwrap();
        let mut c = cmd();
        c.args(["runbook", "validate"]).arg(&file);
        let tool_accepts = run(c).code == 0;
        let v: Value = serde_saphyr::from_str(&text).unwrap();
        let schema_accepts = !rejected("runbook-v1.json", &v);
        assert_eq!(
            schema_accepts, tool_accepts,
            "since: '{d}': schema {schema_accepts}, runbook validate {tool_accepts}"
        );
    }
}
