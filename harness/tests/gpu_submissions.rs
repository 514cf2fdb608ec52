//! GPU tests of CUDA submissions: every `.cu` fixture in `fixtures/submissions/` through the gate (in this
//! process, workers from the `judge` binary), on a reduced functional list and the real perf case, with the
//! verdict, reason and exit status its header states. The good one must also pass every timing check with a
//! time above the device's physical floor.
//!
//! Also compiles the CUDA programs under `tools/` (`compile/tools/…`), which need `nvcc` but no device.
//!
//! They run under plain `cargo test`. Without a CUDA device or without `nvcc` they are reported as *ignored*,
//! never as passed, after a visible `skipped: …` line. Trials run one at a time by default (timing needs the
//! GPU to itself); the fixtures whose verdicts come from the correctness stage may be run in parallel with
//! `--test-threads`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    Expectation, entry_lines, expectation, fixture_files, fixtures, has_reason, kept_baseline,
    reduced_functional,
};
use harness::challenge::DEFAULT_TOLERANCE;
use harness::challenge::suites::Suite;
use harness::commands::run::CaseRef;
use harness::gate::baseline::BaselineSpec;
use harness::gate::{self, FloorSource, GatePlan, GateSummary, SeedSource};
use harness::results::{Meta, ResultsDoc, ResultsFile};
use harness::sandbox::limits::MIB;
use harness::sandbox::{Limits, WorkerCommand, WorkerUser, Workspace};
use harness::submission::{CompileOptions, Submission, nvcc};
use harness::timing::SamplingPlan;
use harness::verdict::Verdict;
use libtest_mimic::{Arguments, Failed, Trial};

const SEED: u64 = 20_250_501;

/// The gate on `submission`: the reduced functional list and the perf case (a side stream's work must be long
/// enough to outlast the end event), small limits, a short sampling budget.
fn plan(submission: &Path, workspace: &Workspace, baseline: Option<BaselineSpec>) -> GatePlan {
    let limits = Limits {
        call_s: 2.0,
        startup_s: 60.0,
        memory_bytes: 2048 * MIB,
        device_memory_bytes: 2048 * MIB,
    };
    GatePlan {
        submission: Submission::new(submission, None).expect("a .cu fixture"),
        functional: reduced_functional(),
        timed: Suite::Perf
            .specs()
            .into_iter()
            .next()
            .map(|spec| CaseRef::Spec(Suite::Perf, spec)),
        seed: SEED,
        seed_source: SeedSource::Given,
        tolerance: DEFAULT_TOLERANCE,
        // Workers run as they would from the command line (`--worker-user auto`).
        sandbox: workspace.config(
            WorkerCommand::judge_at(common::judge_binary()),
            limits,
            WorkerUser::automatic().0,
        ),
        compile: CompileOptions {
            limit: Duration::from_secs(120),
            ..CompileOptions::default()
        },
        sampling: SamplingPlan {
            warmup_calls: 2,
            warmup_time: Duration::ZERO,
            min_samples: 10,
            max_samples: 30,
            target_rel_err: 0.02,
            budget: Duration::from_secs(2),
        },
        baseline,
        floor: FloorSource::Measure,
        progress: false,
        options: Vec::new(),
    }
}

fn run_gate(
    submission: &Path,
    baseline: Option<BaselineSpec>,
) -> Result<(GateSummary, ResultsDoc), Failed> {
    let workspace = Workspace::create().map_err(|e| e.to_string())?;
    let plan = plan(submission, &workspace, baseline);
    let mut results =
        ResultsFile::create(Meta::now(SEED, DEFAULT_TOLERANCE), None).map_err(|e| e.to_string())?;
    let summary = gate::run(&plan, &mut results).map_err(|e| e.to_string())?;
    results.set_gate(summary.clone());
    Ok((summary, results.doc().clone()))
}

fn baseline_of(expected: &Expectation) -> Result<Option<BaselineSpec>, Failed> {
    let Some(reference) = &expected.baseline else {
        return Ok(None);
    };
    let (_, doc) = run_gate(reference, None)?;
    Ok(Some(kept_baseline(&doc)?))
}

/// The gate on one fixture: its verdict, exit status and reason as its header says, an entry for every case;
/// for a passing one, a clean perf report above the floor.
fn judge_fixture(relative: &str) -> Result<(), Failed> {
    let path = fixtures().join(relative);
    let expected = expectation(&path);
    let baseline = baseline_of(&expected)?;
    let (summary, doc) = run_gate(&path, baseline)?;
    let table = entry_lines(&doc);
    let perf = summary.perf.as_ref().map(|p| {
        format!(
            "perf: median {:.2} µs, fastest {:.2} µs, repeats {:.2}× fresh, floor {}, busy after end {}",
            p.median_s * 1e6,
            p.fastest_s * 1e6,
            p.repeat_ratio,
            p.floor
                .map(|f| format!("{:.2} µs at {:.0} GB/s", f.seconds * 1e6, f.bandwidth_gbps))
                .unwrap_or_else(|| "none".to_owned()),
            p.busy_after
                .map(|b| format!(
                    "fastest {:.1} µs, median {:.1} µs ({} of {} unheld)",
                    b.fastest_s * 1e6,
                    b.median_s * 1e6,
                    b.unheld,
                    b.calls
                ))
                .unwrap_or_else(|| "not measured".to_owned()),
        )
    });
    println!(
        "    {relative}: {} (exit {}), expected {}\n      {}\n      {}",
        summary.verdict,
        summary.exit_status,
        expected.verdict,
        table.join("\n      "),
        perf.unwrap_or_default()
    );
    if summary.verdict != expected.verdict {
        return Err(format!(
            "{relative}: got {}, expected {}\n{}\noutputs: {:?}\nbuild: {:?}",
            summary.verdict,
            expected.verdict,
            table.join("\n"),
            summary.outputs,
            summary.build_error
        )
        .into());
    }
    if summary.exit_status != expected.verdict.exit_status().code() {
        return Err(format!("{relative}: exit status {}", summary.exit_status).into());
    }
    if doc.entries.len() != 6 {
        return Err(format!(
            "{relative}: {} entries, not 6: {table:?}",
            doc.entries.len()
        )
        .into());
    }
    if let Some(reason) = &expected.reason
        && !has_reason(&doc, expected.verdict, reason)
    {
        return Err(format!(
            "{relative}: no '{reason}' in the reasons:\n{}",
            table.join("\n")
        )
        .into());
    }
    if expected.verdict == Verdict::Pass {
        let perf = summary.perf.as_ref().ok_or("the perf case was not timed")?;
        let floor = perf.floor.ok_or("no GPU floor")?;
        if !perf.findings.is_empty() || perf.fastest_s <= floor.threshold() {
            return Err(format!("{relative}: {:?}", perf.findings).into());
        }
        if perf.busy_after.is_none() {
            return Err(format!("{relative}: the worker reported nothing of the device").into());
        }
    }
    if let Some(other) = &expected.time_near {
        time_near(relative, &summary, other)?;
    }
    if let Some(least) = expected.time_at_least_s {
        let median = perf_median(&summary);
        let fastest = summary.perf.as_ref().map(|p| p.fastest_s);
        println!(
            "      perf median {:.2} µs, fastest call {:.2} µs, at least {:.2} µs expected of both",
            median.unwrap_or(f64::NAN) * 1e6,
            fastest.unwrap_or(f64::NAN) * 1e6,
            least * 1e6
        );
        for (what, time) in [("median", median), ("fastest call", fastest)] {
            if !time.is_some_and(|t| t >= least) {
                return Err(format!(
                    "{relative}: perf {what} {time:?} s is under the {least} s of work it does: part of it \
                     escaped the timer"
                )
                .into());
            }
        }
    }
    Ok(())
}

/// The perf case's median, when it was timed.
fn perf_median(summary: &GateSummary) -> Option<f64> {
    summary.perf.as_ref().map(|p| p.median_s)
}

/// How far from the median of the fixture its `expect-time-near` names a fixture's perf median may be, as a
/// factor either way: the two do the same work, so only a part of it escaping the timer moves them apart
/// by more.
const TIME_NEAR: f64 = 2.0;

/// Checks the perf median of `summary` against that of the fixture at `other`, judged now.
fn time_near(relative: &str, summary: &GateSummary, other: &Path) -> Result<(), Failed> {
    let (reference, _) = run_gate(other, None)?;
    let (Some(mine), Some(theirs)) = (perf_median(summary), perf_median(&reference)) else {
        return Err(format!("{relative}: a perf median is missing").into());
    };
    let ratio = mine / theirs;
    println!(
        "      perf median {:.2} µs against {:.2} µs for {}: {ratio:.2}×",
        mine * 1e6,
        theirs * 1e6,
        other.display()
    );
    if !(1.0 / TIME_NEAR..=TIME_NEAR).contains(&ratio) {
        return Err(format!(
            "{relative}: perf median {:.2} µs is {ratio:.2}× that of {} ({:.2} µs), the same work: part of it \
             escaped the timer",
            mine * 1e6,
            other.display(),
            theirs * 1e6
        )
        .into());
    }
    Ok(())
}

/// Fixtures whose verdict comes from timing, or which fill the device: run them with the GPU to themselves.
const ALONE: [&str; 7] = [
    "good/reference.cu",
    "good/own_stream.cu",
    "good/host_then_wait.cu",
    "bad/host_work.cu",
    "bad/side_stream.cu",
    "bad/cache_cheap_key.cu",
    "bad/huge_alloc.cu",
];

/// The CUDA programs under `tools/`, with the target flags their documentation gives (`-arch=native` replaced by
/// the H100's `sm_90`, so no device is needed). `nvcc -c` builds each to an object: the check that a documented
/// `nvcc … tools/X.cu` still compiles after the kernels it includes have changed.
const TOOLS: [(&str, &[&str]); 2] = [
    ("tools/gpu_method_probe.cu", &["-O2", "-arch=sm_90"]),
    (
        "tools/wgmma_probe.cu",
        &["-O3", "-gencode", "arch=compute_90a,code=sm_90a"],
    ),
];

/// Compiles `file` with `flags` to an object in a fresh directory; the compiler's output on failure.
fn compile_tool(nvcc: &std::ffi::OsStr, file: &str, flags: &[&str]) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let object = dir.path().join("tool.o");
    let output = std::process::Command::new(nvcc)
        .args(flags)
        .args(["-c", "-o"])
        .arg(&object)
        .arg(common::in_checkout(file))
        .output()
        .map_err(|e| format!("running {}: {e}", nvcc.to_string_lossy()))?;
    if !output.status.success() || !object.is_file() {
        return Err(format!(
            "{file} does not compile ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let nvcc = nvcc::resolve(CompileOptions::default().nvcc.as_ref());
    let unavailable = match (nvcc::device_arch(), &nvcc) {
        (Err(e), _) => Some(format!(
            "skipped: no CUDA device ({e}); the CUDA submission tests are reported as ignored"
        )),
        (Ok(_), None) => Some(
            "skipped: nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin, $NVCC); the CUDA submission \
             tests are reported as ignored"
                .to_owned(),
        ),
        (Ok(arch), Some(nvcc)) => {
            println!("CUDA submission tests on {arch} with {}", nvcc.to_string_lossy());
            None
        }
    };
    if let Some(line) = &unavailable {
        println!("{line}");
    }
    if nvcc.is_none() {
        println!(
            "skipped: nvcc not found; the compile checks of tools/*.cu are reported as ignored"
        );
    }
    let tools = TOOLS.into_iter().map(|(file, flags)| {
        let missing = nvcc.is_none();
        let nvcc = nvcc.clone();
        Trial::test(format!("compile/{file}"), move || match &nvcc {
            Some(nvcc) => compile_tool(nvcc, file, flags),
            // Reached only when ignored trials are run anyway: nothing was checked.
            None => Err("nvcc not found: nothing to compile with".into()),
        })
        .with_ignored_flag(missing)
    });
    let trials: Vec<Trial> = fixture_files("cu")
        .into_iter()
        .map(|file| {
            let kind = if ALONE.contains(&file.as_str()) {
                "alone"
            } else {
                "gate"
            };
            let name = format!("{kind}/{file}");
            Trial::test(name, move || judge_fixture(&file)).with_ignored_flag(unavailable.is_some())
        })
        .chain(tools)
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
