//! The command line without any cluster: help, version, usage and runbook
//! errors, exit codes, completions.

mod common;

use common::{cmd, run, run_args, write};

#[test]
fn help_lists_commands_and_exit_codes() {
    let r = run_args(&["--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!("help", r.stdout);
}

#[test]
fn diagnose_help_names_shared_flags() {
    let r = run_args(&["diagnose", "--help"]);
    assert_eq!(r.code, 0);
    for flag in [
        "--env",
        "--region",
        "--runbook",
        "--kubeconfig",
        "--context",
        "--healthz-url",
        "--timeout",
        "--output",
        "--quiet",
        "--verbose",
    ] {
        assert!(r.stdout.contains(flag), "{flag} missing from:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("KEYSVC_ENV"));
}

#[test]
fn version_exits_zero() {
    let r = run_args(&["--version"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("keysvc-check "), "{}", r.stdout);
}

#[test]
fn usage_errors_exit_64_with_one_clear_line() {
    for args in [
        vec!["diagnose", "--bogus"],
        vec!["diagnose", "--env", "prod", "--timeout", "soon"],
        vec!["diagnose", "--env", "prod", "--context", "nocontext"],
        vec!["diagnose", "--env", "prod", "-o", "xml"],
        vec!["logs", "--env", "prod", "--grep", "(unclosed"],
        vec!["logs", "--env", "prod", "--tail", "0"],
        vec![],
    ] {
        let r = run_args(&args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn unknown_environment_or_region_is_a_usage_error_listing_choices() {
    let r = run_args(&["diagnose", "--env", "qa"]);
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("--env qa") && r.stderr.contains("prod, stage, dev"), "{}", r.stderr);
    let r = run_args(&["pods", "--env", "prod", "--region", "ap-south"]);
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("us-south, us-east, eu-de"), "{}", r.stderr);
    let r = run_args(&["pods"]);
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("--env is required"), "{}", r.stderr);
    let r = run_args(&["diagnose", "--env", "prod", "--context", "mars=x"]);
    assert_eq!(r.code, 64);
    let r = run_args(&["healthz", "--env", "prod", "--healthz-url", "ftp://x"]);
    assert_eq!(r.code, 64);
}

#[test]
fn env_variables_set_the_environment() {
    let mut c = cmd();
    c.env("KEYSVC_ENV", "qa").args(["pods"]);
    let r = run(c);
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("--env qa"), "{}", r.stderr);
}

#[test]
fn runbook_show_prints_the_embedded_runbook() {
    let r = run_args(&["runbook", "show"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("namespace: api") && r.stdout.contains("app=api-key-service"));
}

#[test]
fn runbook_validate_accepts_good_and_explains_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_args(&["runbook", "validate"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("ok"));
    // Each placeholder is named with its place, as a warning.
    let warnings: Vec<&str> = r.stdout.lines().filter(|l| l.contains(": warning: ")).collect();
    assert!(
        warnings.iter().any(|w| w
            .contains("environments.prod.healthz_url is the placeholder `https://key-service.example.com/healthz`")),
        "{}",
        r.stdout
    );
    assert!(warnings.iter().any(|w| w.contains("environments.stage.regions.eu-de.context")), "{}", r.stdout);
    let loc: Vec<&str> = warnings[0].split(':').collect();
    assert!(loc[1].parse::<u32>().is_ok() && loc[2].parse::<u32>().is_ok(), "{}", warnings[0]);
    let good = write(dir.path(), "good.yaml", keysvc_check::runbook::EMBEDDED);
    assert_eq!(run_args(&["runbook", "validate", good.to_str().unwrap()]).code, 0);

    let cases: &[(&str, String, &str)] = &[
        (
            "unknown-key.yaml",
            keysvc_check::runbook::EMBEDDED.replace("expected_ready: 3", "expected_ready: 3\nexpected_redy: 3"),
            "expected_redy",
        ),
        ("bad-duration.yaml", keysvc_check::runbook::EMBEDDED.replace("since: 5m", "since: fivemin"), "not a duration"),
        (
            "bad-regex.yaml",
            keysvc_check::runbook::EMBEDDED.replace("'OutOfMemoryError'", "'(Out'"),
            "regular expression",
        ),
        ("wrong-type.yaml", keysvc_check::runbook::EMBEDDED.replace("expected_ready: 3", "expected_ready: three"), ""),
        (
            "duplicate.yaml",
            keysvc_check::runbook::EMBEDDED
                .replace("us-east: { context: prod-us-east.example }", "us-south: { context: again }"),
            "uplicate",
        ),
        (
            "empty.yaml",
            "service: S\nnamespace: a\nselector: a=b\ncontainer: c\nenvironments: {}\n".into(),
            "environments",
        ),
        ("malformed.yaml", "service: [unclosed\n".into(), ""),
    ];
    for (name, text, needle) in cases {
        let path = write(dir.path(), name, text);
        let r = run_args(&["runbook", "validate", path.to_str().unwrap()]);
        assert_eq!(r.code, 78, "{name}: {}", r.stderr);
        let first = r.stderr.lines().next().unwrap();
        assert!(first.starts_with(&format!("keysvc-check: error: {}:", path.display())), "{name}: {first}");
        let loc: Vec<&str> = first.split(':').collect();
        assert!(
            loc[3].trim().parse::<u32>().is_ok() && loc[4].trim().parse::<u32>().is_ok(),
            "{name}: no line:column in {first}"
        );
        assert!(first.contains(needle), "{name}: {first}");
        assert!(!r.stderr.contains("panicked"));
    }
    // The same errors stop any command that uses the runbook.
    let bad = dir.path().join("bad-duration.yaml");
    let r = run_args(&["diagnose", "--env", "prod", "--runbook", bad.to_str().unwrap()]);
    assert_eq!(r.code, 78);
    let missing = run_args(&["diagnose", "--env", "prod", "--runbook", "/nonexistent/rb.yaml"]);
    assert_eq!(missing.code, 78);
    assert!(missing.stderr.contains("/nonexistent/rb.yaml"), "{}", missing.stderr);
}

#[test]
fn huge_runbook_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!("{}\n# {}\n", keysvc_check::runbook::EMBEDDED, "x".repeat(2 * 1024 * 1024));
    let path = write(dir.path(), "huge.yaml", &huge);
    let r = run_args(&["runbook", "validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 78);
    assert!(r.stderr.contains("at most 1 MiB"), "{}", r.stderr);
}

#[test]
fn completions_are_generated() {
    let r = run_args(&["completions", "bash"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("keysvc-check") && r.stdout.contains("diagnose"));
}

#[test]
fn closed_stdout_pipe_exits_quietly() {
    use std::process::Stdio;
    let mut c = cmd();
    c.args(["completions", "bash"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.code().is_some(), "killed by a signal");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Contexts that are not placeholders, for the embedded runbook's prod.
const REAL_CONTEXTS: [&str; 6] =
    ["--context", "us-south=ctx-south", "--context", "us-east=ctx-east", "--context", "eu-de=ctx-de"];

#[test]
fn the_shipped_placeholders_are_configuration_not_an_outage() {
    let r = run_args(&["diagnose", "--env", "prod", "-o", "json"]);
    assert_eq!(r.code, 78, "nothing real was checked: {}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_ne!(j["service"]["verdict"], "down");
    assert!(j["service"]["impact"].is_null());
    let kinds = common::kinds(&j);
    assert!(kinds.iter().all(|k| k == "placeholder"), "{kinds:?}");
    assert_eq!(kinds.len(), 4, "the healthz URL and three contexts: {kinds:?}");
    let findings = common::texts(&j["findings"]);
    assert!(findings.contains("environments.prod.healthz_url is the placeholder"), "{findings}");
    assert!(findings.contains("us-east: not checked: environments.prod.regions.us-east.context"), "{findings}");
    assert!(j["next_steps"][0]["text"].as_str().unwrap().contains("Set your real values"), "{}", j["next_steps"]);
    // Placeholder links are not offered either.
    assert!(!common::texts(&j["next_steps"]).contains("example.com/dashboards"), "{}", j["next_steps"]);

    // With real contexts, the placeholder URL alone is not a "down": the
    // regions are checked (here: no kubeconfig → unknown) and the exit is 3.
    let mut c = cmd();
    c.args(["diagnose", "--env", "prod", "-o", "json", "--kubeconfig", "/nonexistent/kubeconfig"]).args(REAL_CONTEXTS);
    let r = run(c);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["healthz"]["error"]["kind"], "placeholder");
    assert_eq!(common::kinds(&j).iter().filter(|k| *k == "placeholder").count(), 1);

    let t = run_args(&["diagnose", "--env", "prod"]);
    assert!(t.stdout.starts_with("Key Service API (prod): UNKNOWN — nothing checked"), "{}", t.stdout);
    assert!(!t.stdout.contains("DOWN") && !t.stdout.contains("Impact"), "{}", t.stdout);
}

#[test]
fn missing_kubeconfig_makes_regions_unknown_not_a_crash() {
    let mut c = cmd();
    c.args(["pods", "--env", "prod", "-o", "json", "--kubeconfig", "/nonexistent/kubeconfig"]).args(REAL_CONTEXTS);
    let r = run(c);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["service"]["verdict"], "unknown");
    for region in j["regions"].as_array().unwrap() {
        assert_eq!(region["verdict"], "unknown");
        assert_eq!(region["pods"]["error"]["kind"], "kubeconfig");
        assert!(region["pods"]["error"]["message"].as_str().unwrap().contains("/nonexistent/kubeconfig"));
    }
}

#[test]
fn malformed_or_unusable_kubeconfig_is_reported_per_region() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "kubeconfig", "apiVersion: v1\nclusters: [oops\n");
    for path in [bad, dir.path().to_path_buf()] {
        let mut c = cmd();
        c.args(["pods", "--env", "prod", "-o", "json", "--timeout", "5s"])
            .arg("--kubeconfig")
            .arg(&path)
            .args(REAL_CONTEXTS);
        let r = run(c);
        assert_eq!(r.code, 3, "{}", r.stderr);
        let j = r.json();
        for region in j["regions"].as_array().unwrap() {
            assert_eq!(region["verdict"], "unknown");
            assert_eq!(region["pods"]["error"]["kind"], "kubeconfig", "{region}");
        }
    }
}

#[test]
fn quiet_prints_only_the_verdict_line() {
    let mut c = cmd();
    c.args(["pods", "--env", "prod", "-q", "--kubeconfig", "/nonexistent/kubeconfig"]).args(REAL_CONTEXTS);
    let r = run(c);
    assert_eq!(r.code, 3);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(r.stdout.starts_with("Key Service API (prod): UNKNOWN"));
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn colour_only_when_asked() {
    let mut c = cmd();
    c.args(["pods", "--env", "prod", "--kubeconfig", "/nonexistent/kubeconfig"]).args(REAL_CONTEXTS);
    assert!(!run(c).stdout.contains('\u{1b}'));
    let mut c = cmd();
    c.args(["pods", "--env", "prod", "--color", "always", "--kubeconfig", "/nonexistent/kubeconfig"])
        .args(REAL_CONTEXTS);
    assert!(run(c).stdout.contains("\u{1b}["));
    let mut c = cmd();
    c.env("NO_COLOR", "1")
        .args(["pods", "--env", "prod", "--kubeconfig", "/nonexistent/kubeconfig"])
        .args(REAL_CONTEXTS);
    assert!(!run(c).stdout.contains('\u{1b}'));
}
