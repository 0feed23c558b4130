//! Shell integration: dynamic completion of `--env` and `--region` from the
//! runbook the completed command line would use, and which global flags
//! mean nothing to a command.
//!
//! The shell scripts (`completions SHELL`) call the binary back with
//! `COMPLETE=SHELL keysvc-check -- WORDS…` (clap_complete's `CompleteEnv`),
//! so the candidates come from this code in every shell alike.

use std::ffi::OsString;
use std::path::PathBuf;

use clap_complete::engine::CompletionCandidate;

use crate::runbook::{self, Runbook, Source};

/// The variable the completion scripts set when they call back.
pub const VAR: &str = "COMPLETE";

/// The words of the command line being completed: what follows `--` in a
/// call back, without the word under the cursor.
fn line_words() -> Vec<String> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let after: Vec<String> = match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].iter().map(|a| a.to_string_lossy().into_owned()).collect(),
        None => vec![],
    };
    let mut words = after;
    words.pop();
    words
}

/// The value of `--flag V` or `--flag=V` in `words` (the last one given).
pub fn flag_value(words: &[String], flag: &str) -> Option<String> {
    let mut found = None;
    let mut iter = words.iter();
    while let Some(w) = iter.next() {
        if w == flag {
            found = iter.next().cloned();
        } else if let Some(v) = w.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_string());
        }
    }
    found
}

/// The runbook in effect for the line: its `--runbook`, else the lookup
/// (KEYSVC_RUNBOOK, the config file, the embedded one).
fn effective(words: &[String]) -> Option<Runbook> {
    let flag = flag_value(words, "--runbook")
        .or_else(|| std::env::var("KEYSVC_RUNBOOK").ok().filter(|v| !v.is_empty()))
        .map(PathBuf::from);
    let src = Source::load(flag.as_ref()).ok()?;
    runbook::parse(&src).ok()
}

/// `--env` candidates: the runbook's environments.
pub fn envs() -> Vec<CompletionCandidate> {
    env_names(&line_words()).into_iter().map(CompletionCandidate::new).collect()
}

/// `--region` candidates: the regions of the line's `--env` (or
/// KEYSVC_ENV), else of every environment.
pub fn regions() -> Vec<CompletionCandidate> {
    region_names(&line_words()).into_iter().map(CompletionCandidate::new).collect()
}

fn env_names(words: &[String]) -> Vec<String> {
    effective(words).map(|rb| rb.env_names().into_iter().map(str::to_string).collect()).unwrap_or_default()
}

fn region_names(words: &[String]) -> Vec<String> {
    let Some(rb) = effective(words) else { return vec![] };
    let env = flag_value(words, "--env").or_else(|| std::env::var("KEYSVC_ENV").ok());
    let known = env.filter(|e| rb.environments.value.contains_key(e));
    let mut names: Vec<String> = vec![];
    for (name, e) in &rb.environments.value {
        if known.as_ref().is_some_and(|k| k != name) {
            continue;
        }
        for r in e.regions.value.keys() {
            if !names.contains(r) {
                names.push(r.clone());
            }
        }
    }
    names
}

/// The script for `shell` that registers the completion: it calls
/// `keysvc-check` back for every candidate.
pub fn registration(shell: clap_complete::Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
    let completer: &dyn EnvCompleter = match shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Zsh => &Zsh,
        clap_complete::Shell::Fish => &Fish,
        clap_complete::Shell::Elvish => &Elvish,
        clap_complete::Shell::PowerShell => &Powershell,
        _ => &Bash,
    };
    completer.write_registration(VAR, "keysvc-check", "keysvc-check", "keysvc-check", out)
}

/// Global flags that mean something to `path` (the subcommand names);
/// `None` when all do.
fn applies(path: &[&str]) -> Option<&'static [&'static str]> {
    const LOGGING: [&str; 2] = ["verbose", "quiet"];
    match path {
        ["completions"] | ["man"] | ["runbook", "init"] => Some(&LOGGING),
        ["runbook", "validate"] => Some(&["verbose", "quiet", "runbook"]),
        ["runbook", "show"] => Some(&["verbose", "quiet", "runbook", "contexts", "healthz_url", "output"]),
        _ => None,
    }
}

/// Every global flag's id and the subcommand paths where it does not apply.
fn unused_globals(cmd: &clap::Command) -> Vec<(Vec<&'static str>, String)> {
    let globals: Vec<String> =
        cmd.get_arguments().filter(|a| a.is_global_set()).map(|a| a.get_id().to_string()).collect();
    let paths: [&[&'static str]; 5] =
        [&["completions"], &["man"], &["runbook", "init"], &["runbook", "validate"], &["runbook", "show"]];
    let mut out = vec![];
    for path in paths {
        let ok = applies(path).unwrap_or_default();
        for g in &globals {
            if !ok.contains(&g.as_str()) {
                out.push((path.to_vec(), g.clone()));
            }
        }
    }
    out
}

/// The command with the global flags that do not apply to a subcommand
/// left out of its help.
pub fn hide_unused(mut cmd: clap::Command) -> clap::Command {
    cmd.build();
    // After the build the globals are in every subcommand; `mut_args`
    // changes them in place (their order is the parser's index).
    for (path, id) in unused_globals(&cmd) {
        let hide = move |sc: clap::Command| sc.mut_args(|a| if *a.get_id() == id { a.hide(true) } else { a });
        cmd = match path.as_slice() {
            [one] => cmd.mut_subcommand(*one, hide),
            [one, two] => cmd.mut_subcommand(*one, |sc| sc.mut_subcommand(*two, hide)),
            _ => cmd,
        };
    }
    cmd
}

/// An error when a global flag that means nothing to the subcommand was
/// given on the command line (a value from the environment is fine).
pub fn reject_unused(cmd: &mut clap::Command, m: &clap::ArgMatches) -> Result<(), clap::Error> {
    let mut path = vec![];
    let mut sub = m;
    while let Some((name, next)) = sub.subcommand() {
        path.push(name);
        sub = next;
    }
    let Some(ok) = applies(&path) else { return Ok(()) };
    for arg in cmd.get_arguments().filter(|a| a.is_global_set()) {
        let id = arg.get_id().as_str();
        if !ok.contains(&id) && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            let flag = arg.get_long().map_or_else(|| id.to_string(), |l| format!("--{l}"));
            let msg = format!("{flag} does not apply to `keysvc-check {}`\n", path.join(" "));
            return Err(clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, msg).with_cmd(cmd));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flag_values_in_either_spelling_the_last_one_wins() {
        assert_eq!(flag_value(&words("diagnose --runbook a.yaml --env prod"), "--runbook").as_deref(), Some("a.yaml"));
        assert_eq!(flag_value(&words("diagnose --env=dev --env stage"), "--env").as_deref(), Some("stage"));
        assert_eq!(flag_value(&words("diagnose --envx dev"), "--env"), None);
    }

    #[test]
    fn the_embedded_runbooks_names() {
        // SAFETY of the test: no runbook variable or config file is read.
        let w = words("keysvc-check diagnose --runbook /nonexistent.yaml");
        assert!(env_names(&w).is_empty());
        let dir = tempfile_dir();
        let w = vec!["--runbook".to_string(), dir.display().to_string()];
        assert_eq!(env_names(&w), ["prod", "stage", "dev"]);
        assert_eq!(region_names(&w), ["us-south", "us-east", "eu-de"]);
    }

    /// The embedded runbook written to a file of its own.
    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("keysvc-complete-{}.yaml", std::process::id()));
        std::fs::write(&p, runbook::EMBEDDED).unwrap();
        p
    }
}
