//! The checked plan of a run: command-line arguments and the runbook resolved
//! into what to check, where, and how long to wait. Clap types go no further.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use tokio::sync::Semaphore;

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
    /// Where `context` comes from, to name what to fix when it is wrong.
    pub context_from: ContextFrom,
}

/// Where a region's context was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ContextFrom {
    /// `--context REGION=CONTEXT`.
    Flag,
    /// The runbook's `key`, on `line` (0: not known).
    Runbook { key: String, line: u64 },
    /// Not known (a fixture).
    #[default]
    Unknown,
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
    /// Everything after the verb except `--region`, as flag and value pairs.
    pub args: Vec<String>,
    /// The run's own `--region`: a command about the whole run keeps it.
    pub region: Option<String>,
}

/// A flag of the run that caused the problem a re-run is suggested for:
/// the suggested command must not repeat it as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// The run's `--kubeconfig` becomes `--kubeconfig FILE`, for the user to fill in.
    Kubeconfig,
    /// The run's `--context REGION=…` becomes `--context REGION=CONTEXT`, or
    /// the context given (the likely one), added when the run had none.
    Context { region: String, context: Option<String> },
    /// `--timeout` becomes this (given or not).
    Timeout(Duration),
}

impl ContextFrom {
    /// What to do about `context`, not in the kubeconfig, for `region`:
    /// `guess` is the likely one (a typo of a context there); the fix is
    /// named where the wrong name came from. `file` names the runbook.
    pub fn fix(&self, file: &str, region: &str, context: &str, guess: Option<&str>) -> String {
        let list = "kubectl config get-contexts lists yours";
        match (self, guess) {
            (ContextFrom::Flag, Some(g)) => format!("did you mean {g}? fix --context {region}={context}"),
            (ContextFrom::Flag, None) => {
                format!(
                    "fix --context {region}={context}: name a context of your kubeconfig ({list}), or add {context} to it"
                )
            }
            (ContextFrom::Runbook { key, line }, guess) => {
                let at = if *line > 0 { format!(" on line {line}") } else { String::new() };
                match guess {
                    Some(g) => format!("did you mean {g}? fix {key}{at} of {file}, or pass --context {region}={g}"),
                    None => format!(
                        "set {key}{at} of {file} to a context of your kubeconfig ({list}), or add {context} to it; --context {region}=CONTEXT overrides it for one run"
                    ),
                }
            }
            (ContextFrom::Unknown, _) => {
                format!("add context {context} to your kubeconfig or pass --context {region}=CONTEXT")
            }
        }
    }
}

impl Rerun {
    /// `keysvc-check VERB ARGS… [--region R]`, quoted for a POSIX shell:
    /// `region`, else the run's own `--region`.
    pub fn command(&self, verb: &str, region: Option<&str>) -> String {
        self.fixed(verb, region, None)
    }

    /// [`Rerun::command`] with the flag that caused the problem changed (see [`Fix`]).
    pub fn fixed(&self, verb: &str, region: Option<&str>, fix: Option<&Fix>) -> String {
        shell_join(&self.fixed_words(verb, region, fix))
    }

    /// [`Rerun::fixed`] as words, unquoted.
    pub fn fixed_words(&self, verb: &str, region: Option<&str>, fix: Option<&Fix>) -> Vec<String> {
        let mut args: Vec<String> = vec![];
        let mut timeout_set = false;
        let mut context_set = false;
        for pair in self.args.chunks(2) {
            let (flag, value) = (pair[0].as_str(), pair.get(1).map(String::as_str));
            let value = match (fix, flag, value) {
                (Some(Fix::Kubeconfig), "--kubeconfig", Some(_)) => Some("FILE".to_string()),
                (Some(Fix::Context { region: r, context }), "--context", Some(v))
                    if v.split_once('=').is_some_and(|(k, _)| k == r) =>
                {
                    context_set = true;
                    Some(format!("{r}={}", context.as_deref().unwrap_or("CONTEXT")))
                }
                (Some(Fix::Timeout(d)), "--timeout", Some(_)) => {
                    timeout_set = true;
                    Some(duration_word(*d))
                }
                _ => value.map(str::to_string),
            };
            args.push(flag.to_string());
            args.extend(value);
        }
        if let (Some(Fix::Timeout(d)), false) = (fix, timeout_set) {
            args.extend(["--timeout".to_string(), duration_word(*d)]);
        }
        // A runbook's context that is not in the kubeconfig: the re-run
        // overrides it, so that it works once CONTEXT is filled in.
        if let (Some(Fix::Context { region: r, context }), false) = (fix, context_set) {
            args.extend(["--context".to_string(), format!("{r}={}", context.as_deref().unwrap_or("CONTEXT"))]);
        }
        let mut words: Vec<&str> = vec!["keysvc-check", verb];
        words.extend(args.iter().map(String::as_str));
        if let Some(r) = region.or(self.region.as_deref()) {
            words.extend(["--region", r]);
        }
        words.into_iter().map(String::from).collect()
    }
}

/// `30s`, `1m30s`: a duration as `--timeout` takes it.
pub fn duration_word(d: Duration) -> String {
    crate::duration::format_duration(d)
}

/// A path as a suggested command gives it: absolute, so the command works
/// pasted in another directory (not resolved: a symlink stays one).
pub fn absolute(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

/// What the shell says when a suggested command that needs the healthz URL
/// with its credentials is pasted without `KEYSVC_HEALTHZ_URL` set.
pub const HEALTHZ_URL_HINT: &str = "set it to the healthz URL with its credentials";

pub use crate::shell::{env_word, shell_join, shell_word};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environment_word_is_not_quoted_and_nothing_else_can_pass_as_one() {
        let w = env_word("KEYSVC_HEALTHZ_URL", "set it to the healthz URL with its credentials; `rm`$x");
        assert_eq!(
            shell_join(&["curl", w.as_str()]),
            r#"curl "${KEYSVC_HEALTHZ_URL:?set it to the healthz URL with its credentials rmx}""#
        );
        assert_eq!(shell_word(r#""${HOME}""#), r#"'"${HOME}"'"#);
    }

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
        let r = Rerun {
            verb: "pods",
            args: vec!["--env".into(), "prod".into(), "--runbook".into(), "my rb.yaml".into()],
            region: None,
        };
        assert_eq!(
            r.command("diagnose", Some("us-east")),
            "keysvc-check diagnose --env prod --runbook 'my rb.yaml' --region us-east"
        );
    }

    #[test]
    fn a_rerun_keeps_the_runs_region_and_changes_the_flag_at_fault() {
        let args = ["--env", "prod", "--kubeconfig", "/tmp/nope.yaml", "--context", "us-east=nope", "--timeout", "3s"];
        let r = Rerun { verb: "pods", args: args.map(String::from).to_vec(), region: Some("us-east".into()) };
        assert_eq!(
            r.command("diagnose", None),
            "keysvc-check diagnose --env prod --kubeconfig /tmp/nope.yaml --context us-east=nope --timeout 3s --region us-east"
        );
        assert_eq!(
            r.fixed("pods", None, Some(&Fix::Kubeconfig)),
            "keysvc-check pods --env prod --kubeconfig FILE --context us-east=nope --timeout 3s --region us-east"
        );
        let context = |region: &str, context: Option<&str>| Fix::Context {
            region: region.into(),
            context: context.map(str::to_string),
        };
        assert_eq!(
            r.fixed("pods", Some("us-east"), Some(&context("us-east", None))),
            "keysvc-check pods --env prod --kubeconfig /tmp/nope.yaml --context us-east=CONTEXT --timeout 3s --region us-east"
        );
        assert_eq!(
            r.fixed("pods", Some("us-east"), Some(&context("us-east", Some("oncall@us-east")))),
            "keysvc-check pods --env prod --kubeconfig /tmp/nope.yaml --context us-east=oncall@us-east --timeout 3s --region us-east"
        );
        // Another region's override is not the one at fault: the region at
        // fault gets one of its own.
        let other = r.fixed("pods", None, Some(&context("eu-de", None)));
        assert!(other.contains("--context us-east=nope") && other.contains(" --context eu-de=CONTEXT "), "{other}");
        assert_eq!(
            r.fixed("pods", None, Some(&Fix::Timeout(Duration::from_secs(60)))),
            "keysvc-check pods --env prod --kubeconfig /tmp/nope.yaml --context us-east=nope --timeout 1m --region us-east"
        );
        let plain = Rerun { verb: "diagnose", args: vec!["--env".into(), "prod".into()], region: None };
        assert_eq!(
            plain.fixed("diagnose", None, Some(&Fix::Timeout(Duration::from_secs(60)))),
            "keysvc-check diagnose --env prod --timeout 1m"
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
    /// Log reads open at once in all regions (`--max-log-streams-total`):
    /// every region's reads take a permit of this one semaphore.
    pub all_streams: Arc<Semaphore>,
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
