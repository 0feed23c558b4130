//! Each output format where it is read: tables in a real terminal (tmux) at
//! 80 and 200 columns, tables on a pipe, and `-o markdown`, from real runs
//! against the test environment or a local healthz server.

use std::process::{Command, Stdio};

use crate::common::case::Case;
use crate::common::tmux::{Screen, Tmux};
use crate::common::{BIN, cmd, run, write};
use keysvc_check::render::fit::display_width;
use keysvc_testenv::{Behavior, HealthzServer, Scenario};
use serde_json::Value;

/// How these tests run the binary: `VERB --env test --runbook R --kubeconfig K EXTRA`.
trait Runs {
    fn args(&self, verb: &str, extra: &[&str]) -> Vec<String>;
    fn json(&self, verb: &str) -> Value;
}

impl Runs for Case {
    /// The command line for `verb` against this case, program first.
    fn args(&self, verb: &str, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![BIN.into()];
        a.extend(self.line(&[verb]).after(extra).words());
        a
    }

    fn json(&self, verb: &str) -> Value {
        let mut c = cmd();
        c.args(&self.args(verb, &["-o", "json"])[1..]);
        run(c).json()
    }
}

/// The commands of the report's next steps: printed whole on purpose, so
/// the terminal wraps them.
fn commands(j: &Value) -> Vec<String> {
    j["next_steps"].as_array().unwrap().iter().filter_map(|s| s["command"].as_str().map(str::to_string)).collect()
}

fn assert_fits(s: &Screen, width: usize, commands: &[String]) {
    assert!(s.lines.len() > 5, "nothing shown:\n{}", s.text());
    for line in &s.lines {
        let command = commands.iter().any(|c| line.trim() == c);
        assert!(display_width(line) <= width || command, "wider than {width}: {line:?}\n{}", s.text());
    }
}

/// `word` is shown whole: some word on the screen holds all of it.
fn assert_whole(text: &str, word: &str) {
    assert!(text.split_whitespace().any(|t| t.contains(word)), "{word} is cut or missing:\n{text}");
}

fn line_with<'a>(s: &'a Screen, needles: &[&str]) -> &'a str {
    s.lines
        .iter()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with all of {needles:?}:\n{}", s.text()))
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn pods_table_fits_80_and_200_columns_with_every_name_whole() {
    let c = Case::new("t-tty-pods").scenario("us-east", Scenario::CrashLoop).build();
    let crashing = c.pods[1][2].as_str();
    let cmds = commands(&c.json("pods"));
    for width in [80, 200] {
        let s = Tmux::start(width).run(&[], &c.args("pods", &[]));
        assert_eq!(s.code, 1, "{}", s.text());
        assert_fits(&s, width.into(), &cmds);
        for name in c.pods.iter().flatten() {
            assert_whole(&s.text(), name);
        }
        // The pod and its status on one line, as `kubectl get po` prints them.
        let row = line_with(&s, &[crashing, "0/1", "CrashLoopBackOff", "7 ("]);
        let header = line_with(&s, &["REGION", "POD", "STATUS"]);
        if width == 80 {
            assert!(!header.contains("NODE") && !header.contains("AGE"), "NODE and AGE go first: {header}");
        } else {
            assert!(header.contains("AGE") && header.contains("NODE"), "{header}");
            assert!(row.contains("node-us-east"), "{row}");
        }
    }
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn diagnose_fits_80_and_200_columns_and_the_note_moves_to_the_findings() {
    let c = Case::new("t-tty-diag").scenario("us-east", Scenario::CrashLoop).build();
    let crashing = c.pods[1][2].as_str();
    let cmds = commands(&c.json("diagnose"));
    assert!(!cmds.is_empty());
    for width in [80, 200] {
        let s = Tmux::start(width).run(&[], &c.args("diagnose", &[]));
        assert_eq!(s.code, 1, "{}", s.text());
        assert_fits(&s, width.into(), &cmds);
        for command in &cmds {
            assert!(s.lines.iter().any(|l| l.trim() == command), "command not whole on a line: {command}");
        }
        let header = line_with(&s, &["REGION", "PODS READY", "VERDICT"]);
        let row = line_with(&s, &["us-east", "2/3", "degraded"]);
        if width == 80 {
            assert!(!header.contains("NOTE"), "{header}");
        } else {
            assert!(header.contains("NOTE") && row.contains("CrashLoopBackOff"), "{header}\n{row}");
        }
        // What the note said is in the findings, whatever the width.
        assert!(s.text().contains(&format!("us-east: {crashing} CrashLoopBackOff")), "{}", s.text());
        assert!(s.escaped.contains("\u{1b}["), "colour on a terminal:\n{}", s.escaped);
    }
}

#[test]
#[ignore = "needs tmux (tests/run-all.sh installs it)"]
fn colour_and_width_on_a_terminal_and_not_with_no_color() {
    let server = HealthzServer::start(Behavior::Healthy);
    let args: Vec<String> = [BIN, "healthz", "--env", "prod", "--healthz-url", &server.url].map(String::from).to_vec();
    let mut t = Tmux::start(80);

    let s = t.run(&[], &args);
    assert_eq!(s.code, 0, "{}", s.text());
    assert_fits(&s, 80, &[format!("keysvc-check diagnose --env prod --healthz-url {}", server.url)]);
    assert!(s.escaped.contains("\u{1b}["), "no colour on a terminal:\n{}", s.escaped);
    // The reply is wider than 80 columns: it wraps under its label.
    let reply = s.lines.iter().position(|l| l.starts_with("  Reply:   {")).expect("reply line");
    assert!(s.lines[reply + 1].starts_with(&" ".repeat(11)), "{}", s.text());

    let plain = t.run(&[("NO_COLOR", "1")], &args);
    assert_eq!(plain.code, 0);
    assert!(!plain.escaped.contains('\u{1b}'), "colour despite NO_COLOR:\n{}", plain.escaped);
    assert!(plain.text().contains("HEALTHY"), "{}", plain.text());

    // COLUMNS is the terminal's width when set: now the reply fits on its line.
    let wide = t.run(&[("COLUMNS", "200")], &args);
    let line = wide.lines.iter().find(|l| l.starts_with("  Reply:   {")).unwrap();
    assert!(line.ends_with('}') && line.contains(&server.url), "{}", wide.text());
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn on_a_pipe_grep_finds_the_whole_pod_row() {
    let c = Case::new("t-pipe").scenario("us-east", Scenario::CrashLoop).build();
    let crashing = c.pods[1][2].as_str();
    // COLUMNS is a terminal's width: a pipe has none, whatever it says.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{} | grep CrashLoopBackOff", keysvc_check::shell::shell_join(&c.args("pods", &[]))))
        .env("COLUMNS", "40")
        .env_remove("NO_COLOR")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with("us-east")).unwrap_or_else(|| panic!("no pod row:\n{text}"));
    for col in [crashing, "0/1", "CrashLoopBackOff", "7 (", "ago)", "node-us-east"] {
        assert!(row.contains(col), "{col} missing from the row: {row}");
    }
    assert!(display_width(row) > 40 && !row.contains('\u{1b}'), "{row:?}");
}

/// Names, ports, paths and times differ per run.
fn redact(c: &Case, text: &str) -> String {
    let mut t = text.replace(&c.healthz.url, "http://127.0.0.1:[port]/healthz");
    t = t.replace(c.kubeconfig.to_str().unwrap(), "[kubeconfig]");
    t = t.replace(c.runbook.to_str().unwrap(), "[runbook]");
    for (i, pods) in c.pods.iter().enumerate() {
        for (k, p) in pods.iter().enumerate() {
            t = t.replace(p.as_str(), &format!("[pod-{i}-{k}]"));
        }
    }
    t
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn markdown_of_a_real_run() {
    let c = Case::new("t-markdown").scenarios(&[("us-east", Scenario::CrashLoop), ("eu-de", Scenario::NoPods)]).build();
    let mut outputs = vec![];
    for verb in ["diagnose", "healthz", "pods", "logs"] {
        let mut command = cmd();
        command.args(&c.args(verb, &["-o", "markdown"])[1..]);
        let r = run(command);
        assert!(r.code == 1 || r.code == 0 || r.code == 2, "{verb}: {}\n{}", r.stdout, r.stderr);
        let md = &r.stdout;
        assert!(md.starts_with("## Key Service API (test): "), "{md}");
        assert!(md.lines().any(|l| l.starts_with("| --- |")), "{verb}: no table\n{md}");
        // The command that produced it, with the program's name, not its path.
        let argv = c.args(verb, &["-o", "markdown"]);
        let shown = keysvc_check::shell::shell_join(&[&["keysvc-check".to_string()], &argv[1..]].concat());
        assert!(md.ends_with(&format!("```\n{shown}\n```\n")), "{verb}:\n{md}");
        assert!(!md.contains(" │ "), "{verb}: no streamed log lines in the report:\n{md}");
        outputs.push(r.stdout);
    }
    insta::with_settings!({filters => vec![
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[time]"),
        (r"\d+ ms\b", "[ms] ms"),
        (r"\d+m ago", "[age] ago"),
        (r"\| \d+[smhd] \|", "| [age] |"),
    ]}, {
        insta::assert_snapshot!("markdown_diagnose", redact(&c, &outputs[0]));
        insta::assert_snapshot!("markdown_pods", redact(&c, &outputs[2]));
    });
}

#[test]
#[ignore = "needs the test cluster and tmux (tests/run-all.sh)"]
fn doctor_at_80_columns_keeps_the_runbook_what_is_optional_and_the_cause() {
    let c = Case::new("t-tty-doctor").build();
    // us-east as the nologs user (one required permission missing); eu-de
    // through a credential plugin that is not installed.
    let mut kc: Value = serde_json::from_str(&std::fs::read_to_string(&c.kubeconfig).unwrap()).unwrap();
    let exec = serde_json::json!({"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "keysvc-no-such-plugin", "interactiveMode": "Never"}});
    kc["users"].as_array_mut().unwrap().push(serde_json::json!({"name": "plugin", "user": exec}));
    kc["contexts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "plugin@eu-de", "context": {"cluster": "eu-de", "user": "plugin"}}));
    let kubeconfig = write(c.dir.path(), "kubeconfig", &kc.to_string());
    let mut args = c.args("doctor", &["--context", "us-east=nologs@us-east", "--context", "eu-de=plugin@eu-de"]);
    let at = args.iter().position(|a| a == "--kubeconfig").unwrap();
    args[at + 1] = kubeconfig.display().to_string();
    let s = Tmux::start(80).run(&[], &args);
    assert_eq!(s.code, 1, "{}", s.text());
    assert_fits(&s, 80, &[]);
    let text = s.text();
    // The runbook row names the file.
    assert!(line_with(&s, &["runbook", "ok"]).contains(c.runbook.file_name().unwrap().to_str().unwrap()), "{text}");
    // The required permission reads unlike the optional ones.
    assert!(!line_with(&s, &["get pods/log", "us-east", "missing"]).contains("(optional)"), "{text}");
    for optional in ["list events", "get replicasets.apps", "list deployments.apps"] {
        assert!(line_with(&s, &[optional, "us-east", "missing"]).contains("(optional)"), "{text}");
    }
    // The cause of a failure, not only its fix.
    let start = s.lines.iter().position(|l| l.starts_with("context") && l.contains("eu-de")).unwrap();
    let row: Vec<&str> = s.lines[start..].iter().take(4).map(String::as_str).collect();
    assert!(row.join(" ").contains("keysvc-no-such-plugin not found"), "{text}");
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn slack_of_a_real_run_and_the_healthz_body_in_both_pasted_formats() {
    let c = Case::new("t-slack").scenarios(&[("us-east", Scenario::CrashLoop), ("eu-de", Scenario::NoPods)]).build();
    for verb in ["diagnose", "healthz", "pods", "logs"] {
        let mut command = cmd();
        command.args(&c.args(verb, &["-o", "slack"])[1..]);
        let r = run(command);
        assert!(matches!(r.code, 0..=2), "{verb}: {}\n{}", r.stdout, r.stderr);
        let s = &r.stdout;
        assert!(s.starts_with("*Key Service API (test): "), "{verb}:\n{s}");
        for github in ["## ", "**", "| --- |", "\\|", "\\<", "\\`"] {
            assert!(!s.contains(github), "{verb}: {github:?} in\n{s}");
        }
        // Slack's three escapes: a `<` opens a link, a `&` is an entity.
        assert!(s.match_indices('<').all(|(i, _)| s[i..].starts_with("<http")), "{verb}:\n{s}");
        assert!(s.match_indices('&').all(|(i, _)| ["&amp;", "&lt;", "&gt;"].iter().any(|e| s[i..].starts_with(e))));
        // The table as aligned text in a code block, its first line the header.
        let table: Vec<&str> = s.split("```\n").nth(1).unwrap().lines().collect();
        assert!(table[0].starts_with("Region  ") || table[0].starts_with("Check  "), "{verb}:\n{s}");
        let argv = c.args(verb, &["-o", "slack"]);
        let shown = keysvc_check::shell::shell_join(&[&["keysvc-check".to_string()], &argv[1..]].concat());
        assert!(s.ends_with(&format!("*Command*\n```\n{shown}\n```\n")), "{verb}:\n{s}");
    }
    let mut command = cmd();
    command.args(&c.args("diagnose", &["-o", "slack"])[1..]);
    let s = run(command).stdout;
    assert!(s.contains(&format!("Healthz <{0}|{0}>: *pass*", c.healthz.url)), "{s}");
    let east = s.lines().find(|l| l.starts_with("us-east ")).unwrap();
    assert!(east.contains("CrashLoopBackOff"), "{s}");

    // A reply that is not the JSON expected: its body, as the text output shows it.
    c.healthz.set(Behavior::html(502, "<html>bad gateway</html>"));
    let mut text = cmd();
    text.args(&c.args("healthz", &[])[1..]);
    let text = run(text).stdout;
    assert!(text.contains("Body:    <html>bad gateway</html>"), "{text}");
    for (format, body) in
        [("markdown", r"body: \<html\>bad gateway\</html\>"), ("slack", "body: &lt;html&gt;bad gateway&lt;/html&gt;")]
    {
        let mut command = cmd();
        command.args(&c.args("healthz", &["-o", format])[1..]);
        let out = run(command).stdout;
        assert!(out.contains(body), "{format}:\n{out}");
    }
}

/// The command in the report's last code block (`### Command` or `*Command*`).
fn command_block(report: &str) -> String {
    let blocks: Vec<&str> = report.split("```\n").collect();
    assert!(blocks.len() >= 3, "no code block:\n{report}");
    blocks[blocks.len() - 2].trim_end().to_string()
}

/// The report without what changes from one run to the next (times, ages,
/// latencies).
fn steady(report: &str) -> String {
    let mut s = report.to_string();
    for (re, to) in [
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[time]"),
        (r"\d+ ms\b", "[ms] ms"),
        (r"\d+m ago", "[age] ago"),
        (r"\d+[smhd]\b", "[age]"),
    ] {
        s = regex::Regex::new(re).unwrap().replace_all(&s, to).into_owned();
    }
    s
}

#[test]
#[ignore = "needs the test cluster (tests/run-all.sh)"]
fn the_command_block_pasted_elsewhere_runs_the_same_check() {
    let c = Case::new("t-command-block").scenario("us-east", Scenario::CrashLoop).build();
    // Relative paths in a directory of their own, the environment, the
    // region and the timeout from variables, a context alone.
    let here = tempfile::tempdir().unwrap();
    std::fs::copy(&c.runbook, here.path().join("one.yaml")).unwrap();
    std::fs::copy(&c.kubeconfig, here.path().join("kc.yaml")).unwrap();
    let typed = |args: &[&str]| {
        let mut command = cmd();
        command
            .current_dir(here.path())
            .env("KEYSVC_ENV", "test")
            .env("KEYSVC_REGION", "us-east")
            .env("KEYSVC_TIMEOUT", "20s")
            .args(args)
            .args(["--runbook", "one.yaml", "--kubeconfig", "kc.yaml", "--context", "oncall@us-east"]);
        run(command)
    };
    // Pasted: by a shell in another directory, with no KEYSVC_* variable.
    let elsewhere = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for (args, format) in [
        (&["pods", "-o", "markdown"][..], "markdown"),
        (&["logs", "--since", "2m", "--tail", "3", "--grep", "error|panic", "-o", "slack"], "slack"),
    ] {
        let first = typed(args);
        assert_eq!(first.code, 1, "{args:?}: {}\n{}", first.stdout, first.stderr);
        let shown = command_block(&first.stdout);
        let here_path = here.path().display().to_string();
        for word in ["--env test", "--region us-east", "--timeout 20s", "--context us-east=oncall@us-east"] {
            assert!(shown.contains(word), "{format}: {word} missing from {shown}");
        }
        assert!(shown.contains(&format!("--runbook {here_path}/one.yaml")), "{format}: {shown}");
        assert!(shown.contains(&format!("--kubeconfig {here_path}/kc.yaml")), "{format}: {shown}");
        // The variables the binary's runs are kept from, kept from the shell too.
        let mut pasted = Command::new("sh");
        for (k, v) in cmd().get_envs() {
            match v {
                Some(v) => pasted.env(k, v),
                None => pasted.env_remove(k),
            };
        }
        pasted.current_dir(elsewhere.path()).env("PATH", &path).stdin(Stdio::null()).args(["-c", &shown]);
        let pasted = run(pasted);
        assert_eq!(pasted.code, first.code, "{format}: pasted `{shown}`:\n{}\n{}", pasted.stdout, pasted.stderr);
        // The same report, the runbook named as each run was given it.
        let runbook_as_typed = "Runbook: one.yaml (--runbook)".to_string();
        let runbook_pasted = format!("Runbook: {here_path}/one.yaml (--runbook)");
        assert!(first.stdout.contains(&runbook_as_typed), "{format}:\n{}", first.stdout);
        assert!(pasted.stdout.contains(&runbook_pasted), "{format}:\n{}", pasted.stdout);
        let first = first.stdout.replace(&runbook_as_typed, &runbook_pasted);
        assert_eq!(steady(&pasted.stdout), steady(&first), "{format}: pasted `{shown}`");
    }
}
