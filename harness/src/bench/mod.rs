//! `judge bench`: axes and presets become cases (nvbench's axes → states), each solution is checked then
//! sampled on each case (one entry per solution × case × mode), and the results document is rewritten after
//! every measurement so an interruption loses nothing.
//!
//! * [`axes`]: `S=1024:65536:pow2`-style parameter sweeps;
//! * [`plan`]: presets, bench cases and their rotating input sets;
//! * [`sampler`]: which sampler times which backend (where a GPU sampler plugs in), and a scripted one for tests;
//! * [`measure`]: one solution on one case;
//! * [`progress`]: the progress display.

pub mod axes;
pub mod measure;
pub mod plan;
pub mod progress;
pub mod sampler;

use std::time::Instant;

use solutions::{Backend, Solution};

use crate::challenge::generate::GenerateError;
use crate::challenge::oracle;
use crate::check::Tolerance;
use crate::commands::format_seconds;
use crate::results::ResultsFile;
use crate::timing::SamplingPlan;

use self::plan::BenchCase;
use self::progress::Progress;
use self::sampler::Samplers;

/// Input sets per case when none is asked for: enough that consecutive calls never share buffers, few
/// enough that four sets of the largest case (≈ 24 MiB each with its output buffer at S = 65,536) fit easily.
pub const DEFAULT_INPUT_SETS: usize = 4;

/// Why a bench could not go on (a solution failing is a verdict, not an error).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// An input set could not be generated.
    #[error("case '{case}', input set {set}: {source}")]
    Generate {
        case: String,
        set: usize,
        #[source]
        source: GenerateError,
    },
}

/// What a bench measures and how.
pub struct BenchPlan {
    /// The solutions, in order.
    pub solutions: Vec<Box<dyn Solution>>,
    /// The cases, in order.
    pub cases: Vec<BenchCase>,
    /// The run's seed.
    pub seed: u64,
    /// The checker's tolerance.
    pub tolerance: Tolerance,
    /// When to stop sampling.
    pub sampling: SamplingPlan,
    /// Independently generated input sets per case (at least 1), rotated between calls.
    pub input_sets: usize,
    /// Time variants whose output is wrong too (for ablations that switch parts of a solve off); they keep
    /// their wrong-answer verdict.
    pub time_wrong_answers: bool,
}

/// The number of entries `plan` will produce: per case, one per mode of each solution's regime (one for a
/// backend not measured here). For progress displays.
pub fn entry_count(plan: &BenchPlan, samplers: &dyn Samplers) -> u64 {
    let per_case: usize = plan
        .solutions
        .iter()
        .map(|s| match samplers.regime(s.backend()) {
            sampler::Regime::Measured { modes, .. } => modes.len(),
            sampler::Regime::Unsupported { .. } => 1,
        })
        .sum();
    (per_case * plan.cases.len()) as u64
}

/// Runs `plan`: for each case, generates its input sets and the oracle's scores of set 0, then measures every
/// solution, pushing entries into `results` as they complete.
pub fn execute(
    plan: &BenchPlan,
    samplers: &mut dyn Samplers,
    results: &mut ResultsFile,
    progress: &mut Progress,
) -> Result<(), BenchError> {
    let sets_per_case = plan.input_sets.max(1);
    for bench_case in &plan.cases {
        let started = Instant::now();
        let mut sets = Vec::with_capacity(sets_per_case);
        for set in 0..sets_per_case {
            progress.status(format!(
                "{}: generating input set {}/{sets_per_case}",
                bench_case.name,
                set + 1
            ));
            let case =
                bench_case
                    .build_set(plan.seed, set)
                    .map_err(|source| BenchError::Generate {
                        case: bench_case.name.clone(),
                        set,
                        source,
                    })?;
            sets.push(case);
        }
        progress.status(format!("{}: oracle", bench_case.name));
        let expected = oracle::scores(&sets[0].inputs);
        progress.status(format!(
            "{}: {sets_per_case} input sets and oracle in {}",
            bench_case.name,
            format_seconds(started.elapsed().as_secs_f64())
        ));
        for solution in &plan.solutions {
            let entries = measure::measure(
                solution.as_ref(),
                &sets,
                &expected,
                plan,
                samplers,
                progress,
            );
            // The GPU's method record grows as it measures (flush comparisons), and the CPU's ceilings are
            // measured again before a time is called suspicious: keep the document current.
            if solution.backend() == Backend::Cuda
                && let Some(method) = samplers.gpu_method()
            {
                results.meta_mut().gpu_timing = Some(method);
            }
            if solution.backend() == Backend::Cpu && results.doc().meta.cpu_peak.is_some() {
                results.meta_mut().cpu_peak = samplers.cpu_ceilings();
            }
            for entry in entries {
                progress.finish(&measure::entry_line(&entry));
                results.push(entry);
            }
        }
    }
    Ok(())
}
