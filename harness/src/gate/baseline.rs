//! Comparing a submission's time with a baseline: the median of the matching entry of an earlier results
//! document (a `judge gate --json` or `judge bench --json` file made on the same machine).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use solutions::Shape;

use crate::io::FileError;
use crate::results::{Entry, Mode, ResultsDoc};

/// Which baseline to compare with and how much slower is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineSpec {
    /// The results document.
    pub path: PathBuf,
    /// The solution in it to compare with; needed when it holds timings of several.
    pub solution: Option<String>,
    /// Largest allowed ratio of the submission's median to the baseline's (1.10 = 10% slower).
    pub max_slowdown: f64,
}

/// The baseline time found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The document it came from.
    pub path: PathBuf,
    /// The solution it times.
    pub solution: String,
    /// Its median, in seconds.
    pub median_s: f64,
    /// Largest allowed slowdown.
    pub max_slowdown: f64,
}

/// The comparison of a submission's time with its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline.
    pub baseline: Baseline,
    /// The submission's median, in seconds.
    pub median_s: f64,
    /// `median_s / baseline.median_s`.
    pub slowdown: f64,
    /// `slowdown > baseline.max_slowdown`.
    pub too_slow: bool,
}

impl Baseline {
    /// Compares `median_s` with this baseline.
    pub fn compare(&self, median_s: f64) -> Comparison {
        let slowdown = median_s / self.median_s;
        Comparison {
            baseline: self.clone(),
            median_s,
            slowdown,
            too_slow: slowdown > self.max_slowdown,
        }
    }
}

/// Why no baseline time could be taken from a file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file could not be read as a results document.
    #[error("baseline: {0}")]
    File(#[from] FileError),
    /// No timed entry at the shape.
    #[error("baseline {path}: no timed entry for a case of shape {shape}")]
    NoEntry {
        /// The document.
        path: PathBuf,
        /// The shape looked for.
        shape: Shape,
    },
    /// Several solutions are timed there and none was chosen.
    #[error(
        "baseline {path}: timings of several solutions at {shape} ({}); choose one with --baseline-solution",
        names.join(", ")
    )]
    Ambiguous {
        /// The document.
        path: PathBuf,
        /// The shape.
        shape: Shape,
        /// The solutions found.
        names: Vec<String>,
    },
    /// The chosen solution has no timed entry at the shape.
    #[error("baseline {path}: no timed entry of '{solution}' at {shape} (timed there: {})", names.join(", "))]
    UnknownSolution {
        /// The document.
        path: PathBuf,
        /// The solution asked for.
        solution: String,
        /// The shape.
        shape: Shape,
        /// The solutions found.
        names: Vec<String>,
    },
    /// The allowed slowdown makes no sense.
    #[error("--max-slowdown must be a finite number ≥ 1, not {0}")]
    BadSlowdown(f64),
}

/// Reads the baseline of `spec` for cases of `shape`: the chosen solution's timed entry at that shape
/// (a warm-cache entry when there are several), and its median.
pub fn load(spec: &BaselineSpec, shape: Shape) -> Result<Baseline, BaselineError> {
    if !(spec.max_slowdown.is_finite() && spec.max_slowdown >= 1.0) {
        return Err(BaselineError::BadSlowdown(spec.max_slowdown));
    }
    let doc = ResultsDoc::read(&spec.path)?;
    pick(&doc, &spec.path, spec.solution.as_deref(), shape).map(|(solution, median_s)| Baseline {
        path: spec.path.clone(),
        solution,
        median_s,
        max_slowdown: spec.max_slowdown,
    })
}

fn pick(
    doc: &ResultsDoc,
    path: &Path,
    solution: Option<&str>,
    shape: Shape,
) -> Result<(String, f64), BaselineError> {
    let timed: Vec<&Entry> = doc
        .entries
        .iter()
        .filter(|e| {
            e.case.shape == shape && e.timing.as_ref().is_some_and(|t| t.summary.median > 0.0)
        })
        .collect();
    let mut names: Vec<String> = timed.iter().map(|e| e.solution.clone()).collect();
    names.sort();
    names.dedup();
    let chosen = match solution {
        Some(name) if names.iter().any(|n| n == name) => name.to_owned(),
        Some(name) => {
            return Err(BaselineError::UnknownSolution {
                path: path.to_owned(),
                solution: name.to_owned(),
                shape,
                names,
            });
        }
        None => match names.as_slice() {
            [] => {
                return Err(BaselineError::NoEntry {
                    path: path.to_owned(),
                    shape,
                });
            }
            [one] => one.clone(),
            _ => {
                return Err(BaselineError::Ambiguous {
                    path: path.to_owned(),
                    shape,
                    names,
                });
            }
        },
    };
    let mine = || timed.iter().filter(|e| e.solution == chosen);
    let entry = mine()
        .find(|e| e.mode == Mode::Warm)
        .or_else(|| mine().next())
        .ok_or_else(|| BaselineError::NoEntry {
            path: path.to_owned(),
            shape,
        })?;
    let median = entry.timing.as_ref().map_or(0.0, |t| t.summary.median);
    Ok((chosen, median))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::DEFAULT_TOLERANCE;
    use crate::challenge::suites::CaseSource;
    use crate::results::{CaseInfo, Clock, Meta, Timing};
    use crate::verdict::Verdict;
    use solutions::Backend;

    fn entry(solution: &str, shape: Shape, mode: Mode, samples: Vec<f64>) -> Entry {
        Entry {
            solution: solution.to_owned(),
            backend: Backend::Cpu,
            case: CaseInfo {
                name: "perf".to_owned(),
                shape,
                source: CaseSource::File {
                    path: "perf.npz".into(),
                },
            },
            mode,
            verdict: Verdict::Pass,
            reason: None,
            check: None,
            timing: Timing::from_samples(Clock::Wall, samples),
            derived: None,
            errors: None,
        }
    }

    #[test]
    fn the_matching_solution_and_mode_are_chosen() {
        let small = Shape::new(2, 3, 4, 4);
        let mut doc = ResultsDoc::new(Meta::now(1, DEFAULT_TOLERANCE));
        doc.entries = vec![
            entry("a", Shape::PERF, Mode::Cold, vec![3.0]),
            entry("a", Shape::PERF, Mode::Warm, vec![1.0, 2.0, 9.0]),
            entry("b", Shape::PERF, Mode::Warm, vec![5.0]),
            entry("c", small, Mode::Warm, vec![7.0]),
        ];
        let p = Path::new("base.json");
        assert_eq!(
            pick(&doc, p, Some("a"), Shape::PERF).unwrap(),
            ("a".to_owned(), 2.0)
        );
        assert!(matches!(
            pick(&doc, p, None, Shape::PERF),
            Err(BaselineError::Ambiguous { .. })
        ));
        assert_eq!(pick(&doc, p, None, small).unwrap(), ("c".to_owned(), 7.0));
        assert!(matches!(
            pick(&doc, p, Some("z"), Shape::PERF),
            Err(BaselineError::UnknownSolution { .. })
        ));
        assert!(matches!(
            pick(&doc, p, None, Shape::new(1, 1, 1, 2)),
            Err(BaselineError::NoEntry { .. })
        ));
    }

    #[test]
    fn slowdown_beyond_the_limit_is_too_slow() {
        let base = Baseline {
            path: "b.json".into(),
            solution: "a".into(),
            median_s: 2.0,
            max_slowdown: 1.1,
        };
        assert!(!base.compare(2.2).too_slow);
        let slow = base.compare(2.4);
        assert!(slow.too_slow && (slow.slowdown - 1.2).abs() < 1e-12);
    }
}
