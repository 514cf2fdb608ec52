//! The `judge` binary: parses the command line, runs the command, maps the outcome to an exit status.

// Output goes through `harness::outln!`, which stops printing quietly when stdout is closed (a pipe into `head`);
// a plain `print!` would panic there.
#![deny(clippy::print_stdout)]

use std::process::ExitCode;

use clap::Parser;
use harness::cli::Cli;
use harness::commands::{dispatch, eprint_error};

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(status) => status.into(),
        Err(error) => {
            eprint_error(&error);
            error.exit_status().into()
        }
    }
}
