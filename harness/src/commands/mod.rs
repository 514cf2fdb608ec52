//! What each subcommand does. Every command returns the exit status it earned, or a [`CommandError`] that
//! knows its own exit status; `main` only maps them to the process exit code.

mod case;
pub mod gpu_bench;
mod kernels;
mod list;
mod quality;
pub mod run;

use crate::challenge::generate::GenerateError;
use crate::cli::{CaseCommand, Cli, Command};
use crate::io::FileError;
use crate::verdict::ExitStatus;

pub use run::{RunPlan, execute};

/// Why a command could not do its work (as opposed to a solution failing, which is a verdict).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The arguments do not make sense together, or name something unknown.
    #[error("{0}")]
    Usage(String),
    /// A case file could not be read or is invalid.
    #[error(transparent)]
    Input(FileError),
    /// A case could not be generated.
    #[error("case '{case}': {source}")]
    Generate {
        case: String,
        #[source]
        source: GenerateError,
    },
    /// The judge could not write its output.
    #[error("could not write results: {0}")]
    Output(FileError),
    /// Something the command requires is missing on this machine (a GPU, a driver, NVRTC).
    #[error("{0}")]
    Unavailable(String),
}

impl CommandError {
    /// The exit status this error leads to.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CommandError::Usage(_) | CommandError::Input(_) | CommandError::Generate { .. } => {
                ExitStatus::Usage
            }
            CommandError::Output(_) => ExitStatus::Internal,
            CommandError::Unavailable(_) => ExitStatus::Unavailable,
        }
    }
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<ExitStatus, CommandError> {
    match cli.command {
        Command::List => list::list(),
        Command::Run(args) => run::run(&args),
        Command::Case(CaseCommand::Export(args)) => case::export(&args),
        Command::Case(CaseCommand::Info(args)) => case::info(&args),
        Command::Quality(args) => quality::quality(&args),
        Command::GpuBench(args) => gpu_bench::gpu_bench(&args),
        Command::Kernels(args) => kernels::kernels(&args),
    }
}

/// Formats seconds for a table: µs below a millisecond, ms below a second, s above.
pub fn format_seconds(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.1} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// Formats an error magnitude compactly (`0`, `3.1e-7`).
pub fn format_error(value: f64) -> String {
    if value == 0.0 {
        "0".to_owned()
    } else {
        format!("{value:.1e}")
    }
}
