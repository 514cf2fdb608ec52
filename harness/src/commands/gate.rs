//! `judge gate`: one submission through the gate; a table and a verdict on stdout, progress on stderr,
//! JUnit/Markdown/JSON files for CI, and an exit status per verdict.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::challenge::suites::Suite;
use crate::check::Tolerance;
use crate::cli::GateArgs;
use crate::gate::baseline::BaselineSpec;
use crate::gate::{
    self, FloorSource, GateError, GatePlan, GateSummary, SeedSource, junit, markdown,
};
use crate::io::{FileError, write_atomically};
use crate::results::{Meta, ResultsFile};
use crate::sandbox::{self, WorkerCommand, Workspace};
use crate::submission::Submission;
use crate::timing::SamplingPlan;
use crate::verdict::ExitStatus;

use super::run::{
    CaseRef, check_compiler_variable, check_writable, refuse_overwriting_inputs,
    report_write_failure, results_text,
};
use super::{CommandError, format_seconds};

/// The sampling plan of the gate's perf case with a time budget of `budget_s` seconds.
pub fn sampling_plan(budget_s: f64) -> SamplingPlan {
    SamplingPlan {
        warmup_calls: 2,
        warmup_time: Duration::from_millis(200),
        min_samples: 10,
        max_samples: 200,
        target_rel_err: 0.01,
        budget: Duration::from_secs_f64(budget_s),
    }
}

/// The gate's output files: (option, path), in the order they are written.
fn outputs(args: &GateArgs) -> Vec<(&'static str, &Path)> {
    [
        ("--json", &args.json),
        ("--junit", &args.junit),
        ("--markdown", &args.markdown),
    ]
    .into_iter()
    .filter_map(|(option, path)| path.as_deref().map(|p| (option, p)))
    .collect()
}

pub(super) fn gate(args: &GateArgs) -> Result<ExitStatus, CommandError> {
    let submission = Submission::new(&args.submission, args.sandbox.backend.map(Into::into))?;
    // Every output is checked before the submission is built: none may replace an input, and each must be
    // writable, so that a verdict is never thrown away for want of a place to write it.
    let outputs = outputs(args);
    let inputs: Vec<&Path> = std::iter::once(args.submission.as_path())
        .chain(args.baseline.as_deref())
        .collect();
    refuse_overwriting_inputs(&outputs, &inputs)?;
    for (option, path) in &outputs {
        check_writable(option, path)?;
    }
    check_compiler_variable(submission.kind)?;
    let (seed, seed_source) = match args.seed {
        Some(seed) => (seed, SeedSource::Given),
        None => (
            gate::os_seed().map_err(CommandError::Workdir)?,
            SeedSource::Os,
        ),
    };
    let tolerance = Tolerance {
        atol: args.atol,
        rtol: args.rtol,
    };
    let user = super::run::worker_user(&args.sandbox)?;
    let workspace = Workspace::create().map_err(CommandError::Workdir)?;
    let worker = WorkerCommand::this_judge().map_err(CommandError::Workdir)?;
    let perf_spec = Suite::Perf.specs().into_iter().next();
    let plan = GatePlan {
        submission,
        functional: CaseRef::collect(&args.suites, &[]),
        timed: perf_spec
            .filter(|_| !args.no_perf)
            .map(|spec| CaseRef::Spec(Suite::Perf, spec)),
        seed,
        seed_source,
        tolerance,
        sandbox: args.sandbox.sandbox(&workspace, worker, user),
        compile: args.sandbox.compile_options(),
        sampling: sampling_plan(args.time_budget),
        baseline: args.baseline.as_ref().map(|path| BaselineSpec {
            path: path.clone(),
            solution: args.baseline_solution.clone(),
            max_slowdown: args.max_slowdown,
        }),
        floor: FloorSource::Measure,
        progress: !args.quiet,
        options: gate_options(),
    };
    // With a secret seed nothing is written while the submission runs: the document holds the case seeds.
    let live = (seed_source == SeedSource::Given)
        .then(|| args.json.clone())
        .flatten();
    let mut results =
        ResultsFile::create(Meta::now(seed, tolerance), live).map_err(CommandError::Output)?;
    sandbox::protect_judge();
    let summary = gate::run(&plan, &mut results);
    // Anything a dead worker left that was adopted after its worker ended.
    sandbox::children::kill_adopted();
    let summary = match summary {
        Ok(summary) => summary,
        Err(error) => return Err(stopped(args, &plan, &mut results, error)),
    };
    // A failed write is kept for `finish`, below.
    results.set_gate(summary.clone());
    // Written before anything is printed; a file that still cannot be written is reported after the verdict.
    let finished = results.finish();
    let doc = results.doc();
    let mut files: Vec<(&str, &PathBuf, Result<(), FileError>)> = Vec::new();
    if let Some(path) = &args.json {
        let outcome = match finished {
            // Written live (a given seed): the file holds the whole document once `finish` succeeds.
            Ok(()) if seed_source == SeedSource::Given => Ok(()),
            Ok(()) => doc.write(path),
            Err(e) => Err(e),
        };
        files.push(("results", path, outcome));
    }
    if let Some(path) = &args.junit {
        let text = junit::render(&summary, &doc.entries);
        files.push(("JUnit", path, write_atomically(path, text.as_bytes())));
    }
    if let Some(path) = &args.markdown {
        let text = markdown::render(&summary, &doc.entries);
        files.push(("Markdown", path, write_atomically(path, text.as_bytes())));
    }
    crate::out!("{}", results_text(&doc.entries));
    print_summary(&summary);
    let mut status = summary.exit();
    for (label, path, outcome) in files {
        match outcome {
            Ok(()) => crate::outln!("{label} written to {}", path.display()),
            // The verdict is above; the judge's own failure outranks it.
            Err(error) => {
                report_write_failure(error);
                status = status.max(ExitStatus::Internal);
            }
        }
    }
    Ok(status)
}

/// The gate stopped without a verdict. When it had started on the submission (the judge could not go on, rather
/// than a baseline it could not use), what it measured is still written to `--json` (no submission runs any more,
/// so a secret seed may be written now) and shown, and the seed is printed with the line that reproduces the run;
/// then `error` is returned, to be reported with its exit status.
fn stopped(
    args: &GateArgs,
    plan: &GatePlan,
    results: &mut ResultsFile,
    error: GateError,
) -> CommandError {
    if !matches!(error, GateError::Sandbox(_) | GateError::Case(_)) {
        return error.into();
    }
    if let Some(path) = &args.json {
        let written = match plan.seed_source {
            SeedSource::Given => results.finish(),
            SeedSource::Os => results.doc().write(path),
        };
        if let Err(e) = written {
            report_write_failure(e);
        } else {
            crate::errln!(
                "what was measured before it stopped is in {}",
                path.display()
            );
        }
    }
    let entries = &results.doc().entries;
    if !entries.is_empty() {
        crate::out!("{}", results_text(entries));
    }
    print_seed(plan.seed, plan.seed_source, &plan.reproduce());
    error.into()
}

fn print_seed(seed: u64, source: SeedSource, reproduce: &str) {
    let origin = match source {
        SeedSource::Os => "drawn from the OS",
        SeedSource::Given => "given",
    };
    crate::outln!("seed {seed} ({origin}); reproduce with: {reproduce}");
}

fn print_summary(summary: &GateSummary) {
    if let Some(failure) = &summary.build_error {
        crate::outln!("\n{}", failure.message);
        if let Some(log) = &failure.log {
            crate::outln!("compiler output:\n{}", log.trim_end());
        }
    }
    if let Some(perf) = &summary.perf {
        crate::outln!(
            "\nperf: median {} over {} calls, fastest {}, repeated inputs {}",
            format_seconds(perf.median_s),
            perf.samples,
            format_seconds(perf.fastest_s),
            format_seconds(perf.repeat_median_s)
        );
        if let Some(floor) = &perf.floor {
            match floor.peak_gflops {
                Some(peak) => crate::outln!(
                    "physical floor {} ({:.0} GB/s, {peak:.0} GFLOP/s measured here)",
                    format_seconds(floor.seconds),
                    floor.bandwidth_gbps,
                ),
                None => crate::outln!(
                    "physical floor {} (the bytes at {:.0} GB/s, a device copy measured here)",
                    format_seconds(floor.seconds),
                    floor.bandwidth_gbps,
                ),
            }
        }
        if let Some(busy) = &perf.busy_after {
            crate::outln!(
                "device busy after the end event: fastest {}, median {} ({} of {} calls unheld)",
                format_seconds(busy.fastest_s),
                format_seconds(busy.median_s),
                busy.unheld,
                busy.calls
            );
            if let Some(note) = busy.held_solve_note() {
                crate::outln!("{note}");
            }
            if let Some(note) = busy.unheld_note() {
                crate::outln!("{note}");
            }
        }
        if let Some(c) = &perf.baseline {
            crate::outln!(
                "baseline {} ({}, {}): {:.2}× (allowed {:.2}×{})",
                format_seconds(c.baseline.median_s),
                c.baseline.solution,
                c.baseline.path.display(),
                c.slowdown,
                c.baseline.max_slowdown,
                c.baseline.elsewhere_note()
            );
        }
    }
    crate::outln!(
        "\nverdict: {} (exit status {}) in {}",
        summary.verdict,
        summary.exit_status,
        format_seconds(summary.duration_s)
    );
    print_seed(summary.seed, summary.seed_source, &summary.reproduce());
}

/// The options this process was given after `gate`, without `--seed` (for the line that reproduces the run).
fn gate_options() -> Vec<String> {
    let args: Vec<String> = crate::results::argv().into_iter().skip(1).collect();
    let after = args
        .iter()
        .position(|a| a == "gate")
        .map_or(args.len(), |i| i + 1);
    gate::options_without_seed(&args[after..])
}
