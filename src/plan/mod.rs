//! The checked plan of a run: command-line arguments and the runbook resolved
//! into what to check, where, and how long to wait. Clap types go no further.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use crate::runbook::Runbook;

pub mod build;
pub mod rerun;

pub use rerun::{Fix, Rerun};

/// The context of every region in a pod with no kubeconfig: its service
/// account's, whatever the runbook names (reported as this, and left out of
/// the kubectl commands suggested there).
pub const IN_CLUSTER: &str = "in-cluster";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Markdown,
    Slack,
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
    /// The kubeconfig's `current-context`: the runbook's region has no
    /// `key` (empty when the kubeconfig has none).
    Current { key: String },
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

impl ContextFrom {
    /// What to do about `context`, not in the kubeconfig, for `region`:
    /// `guess` is the likely one (a typo of a context there); the fix is
    /// named where the wrong name came from. `file` names the runbook;
    /// `contexts` is the command that lists the kubeconfig's contexts
    /// (`kubectl --kubeconfig F config get-contexts`, from the one builder).
    pub fn fix(&self, file: &str, region: &str, context: &str, guess: Option<&str>, contexts: &str) -> String {
        let list = format!("`{contexts}` lists yours");
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
            (ContextFrom::Current { key }, _) if context.is_empty() => format!(
                "set {key} in {file} to a context of your kubeconfig ({list}), make one current (kubectl config use-context), or pass --context {region}=… with one"
            ),
            (ContextFrom::Current { key }, _) => format!(
                "make a context that is in your kubeconfig current (kubectl config use-context), set {key} in {file}, or pass --context {region}=… with one ({list})"
            ),
            (ContextFrom::Unknown, _) => {
                format!("add context {context} to your kubeconfig or pass --context {region}=CONTEXT")
            }
        }
    }
}

impl Plan {
    /// Every region of the environment, with the contexts the run gives
    /// them (`--context` over the runbook), checked or not: what a region's
    /// context is compared with.
    pub fn env_regions(&self) -> &[RegionPlan] {
        if self.env_regions.is_empty() { &self.regions } else { &self.env_regions }
    }

    /// The contexts the environment gives its regions other than `region`.
    pub fn taken_contexts(&self, region: &str) -> Vec<String> {
        self.env_regions().iter().filter(|r| r.name != region).map(|r| r.context.clone()).collect()
    }
}

/// The context of the kubeconfig (`instead`) that `context`, not there, is
/// likely a typo of, unless it is one the environment gives another region
/// (`taken`): suggested here, it would check that region's cluster as this
/// one's.
pub fn context_guess<'a>(context: &str, instead: &'a [String], taken: &[String]) -> Option<&'a str> {
    let free: Vec<String> = instead.iter().filter(|c| !taken.contains(c)).cloned().collect();
    let guess = crate::runbook::did_you_mean(context, &free)?;
    instead.iter().find(|c| *c == guess).map(String::as_str)
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
impl RegionPlan {
    /// A region for unit tests: `name` on `context`, no regional healthz,
    /// no placeholder.
    pub fn for_tests(name: &str, context: &str) -> RegionPlan {
        RegionPlan {
            name: name.into(),
            context: context.into(),
            healthz_url: None,
            placeholder_context: None,
            context_from: ContextFrom::default(),
        }
    }
}

#[cfg(test)]
impl Plan {
    /// A plan for unit tests: `runbook`'s environment `prod`, no regions,
    /// every step, JSON output, the usual limits; tests change what they need.
    pub fn for_tests(runbook: crate::runbook::Runbook, runbook_name: &str) -> Plan {
        Plan {
            runbook,
            runbook_name: runbook_name.into(),
            env: "prod".into(),
            healthz_url: "https://h/healthz".into(),
            regions: vec![],
            env_regions: vec![],
            all_regions: true,
            steps: Steps { healthz: true, pods: true, logs: true, evidence: true, telemetry: true },
            telemetry: None,
            placeholder_telemetry: None,
            timeout: Duration::from_secs(30),
            kubeconfig: None,
            peers: vec![],
            placeholder_healthz: None,
            placeholders: vec![],
            logs: LogOptions {
                since: Duration::from_secs(300),
                tail: None,
                previous_only: false,
                grep: None,
                stream: false,
                max_streams: crate::cli::DEFAULT_MAX_LOG_STREAMS,
                max_streams_total: crate::cli::DEFAULT_MAX_LOG_STREAMS_TOTAL,
            },
            output: Output::Json,
            quiet: false,
            rerun: Rerun::default(),
            config_file: Some("/home/me/.config/keysvc-check/runbook.yaml".into()),
        }
    }
}

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
    fn another_regions_context_is_never_the_likely_one() {
        let instead = vec!["oncall-prod-us-east".to_string(), "oncall-prod-eu-de".to_string()];
        // Near enough to be taken for a typo of us-east's...
        assert_eq!(crate::runbook::did_you_mean("oncall-prod-us-south", &instead), Some("oncall-prod-us-east"));
        // ...but the environment gives it to us-east.
        let taken = vec!["oncall-prod-us-east".to_string(), "oncall-prod-eu-de".to_string()];
        assert_eq!(context_guess("oncall-prod-us-south", &instead, &taken), None);
        assert_eq!(context_guess("oncall-prod-us-eastt", &instead, &[]), Some("oncall-prod-us-east"));
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
            own: vec![],
        };
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
    /// The telemetry provider, when the runbook configures one (in the
    /// report's `steps` only then: see [`Plan::step_names`]).
    pub telemetry: bool,
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
    /// the executor gives every region's reads one semaphore of this size.
    pub max_streams_total: usize,
}

impl Plan {
    /// The steps a run reads: telemetry only when the runbook configures it.
    pub fn step_names(&self) -> Vec<&'static str> {
        let mut v = self.steps.names();
        if self.steps.telemetry && self.telemetry.is_some() {
            v.push("telemetry");
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub runbook: Runbook,
    pub runbook_name: String,
    pub env: String,
    pub healthz_url: String,
    pub regions: Vec<RegionPlan>,
    /// Every region of the environment, `regions` or not (see
    /// [`Plan::env_regions`]); empty when `regions` are all there is to
    /// compare with (in a pod, one region).
    pub env_regions: Vec<RegionPlan>,
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
    /// The environment's telemetry, when the step runs and the runbook configures one.
    pub telemetry: Option<crate::runbook::Telemetry>,
    /// The telemetry URL is a placeholder: not asked. Holds the runbook key to set.
    pub placeholder_telemetry: Option<String>,
    pub logs: LogOptions,
    pub output: Output,
    pub quiet: bool,
    /// The command line, to re-run with another verb or for one region.
    pub rerun: Rerun,
    /// Where `runbook init` writes by default and the lookup reads: the
    /// user's runbook file (`None` when there is no home to put it in).
    pub config_file: Option<PathBuf>,
}
