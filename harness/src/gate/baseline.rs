//! Comparing a submission's time with a baseline: the median of the matching entry of an earlier results
//! document (a `judge gate --json` or `judge bench --json` file made on the same machine).
//!
//! Only a sampled median of a correct answer can be a baseline: an entry of a correctness run (`judge run
//! --json` times each case once, a first call with its start-up costs) or one whose time is not a correct
//! answer's that can be trusted (a wrong answer timed for an ablation, a time judged *suspicious*) is refused,
//! the error naming the entry and why.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use solutions::Shape;

use crate::compare::host_differences;
use crate::io::FileError;
use crate::results::{Entry, Meta, Mode, ResultsDoc};
use crate::verdict::Verdict;

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
    #[serde(with = "crate::results::path_text")]
    pub path: PathBuf,
    /// The solution it times.
    pub solution: String,
    /// Its median, in seconds.
    pub median_s: f64,
    /// Largest allowed slowdown.
    pub max_slowdown: f64,
    /// How the machine the baseline was measured on differs from this one, one phrase each (`CPU 'A' vs 'B'`;
    /// the GPUs when both documents name one); empty when they match, and in documents written before it was
    /// recorded. A time measured elsewhere says as much about the machines as about the code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machine_differences: Vec<String>,
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

    /// `; measured on another machine (CPU 'A' vs 'B')` when it was, for the lines that show the comparison;
    /// empty otherwise.
    pub fn elsewhere_note(&self) -> String {
        if self.machine_differences.is_empty() {
            String::new()
        } else {
            format!(
                "; measured on another machine ({})",
                self.machine_differences.join("; ")
            )
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
    /// Entries at the shape are timed, but none can be a baseline.
    #[error("baseline {path}: no entry at {shape} can be a baseline: {}", refused.join("; "))]
    Unusable {
        /// The document.
        path: PathBuf,
        /// The shape.
        shape: Shape,
        /// Each entry refused, with why (`entry 3 ('cpu-tiled' on perf, check): …`).
        refused: Vec<String>,
    },
    /// The allowed slowdown makes no sense.
    #[error("--max-slowdown must be a finite number ≥ 1, not {0}")]
    BadSlowdown(f64),
}

/// Reads the baseline of `spec` for cases of `shape`: the chosen solution's timed entry at that shape
/// (a warm-cache entry when there are several), its median, and how the machine it was measured on differs from
/// `here` (this run's).
pub fn load(spec: &BaselineSpec, shape: Shape, here: &Meta) -> Result<Baseline, BaselineError> {
    if !(spec.max_slowdown.is_finite() && spec.max_slowdown >= 1.0) {
        return Err(BaselineError::BadSlowdown(spec.max_slowdown));
    }
    let doc = ResultsDoc::read(&spec.path)?;
    let (solution, median_s) = pick(&doc, &spec.path, spec.solution.as_deref(), shape)?;
    let mut machine_differences = host_differences(&doc.meta.host, &here.host);
    if let (Some(there), Some(here)) = (&doc.meta.gpu, &here.gpu)
        && there.name != here.name
    {
        machine_differences.push(format!("GPU '{}' vs '{}'", there.name, here.name));
    }
    Ok(Baseline {
        path: spec.path.clone(),
        solution,
        median_s,
        max_slowdown: spec.max_slowdown,
        machine_differences,
    })
}

/// The median of `entry`, in seconds, when it can be a baseline; else why not.
fn usable(entry: &Entry) -> Result<f64, String> {
    let median = entry.median_s().unwrap_or(0.0);
    if entry.mode == Mode::Check {
        return Err(
            "a correctness run's entry, its case timed once (a first call, with its start-up costs), not a \
             sampled median: take the baseline from `judge gate --json` or `judge bench --json`"
                .to_owned(),
        );
    }
    match entry.verdict {
        Verdict::Pass | Verdict::TooSlow => {}
        Verdict::Suspicious => {
            return Err("its time was judged suspicious: it cannot be trusted".to_owned());
        }
        other => {
            return Err(format!(
                "its verdict is {other}, not a correct answer's time"
            ));
        }
    }
    if median > 0.0 {
        Ok(median)
    } else {
        Err(format!("its median is {median} s"))
    }
}

fn pick(
    doc: &ResultsDoc,
    path: &Path,
    solution: Option<&str>,
    shape: Shape,
) -> Result<(String, f64), BaselineError> {
    // Every timed entry at the shape (1-based index in the document), with its median or why it cannot be one.
    let timed: Vec<(usize, &Entry, Result<f64, String>)> = doc
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.case.shape == shape && e.timing.is_some())
        .map(|(i, e)| (i + 1, e, usable(e)))
        .collect();
    let mut names: Vec<String> = timed
        .iter()
        .filter(|(_, _, median)| median.is_ok())
        .map(|(_, e, _)| e.solution.clone())
        .collect();
    names.sort();
    names.dedup();
    let unusable = |of: Option<&str>| BaselineError::Unusable {
        path: path.to_owned(),
        shape,
        refused: timed
            .iter()
            .filter(|(_, e, _)| of.is_none_or(|name| e.solution == name))
            .filter_map(|(index, e, median)| {
                median.as_ref().err().map(|why| {
                    format!(
                        "entry {index} ('{}' on {}, {}): {why}",
                        e.solution, e.case.name, e.mode
                    )
                })
            })
            .collect(),
    };
    let chosen = match solution {
        Some(name) if names.iter().any(|n| n == name) => name.to_owned(),
        Some(name) if timed.iter().any(|(_, e, _)| e.solution == name) => {
            return Err(unusable(Some(name)));
        }
        Some(name) => {
            return Err(BaselineError::UnknownSolution {
                path: path.to_owned(),
                solution: name.to_owned(),
                shape,
                names,
            });
        }
        None => match names.as_slice() {
            [] if timed.is_empty() => {
                return Err(BaselineError::NoEntry {
                    path: path.to_owned(),
                    shape,
                });
            }
            [] => return Err(unusable(None)),
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
    let mine = || {
        timed
            .iter()
            .filter(|(_, e, _)| e.solution == chosen)
            .filter_map(|(_, e, median)| median.as_ref().ok().map(|m| (e.mode, *m)))
    };
    let median = mine()
        .find(|(mode, _)| *mode == Mode::Warm)
        .or_else(|| mine().next())
        .map(|(_, median)| median)
        .ok_or_else(|| BaselineError::NoEntry {
            path: path.to_owned(),
            shape,
        })?;
    Ok((chosen, median))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::DEFAULT_TOLERANCE;
    use crate::challenge::suites::CaseSource;
    use crate::results::{CaseInfo, Clock, Timing};
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

    /// A correctness run's single call, a wrong answer's time and a suspicious one are no baseline: the error
    /// names each entry and why, and a usable entry beside them is still chosen.
    #[test]
    fn only_sampled_times_of_correct_answers_are_baselines() {
        let mut doc = ResultsDoc::new(Meta::now(1, DEFAULT_TOLERANCE));
        let with = |solution: &str, mode: Mode, verdict: Verdict, samples: Vec<f64>| Entry {
            verdict,
            ..entry(solution, Shape::PERF, mode, samples)
        };
        doc.entries = vec![
            with("run", Mode::Check, Verdict::Pass, vec![0.05]),
            with("cheat", Mode::Warm, Verdict::Suspicious, vec![1e-9; 10]),
            with("ablation", Mode::Warm, Verdict::WrongAnswer, vec![1e-3; 10]),
            with("zero", Mode::Warm, Verdict::Pass, vec![0.0; 10]),
        ];
        let p = Path::new("base.json");
        let message = pick(&doc, p, None, Shape::PERF).unwrap_err().to_string();
        for says in [
            "baseline base.json: no entry at",
            "entry 1 ('run' on perf, check): a correctness run's entry",
            "entry 2 ('cheat' on perf, warm): its time was judged suspicious",
            "entry 3 ('ablation' on perf, warm): its verdict is wrong-answer",
            "entry 4 ('zero' on perf, warm): its median is 0 s",
        ] {
            assert!(message.contains(says), "{says:?} in {message}");
        }
        // Asked for by name, only that solution's entries are named.
        let message = pick(&doc, p, Some("cheat"), Shape::PERF)
            .unwrap_err()
            .to_string();
        assert!(message.contains("entry 2 ('cheat'"), "{message}");
        assert!(!message.contains("entry 1"), "{message}");
        // A gate's too-slow entry is a correct answer's honest time, and the one usable entry is chosen.
        doc.entries
            .push(with("main", Mode::Warm, Verdict::TooSlow, vec![2e-3; 10]));
        assert_eq!(
            pick(&doc, p, None, Shape::PERF).unwrap(),
            ("main".to_owned(), 2e-3)
        );
        // A solution with a usable warm entry and a refused cold one gets the warm one, and the reverse.
        doc.entries = vec![
            with("a", Mode::Warm, Verdict::Suspicious, vec![1e-9; 10]),
            with("a", Mode::Cold, Verdict::Pass, vec![3e-3; 10]),
        ];
        assert_eq!(
            pick(&doc, p, Some("a"), Shape::PERF).unwrap(),
            ("a".to_owned(), 3e-3)
        );
    }

    /// A baseline measured on another machine is still used, and says how that machine differs from this one.
    #[test]
    fn a_baseline_from_another_machine_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let here = Meta::now(1, DEFAULT_TOLERANCE);
        let mut doc = ResultsDoc::new(here.clone());
        doc.entries = vec![entry("main", Shape::PERF, Mode::Warm, vec![2e-3; 10])];
        let path = dir.path().join("base.json");
        doc.write(&path).unwrap();
        let spec = BaselineSpec {
            path: path.clone(),
            solution: None,
            max_slowdown: 1.1,
        };
        let same = load(&spec, Shape::PERF, &here).unwrap();
        assert!(same.machine_differences.is_empty(), "{same:?}");
        assert_eq!(same.elsewhere_note(), "");
        doc.meta.host.cpu = "Another CPU".to_owned();
        doc.write(&path).unwrap();
        let other = load(&spec, Shape::PERF, &here).unwrap();
        assert_eq!(other.median_s, 2e-3);
        assert_eq!(
            other.machine_differences,
            [format!("CPU 'Another CPU' vs '{}'", here.host.cpu)]
        );
        assert!(
            other
                .elsewhere_note()
                .contains("another machine (CPU 'Another CPU'")
        );
    }

    #[test]
    fn slowdown_beyond_the_limit_is_too_slow() {
        let base = Baseline {
            path: "b.json".into(),
            solution: "a".into(),
            median_s: 2.0,
            max_slowdown: 1.1,
            machine_differences: Vec::new(),
        };
        assert!(!base.compare(2.2).too_slow);
        let slow = base.compare(2.4);
        assert!(slow.too_slow && (slow.slowdown - 1.2).abs() < 1e-12);
    }
}
