//! Criterion benchmarks of the CPU variants (`cpu-naive`, `cpu-tiled`) at the perf preset and at a smaller case,
//! followed by a summary against this machine's measured limits: each variant's median time, GFLOP/s counting
//! the reduced form's 2·B·S·D·2 flops, the percentage of the measured FMA peak, and the speed-up over
//! `cpu-naive`.
//!
//! ```sh
//! cargo bench -p harness --bench cpu              # everything, about a minute
//! cargo bench -p harness --bench cpu -- perf/     # criterion filters work as usual
//! JUDGE_BENCH_NUMPY=off cargo bench -p harness --bench cpu   # without the NumPy baseline
//! ```
//!
//! Right after the perf case's variants, the same run times the NumPy + BLAS implementation of the reduced form
//! (`tools/numpy_reduced.py`, on the same case written to a temporary `.npz`), so the ratio the targets name is
//! measured side by side. Without `python3` or NumPy that row is skipped, and the line says why.
//!
//! Then it measures that ratio a second way, paired: the script runs as a server (`--serve`) and the bench
//! alternates rounds of `cpu-tiled` calls with rounds of NumPy calls, so both sides see the machine in the same
//! minute, and reports the median of the per-round ratios with its confidence interval. On a shared machine,
//! whose load moves a variant's time by a quarter from one minute to the next, the two medians taken apart can
//! be far from each other's conditions; the paired ratio is the figure to compare with a target.
//!
//! The FMA peak is measured before and after the benchmarks, and the higher of the two is used.
//!
//! Last, `cpu-tiled`'s kernel and its decoding of a tile are timed alone, each on operands that stay in the L1
//! cache, on one thread, against the one-thread FMA peak, and the perf solve they would make is set beside the
//! measured one: the gap is what running them in place costs (memory traffic, threads, the machine).
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
use solutions::cpu_tiled::{CpuTiled, Isa};
use solutions::{Shape, Solution};

#[path = "support/numpy_server.rs"]
mod numpy_server;
use numpy_server::NumpyServer;

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

/// Rounds of the paired comparison.
const PAIRED_ROUNDS: usize = 20;
/// Timed `cpu-tiled` calls per round (about as long as the NumPy calls of a round at the perf preset).
const PAIRED_TILED_CALLS: usize = 25;
/// Timed NumPy calls per round.
const PAIRED_NUMPY_CALLS: usize = 3;
/// Idle time before each side's calls, so that the other side's worker threads have stopped spinning (OpenBLAS's
/// and rayon's idle threads poll for new work for a while before they sleep) and cannot slow it down.
const PAIRED_PAUSE: Duration = Duration::from_millis(150);

/// The paired comparison of `cpu-tiled` with NumPy (see the module docs).
struct Paired {
    /// NumPy's median call over `cpu-tiled`'s, per round.
    median_ratios: Summary,
    /// NumPy's mean call over `cpu-tiled`'s, per round: both sides exposed alike to whatever the machine did
    /// during the round, where a median of short calls can skip a slow stretch that long calls absorb.
    mean_ratios: Summary,
    /// Medians over the rounds of each round's median, in seconds.
    tiled_median: f64,
    numpy_median: f64,
    /// The relative Frobenius error of the server's scores against the oracle.
    numpy_rel_frobenius: f64,
}

/// The NumPy baseline of `case`: the script's own timing, and the paired comparison with `cpu-tiled`. The
/// case is written with its oracle scores to a temporary `.npz`, removed after. `None`s, with a line saying
/// why, when it is turned off or cannot run here.
fn numpy_baseline(case: &Case) -> (Option<Measured>, Option<Paired>) {
    if std::env::var("JUDGE_BENCH_NUMPY").is_ok_and(|v| v == "off") {
        println!("NumPy baseline: skipped (JUDGE_BENCH_NUMPY=off)");
        return (None, None);
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
        return (None, None);
    }
    let measured = run_numpy(&script, &path, case);
    let paired = match &measured {
        Ok(_) => paired(&script, &path, case),
        Err(_) => Err("the NumPy baseline did not run".to_owned()),
    };
    let _ = std::fs::remove_file(&path);
    let measured = measured
        .map_err(|why| println!("NumPy baseline: skipped ({why})"))
        .ok();
    let paired = paired
        .map_err(|why| println!("paired comparison with NumPy: skipped ({why})"))
        .ok();
    (measured, paired)
}

/// Alternates rounds of `cpu-tiled` calls on `case` with rounds of NumPy calls served by `script --serve` on
/// the case file at `path`, the order swapped every round so that a drift in the machine's speed favours
/// neither side.
fn paired(script: &Path, path: &Path, case: &Case) -> Result<Paired, String> {
    let solution = CpuTiled::new();
    let mut prepared = solution
        .prepare(&case.inputs)
        .map_err(|e| format!("{}: {e}", solution.name()))?;
    let mut server = NumpyServer::start(script, path)?;
    // Per side (0: cpu-tiled, 1: NumPy) and round: the summary of its calls.
    let mut rounds: [Vec<Summary>; 2] = Default::default();
    for round in 0..PAIRED_ROUNDS {
        for side in [round % 2, 1 - round % 2] {
            std::thread::sleep(PAIRED_PAUSE);
            let times = if side == 0 {
                (0..PAIRED_TILED_CALLS)
                    .map(|_| {
                        let start = Instant::now();
                        prepared.run().expect("a built-in variant runs");
                        start.elapsed().as_secs_f64()
                    })
                    .collect()
            } else {
                server.time(PAIRED_NUMPY_CALLS)?
            };
            rounds[side].push(Summary::of(&times).ok_or("a round without samples")?);
        }
    }
    let [tiled_rounds, numpy_rounds] = rounds;
    let numpy_rel_frobenius = server.ready["rel_frobenius"].as_f64().unwrap_or(f64::NAN);
    server.finish()?;
    let ratios = |of: fn(&Summary) -> f64| {
        let r: Vec<f64> = numpy_rounds
            .iter()
            .zip(&tiled_rounds)
            .map(|(n, t)| of(n) / of(t))
            .collect();
        Summary::of(&r).ok_or("no rounds")
    };
    let median_of = |rounds: &[Summary]| {
        let medians: Vec<f64> = rounds.iter().map(|r| r.median).collect();
        Summary::of(&medians).map(|s| s.median).ok_or("no rounds")
    };
    Ok(Paired {
        median_ratios: ratios(|r| r.median)?,
        mean_ratios: ratios(|r| r.mean)?,
        tiled_median: median_of(&tiled_rounds)?,
        numpy_median: median_of(&numpy_rounds)?,
        numpy_rel_frobenius,
    })
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
    numpy_server::check_passed(&json)?;
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

fn print_summary(peak: &CpuPeak, results: &[Measured], paired: Option<&Paired>) {
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
    if let Some(p) = paired {
        println!(
            "\npaired with NumPy ({PAIRED_ROUNDS} rounds, each {PAIRED_TILED_CALLS} cpu-tiled calls and \
             {PAIRED_NUMPY_CALLS} NumPy calls, in alternating order, {} ms apart; the served NumPy scores' rel. \
             Frobenius error {:.1e}), NumPy's time over cpu-tiled's:",
            PAIRED_PAUSE.as_millis(),
            p.numpy_rel_frobenius
        );
        for (what, ratios) in [
            ("of the medians", &p.median_ratios),
            ("of the means", &p.mean_ratios),
        ] {
            let ci = ratios.median_ci.map_or("95% CI unknown".to_owned(), |ci| {
                format!("95% CI {:.1}–{:.1}×", ci.low, ci.high)
            });
            println!(
                "  per-round ratio {what:<14} {:>5.1}× (median over rounds; {ci}, rounds {:.1}–{:.1}×)",
                ratios.median, ratios.min, ratios.max
            );
        }
        println!(
            "  round medians: cpu-tiled {:.3} ms, NumPy {:.3} ms",
            p.tiled_median * 1e3,
            p.numpy_median * 1e3
        );
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    let peak = cpu_peak::measure();
    let solutions: [Box<dyn Solution>; 2] = [Box::new(CpuNaive), Box::new(CpuTiled::new())];
    let mut results = Vec::new();
    let mut paired = None;
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
            let (measured, pairs) = numpy_baseline(&case);
            results.extend(measured);
            paired = pairs;
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
        print_summary(&best, &results, paired.as_ref());
        if let Some(m) = results
            .iter()
            .find(|m| m.case == "perf" && m.solution == "cpu-tiled")
        {
            print_parts(m);
        }
    }
}

/// `cpu-tiled`'s per-tile work and kernel timed alone (one thread, operands in the caches as a solve's are) against
/// the FMA peak of one thread, and the solve they would make: how much of a solve's distance from the peak is the
/// kernel's own, and how much is the per-tile work, memory traffic and the machine.
fn print_parts(solve: &Measured) {
    let Some(probe) = solutions::cpu_tiled::probe(solve.shape, Duration::from_millis(400)) else {
        println!(
            "\ncpu-tiled's parts alone: not measured (the probe times the AVX-512 and AVX2 paths; this CPU has \
             neither)"
        );
        return;
    };
    let (peak, simd) = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(|| cpu_peak::fma_peak(Duration::from_millis(60), 3)),
        Err(e) => {
            println!("\ncpu-tiled's parts alone: no one-thread pool for the FMA peak: {e}");
            return;
        }
    };
    // Vector instructions per second at the peak: `lanes` lanes × 2 flops each.
    let rate = |instructions: usize| {
        instructions as f64 / probe.kernel_seconds / (peak * 1e9 / (2 * probe.lanes) as f64) * 100.0
    };
    let all = probe.fmas + probe.qjl_ops;
    let threads = rayon::current_num_threads();
    let model = probe.model_seconds(threads);
    let qjl = match probe.isa {
        Isa::Avx512 => {
            "lookups and their adds (Intel cores run vpermps on port 5, one of the two FMA ports)"
        }
        _ => "multiplies by coef·gamma",
    };
    println!(
        "\ncpu-tiled's parts alone ({} path, operands in the caches, one thread; one-thread FMA peak {peak:.1} \
         GFLOP/s, {simd}):",
        probe.isa
    );
    println!(
        "  kernel, {} queries × {} keys × {} dimensions: {:.3} µs a call; its {} codebook FMAs at {:.0}% of the \
         peak, or {all} instructions with the QJL term's {} {qjl} at {:.0}% of the peak's rate",
        probe.queries,
        probe.tile,
        probe.shape.d,
        probe.kernel_seconds * 1e6,
        probe.fmas,
        rate(probe.fmas),
        probe.qjl_ops,
        rate(all)
    );
    if probe.qjl_adds > 0 {
        println!(
            "  and the QJL term's {} sign-row adds beside them, on the FP adders",
            probe.qjl_adds
        );
    }
    let kernels = probe.blocks() as f64 * probe.kernel_seconds;
    println!(
        "  decoding one tile: {:.3} µs, {:.0}% of the tile's {} kernel calls",
        probe.decode_seconds * 1e6,
        100.0 * probe.decode_seconds / kernels,
        probe.blocks()
    );
    if probe.store_seconds > 0.0 {
        println!(
            "  moving a tile's scores into the rows: {:.3} µs, {:.0}% of its kernel calls",
            probe.store_seconds * 1e6,
            100.0 * probe.store_seconds / kernels
        );
    }
    println!(
        "  a {} solve built from them ({} tiles over {threads} threads, the projection and memory left out): \
         {:.3} ms; measured above {:.3} ms ({:.2}×)",
        solve.case,
        probe.tiles(),
        model * 1e3,
        solve.median * 1e3,
        solve.median / model
    );
}
