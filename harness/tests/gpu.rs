//! GPU tests: every CUDA variant on the functional suite and the perf case (checked against the oracle, with
//! the relative Frobenius error held to 1e-5), repeatability (a race shows as outputs that change between
//! calls), timing sanity of the GPU sampler and the device copy, a short `judge bench` of the CUDA variants
//! through the GPU timer, and NVRTC compilation of every kernel.
//!
//! They run under plain `cargo test`. Without a CUDA device (or without NVRTC, for the compile test) they are
//! reported as *ignored*, never as passed, after a visible `skipped: …` line. Trials run one at a time: they
//! share the GPU, and timing needs it to itself.

use std::time::Duration;

use harness::bench::plan::BenchCase;
use harness::bench::progress::Progress;
use harness::bench::sampler::MachineSamplers;
use harness::bench::{BenchPlan, execute};
use harness::challenge::oracle;
use harness::challenge::suites::{Case, Suite};
use harness::check::{Tolerance, check};
use harness::gpu::{
    CopySetup, CudaTiming, DeviceCopy, EmptyKernel, GpuOptions, GpuSampler, Hold, Regime, Timed,
    reference_copy,
};
use harness::results::{CacheRegime, Mode, ReferenceKind, ResultsFile, SpeedOfLight};
use harness::timing::{SamplingPlan, collect};
use harness::verdict::Verdict;
use libtest_mimic::{Arguments, Failed, Trial};
use solutions::{Availability, Backend, Prepared, Shape, Solution};

/// The relative Frobenius error every CUDA variant must stay within (issue target; the default tolerance is
/// far looser).
const MAX_REL_FROBENIUS: f64 = 1e-5;

fn cuda_variants() -> Vec<Box<dyn Solution>> {
    solutions::registry()
        .into_iter()
        .filter(|s| s.backend() == Backend::Cuda)
        .collect()
}

fn build(suite: Suite, name: &str, seed: u64) -> Result<Case, Failed> {
    let spec = suite
        .specs()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Failed::from(format!("no case {name} in {suite}")))?;
    spec.build(Some(suite), seed)
        .map_err(|e| Failed::from(format!("generating {name}: {e}")))
}

fn solve_once(prepared: &mut dyn Prepared, len: usize) -> Result<Vec<f32>, Failed> {
    let mut out = vec![0.0f32; len];
    prepared.poison_output().map_err(|e| e.to_string())?;
    prepared.run().map_err(|e| e.to_string())?;
    prepared.synchronize().map_err(|e| e.to_string())?;
    prepared.read_output(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn correctness(variant: &str, suite: Suite, case: &str) -> Result<(), Failed> {
    let case = build(suite, case, harness::challenge::suites::DEFAULT_SEED)?;
    correct_on(variant, &case.name, &case.inputs, 1e-3)
}

/// Input magnitudes far from the generators' (still valid: `S_mat` and `Q` need only be finite), for the kernels'
/// scaling (`cuda-warpspec` scales its fp16 operands by powers of two): the array scaled and the factor. The
/// absolute tolerance is scaled with the scores, so that the element-wise check is the unscaled case's in other
/// units (at `Q` × 1e20 and atol 1e-3, scores that nearly cancel failed it in `cuda-smem`'s plain f32 too; with
/// `S_mat` × 1e6, where the QJL term dwarfs the codebook term, 3 of `cuda-warpspec`'s 65,536 scores did).
const SCALED: [(&str, f32); 4] = [
    ("s-mat-x1e3", 1e3),
    ("s-mat-x1e-4", 1e-4),
    ("q-x1e-30", 1e-30),
    ("q-x1e20", 1e20),
];

fn correctness_scaled(variant: &str, what: &str, factor: f32) -> Result<(), Failed> {
    let case = build(
        Suite::Functional,
        "public-09",
        harness::challenge::suites::DEFAULT_SEED,
    )?;
    let on_q = what.starts_with("q-");
    let mut parts = case.inputs.into_parts();
    let array = if on_q { &mut parts.q } else { &mut parts.s_mat };
    array.iter_mut().for_each(|x| *x *= factor);
    let inputs = solutions::Inputs::new(parts).map_err(|e| e.to_string())?;
    // Scores scale with Q; with S_mat only their QJL term does.
    let scale = if on_q {
        f64::from(factor)
    } else {
        f64::from(factor).max(1.0)
    };
    let atol = 1e-3 * scale;
    correct_on(variant, &format!("public-09, {what}"), &inputs, atol)
}

fn correct_on(
    variant: &str,
    name: &str,
    inputs: &solutions::Inputs,
    atol: f64,
) -> Result<(), Failed> {
    let solution = solutions::find(variant).ok_or("unknown variant")?;
    if let Availability::Unavailable(reason) = solution.availability() {
        return Err(format!("{variant} cannot run on this GPU: {reason}").into());
    }
    let expected = oracle::scores(inputs);
    let mut prepared = solution.prepare(inputs).map_err(|e| e.to_string())?;
    let out = solve_once(prepared.as_mut(), inputs.shape().output_len())?;
    let report = check(
        &out,
        &expected,
        inputs.shape(),
        Tolerance { atol, rtol: 1e-3 },
    );
    if !report.passed {
        return Err(report.reason().unwrap_or_default().into());
    }
    if report.rel_frobenius > MAX_REL_FROBENIUS {
        return Err(format!(
            "relative Frobenius error {:.2e} > {MAX_REL_FROBENIUS:e}",
            report.rel_frobenius
        )
        .into());
    }
    println!(
        "    {variant} {name}: rel frob {:.2e}, max abs {:.2e}",
        report.rel_frobenius, report.max_abs_err
    );
    Ok(())
}

fn repeatable(variant: &str) -> Result<(), Failed> {
    let solution = solutions::find(variant).ok_or("unknown variant")?;
    let case = build(Suite::Perf, "perf", 7)?;
    let mut prepared = solution.prepare(&case.inputs).map_err(|e| e.to_string())?;
    let len = case.inputs.shape().output_len();
    let first = solve_once(prepared.as_mut(), len)?;
    for call in 1..5 {
        let again = solve_once(prepared.as_mut(), len)?;
        if let Some(i) = (0..len).find(|&i| again[i].to_bits() != first[i].to_bits()) {
            return Err(format!(
                "call {call} differs from call 0 at flat index {i}: {} vs {} (a race?)",
                again[i], first[i]
            )
            .into());
        }
    }
    Ok(())
}

fn quick_plan() -> SamplingPlan {
    SamplingPlan {
        warmup_calls: 3,
        warmup_time: Duration::from_millis(10),
        min_samples: 20,
        max_samples: 400,
        target_rel_err: 0.01,
        budget: Duration::from_millis(400),
    }
}

/// The reference is the faster of the two ways of copying, by median, with the slower one's median kept; both
/// are plausible, and the cold copy is no faster than the warm one.
fn copy_timing() -> Result<(), Failed> {
    let bytes = Shape::PERF.min_bytes();
    let reference = |regime| {
        reference_copy(bytes, &CopySetup::new(regime, 2), &quick_plan())
            .map_err(|e| Failed::from(e.to_string()))
    };
    let (warm, cold) = (reference(Regime::Warm)?, reference(Regime::Cold)?);
    for (regime, r) in [("warm", &warm), ("cold", &cold)] {
        let slower = r.slower.ok_or("the reference kept no slower copy")?;
        println!(
            "    copy of {bytes} B, {regime}: {} {:.2} µs, {} {:.2} µs",
            r.kind.label(),
            r.summary.median * 1e6,
            slower.kind.label(),
            slower.median_s * 1e6
        );
        if slower.kind == r.kind || slower.median_s < r.summary.median {
            return Err(format!("{regime}: the reference is not the faster copy: {r:?}").into());
        }
        if r.summary.median <= 0.0 {
            return Err(format!("{regime}: non-positive copy time").into());
        }
    }
    let (warm, cold) = (warm.summary.median, cold.summary.median);
    if cold < 0.9 * warm {
        return Err(format!("cold copy ({cold:e} s) faster than warm ({warm:e} s)").into());
    }
    // Bytes read + written over the time: no GPU of today moves 20 TB/s from DRAM.
    if 2.0 * bytes as f64 / cold > 20e12 {
        return Err(format!(
            "cold copy at {:.1} TB/s is implausible",
            2.0 * bytes as f64 / cold / 1e12
        )
        .into());
    }
    Ok(())
}

/// Both ways of copying copy every byte, at byte counts that are and are not multiples of the copy kernel's
/// 16-byte units (its tail).
fn copies_are_exact() -> Result<(), Failed> {
    for bytes in [
        1usize,
        15,
        16,
        4_097,
        1_000_003,
        Shape::PERF.min_bytes() as usize,
    ] {
        for kind in ReferenceKind::ALL {
            let mut copy = DeviceCopy::new(bytes, kind).map_err(|e| e.to_string())?;
            let data = copy.fill_source_with_pattern().map_err(|e| e.to_string())?;
            Timed::poison(&mut copy).map_err(|e| e.to_string())?;
            Timed::run(&mut copy).map_err(|e| e.to_string())?;
            let out = copy.read_destination().map_err(|e| e.to_string())?;
            if let Some(i) = (0..bytes).find(|&i| out[i] != data[i]) {
                return Err(format!(
                    "{} of {bytes} bytes: byte {i} is {:#04x}, expected {:#04x}",
                    kind.label(),
                    out[i],
                    data[i]
                )
                .into());
            }
        }
    }
    println!("    both copies exact at 1, 15, 16, 4,097, 1,000,003 and the perf case's bytes");
    Ok(())
}

/// While the stream hold waits, a kernel of one warp on another stream, one that does not wait for the held
/// stream, cannot start (the hold has taken every thread slot), so work a solve starts on a stream of its own
/// cannot run before the start event; once the hold is released, it runs.
fn hold_fills_the_device() -> Result<(), Failed> {
    let gpu = solutions::cuda::gpu().map_err(|e| e.to_string())?;
    let hold = Hold::new(gpu).map_err(|e| e.to_string())?;
    let noop = EmptyKernel::new().map_err(|e| e.to_string())?;
    let side = gpu.context().new_stream().map_err(|e| e.to_string())?;
    let done = gpu.context().new_event(None).map_err(|e| e.to_string())?;
    let (blocks, threads) = hold.shape();
    hold.enqueue(gpu.stream()).map_err(|e| e.to_string())?;
    noop.enqueue(&side).map_err(|e| e.to_string())?;
    done.record(&side).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(10));
    let ran_during_hold = done.is_complete();
    hold.release();
    gpu.synchronize_device("the end of the hold test")
        .map_err(|e| e.to_string())?;
    println!(
        "    hold of {blocks} blocks × {threads} threads; the other stream's kernel ran during it: \
         {ran_during_hold}"
    );
    if ran_during_hold {
        return Err(format!(
            "a kernel on another stream ran while the hold ({blocks} blocks × {threads} threads) waited"
        )
        .into());
    }
    if hold.timed_out() {
        return Err("the hold gave up before it was released".into());
    }
    if !done.is_complete() {
        return Err("the other stream's kernel did not run after the release".into());
    }
    Ok(())
}

fn collect_median(
    samples: Result<harness::timing::Samples, solutions::SolveError>,
) -> Result<f64, Failed> {
    let samples = samples.map_err(|e| e.to_string())?;
    harness::stats::Summary::of(&samples.seconds)
        .map(|s| s.median)
        .ok_or_else(|| "no samples".into())
}

fn variant_timing(variant: &str) -> Result<(), Failed> {
    let solution = solutions::find(variant).ok_or("unknown variant")?;
    if let Availability::Unavailable(reason) = solution.availability() {
        return Err(format!("{variant} cannot run on this GPU: {reason}").into());
    }
    let cases: Vec<Case> = (0..2)
        .map(|i| build(Suite::Perf, "perf", 100 + i))
        .collect::<Result<_, _>>()?;
    let expected: Vec<Vec<f64>> = cases.iter().map(|c| oracle::scores(&c.inputs)).collect();
    let mut medians = Vec::new();
    for regime in Regime::ALL {
        let sets = cases
            .iter()
            .map(|c| solution.prepare(&c.inputs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let mut sampler = GpuSampler::new(sets, regime).map_err(|e| e.to_string())?;
        let median = collect_median(collect(&mut sampler, &quick_plan()))?;
        for (i, set) in sampler.sets_mut().iter_mut().enumerate() {
            let mut out = vec![0.0f32; Shape::PERF.output_len()];
            set.read_output(&mut out).map_err(|e| e.to_string())?;
            let report = check(
                &out,
                &expected[i],
                Shape::PERF,
                Tolerance {
                    atol: 1e-3,
                    rtol: 1e-3,
                },
            );
            if !report.passed {
                return Err(format!(
                    "{regime}: timed output of set {i}: {}",
                    report.reason().unwrap_or_default()
                )
                .into());
            }
        }
        println!("    {variant} perf {regime}: median {:.2} µs", median * 1e6);
        medians.push(median);
    }
    if medians[1] < 0.8 * medians[0] {
        return Err(format!(
            "cold ({:e} s) much faster than warm ({:e} s)",
            medians[1], medians[0]
        )
        .into());
    }
    Ok(())
}

/// Runs `judge bench`'s path on `solutions` for one swept case of `shape`: warm and cold, 2 input sets, the
/// GPU timer, a short sampling plan.
fn bench_cuda(solutions: Vec<Box<dyn Solution>>, shape: Shape) -> Result<ResultsFile, Failed> {
    let plan = BenchPlan {
        solutions,
        cases: vec![BenchCase::swept(shape)],
        seed: harness::challenge::suites::DEFAULT_SEED,
        tolerance: harness::challenge::DEFAULT_TOLERANCE,
        sampling: quick_plan(),
        input_sets: 2,
        time_wrong_answers: false,
    };
    let timing = CudaTiming::new(plan.sampling, plan.input_sets, GpuOptions::default())
        .map_err(|e| e.to_string())?;
    let mut samplers = MachineSamplers::new(None).with_gpu(Box::new(timing));
    let meta = harness::results::Meta::now(plan.seed, plan.tolerance);
    let mut results = ResultsFile::create(meta, None).map_err(|e| e.to_string())?;
    execute(&plan, &mut samplers, &mut results, &mut Progress::hidden())
        .map_err(|e| e.to_string())?;
    Ok(results)
}

/// `judge bench`'s path: the CUDA variants through [`CudaTiming`] on a mid-size case, warm and cold, each entry
/// with its cache regime and the device copy it is compared with.
fn bench_path() -> Result<(), Failed> {
    let shape = Shape::new(32, 4096, 128, 16);
    let solutions: Vec<Box<dyn Solution>> = cuda_variants()
        .into_iter()
        .filter(|s| s.availability().is_available())
        .collect();
    let count = solutions.len();
    let results = bench_cuda(solutions, shape)?;
    let doc = results.doc();
    if doc.entries.len() != 2 * count {
        return Err(format!("{} entries", doc.entries.len()).into());
    }
    let method = doc
        .meta
        .gpu_timing
        .as_ref()
        .ok_or("no GPU method in the document")?;
    if !matches!(method.cold, CacheRegime::ReadFlush { .. }) || method.empty_kernel_warm_s.is_none()
    {
        return Err(format!("unexpected method record {method:?}").into());
    }
    for e in &doc.entries {
        let timing = e.timing.as_ref().ok_or_else(|| {
            format!(
                "{} {}: {} {}",
                e.solution,
                e.mode,
                e.verdict,
                e.reason.clone().unwrap_or_default()
            )
        })?;
        if e.verdict != Verdict::Pass || timing.regime != method.regime(e.mode) {
            return Err(format!(
                "{} {}: {} {:?}",
                e.solution, e.mode, e.verdict, timing.regime
            )
            .into());
        }
        let copy = timing
            .reference
            .as_ref()
            .ok_or("no device-copy reference")?;
        let ratio = match e.derived.and_then(|d| d.speed_of_light) {
            Some(SpeedOfLight::DeviceCopy { ratio, .. }) => ratio,
            other => return Err(format!("speed of light {other:?}").into()),
        };
        println!(
            "    {} {} {}: median {:.2} µs, copy {:.2} µs, ×{ratio:.2} copy",
            e.solution,
            e.case.name,
            e.mode,
            timing.summary.median * 1e6,
            copy.summary.median * 1e6
        );
        // A solve moves each byte once, a copy reads and writes it: a ratio far under 0.5 is not credible.
        if ratio < 0.3 {
            return Err(
                format!("{} {}: ×{ratio:.2} copy is implausible", e.solution, e.mode).into(),
            );
        }
    }
    let copy = |mode| {
        doc.entries
            .iter()
            .find(|e| e.mode == mode)
            .and_then(|e| e.timing.as_ref()?.reference.as_ref())
            .map(|r| r.summary.median)
    };
    if let (Some(warm), Some(cold)) = (copy(Mode::Warm), copy(Mode::Cold))
        && cold < 0.9 * warm
    {
        return Err(format!("cold copy ({cold:e} s) faster than warm ({warm:e} s)").into());
    }
    Ok(())
}

/// A CUDA variant that goes wrong only away from the checks a bench made before: it solves the first input set
/// it is given (the one the bench checks against the oracle before and after sampling) on every call, and every
/// other set on its first call only, then returns without launching anything (a stand-in for a kernel that
/// leaves its output unwritten on some calls). Only the look at every call's output can see it.
struct LaterSetsUnwritten {
    inner: Box<dyn Solution>,
    first_q: std::sync::Mutex<Option<Vec<f32>>>,
}

struct LaterSetsUnwrittenPrepared<'a> {
    inner: Box<dyn Prepared + 'a>,
    first_set: bool,
    calls: usize,
}

impl Solution for LaterSetsUnwritten {
    fn name(&self) -> &str {
        "later-sets-unwritten"
    }
    fn description(&self) -> &str {
        "leaves its output unwritten on later calls of every input set but the first"
    }
    fn backend(&self) -> Backend {
        Backend::Cuda
    }
    fn availability(&self) -> Availability {
        self.inner.availability()
    }
    fn prepare<'a>(
        &self,
        inputs: &'a solutions::Inputs,
    ) -> Result<Box<dyn Prepared + 'a>, solutions::SolveError> {
        let mut first = self.first_q.lock().unwrap_or_else(|e| e.into_inner());
        let first_set = first.get_or_insert_with(|| inputs.q.clone()) == &inputs.q;
        Ok(Box::new(LaterSetsUnwrittenPrepared {
            inner: self.inner.prepare(inputs)?,
            first_set,
            calls: 0,
        }))
    }
}

impl Prepared for LaterSetsUnwrittenPrepared<'_> {
    fn poison_output(&mut self) -> Result<(), solutions::SolveError> {
        self.inner.poison_output()
    }
    fn run(&mut self) -> Result<(), solutions::SolveError> {
        self.calls += 1;
        if self.first_set || self.calls == 1 {
            self.inner.run()
        } else {
            Ok(())
        }
    }
    fn synchronize(&mut self) -> Result<(), solutions::SolveError> {
        self.inner.synchronize()
    }
    fn read_output(&mut self, out: &mut [f32]) -> Result<(), solutions::SolveError> {
        self.inner.read_output(out)
    }
    fn cuda_stream(&self) -> Option<std::sync::Arc<cudarc::driver::CudaStream>> {
        self.inner.cuda_stream()
    }
}

/// `judge bench` looks at the output of every timed CUDA call, not only at set 0's: a variant that leaves later
/// calls of another input set unwritten is a wrong answer, naming the call and the set.
fn bench_checks_every_call() -> Result<(), Failed> {
    let inner = solutions::find("cuda-smem").ok_or("no cuda-smem")?;
    if let Availability::Unavailable(reason) = inner.availability() {
        return Err(format!("cuda-smem cannot run on this GPU: {reason}").into());
    }
    let solution = LaterSetsUnwritten {
        inner,
        first_q: std::sync::Mutex::new(None),
    };
    let results = bench_cuda(vec![Box::new(solution)], Shape::new(8, 1024, 64, 16))?;
    let doc = results.doc();
    if doc.entries.len() != 2 {
        return Err(format!("{} entries, expected warm and cold", doc.entries.len()).into());
    }
    for e in &doc.entries {
        let reason = e.reason.clone().unwrap_or_default();
        println!("    {} {}: {} ({reason})", e.solution, e.mode, e.verdict);
        if e.verdict != Verdict::WrongAnswer || !reason.contains("on input set 1") {
            return Err(format!(
                "{} {}: {} ({reason}), expected wrong-answer on input set 1",
                e.solution, e.mode, e.verdict
            )
            .into());
        }
    }
    Ok(())
}

fn kernels_compile() -> Result<(), Failed> {
    let nvrtc = solutions::cuda::nvrtc::nvrtc().map_err(|e| e.to_string())?;
    let options: Vec<String> = solutions::cuda::COMPILE_OPTIONS
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for arch in ["sm_90", "sm_80"] {
        if !nvrtc.archs.contains(&arch[3..].parse::<i32>().unwrap_or(0)) {
            continue;
        }
        for source in solutions::cuda::ALL_SOURCES {
            // The Hopper kernel uses sm_90 instructions; it is only compiled for sm_90.
            if arch != "sm_90" && source.name.starts_with("cuda_warpspec") {
                continue;
            }
            nvrtc
                .compile(source.name, source.text, arch, &options)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let device = solutions::cuda::gpu().map(|g| g.info.clone());
    let nvrtc = solutions::cuda::nvrtc::nvrtc();
    match (&device, &nvrtc) {
        (Ok(info), Ok(n)) => println!(
            "GPU tests on {} ({}), NVRTC {}.{}",
            info.name,
            info.sm(),
            n.version.0,
            n.version.1
        ),
        (Err(e), _) => {
            println!("skipped: no CUDA device ({e}); the GPU tests are reported as ignored")
        }
        (Ok(_), Err(e)) => println!("skipped: {e}; the GPU tests are reported as ignored"),
    }
    let gpu_ok = device.is_ok() && nvrtc.is_ok();
    let mut trials = Vec::new();
    trials.push(
        Trial::test("nvrtc/kernels-compile", kernels_compile).with_ignored_flag(nvrtc.is_err()),
    );
    if nvrtc.is_err() {
        println!("skipped: nvrtc/kernels-compile (NVRTC not found)");
    }
    let mut cases: Vec<(Suite, &'static str)> = Suite::Functional
        .specs()
        .into_iter()
        .map(|s| (Suite::Functional, s.name))
        .collect();
    cases.push((Suite::Perf, "perf"));
    cases.push((Suite::Example, "worked-example"));
    for variant in cuda_variants() {
        let name = variant.name().to_owned();
        // A variant this GPU cannot run (too old an architecture) is ignored with its reason, not failed.
        let unavailable = match (gpu_ok, variant.availability()) {
            (false, _) => true,
            (true, Availability::Unavailable(reason)) => {
                println!("skipped: {name} ({reason})");
                true
            }
            (true, Availability::Available) => false,
        };
        for (suite, case) in &cases {
            let (n, s, c) = (name.clone(), *suite, *case);
            trials.push(
                Trial::test(format!("correctness/{name}/{case}"), move || {
                    correctness(&n, s, c)
                })
                .with_ignored_flag(unavailable),
            );
        }
        for (what, factor) in SCALED {
            let n = name.clone();
            trials.push(
                Trial::test(format!("correctness/{name}/public-09-{what}"), move || {
                    correctness_scaled(&n, what, factor)
                })
                .with_ignored_flag(unavailable),
            );
        }
        let n = name.clone();
        trials.push(
            Trial::test(format!("repeatable/{name}/perf"), move || repeatable(&n))
                .with_ignored_flag(unavailable),
        );
        let n = name.clone();
        trials.push(
            Trial::test(format!("timing/{name}/perf"), move || variant_timing(&n))
                .with_ignored_flag(unavailable),
        );
    }
    trials.push(Trial::test("timing/device-copy", copy_timing).with_ignored_flag(!gpu_ok));
    trials.push(Trial::test("copy/exact", copies_are_exact).with_ignored_flag(!gpu_ok));
    trials.push(
        Trial::test("timing/hold-fills-the-device", hold_fills_the_device)
            .with_ignored_flag(!gpu_ok),
    );
    trials.push(Trial::test("bench/cuda-variants", bench_path).with_ignored_flag(!gpu_ok));
    trials.push(
        Trial::test("bench/every-call-checked", bench_checks_every_call).with_ignored_flag(!gpu_ok),
    );
    if !gpu_ok {
        println!(
            "skipped: {} GPU trials (no CUDA device); run `cargo test --test gpu` on a GPU machine",
            trials.len() - 1
        );
    }
    libtest_mimic::run(&args, trials).exit();
}
