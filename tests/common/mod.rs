//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod case;
pub mod dump;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_keysvc-check");

/// The binary with no KEYSVC_* settings, kubeconfig or service account leaking in from outside.
pub fn cmd() -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        // KUBERNETES_SERVICE_*: a test run in a pod must not use its service account.
        if k.starts_with("KEYSVC_")
            || k.starts_with("KUBERNETES_SERVICE_")
            || k == "KUBECONFIG"
            // A telemetry key exported by hand (`keysvc-testenv up` shows how).
            || k == "NEW_RELIC_API_KEY"
            || k == "PROMETHEUS_TOKEN"
            || k == "NO_COLOR"
            || k == "COLUMNS"
        {
            c.env_remove(&k);
        }
    }
    c.env("HOME", "/nonexistent-home").stdin(Stdio::null());
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Stdout as one JSON document, checked against its published schema.
    pub fn json(&self) -> serde_json::Value {
        let v = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr));
        dump::json(&self.stdout);
        check_schema(&v);
        v
    }
}

/// Parses one JSON document the binary printed and checks it against its
/// published schema (see `check_schema`).
pub fn json(text: &str) -> serde_json::Value {
    let v = serde_json::from_str(text).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{text}"));
    dump::json(text);
    check_schema(&v);
    v
}

/// Checks a document the binary printed against the schema its `schema`
/// field names, from `schemas/`. A document of a schema that is not
/// published, or of none, fails: every JSON the tool prints is described.
pub fn check_schema(v: &serde_json::Value) {
    let name = v["schema"].as_str().unwrap_or_else(|| panic!("the document has no `schema` field:\n{v:#}"));
    let file = SCHEMAS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no published schema for `{name}` in schemas/"));
    check_against(file, v);
}

/// Checks `v` against `schemas/FILE`.
pub fn check_against(file: &str, v: &serde_json::Value) {
    let validator = validator(file);
    let errors: Vec<String> =
        validator.iter_errors(v).map(|e| format!("  at {}: {e}", e.instance_path())).take(20).collect();
    assert!(errors.is_empty(), "the document does not match schemas/{file}:\n{}\n{v:#}", errors.join("\n"));
}

/// The `schema` value of each document the tool prints, and the file in
/// `schemas/` that describes it.
pub const SCHEMAS: &[(&str, &str)] = &[
    ("keysvc-check/report/v2", "report-v2.json"),
    ("keysvc-check/doctor/v1", "doctor-v1.json"),
    ("keysvc-check/runbook/v1", "runbook-show-v1.json"),
    ("keysvc-check/logfile/v1", "logfile-v1.json"),
];

/// Every file in `schemas/`, parsed.
pub fn schema_files() -> Vec<(String, serde_json::Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut files: Vec<(String, serde_json::Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("schemas/{name}: {e}"));
            let schema = serde_json::from_str(&text).unwrap_or_else(|e| panic!("schemas/{name} is not JSON: {e}"));
            (name, schema)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// A validator for `schemas/FILE`, built once; the other files are known
/// by their `$id`, so one schema can refer to another, offline.
pub fn validator(file: &str) -> &'static jsonschema::Validator {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static REGISTRY: OnceLock<jsonschema::Registry<'static>> = OnceLock::new();
    static VALIDATORS: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    let files = schema_files();
    let registry = REGISTRY.get_or_init(|| {
        let mut registry = jsonschema::Registry::new();
        for (name, schema) in &files {
            let id = schema["$id"].as_str().unwrap_or_else(|| panic!("schemas/{name} has no $id"));
            registry = registry.add(id, schema.clone()).unwrap_or_else(|e| panic!("schemas/{name}: {e}"));
        }
        registry.prepare().expect("the schemas refer to each other consistently")
    });
    let validators = VALIDATORS.get_or_init(|| {
        files
            .iter()
            .map(|(name, schema)| {
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .with_registry(registry)
                    .build(schema)
                    .unwrap_or_else(|e| panic!("schemas/{name} is not a valid JSON Schema: {e}"));
                (name.clone(), validator)
            })
            .collect()
    });
    validators.get(file).unwrap_or_else(|| panic!("no schemas/{file}"))
}

fn finish(out: Output, elapsed: Duration) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
    }
}

/// Runs the binary; polls it and kills it (failing the test) if it is still
/// running after `limit`.
pub fn run_within(mut c: Command, limit: Duration) -> Run {
    let text_report = dump::is_text_diagnose(&c);
    let started = Instant::now();
    let mut child: Child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn keysvc-check");
    let out_handle = {
        let mut so = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut so, &mut v).ok();
            v
        })
    };
    let err_handle = {
        let mut se = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut se, &mut v).ok();
            v
        })
    };
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("keysvc-check still running after {limit:?}: it must end by its deadline");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let run =
        finish(Output { status, stdout: out_handle.join().unwrap(), stderr: err_handle.join().unwrap() }, elapsed);
    if text_report {
        dump::text(&run.stdout);
    }
    run
}

pub fn run(c: Command) -> Run {
    run_within(c, Duration::from_secs(60))
}

pub fn run_args(args: &[&str]) -> Run {
    let mut c = cmd();
    c.args(args);
    run(c)
}

/// A runbook for the test environment: namespace `ns`, the given healthz
/// URL, and each region's context made by `ctx(region)`.
pub fn runbook_text(ns: &str, healthz_url: &str, ctx: &dyn Fn(&str) -> String, extra: &str) -> String {
    let mut s = format!(
        "service: Key Service API\nnamespace: {ns}\nselector: app=api-key-service\ncontainer: api-key-service\nexpected_ready: 3\n{extra}environments:\n  test:\n    healthz_url: {healthz_url}\n    regions:\n"
    );
    for r in ["us-south", "us-east", "eu-de"] {
        s.push_str(&format!("      {r}: {{ context: \"{}\" }}\n", ctx(r)));
    }
    s
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Findings or next steps (report v2) as lines: `region: text`, then the
/// command on its own line when there is one.
pub fn texts(v: &serde_json::Value) -> String {
    let mut out = vec![];
    for item in v.as_array().into_iter().flatten() {
        let region = item["region"].as_str().map(|r| format!("{r}: ")).unwrap_or_default();
        out.push(format!("{region}{}", item["text"].as_str().unwrap_or_default()));
        if let Some(c) = item["command"].as_str() {
            out.push(c.to_string());
        }
    }
    out.join("\n")
}

/// The kinds of a report's findings.
pub fn kinds(j: &serde_json::Value) -> Vec<String> {
    j["findings"].as_array().into_iter().flatten().filter_map(|f| f["kind"].as_str().map(str::to_string)).collect()
}

/// Runs every `kubectl` command the report suggests, as a user pasting it
/// into a shell would, and fails the test when one does not succeed. A
/// command that would change the cluster (a rollback) runs with
/// `--dry-run=server` and as the region's admin: the tool only suggests it,
/// and running it takes write access the read-only roles do not have.
pub fn run_suggested_commands(j: &serde_json::Value) -> usize {
    let mut ran = 0;
    for step in j["next_steps"].as_array().into_iter().flatten() {
        let Some(command) = step["command"].as_str() else { continue };
        if !command.starts_with("kubectl ") {
            continue;
        }
        let changes =
            [" rollout undo ", " rollout restart ", " scale ", " delete "].iter().any(|v| command.contains(v));
        let line = if changes {
            let admin = as_admin(command);
            format!("{admin} --dry-run=server")
        } else {
            command.to_string()
        };
        let out = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .env_remove("KUBECONFIG")
            .env("HOME", "/nonexistent-home")
            .stdin(Stdio::null())
            .output()
            .expect("run sh");
        assert!(
            out.status.success(),
            "suggested command failed: {line}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran > 0, "the report suggests no kubectl command: {}", j["next_steps"]);
    ran
}

/// `--context USER@REGION` → `--context REGION` (the test environment's admin).
fn as_admin(command: &str) -> String {
    let words: Vec<&str> = command.split(' ').collect();
    let mut out = vec![];
    let mut after_context = false;
    for w in words {
        if after_context {
            out.push(w.rsplit('@').next().unwrap_or(w).to_string());
        } else {
            out.push(w.to_string());
        }
        after_context = w == "--context";
    }
    out.join(" ")
}

/// A region's part of a report, by name; fails the test when it is missing.
pub fn region<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no region {name} in {j}"))
}
