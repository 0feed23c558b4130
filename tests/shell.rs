//! Shell integration: the completion scripts ask keysvc-check for the
//! runbook's environments and regions (in a real bash; fish and zsh when
//! installed), and the man page.

mod common;

use std::path::Path;
use std::process::Command;

use common::{BIN, cmd, run, runbook_text, write};

/// A shell with only the binary's directory added to PATH and no runbook
/// settings or config file of the user's.
fn shell(program: &str, home: &Path) -> Command {
    let mut c = Command::new(program);
    let dir = Path::new(BIN).parent().unwrap();
    c.env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"));
    c
}

/// What bash completes for the last word of `line` (ending in a space:
/// an empty word), with `env` set.
fn bash_complete(home: &Path, env: &[(&str, &str)], line: &str) -> Vec<String> {
    let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
    let current = words.len() - 1;
    let quoted: Vec<String> = words.drain(..).map(|w| keysvc_check::shell::shell_word(&w)).collect();
    let script = format!(
        "source <(keysvc-check completions bash) || exit 9\n\
         COMP_WORDS=({words}); COMP_CWORD={current}; COMP_LINE={line}; COMP_POINT=${{#COMP_LINE}}\n\
         _clap_complete_keysvc_check keysvc-check \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" "),
        line = keysvc_check::shell::shell_word(line),
    );
    let mut c = shell("bash", home);
    c.envs(env.iter().copied()).args(["-c", &script]);
    let out = c.output().expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[test]
fn bash_completes_env_and_region_from_the_effective_runbook() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert_eq!(bash_complete(h, &[], "keysvc-check diag"), ["diagnose"]);
    // The embedded runbook.
    assert_eq!(bash_complete(h, &[], "keysvc-check diagnose --env "), ["prod", "stage", "dev"]);
    assert_eq!(bash_complete(h, &[], "keysvc-check pods --env prod --region "), ["us-south", "us-east", "eu-de"]);
    assert_eq!(bash_complete(h, &[], "keysvc-check diagnose --env st"), ["stage"]);
    assert_eq!(bash_complete(h, &[], "keysvc-check runbook show --env "), ["prod", "stage", "dev"]);
    // A --runbook FILE on the line, or KEYSVC_RUNBOOK: its names.
    let text = runbook_text("api", "https://h.example/healthz", &|r| format!("ctx-{r}"), "");
    let text = text.replace("us-east", "ap-north");
    let rb = write(h, "mine.yaml", &text);
    let rb = rb.display().to_string();
    assert_eq!(bash_complete(h, &[], &format!("keysvc-check diagnose --runbook {rb} --env ")), ["test"]);
    let regions = bash_complete(h, &[], &format!("keysvc-check logs --runbook {rb} --region "));
    assert_eq!(regions, ["us-south", "ap-north", "eu-de"]);
    assert_eq!(bash_complete(h, &[("KEYSVC_RUNBOOK", &rb)], "keysvc-check diagnose --env "), ["test"]);
    // The config file, when there is one.
    std::fs::create_dir_all(h.join("config/keysvc-check")).unwrap();
    std::fs::write(h.join("config/keysvc-check/runbook.yaml"), &text).unwrap();
    assert_eq!(bash_complete(h, &[], "keysvc-check healthz --env "), ["test"]);
}

#[test]
fn fish_and_zsh_scripts_ask_keysvc_check_for_candidates() {
    for (sh, call) in [("fish", "COMPLETE=fish keysvc-check --"), ("zsh", "COMPLETE=\"zsh\"")] {
        let mut c = cmd();
        c.args(["completions", sh]);
        let r = run(c);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains(call), "{sh}: {}", r.stdout);
    }
    // The call back itself, as fish makes it: one candidate per line.
    let home = tempfile::tempdir().unwrap();
    let mut c = shell(BIN, home.path());
    c.env("COMPLETE", "fish").args(["--", "keysvc-check", "diagnose", "--env", ""]);
    let out = c.output().unwrap();
    let envs: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    assert_eq!(envs, ["prod", "stage", "dev"]);
    // In the shells themselves when they are installed.
    if Command::new("fish").arg("--version").output().is_ok() {
        let script = "keysvc-check completions fish | source; complete --do-complete 'keysvc-check diagnose --env '";
        let out = shell("fish", home.path()).args(["-c", script]).output().unwrap();
        let got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).collect();
        assert_eq!(got, ["prod", "stage", "dev"], "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn the_man_page_is_roff_and_documents_the_commands() {
    let mut c = cmd();
    c.arg("man");
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let th = r.stdout.lines().position(|l| l.starts_with(".TH keysvc-check 1"));
    assert!(th.is_some_and(|i| i < 3), "{}", r.stdout);
    assert!(r.stdout.contains("diagnose") && r.stdout.contains("\\-\\-timeout"), "{}", r.stdout);
}

#[test]
fn flags_that_mean_nothing_to_a_command_are_refused() {
    for args in [&["completions", "bash", "--timeout", "3s"][..], &["man", "--kubeconfig", "k"]] {
        let mut c = cmd();
        c.args(args);
        let r = run(c);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains("does not apply to `keysvc-check"), "{}", r.stderr);
    }
    let mut c = cmd();
    c.args(["completions", "--help"]);
    let r = run(c);
    assert!(r.stdout.contains("mkdir -p ~/.local/share/bash-completion/completions"), "{}", r.stdout);
    assert!(!r.stdout.contains("--timeout") && !r.stdout.contains("--runbook"), "{}", r.stdout);
}
