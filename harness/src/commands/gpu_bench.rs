//! `judge gpu-bench`: times the CUDA variants with the GPU sampler (CUDA events, stream hold, warm and cold
//! L2) next to a device copy of the same byte count, checks every timed output, prints a table and writes the
//! results document.

use std::time::{Duration, Instant};

use solutions::{Availability, Backend, Prepared, Shape, Solution};

use crate::challenge::oracle;
use crate::challenge::rng::derive_seed;
use crate::challenge::suites::{Case, Suite};
use crate::check::{CheckReport, Tolerance, check};
use crate::cli::GpuBenchArgs;
use crate::gpu::{FlushMethod, GpuSampler, Regime, gpu_info, measure_copy_with};
use crate::results::{CaseInfo, Clock, Entry, Meta, Reference, ReferenceKind, ResultsFile, Timing};
use crate::runner::guarded;
use crate::stats::Summary;
use crate::table::{Align, Table};
use crate::timing::{SamplingPlan, collect};
use crate::verdict::{ExitStatus, Verdict};

use super::{CommandError, format_error, format_seconds};

/// The sampling plan of `judge gpu-bench` for a budget per variant, case and regime.
pub fn plan(budget: Duration, target_rel_err: f64) -> SamplingPlan {
    SamplingPlan {
        warmup_calls: 5,
        warmup_time: Duration::from_millis(50),
        min_samples: 20,
        max_samples: 5_000,
        target_rel_err,
        budget,
    }
}

fn select(args: &GpuBenchArgs) -> Result<Vec<Box<dyn Solution>>, CommandError> {
    if args.solutions.is_empty() {
        return Ok(solutions::registry()
            .into_iter()
            .filter(|s| s.backend() == Backend::Cuda)
            .collect());
    }
    args.solutions
        .iter()
        .map(|name| match solutions::find(name) {
            Some(s) if s.backend() == Backend::Cuda => Ok(s),
            Some(_) => Err(CommandError::Usage(format!(
                "'{name}' is not a CUDA variant; gpu-bench times CUDA variants only"
            ))),
            None => Err(CommandError::Usage(format!(
                "unknown solution '{name}' (see `judge list`)"
            ))),
        })
        .collect()
}

/// The input sets of one case: the case itself and `count − 1` more generated with derived seeds.
fn input_sets(
    suite: Suite,
    spec: &crate::challenge::suites::CaseSpec,
    seed: u64,
    count: usize,
) -> Result<Vec<Case>, CommandError> {
    (0..count)
        .map(|i| {
            let set_seed = if i == 0 {
                seed
            } else {
                derive_seed(seed, &format!("gpu-bench input set {i}"))
            };
            spec.build(Some(suite), set_seed)
                .map_err(|source| CommandError::Generate {
                    case: spec.name.to_owned(),
                    source,
                })
        })
        .collect()
}

/// Prepared input sets of one variant.
type Sets<'a> = Vec<Box<dyn Prepared + 'a>>;

/// The samples (seconds) and the worst check report over the timed sets, or why there are none.
type Measured = Result<(Vec<f64>, Option<CheckReport>), String>;

/// Times and checks one variant on the sets of one case in one regime; gives the sets back.
fn time_variant<'a>(
    solution: &dyn Solution,
    prepared: Sets<'a>,
    regime: Regime,
    plan: &SamplingPlan,
    (sets, expected): (&[Case], &[Vec<f64>]),
    tolerance: Tolerance,
    warm_poison: bool,
) -> (Measured, Sets<'a>) {
    let name = solution.name();
    let mut sampler = match GpuSampler::new(prepared, regime) {
        Ok(s) if warm_poison => s,
        Ok(s) => s.without_warm_poison(),
        Err(e) => return (Err(e.to_string()), Vec::new()),
    };
    let samples = guarded(name, "timing", || collect(&mut sampler, plan));
    let taken = sampler.samples_per_set().to_vec();
    let mut worst: Option<CheckReport> = None;
    let mut error = None;
    for (i, set) in sampler.sets_mut().iter_mut().enumerate() {
        if taken[i] == 0 {
            continue;
        }
        let mut out = vec![0.0f32; sets[i].inputs.shape().output_len()];
        match guarded(name, "read_output", || set.read_output(&mut out)) {
            Ok(()) => {
                let report = check(&out, &expected[i], sets[i].inputs.shape(), tolerance);
                let replace = match &worst {
                    None => true,
                    Some(w) => {
                        (!report.passed && w.passed) || report.rel_frobenius > w.rel_frobenius
                    }
                };
                if replace {
                    worst = Some(report);
                }
            }
            Err(e) => error = Some(e.to_string()),
        }
    }
    let sets_back = sampler.into_sets();
    let result = match (samples, error) {
        (Err(e), _) => Err(e.to_string()),
        (Ok(_), Some(e)) => Err(e),
        (Ok(samples), None) => Ok((samples.seconds, worst)),
    };
    (result, sets_back)
}

fn fmt_time(s: &Summary) -> String {
    format!(
        "{} ({}–{})",
        format_seconds(s.median),
        format_seconds(s.p10).trim_end_matches(" µs"),
        format_seconds(s.p90)
    )
}

/// The table of `judge gpu-bench`: one row per variant (and the copy) × case, warm and cold side by side.
pub fn gpu_table(entries: &[Entry]) -> Table {
    let mut table = Table::new(&[
        ("variant", Align::Left),
        ("case", Align::Left),
        ("warm median (p10–p90)", Align::Right),
        ("cold median (p10–p90)", Align::Right),
        ("× copy w/c", Align::Right),
        ("GB/s w/c", Align::Right),
        ("rel frob", Align::Right),
        ("verdict", Align::Left),
    ]);
    let mut keys: Vec<(String, String)> = Vec::new();
    for e in entries {
        let key = (e.solution.clone(), e.case.name.clone());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (solution, case) in keys {
        let find = |mode| {
            entries
                .iter()
                .find(|e| e.solution == solution && e.case.name == case && e.mode == mode)
        };
        let (warm, cold) = (
            find(crate::results::Mode::Warm),
            find(crate::results::Mode::Cold),
        );
        let any = warm.or(cold).expect("the key came from an entry");
        let bytes = any.case.shape.min_bytes() as f64;
        let cell = |e: Option<&Entry>, f: &dyn Fn(&Timing) -> String| {
            e.and_then(|e| e.timing.as_ref())
                .map(f)
                .unwrap_or_else(|| "–".to_owned())
        };
        let ratio = |t: &Timing| {
            t.reference
                .as_ref()
                .map(|r| format!("{:.2}", t.summary.median / r.summary.median))
                .unwrap_or_else(|| "–".to_owned())
        };
        // A copy moves its bytes twice (read and write); a variant must move min_bytes once.
        let moved = if solution == "device-copy" {
            2.0 * bytes
        } else {
            bytes
        };
        let gbps = |t: &Timing| format!("{:.0}", moved / t.summary.median / 1e9);
        let frob = [warm, cold]
            .iter()
            .flatten()
            .filter_map(|e| e.check.as_ref().map(|c| c.rel_frobenius))
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let verdict = [warm, cold]
            .iter()
            .flatten()
            .map(|e| e.verdict)
            .max()
            .unwrap_or(Verdict::Skipped);
        let reason = [warm, cold].iter().flatten().find_map(|e| e.reason.clone());
        table.push(vec![
            solution.clone(),
            case.clone(),
            cell(warm, &|t| fmt_time(&t.summary)),
            cell(cold, &|t| fmt_time(&t.summary)),
            format!("{} / {}", cell(warm, &ratio), cell(cold, &ratio)),
            format!("{} / {}", cell(warm, &gbps), cell(cold, &gbps)),
            frob.map(format_error).unwrap_or_default(),
            match reason {
                Some(r) => format!("{verdict}: {r}"),
                None => verdict.to_string(),
            },
        ]);
    }
    table
}

fn copy_row(case: &Case, regime: Regime, reference: &Reference) -> Entry {
    Entry {
        solution: "device-copy".to_owned(),
        backend: Backend::Cuda,
        case: CaseInfo::from(case),
        mode: regime.into(),
        verdict: Verdict::Pass,
        reason: None,
        check: None,
        timing: Some(Timing {
            clock: Clock::CudaEvents,
            samples_s: reference.samples_s.clone(),
            summary: reference.summary,
            stop: None,
            input_sets: None,
            reference: Some(reference.clone()),
        }),
        derived: None,
        errors: None,
    }
}

pub(super) fn gpu_bench(args: &GpuBenchArgs) -> Result<ExitStatus, CommandError> {
    let gpu = match solutions::cuda::gpu() {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("error: no GPU to time on: {e}");
            return Ok(ExitStatus::Unavailable);
        }
    };
    let solutions = select(args)?;
    let tolerance = Tolerance {
        atol: args.check.atol,
        rtol: args.check.rtol,
    };
    let seed = args.check.seed;
    let suites = if args.suites.is_empty() {
        vec![Suite::Perf]
    } else {
        args.suites.clone()
    };
    let plan = plan(Duration::from_secs_f64(args.budget), args.target_rel_err);
    let mut meta = Meta::now(seed, tolerance);
    meta.gpu = gpu_info();
    let mut results = ResultsFile::create(meta, args.json.clone()).map_err(CommandError::Output)?;
    let started = Instant::now();
    let info = &gpu.info;
    println!(
        "GPU: {} ({}, {} SMs, {} MB L2), driver {}; flush by reading {} MB",
        info.name,
        info.sm(),
        info.multiprocessors,
        info.l2_bytes / 1_000_000,
        results
            .doc()
            .meta
            .gpu
            .as_ref()
            .map_or_else(|| info.driver_cuda(), |g| g.driver.clone()),
        4 * info.l2_bytes / 1_000_000
    );
    let mut notes: Vec<String> = Vec::new();
    let floor: Vec<String> = Regime::ALL
        .iter()
        .map(|&regime| {
            crate::gpu::measure_empty(regime, &plan)
                .ok()
                .and_then(|s| Summary::of(&s.seconds))
                .map_or_else(
                    || format!("{regime} –"),
                    |s| format!("{regime} {}", format_seconds(s.median)),
                )
        })
        .collect();
    notes.push(format!(
        "floor of the method (an empty kernel timed the same way): {}",
        floor.join(", ")
    ));
    for suite in suites {
        for spec in suite.specs() {
            let sets = input_sets(suite, &spec, seed, args.sets as usize)?;
            let shape: Shape = spec.shape;
            let expected: Vec<Vec<f64>> = sets.iter().map(|c| oracle::scores(&c.inputs)).collect();
            if !args.quiet {
                eprintln!(
                    "case {} ({shape}): {} input sets, oracle done",
                    spec.name,
                    sets.len()
                );
            }
            let mut references = Vec::new();
            for regime in Regime::ALL {
                let samples = measure_copy_with(
                    shape.min_bytes(),
                    regime,
                    sets.len(),
                    &plan,
                    FlushMethod::Read,
                    !args.warm_no_poison,
                )
                .map_err(|e| CommandError::Usage(format!("timing the device copy: {e}")))?;
                let summary = Summary::of(&samples.seconds).ok_or_else(|| {
                    CommandError::Usage("timing the device copy: no samples".to_owned())
                })?;
                let reference = Reference {
                    kind: ReferenceKind::DeviceCopy,
                    bytes: shape.min_bytes(),
                    samples_s: samples.seconds,
                    summary,
                };
                results
                    .push(copy_row(&sets[0], regime, &reference))
                    .map_err(CommandError::Output)?;
                references.push(reference);
            }
            if args.compare_flush {
                let samples = measure_copy_with(
                    shape.min_bytes(),
                    Regime::Cold,
                    sets.len(),
                    &plan,
                    FlushMethod::Memset,
                    true,
                )
                .map_err(|e| CommandError::Usage(format!("timing the device copy: {e}")))?;
                if let Some(s) = Summary::of(&samples.seconds) {
                    notes.push(format!(
                        "{}: device copy cold after a memset flush (dirty L2): {} median, vs {} after the read flush",
                        spec.name,
                        format_seconds(s.median),
                        format_seconds(references[1].summary.median)
                    ));
                }
            }
            for solution in &solutions {
                let entry = |regime: Regime, verdict, reason, check, timing| Entry {
                    solution: solution.name().to_owned(),
                    backend: solution.backend(),
                    case: CaseInfo::from(&sets[0]),
                    mode: regime.into(),
                    verdict,
                    reason,
                    check,
                    timing,
                    derived: None,
                    errors: None,
                };
                if let Availability::Unavailable(reason) = solution.availability() {
                    for regime in Regime::ALL {
                        results
                            .push(entry(
                                regime,
                                Verdict::Skipped,
                                Some(reason.clone()),
                                None,
                                None,
                            ))
                            .map_err(CommandError::Output)?;
                    }
                    continue;
                }
                let prepared: Result<Vec<Box<dyn Prepared + '_>>, _> = sets
                    .iter()
                    .map(|c| guarded(solution.name(), "prepare", || solution.prepare(&c.inputs)))
                    .collect();
                let mut prepared = match prepared {
                    Ok(p) => p,
                    Err(e) => {
                        for regime in Regime::ALL {
                            results
                                .push(entry(
                                    regime,
                                    Verdict::RuntimeError,
                                    Some(e.to_string()),
                                    None,
                                    None,
                                ))
                                .map_err(CommandError::Output)?;
                        }
                        continue;
                    }
                };
                for (regime, reference) in Regime::ALL.into_iter().zip(&references) {
                    let (outcome, back) = time_variant(
                        solution.as_ref(),
                        prepared,
                        regime,
                        &plan,
                        (&sets, &expected),
                        tolerance,
                        !args.warm_no_poison,
                    );
                    prepared = back;
                    let e = match outcome {
                        Err(reason) => {
                            entry(regime, Verdict::RuntimeError, Some(reason), None, None)
                        }
                        Ok((seconds, report)) => {
                            let timing =
                                Timing::from_samples(Clock::CudaEvents, seconds).map(|mut t| {
                                    t.reference = Some(reference.clone());
                                    t
                                });
                            let (verdict, reason) = match &report {
                                Some(r) if r.passed => (Verdict::Pass, None),
                                Some(r) => (Verdict::WrongAnswer, r.reason()),
                                None => (
                                    Verdict::RuntimeError,
                                    Some("no output was checked".to_owned()),
                                ),
                            };
                            entry(regime, verdict, reason, report, timing)
                        }
                    };
                    if !args.quiet {
                        eprintln!(
                            "  {:<16} {:<5} {:<12} {}",
                            solution.name(),
                            regime.name(),
                            e.verdict.name(),
                            e.timing
                                .as_ref()
                                .map(|t| format_seconds(t.summary.median))
                                .unwrap_or_default()
                        );
                    }
                    results.push(e).map_err(CommandError::Output)?;
                    if prepared.is_empty() {
                        break;
                    }
                }
            }
        }
    }
    let entries = &results.doc().entries;
    print!("{}", gpu_table(entries).render_text());
    for note in &notes {
        println!("{note}");
    }
    println!(
        "\ntimes: CUDA events around one solve, median of the samples (p10–p90); × copy: over a device copy of \
         Shape::min_bytes() under the same regime; GB/s: min_bytes / time (the copy row: bytes read + written); \
         {} input sets rotated; {tolerance}; {} in all",
        args.sets,
        format_seconds(started.elapsed().as_secs_f64())
    );
    if let Some(path) = &args.json {
        println!("results written to {}", path.display());
    }
    Ok(ExitStatus::from_verdicts(entries.iter().map(|e| e.verdict)))
}
