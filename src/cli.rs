//! Command-line arguments (clap derive only). `app::plan` turns them, with
//! the runbook, into a checked plan.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCandidates;

use crate::error;

/// `--timeout` when not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `--max-log-streams` when not given: see [`MAX_LOG_STREAMS_HELP`].
pub const DEFAULT_MAX_LOG_STREAMS: usize = 40;

/// `--max-log-streams-total` when not given: see [`MAX_LOG_STREAMS_TOTAL_HELP`].
pub const DEFAULT_MAX_LOG_STREAMS_TOTAL: usize = 400;

const MAX_LOG_STREAMS_TOTAL_HELP: &str = "Log reads open at once in all regions together [default: 400, or \
--max-log-streams when that is higher]. Given, it holds even below --max-log-streams. Each open read holds about 15 KB (its request, its connection's share and \
the lines not yet counted), so this bounds the memory a run over many regions takes: 400 reads of 30 regions of \
20 pods (1,200 reads) go in three turns, and the run stays under 40 MB. Three regions of 20 pods (120 reads) are \
never held back by it. 0 or anything but a whole number is an error.";

const MAX_LOG_STREAMS_HELP: &str = "Log reads open at once per region [default: 40]. Each pod's current container \
is read twice, its last window and the hour before (the baseline), plus its previous container when it restarted, \
so 40 reads a region of 20 pods in one go. Over HTTP/2 (offered to every API server; Kubernetes speaks it over \
TLS) the reads share one connection; over HTTP/1.1 each open read is a connection of its own. 40 short reads \
(never --follow) are little for an API server: it passes each to the kubelet of the pod's node, so they spread \
over the nodes, and counts them as long-running requests, not against its --max-requests-inflight (400 by \
default). Lower it for an API server or kubelets already in trouble (`kubectl logs -l` opens 5, its \
--max-log-requests); raise it for more than 20 pods per region. 0 or anything but a whole number is an error.";

/// `--max-log-streams` and `--max-log-streams-total`: how many log reads a
/// region, and a run, has open at once.
#[derive(Debug, Args, Clone, Copy)]
pub struct Streams {
    /// Log reads open at once per region [default: 40]; lower it to spare a busy API server.
    #[arg(
        long = "max-log-streams",
        env = "KEYSVC_MAX_LOG_STREAMS",
        value_name = "N",
        default_value_t = DEFAULT_MAX_LOG_STREAMS,
        hide_default_value = true,
        value_parser = parse_streams,
        allow_hyphen_values = true,
        long_help = MAX_LOG_STREAMS_HELP
    )]
    pub max_log_streams: usize,
    /// Log reads open at once in all regions together [default: 400]; bounds the memory of a run over many regions.
    #[arg(
        long = "max-log-streams-total",
        env = "KEYSVC_MAX_LOG_STREAMS_TOTAL",
        value_name = "N",
        value_parser = parse_streams_total,
        allow_hyphen_values = true,
        long_help = MAX_LOG_STREAMS_TOTAL_HELP
    )]
    pub max_log_streams_total: Option<usize>,
}

impl Default for Streams {
    fn default() -> Streams {
        Streams { max_log_streams: DEFAULT_MAX_LOG_STREAMS, max_log_streams_total: None }
    }
}

impl Streams {
    /// The reads a run may have open at once in all its regions: the total
    /// given, else the default total or one region's bound, the higher.
    pub fn total(&self) -> usize {
        self.max_log_streams_total.unwrap_or(DEFAULT_MAX_LOG_STREAMS_TOTAL.max(self.max_log_streams))
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "keysvc-check",
    version,
    about = "Runs a service's 'is down' runbook across every region and says what is wrong",
    long_about = "Runs a service's 'is down' runbook (the Key Service API's unless another is given): \
checks the healthz URL, lists the \
service's pods in every region through the Kubernetes API, reads their recent logs, asks the \
metrics provider the runbook names (if any) whether it receives data from each region, and prints \
a verdict per region with findings and next steps. Read-only: it gets and lists pods and reads \
pod logs, and where allowed lists Warning events and reads ReplicaSets and Deployments. `doctor` also asks the API \
server which of those it may do (SelfSubjectAccessReview), which changes nothing.",
    after_help = error::HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Runbook file [default: $XDG_CONFIG_HOME/keysvc-check/runbook.yaml (else ~/.config/keysvc-check/runbook.yaml) if it exists, else the embedded one].
    #[arg(long, global = true, env = "KEYSVC_RUNBOOK", value_name = "FILE")]
    pub runbook: Option<PathBuf>,

    /// Kubeconfig file [default: the KUBECONFIG list, then ~/.kube/config, then in a pod its service account, for one --region].
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Use CONTEXT for REGION instead of the runbook's (repeatable); CONTEXT alone when one region is checked.
    #[arg(long = "context", global = true, value_name = "[REGION=]CONTEXT", value_parser = parse_region_context)]
    pub contexts: Vec<ContextArg>,

    /// Check this healthz URL instead of the environment's.
    #[arg(long, global = true, env = "KEYSVC_HEALTHZ_URL", value_name = "URL")]
    pub healthz_url: Option<String>,

    /// Overall deadline for the run (e.g. 30s, 2m); slow regions are reported unknown.
    #[arg(long, global = true, env = "KEYSVC_TIMEOUT", value_name = "DURATION", default_value = "30s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Duration,

    /// Output format.
    #[arg(short, long, global = true, env = "KEYSVC_OUTPUT", value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,

    /// When to colour the table.
    #[arg(long, global = true, env = "KEYSVC_COLOR", value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,

    /// More detail on stderr (-v debug, -vv also the Kubernetes client).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only the verdict line (table) and no progress or warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Show credentials found in logs and replies unmasked (unsafe to paste into a shared channel).
    #[arg(
        long,
        global = true,
        long_help = "Show credentials found in logs and replies unmasked: JWTs, Bearer/Basic credentials, \
secret parameters (api_key=, password=, token=…) and passwords in URLs and DSNs. By default they are \
shown as [masked]. Unsafe to paste into a shared channel."
    )]
    pub no_mask: bool,

    /// The environment variables a value was taken from (`KEYSVC_ENV`…),
    /// so that an error about the value names the variable, not the flag.
    #[arg(skip)]
    pub from_env: Vec<String>,
}

impl Global {
    /// How the user gave a value: `KEYSVC_ENV=lcoal` when it came from the
    /// variable, else `--env lcoal`; for the start of an error message.
    pub fn given(&self, flag: &str, var: &str, value: &str) -> String {
        if self.from_env.iter().any(|v| v == var) { format!("{var}={value}") } else { format!("{flag} {value}") }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// Tables fitted to the terminal; one line per row on a pipe.
    Table,
    /// One JSON document (the report).
    Json,
    /// The report as Markdown (GitHub's) to paste into a ticket or an issue.
    Markdown,
    /// The report in Slack's markup, to post to an incident channel.
    Slack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every step in every region concurrently and print the verdict.
    #[command(after_help = WATCH_HELP)]
    Diagnose(DiagnoseArgs),
    /// Step 1: check the healthz URL(s) and their reply.
    Healthz(Target),
    /// Step 2: the service's pods in each region, as kubectl shows them.
    Pods(Target),
    /// The metrics provider: has it received data from each region's pods in the runbook's window?
    Telemetry(Target),
    /// Step 3: the container's recent logs, prefixed by region and pod, then an error summary (--file: saved lines, no cluster).
    Logs(LogsArgs),
    /// Pre-flight: will the checks work with your kubeconfig, credentials and runbook?
    #[command(long_about = DOCTOR_ABOUT, after_help = DOCTOR_EXIT)]
    Doctor(Target),
    /// Show, check or create runbook files.
    #[command(subcommand)]
    Runbook(RunbookCommand),
    /// Print a shell completion script.
    ///
    /// The script asks keysvc-check for candidates, so that --env and --region complete to the names in the runbook in effect.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout.
    Man,
}

/// What a command line asks for: the one place [`Command`] is matched.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    Completions(clap_complete::Shell),
    Man,
    Runbook(&'a RunbookCommand),
    /// `doctor`: the checks' contexts, permissions and URLs, not the service.
    Doctor(Run<'a>),
    /// `diagnose`, `healthz`, `pods` or `logs`, once.
    Check(Run<'a>),
    /// `logs --file PATH`: saved log lines, no cluster.
    LogFile(&'a std::path::Path),
    /// `diagnose --watch INTERVAL [--until STATE]`.
    Watch(Run<'a>, Duration, Option<UntilArg>),
}

/// A command that checks an environment.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub verb: Verb,
    pub target: &'a Target,
    /// The `logs` command's own flags.
    pub logs: Option<&'a LogsArgs>,
    pub streams: Streams,
}

/// The commands that check an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Diagnose,
    Healthz,
    Pods,
    Logs,
    Doctor,
    Telemetry,
}

impl Verb {
    /// As typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Diagnose => "diagnose",
            Verb::Healthz => "healthz",
            Verb::Pods => "pods",
            Verb::Logs => "logs",
            Verb::Doctor => "doctor",
            Verb::Telemetry => "telemetry",
        }
    }
}

impl Command {
    pub fn mode(&self) -> Mode<'_> {
        let run = |verb, target, logs, streams| Run { verb, target, logs, streams };
        let plain = Streams::default();
        match self {
            Command::Diagnose(d) => {
                let r = run(Verb::Diagnose, &d.target, None, d.streams);
                match d.watch {
                    Some(interval) => Mode::Watch(r, interval, d.until),
                    None => Mode::Check(r),
                }
            }
            Command::Healthz(t) => Mode::Check(run(Verb::Healthz, t, None, plain)),
            Command::Pods(t) => Mode::Check(run(Verb::Pods, t, None, plain)),
            Command::Telemetry(t) => Mode::Check(run(Verb::Telemetry, t, None, plain)),
            Command::Logs(a) => match &a.file {
                Some(path) => Mode::LogFile(path),
                None => Mode::Check(run(Verb::Logs, &a.target, Some(a), a.streams)),
            },
            Command::Doctor(t) => Mode::Doctor(run(Verb::Doctor, t, None, plain)),
            Command::Runbook(c) => Mode::Runbook(c),
            Command::Completions { shell } => Mode::Completions(*shell),
            Command::Man => Mode::Man,
        }
    }
}

const COMPLETIONS_HELP: &str = "Install, for bash:
  mkdir -p ~/.local/share/bash-completion/completions
  keysvc-check completions bash > ~/.local/share/bash-completion/completions/keysvc-check
for zsh:
  echo 'source <(keysvc-check completions zsh)' >> ~/.zshrc
for fish:
  mkdir -p ~/.config/fish/completions
  keysvc-check completions fish > ~/.config/fish/completions/keysvc-check.fish";

const DOCTOR_ABOUT: &str = "Pre-flight: will the checks work with your kubeconfig, credentials and runbook? \
Per region, concurrently and under --timeout: the context is in the kubeconfig and not a placeholder, \
the cluster answers (its version), and each permission the checks use in the runbook's namespace \
(required: list pods, get pods, get pods/log; optional: list events, get/list replicasets and \
deployments). Then whether the healthz URLs are set and resolve (the service's health is not \
judged), and which runbook is in effect. Each check that does not pass says how to fix it.

Permissions are asked with SelfSubjectAccessReviews: a `create` on selfsubjectaccessreviews, \
the one request keysvc-check makes that is not a get or list. It asks the API server a question \
and changes nothing; every signed-in user may make it.";

const DOCTOR_EXIT: &str = "Exit codes:
  0   every required check passed (optional permissions may be missing)
  1   a required check did not pass
  64  usage error (bad flag or value)
  78  runbook or configuration error";

const WATCH_HELP: &str = "Watch mode (--watch): on a terminal the report is redrawn in place under a header \
with the run number and when each region's verdict last changed; on a pipe one line per run \
(time, verdict, each region's verdict, what changed); with -o json one report per line (JSON Lines). \
The exit code is the last completed run's verdict; Ctrl-C between runs ends with it, \
Ctrl-C during a run prints what finished and exits 130.";

/// `diagnose`: the target, and whether to keep watching.
#[derive(Debug, Args, Clone)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    pub target: Target,

    /// Re-run the diagnosis every INTERVAL [default: 10s], counted from the start of each run, until Ctrl-C or --until.
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "10s", value_parser = parse_secs)]
    pub watch: Option<Duration>,

    /// With --watch: stop after the first run whose service verdict is healthy, or not down (healthy or degraded).
    #[arg(long, value_enum, requires = "watch", value_name = "STATE")]
    pub until: Option<UntilArg>,

    #[command(flatten)]
    pub streams: Streams,
}

/// When `diagnose --watch` stops on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UntilArg {
    /// The service verdict is healthy.
    Healthy,
    /// The service verdict is healthy or degraded: it answers (unknown is not enough).
    NotDown,
}

#[derive(Debug, Args, Clone)]
pub struct Target {
    /// Environment from the runbook (e.g. prod, stage).
    #[arg(long, env = "KEYSVC_ENV", value_name = "ENV", add = ArgValueCandidates::new(crate::complete::envs))]
    pub env: Option<String>,

    /// Only this region [default: every region of the environment].
    #[arg(long, env = "KEYSVC_REGION", value_name = "REGION", add = ArgValueCandidates::new(crate::complete::regions))]
    pub region: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: Target,

    /// How far back to read [default: the runbook's window, 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_secs, allow_hyphen_values = true)]
    pub since: Option<Duration>,

    /// Show only the last N lines of each container (counts and the verdict still cover the whole window).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub tail: Option<i64>,

    /// Show only lines matching this regular expression (counts cover every line).
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub grep: Option<regex::Regex>,

    /// Read the previous (terminated) container of each pod that restarted.
    #[arg(long)]
    pub previous: bool,

    /// Read saved log lines from PATH (- for standard input) instead of a cluster: error counts and groups.
    #[arg(
        long,
        value_name = "PATH",
        value_hint = clap::ValueHint::FilePath,
        long_help = FILE_HELP,
        conflicts_with_all = ["since", "tail", "grep", "previous", "kubeconfig", "contexts"]
    )]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub streams: Streams,
}

const FILE_HELP: &str = "Read saved log lines from PATH (- for standard input) instead of a cluster, and print what the logs step would count: lines, error entries, the formats found and the most frequent error templates, each with its count, an example (credentials masked) and when it was first and last seen when the lines carry times. Lines saved by `kubectl logs`, with or without --timestamps and --prefix, or exported from a log service. The runbook's `logs` keys (format, level and message fields, error levels, error patterns) apply; no kubeconfig is read. Exits 0 once the file is read, whatever it holds.";

#[derive(Debug, Subcommand)]
pub enum RunbookCommand {
    /// Print the effective runbook: overrides applied, defaults filled, its source named.
    #[command(
        long_about = "Print the effective runbook: the one in effect (--runbook, KEYSVC_RUNBOOK, the config file, \
else the embedded one) with --healthz-url and --context applied and every default filled in, as YAML \
(loadable again with --runbook) or, with -o json, as JSON."
    )]
    Show {
        /// Apply --healthz-url and --context to this environment only [default: every environment].
        #[arg(long, env = "KEYSVC_ENV", value_name = "ENV", add = ArgValueCandidates::new(crate::complete::envs))]
        env: Option<String>,
    },
    /// Check a runbook file [default: the effective runbook] and explain each problem.
    Validate {
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Write a commented starter runbook to edit.
    Init {
        /// Where to write it [default: the config file, $XDG_CONFIG_HOME/keysvc-check/runbook.yaml (else ~/.config/keysvc-check/runbook.yaml)].
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
        /// Replace a file that already exists.
        #[arg(long)]
        force: bool,
    },
}

impl Cli {
    /// The command as shown and parsed: global flags that mean nothing to
    /// a subcommand are left out of its help (`complete::hide_unused`).
    pub fn shown() -> clap::Command {
        crate::complete::hide_unused(Cli::command())
    }

    /// Parses `args`; a global flag given to a subcommand it means nothing
    /// to is an error.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let mut cmd = Cli::shown();
        let m = cmd
            .try_get_matches_from_mut(args.clone())
            .map_err(|e| from_env_error(typed_usage(e, &args), &cmd, &args))?;
        crate::complete::reject_unused(&mut cmd, &m)?;
        file_conflicts(&mut cmd, &m)?;
        let mut cli = Cli::from_arg_matches(&m).map_err(|e| e.format(&mut cmd))?;
        cli.global.from_env = env_sources(&cmd, &m);
        Ok(cli)
    }
}

/// `logs --file` reads no cluster: a cluster flag that also has a variable
/// (`--env`, `KEYSVC_ENV`) is refused, as clap refuses the others
/// (`conflicts_with_all`), when it is given on the command line; the same
/// setting from its variable, set in the shell for the cluster commands, is
/// left unused.
fn file_conflicts(cmd: &mut clap::Command, m: &clap::ArgMatches) -> Result<(), clap::Error> {
    let Some(("logs", sub)) = m.subcommand() else { return Ok(()) };
    if !matches!(sub.try_get_raw("file"), Ok(Some(_))) {
        return Ok(());
    }
    let flags = [
        ("env", "--env <ENV>"),
        ("region", "--region <REGION>"),
        ("healthz_url", "--healthz-url <URL>"),
        ("max_log_streams", "--max-log-streams <N>"),
        ("max_log_streams_total", "--max-log-streams-total <N>"),
    ];
    for (id, flag) in flags {
        let given = matches!(sub.try_get_raw(id), Ok(Some(_)))
            && sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
        if given {
            let message = format!("the argument '--file <PATH>' cannot be used with '{flag}'\n");
            let logs = cmd.find_subcommand_mut("logs").expect("logs is a subcommand");
            return Err(clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, message).format(logs));
        }
    }
    Ok(())
}

/// The variables (`env = "…"`) that gave a value to the command or the
/// subcommand that runs.
fn env_sources(cmd: &clap::Command, m: &clap::ArgMatches) -> Vec<String> {
    let mut out = vec![];
    let (mut cmd, mut m) = (cmd, m);
    loop {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if let (Some(var), Ok(Some(clap::parser::ValueSource::EnvVariable))) =
                (arg.get_env(), m.try_get_raw(id).map(|_| m.value_source(id)))
            {
                out.push(var.to_string_lossy().into_owned());
            }
        }
        match m.subcommand().and_then(|(name, sub)| cmd.find_subcommand(name).map(|c| (c, sub))) {
            Some((c, sub)) => (cmd, m) = (c, sub),
            None => break,
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The usage line of an error names the flags of the command line, but
/// clap counts a value taken from a variable (`KEYSVC_RUNBOOK`) as given
/// too: the usage line of the same words parsed without the variables,
/// which lists only what was typed, replaces it.
fn typed_usage(mut e: clap::Error, args: &[std::ffi::OsString]) -> clap::Error {
    use clap::error::ContextKind;
    if e.get(ContextKind::Usage).is_none() {
        return e;
    }
    if let Err(typed) = without_env(Cli::shown()).try_get_matches_from(args)
        && typed.kind() == e.kind()
        && let Some(usage) = typed.get(ContextKind::Usage)
    {
        e.insert(ContextKind::Usage, usage.clone());
    }
    e
}

/// `cmd` and its subcommands with no argument read from a variable.
fn without_env(cmd: clap::Command) -> clap::Command {
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    let mut cmd = cmd.mut_args(|a| a.env(None::<&'static str>));
    for name in names {
        cmd = cmd.mut_subcommand(name, without_env);
    }
    cmd
}

/// A value clap refused that came from an environment variable, not the
/// command line: the message names the variable (`KEYSVC_TIMEOUT`), which
/// is what the user has to change.
fn from_env_error(e: clap::Error, cmd: &clap::Command, args: &[std::ffi::OsString]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(invalid)) = e.get(ContextKind::InvalidArg) else { return e };
    let Some(ContextValue::String(value)) = e.get(ContextKind::InvalidValue) else { return e };
    let flag = invalid.split([' ', '=']).next().unwrap_or_default();
    let Some(long) = flag.strip_prefix("--") else { return e };
    let mut all = vec![cmd];
    let mut i = 0;
    while i < all.len() {
        all.extend(all[i].get_subcommands());
        i += 1;
    }
    let Some(var) = all
        .iter()
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|v| v.to_string_lossy().into_owned())
    else {
        return e;
    };
    let on_line = args.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    });
    if on_line || std::env::var_os(&var).is_none_or(|v| v.to_string_lossy() != value.as_str()) {
        return e;
    }
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let text = text.replacen(&format!("'{invalid}'"), &format!("{var} (the variable behind {flag})"), 1);
    clap::Error::raw(e.kind(), text)
}

/// A duration flag's value. A negative one reaches the parser (the flags
/// that take one allow a leading `-`) to be refused in plain words.
fn parse_duration(s: &str) -> Result<Duration, String> {
    duration_in(s, crate::duration::Units::Millis)
}

/// A log window or an interval: whole seconds (`s`, `m`, `h`).
fn parse_secs(s: &str) -> Result<Duration, String> {
    duration_in(s, crate::duration::Units::Secs)
}

fn duration_in(s: &str, units: crate::duration::Units) -> Result<Duration, String> {
    if s.trim_start().starts_with('-') {
        return Err(format!("`{s}` is negative; give a duration of more than zero, like 30s, 5m or 1h"));
    }
    crate::duration::parse_in(s, units)
}

fn parse_streams(s: &str) -> Result<usize, String> {
    parse_reads(s, "per region", DEFAULT_MAX_LOG_STREAMS)
}

fn parse_streams_total(s: &str) -> Result<usize, String> {
    parse_reads(s, "in all", DEFAULT_MAX_LOG_STREAMS_TOTAL)
}

/// A number of log reads open at once, 1 or more; `scope` and `default` for the message.
fn parse_reads(s: &str, scope: &str, default: usize) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        _ if s.trim_start().starts_with('-') => {
            Err(format!("`{s}` is negative; give a whole number of log reads, 1 or more (default {default})"))
        }
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err(format!("0 would read no logs; give 1 or more log reads {scope} (default {default})")),
        Err(_) => {
            Err(format!("`{s}` is not a number of log reads; give a whole number, 1 or more (default {default})"))
        }
    }
}

/// `--context [REGION=]CONTEXT`: the region, unless it is the one region
/// checked (`--region`, or an environment of one region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextArg {
    pub region: Option<String>,
    pub context: String,
}

fn parse_region_context(s: &str) -> Result<ContextArg, String> {
    let bad = || format!("`{s}` is not REGION=CONTEXT (e.g. us-south=my-context) or CONTEXT alone");
    match s.split_once('=') {
        Some((r, c)) if !r.trim().is_empty() && !c.trim().is_empty() => {
            Ok(ContextArg { region: Some(r.trim().to_string()), context: c.trim().to_string() })
        }
        None if !s.trim().is_empty() => Ok(ContextArg { region: None, context: s.trim().to_string() }),
        _ => Err(bad()),
    }
}

fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s)
        .map_err(|e| format!("not a valid regular expression: {}", e.to_string().lines().last().unwrap_or_default()))
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_runs_reads_at_once_default_to_no_fewer_than_a_regions() {
        let s = |max_log_streams, max_log_streams_total| Streams { max_log_streams, max_log_streams_total };
        assert_eq!(s(40, None).total(), 400);
        assert_eq!(s(500, None).total(), 500);
        assert_eq!(s(40, Some(2)).total(), 2);
        assert_eq!(s(500, Some(450)).total(), 450);
        assert_eq!(Streams::default().total(), DEFAULT_MAX_LOG_STREAMS_TOTAL);
    }

    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn watch_interval_is_optional_and_until_needs_watch() {
        let parse = |args: &[&str]| Cli::try_parse_from(["keysvc-check", "diagnose"].iter().chain(args));
        let watch = |args: &[&str]| match parse(args).unwrap().command {
            Command::Diagnose(d) => (d.watch, d.until),
            _ => unreachable!(),
        };
        assert_eq!(watch(&[]), (None, None));
        assert_eq!(watch(&["--watch"]), (Some(Duration::from_secs(10)), None));
        assert_eq!(watch(&["--watch", "5s", "--env", "prod"]), (Some(Duration::from_secs(5)), None));
        assert_eq!(
            watch(&["--watch", "--until", "not-down"]),
            (Some(Duration::from_secs(10)), Some(UntilArg::NotDown))
        );
        assert!(parse(&["--until", "healthy"]).is_err(), "--until requires --watch");
        assert!(parse(&["--watch", "0s"]).is_err());
    }

    #[test]
    fn flags_that_mean_nothing_to_a_command_are_refused_and_not_shown() {
        for line in [
            "keysvc-check completions bash --timeout 3s",
            "keysvc-check man --runbook x.yaml",
            "keysvc-check runbook validate --kubeconfig k",
            "keysvc-check runbook show --timeout 3s",
            "keysvc-check runbook init --runbook x.yaml",
        ] {
            let e = Cli::parse_args(line.split(' ')).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{line}");
            let flag = line.split(' ').find(|w| w.starts_with("--")).unwrap();
            assert!(e.to_string().contains(&format!("{flag} does not apply")), "{line}: {e}");
        }
        for line in [
            "keysvc-check runbook validate --runbook x.yaml",
            "keysvc-check runbook show --runbook x.yaml --context us-east=c -o json",
            "keysvc-check completions bash -q",
            "keysvc-check diagnose --timeout 3s --region us-east",
        ] {
            Cli::parse_args(line.split(' ')).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let mut cmd = Cli::shown();
        let help = cmd.find_subcommand_mut("completions").unwrap().render_help().to_string();
        assert!(!help.contains("--timeout") && !help.contains("--region"), "{help}");
        let show = cmd.find_subcommand_mut("runbook").unwrap().find_subcommand_mut("show").unwrap();
        let help = show.render_help().to_string();
        assert!(help.contains("--runbook") && !help.contains("--kubeconfig"), "{help}");
    }

    #[test]
    fn region_context_pairs() {
        let arg = |r: Option<&str>, c: &str| ContextArg { region: r.map(str::to_string), context: c.into() };
        assert_eq!(parse_region_context("us-south=ctx").unwrap(), arg(Some("us-south"), "ctx"));
        // kubectl's habit: a context alone, for the one region checked.
        assert_eq!(parse_region_context("oncall@us-east").unwrap(), arg(None, "oncall@us-east"));
        assert!(parse_region_context("=ctx").is_err());
        assert!(parse_region_context("us-south=").is_err());
        assert!(parse_region_context(" ").is_err());
    }
}
