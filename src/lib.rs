//! keysvc-check: the "Key Service API is down" runbook as one command.
//!
//! `run` is the whole program after argument parsing: it turns the arguments
//! and runbook into a plan, runs the steps, renders the report and returns the
//! exit code. Errors are printed once, here.

pub mod advice;
pub mod app;
pub mod cli;
pub mod complete;
pub mod doctor;
pub mod duration;
pub mod error;
pub mod evidence;
pub mod execute;
pub mod judge;
pub mod kube;
pub mod mask;
pub mod plan;
pub mod render;
pub mod report;
pub mod runbook;
pub mod sanitize;
pub mod shell;

use std::io::IsTerminal;

pub use cli::Cli;
pub use error::{ExitCode, UsageError};

/// Makes ring the process's TLS provider (reqwest and kube need one).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Logs and progress go to stderr; `-v` shows ours at debug, `-vv` adds the
/// Kubernetes client. The client's own connection errors are silenced by
/// default: they are reported in the results instead.
pub fn init_tracing(cli: &Cli) {
    let filter = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "off",
        (false, 0) => "warn,kube_client=off,kube=off,hyper=off,rustls=off",
        (false, 1) => "warn,keysvc_check=debug,kube_client=off,kube=off",
        (false, _) => "debug,kube_client=debug,hyper=info,hyper_util=info,rustls=info,h2=info,tower=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYSVC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::stderr().is_terminal()
                && !app::dumb_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .try_init();
}

/// Runs the command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // Process-wide, set once here: every outside string is masked where it
    // enters (`sanitize::clean`, `logs::normalize`), far from the flag.
    mask::set_enabled(!cli.global.no_mask);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keysvc-check: error: cannot start the runtime: {e}");
            return ExitCode::Internal;
        }
    };
    let result = rt.block_on(app::run(cli));
    // A hung credential plugin must not keep the process alive.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(code) => code,
        Err(err) => {
            let code = if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::Usage
            } else if err.downcast_ref::<runbook::RunbookError>().is_some() {
                ExitCode::Config
            } else {
                ExitCode::Internal
            };
            eprintln!("keysvc-check: error: {}", sanitize::clean(&format!("{err:#}"), 2000));
            if let Some(hint) = app::hint(&err) {
                eprintln!("hint: {hint}");
            }
            code
        }
    }
}
