//! The CI gate: one submission through the functional suite and the perf case with every anti-cheat check
//! (DESIGN.md §6), then its time against the physical floor and a baseline; one verdict and one exit status,
//! rendered for CI systems as JUnit XML ([`junit`]), a Markdown summary ([`markdown`]) and the results JSON.
//!
//! * [`trial`]: one submission on one case in its own worker (the calls, the checks, the probes);
//! * [`views`]: fresh inputs for every call, with exactly known expected scores;
//! * [`floor`]: the physical floor under which a time is suspicious;
//! * [`baseline`]: the time to compare with.

pub mod baseline;
pub mod floor;
pub mod junit;
pub mod markdown;
pub mod trial;
pub mod views;

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use solutions::Backend;

use crate::challenge::rng::derive_seed;
use crate::challenge::suites::CaseSource;
use crate::check::Tolerance;
use crate::commands::run::CaseRef;
use crate::commands::{CommandError, progress_line};
use crate::cpu_peak::{self, CpuPeak};
use crate::io::read_case;
use crate::results::{CaseInfo, Entry, Mode, ResultsFile};
use crate::sandbox::{Limits, SandboxConfig, SandboxError, UserIds};
use crate::submission::{Built, CompileOptions, CompileRecord, SourceKind, Submission};
use crate::timing::SamplingPlan;
use crate::verdict::{ExitStatus, Verdict};
use baseline::{BaselineError, BaselineSpec};
use floor::Floor;
use trial::{CaseResult, PerfReport, TimedOptions, TrialContext};
use views::Source;

/// Where the run's seed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedSource {
    /// Drawn from the operating system, so a submission cannot be tuned to it; printed afterwards.
    Os,
    /// Given with `--seed` (to reproduce an earlier run).
    Given,
}

/// A seed from the operating system's random source.
pub fn os_seed() -> std::io::Result<u64> {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Where the limits behind the physical floor come from. A CUDA submission's floor always comes from a device
/// copy timed on the device before the perf case (unless [`FloorSource::Off`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FloorSource {
    /// Measure them on this machine before the perf case (about half a second).
    Measure,
    /// Use these CPU limits (for host-pointer submissions).
    Fixed(CpuPeak),
    /// No floor check.
    Off,
}

/// Everything a gate run needs.
#[derive(Debug, Clone)]
pub struct GatePlan {
    /// The submission.
    pub submission: Submission,
    /// Correctness cases, in order.
    pub functional: Vec<CaseRef>,
    /// The performance case, if any.
    pub timed: Option<CaseRef>,
    /// The run's seed.
    pub seed: u64,
    /// Where it came from.
    pub seed_source: SeedSource,
    /// The checker's tolerance.
    pub tolerance: Tolerance,
    /// How to start workers.
    pub sandbox: SandboxConfig,
    /// How to compile.
    pub compile: CompileOptions,
    /// When to stop sampling the performance case.
    pub sampling: SamplingPlan,
    /// The baseline to compare with.
    pub baseline: Option<BaselineSpec>,
    /// The limits behind the floor.
    pub floor: FloorSource,
    /// Print progress lines on stderr.
    pub progress: bool,
    /// The command-line options the gate was given, `--seed` left out: the line that reproduces the run
    /// repeats them (empty: only the submission, its backend and the seed).
    pub options: Vec<String>,
}

/// A build that failed, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildFailure {
    /// What went wrong.
    pub message: String,
    /// The compiler's output, when there was a compiler.
    pub log: Option<String>,
}

/// The end of a worker's stderr for one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseOutput {
    /// The case.
    pub case: String,
    /// The text.
    pub stderr: String,
}

/// Everything the gate says about a submission beside the per-case entries; stored in the results document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateSummary {
    /// The submission's path as given.
    #[serde(with = "crate::results::path_text")]
    pub submission: PathBuf,
    /// Its name in the entries.
    pub name: String,
    /// Its kind.
    pub kind: SourceKind,
    /// Its backend.
    pub backend: Backend,
    /// The overall verdict (the one that decides the exit status).
    pub verdict: Verdict,
    /// The exit status.
    pub exit_status: u8,
    /// The seed.
    pub seed: u64,
    /// Where it came from.
    pub seed_source: SeedSource,
    /// The worker's limits.
    pub limits: Limits,
    /// The user and group the workers ran as (absent in documents written before it was recorded).
    #[serde(default)]
    pub workers_ran_as: Option<UserIds>,
    /// How the workers' and the compiler's writes were confined: `Landlock ABI N` (only beneath their regions, a
    /// few devices and the compiler's own directory), or why they were not. Absent in documents written before it
    /// was recorded.
    #[serde(default)]
    pub writes_confined_by: Option<String>,
    /// The compile, when it succeeded.
    pub compile: Option<CompileRecord>,
    /// The build failure, when it failed.
    pub build_error: Option<BuildFailure>,
    /// What the performance trial found.
    pub perf: Option<PerfReport>,
    /// The end of the worker's stderr for each case that did not pass.
    pub outputs: Vec<CaseOutput>,
    /// Wall time of the whole gate, in seconds.
    pub duration_s: f64,
    /// The command-line options the gate was given, `--seed` left out (see [`GatePlan::options`]).
    #[serde(default)]
    pub options: Vec<String>,
}

impl GateSummary {
    /// The exit status as the enum.
    pub fn exit(&self) -> ExitStatus {
        ExitStatus::ALL
            .into_iter()
            .find(|s| s.code() == self.exit_status)
            .unwrap_or(ExitStatus::Internal)
    }

    /// The command line that reproduces this run (with `--backend` for a prebuilt library).
    pub fn reproduce(&self) -> String {
        reproduce(
            &self.options,
            &self.submission,
            self.kind,
            self.backend,
            self.seed,
        )
    }
}

impl GatePlan {
    /// The command line that reproduces this run, as [`GateSummary::reproduce`] gives it (for a run that ended
    /// without a summary).
    pub fn reproduce(&self) -> String {
        let submission = &self.submission;
        reproduce(
            &self.options,
            &submission.path,
            submission.kind,
            submission.backend,
            self.seed,
        )
    }
}

/// `judge gate OPTIONS --seed SEED`, or without options the submission, its backend for a prebuilt library, and
/// the seed.
fn reproduce(
    options: &[String],
    submission: &std::path::Path,
    kind: SourceKind,
    backend: Backend,
    seed: u64,
) -> String {
    if !options.is_empty() {
        let options: Vec<String> = options.iter().map(|o| shell_word(o)).collect();
        return format!("judge gate {} --seed {seed}", options.join(" "));
    }
    let backend = match kind {
        SourceKind::Library => format!(" --backend {backend}"),
        _ => String::new(),
    };
    format!(
        "judge gate --submission {}{backend} --seed {seed}",
        shell_word(&submission.display().to_string()),
    )
}

/// `word` as a POSIX shell reads it back: unchanged when it holds only safe characters, else single-quoted.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The gate's command-line options (`args` after the program and `gate`) without `--seed N` / `--seed=N`.
pub fn options_without_seed(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut skip_next = false;
    for arg in args {
        if skip_next {
            skip_next = false;
        } else if arg == "--seed" {
            skip_next = true;
        } else if !arg.starts_with("--seed=") {
            out.push(arg.clone());
        }
    }
    out
}

/// Why the gate could not judge (as opposed to a verdict).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The baseline is unusable.
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// `--baseline` without a performance case.
    #[error("--baseline compares the perf case's time; it needs the perf case")]
    BaselineWithoutPerf,
    /// A case could not be built.
    #[error(transparent)]
    Case(Box<CommandError>),
    /// The judge could not start or feed a worker.
    #[error("the judge could not run the submission: {0}")]
    Sandbox(#[source] SandboxError),
}

impl GateError {
    /// The exit status this error leads to.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            GateError::Baseline(_) | GateError::BaselineWithoutPerf => ExitStatus::Usage,
            GateError::Case(e) => e.exit_status(),
            GateError::Sandbox(_) => ExitStatus::Internal,
        }
    }
}

/// The case's entry metadata without generating it (for cases that are not run).
fn case_info(case: &CaseRef, seed: u64) -> Result<CaseInfo, GateError> {
    match case {
        CaseRef::Spec(suite, spec) => Ok(CaseInfo {
            name: spec.name.to_owned(),
            shape: spec.shape,
            source: CaseSource::Generated {
                suite: Some(*suite),
                generator: spec.generator,
                seed: derive_seed(seed, spec.name),
                tweak: spec.tweak,
            },
        }),
        CaseRef::File(path) => {
            let file =
                read_case(path).map_err(|e| GateError::Case(Box::new(CommandError::Input(e))))?;
            Ok(CaseInfo {
                name: file.name.unwrap_or_else(|| path.display().to_string()),
                shape: file.inputs.shape(),
                source: CaseSource::File { path: path.clone() },
            })
        }
    }
}

fn case_shape(case: &CaseRef, seed: u64) -> Result<solutions::Shape, GateError> {
    case_info(case, seed).map(|i| i.shape)
}

/// The verdict that decides the exit status among `verdicts` (the first of the most severe).
pub fn overall(verdicts: impl IntoIterator<Item = Verdict>) -> (Verdict, ExitStatus) {
    let mut worst = (Verdict::Pass, ExitStatus::Success);
    for v in verdicts {
        let status = if v == Verdict::Skipped {
            ExitStatus::Unavailable
        } else {
            v.exit_status()
        };
        if status.severity() > worst.1.severity() {
            worst = (v, status);
        }
    }
    worst
}

/// Runs the gate, pushing one entry per case into `results` (rewritten after each) and returning the summary.
pub fn run(plan: &GatePlan, results: &mut ResultsFile) -> Result<GateSummary, GateError> {
    let started = Instant::now();
    let baseline = match (&plan.baseline, &plan.timed) {
        (Some(spec), Some(timed)) => {
            let shape = case_shape(timed, plan.seed)?;
            let baseline = baseline::load(spec, shape, &results.doc().meta)?;
            if !baseline.machine_differences.is_empty() {
                crate::errln!(
                    "warning: the baseline {} was measured on another machine ({}): a ratio to its time says as \
                     much about the machines as about the submission",
                    spec.path.display(),
                    baseline.machine_differences.join("; ")
                );
            }
            Some(baseline)
        }
        (Some(_), None) => return Err(GateError::BaselineWithoutPerf),
        (None, _) => None,
    };
    let submission = &plan.submission;
    let name = submission.name();
    let total = plan.functional.len() + usize::from(plan.timed.is_some());
    let mut summary = GateSummary {
        submission: submission.path.clone(),
        name: name.clone(),
        kind: submission.kind,
        backend: submission.backend,
        verdict: Verdict::Pass,
        exit_status: 0,
        seed: plan.seed,
        seed_source: plan.seed_source,
        limits: plan.sandbox.limits,
        workers_ran_as: Some(plan.sandbox.user.ids()),
        writes_confined_by: Some(crate::sandbox::landlock::confinement()),
        compile: None,
        build_error: None,
        perf: None,
        outputs: Vec::new(),
        duration_s: 0.0,
        options: plan.options.clone(),
    };
    let all_cases = || {
        plan.functional
            .iter()
            .map(|c| (c, Mode::Check))
            .chain(plan.timed.iter().map(|c| (c, Mode::Warm)))
    };

    if plan.progress {
        crate::errln!(
            "building {} ({})",
            submission.path.display(),
            submission.kind
        );
    }
    let built = match submission.build(&plan.sandbox, &plan.compile) {
        Ok(built) => built,
        Err(error) => {
            let verdict = error.verdict();
            let reason = error.reason();
            if plan.progress {
                crate::errln!("{error}");
                if let Some(log) = error.log() {
                    crate::errln!("{log}");
                }
            }
            for (case, mode) in all_cases() {
                let result = CaseResult::not_run(verdict, reason.clone());
                let info = case_info(case, plan.seed)?;
                results.push(result.entry((&name, submission.backend), info, mode));
            }
            summary.build_error = Some(BuildFailure {
                message: error.to_string(),
                log: error.log().map(str::to_owned),
            });
            return Ok(finish(summary, results.doc().entries.iter(), started));
        }
    };
    summary.compile = built.compile.clone();

    let ctx = TrialContext {
        sandbox: &plan.sandbox,
        tolerance: plan.tolerance,
        seed: plan.seed,
    };
    for (index, (case_ref, mode)) in all_cases().enumerate() {
        let case = case_ref
            .build(plan.seed)
            .map_err(|e| GateError::Case(Box::new(e)))?;
        let source = Source::new(&case.inputs);
        let result = match mode {
            Mode::Warm => {
                let floor = floor_for(plan, &built, case.inputs.shape());
                let options = TimedOptions {
                    sampling: &plan.sampling,
                    floor,
                    baseline: baseline.as_ref(),
                };
                trial::timed_case(&built, &case, &source, &ctx, options)
            }
            _ => trial::check_case(&built, &case, &source, &ctx),
        }
        .map_err(GateError::Sandbox)?;
        if plan.progress {
            let median = result.timing.as_ref().map(|t| t.summary.median);
            progress_line((index + 1, total), &case.name, 22, result.verdict, median);
        }
        if let Some(stderr) = &result.stderr {
            summary.outputs.push(CaseOutput {
                case: case.name.clone(),
                stderr: stderr.clone(),
            });
        }
        if let Some(perf) = &result.perf {
            summary.perf = Some(perf.clone());
        }
        results.push(result.entry((&name, built.backend), CaseInfo::from(&case), mode));
    }
    Ok(finish(summary, results.doc().entries.iter(), started))
}

fn floor_for(plan: &GatePlan, built: &Built, shape: solutions::Shape) -> Option<Floor> {
    match (built.backend, plan.floor) {
        (_, FloorSource::Off) => None,
        (Backend::Cpu, FloorSource::Fixed(peak)) => Some(Floor::cpu(shape, &peak)),
        (Backend::Cpu, FloorSource::Measure) => {
            if plan.progress {
                crate::errln!(
                    "measuring this CPU's FMA peak and memory bandwidth for the physical floor"
                );
            }
            Some(Floor::cpu(shape, &cpu_peak::measure()))
        }
        (Backend::Cuda, _) => {
            if plan.progress {
                crate::errln!(
                    "timing a device copy of {} bytes for the physical floor",
                    shape.min_bytes()
                );
            }
            match gpu_floor(shape) {
                Ok(floor) => Some(floor),
                Err(e) => {
                    if plan.progress {
                        crate::errln!("no physical floor: timing the device copy failed: {e}");
                    }
                    None
                }
            }
        }
    }
}

/// The GPU floor of `shape` from a copy of its bytes (the faster of the copy kernel and `cuMemcpyDtoDAsync`),
/// timed here like the submission's calls (CUDA events, stream hold, warm L2), median of the samples.
fn gpu_floor(shape: solutions::Shape) -> Result<Floor, solutions::SolveError> {
    let bytes = shape.min_bytes();
    let plan = SamplingPlan {
        warmup_calls: 3,
        warmup_time: std::time::Duration::from_millis(20),
        min_samples: 20,
        max_samples: 200,
        target_rel_err: 0.01,
        budget: std::time::Duration::from_millis(300),
    };
    let setup = crate::gpu::CopySetup::new(crate::gpu::Regime::Warm, 2);
    let copy = crate::gpu::reference_copy(bytes, &setup, &plan)?;
    let median = Some(copy.summary.median)
        .filter(|&m| m > 0.0)
        .ok_or_else(|| solutions::SolveError::Failed {
            solution: crate::gpu::TIMER.to_owned(),
            context: "timing a device copy".to_owned(),
            message: "no positive sample".to_owned(),
        })?;
    Ok(Floor::gpu(shape, bytes, median))
}

fn finish<'e>(
    mut summary: GateSummary,
    entries: impl Iterator<Item = &'e Entry>,
    started: Instant,
) -> GateSummary {
    let (verdict, status) = overall(entries.map(|e| e.verdict));
    summary.verdict = verdict;
    summary.exit_status = status.code();
    summary.duration_s = started.elapsed().as_secs_f64();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_verdict_is_the_earliest_failed_stage() {
        assert_eq!(overall([]), (Verdict::Pass, ExitStatus::Success));
        assert_eq!(
            overall([
                Verdict::Pass,
                Verdict::Suspicious,
                Verdict::WrongAnswer,
                Verdict::TooSlow
            ]),
            (Verdict::WrongAnswer, ExitStatus::WrongAnswer)
        );
        assert_eq!(
            overall([Verdict::Timeout, Verdict::RuntimeError]),
            (Verdict::Timeout, ExitStatus::RuntimeError)
        );
        assert_eq!(
            overall([Verdict::Pass, Verdict::Skipped]),
            (Verdict::Skipped, ExitStatus::Unavailable)
        );
    }

    /// The line that reproduces a run repeats every option but the seed, which it gives as drawn.
    #[test]
    fn the_reproduce_line_keeps_the_options() {
        let given: Vec<String> = [
            "--submission",
            "my kernel.cu",
            "--seed",
            "7",
            "--baseline",
            "main.json",
            "--seed=9",
            "--max-slowdown",
            "1.2",
        ]
        .map(str::to_owned)
        .to_vec();
        let options = options_without_seed(&given);
        assert_eq!(
            options,
            [
                "--submission",
                "my kernel.cu",
                "--baseline",
                "main.json",
                "--max-slowdown",
                "1.2"
            ]
        );
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        let summary = GateSummary {
            submission: PathBuf::from("my kernel.cu"),
            name: "my kernel.cu".to_owned(),
            kind: SourceKind::Cuda,
            backend: Backend::Cuda,
            verdict: Verdict::Pass,
            exit_status: 0,
            seed: 42,
            seed_source: SeedSource::Os,
            limits: crate::sandbox::Limits::default(),
            workers_ran_as: None,
            writes_confined_by: None,
            compile: None,
            build_error: None,
            perf: None,
            outputs: Vec::new(),
            duration_s: 1.0,
            options,
        };
        assert_eq!(
            summary.reproduce(),
            "judge gate --submission 'my kernel.cu' --baseline main.json --max-slowdown 1.2 --seed 42"
        );
        let bare = GateSummary {
            options: Vec::new(),
            ..summary
        };
        assert_eq!(
            bare.reproduce(),
            "judge gate --submission 'my kernel.cu' --seed 42"
        );
    }
}
