//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_keysvc-check");

/// The binary with no KEYSVC_* settings or kubeconfig leaking in from outside.
pub fn cmd() -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("KEYSVC_") || k == "KUBECONFIG" || k == "NO_COLOR" || k == "COLUMNS" {
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
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
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
    finish(Output { status, stdout: out_handle.join().unwrap(), stderr: err_handle.join().unwrap() }, elapsed)
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
