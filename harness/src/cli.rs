//! The `judge` command line (clap derive). Each subcommand's arguments live here; what they do lives in
//! [`crate::commands`].

use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{Args, Parser, Subcommand};

use crate::challenge::DEFAULT_TOLERANCE;
use crate::challenge::generate::Generator;
use crate::challenge::suites::{DEFAULT_SEED, Suite};
use crate::io::Format;
use crate::verdict::ExitStatus;

static AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| format!("Exit statuses:\n{}", ExitStatus::help_table()));

/// A benchmark and correctness judge for the TurboQuant attention-scores challenge.
///
/// It generates valid inputs, runs each solution variant through one interface, checks every output against
/// an f64 oracle (|x − ref| ≤ atol + rtol·|ref|), and reports verdicts, errors and times.
#[derive(Debug, Parser)]
#[command(name = "judge", version, after_help = AFTER_HELP.as_str())]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the solution variants (with availability here), suites and generators.
    List,
    /// Check solutions against the oracle on suites or case files, and print a table.
    #[command(after_help = AFTER_HELP.as_str())]
    Run(RunArgs),
    /// Write cases to files or inspect case files.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Measure how close the compressed estimate is to the true scores (MSE-only vs MSE+QJL).
    Quality(QualityArgs),
}

/// Options shared by commands that check outputs.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Seed for generated cases (each case derives its own seed from it and its name).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Absolute tolerance: an element passes when |x − ref| ≤ atol + rtol·|ref|.
    #[arg(long, default_value_t = DEFAULT_TOLERANCE.atol, value_parser = non_negative)]
    pub atol: f64,
    /// Relative tolerance (see --atol).
    #[arg(long, default_value_t = DEFAULT_TOLERANCE.rtol, value_parser = non_negative)]
    pub rtol: f64,
}

/// `judge run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Run every built-in variant that can run here (those that cannot are shown as skipped).
    #[arg(long, conflicts_with = "solutions")]
    pub all: bool,
    /// Run this variant; repeat for several. `judge list` shows the names.
    #[arg(long = "solution", value_name = "NAME")]
    pub solutions: Vec<String>,
    /// Run this suite; repeat for several. Default: functional and perf (none when --case is given).
    #[arg(long = "suite", value_name = "SUITE")]
    pub suites: Vec<Suite>,
    /// Run on a case file (.npz, .safetensors or .json); repeat for several.
    #[arg(long = "case", value_name = "FILE")]
    pub cases: Vec<PathBuf>,
    /// Write the results document (versioned JSON) here; it is rewritten after every entry.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// `judge case …`.
#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Generate a suite's cases and write them to files, with the oracle's scores.
    Export(ExportArgs),
    /// Read a case file, validate it, and print what it holds.
    Info(InfoArgs),
}

/// `judge case export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The suite to export.
    #[arg(long, value_name = "SUITE")]
    pub suite: Suite,
    /// Export only this case of the suite.
    #[arg(long = "name", value_name = "CASE")]
    pub name: Option<String>,
    /// Where to write: a file (.npz, .safetensors, .json) for one case, or a directory for several.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// File format when --out is a directory.
    #[arg(long, value_enum, default_value_t = Format::Safetensors)]
    pub format: Format,
    /// Leave out the oracle's scores.
    #[arg(long)]
    pub no_scores: bool,
    /// Seed for generation.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

/// `judge case info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The case file.
    pub file: PathBuf,
}

/// `judge quality`.
#[derive(Debug, Args)]
pub struct QualityArgs {
    /// Generator of the keys (it must keep the true keys: turboquant or challenge).
    #[arg(long, default_value_t = Generator::Turboquant)]
    pub generator: Generator,
    /// Number of queries.
    #[arg(long, default_value_t = 8)]
    pub b: usize,
    /// Number of keys.
    #[arg(long, default_value_t = 4096)]
    pub s: usize,
    /// Head dimension.
    #[arg(long, default_value_t = 128)]
    pub d: usize,
    /// Codebook sizes to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [2usize, 4, 8, 16])]
    pub levels: Vec<usize>,
    /// Seed for generation.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Write the statistics as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn non_negative(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must be finite and ≥ 0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tolerances_must_be_non_negative() {
        assert!(Cli::try_parse_from(["judge", "run", "--all", "--atol", "-1"]).is_err());
        assert!(Cli::try_parse_from(["judge", "run", "--all", "--rtol", "nan"]).is_err());
        assert!(Cli::try_parse_from(["judge", "run", "--all", "--atol", "0"]).is_ok());
        assert!(Cli::try_parse_from(["judge", "run", "--all", "--solution", "cpu-naive"]).is_err());
    }
}
