//! One measurement: a solution on a case, checked first (a wrong variant is reported, never timed unless the
//! plan says so), then sampled in every mode its backend's regime lists, over rotating input sets; the last
//! timed output of set 0 is checked again, when the sampler can read it back, and every call's output is looked at
//! for unwritten scores, when the sampler says which set each call used. A CPU median below a fraction of the
//! physical floor ([`crate::gate::floor`]) is suspicious, not fast.

use solutions::{Availability, Backend, Prepared, Solution, SolveError};

use super::BenchPlan;
use super::progress::Progress;
use super::sampler::{Regime, Samplers};
use crate::challenge::suites::Case;
use crate::check::{CheckReport, Tolerance, check};
use crate::commands::format_seconds;
use crate::error_profile::ErrorProfile;
use crate::gate::floor::Floor;
use crate::results::{Basis, CaseInfo, CpuCeilings, Derived, Entry, Mode, Timing};
use crate::runner::guarded;
use crate::timing::{Sampler, StopReason, collect_observed};
use crate::verdict::Verdict;

/// The correctness check of one solution on one case, on input set 0.
struct Checked {
    report: CheckReport,
    errors: ErrorProfile,
}

/// Measures `solution` on `sets` (input sets of one case; set 0 is checked against `expected`, the
/// oracle's scores of set 0) with the tolerance and sampling of `plan`. Returns one entry per mode of the
/// backend's regime (one entry in mode `warm` when the backend is not measured here).
pub fn measure(
    solution: &dyn Solution,
    sets: &[Case],
    expected: &[f64],
    plan: &BenchPlan,
    samplers: &mut dyn Samplers,
    progress: &mut Progress,
) -> Vec<Entry> {
    let tolerance = plan.tolerance;
    let case = &sets[0];
    let template = Entry {
        solution: solution.name().to_owned(),
        backend: solution.backend(),
        case: CaseInfo::from(case),
        mode: Mode::Warm,
        verdict: Verdict::Skipped,
        reason: None,
        check: None,
        timing: None,
        derived: None,
        errors: None,
    };
    let (modes, clock) = match samplers.regime(solution.backend()) {
        Regime::Measured { modes, clock } => (modes, clock),
        Regime::Unsupported { reason } => {
            let reason = match solution.availability() {
                Availability::Unavailable(why) => why,
                Availability::Available => reason,
            };
            return vec![fail(&template, Mode::Warm, Verdict::Skipped, reason)];
        }
    };
    let all = |verdict: Verdict, reason: String| -> Vec<Entry> {
        modes
            .iter()
            .map(|&m| fail(&template, m, verdict, reason.clone()))
            .collect()
    };
    if let Availability::Unavailable(reason) = solution.availability() {
        return all(Verdict::Skipped, reason);
    }
    let name = solution.name();
    let mut first = match guarded(name, "prepare", || solution.prepare(&case.inputs)) {
        Ok(p) => p,
        Err(e) => return all(Verdict::RuntimeError, e.to_string()),
    };
    let checked = match check_set(first.as_mut(), name, case, expected, tolerance) {
        Ok(c) => c,
        Err(e) => return all(Verdict::RuntimeError, e.to_string()),
    };
    let template = Entry {
        check: Some(checked.report.clone()),
        errors: Some(checked.errors),
        ..template
    };
    let wrong = (!checked.report.passed).then(|| checked.report.reason().unwrap_or_default());
    if let (Some(reason), false) = (&wrong, plan.time_wrong_answers) {
        return modes
            .iter()
            .map(|&m| fail(&template, m, Verdict::WrongAnswer, reason.clone()))
            .collect();
    }
    let mut first = Some(first);
    let mut entries = Vec::new();
    for &mode in &modes {
        progress.start(format!("{name} · {} · {mode}", case.name));
        let subject = Subject {
            solution,
            sets,
            expected,
        };
        let entry = match time_mode(&subject, first.take(), mode, plan, samplers, progress) {
            Err(e) => fail(&template, mode, Verdict::RuntimeError, e.to_string()),
            Ok(sampled) => {
                let reference = match &sampled.basis {
                    Some(Basis::DeviceCopy(copy)) => Some(copy.clone()),
                    _ => None,
                };
                let timing = Timing::from_samples(clock, sampled.seconds).map(|mut t| {
                    t.stop = Some(sampled.stop);
                    t.input_sets = Some(sets.len());
                    t.reference = reference;
                    t.regime = samplers.cache_regime(solution.backend(), mode);
                    t
                });
                let floor = |cpu: Option<CpuCeilings>| match (solution.backend(), cpu) {
                    (Backend::Cpu, Some(cpu)) => Some(Floor::new(
                        case.inputs.shape(),
                        cpu.read_gbps,
                        cpu.fma_gflops,
                    )),
                    _ => None,
                };
                let below = |floor: Option<Floor>| {
                    floor?.finding("the median call", timing.as_ref()?.summary.median)
                };
                let mut basis = sampled.basis.clone();
                let mut finding = below(floor(samplers.cpu_ceilings()));
                if finding.is_some() {
                    // Measured again before the time is called suspicious: a peak read while other work held
                    // the cores is low, and its floor high.
                    let cpu = samplers.remeasure_cpu_ceilings();
                    if let (Some(Basis::FmaPeak { .. }), Some(c)) = (&basis, &cpu) {
                        basis = Some(Basis::FmaPeak {
                            gflops: c.fma_gflops,
                        });
                    }
                    finding = below(floor(cpu));
                }
                let below_floor = finding.map(|why| format!("{why}: the time cannot be trusted"));
                // Rates over a median of 0 s (every call shorter than the clock's tick) would be infinite, which
                // JSON cannot hold: such an entry has no rates (and on the CPU is suspicious, below the floor).
                let derived = timing.as_ref().filter(|t| t.summary.median > 0.0).map(|t| {
                    Derived::new(
                        case.inputs.shape(),
                        t.summary.median,
                        t.summary.median_ci,
                        basis.as_ref(),
                    )
                });
                let (verdict, reason, report) = match (&wrong, sampled.last_output) {
                    (Some(reason), _) => (
                        Verdict::WrongAnswer,
                        Some(format!("{reason} (timed anyway, as asked)")),
                        template.check.clone(),
                    ),
                    (None, Some(last)) if !last.passed => (
                        Verdict::WrongAnswer,
                        Some(format!(
                            "the output of the last timed call on input set 0 is wrong: {}",
                            last.reason().unwrap_or_default()
                        )),
                        Some(last),
                    ),
                    (None, _) => match (sampled.call_fault, below_floor) {
                        (Some(fault), _) => {
                            (Verdict::WrongAnswer, Some(fault), template.check.clone())
                        }
                        (None, Some(why)) => {
                            (Verdict::Suspicious, Some(why), template.check.clone())
                        }
                        (None, None) => (Verdict::Pass, sampled.note, template.check.clone()),
                    },
                };
                Entry {
                    mode,
                    verdict,
                    reason,
                    check: report,
                    timing,
                    derived,
                    ..template.clone()
                }
            }
        };
        entries.push(entry);
    }
    entries
}

/// What one mode's sampling produced.
struct Sampled {
    /// The samples, in seconds.
    seconds: Vec<f64>,
    /// Why sampling stopped.
    stop: StopReason,
    /// The speed-of-light basis, when known.
    basis: Option<Basis>,
    /// Why the basis is missing, when asking for it failed.
    note: Option<String>,
    /// The check of the last timed output of input set 0, when the sampler can read it back.
    last_output: Option<CheckReport>,
    /// The first call (warm-up included) whose output held unwritten or non-finite scores, when the sampler
    /// says which set each call used.
    call_fault: Option<String>,
}

/// A sampler whose every call's output is read back, outside the timing, and looked at for scores left
/// unwritten (still the poison) or not finite, which no correct solve of a valid case leaves: the check of set 0
/// before sampling and of its last timed output after see two calls of the many, so a variant that goes wrong on
/// another set or call only would pass them. Only the first such call is recorded.
struct EveryOutput<'s, 'a> {
    inner: &'s mut (dyn Sampler + 'a),
    out: Vec<f32>,
    calls: usize,
    fault: Option<String>,
}

impl Sampler for EveryOutput<'_, '_> {
    fn sample(&mut self) -> Result<f64, SolveError> {
        let seconds = self.inner.sample()?;
        self.calls += 1;
        if self.fault.is_none()
            && let Some(set) = self.inner.last_set()
            && let Some(read) = self.inner.read_output(set, &mut self.out)
        {
            read?;
            let bad = self.out.iter().filter(|x| !x.is_finite()).count();
            if bad > 0 {
                self.fault = Some(format!(
                    "call {} of the bench (warm-up included), on input set {set}, left {bad} of {} scores \
                     unwritten or not finite",
                    self.calls,
                    self.out.len()
                ));
            }
        }
        Ok(seconds)
    }
}

/// What one measurement times: a solution, the input sets of one case, and the oracle's scores of set 0.
struct Subject<'a> {
    solution: &'a dyn Solution,
    sets: &'a [Case],
    expected: &'a [f64],
}

/// Prepares the input sets (reusing `first` for set 0), asks for the speed-of-light basis and the sampler,
/// samples, and checks the last timed output of set 0 against the oracle.
fn time_mode<'a>(
    subject: &Subject<'a>,
    first: Option<Box<dyn Prepared + 'a>>,
    mode: Mode,
    plan: &BenchPlan,
    samplers: &mut dyn Samplers,
    progress: &mut Progress,
) -> Result<Sampled, SolveError> {
    let Subject {
        solution,
        sets,
        expected,
    } = *subject;
    let name = solution.name();
    let mut prepared: Vec<Box<dyn Prepared + 'a>> = Vec::with_capacity(sets.len());
    for (i, set) in sets.iter().enumerate() {
        match (i, &first) {
            (0, Some(_)) => {}
            _ => prepared.push(guarded(name, "prepare", || solution.prepare(&set.inputs))?),
        }
    }
    if let Some(p) = first {
        prepared.insert(0, p);
    }
    let shape = sets[0].inputs.shape();
    progress.status(format!(
        "{name} · {} · {mode} · speed-of-light reference",
        sets[0].name
    ));
    let (basis, note) = match samplers.basis(solution.backend(), mode, shape) {
        Ok(b) => (b, None),
        Err(e) => (None, Some(format!("no speed-of-light basis: {e}"))),
    };
    let mut sampler = samplers.sampler(solution, mode, prepared)?;
    let mut every = EveryOutput {
        inner: sampler.as_mut(),
        out: vec![0.0f32; shape.output_len()],
        calls: 0,
        fault: None,
    };
    let samples = guarded(name, "sampling", || {
        collect_observed(&mut every, &plan.sampling, &mut |phase| {
            progress.phase(phase)
        })
    })?;
    let EveryOutput {
        mut out,
        fault: call_fault,
        ..
    } = every;
    let last_output = guarded(name, "read_output", || {
        sampler.read_output(0, &mut out).transpose()
    })?
    .map(|()| check(&out, expected, shape, plan.tolerance));
    Ok(Sampled {
        seconds: samples.seconds,
        stop: samples.stop,
        basis,
        note,
        last_output,
        call_fault,
    })
}

/// One checked call on a prepared set: poison, run, wait, read back, compare with the oracle.
fn check_set(
    prepared: &mut dyn Prepared,
    name: &str,
    case: &Case,
    expected: &[f64],
    tolerance: Tolerance,
) -> Result<Checked, SolveError> {
    let shape = case.inputs.shape();
    let mut out = vec![0.0f32; shape.output_len()];
    guarded(name, "run", || {
        prepared.poison_output()?;
        prepared.run()?;
        prepared.synchronize()?;
        prepared.read_output(&mut out)
    })?;
    Ok(Checked {
        report: check(&out, expected, shape, tolerance),
        errors: ErrorProfile::of(&out, expected, tolerance),
    })
}

fn fail(template: &Entry, mode: Mode, verdict: Verdict, reason: String) -> Entry {
    Entry {
        mode,
        verdict,
        reason: Some(reason),
        timing: None,
        derived: None,
        ..template.clone()
    }
}

/// The one-line account of a finished measurement that the progress display prints.
pub fn entry_line(entry: &Entry) -> String {
    let head = format!(
        "{:<24} {:<20} {:<5}",
        entry.solution, entry.case.name, entry.mode
    );
    match (&entry.timing, entry.verdict) {
        (Some(t), Verdict::Pass) => {
            let rel = t
                .summary
                .median_rel_err()
                .map(|r| format!(" ±{:.1}%", 100.0 * r))
                .unwrap_or_default();
            format!(
                "{head} {}{rel} ({} samples)",
                format_seconds(t.summary.median),
                t.summary.n
            )
        }
        (_, verdict) => format!(
            "{head} {verdict}: {}",
            entry.reason.clone().unwrap_or_default()
        ),
    }
}
