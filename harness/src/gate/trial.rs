//! One submission on one case, in a worker of its own: the calls, the checks after every call, and the probes
//! that expose cheating.
//!
//! Before every call the judge writes the call's inputs into a slot and fills the slot's output with
//! [`solutions::POISON`]; after it, the judge copies the output out and checks it against that call's expected
//! scores, and compares the slot's inputs with what it wrote. Every call is checked, timed ones included.
//!
//! * [`check_case`] (correctness): the generated inputs; a fresh view in the *same* buffers (a cache keyed on
//!   pointers answers stale); that view with two keys swapped, same buffers (a cache keyed on the queries or
//!   on a sample of the inputs answers stale); a fresh view in other buffers.
//! * [`timed_case`] (performance): fresh views alternating between two slots, sampled until the median is
//!   stable; then pairs of calls, a fresh view and right after it the same bytes in the other slot (a cache
//!   keyed on contents hits on the second, and its time gives it away), and a tweaked view. Times are
//!   compared by their fastest call: a busy machine only ever makes calls slower, a cache makes every hit
//!   fast. Then the time is judged: against the physical floor, against the repeated
//!   calls, against the judge's own clock (host submissions) or against how long the device stayed busy
//!   after the end event (CUDA submissions), and against the baseline.
//!
//! A CUDA worker also reports the device memory the submission holds after each call; over the limit, the
//! worker is killed (memory-limit).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use solutions::problem::Position;
use solutions::{Backend, Field, InputParts, Shape, SolveError};

use super::baseline::{Baseline, Comparison};
use super::floor::Floor;
use super::views::{self, Source, View};
use crate::challenge::rng::{Rng, derive_seed};
use crate::challenge::suites::Case;
use crate::check::{CheckReport, Tolerance, check};
use crate::commands::format_seconds;
use crate::results::{CaseInfo, Clock, Derived, Entry, Mode, Timing};
use crate::sandbox::protocol::{
    DeviceCall, HoldOutcome, Request, Response, SlotLayout, worker_clock,
};
use crate::sandbox::region::Region;
use crate::sandbox::{SandboxConfig, SandboxError, Worker};
use crate::stats::Summary;
use crate::submission::Built;
use crate::timing::{Sampler, SamplingPlan, StopReason, collect};
use crate::verdict::Verdict;

/// Buffers (slots) per case: calls alternate between them.
const SLOTS: usize = 2;
/// Pairs of calls (fresh inputs, then the same inputs again in other buffers).
pub const REPEAT_PAIRS: usize = 4;
/// Repeats whose fastest call is this much faster than the fastest fresh call are suspicious.
pub const REPEAT_RATIO: f64 = 0.5;
/// Time the judge's own time of a call may exceed the worker's clock by, for the pipes, waking up and the
/// worker stopping itself, in the median over the sampled calls, in seconds. Measured: 0.27–0.35 ms on an idle
/// 2-core machine, up to 2.1 ms with a 4 ms call while other gates ran on its 2 cores, and once 3.3 ms with a
/// 4.3 ms call (over the limit below), which is why the test suite runs one gate at a time. A submission that
/// slows the worker's clock, or answers for the worker, must do it on most calls to move the median time, and
/// then moves the median gap as much.
pub const CLOCK_ALLOWANCE_S: f64 = 1e-3;
/// Beyond the allowance, the part of the judge's median round trip the median gap may reach. A clock that hides
/// a share h of a call of T seconds makes a gap of about h·T against a round trip of about T, so it is caught
/// once h > 0.2 + allowance / T: a hidden third of the perf case's 25 ms, a hidden quarter of anything over
/// 20 ms. The worst honest case measured above (4.07 ms calls, a 6.14 ms round trip, 28 gates at once on 2
/// cores) stays 0.16 ms under the limit.
pub const CLOCK_SLACK: f64 = 0.2;
/// A CUDA submission whose every call left the device busy for longer than this after the end event had
/// completed left work running where the timer does not look (a device-wide synchronise of an idle device
/// takes a few microseconds), in seconds.
pub const BUSY_AFTER_ALLOWANCE_S: f64 = 20e-6;
/// A CUDA submission whose `solve` took longer than this on the host, in the median over the calls the stream
/// hold lasted through, did work before the start event (on the host, or by copies on a stream of its own: the
/// hold holds the multiprocessors, not the copy engines), in seconds. Queuing a solve's launches is far less:
/// `good/reference.cu`'s `solve` (two launches) took 23.5 µs in the median on an H100.
pub const HELD_SOLVE_ALLOWANCE_S: f64 = 1e-3;

/// What a trial needs besides the submission and the case.
#[derive(Debug, Clone, Copy)]
pub struct TrialContext<'a> {
    /// How to start workers.
    pub sandbox: &'a SandboxConfig,
    /// The checker's tolerance.
    pub tolerance: Tolerance,
    /// The run's seed (the views of each case derive theirs from it and the case name).
    pub seed: u64,
}

/// Options of a timed trial.
#[derive(Debug, Clone, Copy)]
pub struct TimedOptions<'a> {
    /// When to stop sampling.
    pub sampling: &'a SamplingPlan,
    /// The physical floor at the case's shape, when known.
    pub floor: Option<Floor>,
    /// The time to compare with, when given.
    pub baseline: Option<&'a Baseline>,
}

/// What the performance trial found, beside the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfReport {
    /// Median of the timed calls on fresh inputs, in seconds.
    pub median_s: f64,
    /// Number of timed calls (after warm-up).
    pub samples: usize,
    /// Why sampling stopped.
    pub stop: StopReason,
    /// The fastest call of all (warm-up and probes included) among those timed whole (see
    /// [`Measured::fastest_fresh_s`]), in seconds.
    pub fastest_s: f64,
    /// Median of the calls on repeated inputs, in seconds.
    pub repeat_median_s: f64,
    /// The fastest call on repeated inputs over the fastest call on fresh inputs.
    pub repeat_ratio: f64,
    /// Median round trip of the fresh calls by the judge's clock, in seconds.
    pub round_trip_median_s: f64,
    /// The clock that timed the calls.
    pub clock: Clock,
    /// CUDA submissions: how long the device stayed busy after the end event, over every call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_after: Option<BusyAfter>,
    /// The physical floor, when known.
    pub floor: Option<Floor>,
    /// The comparison with the baseline, when given.
    pub baseline: Option<Comparison>,
    /// Why the time is suspicious, if it is.
    pub findings: Vec<String>,
}

/// How long the device stayed busy after the end event of a CUDA submission's calls (see
/// [`DeviceCall::busy_after_s`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BusyAfter {
    /// The shortest of any call, in seconds.
    pub fastest_s: f64,
    /// The median, in seconds.
    pub median_s: f64,
    /// The calls measured.
    pub calls: usize,
    /// Calls whose stream hold gave up before `solve` returned (it waited for the device itself): their times
    /// include host work.
    pub unheld: usize,
    /// The median time `solve` took on the host over the calls the hold lasted through, in seconds (`None`
    /// when there were none).
    #[serde(default)]
    pub held_solve_median_s: Option<f64>,
}

impl BusyAfter {
    /// Calls whose stream hold lasted until `solve` returned.
    pub fn held_calls(&self) -> usize {
        self.calls - self.unheld
    }

    /// How long `solve` took on the host over the held calls, when there were any.
    pub fn held_solve_note(&self) -> Option<String> {
        self.held_solve_median_s.map(|host| {
            format!(
                "`solve` on the host: median {} over the {} held calls (work done there is not timed)",
                format_seconds(host),
                self.held_calls()
            )
        })
    }

    /// What unheld calls mean for their times, when there were any.
    pub fn unheld_note(&self) -> Option<String> {
        (self.unheld > 0).then(|| {
            format!(
                "`solve` waited for the device: {} of {} calls {} not held to the end (the stream hold gives \
                 way after {} ms, and once it has in {} calls other than a worker's first, the worker times \
                 its later calls without one), so their times include what `solve` did on the host after the \
                 hold gave way, or all of it without a hold, and the launch latency",
                self.unheld,
                self.calls,
                if self.unheld == 1 { "was" } else { "were" },
                crate::sandbox::cuda::HOLD_TIMEOUT_NS / 1_000_000,
                crate::sandbox::cuda::GIVE_WAY_LIMIT
            )
        })
    }
}

/// The result of one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, for anything but a pass.
    pub reason: Option<String>,
    /// The report of the failing call, else of the first call.
    pub check: Option<CheckReport>,
    /// Timed calls: the first call (correctness trial) or every sample (performance trial).
    pub timing: Option<Timing>,
    /// The end of the worker's stderr, for anything but a pass.
    pub stderr: Option<String>,
    /// What the performance trial found.
    pub perf: Option<PerfReport>,
    /// Calls made.
    pub calls: usize,
}

impl CaseResult {
    /// A result for a case that was not run (the submission did not build, or cannot run here).
    pub fn not_run(verdict: Verdict, reason: String) -> Self {
        Self {
            verdict,
            reason: Some(reason),
            check: None,
            timing: None,
            stderr: None,
            perf: None,
            calls: 0,
        }
    }

    /// The results entry of `solution` (of `backend`) on `case`.
    pub fn entry(&self, built: (&str, solutions::Backend), case: CaseInfo, mode: Mode) -> Entry {
        let derived = self
            .timing
            .as_ref()
            .filter(|t| t.summary.median > 0.0)
            .map(|t| Derived::new(case.shape, t.summary.median, t.summary.median_ci, None));
        Entry {
            solution: built.0.to_owned(),
            backend: built.1,
            case,
            mode,
            verdict: self.verdict,
            reason: self.reason.clone(),
            check: self.check.clone(),
            timing: self.timing.clone(),
            derived,
            errors: None,
        }
    }

    /// The result a sandbox failure earns; an `Err` when the failure is the judge's own.
    fn from_sandbox(error: SandboxError, calls: usize) -> Result<Self, SandboxError> {
        let Some(verdict) = error.verdict() else {
            return Err(error);
        };
        Ok(Self {
            verdict,
            reason: Some(error.to_string()),
            check: None,
            timing: None,
            stderr: error.stderr().map(str::to_owned),
            perf: None,
            calls,
        })
    }
}

/// An input element the call changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The field.
    pub field: Field,
    /// Where.
    pub position: Position,
    /// What the judge wrote.
    pub before: String,
    /// What was there after the call.
    pub after: String,
    /// How many elements of the field changed.
    pub count: usize,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{} was {}, is {} after the call ({} element(s) of {} changed)",
            self.field, self.position, self.before, self.after, self.count, self.field
        )
    }
}

/// The first input element that differs between `before` and `after` (floats compared bit for bit).
pub fn first_change(before: &InputParts, after: &InputParts) -> Option<Change> {
    let shape = before.shape;
    fn diff<T: Copy>(
        field: Field,
        shape: Shape,
        a: &[T],
        b: &[T],
        same: impl Fn(T, T) -> bool,
        show: impl Fn(T) -> String,
    ) -> Option<Change> {
        let first = a.iter().zip(b).position(|(&x, &y)| !same(x, y))?;
        Some(Change {
            field,
            position: Position::from_flat(first, &shape.dims(field)),
            before: show(a[first]),
            after: show(b[first]),
            count: a.iter().zip(b).filter(|&(&x, &y)| !same(x, y)).count(),
        })
    }
    let floats = |field: Field, a: &[f32], b: &[f32]| {
        diff(
            field,
            shape,
            a,
            b,
            |x, y| x.to_bits() == y.to_bits(),
            |x| x.to_string(),
        )
    };
    floats(Field::Q, &before.q, &after.q)
        .or_else(|| {
            diff(
                Field::KIdx,
                shape,
                &before.k_idx,
                &after.k_idx,
                |x, y| x == y,
                |x| x.to_string(),
            )
        })
        .or_else(|| {
            diff(
                Field::QjlSigns,
                shape,
                &before.qjl_signs,
                &after.qjl_signs,
                |x, y| x == y,
                |x| x.to_string(),
            )
        })
        .or_else(|| floats(Field::Gamma, &before.gamma, &after.gamma))
        .or_else(|| floats(Field::Pi, &before.pi, &after.pi))
        .or_else(|| floats(Field::SMat, &before.s_mat, &after.s_mat))
        .or_else(|| floats(Field::Codebook, &before.codebook, &after.codebook))
}

/// One checked call.
#[derive(Debug, Clone, PartialEq)]
struct CallRecord {
    index: usize,
    label: String,
    seconds: f64,
    round_trip_s: f64,
    device: Option<DeviceCall>,
    report: CheckReport,
    changed: Option<Change>,
    /// Where the call wrote next to its output, if it did.
    outside: Option<String>,
}

impl CallRecord {
    /// Why this call fails, if it does.
    fn failure(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(change) = &self.changed {
            parts.push(format!("it modified its inputs: {change}"));
        }
        if let Some(place) = &self.outside {
            parts.push(format!("it wrote outside its output, {place}"));
        }
        if let Some(reason) = self.report.reason() {
            parts.push(reason);
        }
        (!parts.is_empty()).then(|| {
            format!(
                "call {} on {}: {}",
                self.index,
                self.label,
                parts.join("; ")
            )
        })
    }
}

/// A worker attached to one case's shared region.
struct Rig {
    worker: Worker,
    region: Region,
    slots: Vec<SlotLayout>,
    shape: Shape,
    calls: usize,
    /// The submission's backend: its worker's clock ([`worker_clock`]), and whether a call reports on a device.
    backend: Backend,
    /// The check of the call with the largest relative Frobenius error so far.
    worst: Option<CheckReport>,
}

impl Rig {
    fn open(built: &Built, shape: Shape, ctx: &TrialContext) -> Result<Rig, SandboxError> {
        let sandbox = ctx.sandbox;
        let (slots, len) = SlotLayout::plan(shape, SLOTS);
        let region =
            Region::create(&sandbox.regions, len).map_err(|source| SandboxError::Region {
                dir: sandbox.regions.clone(),
                source,
            })?;
        // The library reaches the worker as a descriptor too: a worker of another user than the judge's (as a
        // judge running as root starts them) may not reach the judge's private directory by name.
        let library = File::open(&built.library).map_err(|source| SandboxError::Library {
            path: built.library.clone(),
            source,
        })?;
        let library_path = PathBuf::from(format!("/proc/self/fd/{}", library.as_raw_fd()));
        let inherit: Vec<_> = region
            .inherited_descriptor()
            .into_iter()
            .chain([library.as_raw_fd()])
            .collect();
        let mut worker = Worker::spawn(sandbox, built.backend, &inherit)?;
        drop(library);
        let limit = sandbox.limits.startup();
        let prepare = Request::Prepare {
            backend: built.backend,
        };
        worker.request(&prepare, limit, "preparing the worker")?;
        let load = Request::Load {
            library: library_path.clone(),
        };
        worker
            .request(&load, limit, "loading the library")
            .map_err(|e| e.naming(&library_path, &built.library))?;
        let attach = Request::Attach {
            region: region.path().to_owned(),
            len: region.len(),
            shape,
            slots: slots.clone(),
        };
        worker.request(&attach, limit, "mapping the case's buffers")?;
        Ok(Rig {
            worker,
            region,
            slots,
            shape,
            calls: 0,
            backend: built.backend,
            worst: None,
        })
    }

    /// The clock of the worker's times.
    fn clock(&self) -> Clock {
        worker_clock(self.backend)
    }

    fn call(
        &mut self,
        slot: usize,
        view: &View,
        tolerance: Tolerance,
    ) -> Result<CallRecord, SandboxError> {
        self.calls += 1;
        let layout = self.slots[slot];
        self.region.write_inputs(&layout, &view.parts);
        self.region.poison_output(&layout, self.shape);
        let during = format!("running call {} on {}", self.calls, view.label);
        let limit = self.worker.limits().call();
        let sent = Instant::now();
        let response = self
            .worker
            .request(&Request::Call { slot: slot as u32 }, limit, &during)?;
        let (seconds, device) = match response {
            Response::Done {
                seconds,
                clock,
                device,
            } => {
                // The clock and the device report are the backend's: submitted code that writes an answer of its
                // own can neither choose a clock the judge does not check against its own, nor leave out what
                // the device saw.
                let expected = worker_clock(self.backend);
                let problem = if !(seconds.is_finite() && seconds >= 0.0) {
                    Some(format!("a duration of {seconds} s"))
                } else if clock != expected {
                    Some(format!(
                        "a time by {}, where a {} worker times with {}",
                        clock.describe(),
                        self.backend,
                        expected.describe()
                    ))
                } else if device.is_some() != (self.backend == Backend::Cuda) {
                    Some(format!(
                        "{} device report, from a {} worker",
                        if device.is_some() { "a" } else { "no" },
                        self.backend
                    ))
                } else if device
                    .is_some_and(|d| !(d.busy_after_s.is_finite() && d.busy_after_s >= 0.0))
                {
                    Some("a device busy for a time that is not one".to_owned())
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err(self.worker.broken(
                        &during,
                        format!("a `done` with {problem}: an answer the worker did not write"),
                    ));
                }
                (seconds, device)
            }
            other => {
                return Err(self.worker.broken(
                    &during,
                    format!("expected `done` with a duration, got {other:?}"),
                ));
            }
        };
        // The worker stops itself after answering: copy the slot out while nothing of it runs.
        self.worker.await_frozen(&during)?;
        // The judge's own time of the call ends when the worker has stopped, not when an answer arrived: a
        // thread of the submission could write an early `done` on the worker's channel, but the worker stops
        // only once `solve` has returned.
        let round_trip = sent.elapsed();
        if let Some(held) = device.map(|d| d.memory_bytes)
            && held > self.worker.limits().device_memory_bytes
        {
            return Err(self.worker.over_device_memory(&during, held));
        }
        let output = self.region.read_output(&layout, self.shape);
        let after = self.region.read_inputs(&layout, self.shape);
        let outside = self.region.guard_change(&layout, self.shape);
        self.worker.thaw();
        let record = CallRecord {
            index: self.calls,
            label: view.label.clone(),
            seconds,
            round_trip_s: round_trip.as_secs_f64(),
            device,
            report: check(&output, &view.expected, self.shape, tolerance),
            changed: first_change(&view.parts, &after),
            outside,
        };
        if self
            .worst
            .as_ref()
            .is_none_or(|w| record.report.rel_frobenius > w.rel_frobenius)
        {
            self.worst = Some(record.report.clone());
        }
        Ok(record)
    }

    fn wrong(self, record: CallRecord, reason: String, timing: Option<Timing>) -> CaseResult {
        let stderr = Some(self.worker.stderr_text()).filter(|s| !s.trim().is_empty());
        let calls = self.calls;
        // Already wrong: processes it left behind are killed, and add nothing to the verdict.
        let _ = self.worker.shutdown();
        CaseResult {
            verdict: Verdict::WrongAnswer,
            reason: Some(reason),
            check: Some(record.report),
            timing,
            stderr,
            perf: None,
            calls,
        }
    }
}

fn view_rng(seed: u64, case: &str) -> Rng {
    Rng::new(derive_seed(seed, case), "views")
}

/// The correctness trial of `built` on `case` (four checked calls, see the module docs); `source` holds the
/// case's views and expected scores. An `Err` is a failure of the judge itself (it could not start a worker).
pub fn check_case(
    built: &Built,
    case: &Case,
    source: &Source,
    ctx: &TrialContext,
) -> Result<CaseResult, SandboxError> {
    let tolerance = ctx.tolerance;
    let mut rig = match Rig::open(built, case.inputs.shape(), ctx) {
        Ok(rig) => rig,
        Err(e) => return CaseResult::from_sandbox(e, 0),
    };
    let mut rng = view_rng(ctx.seed, &case.name);
    let first = source.base();
    let second = source.fresh(&mut rng);
    let third = views::tweak(&second, tolerance);
    let fourth = source.fresh(&mut rng);
    let mut first_record: Option<CallRecord> = None;
    for (slot, view) in [(0, &first), (0, &second), (0, &third), (1, &fourth)] {
        let record = match rig.call(slot, view, tolerance) {
            Ok(r) => r,
            Err(e) => return CaseResult::from_sandbox(e, rig.calls),
        };
        let timing = Timing::from_samples(rig.clock(), vec![record.seconds]);
        if let Some(reason) = record.failure() {
            return Ok(rig.wrong(record, reason, timing));
        }
        first_record.get_or_insert(record);
    }
    let calls = rig.calls;
    let clock = rig.clock();
    if let Err(e) = rig.worker.shutdown() {
        return CaseResult::from_sandbox(e, calls);
    }
    let first = first_record.map(|r| (r.report, r.seconds));
    Ok(CaseResult {
        verdict: Verdict::Pass,
        reason: None,
        timing: first
            .as_ref()
            .and_then(|(_, s)| Timing::from_samples(clock, vec![*s])),
        check: first.map(|(r, _)| r),
        stderr: None,
        perf: None,
        calls,
    })
}

/// Samples fresh views, alternating slots, checking every call.
struct FreshSampler<'r, 'c> {
    rig: &'r mut Rig,
    source: &'r Source<'c>,
    tolerance: Tolerance,
    rng: Rng,
    next_slot: usize,
    last: Option<(View, usize)>,
    seconds: Vec<f64>,
    /// The fastest of these calls.
    fastest: Fastest,
    round_trips: Vec<f64>,
    devices: Vec<DeviceCall>,
    failure: Option<Failed>,
}

enum Failed {
    Sandbox(SandboxError),
    Wrong(Box<CallRecord>, String),
}

impl Sampler for FreshSampler<'_, '_> {
    fn sample(&mut self) -> Result<f64, SolveError> {
        let view = self.source.fresh(&mut self.rng);
        let slot = self.next_slot;
        self.next_slot = (slot + 1) % SLOTS;
        let stop = |reason: &str| SolveError::Failed {
            solution: String::new(),
            context: "timed call".to_owned(),
            message: reason.to_owned(),
        };
        match self.rig.call(slot, &view, self.tolerance) {
            Err(e) => {
                let message = e.to_string();
                self.failure = Some(Failed::Sandbox(e));
                Err(stop(&message))
            }
            Ok(record) => {
                if let Some(reason) = record.failure() {
                    self.failure = Some(Failed::Wrong(Box::new(record), reason.clone()));
                    return Err(stop(&reason));
                }
                self.seconds.push(record.seconds);
                self.fastest.add(&record);
                self.round_trips.push(record.round_trip_s);
                self.devices.extend(record.device);
                self.last = Some((view, slot));
                Ok(record.seconds)
            }
        }
    }
}

/// The performance trial of `built` on `case` (see the module docs); `source` holds the case's views. An `Err`
/// is a failure of the judge itself.
pub fn timed_case(
    built: &Built,
    case: &Case,
    source: &Source,
    ctx: &TrialContext,
    options: TimedOptions,
) -> Result<CaseResult, SandboxError> {
    let tolerance = ctx.tolerance;
    let mut rig = match Rig::open(built, case.inputs.shape(), ctx) {
        Ok(rig) => rig,
        Err(e) => return CaseResult::from_sandbox(e, 0),
    };
    let mut sampler = FreshSampler {
        rig: &mut rig,
        source,
        tolerance,
        rng: view_rng(ctx.seed, &case.name),
        next_slot: 0,
        last: None,
        seconds: Vec::new(),
        fastest: Fastest::default(),
        round_trips: Vec::new(),
        devices: Vec::new(),
        failure: None,
    };
    let sampled = collect(&mut sampler, options.sampling);
    let (failure, last, all_seconds, mut fastest_fresh, round_trips) = (
        sampler.failure.take(),
        sampler.last.take(),
        std::mem::take(&mut sampler.seconds),
        sampler.fastest,
        std::mem::take(&mut sampler.round_trips),
    );
    let mut devices = std::mem::take(&mut sampler.devices);
    let samples = match (sampled, failure) {
        (Ok(samples), None) => samples,
        (_, Some(Failed::Sandbox(e))) => return CaseResult::from_sandbox(e, rig.calls),
        (_, Some(Failed::Wrong(record, reason))) => return Ok(rig.wrong(*record, reason, None)),
        (Err(e), None) => {
            let reason = format!("sampling stopped: {e}");
            return Ok(CaseResult::not_run(Verdict::RuntimeError, reason));
        }
    };
    let Some((last_view, last_slot)) = last else {
        return Ok(CaseResult::not_run(
            Verdict::RuntimeError,
            "sampling took no calls".to_owned(),
        ));
    };

    // Probes: pairs of fresh inputs and the same bytes again in the other buffers, then a small change.
    let timing = Timing::from_samples(rig.clock(), samples.seconds.clone());
    let mut pairs = Vec::with_capacity(REPEAT_PAIRS);
    let mut fastest_repeat = Fastest::default();
    let mut fresh_seconds = all_seconds;
    let mut slot = (last_slot + 1) % SLOTS;
    let mut last_view = last_view;
    let mut rng = view_rng(ctx.seed ^ 0x9e37_79b9_7f4a_7c15, &case.name);
    for _ in 0..REPEAT_PAIRS {
        let fresh = source.fresh(&mut rng);
        let again = views::repeat(&fresh);
        let mut times = [0.0; 2];
        for (i, (view, at)) in [(&fresh, slot), (&again, (slot + 1) % SLOTS)]
            .into_iter()
            .enumerate()
        {
            let record = match rig.call(at, view, tolerance) {
                Ok(r) => r,
                Err(e) => return CaseResult::from_sandbox(e, rig.calls),
            };
            if let Some(reason) = record.failure() {
                return Ok(rig.wrong(record, reason, timing));
            }
            times[i] = record.seconds;
            if i == 0 {
                fastest_fresh.add(&record);
            } else {
                fastest_repeat.add(&record);
            }
            devices.extend(record.device);
        }
        fresh_seconds.push(times[0]);
        pairs.push((times[0], times[1]));
        slot = (slot + 1) % SLOTS;
        last_view = again;
    }
    let tweaked = views::tweak(&last_view, tolerance);
    let record = match rig.call(slot, &tweaked, tolerance) {
        Ok(r) => r,
        Err(e) => return CaseResult::from_sandbox(e, rig.calls),
    };
    if let Some(reason) = record.failure() {
        return Ok(rig.wrong(record, reason, timing));
    }
    devices.extend(record.device);
    let calls = rig.calls;
    let clock = rig.clock();
    let stderr = rig.worker.stderr_text();
    if let Err(e) = rig.worker.shutdown() {
        return CaseResult::from_sandbox(e, calls);
    }

    let perf = assess(
        Measured {
            fresh: &samples.seconds,
            fastest_fresh_s: fastest_fresh.seconds(),
            fastest_repeat_s: fastest_repeat.seconds(),
            pairs: &pairs,
            round_trips: &round_trips,
            all_fresh: &fresh_seconds,
            devices: &devices,
            clock,
            stop: samples.stop,
        },
        options.floor,
        options.baseline,
    );
    let verdict = if !perf.findings.is_empty() {
        Verdict::Suspicious
    } else if perf.baseline.as_ref().is_some_and(|c| c.too_slow) {
        Verdict::TooSlow
    } else {
        Verdict::Pass
    };
    let reason = match verdict {
        Verdict::Suspicious => Some(perf.findings.join("; ")),
        Verdict::TooSlow => perf.baseline.as_ref().map(|c| {
            format!(
                "median {} is {:.2}× the baseline's {} ({}), over the allowed {:.2}×{}",
                format_seconds(c.median_s),
                c.slowdown,
                format_seconds(c.baseline.median_s),
                c.baseline.solution,
                c.baseline.max_slowdown,
                c.baseline.elsewhere_note()
            )
        }),
        _ => None,
    };
    Ok(CaseResult {
        verdict,
        reason,
        // Every call was checked; the errors shown are those of the call that came closest to failing.
        check: rig.worst.take(),
        timing,
        stderr: (verdict != Verdict::Pass && !stderr.trim().is_empty()).then_some(stderr),
        perf: Some(perf),
        calls,
    })
}

/// The times a performance trial measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured<'a> {
    /// Timed calls on fresh inputs (after warm-up), in seconds.
    pub fresh: &'a [f64],
    /// Every call on fresh inputs, warm-up included, in seconds.
    pub all_fresh: &'a [f64],
    /// The fastest call on fresh inputs (warm-up and the probes' fresh calls included; not the last probe's small
    /// change, which a cache of rows answers mostly from what it has seen), in seconds, over the calls timed whole:
    /// a CUDA call in which the stream hold gave way is left out (its time is short of the whole `solve`; at
    /// most three calls of a worker), unless no call was timed whole.
    pub fastest_fresh_s: f64,
    /// The fastest call on repeated inputs, in seconds, chosen the same way.
    pub fastest_repeat_s: f64,
    /// Pairs of (fresh call, the same inputs again right after), in seconds (the fresh ones are also in
    /// `all_fresh`).
    pub pairs: &'a [(f64, f64)],
    /// The judge's own time of each sampled fresh call, in seconds: the same calls, in the same order, as the
    /// first entries of `all_fresh`.
    pub round_trips: &'a [f64],
    /// What a CUDA worker saw of the device on every call (warm-up and probes included); empty on the host.
    pub devices: &'a [DeviceCall],
    /// The clock of the worker's times.
    pub clock: Clock,
    /// Why sampling stopped.
    pub stop: StopReason,
}

/// The fastest of a run of calls among those timed whole ([`HoldOutcome::timed_whole`]: a CUDA call in which
/// the stream hold gave way is short of the whole `solve`), or of all of them when none was.
#[derive(Debug, Clone, Copy)]
struct Fastest {
    whole_s: f64,
    any_s: f64,
}

impl Default for Fastest {
    fn default() -> Self {
        Self {
            whole_s: f64::INFINITY,
            any_s: f64::INFINITY,
        }
    }
}

impl Fastest {
    fn add(&mut self, record: &CallRecord) {
        self.add_time(
            record.seconds,
            record.device.is_none_or(|d| d.hold.timed_whole()),
        );
    }

    fn add_time(&mut self, seconds: f64, whole: bool) {
        self.any_s = self.any_s.min(seconds);
        if whole {
            self.whole_s = self.whole_s.min(seconds);
        }
    }

    /// In seconds; infinite when no call was added.
    fn seconds(self) -> f64 {
        if self.whole_s.is_finite() {
            self.whole_s
        } else {
            self.any_s
        }
    }
}

fn median(values: &[f64]) -> f64 {
    Summary::of(values).map_or(f64::NAN, |s| s.median)
}

/// Judges a trial's times: below the floor, faster on repeated inputs, disowned by the judge's clock (each a
/// finding that makes the time suspicious); and the comparison with the baseline.
pub fn assess(measured: Measured, floor: Option<Floor>, baseline: Option<&Baseline>) -> PerfReport {
    let median_s = median(measured.fresh);
    let repeats: Vec<f64> = measured.pairs.iter().map(|&(_, r)| r).collect();
    let fastest = |v: &mut dyn Iterator<Item = f64>| v.fold(f64::INFINITY, f64::min);
    let fastest_repeat = measured.fastest_repeat_s;
    let fastest_fresh = measured.fastest_fresh_s;
    let fastest_s = fastest_fresh.min(fastest_repeat);
    let repeat_median_s = median(&repeats);
    let repeat_ratio = fastest_repeat / fastest_fresh;
    let round_trip_median_s = median(measured.round_trips);
    let mut findings = Vec::new();
    findings.extend(floor.and_then(|floor| floor.finding("a call", fastest_s)));
    if repeat_ratio < REPEAT_RATIO {
        findings.push(format!(
            "inputs it had just seen ran {:.1}× faster than fresh ones (fastest {} vs {}, medians {} vs {}): \
             results cached across calls",
            1.0 / repeat_ratio,
            format_seconds(fastest_repeat),
            format_seconds(fastest_fresh),
            format_seconds(repeat_median_s),
            format_seconds(median_s),
        ));
    }
    let busy_after = (!measured.devices.is_empty()).then(|| {
        let busy: Vec<f64> = measured.devices.iter().map(|d| d.busy_after_s).collect();
        BusyAfter {
            fastest_s: fastest(&mut busy.iter().copied()),
            median_s: median(&busy),
            calls: busy.len(),
            unheld: measured
                .devices
                .iter()
                .filter(|d| d.hold != HoldOutcome::Held)
                .count(),
            held_solve_median_s: {
                let held: Vec<f64> = measured
                    .devices
                    .iter()
                    .filter(|d| d.hold == HoldOutcome::Held)
                    .map(|d| d.solve_host_s)
                    .collect();
                (!held.is_empty()).then(|| median(&held))
            },
        }
    });
    if let Some(busy) = busy_after
        && let Some(host) = busy.held_solve_median_s
        && host > HELD_SOLVE_ALLOWANCE_S
    {
        findings.push(format!(
            "`solve` spent {} on the host in the median of the {} calls the stream hold lasted through, while the \
             events saw {}: what it did there (work on the host, or copies on a stream of its own) came before \
             the start event and was not timed",
            format_seconds(host),
            busy.held_calls(),
            format_seconds(median_s),
        ));
    }
    if let Some(busy) = busy_after
        && busy.fastest_s > BUSY_AFTER_ALLOWANCE_S
    {
        findings.push(format!(
            "the device was still busy after the end event on every call (for at least {}, median {}), though \
             the events saw {}: work left running on a stream the default stream does not wait for",
            format_seconds(busy.fastest_s),
            format_seconds(busy.median_s),
            format_seconds(median_s),
        ));
    }
    let own_clock = median(measured.all_fresh);
    let gaps: Vec<f64> = measured
        .round_trips
        .iter()
        .zip(measured.all_fresh)
        .map(|(trip, clock)| trip - clock)
        .collect();
    let median_gap = median(&gaps);
    if measured.clock == Clock::Wall
        && median_gap > CLOCK_ALLOWANCE_S + CLOCK_SLACK * round_trip_median_s
    {
        findings.push(format!(
            "the worker's clock says {} per call, the judge's own round trip {}; the judge's time of a call was \
             longer by {} in the median, more than the pipes take: the timer was tampered with",
            format_seconds(own_clock),
            format_seconds(round_trip_median_s),
            format_seconds(median_gap),
        ));
    }
    PerfReport {
        median_s,
        samples: measured.fresh.len(),
        stop: measured.stop,
        fastest_s,
        repeat_median_s,
        repeat_ratio,
        round_trip_median_s,
        clock: measured.clock,
        busy_after,
        floor,
        baseline: baseline.map(|b| b.compare(median_s)),
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that one of `report`'s findings mentions `word`.
    fn assert_finding(report: &PerfReport, word: &str) {
        assert!(
            report.findings.iter().any(|f| f.contains(word)),
            "no finding mentions {word:?}: {:?}",
            report.findings
        );
    }

    fn measured<'a>(fresh: &'a [f64], pairs: &'a [(f64, f64)], trips: &'a [f64]) -> Measured<'a> {
        Measured {
            fresh,
            all_fresh: fresh,
            fastest_fresh_s: fresh
                .iter()
                .chain(pairs.iter().map(|(f, _)| f))
                .copied()
                .fold(f64::INFINITY, f64::min),
            fastest_repeat_s: pairs.iter().map(|&(_, r)| r).fold(f64::INFINITY, f64::min),
            pairs,
            round_trips: trips,
            devices: &[],
            clock: Clock::Wall,
            stop: StopReason::Converged,
        }
    }

    #[test]
    fn honest_times_raise_nothing() {
        let fresh = [1.0e-3, 1.1e-3, 0.9e-3];
        let trips = [1.05e-3, 1.15e-3, 0.95e-3];
        let floor = Floor::new(Shape::new(8, 1024, 64, 16), 10.0, 100.0);
        let pairs = [(1.0e-3, 1.0e-3), (1.3e-3, 1.0e-3), (0.9e-3, 1.2e-3)];
        let r = assess(measured(&fresh, &pairs, &trips), Some(floor), None);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.median_s, 1.0e-3);
    }

    #[test]
    fn a_clock_slowed_by_half_is_caught_and_load_is_not() {
        // Measured: a submission that slowed the worker's clock by half said 12.4 ms, the round trip 25.0 ms.
        let fresh = [12.4e-3, 12.2e-3, 12.9e-3, 12.5e-3, 12.3e-3];
        let trips = [25.0e-3, 24.6e-3, 25.9e-3, 25.1e-3, 24.8e-3];
        let pairs = [(12.4e-3, 12.6e-3); 2];
        let r = assess(measured(&fresh, &pairs, &trips), None, None);
        assert_finding(&r, "tampered");
        // An honest worker on a loaded machine: round trips 0.2-4 ms longer, 0.6 ms in the median.
        let fresh = [25.0e-3, 25.2e-3, 24.9e-3, 25.1e-3, 25.3e-3];
        let trips = [25.6e-3, 29.2e-3, 25.1e-3, 28.1e-3, 25.7e-3];
        let r = assess(measured(&fresh, &pairs, &trips), None, None);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        // The worst honest case measured: 4.07 ms calls, 2.07 ms median gap, 28 gates at once on 2 cores.
        let fresh = [4.07e-3; 5];
        let trips = [6.14e-3; 5];
        let r = assess(measured(&fresh, &pairs, &trips), None, None);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        // A clock that hides half of a 4 ms call.
        let fresh = [2.0e-3; 5];
        let trips = [4.3e-3; 5];
        let r = assess(measured(&fresh, &pairs, &trips), None, None);
        assert_finding(&r, "tampered");
        // A clock that hides 30% of a 24 ms call.
        let fresh = [16.8e-3; 5];
        let trips = [24.3e-3; 5];
        let r = assess(measured(&fresh, &pairs, &trips), None, None);
        assert_finding(&r, "tampered");
    }

    #[test]
    fn below_the_floor_is_suspicious() {
        // 16 Mflop at 100 GFLOP/s: a floor of 168 µs; a 20 µs call is below a quarter of it.
        let floor = Floor::new(Shape::new(32, 1024, 128, 16), 10.0, 100.0);
        let fresh = [1e-3, 1e-3, 1e-3];
        let m = Measured {
            fastest_fresh_s: 20e-6,
            ..measured(&fresh, &[(1e-3, 1e-3)], &fresh)
        };
        let r = assess(m, Some(floor), None);
        assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
        assert!(r.findings[0].contains("physical floor"));
    }

    #[test]
    fn calls_not_timed_whole_are_not_the_fastest() {
        // A solve of 3.4 ms whose first calls hid 2.2 ms of host work before the start event (the hold gave way).
        let fastest = |calls: &[(f64, bool)]| {
            let mut f = Fastest::default();
            for &(seconds, whole) in calls {
                f.add_time(seconds, whole);
            }
            f.seconds()
        };
        let fresh = [
            (1.19e-3, false),
            (1.2e-3, false),
            (3.3e-3, true),
            (3.4e-3, true),
        ];
        assert_eq!(fastest(&fresh), 3.3e-3);
        // None timed whole: the fastest of all rather than nothing.
        assert_eq!(fastest(&[(2e-3, false), (1e-3, false)]), 1e-3);
        assert_eq!(fastest(&[]), f64::INFINITY);
        // Repeats as slow as the whole fresh calls raise nothing, and the fastest call is a whole one.
        let sampled = [3.4e-3, 3.5e-3, 3.3e-3];
        let pairs = [(3.4e-3, 3.3e-3); 3];
        let m = Measured {
            fastest_fresh_s: fastest(&fresh),
            clock: Clock::CudaEvents,
            ..measured(&sampled, &pairs, &sampled)
        };
        let r = assess(m, None, None);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.fastest_s, 3.3e-3);
        assert!((r.repeat_ratio - 1.0).abs() < 1e-12, "{}", r.repeat_ratio);
    }

    #[test]
    fn fast_repeats_are_suspicious() {
        let fresh = [1e-3, 1.2e-3, 1.1e-3];
        // A busy machine slows some calls down, fresh or repeated; the fastest of each stay alike.
        let noisy = [(3e-3, 1.1e-3), (2.5e-3, 1.2e-3), (1e-3, 3e-3), (4e-3, 1e-3)];
        assert!(
            assess(measured(&fresh, &noisy, &fresh), None, None)
                .findings
                .is_empty()
        );
        let cached = [(1e-3, 0.1e-3), (1.2e-3, 0.1e-3), (1.1e-3, 0.2e-3)];
        let r = assess(measured(&fresh, &cached, &fresh), None, None);
        assert_finding(&r, "cached");
    }

    #[test]
    fn a_clock_that_underreports_is_suspicious() {
        let fresh = [1e-3, 1e-3, 1e-3];
        let trips = [10e-3, 10e-3, 10e-3];
        let pairs = [(1e-3, 1e-3); 3];
        let r = assess(measured(&fresh, &pairs, &trips), None, None);
        assert_finding(&r, "tampered");
        let events = Measured {
            clock: Clock::CudaEvents,
            ..measured(&fresh, &pairs, &trips)
        };
        assert!(assess(events, None, None).findings.is_empty());
    }

    #[test]
    fn changed_inputs_are_located() {
        let shape = Shape::new(1, 2, 2, 2);
        let parts = InputParts {
            shape,
            q: vec![1.0, 2.0],
            k_idx: vec![0, 1, 1, 0],
            qjl_signs: vec![1, 1, -1, -1],
            gamma: vec![0.5, 0.25],
            pi: vec![1.0, 0.0, 0.0, 1.0],
            s_mat: vec![1.0, 0.0, 0.0, 1.0],
            codebook: vec![-1.0, 1.0],
        };
        assert_eq!(first_change(&parts, &parts), None);
        let mut after = parts.clone();
        after.gamma[1] = 0.125;
        after.qjl_signs[3] = 1;
        let change = first_change(&parts, &after).unwrap();
        assert_eq!(
            (change.field, change.position.0.clone()),
            (Field::QjlSigns, vec![1, 1])
        );
        let mut after = parts.clone();
        after.q[0] = -0.0;
        after.q[1] = f32::NAN;
        let change = first_change(&parts, &after).unwrap();
        assert_eq!(change.count, 2);
        assert_eq!(
            change.to_string(),
            "Q[0, 0] was 1, is -0 after the call (2 element(s) of Q changed)"
        );
    }

    #[test]
    fn unheld_calls_are_explained() {
        let busy = |unheld| BusyAfter {
            fastest_s: 2e-6,
            median_s: 3e-6,
            calls: 30,
            unheld,
            held_solve_median_s: None,
        };
        assert_eq!(busy(0).unheld_note(), None);
        let note = busy(30).unheld_note().expect("a note");
        assert!(note.contains("30 of 30 calls were not held"), "{note}");
        let one = busy(1).unheld_note().expect("a note");
        assert!(one.contains("1 of 30 calls was not held"), "{one}");
        assert!(note.contains("after 5 ms"), "{note}");
    }

    /// The device reports of `n` CUDA calls with this hold outcome, `solve` taking `host` seconds on the host.
    fn devices(n: usize, hold: HoldOutcome, host: f64) -> Vec<DeviceCall> {
        vec![
            DeviceCall {
                busy_after_s: 3e-6,
                hold,
                solve_host_s: host,
                memory_bytes: 0,
            };
            n
        ]
    }

    #[test]
    fn host_work_while_held_is_suspicious() {
        let fresh = [20e-6, 21e-6, 19e-6];
        let pairs = [(20e-6, 20e-6)];
        let trips = [2e-3, 2e-3, 2e-3];
        let cuda = |devices| Measured {
            devices,
            clock: Clock::CudaEvents,
            ..measured(&fresh, &pairs, &trips)
        };
        // Launches only: tens of microseconds on the host.
        let honest = devices(10, HoldOutcome::Held, 40e-6);
        let r = assess(cuda(&honest), None, None);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        let busy = r.busy_after.unwrap();
        assert_eq!(busy.held_solve_median_s, Some(40e-6));
        let note = busy.held_solve_note().expect("a note");
        assert!(note.contains("over the 10 held calls"), "{note}");
        // 2 ms on the host while the hold lasted: before the start event.
        let hidden = devices(10, HoldOutcome::Held, 2e-3);
        let r = assess(cuda(&hidden), None, None);
        assert_finding(&r, "on the host in the median of the 10 calls");
        // Waiting for the device makes the hold give way: those calls are timed from there on, not judged here.
        let waited = [HoldOutcome::GaveWay, HoldOutcome::Unheld].map(|o| devices(10, o, 6e-3));
        for waited in &waited {
            let r = assess(cuda(waited), None, None);
            assert!(r.findings.is_empty(), "{:?}", r.findings);
            let busy = r.busy_after.unwrap();
            assert_eq!(busy.held_solve_median_s, None);
            assert_eq!(busy.held_solve_note(), None);
            assert_eq!(busy.unheld, 10);
        }
    }
}
