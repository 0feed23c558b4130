//! `logs --file PATH`: saved log lines read with the runbook's `logs` keys
//! and error patterns, with no cluster: no kubeconfig is looked for. A file
//! that cannot be opened or read is one line naming it (exit 64, as for a
//! bad flag value); read, it exits 0 whatever it holds.

use std::io::{BufReader, IsTerminal, Read};
use std::path::Path;

use anyhow::Result;
use futures::io::AllowStdIo;

use super::{UsageError, color, output_width, write_out};
use crate::cli::{Global, OutputArg};
use crate::error::ExitCode;
use crate::evidence::log_file;
use crate::evidence::logs::Classifier;
use crate::render::Layout;
use crate::render::log_file::{Shown, json, text};
use crate::runbook::{self, Source};

pub(super) async fn run(g: &Global, path: &Path) -> Result<ExitCode> {
    if matches!(g.output, OutputArg::Markdown | OutputArg::Slack) {
        return Err(UsageError("logs --file: the output is text (the default) or JSON (-o json)".into()).into());
    }
    let (src, origin) = Source::find(g.runbook.as_ref())?;
    let rb = runbook::parse(&src)?;
    let classifier = Classifier::of(&rb.logs);
    let name = path.display().to_string();
    let input: Box<dyn Read + Send> = if name == "-" {
        if std::io::stdin().is_terminal() {
            eprintln!("keysvc-check: reading log lines from standard input; end with Ctrl-D");
        }
        Box::new(std::io::stdin())
    } else {
        match std::fs::File::open(path) {
            Ok(f) => Box::new(f),
            Err(e) => return Err(UsageError(unreadable(&name, &e)).into()),
        }
    };
    let reader = AllowStdIo::new(BufReader::with_capacity(64 * 1024, input));
    let log = log_file::read(reader, &classifier).await.map_err(|e| UsageError(unreadable(&name, &e)))?;
    let shown = Shown { file: &name, runbook: &origin.describe(&src), log: &log };
    let mut buf = Vec::new();
    match g.output {
        OutputArg::Json => json(&shown, &mut buf)?,
        _ => text(&shown, Layout { color: color(g), width: output_width() }, &mut buf)?,
    }
    write_out(&buf)?;
    Ok(ExitCode::Healthy)
}

/// `--file PATH: no such file` and the like, on one line.
fn unreadable(name: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory; give a file of log lines".to_string(),
        _ => e.to_string().split_whitespace().collect::<Vec<_>>().join(" "),
    };
    format!("--file {name}: {why}")
}
