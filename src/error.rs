//! Exit codes. "The service is unhealthy" (1–3) is kept apart from "the tool
//! could not run" (64, 70, 78).

use crate::report::Verdict;

pub const HEALTHY: u8 = 0;
pub const DEGRADED: u8 = 1;
pub const DOWN: u8 = 2;
pub const UNKNOWN: u8 = 3;
/// Bad command-line usage (sysexits EX_USAGE).
pub const USAGE: u8 = 64;
/// An internal fault (EX_SOFTWARE).
pub const INTERNAL: u8 = 70;
/// A bad runbook or configuration (EX_CONFIG).
pub const CONFIG: u8 = 78;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: u8 = 130;

/// The exit code of a finished run: its verdict's, or 78 when nothing real
/// was checked (only placeholders: configuration still to do).
pub fn for_report(r: &crate::report::Report) -> u8 {
    if crate::judge::only_placeholders(r) {
        return CONFIG;
    }
    for_verdict(r.service.verdict)
}

pub fn for_verdict(v: Verdict) -> u8 {
    match v {
        Verdict::Healthy => HEALTHY,
        Verdict::Degraded => DEGRADED,
        Verdict::Down => DOWN,
        Verdict::Unknown => UNKNOWN,
    }
}

/// The table printed in `--help` and README.
pub const HELP: &str = "Exit codes:
  0   healthy: every step passed
  1   degraded: some region is degraded or down, or healthz answers from a misconfigured
      deployment; the service still answers
  2   down: healthz fails or every region is down
  3   unknown: a step could not be checked and nothing worse was seen
  64  usage error (bad flag or value)
  70  internal error
  78  runbook or configuration error
  130 interrupted (Ctrl-C); what finished is printed";
