//! Criterion benchmarks of the CPU variants (`cpu-naive`, `cpu-tiled`) at the perf preset and at a smaller case,
//! followed by a summary against this machine's measured limits: each variant's median time, GFLOP/s counting
//! the reduced form's 2·B·S·D·2 flops, the percentage of the measured FMA peak, and the speed-up over
//! `cpu-naive`.
//!
//! ```sh
//! cargo bench -p harness --bench cpu              # everything, about half a minute
//! cargo bench -p harness --bench cpu -- perf/     # criterion filters work as usual
//! JUDGE_BENCH_NUMPY=off cargo bench -p harness --bench cpu   # without the NumPy baseline
//! ```
//!
//! Right after the perf case's variants, the same run times the NumPy + BLAS implementation of the reduced form
//! (`tools/numpy_reduced.py`, on the same case written to a temporary `.npz`), so the ratio the targets name is
//! measured side by side. Without `python3` or NumPy that row is skipped, and the line says why.
//!
//! The FMA peak is measured before and after the benchmarks, and the higher of the two is used.
//!
//! Times are warm: one input set, called back to back, so its 12.9 MB stay in the last-level cache between
//! calls. The median is criterion's (the median over samples of each sample's time per call), recomputed from
//! the samples criterion takes, so the summary and criterion's report agree.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use harness::challenge::oracle;
use harness::challenge::suites::{Case, DEFAULT_SEED, Suite};
use harness::cpu_peak::{self, CpuPeak};
use harness::io::{CaseFile, write_case};
use harness::stats::Summary;
use solutions::cpu_naive::CpuNaive;
use solutions::cpu_tiled::CpuTiled;
use solutions::{Shape, Solution};

/// The cases: the perf preset and one public functional case 1/16 its size.
fn cases() -> Vec<Case> {
    let perf = Suite::Perf.specs().remove(0);
    let small = Suite::Functional
        .specs()
        .into_iter()
        .find(|s| s.name == "public-09")
        .expect("the functional suite has public-09");
    [(perf, Suite::Perf), (small, Suite::Functional)]
        .into_iter()
        .map(|(spec, suite)| {
            spec.build(Some(suite), DEFAULT_SEED)
                .unwrap_or_else(|e| panic!("case {}: {e}", spec.name))
        })
        .collect()
}

/// Flops the targets count: two dot products of length D per output, `2·B·S·D·2`.
fn counted_flops(shape: Shape) -> f64 {
    4.0 * (shape.b * shape.s * shape.d) as f64
}

/// One measured variant on one case.
struct Measured {
    case: String,
    shape: Shape,
    solution: String,
    /// Median seconds per call.
    median: f64,
    /// Samples behind the median.
    samples: usize,
}

/// Benchmarks `solution` on `case` in `group`; returns criterion's median per call, or `None` if criterion
/// skipped it (a filter) or ran it in test mode.
fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    sample_size: usize,
    solution: &dyn Solution,
    case: &Case,
) -> Option<Measured> {
    let mut prepared = match solution.prepare(&case.inputs) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}: {e}", solution.name());
            return None;
        }
    };
    // Seconds per call of every routine call, warm-up first; criterion's samples are the last `sample_size`.
    let mut per_call = Vec::new();
    group.bench_function(solution.name(), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                prepared.run().expect("a built-in variant runs");
                prepared
                    .synchronize()
                    .expect("a built-in variant synchronizes");
            }
            let elapsed = start.elapsed();
            per_call.push(elapsed.as_secs_f64() / iters as f64);
            elapsed
        });
    });
    if per_call.len() < sample_size {
        return None;
    }
    let samples = &per_call[per_call.len() - sample_size..];
    Some(Measured {
        case: case.name.clone(),
        shape: case.inputs.shape(),
        solution: solution.name().to_owned(),
        median: Summary::of(samples)?.median,
        samples: sample_size,
    })
}

/// The NumPy implementation's name in the summary.
const NUMPY: &str = "numpy-blas";

/// Times `tools/numpy_reduced.py` on `case` (written with its oracle scores to a temporary `.npz`, removed
/// after). `None`, with a line saying why, when it is turned off or cannot run here.
fn numpy_baseline(case: &Case) -> Option<Measured> {
    if std::env::var("JUDGE_BENCH_NUMPY").is_ok_and(|v| v == "off") {
        println!("NumPy baseline: skipped (JUDGE_BENCH_NUMPY=off)");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/numpy_reduced.py");
    let path = std::env::temp_dir().join(format!(
        "judge-bench-{}-{}.npz",
        case.name,
        std::process::id()
    ));
    let file = CaseFile {
        name: Some(case.name.clone()),
        inputs: case.inputs.clone(),
        scores: Some(oracle::scores(&case.inputs)),
        ignored: Vec::new(),
    };
    if let Err(e) = write_case(&path, &file) {
        println!("NumPy baseline: skipped (cannot write the case: {e})");
        return None;
    }
    let measured = run_numpy(&script, &path, case);
    let _ = std::fs::remove_file(&path);
    match measured {
        Ok(m) => Some(m),
        Err(why) => {
            println!("NumPy baseline: skipped ({why})");
            None
        }
    }
}

fn run_numpy(script: &Path, path: &Path, case: &Case) -> Result<Measured, String> {
    let output = Command::new("python3")
        .arg(script)
        .arg(path)
        .arg("--json")
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No module named 'numpy'") {
        return Err("NumPy is not installed: pip install numpy".into());
    }
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|_| {
        format!(
            "{} exited with {}: {}",
            script.display(),
            output.status,
            stderr.lines().last().unwrap_or("no output")
        )
    })?;
    if json["passed"] != serde_json::Value::Bool(true) {
        return Err(format!(
            "its scores fail the check against the oracle (rel. Frobenius {})",
            json["rel_frobenius"]
        ));
    }
    let median = json["median_s"]
        .as_f64()
        .ok_or_else(|| format!("no median_s in its output: {stdout}"))?;
    println!(
        "NumPy baseline: numpy {}, {}: median {:.3} ms over {} calls",
        json["numpy"].as_str().unwrap_or("?"),
        json["blas"].as_str().unwrap_or("?"),
        median * 1e3,
        json["repeats"]
    );
    Ok(Measured {
        case: case.name.clone(),
        shape: case.inputs.shape(),
        solution: NUMPY.to_owned(),
        median,
        samples: json["repeats"].as_u64().unwrap_or(0) as usize,
    })
}

fn print_summary(peak: &CpuPeak, results: &[Measured]) {
    println!();
    println!(
        "measured limits: FMA peak {:.1} GFLOP/s ({} threads, {}), read bandwidth {:.1} GB/s",
        peak.fma_gflops, peak.threads, peak.simd, peak.read_gbps
    );
    println!(
        "{:<12} {:<18} {:<12} {:>11} {:>9} {:>9} {:>10} {:>9}",
        "case", "B×S×D×C", "solution", "median", "GFLOP/s", "% peak", "vs naive", "vs NumPy"
    );
    for m in results {
        let s = m.shape;
        let gflops = counted_flops(s) / m.median / 1e9;
        let naive = results
            .iter()
            .find(|n| n.case == m.case && n.solution == "cpu-naive")
            .map(|n| format!("{:.1}×", n.median / m.median))
            .unwrap_or_default();
        let numpy = results
            .iter()
            .find(|n| n.case == m.case && n.solution == NUMPY)
            .map(|n| format!("{:.1}×", n.median / m.median))
            .unwrap_or_default();
        println!(
            "{:<12} {:<18} {:<12} {:>8.3} ms {:>9.1} {:>8.1}% {:>10} {:>9}",
            m.case,
            format!("{}×{}×{}×{}", s.b, s.s, s.d, s.c),
            m.solution,
            m.median * 1e3,
            gflops,
            100.0 * gflops / peak.fma_gflops,
            naive,
            numpy
        );
    }
    println!(
        "(GFLOP/s count 2·B·S·D·2 flops per call; medians over {} samples each, warm cache)",
        results
            .iter()
            .map(|m| m.samples.to_string())
            .collect::<Vec<_>>()
            .join("/")
    );
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    let peak = cpu_peak::measure();
    let solutions: [Box<dyn Solution>; 2] = [Box::new(CpuNaive), Box::new(CpuTiled::new())];
    let mut results = Vec::new();
    for case in cases() {
        let measured_before = results.len();
        let mut group = criterion.benchmark_group(case.name.as_str());
        for solution in &solutions {
            // cpu-naive takes about a quarter of a second per call at the perf preset: take few, flat samples.
            let slow = solution.name() == "cpu-naive";
            let sample_size = if slow { 10 } else { 50 };
            group
                .sample_size(sample_size)
                .measurement_time(Duration::from_secs(if slow { 3 } else { 2 }))
                .sampling_mode(if slow {
                    SamplingMode::Flat
                } else {
                    SamplingMode::Auto
                });
            results.extend(bench(&mut group, sample_size, solution.as_ref(), &case));
        }
        group.finish();
        // The NumPy baseline of the perf case, right after its variants (not in criterion's test mode, nor when a
        // filter left the perf case out).
        if case.name == "perf" && results.len() > measured_before {
            results.extend(numpy_baseline(&case));
        }
    }
    criterion.final_summary();
    if !results.is_empty() {
        // The peak is measured before and after the benchmarks and the better one kept: on a shared machine a
        // busy moment during one measurement would otherwise inflate the percentages.
        let after = cpu_peak::measure();
        println!(
            "\nFMA peak measured before: {:.1} GFLOP/s, after: {:.1} GFLOP/s",
            peak.fma_gflops, after.fma_gflops
        );
        let best = if after.fma_gflops > peak.fma_gflops {
            after
        } else {
            peak
        };
        print_summary(&best, &results);
    }
}
