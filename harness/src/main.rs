//! The `judge` binary: parses the command line, runs the command, maps the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;
use harness::cli::Cli;
use harness::commands::dispatch;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            error.exit_status().into()
        }
    }
}
