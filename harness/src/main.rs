//! The `judge` binary: parses the command line, runs the command, maps the outcome to an exit status.

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use clap::Parser;
use harness::cli::Cli;
use harness::commands::{dispatch, error_lines};

/// The start of the panic message of `print!` when stdout cannot be written.
const PRINT_FAILED: &str = "failed printing to stdout";

/// True for the panic `print!` raises when the reader of stdout has gone (a pipe into `head`).
fn is_closed_stdout(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    message.starts_with(PRINT_FAILED) && message.contains("Broken pipe")
}

fn main() -> ExitCode {
    // The commands print through `harness::outln!`, which stops printing quietly when stdout is closed. Any
    // plain `print!` left panics instead: that panic is not reported, and the process ends as a Unix tool
    // whose pipe closed does, by SIGPIPE, once unwinding has stopped its workers. (SIGPIPE itself stays
    // ignored while the judge runs: it writes to its workers' pipes, and a worker may die at any time.)
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !is_closed_stdout(info.payload()) {
            default_hook(info);
        }
    }));
    let cli = Cli::parse();
    let outcome = match panic::catch_unwind(AssertUnwindSafe(|| dispatch(cli))) {
        Ok(outcome) => outcome,
        Err(payload) if is_closed_stdout(payload.as_ref()) => return die_of_sigpipe(),
        Err(payload) => panic::resume_unwind(payload),
    };
    match outcome {
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

/// Ends the process by SIGPIPE, as a tool writing into a closed pipe ends (status 141 in a shell).
fn die_of_sigpipe() -> ExitCode {
    // SAFETY: restoring a signal's default action and raising it in this process have no memory effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    ExitCode::from(141)
}
