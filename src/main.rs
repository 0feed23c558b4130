use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    keysvc_check::install_crypto();
    let cli = match keysvc_check::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::*;
            let code = match e.kind() {
                DisplayHelp | DisplayVersion => 0,
                _ => keysvc_check::exit::USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    keysvc_check::init_tracing(&cli);
    ExitCode::from(keysvc_check::run(cli))
}
