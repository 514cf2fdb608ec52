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
    /// Time the CUDA variants on the GPU (CUDA events; warm and cold L2) next to a device copy of the same bytes.
    #[command(after_help = AFTER_HELP.as_str())]
    GpuBench(GpuBenchArgs),
    /// Compile the CUDA kernels with NVRTC for an architecture (no GPU needed); print the resource report.
    Kernels(KernelsArgs),
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
    /// Fail (exit status 6) when a selected CUDA variant cannot run here, instead of skipping it.
    #[arg(long)]
    pub require_gpu: bool,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// `judge gpu-bench`.
#[derive(Debug, Clone, Args)]
pub struct GpuBenchArgs {
    /// Time this CUDA variant; repeat for several. Default: every CUDA variant.
    #[arg(long = "solution", value_name = "NAME")]
    pub solutions: Vec<String>,
    /// Time the cases of this suite; repeat for several. Default: perf.
    #[arg(long = "suite", value_name = "SUITE")]
    pub suites: Vec<Suite>,
    /// Independently generated input sets rotated per case.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub sets: u32,
    /// Time budget per variant, case and regime, in seconds.
    #[arg(long, default_value_t = 2.0, value_parser = positive)]
    pub budget: f64,
    /// Stop sampling once the median's relative error (95% interval half-width) is below this.
    #[arg(long, default_value_t = 0.005, value_parser = positive)]
    pub target_rel_err: f64,
    /// Also time the copy after a memset flush, to show what dirty L2 lines cost.
    #[arg(long)]
    pub compare_flush: bool,
    /// Measurement aid: no poison between the warm regime's warming call and its timed call (the warm timed
    /// output is then not told apart from the warming call's).
    #[arg(long)]
    pub warm_no_poison: bool,
    /// Write the results document (versioned JSON) here; it is rewritten after every entry.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// `judge kernels`.
#[derive(Debug, Clone, Args)]
pub struct KernelsArgs {
    /// Architecture to compile for (`sm_90`, `compute_90`); default: the GPU's, when there is one.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Write each compiled image (`.cubin` or `.ptx`) and its log into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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

fn positive(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must be finite and > 0"))
    }
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
