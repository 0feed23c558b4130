//! Renderers: they only format a finished report (no network, no clock).
//! What they need from outside (the width to fit, whether to colour, the
//! command line) comes in as arguments.

mod doc;
mod errors;
pub mod fit;
#[cfg(test)]
pub(crate) mod fixture;
pub mod json;
pub mod log_file;
pub mod markdown;
pub mod progress;
pub mod slack;
pub mod table;
pub mod watch;

/// Which command's report is shown: each has a table of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Diagnose,
    Healthz,
    Pods,
    Logs,
    Telemetry,
}

/// How text output is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Colour (a TTY without NO_COLOR, or --color always).
    pub color: bool,
    /// The width to fit in; `None` on a pipe, where every row stays on one line.
    pub width: Option<usize>,
}
