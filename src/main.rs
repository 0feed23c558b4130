//! The `keysvc-check` binary: parses the arguments (answering completion
//! requests and `--help` itself) and exits with the code `run` returns.

use std::process::ExitCode;

use keysvc_check::ExitCode as Code;

fn main() -> ExitCode {
    keysvc_check::install_crypto();
    // A completion script calling back for candidates: answer and exit.
    clap_complete::CompleteEnv::with_factory(keysvc_check::Cli::shown).var(keysvc_check::complete::VAR).complete();
    let cli = match keysvc_check::Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::*;
            let code = match e.kind() {
                DisplayHelp | DisplayVersion => Code::Healthy,
                _ => Code::Usage,
            };
            let _ = e.print();
            return code.into();
        }
    };
    keysvc_check::init_tracing(&cli);
    keysvc_check::run(cli).into()
}
