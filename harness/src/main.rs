//! The `judge` binary: parses the command line, runs the command, maps the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;
use harness::cli::Cli;
use harness::commands::{dispatch, error_lines};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(status) => status.into(),
        Err(error) => {
            let mut lines = error_lines(&error).into_iter();
            if let Some(message) = lines.next() {
                eprintln!("error: {message}");
            }
            for cause in lines {
                eprintln!("  caused by: {cause}");
            }
            error.exit_status().into()
        }
    }
}
