//! Runs one solution on one case once: availability, prepare, poison, run, read back, check. Every failure of
//! the solution (an error or a panic) becomes a verdict with its reason; nothing a variant does stops the judge.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use solutions::{Availability, Prepared, Solution, SolveError};

use crate::challenge::suites::Case;
use crate::check::{CheckReport, Tolerance, check};
use crate::results::{CaseInfo, Clock, Entry, Mode, Timing};
use crate::verdict::Verdict;

/// What one checked call produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, for anything but a pass.
    pub reason: Option<String>,
    /// The checker's report, when the call produced an output.
    pub check: Option<CheckReport>,
    /// Wall time of the call (run and synchronize), in seconds, when it completed.
    pub elapsed_s: Option<f64>,
}

impl Outcome {
    fn failed(verdict: Verdict, reason: String) -> Self {
        Self {
            verdict,
            reason: Some(reason),
            check: None,
            elapsed_s: None,
        }
    }

    /// The results entry for this outcome.
    pub fn into_entry(self, solution: &dyn Solution, case: &Case) -> Entry {
        Entry {
            solution: solution.name().to_owned(),
            backend: solution.backend(),
            case: CaseInfo::from(case),
            mode: Mode::Check,
            verdict: self.verdict,
            reason: self.reason,
            check: self.check,
            timing: self
                .elapsed_s
                .and_then(|t| Timing::from_samples(Clock::Wall, vec![t])),
            derived: None,
            errors: None,
        }
    }
}

/// Calls `f`, turning a panic into an error that carries the panic message.
pub fn guarded<T>(
    solution: &str,
    context: &str,
    f: impl FnOnce() -> Result<T, SolveError>,
) -> Result<T, SolveError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic with a non-text payload".to_owned());
            Err(SolveError::Failed {
                solution: solution.to_owned(),
                context: context.to_owned(),
                message: format!("panicked: {message}"),
            })
        }
    }
}

/// Runs `solution` once on `case` and checks the output against `expected` (the oracle's scores).
pub fn check_once(
    solution: &dyn Solution,
    case: &Case,
    expected: &[f64],
    tolerance: Tolerance,
) -> Outcome {
    if let Availability::Unavailable(reason) = solution.availability() {
        return Outcome::failed(Verdict::Skipped, reason);
    }
    let name = solution.name();
    let mut prepared: Box<dyn Prepared + '_> =
        match guarded(name, "prepare", || solution.prepare(&case.inputs)) {
            Ok(p) => p,
            Err(e) => return Outcome::failed(Verdict::RuntimeError, e.to_string()),
        };
    let mut out = vec![0.0f32; case.inputs.shape().output_len()];
    let timed = guarded(name, "run", || {
        prepared.poison_output()?;
        let start = Instant::now();
        prepared.run()?;
        prepared.synchronize()?;
        let elapsed = start.elapsed().as_secs_f64();
        prepared.read_output(&mut out)?;
        Ok(elapsed)
    });
    match timed {
        Err(e) => Outcome::failed(Verdict::RuntimeError, e.to_string()),
        Ok(elapsed) => {
            let report = check(&out, expected, case.inputs.shape(), tolerance);
            Outcome {
                verdict: if report.passed {
                    Verdict::Pass
                } else {
                    Verdict::WrongAnswer
                },
                reason: report.reason(),
                check: Some(report),
                elapsed_s: Some(elapsed),
            }
        }
    }
}
