//! The runbook: which service to check, where, and what "healthy" means. It is
//! data (YAML); the key-service runbook is embedded as the default, and a file
//! is found by `--runbook`, `KEYSVC_RUNBOOK` or the user's config directory.
//! This module owns reading one: [`parse`] and [`parse_all`], and the error
//! every problem of a runbook is told as ([`RunbookError`]).
//!
//! The text is parsed once, into a tree of plain nodes with their places
//! (line and column). The lenient checks read the tree and check every key and
//! value against the schema, so that `runbook validate` can report every
//! problem at once, in plain words. The typed runbook of a file without
//! problems is built from the same tree, each value through its serde type;
//! only a tree the builder cannot build for certain (a quoted number, a null
//! where text belongs) goes to the strict pass (serde) over the text, whose
//! word is final, as is its error.
//!
//! By job: `source` (where the runbook comes from), `node` (the YAML with its
//! places), `lint` (the lenient checks), `build` (the typed runbook from the
//! tree), `schema` (the typed runbook), `validate`
//! (checks of the typed runbook), `placeholders` and `labels` (selectors and
//! namespaces as the API server checks them).

mod build;
pub mod labels;
mod lint;
mod node;
mod placeholders;
mod schema;
mod source;
mod telemetry;
mod validate;

pub use labels::selector_did_you_mean;
pub use lint::did_you_mean;
pub use placeholders::{Effect, Placeholder, placeholder_name, placeholder_url};
pub use schema::*;
use source::read_message;
pub use source::*;
pub use telemetry::{DEFAULT_API_KEY_ENV, DEFAULT_SINCE, NERDGRAPH_EU, NERDGRAPH_US};

#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    /// One line: the path, what named it and what to do (the I/O error is
    /// in the words, not chained, so it is not said twice).
    #[error("{}", read_message(path, *origin, error))]
    Read { path: String, origin: Option<Origin>, error: std::io::Error },
    #[error("{path}: the runbook is {size} bytes; a runbook is at most 1 MiB")]
    TooLarge { path: String, size: u64 },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: String, line: u64, column: u64, message: String, hint: Option<String> },
    /// A command that needs the `telemetry` block, on a runbook without one
    /// for the environment.
    #[error(
        "{path} has no `telemetry` block for environment {env}: add one naming your metrics provider (`keysvc-check runbook init starter.yaml` writes a starter with a commented example)"
    )]
    NoTelemetry { path: String, env: String },
}

impl RunbookError {
    fn at(path: &str, loc: Option<serde_saphyr::Location>, message: impl Into<String>) -> RunbookError {
        let (line, column) = loc.map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
        RunbookError::Invalid { path: path.to_string(), line, column, message: message.into(), hint: None }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses and checks a runbook; the first problem is the error.
pub fn parse(src: &Source) -> Result<Runbook, RunbookError> {
    parse_all(src).map_err(|mut problems| problems.swap_remove(0))
}

/// Parses and checks a runbook; on failure, every problem found, in file order
/// (never an empty list).
pub fn parse_all(src: &Source) -> Result<Runbook, Vec<RunbookError>> {
    let path = src.name.as_str();
    if src.text.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(vec![RunbookError::TooLarge { path: path.into(), size: src.text.len() as u64 }]);
    }
    let root = node::read(path, &src.text).map_err(|e| vec![e])?;
    let problems = lint::lint(path, &root);
    if !problems.is_empty() {
        return Err(problems);
    }
    let rb = match build::runbook(&root) {
        Some(rb) => rb,
        None => strict(path, &src.text, &root).map_err(|e| vec![e])?,
    };
    validate::validate(&rb, path).map_err(|e| vec![e])?;
    Ok(rb)
}

/// The strict pass (serde) over the text, for a tree the builder cannot
/// build for certain: its word is final, its error the problem. The lines of
/// the keys come from the tree.
fn strict(path: &str, text: &str, root: &node::N) -> Result<Runbook, RunbookError> {
    node::count_parse();
    let rb: Runbook =
        serde_saphyr::from_str(text).map_err(|e| RunbookError::at(path, e.location(), saphyr_message(&e)))?;
    Ok(build::placed(rb, root))
}

/// The parser's message without the code excerpt and location it also
/// prints (we print our own location, once).
pub(crate) fn saphyr_message(e: &serde_saphyr::Error) -> String {
    let full = one_line(&e.without_snippet().to_string());
    let full = full.strip_prefix("error: ").unwrap_or(&full).to_string();
    let trimmed = match full.find(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    match trimmed.strip_prefix(|c: char| c == 'l').and_then(|t| t.split_once(": ")) {
        // "line 3 column 1: message": the location is ours to print.
        Some((loc, msg)) if loc.starts_with("ine ") => msg.to_string(),
        _ => trimmed,
    }
}

#[cfg(test)]
mod tests;
