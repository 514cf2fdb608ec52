//! What each subcommand does. Every command returns the exit status it earned, or a [`CommandError`] that
//! knows its own exit status; `main` only maps them to the process exit code.

pub mod bench;
mod case;
pub mod check;
mod compare;
pub mod gate;
mod kernels;
mod list;
mod quality;
mod report;
pub mod run;
mod worker;

use solutions::Solution;

use crate::bench::BenchError;
use crate::challenge::generate::GenerateError;
use crate::cli::{CaseCommand, Cli, Command};
use crate::gate::GateError;
use crate::io::FileError;
use crate::report::ReportError;
use crate::sandbox::SandboxError;
use crate::submission::SubmissionError;
use crate::verdict::ExitStatus;

pub use run::{RunPlan, execute, run_in_memory};

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
    #[error("could not write {0}")]
    Output(FileError),
    /// An output file named by a command-line option cannot be written (found before the work starts).
    #[error("{option}: could not write {source}")]
    Unwritable {
        /// The option, such as `--json`.
        option: &'static str,
        #[source]
        source: FileError,
    },
    /// A submission named on the command line cannot be used.
    #[error(transparent)]
    Submission(#[from] SubmissionError),
    /// The judge could not set up or run its worker processes.
    #[error("the judge could not run submissions: {0}")]
    Sandbox(#[source] SandboxError),
    /// The judge could not prepare its private directories.
    #[error("could not create a working directory: {0}")]
    Workdir(#[source] std::io::Error),
    /// The gate could not judge.
    #[error(transparent)]
    Gate(GateError),
    /// A bench could not go on.
    #[error(transparent)]
    Bench(#[from] BenchError),
    /// A report could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// Something the command requires is missing on this machine (a GPU, a driver, NVRTC).
    #[error("{0}")]
    Unavailable(String),
}

impl From<GateError> for CommandError {
    fn from(error: GateError) -> Self {
        match error {
            GateError::Case(inner) => *inner,
            other => CommandError::Gate(other),
        }
    }
}

impl CommandError {
    /// The exit status this error leads to.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CommandError::Usage(_) | CommandError::Input(_) | CommandError::Generate { .. } => {
                ExitStatus::Usage
            }
            CommandError::Submission(_) => ExitStatus::Usage,
            CommandError::Gate(e) => e.exit_status(),
            CommandError::Bench(BenchError::Generate { .. }) => ExitStatus::Usage,
            CommandError::Output(_)
            | CommandError::Unwritable { .. }
            | CommandError::Sandbox(_)
            | CommandError::Workdir(_)
            | CommandError::Report(_) => ExitStatus::Internal,
            CommandError::Unavailable(_) => ExitStatus::Unavailable,
        }
    }
}

/// The lines that report `error` to the user: its message, then each cause in its chain that the lines before
/// do not already say. Many messages embed their cause's text (`"{path}: {source}"`) and still expose it as the
/// source, and a cause printed twice reads like two failures.
pub fn error_lines(error: &dyn std::error::Error) -> Vec<String> {
    let mut lines = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !lines.iter().any(|line| line.contains(&text)) {
            lines.push(text);
        }
        source = cause.source();
    }
    lines
}

/// Prints `error` on stderr as the judge reports every error: `error: …`, then one `caused by: …` line per cause
/// that the message does not already hold.
pub fn eprint_error(error: &dyn std::error::Error) {
    let mut lines = error_lines(error).into_iter();
    if let Some(message) = lines.next() {
        crate::errln!("error: {message}");
    }
    for cause in lines {
        crate::errln!("  caused by: {cause}");
    }
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<ExitStatus, CommandError> {
    let computes = matches!(
        cli.command,
        Command::Run(_)
            | Command::Case(_)
            | Command::Quality(_)
            | Command::Check(_)
            | Command::Gate(_)
            | Command::Bench(_)
    );
    if computes {
        start_thread_pool()?;
    }
    match cli.command {
        Command::List => list::list(),
        Command::Run(args) => run::run(&args),
        Command::Case(CaseCommand::Export(args)) => case::export(&args),
        Command::Case(CaseCommand::Info(args)) => case::info(&args),
        Command::Quality(args) => quality::quality(&args),
        Command::Check(args) => check::check_file(&args),
        Command::Gate(args) => gate::gate(&args),
        Command::Worker => worker::worker(),
        Command::Bench(args) => bench::bench(&args),
        Command::Compare(args) => compare::compare(&args),
        Command::Report(args) => report::report(&args),
        Command::Kernels(args) => kernels::kernels(&args),
    }
}

/// Starts rayon's global pool (one thread per core, or `RAYON_NUM_THREADS`), on which generation, the oracle and
/// `cpu-tiled` run, before a command that computes does anything. A pool that cannot start (more threads than
/// the machine gives) is then an error that names the setting (status 6), instead of rayon's panic at the first
/// parallel loop, with a status no command documents. A pool already running is no failure.
fn start_thread_pool() -> Result<(), CommandError> {
    let Err(error) = rayon::ThreadPoolBuilder::new().build_global() else {
        return Ok(());
    };
    // Only a failure to start threads has a cause; "already initialised" has none.
    let Some(cause) = std::error::Error::source(&error) else {
        return Ok(());
    };
    let setting = match std::env::var("RAYON_NUM_THREADS") {
        Ok(value) => format!("RAYON_NUM_THREADS={value}"),
        Err(_) => "one per core".to_owned(),
    };
    Err(CommandError::Unavailable(format!(
        "rayon's thread pool ({setting}) could not be started: {cause}; set RAYON_NUM_THREADS to fewer threads"
    )))
}

/// `items` with every item that is `same` as an earlier one left out, in the order first given: what a repeated
/// option names twice (a variant, a suite, a case file, a codebook size) is run once, not measured twice and
/// then compared with itself.
pub fn once_each<T>(items: impl IntoIterator<Item = T>, same: impl Fn(&T, &T) -> bool) -> Vec<T> {
    let mut kept: Vec<T> = Vec::new();
    for item in items {
        if !kept.iter().any(|k| same(k, &item)) {
            kept.push(item);
        }
    }
    kept
}

/// The variants named by repeated `--solution` options, each once ([`once_each`]).
pub fn solutions_by_name(names: &[String]) -> Result<Vec<Box<dyn Solution>>, CommandError> {
    once_each(names, |a, b| a == b)
        .into_iter()
        .map(|name| solution_by_name(name))
        .collect()
}

/// A variant by name: a built-in one, or a known-bad fixture (for testing the judge itself).
pub fn solution_by_name(name: &str) -> Result<Box<dyn Solution>, CommandError> {
    solutions::find(name)
        .or_else(|| {
            solutions::known_bad::all()
                .into_iter()
                .find(|b| b.name() == name)
                .map(|b| Box::new(b) as Box<dyn Solution>)
        })
        .ok_or_else(|| {
            let known: Vec<String> = solutions::registry()
                .iter()
                .map(|s| s.name().to_owned())
                .collect();
            let known_bad: Vec<String> = solutions::known_bad::all()
                .iter()
                .map(|b| b.name().to_owned())
                .collect();
            CommandError::Usage(format!(
                "unknown solution '{name}'; known: {}; known-bad, for testing the judge: {}",
                known.join(", "),
                known_bad.join(", ")
            ))
        })
}

/// Prints one progress line on stderr: `  [done/total] name  verdict  time`, the name padded to `width`, the time
/// (seconds, when the entry has one) as [`format_seconds`] writes it.
pub fn progress_line(
    (done, total): (usize, usize),
    name: &str,
    width: usize,
    verdict: crate::verdict::Verdict,
    seconds: Option<f64>,
) {
    let time = seconds.map(format_seconds).unwrap_or_default();
    crate::errln!(
        "  [{done}/{total}] {name:<width$} {:<14} {time}",
        verdict.name()
    );
}

/// Formats seconds for a table: ns below a microsecond, µs below a millisecond, ms below a second, s above.
pub fn format_seconds(seconds: f64) -> String {
    if seconds < 1e-6 {
        format!("{:.0} ns", seconds * 1e9)
    } else if seconds < 1e-3 {
        format!("{:.1} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// A check's error figures as tables show them, each written by `format`: max abs error, max rel error and
/// relative Frobenius error. They are measured over finite elements only, so beside NaN or ±inf they would read
/// as exact: then they are `n/a (N non-finite)`, `n/a`, `n/a`.
pub fn error_figures(check: &crate::check::CheckReport, format: fn(f64) -> String) -> [String; 3] {
    if check.non_finite > 0 {
        [
            format!("n/a ({} non-finite)", check.non_finite),
            "n/a".to_owned(),
            "n/a".to_owned(),
        ]
    } else {
        [
            format(check.max_abs_err),
            format(check.max_rel_err),
            format(check.rel_frobenius),
        ]
    }
}

/// Refuses (status 2) a report directory `dir`, given as `option`, that is an existing file, not a directory:
/// a report is a directory of files, and creating it there could only fail once the work was done.
pub(super) fn refuse_file_as_report_dir(
    option: &str,
    dir: &std::path::Path,
) -> Result<(), CommandError> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(CommandError::Usage(format!(
            "{option} {}: it is a file, and a report is a directory of files",
            dir.display()
        ))),
        _ => Ok(()),
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn times_below_a_microsecond_keep_their_digits() {
        // A call of 40 ns had read "0.0 µs", as if it took no time, and 420 ns "0.4 µs".
        assert_eq!(format_seconds(40e-9), "40 ns");
        assert_eq!(format_seconds(423.4e-9), "423 ns");
        assert_eq!(format_seconds(0.0), "0 ns");
        assert_eq!(format_seconds(1e-6), "1.0 µs");
        assert_eq!(format_seconds(2.5e-3), "2.50 ms");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("could not judge")]
    struct Terse(#[source] FileError);

    #[test]
    fn a_cause_the_message_already_says_is_not_repeated() {
        let error = CommandError::Input(FileError::Io {
            path: PathBuf::from("/missing/case.npz"),
            source: io::Error::from(io::ErrorKind::NotFound),
        });
        let lines = error_lines(&error);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("/missing/case.npz: "), "{lines:?}");
        assert!(lines[0].contains("not found"), "{lines:?}");
    }

    #[test]
    fn a_cause_the_message_leaves_out_is_listed() {
        let error = Terse(FileError::Io {
            path: PathBuf::from("out.json"),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        });
        let lines = error_lines(&error);
        // The file error names the io error, so the chain ends there.
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0], "could not judge");
        assert!(lines[1].starts_with("out.json: "), "{lines:?}");
        assert!(lines[1].contains("ermission denied"), "{lines:?}");
    }
}
