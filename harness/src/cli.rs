//! The `judge` command line (clap derive). Each subcommand's arguments live here; what they do lives in
//! [`crate::commands`].

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::bench::DEFAULT_INPUT_SETS;
use crate::bench::axes::Axis;
use crate::bench::plan::Preset;
use crate::challenge::DEFAULT_TOLERANCE;
use crate::challenge::generate::Generator;
use crate::challenge::suites::{DEFAULT_SEED, Suite};
use crate::io::Format;
use crate::sandbox::env::parse_variable_name;
use crate::sandbox::limits::{
    Limits, MIB, check_limit_seconds, parse_compile_memory_mib, parse_limit_seconds,
    parse_memory_mib,
};
use crate::sandbox::{SandboxConfig, WorkerCommand, WorkerUser, Workspace};
use crate::submission::{COMPILE_MEMORY_MIB, CompileOptions};
use crate::verdict::{ExitStatus, Verdict};

static AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| statuses_help(&ExitStatus::ALL, ExitStatus::Success.meaning()));

/// The exit statuses `judge run` can end with: no time verdicts (5), which only the gate gives.
pub const RUN_STATUSES: &[ExitStatus] = &[
    ExitStatus::Success,
    ExitStatus::WrongAnswer,
    ExitStatus::Usage,
    ExitStatus::CompileError,
    ExitStatus::RuntimeError,
    ExitStatus::Unavailable,
    ExitStatus::Internal,
];
/// The exit statuses `judge check` can end with: it runs nothing and writes nothing (6: rayon's threads, on which
/// the oracle runs, could not be started).
pub const CHECK_STATUSES: &[ExitStatus] = &[
    ExitStatus::Success,
    ExitStatus::WrongAnswer,
    ExitStatus::Usage,
    ExitStatus::Unavailable,
];
/// The exit statuses `judge bench` can end with: built-in variants only, so nothing is compiled.
pub const BENCH_STATUSES: &[ExitStatus] = &[
    ExitStatus::Success,
    ExitStatus::WrongAnswer,
    ExitStatus::Usage,
    ExitStatus::RuntimeError,
    ExitStatus::SlowOrSuspicious,
    ExitStatus::Unavailable,
    ExitStatus::Internal,
];
/// The exit statuses `judge compare` can end with: it reads two documents and prints.
pub const COMPARE_STATUSES: &[ExitStatus] = &[ExitStatus::Success, ExitStatus::Usage];
/// The exit statuses `judge report` can end with: it runs no solution and writes files.
pub const REPORT_STATUSES: &[ExitStatus] =
    &[ExitStatus::Success, ExitStatus::Usage, ExitStatus::Internal];
/// The exit statuses `judge quality` can end with: it runs no solution and writes files, on rayon's threads.
pub const QUALITY_STATUSES: &[ExitStatus] = &[
    ExitStatus::Success,
    ExitStatus::Usage,
    ExitStatus::Unavailable,
    ExitStatus::Internal,
];

/// The exit statuses `judge list` can end with: it only prints.
pub const LIST_STATUSES: &[ExitStatus] = &[ExitStatus::Success, ExitStatus::Usage];
/// The exit statuses `judge case export` can end with: it generates cases and writes files.
pub const EXPORT_STATUSES: &[ExitStatus] = &[
    ExitStatus::Success,
    ExitStatus::Usage,
    ExitStatus::Unavailable,
    ExitStatus::Internal,
];
/// The exit statuses `judge case info` can end with: it reads one file and prints.
pub const INFO_STATUSES: &[ExitStatus] = &[
    ExitStatus::Success,
    ExitStatus::Usage,
    ExitStatus::Unavailable,
];

/// The `Exit statuses:` block of a command's help: `statuses`, status 0 said as `success` (what it means for
/// that command).
pub fn statuses_help(statuses: &[ExitStatus], success: &str) -> String {
    format!(
        "Exit statuses:\n{}",
        ExitStatus::help_table(statuses, success)
    )
}

static RUN_AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| statuses_help(RUN_STATUSES, ExitStatus::Success.meaning()));
static CHECK_AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| statuses_help(CHECK_STATUSES, "the scores passed"));
static BENCH_AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| statuses_help(BENCH_STATUSES, ExitStatus::Success.meaning()));
static COMPARE_AFTER_HELP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\n(2 also when the documents share no entry, by solution, case and mode: nothing compared)",
        statuses_help(COMPARE_STATUSES, "the documents were compared")
    )
});
static REPORT_AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| statuses_help(REPORT_STATUSES, "the report was written"));
static QUALITY_AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| statuses_help(QUALITY_STATUSES, "the statistics were printed"));

static LIST_AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| statuses_help(LIST_STATUSES, "the lists were printed"));
static EXPORT_AFTER_HELP: LazyLock<String> =
    LazyLock::new(|| statuses_help(EXPORT_STATUSES, "the cases were written"));
static INFO_AFTER_HELP: LazyLock<String> = LazyLock::new(|| {
    statuses_help(
        INFO_STATUSES,
        "a valid case (its stored scores, if any, agree with the oracle)",
    )
});
/// `judge kernels` ends with 4 when a kernel does not compile: the meaning of 4 for that command.
static KERNELS_AFTER_HELP: LazyLock<String> = LazyLock::new(|| {
    let unavailable = format!(
        "{} (NVRTC, or a GPU when no --arch is given)",
        ExitStatus::Unavailable.meaning()
    );
    format!(
        "Exit statuses:\n{}",
        ExitStatus::help_rows(&[
            (ExitStatus::Success, "every kernel compiled"),
            (ExitStatus::Usage, ExitStatus::Usage.meaning()),
            (
                ExitStatus::RuntimeError,
                "a kernel did not compile for this architecture (the compiler's log is printed)"
            ),
            (ExitStatus::Unavailable, &unavailable),
        ])
    )
});

static GATE_AFTER_HELP: LazyLock<String> = LazyLock::new(|| {
    let verdicts: Vec<String> = Verdict::ALL
        .iter()
        .map(|v| format!("  {:<14} {}", v.name(), v.meaning()))
        .collect();
    format!(
        "Verdicts:\n{}\n\n{}",
        verdicts.join("\n"),
        statuses_help(&ExitStatus::ALL, ExitStatus::Success.meaning())
    )
});

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
    #[command(after_help = LIST_AFTER_HELP.as_str())]
    List,
    /// Check solutions against the oracle on suites or case files, and print a table.
    #[command(after_help = RUN_AFTER_HELP.as_str())]
    Run(RunArgs),
    /// Write cases to files or inspect case files.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Measure how close the compressed estimate is to the true scores (MSE-only vs MSE+QJL).
    #[command(after_help = QUALITY_AFTER_HELP.as_str())]
    Quality(QualityArgs),
    /// Check scores produced elsewhere (PyTorch, Triton, JAX, …) against the oracle of a case file.
    #[command(after_help = CHECK_AFTER_HELP.as_str())]
    Check(CheckFileArgs),
    /// Judge one submitted solution for CI: the functional suite and the perf case with every anti-cheat
    /// check, its time against the physical floor and a baseline, one verdict and exit status.
    #[command(after_help = GATE_AFTER_HELP.as_str())]
    Gate(GateArgs),
    /// Serve the judge as the worker process that runs submitted code (internal).
    #[command(hide = true)]
    Worker,
    /// Time solutions (checked first) on a preset or on parameter axes; write JSON and, optionally, a report.
    ///
    /// A sample is one call, never a batch. CPU variants are timed by the wall clock in warm mode only: no cache
    /// is flushed, the input set is wherever the calls on the other sets left it, and the output was just
    /// poisoned (so its lines are in cache); a call under a microsecond includes the clock's own reading. Their
    /// speed of light is the FMA peak and read bandwidth measured on rayon's threads (RAYON_NUM_THREADS). CUDA
    /// variants are timed with CUDA events, warm and cold (the L2 flushed by reads).
    #[command(after_help = BENCH_AFTER_HELP.as_str())]
    Bench(BenchArgs),
    /// Compare two results documents: median ratios, and which differences are beyond noise.
    #[command(after_help = COMPARE_AFTER_HELP.as_str())]
    Compare(CompareArgs),
    /// Render the HTML, Markdown and PNG report of a results document.
    #[command(after_help = REPORT_AFTER_HELP.as_str())]
    Report(ReportArgs),
    /// Compile the CUDA kernels with NVRTC for an architecture (no GPU needed); print the resource report.
    #[command(after_help = KERNELS_AFTER_HELP.as_str())]
    Kernels(KernelsArgs),
}

/// `judge bench --max-samples` when it is not given (and `--min-samples` is not above it).
pub const DEFAULT_MAX_SAMPLES: u64 = 10_000;

/// `judge bench --min-samples` when it is not given (and `--max-samples` is not below it).
pub const DEFAULT_MIN_SAMPLES: u64 = 10;

/// `judge bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The cases to measure: perf (B=32 S=32768 D=128 C=16), scaling (S and D sweeps), functional.
    #[arg(long, value_enum, default_value_t = Preset::Perf)]
    pub preset: Preset,
    /// Replace a shape dimension of the preset's cases by a sweep, nvbench style; repeat for a cartesian
    /// product. Forms: S=1024:65536:pow2, D=64,128,256, B=8:32:8. Swept cases use the challenge generator.
    #[arg(long = "axis", value_name = "DIM=VALUES", value_parser = parse_axis)]
    pub axes: Vec<Axis>,
    /// Measure this variant; repeat for several. Default: every built-in variant (those that cannot run here
    /// are listed as skipped).
    #[arg(long = "solution", value_name = "NAME")]
    pub solutions: Vec<String>,
    /// Stop sampling once the median's relative error (95% CI half-width over the median) is below this.
    #[arg(long, default_value_t = 0.01, value_parser = positive, allow_negative_numbers = true)]
    pub target_rel_err: f64,
    /// Stop sampling one measurement after this long (e.g. 10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub budget: Duration,
    /// Warm up for at least this long before sampling.
    #[arg(long, default_value = "200ms", value_parser = parse_duration, allow_hyphen_values = true)]
    pub warmup: Duration,
    /// Warm up with at least this many untimed calls.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub warmup_calls: usize,
    /// Take at least this many samples (unless the budget runs out first) [default: 10, or --max-samples when
    /// that is less].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    pub min_samples: Option<u64>,
    /// Take at most this many samples, at least --min-samples [default: 10000, or --min-samples when that is
    /// more].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    pub max_samples: Option<u64>,
    /// Independently generated input sets per case, rotated between calls.
    #[arg(long, default_value_t = DEFAULT_INPUT_SETS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64), allow_negative_numbers = true)]
    pub input_sets: usize,
    /// Write the results document here (rewritten after every measurement). Default: results.json in the
    /// --report directory, else a new file reports/bench-`<UTC date>-<time>`.json (-2, -3, … added when that
    /// name is taken).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the HTML, Markdown and PNG report into this directory.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// No progress on stderr. Without it, stderr shows a live display on a terminal, and elsewhere (a CI log)
    /// one plain line per finished measurement.
    #[arg(long, short)]
    pub quiet: bool,
    /// Time variants whose output is wrong too (for ablations that switch parts of a solve off); they keep
    /// the wrong-answer verdict and are left out of the charts.
    #[arg(long)]
    pub time_wrong_answers: bool,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub gpu: GpuArgs,
}

/// Options of `judge bench` about timing CUDA variants.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "GPU timing")]
pub struct GpuArgs {
    /// Also time each case's device copy cold after a memset flush, to show what the dirty L2 lines it
    /// leaves cost against the read flush that cold samples use.
    #[arg(long)]
    pub compare_flush: bool,
    /// Measurement aid: no poison between the warm regime's warming call and its timed call (the warm
    /// timed output is then not told apart from the warming call's).
    #[arg(long)]
    pub warm_no_poison: bool,
}

/// `judge compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline results document.
    pub old: PathBuf,
    /// The results document compared with it.
    pub new: PathBuf,
    /// Print the table as Markdown.
    #[arg(long)]
    pub markdown: bool,
}

/// `judge report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The results document (written by `judge bench` or `judge run --json`).
    pub results: PathBuf,
    /// The report directory. Default: the document's directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Options shared by commands that check outputs.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Seed for generated cases (each case derives its own seed from it and its name).
    #[arg(long, default_value_t = DEFAULT_SEED, value_parser = seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Absolute tolerance: an element passes when |x − ref| ≤ atol + rtol·|ref|.
    #[arg(long, default_value_t = DEFAULT_TOLERANCE.atol, value_parser = non_negative, allow_negative_numbers = true)]
    pub atol: f64,
    /// Relative tolerance (see --atol).
    #[arg(long, default_value_t = DEFAULT_TOLERANCE.rtol, value_parser = non_negative, allow_negative_numbers = true)]
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
    /// Run on a case file (.npz, .safetensors or .json); repeat for several. A file whose stored scores
    /// disagree with the oracle is refused, as `judge case info` refuses it.
    #[arg(long = "case", value_name = "FILE")]
    pub cases: Vec<PathBuf>,
    /// Run a submitted solution (.c, .cpp, .cu, or .so with --backend) in a worker process; repeat for several.
    #[arg(long = "submission", value_name = "PATH")]
    pub submissions: Vec<PathBuf>,
    /// Write the results document (versioned JSON) here; it is rewritten after every entry.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Fail (exit status 6) when a selected CUDA variant or CUDA submission cannot run here, instead of
    /// skipping it.
    #[arg(long)]
    pub require_gpu: bool,
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Which pointers a prebuilt library's `solve` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// Host pointers.
    Cpu,
    /// Device pointers.
    Cuda,
}

impl From<BackendArg> for solutions::Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Cpu => solutions::Backend::Cpu,
            BackendArg::Cuda => solutions::Backend::Cuda,
        }
    }
}

/// Options for running submitted code.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Which pointers a prebuilt .so takes (source files say it by their extension).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Wall-clock limit of one call, in seconds (0.001 to 604800); past it the worker is killed (verdict
    /// timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().call_s, value_parser = parse_limit_seconds, allow_negative_numbers = true)]
    pub time_limit: f64,
    /// Resident-memory limit of the worker, in MiB (at least 16); past it the worker is killed (verdict
    /// memory-limit).
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_bytes / MIB, value_parser = parse_memory_mib, allow_negative_numbers = true)]
    pub memory_limit: u64,
    /// Device-memory limit of a CUDA submission, in MiB: what it may hold when a call returns, beyond the
    /// worker's own use; past it the worker is killed (verdict memory-limit).
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().device_memory_bytes / MIB, allow_negative_numbers = true)]
    pub device_memory_limit: u64,
    /// Wall-clock limit of compiling a submission, in seconds (0.001 to 604800).
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0, value_parser = parse_limit_seconds, allow_negative_numbers = true)]
    pub compile_time_limit: f64,
    /// Address-space limit of each process of a submission's compiler, in MiB (at least 256): an allocation past
    /// it fails, so `#include "/dev/zero"` ends as a compile error instead of exhausting the machine. Files
    /// the compiler writes are limited to 1 GiB each.
    #[arg(long, value_name = "MIB", default_value_t = COMPILE_MEMORY_MIB, value_parser = parse_compile_memory_mib, allow_negative_numbers = true)]
    pub compile_memory_limit: u64,
    /// Who workers and compilers run as: `auto` (for a judge running as root, a user and group id of its own
    /// from 61184–65519 that no account, process or other judge has, held while it runs, so that submitted code
    /// owns none of root's files and judges side by side cannot read each other's compiles; 65534, nobody,
    /// where none can be taken; a judge that is not root keeps its own user), `judge` (the judge's own user,
    /// root included), or `UID[:GID]` (a judge running as root only; GID defaults to UID)
    #[arg(long, value_name = "USER", default_value = "auto", value_parser = parse_worker_user)]
    pub worker_user: WorkerUserArg,
    /// Also give workers and compilers this variable of the judge's environment (repeatable). They get no
    /// other, beyond PATH, LD_LIBRARY_PATH, LANG, LANGUAGE, TZ and LC_*, CUDA_* and NVIDIA_*; workers also
    /// OMP_*, GOMP_*, KMP_*, MKL_* and OPENBLAS_*, compilers CPATH, C_INCLUDE_PATH, CPLUS_INCLUDE_PATH,
    /// LIBRARY_PATH, COMPILER_PATH, GCC_EXEC_PREFIX, SOURCE_DATE_EPOCH and NVCC_*. So a CI job's secrets never
    /// reach submitted code
    #[arg(long, value_name = "NAME", value_parser = parse_variable_name)]
    pub pass_env: Vec<String>,
}

/// `--worker-user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerUserArg {
    /// [`WorkerUser::automatic`]: a user of the judge's own for a judge running as root, else the judge's user.
    Auto,
    /// This user.
    Given(WorkerUser),
}

fn parse_worker_user(text: &str) -> Result<WorkerUserArg, String> {
    let id = |part: &str, what: &str| {
        part.parse::<u32>()
            .ok()
            .filter(|&id| id != u32::MAX)
            .ok_or_else(|| {
                format!(
                    "'{part}' is not a {what} id (a number from 0 to {})",
                    u32::MAX - 1
                )
            })
    };
    match text.trim() {
        "auto" => Ok(WorkerUserArg::Auto),
        "judge" => Ok(WorkerUserArg::Given(WorkerUser::Judge)),
        ids => {
            let (uid, gid) = match ids.split_once(':') {
                Some((u, g)) => (id(u, "user")?, id(g, "group")?),
                None => {
                    let uid = id(ids, "user")
                        .map_err(|e| format!("{e}: use auto, judge, or UID[:GID]"))?;
                    (uid, uid)
                }
            };
            Ok(WorkerUserArg::Given(WorkerUser::Switch { uid, gid }))
        }
    }
}

impl SandboxArgs {
    /// The user `--worker-user` asks for, checked against what this judge can do; with `auto`, the reason a
    /// judge running as root keeps root for its workers when it does.
    pub fn worker_user(&self) -> Result<(WorkerUser, Option<String>), String> {
        match self.worker_user {
            WorkerUserArg::Auto => Ok(WorkerUser::automatic()),
            WorkerUserArg::Given(user) => {
                user.check()
                    .map_err(|why| format!("--worker-user ({}): {why}", user.ids()))?;
                Ok((user, None))
            }
        }
    }

    /// The sandbox these options give, in `workspace`'s directories, its workers started as `worker` and run as
    /// `user` (see [`SandboxArgs::worker_user`]).
    pub fn sandbox(
        &self,
        workspace: &Workspace,
        worker: WorkerCommand,
        user: WorkerUser,
    ) -> SandboxConfig {
        SandboxConfig {
            pass_env: self.pass_env.clone(),
            ..workspace.config(worker, self.limits(), user)
        }
    }

    /// The worker limits these options give.
    pub fn limits(&self) -> Limits {
        Limits {
            call_s: self.time_limit,
            memory_bytes: self.memory_limit.saturating_mul(MIB),
            device_memory_bytes: self.device_memory_limit.saturating_mul(MIB),
            ..Limits::default()
        }
    }

    /// The compile options these options give (compilers from the environment).
    pub fn compile_options(&self) -> CompileOptions {
        CompileOptions {
            limit: Duration::from_secs_f64(self.compile_time_limit),
            memory_bytes: self.compile_memory_limit.saturating_mul(MIB),
            ..CompileOptions::default()
        }
    }
}

/// `judge check`.
#[derive(Debug, Clone, Args)]
pub struct CheckFileArgs {
    /// The case the scores were computed from (.npz, .safetensors or .json). A case file whose stored scores
    /// disagree with the oracle is refused, as `judge case info` refuses it.
    #[arg(long, value_name = "FILE")]
    pub case: PathBuf,
    /// The scores, `[B, S]`: a .npy file, or a .npz/.safetensors file holding an array named `scores` (or
    /// only one array). float32 expected; float64 and float16 are read too, bfloat16 from .safetensors (BF16).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Absolute tolerance: an element passes when |x − ref| ≤ atol + rtol·|ref|.
    #[arg(long, default_value_t = DEFAULT_TOLERANCE.atol, value_parser = non_negative, allow_negative_numbers = true)]
    pub atol: f64,
    /// Relative tolerance (see --atol).
    #[arg(long, default_value_t = DEFAULT_TOLERANCE.rtol, value_parser = non_negative, allow_negative_numbers = true)]
    pub rtol: f64,
}

/// `judge gate`.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// The submission: .c or .cpp (host pointers), .cu (device pointers), or .so with --backend.
    #[arg(long, value_name = "PATH")]
    pub submission: PathBuf,
    /// Compare the perf case's median with this results document (from `judge gate --json` or
    /// `judge bench --json`, made on the same machine).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// The solution of the baseline document to compare with, when it times several.
    #[arg(long, value_name = "NAME", requires = "baseline")]
    pub baseline_solution: Option<String>,
    /// Largest allowed ratio of the submission's median to the baseline's (verdict too-slow above it); with
    /// --baseline only.
    #[arg(long, value_name = "RATIO", default_value_t = 1.10, value_parser = slowdown, allow_negative_numbers = true, requires = "baseline")]
    pub max_slowdown: f64,
    /// Seed for the cases (default: drawn from the OS and printed at the end, for reproduction).
    #[arg(long, value_parser = seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Correctness suites to run; repeat for several.
    #[arg(long = "suite", value_name = "SUITE", default_values_t = [Suite::Functional])]
    pub suites: Vec<Suite>,
    /// Leave out the perf case (no timing, floor or baseline checks).
    #[arg(long, conflicts_with = "baseline")]
    pub no_perf: bool,
    /// Timed calls on the perf case for at most this long, e.g. 5s, 500ms, 2m (bare numbers are seconds);
    /// sampling stops earlier once the median is stable.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_time_budget, allow_hyphen_values = true)]
    pub time_budget: f64,
    /// Write JUnit XML (one test case per case) here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary (for a pull request or `$GITHUB_STEP_SUMMARY`) here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write the results document (versioned JSON, with the gate's summary) here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Absolute tolerance: an element passes when |x − ref| ≤ atol + rtol·|ref|.
    #[arg(long, default_value_t = DEFAULT_TOLERANCE.atol, value_parser = non_negative, allow_negative_numbers = true)]
    pub atol: f64,
    /// Relative tolerance (see --atol).
    #[arg(long, default_value_t = DEFAULT_TOLERANCE.rtol, value_parser = non_negative, allow_negative_numbers = true)]
    pub rtol: f64,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
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
    #[command(after_help = EXPORT_AFTER_HELP.as_str())]
    Export(ExportArgs),
    /// Read a case file, validate it, print what it holds, and compare its stored scores with the oracle
    /// (exit status 2 when they disagree: an invalid case).
    #[command(after_help = INFO_AFTER_HELP.as_str())]
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
    #[arg(long, default_value_t = DEFAULT_SEED, value_parser = seed, allow_negative_numbers = true)]
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
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub b: usize,
    /// Number of keys.
    #[arg(long, default_value_t = 4096, allow_negative_numbers = true)]
    pub s: usize,
    /// Head dimension.
    #[arg(long, default_value_t = 128, allow_negative_numbers = true)]
    pub d: usize,
    /// Codebook sizes to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "2,4,8,16",
        allow_negative_numbers = true
    )]
    pub levels: Vec<usize>,
    /// Seed for generation.
    #[arg(long, default_value_t = DEFAULT_SEED, value_parser = seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// Write the statistics as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn parse_axis(s: &str) -> Result<Axis, String> {
    s.parse::<Axis>().map_err(|e| e.to_string())
}

/// Parses a `--seed`: a whole number from 0 to 2^64 − 1.
fn seed(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "'{s}' is not a seed: use a whole number from 0 to {}",
            u64::MAX
        )
    })
}

fn positive(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must be finite and > 0"))
    }
}

/// Parses `--max-slowdown`: a ratio of medians, finite and at least 1 (as [`crate::gate::baseline::load`]
/// requires).
fn slowdown(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && v >= 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} must be finite and ≥ 1 (the submission's median over the baseline's)"
        ))
    }
}

/// The longest duration [`parse_duration`] takes, in seconds (about 31 years).
const MAX_DURATION_S: f64 = 1e9;

/// Parses a duration: a number followed by `ms`, `s` or `m` (seconds when no unit is given), from 0 to
/// [`MAX_DURATION_S`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let seconds = duration_seconds(s)?;
    if seconds > MAX_DURATION_S {
        return Err(format!(
            "'{s}' is out of range: use at most {MAX_DURATION_S:e} seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses the gate's `--time-budget`: a duration as [`parse_duration`] takes it, within the range every
/// wall-clock limit keeps ([`check_limit_seconds`]).
fn parse_time_budget(s: &str) -> Result<f64, String> {
    check_limit_seconds(s, duration_seconds(s)?)
}

/// The seconds a duration (`10s`, `500ms`, `2m`, `2min`, a bare number of seconds) stands for: not negative,
/// perhaps infinite (each caller bounds it).
fn duration_seconds(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("min") {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; use e.g. 10s, 500ms, 2m"))?;
    let seconds = v * scale;
    if seconds.is_nan() {
        Err(format!("'{s}' is not a duration; use e.g. 10s, 500ms, 2m"))
    } else if seconds < 0.0 {
        Err(format!("'{s}' is negative: a duration is 0 or more"))
    } else {
        Ok(seconds)
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

    /// The long help of the subcommand at `path` (`["case", "info"]`).
    fn long_help(path: &[&str]) -> String {
        let mut command = Cli::command();
        let mut sub = &mut command;
        for name in path {
            sub = sub
                .find_subcommand_mut(name)
                .unwrap_or_else(|| panic!("{name} is a subcommand"));
        }
        sub.render_long_help().to_string()
    }

    /// `text` with its wrapping undone: words separated by single spaces.
    fn words(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
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

    #[test]
    fn quality_levels_default_reads_as_the_option_is_written() {
        let levels = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Quality(q)) => q.levels,
            other => panic!("{other:?}"),
        };
        assert_eq!(levels(&["judge", "quality"]), [2, 4, 8, 16]);
        assert_eq!(levels(&["judge", "quality", "--levels", "4,32"]), [4, 32]);
        let help = long_help(&["quality"]);
        assert!(help.contains("[default: 2,4,8,16]"), "{help}");
    }

    #[test]
    fn gate_options_parse() {
        let cli = Cli::try_parse_from([
            "judge",
            "gate",
            "--submission",
            "a.so",
            "--backend",
            "cpu",
            "--baseline",
            "b.json",
            "--max-slowdown",
            "1.2",
            "--time-limit",
            "2.5",
        ])
        .unwrap();
        let Command::Gate(args) = cli.command else {
            panic!("not gate");
        };
        assert_eq!(args.suites, vec![Suite::Functional]);
        assert_eq!(args.sandbox.limits().call_s, 2.5);
        assert!(Cli::try_parse_from(["judge", "gate"]).is_err());
        assert!(
            Cli::try_parse_from(["judge", "gate", "--submission", "a.c", "--time-limit", "0"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "judge",
                "gate",
                "--submission",
                "a.c",
                "--no-perf",
                "--baseline",
                "b"
            ])
            .is_err()
        );
    }

    #[test]
    fn bench_arguments() {
        let cli = Cli::try_parse_from([
            "judge",
            "bench",
            "--preset",
            "scaling",
            "--axis",
            "S=1024:4096:pow2",
            "--axis",
            "D=64,128",
            "--budget",
            "1.5s",
            "--input-sets",
            "2",
        ])
        .unwrap();
        let Command::Bench(args) = cli.command else {
            panic!("not bench");
        };
        assert_eq!(args.preset, Preset::Scaling);
        assert_eq!(args.axes.len(), 2);
        assert_eq!(args.budget, Duration::from_millis(1500));
        assert_eq!(args.input_sets, 2);
        assert!(Cli::try_parse_from(["judge", "bench", "--axis", "Q=1"]).is_err());
        assert!(Cli::try_parse_from(["judge", "bench", "--input-sets", "0"]).is_err());
        assert!(Cli::try_parse_from(["judge", "bench", "--target-rel-err", "0"]).is_err());
    }

    #[test]
    fn negative_numbers_reach_the_validation() {
        // Given as a separate argument, a negative number is the option's value, and its parser says why it is
        // refused, as it does for `--atol=-1`.
        for (option, value) in [
            ("--atol", "-1"),
            ("--rtol", "-0.5"),
            ("--seed", "-1"),
            ("--time-limit", "-2"),
            ("--memory-limit", "-5"),
        ] {
            let separate = Cli::try_parse_from(["judge", "run", "--all", option, value])
                .unwrap_err()
                .to_string();
            let joined = format!("{option}={value}");
            let together = Cli::try_parse_from(["judge", "run", "--all", joined.as_str()])
                .unwrap_err()
                .to_string();
            assert!(separate.contains("invalid value"), "{separate}");
            assert_eq!(separate, together);
        }
        for args in [
            [
                "judge",
                "gate",
                "--submission",
                "a.c",
                "--max-slowdown",
                "-1",
            ],
            [
                "judge",
                "gate",
                "--submission",
                "a.c",
                "--time-budget",
                "-1",
            ],
        ] {
            let message = Cli::try_parse_from(args).unwrap_err().to_string();
            assert!(message.contains("invalid value '-1'"), "{message}");
        }
    }

    #[test]
    fn the_gate_time_budget_takes_the_durations_bench_takes() {
        let budget = |value: &str| match Cli::try_parse_from([
            "judge",
            "gate",
            "--submission",
            "a.c",
            "--time-budget",
            value,
        ])
        .map(|c| c.command)
        {
            Ok(Command::Gate(g)) => Ok(g.time_budget),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        };
        for (value, seconds) in [
            ("2s", 2.0),
            ("500ms", 0.5),
            ("2m", 120.0),
            ("2min", 120.0),
            ("3", 3.0),
        ] {
            assert_eq!(budget(value), Ok(seconds), "{value}");
            let bench =
                Cli::try_parse_from(["judge", "bench", "--budget", value]).map(|c| c.command);
            assert!(
                matches!(bench, Ok(Command::Bench(b)) if b.budget.as_secs_f64() == seconds),
                "{value}"
            );
        }
        match Cli::try_parse_from(["judge", "gate", "--submission", "a.c"]).map(|c| c.command) {
            Ok(Command::Gate(g)) => assert_eq!(g.time_budget, 5.0),
            other => panic!("{other:?}"),
        }
        for value in ["0.1ms", "8d", "-2s", "2 parsecs", "1e20"] {
            assert!(budget(value).is_err(), "{value}");
        }
        assert!(budget("0.1ms").unwrap_err().contains("out of range"));
        assert!(budget("20000m").unwrap_err().contains("out of range"));
    }

    #[test]
    fn gate_help_lists_every_reason_for_suspicious_and_memory_limit() {
        // Wrapped to the terminal's width: compare words.
        let help = words(&long_help(&["gate"]));
        for reason in [
            "below the physical floor",
            "faster on repeated inputs",
            "work left running on another stream",
            "host work before the device starts",
            "the judge's clock disagreeing",
            "or a CUDA submission more device memory",
        ] {
            assert!(help.contains(reason), "{reason}: {help}");
        }
    }

    /// `--pass-env`'s help lists what workers and compilers keep anyway: every name and prefix of
    /// `sandbox::env`, as a word of its own.
    #[test]
    fn pass_env_help_names_every_kept_variable() {
        use crate::sandbox::env::Who;
        for command in ["gate", "run"] {
            let help = long_help(&[command]);
            let words: std::collections::BTreeSet<&str> = help
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*'))
                .collect();
            for name in Who::Worker
                .described()
                .into_iter()
                .chain(Who::Compiler.described())
            {
                assert!(
                    words.contains(name.as_str()),
                    "{command} --help does not name {name}"
                );
            }
        }
    }

    #[test]
    fn case_info_help_says_it_compares_stored_scores() {
        let help = words(&long_help(&["case", "info"]));
        assert!(
            help.contains("compare its stored scores with the oracle")
                && help.contains("exit status 2 when they disagree"),
            "{help}"
        );
    }

    #[test]
    fn time_limits_are_bounded_when_parsed() {
        for (option, value) in [
            ("--time-limit", "1e20"),
            ("--time-limit", "1.8e19"),
            ("--time-limit", "1e-12"),
            ("--compile-time-limit", "1e20"),
            ("--time-budget", "1e20"),
            ("--memory-limit", "1"),
        ] {
            let message =
                Cli::try_parse_from(["judge", "gate", "--submission", "a.c", option, value])
                    .unwrap_err()
                    .to_string();
            assert!(
                message.contains("out of range") || message.contains("at least 16 MiB"),
                "{message}"
            );
        }
    }

    #[test]
    fn each_command_lists_the_statuses_it_can_end_with() {
        let help = |name: &str| long_help(&[name]);
        let check = help("check");
        assert!(
            check.contains("  1  a solution gave a wrong answer"),
            "{check}"
        );
        assert!(
            !check.contains("  3  ") && !check.contains("  7  "),
            "{check}"
        );
        let compare = help("compare");
        assert!(
            compare.contains("Exit statuses:") && compare.contains("  2  "),
            "{compare}"
        );
        assert!(!compare.contains("  1  "), "{compare}");
        let report = help("report");
        assert!(report.contains("  7  the judge itself failed"), "{report}");
        let run = help("run");
        assert!(run.contains("  6  ") && !run.contains("  5  "), "{run}");
        assert!(help("gate").contains("  5  "));
    }

    /// `judge help <command>` says which statuses the command ends with, for every command a user runs.
    #[test]
    fn every_command_has_an_exit_statuses_section() {
        let mut command = Cli::command();
        let mut paths = Vec::new();
        for sub in command.get_subcommands() {
            if sub.is_hide_set() {
                continue;
            }
            let name = sub.get_name().to_owned();
            if sub.has_subcommands() {
                for inner in sub.get_subcommands() {
                    paths.push(vec![name.clone(), inner.get_name().to_owned()]);
                }
            } else {
                paths.push(vec![name]);
            }
        }
        command.build();
        for path in paths {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let help = long_help(&path);
            assert!(
                help.contains("Exit statuses:\n  0  "),
                "{path:?} has no exit statuses: {help}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
