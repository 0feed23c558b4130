//! The re-run of a run, as words: the command line as the user gave it, to
//! suggest with another verb, for one region, or with the flag at fault
//! changed. Quoted only when printed.

use std::path::Path;
use std::time::Duration;

use crate::cli::{Global, OutputArg, Run, Verb};
use crate::plan::{HEALTHZ_URL_HINT, absolute, duration_word, env_word, shell_join};

/// The command line in effect, as words: to re-run with another verb or for
/// one region, and, whole, to reproduce the run elsewhere. Every value the
/// run took from a variable (`KEYSVC_ENV`, `KEYSVC_RUNBOOK`…) or looked up
/// (the config file's runbook) is a flag here, and every path absolute, so
/// a command built from it does the same pasted in another directory or
/// another shell. Kept as words, quoted only when printed.
#[derive(Debug, Clone, Default)]
pub struct Rerun {
    /// The command that ran (`diagnose`, `pods`…).
    pub verb: &'static str,
    /// Everything after the verb except `--region` and the verb's own
    /// flags, as flag and value pairs: what any command about the same
    /// environment keeps.
    pub args: Vec<String>,
    /// The run's own `--region`: a command about the whole run keeps it.
    pub region: Option<String>,
    /// The flags only this run has (`--since`, `--tail`, `-o markdown`…):
    /// in [`Rerun::this_run`], not in the commands of other verbs.
    pub own: Vec<String>,
}

/// A flag of the run that caused the problem a re-run is suggested for:
/// the suggested command must not repeat it as it was. A fix whose value
/// only the user knows makes no command: one with a word to fill in would
/// fail pasted, or fail as the run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Another kubeconfig, which only the user can name: no command.
    Kubeconfig,
    /// The run's `--context REGION=…` becomes the context given (the likely
    /// one), added when the run had none; `None`: only the user can name it,
    /// no command.
    Context { region: String, context: Option<String> },
    /// `--timeout` becomes this (given or not).
    Timeout(Duration),
}

impl Rerun {
    /// The re-run of `run` over `env`, with the global flags `g`;
    /// `contexts` are the run's `--context`s, each with its region, and
    /// `runbook` the runbook file read (`None`: the embedded one).
    pub fn from_cli(
        g: &Global,
        run: Run<'_>,
        contexts: &[(String, String)],
        env: &str,
        runbook: Option<&Path>,
    ) -> Rerun {
        Rerun {
            verb: run.verb.name(),
            args: args(g, contexts, env, runbook),
            region: run.target.region.clone(),
            own: own(g, run),
        }
    }

    /// The whole command of the run, every flag in effect: pasted in
    /// another directory, with no `KEYSVC_*` variable set, it runs the same
    /// check the same way.
    pub fn this_run(&self) -> Vec<String> {
        let mut words = self.words(self.verb, None, None);
        words.extend(self.own.iter().cloned());
        words
    }

    /// `keysvc-check VERB ARGS… [--region R]`, quoted for a POSIX shell:
    /// `region`, else the run's own `--region`.
    pub fn command(&self, verb: &str, region: Option<&str>) -> String {
        shell_join(&self.words(verb, region, None))
    }

    /// [`Rerun::command`] with the flag that caused the problem changed (see
    /// [`Fix`]); `None` when only the user knows the value it needs.
    pub fn fixed(&self, verb: &str, region: Option<&str>, fix: Option<&Fix>) -> Option<String> {
        self.fixed_words(verb, region, fix).map(|w| shell_join(&w))
    }

    /// [`Rerun::fixed`] as words, unquoted.
    pub fn fixed_words(&self, verb: &str, region: Option<&str>, fix: Option<&Fix>) -> Option<Vec<String>> {
        match fix {
            Some(Fix::Kubeconfig | Fix::Context { context: None, .. }) => None,
            _ => Some(self.words(verb, region, fix)),
        }
    }

    /// The words of the re-run, a fix with a value of its own applied.
    fn words(&self, verb: &str, region: Option<&str>, fix: Option<&Fix>) -> Vec<String> {
        let fixed_context = match fix {
            Some(Fix::Context { region, context: Some(c) }) => Some((region.as_str(), c.as_str())),
            _ => None,
        };
        let mut args: Vec<String> = vec![];
        let mut timeout_set = false;
        let mut context_set = false;
        for pair in self.args.chunks(2) {
            let (flag, value) = (pair[0].as_str(), pair.get(1).map(String::as_str));
            let value = match (fix, flag, value) {
                (_, "--context", Some(v))
                    if fixed_context.is_some_and(|(r, _)| v.split_once('=').is_some_and(|(k, _)| k == r)) =>
                {
                    context_set = true;
                    fixed_context.map(|(r, c)| format!("{r}={c}"))
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
        // overrides it with the likely one.
        if let (Some((r, c)), false) = (fixed_context, context_set) {
            args.extend(["--context".to_string(), format!("{r}={c}")]);
        }
        let mut words: Vec<&str> = vec!["keysvc-check", verb];
        words.extend(args.iter().map(String::as_str));
        if let Some(r) = region.or(self.region.as_deref()) {
            words.extend(["--region", r]);
        }
        words.into_iter().map(String::from).collect()
    }
}

/// The user's flags, so that a suggested `keysvc-check …` command checks the
/// same thing the same way (everything but the verb, `--region` and the
/// verb's own flags).
fn args(g: &Global, contexts: &[(String, String)], env: &str, runbook: Option<&Path>) -> Vec<String> {
    let mut args = vec!["--env".to_string(), env.to_string()];
    // Absolute: a command pasted in another directory reads the same files.
    if let Some(p) = runbook {
        args.extend(["--runbook".into(), absolute(p)]);
    }
    if let Some(k) = &g.kubeconfig {
        args.extend(["--kubeconfig".into(), absolute(k)]);
    }
    for (region, context) in contexts {
        args.extend(["--context".into(), format!("{region}={context}")]);
    }
    if let Some(u) = &g.healthz_url {
        // A URL with credentials is not shown, so the command takes it from
        // the environment variable the flag reads anyway.
        let word =
            if crate::mask::url_has_secret(u) { env_word("KEYSVC_HEALTHZ_URL", HEALTHZ_URL_HINT) } else { u.clone() };
        args.extend(["--healthz-url".into(), word]);
    }
    if g.timeout != crate::cli::DEFAULT_TIMEOUT {
        args.extend(["--timeout".into(), duration_word(g.timeout)]);
    }
    args
}

/// The flags of this run that a command of another verb does not take or
/// should not repeat: the `logs` window and filters, the log reads at once,
/// the output format and unmasking.
fn own(g: &Global, run: Run<'_>) -> Vec<String> {
    let mut own: Vec<String> = vec![];
    if let Some(l) = run.logs {
        if let Some(d) = l.since {
            own.extend(["--since".into(), duration_word(d)]);
        }
        if let Some(n) = l.tail {
            own.extend(["--tail".into(), n.to_string()]);
        }
        if let Some(re) = &l.grep {
            own.extend(["--grep".into(), re.as_str().to_string()]);
        }
        if l.previous {
            own.push("--previous".into());
        }
    }
    if matches!(run.verb, Verb::Diagnose | Verb::Logs) {
        if run.streams.max_log_streams != crate::cli::DEFAULT_MAX_LOG_STREAMS {
            own.extend(["--max-log-streams".into(), run.streams.max_log_streams.to_string()]);
        }
        if let Some(n) = run.streams.max_log_streams_total {
            own.extend(["--max-log-streams-total".into(), n.to_string()]);
        }
    }
    let output = match g.output {
        OutputArg::Table => None,
        OutputArg::Json => Some("json"),
        OutputArg::Markdown => Some("markdown"),
        OutputArg::Slack => Some("slack"),
    };
    if let Some(o) = output {
        own.extend(["-o".into(), o.into()]);
    }
    if g.no_mask {
        own.push("--no-mask".into());
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_keeps_the_runs_region_and_changes_the_flag_at_fault() {
        let args = ["--env", "prod", "--kubeconfig", "/tmp/nope.yaml", "--context", "us-east=nope", "--timeout", "3s"];
        let r =
            Rerun { verb: "pods", args: args.map(String::from).to_vec(), region: Some("us-east".into()), own: vec![] };
        assert_eq!(
            r.command("diagnose", None),
            "keysvc-check diagnose --env prod --kubeconfig /tmp/nope.yaml --context us-east=nope --timeout 3s --region us-east"
        );
        // Another kubeconfig, or a context only the user can name: no
        // command with a word to fill in.
        assert_eq!(r.fixed("pods", None, Some(&Fix::Kubeconfig)), None);
        let context = |region: &str, context: Option<&str>| Fix::Context {
            region: region.into(),
            context: context.map(str::to_string),
        };
        assert_eq!(r.fixed("pods", Some("us-east"), Some(&context("us-east", None))), None);
        assert_eq!(
            r.fixed("pods", Some("us-east"), Some(&context("us-east", Some("oncall@us-east")))).unwrap(),
            "keysvc-check pods --env prod --kubeconfig /tmp/nope.yaml --context us-east=oncall@us-east --timeout 3s --region us-east"
        );
        // Another region's override is not the one at fault: the region at
        // fault gets one of its own.
        let other = r.fixed("pods", None, Some(&context("eu-de", Some("de")))).unwrap();
        assert!(other.contains("--context us-east=nope") && other.contains(" --context eu-de=de "), "{other}");
        assert_eq!(
            r.fixed("pods", None, Some(&Fix::Timeout(Duration::from_secs(60)))).unwrap(),
            "keysvc-check pods --env prod --kubeconfig /tmp/nope.yaml --context us-east=nope --timeout 1m --region us-east"
        );
        let plain = Rerun { verb: "diagnose", args: vec!["--env".into(), "prod".into()], region: None, own: vec![] };
        assert_eq!(
            plain.fixed("diagnose", None, Some(&Fix::Timeout(Duration::from_secs(60)))).unwrap(),
            "keysvc-check diagnose --env prod --timeout 1m"
        );
    }
}
