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
        "--watch [<INTERVAL>]",
        "--until <STATE>",
        "not-down",
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
        vec!["diagnose", "--env", "prod", "--until", "healthy"],
        vec!["diagnose", "--env", "prod", "--watch", "0s"],
        vec!["diagnose", "--env", "prod", "--watch", "--until", "soon"],
        vec!["diagnose", "--env", "prod", "--watch", "-o", "markdown"],
        vec!["pods", "--env", "prod", "--watch"],
        vec![],
    ] {
        let r = run_args(&args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn a_negative_duration_is_refused_naming_its_flag() {
    for (args, flag) in [
        (vec!["diagnose", "--env", "prod", "--timeout", "-1s"], "--timeout"),
        (vec!["logs", "--env", "prod", "--since", "-5m"], "--since"),
    ] {
        let r = run_args(&args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(first.contains(flag) && first.contains("is negative"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn max_log_streams_must_be_a_whole_number_of_one_or_more() {
    for (args, says) in [
        (vec!["diagnose", "--env", "prod", "--max-log-streams", "0"], "0 would read no logs"),
        (vec!["logs", "--env", "prod", "--max-log-streams", "many"], "`many` is not a number of log reads"),
        (vec!["logs", "--env", "prod", "--max-log-streams=-3"], "`-3` is negative"),
        (vec!["logs", "--env", "prod", "--max-log-streams", "-3"], "`-3` is negative"),
        (vec!["diagnose", "--env", "prod", "--max-log-streams", "2.5"], "`2.5` is not a number of log reads"),
        (vec!["diagnose", "--env", "prod", "--max-log-streams-total", "0"], "1 or more log reads in all (default 400)"),
        (vec!["logs", "--env", "prod", "--max-log-streams-total=-1"], "`-1` is negative"),
        (vec!["logs", "--env", "prod", "--max-log-streams-total", "lots"], "`lots` is not a number of log reads"),
    ] {
        let r = run_args(&args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        let first = r.stderr.lines().next().unwrap_or_default();
        let flag = args.iter().find(|a| a.starts_with("--max")).unwrap().split('=').next().unwrap();
        assert!(first.contains(flag) && first.contains(says), "{args:?}: {}", r.stderr);
    }
    // It bounds log reads: a command that reads none does not take it.
    let r = run_args(&["pods", "--env", "prod", "--max-log-streams", "4"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
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
    assert!(r.stderr.contains("KEYSVC_ENV=qa: no such environment"), "{}", r.stderr);
}

#[test]
fn a_bad_value_from_a_variable_names_the_variable_not_the_flag() {
    for (var, value, args, want) in [
        ("KEYSVC_ENV", "lcoal", vec!["pods"], "KEYSVC_ENV=lcoal: no such environment"),
        (
            "KEYSVC_REGION",
            "mars",
            vec!["pods", "--env", "prod"],
            "KEYSVC_REGION=mars: environment prod has no such region",
        ),
        ("KEYSVC_TIMEOUT", "30", vec!["pods", "--env", "prod"], "invalid value '30' for KEYSVC_TIMEOUT"),
        ("KEYSVC_OUTPUT", "xml", vec!["pods", "--env", "prod"], "invalid value 'xml' for KEYSVC_OUTPUT"),
        ("KEYSVC_HEALTHZ_URL", "ftp://x", vec!["healthz", "--env", "prod"], "KEYSVC_HEALTHZ_URL=ftp://x: not an http"),
    ] {
        let mut c = cmd();
        c.env(var, value).args(&args);
        let r = run(c);
        assert_eq!(r.code, 64, "{var}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{var}: {}", r.stderr);
    }
    // Given as a flag, the flag is named, whatever the variable holds.
    let mut c = cmd();
    c.env("KEYSVC_TIMEOUT", "30").args(["pods", "--env", "prod", "--timeout", "30"]);
    let r = run(c);
    assert!(r.stderr.contains("for '--timeout <DURATION>'"), "{}", r.stderr);
    let mut c = cmd();
    c.env("KEYSVC_ENV", "prod").args(["pods", "--env", "lcoal"]);
    let r = run(c);
    assert!(r.stderr.contains("--env lcoal: no such environment"), "{}", r.stderr);
}

#[test]
fn a_usage_line_shows_only_the_flags_typed_not_the_variables_set() {
    for (args, usage) in [
        (vec!["diagnose", "--until", "healthy"], "Usage: keysvc-check diagnose --watch [<INTERVAL>] --until <STATE>\n"),
        (vec!["diagnose", "-v", "-q"], "Usage: keysvc-check diagnose --verbose...\n"),
        (vec!["logs", "--file", "x", "--since", "5m"], "Usage: keysvc-check logs --file <PATH>\n"),
    ] {
        let mut c = cmd();
        c.env("KEYSVC_RUNBOOK", "/srv/runbook.yaml").env("KEYSVC_ENV", "prod").args(&args);
        let r = run(c);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(usage), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("--runbook") && !r.stderr.contains("--env"), "{args:?}: {}", r.stderr);
    }
    // Typed, a flag is in the usage line as before.
    let r = run_args(&["diagnose", "--env", "prod", "--until", "healthy"]);
    assert!(r.stderr.contains("--env <ENV>"), "{}", r.stderr);
}

#[test]
fn the_help_names_the_config_file_as_the_lookup_reads_it() {
    let config = "$XDG_CONFIG_HOME/keysvc-check/runbook.yaml (else ~/.config/keysvc-check/runbook.yaml)";
    for args in [&["diagnose", "--help"][..], &["runbook", "init", "--help"]] {
        let r = run_args(args);
        assert_eq!(r.code, 0, "{args:?}");
        let help = r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains(config), "{args:?}: {}", r.stdout);
    }
}

#[test]
fn a_misspelt_environment_gets_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let rb = dir.path().join("rb.yaml");
    let text = "service: S\nnamespace: api\nselector: app=x\ncontainer: c\nenvironments:\n  local:\n    \
                healthz_url: http://127.0.0.1:9/healthz\n    regions:\n      us-south: { context: ctx }\n  \
                prod:\n    healthz_url: http://127.0.0.1:9/healthz\n    regions:\n      us-south: { context: ctx }\n";
    std::fs::write(&rb, text).unwrap();
    for args in [&["diagnose", "--env", "lcoal"][..], &["runbook", "show", "--env", "lcoal"]] {
        let mut c = cmd();
        c.arg("--runbook").arg(&rb).args(args);
        let r = run(c);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("--env lcoal: no such environment"), "{}", r.stderr);
        assert!(r.stderr.trim_end().ends_with("; did you mean local? it has: local, prod"), "{}", r.stderr);
    }
    // Nothing alike: the list alone.
    let r = run_args(&["diagnose", "--env", "mars"]);
    assert!(
        r.stderr
            .trim_end()
            .ends_with("no such environment in <embedded runbooks/key-service.yaml>; it has: prod, stage, dev"),
        "{}",
        r.stderr
    );
}

#[test]
fn runbook_show_refuses_markdown() {
    for format in ["markdown", "slack"] {
        let r = run_args(&["runbook", "show", "-o", format]);
        assert_eq!(r.code, 64, "{}", r.stdout);
        assert!(r.stdout.is_empty() && r.stderr.contains("-o json"), "{}", r.stderr);
        assert!(r.stderr.contains(&format!("runbook show -o {format}:")), "{}", r.stderr);
        let r = run_args(&["diagnose", "--env", "prod", "--watch", "10s", "-o", format]);
        assert_eq!(r.code, 64, "{}", r.stdout);
        assert!(r.stderr.contains("-o markdown and -o slack are one report to paste"), "{}", r.stderr);
    }
}

#[test]
fn runbook_show_prints_the_embedded_runbook() {
    let r = run_args(&["runbook", "show"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("namespace: api") && r.stdout.contains("app=api-key-service"));
    assert!(r.stdout.starts_with("# The effective runbook, from <embedded runbooks/key-service.yaml>"), "{}", r.stdout);
    // How log lines are read, defaults filled in.
    for key in [
        "  format: auto\n",
        "  level_field: null\n",
        "  message_field: null\n",
        "  error_levels:\n  - error\n  - fatal\n",
    ] {
        assert!(r.stdout.contains(key), "{key:?} not in\n{}", r.stdout);
    }
}

/// `write`, making the directory first.
fn write_in(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    write(dir, name, text)
}

/// A runbook whose `namespace` says which file it is.
fn tagged(ns: &str) -> String {
    keysvc_check::runbook::EMBEDDED.replace("namespace: api", &format!("namespace: {ns}"))
}

/// `runbook show -o json` with `cmd` prepared by the caller: (source, namespace).
fn shown(mut c: std::process::Command) -> (String, String) {
    c.args(["runbook", "show", "-o", "json"]);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    (j["source"].as_str().unwrap().to_string(), j["runbook"]["namespace"].as_str().unwrap().to_string())
}

#[test]
fn runbook_lookup_order_is_flag_env_xdg_home_then_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let xdg = dir.path().join("xdg");
    let home_file = write_in(&home.join(".config/keysvc-check"), "runbook.yaml", &tagged("from-home"));
    let xdg_file = write_in(&xdg.join("keysvc-check"), "runbook.yaml", &tagged("from-xdg"));
    let env_file = write(dir.path(), "env.yaml", &tagged("from-env"));
    let flag_file = write(dir.path(), "flag.yaml", &tagged("from-flag"));
    let with = |flag: bool, env: bool, xdg_set: bool| {
        let mut c = cmd();
        c.env("HOME", &home);
        if xdg_set {
            c.env("XDG_CONFIG_HOME", &xdg);
        } else {
            c.env_remove("XDG_CONFIG_HOME");
        }
        if env {
            c.env("KEYSVC_RUNBOOK", &env_file);
        }
        if flag {
            c.arg("--runbook").arg(&flag_file);
        }
        shown(c)
    };
    assert_eq!(with(true, true, true), (format!("{} (--runbook)", flag_file.display()), "from-flag".into()));
    assert_eq!(with(false, true, true), (format!("{} (KEYSVC_RUNBOOK)", env_file.display()), "from-env".into()));
    assert_eq!(with(false, false, true), (format!("{} (config file)", xdg_file.display()), "from-xdg".into()));
    assert_eq!(with(false, false, false), (format!("{} (config file)", home_file.display()), "from-home".into()));
    // An empty XDG_CONFIG_HOME counts as unset.
    let mut c = cmd();
    c.env("HOME", &home).env("XDG_CONFIG_HOME", "");
    assert_eq!(shown(c).1, "from-home");
    std::fs::remove_file(&home_file).unwrap();
    assert_eq!(with(false, false, false), ("<embedded runbooks/key-service.yaml>".into(), "api".into()));
    // Every report names the runbook with where it came from.
    let mut c = cmd();
    c.env("XDG_CONFIG_HOME", &xdg).args(["diagnose", "--env", "prod", "-o", "json"]);
    let r = run(c);
    assert_eq!(r.json()["runbook"], format!("{} (config file)", xdg_file.display()), "{}", r.stderr);
    // A broken config file is an error, not a silent fallback.
    write_in(&xdg.join("keysvc-check"), "runbook.yaml", "service: [\n");
    let mut c = cmd();
    c.env("XDG_CONFIG_HOME", &xdg).args(["pods", "--env", "prod"]);
    let r = run(c);
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert!(r.stderr.contains(&xdg_file.display().to_string()), "{}", r.stderr);
}

#[test]
fn runbook_init_writes_a_starter_and_keeps_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut c = cmd();
    c.env("HOME", &home).env_remove("XDG_CONFIG_HOME").args(["runbook", "init"]);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let default = home.join(".config/keysvc-check/runbook.yaml");
    assert_eq!(std::fs::read_to_string(&default).unwrap(), keysvc_check::runbook::EMBEDDED);
    // Its own header tells the truth about the copy: no rebuild, where it is read from.
    let header: String = keysvc_check::runbook::EMBEDDED.lines().take_while(|l| l.starts_with('#')).collect();
    assert!(!header.contains("rebuild") && header.contains("~/.config/keysvc-check/runbook.yaml"), "{header}");
    assert!(r.stdout.contains(&format!("Wrote a starter runbook to {}", default.display())), "{}", r.stdout);
    assert!(r.stdout.contains("environments.prod.healthz_url = https://key-service.example.com/healthz"));
    assert!(r.stdout.contains("environments.prod.regions.us-east.context = prod-us-east.example"));
    assert!(r.stdout.contains("keysvc-check runbook validate"), "{}", r.stdout);
    // It is then the runbook in effect.
    let mut c = cmd();
    c.env("HOME", &home);
    assert_eq!(shown(c).0, format!("{} (config file)", default.display()));

    // Refuses to overwrite, says so, and leaves the file alone.
    std::fs::write(&default, "mine").unwrap();
    let mut c = cmd();
    c.env("HOME", &home).args(["runbook", "init"]);
    let r = run(c);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("already exists") && r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&default).unwrap(), "mine");
    let mut c = cmd();
    c.env("HOME", &home).args(["runbook", "init", "--force"]);
    assert_eq!(run(c).code, 0);
    assert_eq!(std::fs::read_to_string(&default).unwrap(), keysvc_check::runbook::EMBEDDED);

    // To a PATH of one's choosing, with its directory made.
    let path = dir.path().join("new/dir/rb.yaml");
    let r = run_args(&["runbook", "init", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("--runbook {}", path.display())), "{}", r.stdout);
    assert_eq!(run_args(&["runbook", "validate", path.to_str().unwrap()]).code, 0);
}

#[test]
fn the_placeholder_step_names_the_file_its_init_command_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (home, xdg) = (dir.path().join("home"), dir.path().join("xdg"));
    let env = |c: &mut std::process::Command| {
        c.env("HOME", &home).env("XDG_CONFIG_HOME", &xdg);
    };
    let mut c = cmd();
    env(&mut c);
    c.args(["diagnose", "--env", "prod", "-o", "json"]);
    let r = run(c);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let steps = j["next_steps"].as_array().unwrap();
    let init = steps.iter().find(|s| s["command"] == "keysvc-check runbook init").expect("the init step");
    let file = xdg.join("keysvc-check/runbook.yaml");
    let text = init["text"].as_str().unwrap();
    assert!(text.contains(&format!("this writes one to {},", file.display())), "{text}");
    assert!(!text.contains("~/.config"), "{text}");
    // Pasted, it writes that file.
    let mut c = cmd();
    env(&mut c);
    c.args(["runbook", "init"]);
    assert_eq!(run(c).code, 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), keysvc_check::runbook::EMBEDDED);
}

#[test]
fn placeholder_guidance_links_are_warned_about_by_validate_and_init() {
    let dir = tempfile::tempdir().unwrap();
    let text = "service: S\nnamespace: api\nselector: app=x\ncontainer: c\nenvironments:\n  prod:\n    \
                healthz_url: https://h.corp/healthz\n    regions:\n      us-south: { context: ctx }\n\
                guidance:\n  dashboard: https://grafana.example.com/d/1\n  logs:\n    us-south: https://logs.example/s\n";
    let rb = write(dir.path(), "rb.yaml", text);
    let r = run_args(&["runbook", "validate", rb.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let name = rb.display();
    assert!(
        r.stdout.contains(&format!(
            "{name}:11:14: warning: guidance.dashboard is the placeholder `https://grafana.example.com/d/1`; \
             reports leave the link out until you set the real one\n"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("{name}:13:15: warning: guidance.logs.us-south is the placeholder")),
        "{}",
        r.stdout
    );
    // The starter names its links among what to replace.
    let r = run_args(&["runbook", "init", dir.path().join("starter.yaml").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(": guidance.dashboard = https://newrelic.example.com/"), "{}", r.stdout);
    assert!(r.stdout.contains(": guidance.logs.us-east = https://logging.example.com/"), "{}", r.stdout);
}

#[test]
fn runbook_show_applies_overrides_and_fills_defaults() {
    let dir = tempfile::tempdir().unwrap();
    // A runbook that leaves everything optional out.
    let minimal = "service: S\nnamespace: api\nselector: app=x\ncontainer: c\nenvironments:\n  prod:\n    healthz_url: https://h.example/healthz\n    regions:\n      us-south: { context: a }\n  stage:\n    healthz_url: https://s.example/healthz\n    regions:\n      us-south: { context: b }\n";
    let rb = write(dir.path(), "min.yaml", minimal);
    let args = ["--runbook", rb.to_str().unwrap(), "--env", "prod", "--context", "us-south=real-ctx"];
    let mut c = cmd();
    c.args(["runbook", "show", "--healthz-url", "https://real/healthz"]).args(args);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = r.stdout.lines().next().unwrap();
    assert!(first.starts_with('#') && first.contains(&format!("{} (--runbook)", rb.display())), "{first}");
    assert!(first.contains("--healthz-url https://real/healthz, --context us-south=real-ctx"), "{first}");
    for filled in ["expected_ready: 3", "since: 5m", "baseline: 1h", "min_errors: 5", "status: 200", "timeout: 10s"] {
        assert!(r.stdout.contains(filled), "{filled} missing:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("healthz_url: https://real/healthz") && r.stdout.contains("context: real-ctx"));
    // Only the environment asked for.
    assert!(r.stdout.contains("https://s.example/healthz") && r.stdout.contains("context: b"), "{}", r.stdout);

    let mut c = cmd();
    c.args(["runbook", "show", "-o", "json", "--healthz-url", "https://real/healthz"]).args(args);
    let j = run(c).json();
    assert_eq!(j["source"], format!("{} (--runbook)", rb.display()));
    assert_eq!(j["runbook"]["environments"]["prod"]["healthz_url"], "https://real/healthz");
    assert_eq!(j["runbook"]["environments"]["prod"]["regions"]["us-south"]["context"], "real-ctx");
    assert_eq!(j["runbook"]["environments"]["stage"]["regions"]["us-south"]["context"], "b");
    assert_eq!(j["runbook"]["logs"]["min_errors"], 5);
    assert!(j["runbook"]["logs"]["error_threshold"].is_null());

    let mut c = cmd();
    c.args(["runbook", "show", "--context", "mars=x"]);
    assert_eq!(run(c).code, 64);
}

#[test]
fn runbook_show_round_trips_to_the_same_plan() {
    let dir = tempfile::tempdir().unwrap();
    let plan_of = |runbook: Option<&std::path::Path>, extra: &[&str]| {
        let mut c = cmd();
        c.args(["diagnose", "--env", "prod", "-o", "json", "--kubeconfig", "/nonexistent/kubeconfig"]).args(extra);
        if let Some(p) = runbook {
            c.arg("--runbook").arg(p);
        }
        let mut j = run(c).json();
        // What the plan decides; not when or how long, nor the runbook's name.
        let regions: Vec<_> = j["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["name"].clone(), r["context"].clone(), r["pods"]["expected"].clone(), r["verdict"].clone()))
            .collect();
        let kinds = common::kinds(&j);
        (j["healthz"]["url"].take(), j["steps"].take(), format!("{regions:?}"), kinds)
    };
    let overrides = ["--context", "us-east=ctx-east", "--healthz-url", "http://127.0.0.1:9/healthz"];
    let mut c = cmd();
    c.args(["runbook", "show"]).args(overrides);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shown = write(dir.path(), "x.yaml", &r.stdout);
    assert_eq!(plan_of(Some(&shown), &[]), plan_of(None, &overrides));
    // And it shows the same again.
    let again = run_args(&["runbook", "show", "--runbook", shown.to_str().unwrap()]);
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&again.stdout), body(&r.stdout));
}

#[test]
fn runbook_validate_reports_the_problems_users_met_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = keysvc_check::runbook::EMBEDDED;
    let validate = |name: &str, text: &str| {
        let path = write(dir.path(), name, text);
        let mut c = cmd();
        c.current_dir(dir.path()).args(["runbook", "validate", name]);
        let r = run(c);
        assert_eq!(r.code, 78, "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(path.exists());
        for jargon in ["<input>", "-->", "error: error", "DuplicateKeyPolicy", "invalid u32", "expected one of"] {
            assert!(!r.stderr.contains(jargon), "{name}: {jargon} in\n{}", r.stderr);
        }
        r.stderr
    };
    let line_of = |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;

    let bad1 = embedded.replace("  since: 5m", "  sinse: 5m");
    let out = validate("bad1.yaml", &bad1);
    let line = line_of(&bad1, "sinse");
    assert_eq!(
        out.lines().next().unwrap(),
        format!("bad1.yaml:{line}:3: unknown key `sinse` under `logs`; did you mean `since`?")
    );

    let dup = embedded.replace("us-east: { context: prod-us-east.example }", "us-south: { context: again }");
    let out = validate("dup.yaml", &dup);
    assert!(
        out.starts_with(&format!(
            "dup.yaml:{}:7: `us-south` appears twice",
            line_of(&dup, "us-south: { context: again }")
        )),
        "{out}"
    );
    assert!(out.contains("\n  hint: keep one of them"), "{out}");

    let three = embedded.replace("expected_ready: 3", "expected_ready: three");
    let out = validate("three.yaml", &three);
    assert!(out.contains("`expected_ready` must be a whole number of at least 1, like 3, not `three`"), "{out}");

    let indent = embedded.replace(
        "    healthz_url: https://key-service.stage.example.com/healthz\n    regions:",
        "    healthz_url: https://key-service.stage.example.com/healthz\n  regions:",
    );
    let out = validate("indent.yaml", &indent);
    assert!(
        out.starts_with(&format!(
            "indent.yaml:{}:3: environment `stage` has no `regions`\n",
            line_of(&indent, "  stage:")
        )),
        "{out}"
    );
    assert!(out.contains("indentation may be the cause"), "{out}");

    // All of them at once: each once, at its own place, in file order.
    let all = embedded
        .replace("expected_ready: 3", "expected_ready: three")
        .replace("  since: 5m", "  sinse: 5m")
        .replace("us-east: { context: prod-us-east.example }", "us-south: { context: again }")
        .replace(
            "    healthz_url: https://key-service.stage.example.com/healthz\n    regions:",
            "    healthz_url: https://key-service.stage.example.com/healthz\n  regions:",
        );
    let out = validate("all.yaml", &all);
    let places: Vec<&str> = out.lines().filter(|l| l.starts_with("all.yaml:")).collect();
    assert_eq!(places.len(), 5, "{out}");
    let lines: Vec<usize> = places.iter().map(|l| l.split(':').nth(1).unwrap().parse().unwrap()).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(lines, sorted, "{out}");
    assert!(
        out.ends_with(
            "keysvc-check: 5 problems in all.yaml; `keysvc-check runbook init starter.yaml` writes a \
             commented starter runbook to compare with\n"
        ),
        "{out}"
    );

    // Any other command stops at the first, in the same one-line form.
    let mut c = cmd();
    c.current_dir(dir.path()).args(["pods", "--env", "prod", "--runbook", "all.yaml"]);
    let r = run(c);
    assert_eq!(r.code, 78);
    assert!(r.stderr.starts_with(&format!("keysvc-check: error: {}\n", places[0])), "{}", r.stderr);
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
        (
            "wrong-type.yaml",
            keysvc_check::runbook::EMBEDDED.replace("expected_ready: 3", "expected_ready: three"),
            "`expected_ready` must be a whole number",
        ),
        (
            "duplicate.yaml",
            keysvc_check::runbook::EMBEDDED
                .replace("us-east: { context: prod-us-east.example }", "us-south: { context: again }"),
            "appears twice",
        ),
        (
            "empty.yaml",
            "service: S\nnamespace: a\nselector: a=b\ncontainer: c\nenvironments: {}\n".into(),
            "environments",
        ),
        ("malformed.yaml", "service: [unclosed\n".into(), "not valid YAML"),
    ];
    for (name, text, needle) in cases {
        let path = write(dir.path(), name, text);
        let r = run_args(&["runbook", "validate", path.to_str().unwrap()]);
        assert_eq!(r.code, 78, "{name}: {}", r.stderr);
        // `FILE:LINE:COL: message`, the file named as given, once per problem.
        let first = r.stderr.lines().next().unwrap();
        assert!(first.starts_with(&format!("{}:", path.display())), "{name}: {first}");
        let loc: Vec<&str> = first.split(':').collect();
        assert!(
            loc[1].trim().parse::<u32>().is_ok() && loc[2].trim().parse::<u32>().is_ok(),
            "{name}: no line:column in {first}"
        );
        assert!(first.contains(needle), "{name}: {first}");
        assert_eq!(r.stderr.matches(&format!("{}:", path.display())).count(), 1, "{name}: {}", r.stderr);
        assert!(r.stderr.lines().last().unwrap().starts_with("keysvc-check: 1 problem in "), "{name}: {}", r.stderr);
        // Pointing at the command just run would be no help.
        assert!(!r.stderr.contains("runbook validate"), "{name}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"));
    }
    // The same errors stop any command that uses the runbook.
    let bad = dir.path().join("bad-duration.yaml");
    let r = run_args(&["diagnose", "--env", "prod", "--runbook", bad.to_str().unwrap()]);
    assert_eq!(r.code, 78);
    let first = r.stderr.lines().next().unwrap();
    assert!(first.starts_with(&format!("keysvc-check: error: {}:", bad.display())), "{first}");
    assert!(first.contains("not a duration"), "{first}");
    // Other commands point at `runbook validate` to see every problem.
    assert!(
        r.stderr.contains(&format!("hint: `keysvc-check runbook validate {}` lists every problem", bad.display())),
        "{}",
        r.stderr
    );
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
    // The script asks the binary for candidates (tests/shell.rs runs it).
    assert!(r.stdout.contains("COMPLETE=\"bash\"") && r.stdout.contains("complete -o nospace"), "{}", r.stdout);
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
    assert_eq!(j["next_steps"][0]["command"], "keysvc-check runbook init", "{}", j["next_steps"]);
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
    // One next step for the whole run, and no command: the same
    // kubeconfig fails the same way, and only the user can name another.
    let steps = j["next_steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{}", j["next_steps"]);
    assert_eq!(steps[0]["region"], serde_json::Value::Null);
    assert!(steps[0]["text"].as_str().unwrap().contains("pass --kubeconfig FILE or set KUBECONFIG"), "{}", steps[0]);
    assert_eq!(steps[0]["command"], serde_json::Value::Null, "{}", steps[0]);
    // Named by KUBECONFIG, not a flag: a bare re-run would fail the same
    // way, so none is printed either.
    let mut c = cmd();
    c.args(["pods", "--env", "prod", "-o", "json"]).args(REAL_CONTEXTS).env("KUBECONFIG", "/nonexistent/kubeconfig");
    let r = run(c);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let j = r.json();
    let steps = j["next_steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{}", j["next_steps"]);
    assert_eq!(steps[0]["command"], serde_json::Value::Null, "{}", steps[0]);
}

#[test]
fn malformed_or_unusable_kubeconfig_is_reported_per_region() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "kubeconfig", "apiVersion: v1\nclusters: [oops\n");
    for path in [bad.clone(), dir.path().to_path_buf()] {
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
        // Said once, and the advice is to fix the file, not the credentials.
        let f: Vec<&serde_json::Value> =
            j["findings"].as_array().unwrap().iter().filter(|f| f["kind"] == "not_checked").collect();
        assert_eq!(f.len(), 1, "{}", j["findings"]);
        assert_eq!(f[0]["regions"], serde_json::json!(["us-south", "us-east", "eu-de"]));
        let steps = j["next_steps"].as_array().unwrap();
        assert_eq!(steps.len(), 1, "{}", j["next_steps"]);
        let text = steps[0]["text"].as_str().unwrap();
        assert!(text.contains(&format!("fix or replace the kubeconfig {}", path.display())), "{text}");
        assert!(!text.contains("credentials"), "{text}");
        assert_eq!(steps[0]["command"], serde_json::Value::Null, "{}", steps[0]);
    }
    // The parser's complaint in one line, with where it is.
    let mut c = cmd();
    c.args(["pods", "--env", "prod", "--timeout", "5s"]).arg("--kubeconfig").arg(&bad).args(REAL_CONTEXTS);
    let r = run(c);
    let line = r.stdout.lines().find(|l| l.contains("pods not checked")).unwrap_or_else(|| panic!("{}", r.stdout));
    let want = format!("kubeconfig {} is not valid YAML (line 2, column ", bad.display());
    assert!(line.contains(&want) && line.ends_with(')'), "{line}");
    assert!(!r.stdout.contains("\\x0a") && !r.stdout.contains("refresh"), "{}", r.stdout);
    assert_eq!(r.stdout.matches("is not valid YAML").count(), 1, "said once, not per region: {}", r.stdout);
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

/// `diagnose --watch` with the embedded runbook: every run is placeholders
/// only (exit 78) and ends at once, so the watch goes on until stopped.
fn spawn_watch(args: &[&str]) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>) {
    let mut c = cmd();
    c.args(["diagnose", "--env", "prod", "--watch", "1s"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

fn wait_within(child: &mut std::process::Child, limit: std::time::Duration) -> i32 {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the watch still runs after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_between_watch_runs_exits_with_the_last_runs_code() {
    use std::io::BufRead;
    let (mut child, mut out) = spawn_watch(&[]);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains(" UNKNOWN us-south=unknown us-east=unknown eu-de=unknown"), "{line}");
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert_eq!(wait_within(&mut child, std::time::Duration::from_secs(5)), 78, "placeholders only: 78");
}

#[test]
fn a_closed_pipe_ends_the_watch_quietly() {
    use std::io::BufRead;
    let (mut child, mut out) = spawn_watch(&["-o", "json"]);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let j = common::json(&line);
    assert_eq!(j["service"]["verdict"], "unknown");
    drop(out);
    assert_eq!(wait_within(&mut child, std::time::Duration::from_secs(10)), 78);
}

#[test]
fn a_selector_or_namespace_kubernetes_would_refuse_stops_every_command_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        keysvc_check::runbook::EMBEDDED.replace("selector: app=api-key-service", "selector: app==api key service");
    let line = text.lines().position(|l| l.starts_with("selector:")).unwrap() + 1;
    let path = write(dir.path(), "rb.yaml", &text);
    let r = run_args(&["runbook", "validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 78, "{}", r.stderr);
    let first = r.stderr.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{}:{line}:11: `selector` `app==api key service` is not a label selector: `key` where `,` or the end was expected (a value cannot contain spaces)",
            path.display()
        )
    );
    assert!(r.stderr.contains("e.g. app=my-api,tier=web"), "{}", r.stderr);
    // Every command loads the runbook, so none gets as far as a cluster.
    for verb in ["diagnose", "doctor", "pods"] {
        let mut c = cmd();
        c.args([verb, "--env", "prod", "--runbook"]).arg(&path);
        let r = run(c);
        assert_eq!(r.code, 78, "{verb}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("is not a label selector"), "{verb}: {}", r.stderr);
    }
    let text = keysvc_check::runbook::EMBEDDED.replace("namespace: api", "namespace: Key_Service");
    let path = write(dir.path(), "ns.yaml", &text);
    let r = run_args(&["runbook", "validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert!(r.stderr.contains("`namespace` `Key_Service` is not a namespace name"), "{}", r.stderr);
}

#[test]
fn durations_in_other_units_are_refused_with_the_flag_and_what_to_write() {
    for (args, said) in [
        (
            &["healthz", "--env", "prod", "--timeout", "10M"][..],
            "'--timeout <DURATION>': `10M` is not a duration; write 10m for minutes",
        ),
        (
            &["logs", "--env", "prod", "--since", "1d"][..],
            "'--since <DURATION>': `1d` is not a duration; write 24h for days",
        ),
        (
            &["diagnose", "--env", "prod", "--watch", "5 m"][..],
            "'--watch [<INTERVAL>]': `5 m` is not a duration; write 5m",
        ),
    ] {
        let r = run_args(args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        let first = r.stderr.lines().next().unwrap();
        assert!(first.starts_with("error: invalid value ") && first.contains(said), "{args:?}: {first}");
    }
    let r =
        run_args(&["healthz", "--env", "prod", "--timeout", "1h30m", "--healthz-url", "http://127.0.0.1:9/healthz"]);
    assert_ne!(r.code, 64, "{}", r.stderr);
    // In the runbook: the key, the line and what to write.
    let dir = tempfile::tempdir().unwrap();
    let text = keysvc_check::runbook::EMBEDDED.replace("  since: 5m\n", "  since: 5M\n");
    let line = text.lines().position(|l| l == "  since: 5M").unwrap() + 1;
    let path = write(dir.path(), "rb.yaml", &text);
    let r = run_args(&["runbook", "validate", path.to_str().unwrap()]);
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "{}:{line}:10: `logs.since`: `5M` is not a duration; write 5m for minutes",
            path.display()
        )),
        "{}",
        r.stderr
    );
}

/// `logs --file` with `args` after it, no kubeconfig anywhere.
fn log_file(args: &[&str], stdin: Option<&str>) -> common::Run {
    use std::io::Write;
    let mut c = cmd();
    c.args(["logs", "--file"]).args(args).env("KUBECONFIG", "/nonexistent/kubeconfig");
    let Some(text) = stdin else { return run(c) };
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: std::time::Duration::ZERO,
    }
}

const SAVED_JSON: &str = concat!(
    "{\"level\":\"info\",\"msg\":\"ERROR budget at 3%, request served\",\"request_id\":\"req-1\"}\n",
    "{\"level\":\"error\",\"msg\":\"upstream timeout\",\"error\":\"deadline exceeded after 3000ms\",\"password\":\"hunter2-Sup3r\"}\n",
    "{\"level\":\"error\",\"msg\":\"upstream timeout\",\"error\":\"deadline exceeded after 2500ms\",\"password\":\"hunter2-Sup3r\"}\n",
    "{\"level\":\"error\",\"msg\":\"signing key kid-7 not found\"}\n",
);

#[test]
fn logs_file_counts_and_groups_a_saved_json_log_without_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "app.log", SAVED_JSON);
    let r = log_file(&[file.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("app.log: 4 lines, 3 error entries in 2 templates"), "{}", r.stdout);
    assert!(r.stdout.contains("Format: json"), "{}", r.stdout);
    assert!(r.stdout.contains("2× upstream timeout: deadline exceeded after <*>"), "{}", r.stdout);
    assert!(!r.stdout.contains("hunter2"), "a secret is shown:\n{}", r.stdout);
    assert!(!r.stderr.contains("kubeconfig"), "{}", r.stderr);
}

#[test]
fn logs_file_reads_kubectl_prefix_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        "[pod/api-1/api] 2026-01-02T03:04:05.123456789Z E1204 03:04:05.123456 1 keys.go:41] dial tcp 10.0.0.7:5432: connection refused\n",
        "[pod/api-2/api] 2026-01-02T03:04:06.000000000Z I1204 03:04:06.000000 1 server.go:88] served\n",
        "[pod/api-2/api] 2026-01-02T03:05:07.000000000Z E1204 03:05:07.000000 1 keys.go:41] dial tcp 10.0.0.8:5432: connection refused\n",
    );
    let file = write(dir.path(), "prefixed.log", text);
    let r = log_file(&[file.to_str().unwrap(), "-o", "json"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["schema"], "keysvc-check/logfile/v1");
    assert_eq!((j["lines"].as_u64(), j["error_lines"].as_u64()), (Some(3), Some(2)));
    assert_eq!(j["formats"], serde_json::json!({ "klog": 3 }));
    let g = &j["top_errors"][0];
    assert_eq!(g["pattern"], "dial tcp <*>: connection refused", "{g}");
    assert_eq!((g["count"].as_u64(), g["first_seen"].as_str()), (Some(2), Some("2026-01-02T03:04:05.123456789Z")));
    assert_eq!(g["last_seen"], "2026-01-02T03:05:07Z");
    let streams: Vec<&str> = j["streams"].as_array().unwrap().iter().map(|s| s["stream"].as_str().unwrap()).collect();
    assert_eq!(streams, ["pod/api-1/api", "pod/api-2/api"]);
    // The text says when.
    let r = log_file(&[file.to_str().unwrap()], None);
    assert!(r.stdout.contains("seen 2026-01-02T03:04:05Z … 2026-01-02T03:05:07Z"), "{}", r.stdout);
    assert!(r.stdout.contains("pod/api-2/api: 2 lines, 1 error entry, klog"), "{}", r.stdout);
}

#[test]
fn logs_file_reads_standard_input_with_the_runbooks_log_keys() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = write(
        dir.path(),
        "rb.yaml",
        &keysvc_check::runbook::EMBEDDED.replacen(
            "\nlogs:\n",
            "\nlogs:\n  level_field: sev\n  message_field: text\n",
            1,
        ),
    );
    let lines = "{\"sev\":\"I\",\"text\":\"ERROR budget fine\"}\n{\"sev\":\"E\",\"text\":\"db down\"}\n";
    let r = log_file(&["-", "--runbook", runbook.to_str().unwrap(), "-o", "json"], Some(lines));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!((j["file"].as_str(), j["error_lines"].as_u64()), (Some("-"), Some(1)));
    assert_eq!(j["top_errors"][0]["pattern"], "db down");
    // Without the keys, the level is not found: the wrong line is the error.
    let r = log_file(&["-", "-o", "json"], Some(lines));
    let j = r.json();
    assert_eq!(j["top_errors"].as_array().unwrap().len(), 1, "{j}");
    assert!(j["top_errors"][0]["pattern"].as_str().unwrap().contains("ERROR budget fine"), "{j}");
}

#[test]
fn logs_file_refuses_a_missing_file_and_cluster_flags_in_one_line() {
    let r = log_file(&["/nonexistent/app.log"], None);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("--file /nonexistent/app.log: no such file"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let r = log_file(&["/tmp", "--env", "prod"], None);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("--file <PATH>") && r.stderr.contains("--env <ENV>"), "{}", r.stderr);
    // The cluster commands' variables set in the shell are left unused.
    let mut c = cmd();
    c.args(["logs", "--file", "-"]).env("KEYSVC_ENV", "prod").env("KEYSVC_REGION", "us-east");
    assert_eq!(run(c).code, 0);
    let r = log_file(&["/tmp"], None);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("--file /tmp: it is a directory"), "{}", r.stderr);
}
