//! Exit codes and usage errors. "The service is unhealthy" (1–3) is kept
//! apart from "the tool could not run" (64, 70, 78); each code is named once,
//! here, and turned into a number only where the process exits.

/// How the process exits (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every step passed (for `doctor`: every required check).
    Healthy,
    /// Some region is degraded or down, or healthz answers from a
    /// misconfigured deployment (for `doctor`: a required check did not pass).
    Degraded,
    /// Healthz fails (a reply that fails, or no reply while something else
    /// answered from here) or every region is down.
    Down,
    /// A step could not be checked and nothing worse was seen, or nothing
    /// answered from here (`judge::reach`).
    Unknown,
    /// Bad command-line usage (sysexits EX_USAGE).
    Usage,
    /// An internal fault (EX_SOFTWARE).
    Internal,
    /// A bad runbook or configuration (EX_CONFIG).
    Config,
    /// Interrupted by Ctrl-C.
    Interrupted,
}

impl ExitCode {
    /// Every code, in the order of the README's table.
    pub const ALL: [ExitCode; 8] = [
        ExitCode::Healthy,
        ExitCode::Degraded,
        ExitCode::Down,
        ExitCode::Unknown,
        ExitCode::Usage,
        ExitCode::Internal,
        ExitCode::Config,
        ExitCode::Interrupted,
    ];
}

impl From<ExitCode> for u8 {
    fn from(c: ExitCode) -> u8 {
        match c {
            ExitCode::Healthy => 0,
            ExitCode::Degraded => 1,
            ExitCode::Down => 2,
            ExitCode::Unknown => 3,
            ExitCode::Usage => 64,
            ExitCode::Internal => 70,
            ExitCode::Config => 78,
            ExitCode::Interrupted => 130,
        }
    }
}

impl From<ExitCode> for i32 {
    fn from(c: ExitCode) -> i32 {
        i32::from(u8::from(c))
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> std::process::ExitCode {
        std::process::ExitCode::from(u8::from(c))
    }
}

/// A bad flag or value: exit 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The table printed in `--help` and README.
pub const HELP: &str = "Exit codes:
  0   healthy: every step passed
  1   degraded: some region is degraded or down, or healthz answers from a misconfigured
      deployment; the service still answers
  2   down: healthz fails (a reply that fails, or no reply while something else
      answered from here) or every region is down
  3   unknown: a step could not be checked and nothing worse was seen, or nothing
      answered from here (this machine's network, VPN or kubeconfig)
  64  usage error (bad flag or value)
  70  internal error
  78  runbook or configuration error
  130 interrupted (Ctrl-C); what finished is printed";
