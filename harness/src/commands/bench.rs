//! `judge bench`: sets up the GPU timer when CUDA variants are selected and measures the CPU's ceilings when
//! CPU variants are, checks then samples every selected solution on every case of the preset (or of its
//! axes), rewrites the results document after every measurement, prints the table, and renders the report
//! when asked.

use std::path::{Path, PathBuf};
use std::time::Instant;

use solutions::{Backend, InputError, Solution};

use crate::bench::plan::BenchCase;
use crate::bench::progress::Progress;
use crate::bench::sampler::{MachineSamplers, Samplers};
use crate::bench::{BenchPlan, entry_count, execute};
use crate::check::Tolerance;
use crate::cli::{BenchArgs, DEFAULT_MAX_SAMPLES, DEFAULT_MIN_SAMPLES, GpuArgs};
use crate::cpu_peak;
use crate::gpu::{CudaTiming, FlushMethod, GpuOptions};
use crate::report;
use crate::report::html::format_utc;
use crate::report::tables::{bench_table, copy_table, gpu_line, gpu_method_text, verdict_summary};
use crate::results::{BenchMeta, CpuCeilings, Meta, ResultsFile};
use crate::timing::SamplingPlan;
use crate::verdict::ExitStatus;

use super::{CommandError, format_seconds};

/// The results file of a report directory.
pub const REPORT_JSON: &str = "results.json";

fn select_solutions(names: &[String]) -> Result<Vec<Box<dyn Solution>>, CommandError> {
    if names.is_empty() {
        return Ok(solutions::registry());
    }
    super::solutions_by_name(names)
}

fn select_cases(args: &BenchArgs) -> Result<Vec<BenchCase>, CommandError> {
    let cases = args
        .preset
        .cases_with_axes(&args.axes)
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    for case in &cases {
        case.shape.validate().map_err(|e| {
            // Presets hold valid shapes: a dimension out of range came from the axis that set it.
            let axis = match &e {
                InputError::ShapeOutOfRange { field, .. } => {
                    args.axes.iter().find(|a| a.dim.name() == *field)
                }
                _ => None,
            };
            match axis {
                Some(axis) => {
                    CommandError::Usage(format!("--axis {}: {e} (case {})", axis.spec, case.name))
                }
                None => CommandError::Usage(format!("case {} ({}): {e}", case.name, case.shape)),
            }
        })?;
    }
    Ok(cases)
}

/// Where the results document goes: --json, else results.json in the report directory, else a new file
/// under reports/ named by the UTC time ([`new_results_file`]).
fn json_path(args: &BenchArgs, started_unix: f64) -> Result<PathBuf, CommandError> {
    if let Some(p) = &args.json {
        return Ok(p.clone());
    }
    if let Some(dir) = &args.report {
        return Ok(dir.join(REPORT_JSON));
    }
    new_results_file(Path::new("reports"), started_unix)
}

/// The most names [`new_results_file`] tries in one second.
const MAX_SAME_SECOND: u32 = 1000;

/// A results file of this bench's own in `dir` (created if needed), named by the UTC time to the second
/// (`bench-20250101-120000.json`), then `-2`, `-3`, … when another bench took that name: the name is claimed by
/// creating the file empty, so a bench never replaces another's results.
fn new_results_file(dir: &Path, started_unix: f64) -> Result<PathBuf, CommandError> {
    let digits: String = format_utc(started_unix)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (date, minute) = digits.split_at(digits.len().min(8));
    let second = (started_unix.max(0.0) as u64) % 60;
    let stamp = format!("{date}-{minute}{second:02}");
    let name = |n: u32| match n {
        1 => format!("bench-{stamp}.json"),
        n => format!("bench-{stamp}-{n}.json"),
    };
    let first = dir.join(name(1));
    create_parent(&first).map_err(CommandError::Output)?;
    for n in 1..=MAX_SAME_SECOND {
        let path = dir.join(name(n));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(CommandError::Output(crate::io::FileError::io(&path, e))),
        }
    }
    Err(CommandError::Output(crate::io::FileError::io(
        &first,
        std::io::Error::other(format!(
            "{MAX_SAME_SECOND} results files of this second exist already; give --json FILE"
        )),
    )))
}

/// Creates the directory of the results file `path`; an error names the file, and the directory in its cause.
fn create_parent(path: &Path) -> Result<(), crate::io::FileError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            crate::io::create_dir(dir).map_err(|e| crate::io::FileError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(
                    e.kind(),
                    format!("could not create its directory {}: {e}", dir.display()),
                ),
            })
        }
        _ => Ok(()),
    }
}

/// How the GPU timer is set up for `args`.
fn gpu_options(args: &GpuArgs) -> GpuOptions {
    GpuOptions {
        flush: FlushMethod::Read,
        warm_poison: !args.warm_no_poison,
        compare_flush: args.compare_flush,
    }
}

/// The samplers of this bench: a GPU timer when a selected CUDA variant can run here (CUDA variants are
/// skipped with the reason when it cannot be set up), no CPU ceilings yet.
fn machine_samplers(plan: &BenchPlan, gpu: &GpuArgs, quiet: bool) -> MachineSamplers {
    let samplers = MachineSamplers::new(None);
    let cuda_here = plan
        .solutions
        .iter()
        .any(|s| s.backend() == Backend::Cuda && s.availability().is_available());
    if !cuda_here {
        return samplers;
    }
    if !quiet {
        crate::errln!("setting up the GPU timer: flush buffer, stream hold, floor of the method");
    }
    match CudaTiming::new(plan.sampling, plan.input_sets, gpu_options(gpu)) {
        Ok(timing) => samplers.with_gpu(Box::new(timing)),
        Err(e) => samplers.without_gpu(format!("the GPU timer could not be set up: {e}")),
    }
}

pub(super) fn bench(args: &BenchArgs) -> Result<ExitStatus, CommandError> {
    let solutions = select_solutions(&args.solutions)?;
    let cases = select_cases(args)?;
    let tolerance = Tolerance {
        atol: args.check.atol,
        rtol: args.check.rtol,
    };
    // Either bound given alone moves the other's default out of its way; both given must agree.
    let (min_samples, max_samples) = match (args.min_samples, args.max_samples) {
        (Some(min), Some(max)) if max < min => {
            return Err(CommandError::Usage(format!(
                "--min-samples {min} is more than --max-samples {max}: a measurement cannot take both"
            )));
        }
        (Some(min), Some(max)) => (min, max),
        (Some(min), None) => (min, DEFAULT_MAX_SAMPLES.max(min)),
        (None, Some(max)) => (DEFAULT_MIN_SAMPLES.min(max), max),
        (None, None) => (DEFAULT_MIN_SAMPLES, DEFAULT_MAX_SAMPLES),
    };
    let sampling = SamplingPlan {
        warmup_calls: args.warmup_calls,
        warmup_time: args.warmup,
        min_samples: min_samples as usize,
        max_samples: max_samples as usize,
        target_rel_err: args.target_rel_err,
        budget: args.budget,
    };
    let started = Instant::now();
    let mut meta = Meta::now(args.check.seed, tolerance);
    let path = json_path(args, meta.started_at_unix)?;
    let report_files = args
        .report
        .as_deref()
        .map(crate::report::files_in)
        .unwrap_or_default();
    let outputs: Vec<(&str, &std::path::Path)> = std::iter::once(("--json", path.as_path()))
        .chain(report_files.iter().map(|f| ("--report", f.as_path())))
        .collect();
    super::run::refuse_overwriting_inputs(&outputs, &[])?;
    // Both before anything is measured, the report directory first (the results go into it by default).
    if let Some(dir) = &args.report {
        super::refuse_file_as_report_dir("--report", dir)?;
        crate::io::create_dir(dir).map_err(|source| {
            CommandError::Report(report::ReportError::Dir {
                path: dir.clone(),
                source,
            })
        })?;
    }
    // The option that names the results file (none for a file of the bench's own, made above).
    let option = match (&args.json, &args.report) {
        (Some(_), _) => Some("--json"),
        (None, Some(_)) => Some("--report"),
        (None, None) => None,
    };
    if let Some(option) = option {
        create_parent(&path).map_err(|source| CommandError::Unwritable { option, source })?;
        super::run::check_writable(option, &path)?;
    }

    let plan = BenchPlan {
        solutions,
        cases,
        seed: args.check.seed,
        tolerance,
        sampling,
        input_sets: args.input_sets,
        time_wrong_answers: args.time_wrong_answers,
    };
    let mut samplers = machine_samplers(&plan, &args.gpu, args.quiet);
    let mut progress = Progress::new(entry_count(&plan, &samplers), args.quiet);
    // How the read bandwidth was measured, when not over the whole buffer (a memory limit allowed less).
    let mut read_note = String::new();
    if plan.solutions.iter().any(|s| s.backend() == Backend::Cpu) {
        progress.status("measuring the CPU's FMA peak and read bandwidth".to_owned());
        let peak = cpu_peak::measure();
        if peak.read_bytes < cpu_peak::READ_BUFFER_BYTES {
            read_note = format!(
                " over {} MiB ({} MiB could not be allocated: a cache may have served part of it, so the \
                 bandwidth may read high and the floor low)",
                peak.read_bytes >> 20,
                cpu_peak::READ_BUFFER_BYTES >> 20
            );
        }
        samplers = samplers.with_cpu(Some(CpuCeilings::from(peak)));
    }
    meta.cpu_peak = samplers.cpu_ceilings();
    meta.gpu = samplers.gpu();
    meta.gpu_timing = samplers.gpu_method();
    meta.bench = Some(BenchMeta::new(
        args.preset,
        args.axes.iter().map(|a| a.spec.clone()).collect(),
        args.input_sets,
        &plan.sampling,
    ));
    let mut results =
        ResultsFile::create(meta, Some(path.clone())).map_err(CommandError::Output)?;
    let outcome = execute(&plan, &mut samplers, &mut results, &mut progress);
    progress.clear();
    outcome?;
    // A results file that could not be written during the bench stopped nothing; it is reported after the table.
    let written = results.finish();

    let doc = results.doc();
    let (table, notes) = bench_table(&doc.entries);
    crate::out!("{}{}", table.render_text(), notes.render_text());
    crate::outln!(
        "\n{} ({tolerance}, seed {}) in {}",
        verdict_summary(&doc.entries),
        args.check.seed,
        format_seconds(started.elapsed().as_secs_f64())
    );
    if let Some(c) = &doc.meta.cpu_peak {
        crate::outln!(
            "CPU ceilings: {:.1} GFLOP/s FMA peak ({}, {} threads), {:.1} GB/s read{read_note}",
            c.fma_gflops,
            c.simd,
            c.threads,
            c.read_gbps
        );
    }
    if let Some(gpu) = &doc.meta.gpu {
        crate::outln!("{}", gpu_line(gpu));
    }
    if let Some(method) = &doc.meta.gpu_timing {
        crate::outln!("{}", gpu_method_text(method));
    }
    if let Some(copies) = copy_table(doc) {
        crate::outln!("\nDevice copies of each case's minimal bytes (the × copy references):");
        crate::out!("{}", copies.render_text());
    }
    if (args.gpu.compare_flush || args.gpu.warm_no_poison) && doc.meta.gpu_timing.is_none() {
        crate::outln!("note: no CUDA variant was timed, so the GPU timing options had no effect");
    }
    let mut status = ExitStatus::from_verdicts(doc.entries.iter().map(|e| e.verdict));
    match written {
        Ok(()) => crate::outln!("results written to {}", path.display()),
        Err(error) => {
            super::run::report_write_failure(error);
            status = status.max(ExitStatus::Internal);
        }
    }
    if let Some(dir) = &args.report {
        let source = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let files = report::write(doc, dir, &source)?;
        crate::outln!("report written to {}", files.html.display());
        for (kind, why) in &files.skipped {
            crate::outln!("  chart {} not drawn: {why}", kind.file_stem());
        }
    }
    Ok(status)
}
