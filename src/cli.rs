//! Command-line arguments (clap derive only). `app::plan` turns them, with
//! the runbook, into a checked plan.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

/// `--timeout` when not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(
    name = "keysvc-check",
    version,
    about = "Runs the 'Key Service API is down' runbook across every region and says what is wrong",
    long_about = "Runs the 'Key Service API is down' runbook: checks the healthz URL, lists the \
service's pods in every region through the Kubernetes API, reads their recent logs, and prints \
a verdict per region with findings and next steps. Read-only: it only gets and lists pods and \
reads pod logs.",
    after_help = exit::HELP,
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
    /// Runbook file to use instead of the embedded key-service runbook.
    #[arg(long, global = true, env = "KEYSVC_RUNBOOK", value_name = "FILE")]
    pub runbook: Option<PathBuf>,

    /// Kubeconfig file [default: the KUBECONFIG list, then ~/.kube/config].
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Use CONTEXT for REGION instead of the runbook's (repeatable).
    #[arg(long = "context", global = true, value_name = "REGION=CONTEXT", value_parser = parse_region_context)]
    pub contexts: Vec<(String, String)>,

    /// Check this healthz URL instead of the environment's.
    #[arg(long, global = true, env = "KEYSVC_HEALTHZ_URL", value_name = "URL")]
    pub healthz_url: Option<String>,

    /// Overall deadline for the run (e.g. 30s, 2m); slow regions are reported unknown.
    #[arg(long, global = true, env = "KEYSVC_TIMEOUT", value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Table,
    Json,
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
    Diagnose(Target),
    /// Step 1: check the healthz URL(s) and their reply.
    Healthz(Target),
    /// Step 2: the service's pods in each region, as kubectl shows them.
    Pods(Target),
    /// Step 3: the container's recent logs, prefixed by region and pod, then an error summary.
    Logs(LogsArgs),
    /// Show or check runbook files.
    #[command(subcommand)]
    Runbook(RunbookCommand),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args, Clone)]
pub struct Target {
    /// Environment from the runbook (e.g. prod, stage).
    #[arg(long, env = "KEYSVC_ENV", value_name = "ENV")]
    pub env: Option<String>,

    /// Only this region [default: every region of the environment].
    #[arg(long, env = "KEYSVC_REGION", value_name = "REGION")]
    pub region: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: Target,

    /// How far back to read [default: the runbook's window, 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,

    /// Only the last N lines of each container.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    pub tail: Option<i64>,

    /// Show only lines matching this regular expression (counts cover every line).
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    pub grep: Option<regex::Regex>,

    /// Read the previous (terminated) container of each pod.
    #[arg(long)]
    pub previous: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunbookCommand {
    /// Print the effective runbook.
    Show,
    /// Check a runbook file [default: the effective runbook] and explain each problem.
    Validate {
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::runbook::parse_duration(s)
}

fn parse_region_context(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((r, c)) if !r.trim().is_empty() && !c.trim().is_empty() => {
            Ok((r.trim().to_string(), c.trim().to_string()))
        }
        _ => Err(format!("`{s}` is not REGION=CONTEXT (e.g. us-south=my-context)")),
    }
}

fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(s)
        .map_err(|e| format!("not a valid regular expression: {}", e.to_string().lines().last().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn region_context_pairs() {
        assert_eq!(parse_region_context("us-south=ctx").unwrap(), ("us-south".into(), "ctx".into()));
        assert!(parse_region_context("us-south").is_err());
        assert!(parse_region_context("=ctx").is_err());
    }
}
