//! The checked plan of a run: command-line arguments and the runbook resolved
//! into what to check, where, and how long to wait. Clap types go no further.

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::runbook::Runbook;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone)]
pub struct RegionPlan {
    pub name: String,
    pub context: String,
    pub healthz_url: Option<String>,
    /// The context is a placeholder (`runbook::placeholder`): its Kubernetes
    /// steps are not run. Holds the runbook key to set.
    pub placeholder_context: Option<String>,
}

/// A runbook value (or flag) on a reserved placeholder name: not checked.
#[derive(Debug, Clone)]
pub struct Placeholder {
    pub region: Option<String>,
    /// The runbook key (or flag) to set.
    pub key: String,
    pub value: String,
}

/// Another API whose healthz tells a platform outage from the service's own.
#[derive(Debug, Clone)]
pub struct PeerPlan {
    pub name: String,
    pub url: String,
}

/// The command line as the user gave it, to re-run with another verb or for
/// one region. Kept as words, quoted only when printed.
#[derive(Debug, Clone, Default)]
pub struct Rerun {
    /// The command that ran (`diagnose`, `pods`…).
    pub verb: &'static str,
    /// Everything after the verb except `--region`.
    pub args: Vec<String>,
}

impl Rerun {
    /// `keysvc-check VERB ARGS… [--region R]`, quoted for a POSIX shell.
    pub fn command(&self, verb: &str, region: Option<&str>) -> String {
        let mut words: Vec<&str> = vec!["keysvc-check", verb];
        words.extend(self.args.iter().map(String::as_str));
        if let Some(r) = region {
            words.extend(["--region", r]);
        }
        shell_join(&words)
    }
}

/// Words joined into one POSIX shell command line, each quoted when it needs it.
pub fn shell_join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| shell_word(w.as_ref())).collect::<Vec<_>>().join(" ")
}

/// `s` quoted for a POSIX shell when it needs it. A NUL byte cannot be
/// passed in an argument at all; it is dropped.
pub fn shell_word(s: &str) -> String {
    let s = s.replace('\0', "");
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        return s;
    }
    match shlex::try_quote(&s) {
        Ok(q) => q.into_owned(),
        Err(_) => format!("'{}'", s.replace('\'', "'\\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("app=api-key-service"), "app=api-key-service");
        assert_eq!(shell_word("--since=5m"), "--since=5m");
        assert_eq!(shell_word("/tmp/a b/kubeconfig"), "'/tmp/a b/kubeconfig'");
        assert_eq!(shell_word(""), "''");
        let hostile = "x'; rm -rf / #";
        let quoted = shell_word(hostile);
        let back = shlex::split(&quoted).unwrap();
        assert_eq!(back, [hostile]);
        let r =
            Rerun { verb: "pods", args: vec!["--env".into(), "prod".into(), "--runbook".into(), "my rb.yaml".into()] };
        assert_eq!(
            r.command("diagnose", Some("us-east")),
            "keysvc-check diagnose --env prod --runbook 'my rb.yaml' --region us-east"
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    pub healthz: bool,
    pub pods: bool,
    pub logs: bool,
    /// Optional evidence: Warning events and the pods' ReplicaSet/Deployment.
    pub evidence: bool,
}

impl Steps {
    pub fn names(self) -> Vec<&'static str> {
        let mut v = vec![];
        if self.healthz {
            v.push("healthz");
        }
        if self.pods {
            v.push("pods");
        }
        if self.logs {
            v.push("logs");
        }
        if self.evidence {
            v.extend(["events", "rollout"]);
        }
        v
    }
}

/// How to read logs (step 3 and the `logs` command).
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub since: Duration,
    pub tail: Option<i64>,
    pub previous_only: bool,
    pub grep: Option<Regex>,
    /// Stream lines to the output (the `logs` command in table mode).
    pub stream: bool,
    /// Log reads open at once per region (`--max-log-streams`).
    pub max_streams: usize,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub runbook: Runbook,
    pub runbook_name: String,
    pub env: String,
    pub healthz_url: String,
    pub regions: Vec<RegionPlan>,
    /// `regions` is every region of the environment (no --region).
    pub all_regions: bool,
    pub steps: Steps,
    pub timeout: Duration,
    pub kubeconfig: Option<PathBuf>,
    /// Other APIs to probe with the service's healthz.
    pub peers: Vec<PeerPlan>,
    /// The healthz URL is a placeholder: not checked. Holds the runbook key to set.
    pub placeholder_healthz: Option<String>,
    /// Every placeholder the run met, for the findings.
    pub placeholders: Vec<Placeholder>,
    pub logs: LogOptions,
    pub output: Output,
    pub color: bool,
    pub quiet: bool,
    /// The command line, to re-run with another verb or for one region.
    pub rerun: Rerun,
}

impl Plan {
    /// `kubectl [--kubeconfig F] --context C -n NS` for one region: what the
    /// suggested commands start with, so they reach the cluster the tool read.
    pub fn kubectl(&self, context: &str) -> Vec<String> {
        let mut words = vec!["kubectl".to_string()];
        if let Some(k) = &self.kubeconfig {
            words.push("--kubeconfig".into());
            words.push(k.display().to_string());
        }
        words.extend(["--context".into(), context.to_string(), "-n".into(), self.runbook.namespace.clone()]);
        words
    }
}
