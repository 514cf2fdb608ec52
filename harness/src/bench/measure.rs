//! One measurement: a solution on a case, checked first (a wrong variant is reported, never timed), then
//! sampled in every mode its backend's regime lists, over rotating input sets.

use solutions::{Availability, Prepared, Solution, SolveError};

use super::progress::Progress;
use super::sampler::{Regime, Samplers};
use crate::challenge::suites::Case;
use crate::check::{CheckReport, Tolerance, check};
use crate::commands::format_seconds;
use crate::error_profile::ErrorProfile;
use crate::results::{Basis, CaseInfo, Derived, Entry, Mode, Timing};
use crate::runner::guarded;
use crate::timing::{SamplingPlan, StopReason, collect_observed};
use crate::verdict::Verdict;

/// The correctness check of one solution on one case, on input set 0.
struct Checked {
    report: CheckReport,
    errors: ErrorProfile,
}

/// Measures `solution` on `sets` (input sets of one case; set 0 is checked against `expected`, the
/// oracle's scores of set 0). Returns one entry per mode of the backend's regime (one entry in mode `warm`
/// when the backend is not measured here).
pub fn measure(
    solution: &dyn Solution,
    sets: &[Case],
    expected: &[f64],
    tolerance: Tolerance,
    sampling: &SamplingPlan,
    samplers: &mut dyn Samplers,
    progress: &mut Progress,
) -> Vec<Entry> {
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
    if !checked.report.passed {
        let reason = checked.report.reason().unwrap_or_default();
        return modes
            .iter()
            .map(|&m| fail(&template, m, Verdict::WrongAnswer, reason.clone()))
            .collect();
    }
    let mut first = Some(first);
    let mut entries = Vec::new();
    for &mode in &modes {
        progress.start(format!("{name} · {} · {mode}", case.name));
        let entry = match time_mode(
            solution,
            first.take(),
            sets,
            mode,
            sampling,
            samplers,
            progress,
        ) {
            Err(e) => fail(&template, mode, Verdict::RuntimeError, e.to_string()),
            Ok(sampled) => {
                let timing = Timing::from_samples(clock, sampled.seconds).map(|mut t| {
                    t.stop = Some(sampled.stop);
                    t.input_sets = Some(sets.len());
                    t
                });
                let derived = timing
                    .as_ref()
                    .map(|t| Derived::new(case.inputs.shape(), t.summary.median, sampled.basis));
                Entry {
                    mode,
                    verdict: Verdict::Pass,
                    reason: sampled.note,
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
}

/// Prepares the input sets (reusing `first` for set 0), asks for the speed-of-light basis and the sampler,
/// and samples.
fn time_mode<'a>(
    solution: &'a dyn Solution,
    first: Option<Box<dyn Prepared + 'a>>,
    sets: &'a [Case],
    mode: Mode,
    sampling: &SamplingPlan,
    samplers: &mut dyn Samplers,
    progress: &mut Progress,
) -> Result<Sampled, SolveError> {
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
    let (basis, note) = match samplers.basis(solution.backend(), mode, shape) {
        Ok(b) => (b, None),
        Err(e) => (None, Some(format!("no speed-of-light basis: {e}"))),
    };
    let mut sampler = samplers.sampler(solution, mode, prepared)?;
    let samples = guarded(name, "sampling", || {
        collect_observed(sampler.as_mut(), sampling, &mut |phase| {
            progress.phase(phase)
        })
    })?;
    Ok(Sampled {
        seconds: samples.seconds,
        stop: samples.stop,
        basis,
        note,
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
