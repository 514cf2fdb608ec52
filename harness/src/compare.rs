//! Two results documents side by side: entries matched by (solution, case, mode), the ratio of their median
//! times, and whether the difference is beyond noise: it is when the 95% confidence intervals of the two
//! medians do not overlap (a conservative test: non-overlapping intervals mean a difference well beyond the
//! 5% level). A side with fewer than [`MIN_SAMPLES_TO_COMPARE`] samples (a document of `judge run --json` has one
//! per entry) is not judged at all: its interval does not reach 95% whatever it is.

use std::fmt;

use crate::meta::Host;
use crate::results::{Entry, Meta, Mode, ResultsDoc};
use crate::stats::{Interval, MIN_SAMPLES_TO_COMPARE};
use crate::table::{Align, Table};
use crate::verdict::Verdict;

/// What happened to one matched measurement between the two documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Faster, beyond noise.
    Faster,
    /// Slower, beyond noise.
    Slower,
    /// The same median on both sides (the same document twice, say): no change, rather than one within noise.
    Unchanged,
    /// The medians' intervals overlap: no difference can be claimed.
    WithinNoise,
    /// Both timed, but one side has fewer than [`MIN_SAMPLES_TO_COMPARE`] samples: too few to claim or deny a
    /// difference.
    TooFewSamples,
    /// One side was not timed (skipped, wrong, failed), so there is no ratio.
    NotTimed,
    /// Same solution, case name and mode, but different shapes: not comparable.
    ShapeDiffers,
    /// Only the old document has it.
    OnlyOld,
    /// Only the new document has it.
    OnlyNew,
}

// `Change::TooFewSamples` names the threshold in its words, which a `const fn` cannot format.
const _: () = assert!(
    MIN_SAMPLES_TO_COMPARE == 6,
    "the label of Change::TooFewSamples says 6"
);

impl Change {
    /// The words used in tables.
    pub const fn name(self) -> &'static str {
        match self {
            Change::Faster => "faster",
            Change::Slower => "slower",
            Change::Unchanged => "no change",
            Change::WithinNoise => "within noise",
            Change::TooFewSamples => "not judged (under 6 samples)",
            Change::NotTimed => "not timed",
            Change::ShapeDiffers => "shape differs",
            Change::OnlyOld => "only in old",
            Change::OnlyNew => "only in new",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One side of a matched row.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// The verdict.
    pub verdict: Verdict,
    /// Median time in seconds, when timed.
    pub median_s: Option<f64>,
    /// The median's confidence interval, in seconds: recorded, or `[min, max]` for documents written before it
    /// was (none below [`MIN_SAMPLES_TO_COMPARE`] samples, where no interval reaches 95%).
    pub interval: Option<Interval>,
    /// How many samples the median is of, when timed.
    pub samples: Option<usize>,
}

impl Side {
    /// Whether the entry holds a time of a correct answer: a pass, or a time judged too slow or suspicious
    /// (the gate's verdicts on correct answers), not a wrong answer timed for an ablation.
    pub fn has_time(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Pass | Verdict::TooSlow | Verdict::Suspicious
        ) && self.median_s.is_some_and(|m| m > 0.0)
    }

    fn of(entry: &Entry) -> Self {
        let summary = entry.timing.as_ref().map(|t| t.summary);
        Self {
            verdict: entry.verdict,
            median_s: summary.map(|s| s.median),
            interval: summary.and_then(|s| {
                s.median_ci.or_else(|| {
                    (s.n >= MIN_SAMPLES_TO_COMPARE).then_some(Interval {
                        low: s.min,
                        high: s.max,
                    })
                })
            }),
            samples: summary.map(|s| s.n),
        }
    }
}

/// One matched (or unmatched) measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The solution.
    pub solution: String,
    /// The case's name.
    pub case: String,
    /// The mode.
    pub mode: Mode,
    /// The old document's entry.
    pub old: Option<Side>,
    /// The new document's entry.
    pub new: Option<Side>,
    /// New median over old median (below 1: faster), when both were timed.
    pub ratio: Option<f64>,
    /// The judgement.
    pub change: Change,
}

impl Row {
    /// Whether both documents have this measurement.
    pub fn is_matched(&self) -> bool {
        self.old.is_some() && self.new.is_some()
    }
}

/// The rows of a comparison: the new document's order, then entries only the old one has. Entries are matched
/// by solution, case name and mode; where a document holds one such key more than once (two case files that
/// carry the same name), the first occurrence in one is matched with the first in the other, the second with the
/// second, and so on.
pub fn compare(old: &ResultsDoc, new: &ResultsDoc) -> Vec<Row> {
    let same = |a: &Entry, b: &Entry| {
        a.solution == b.solution && a.case.name == b.case.name && a.mode == b.mode
    };
    // Each old entry is matched once, with the first new entry of its key not yet matched: entries of one key
    // pair up in order, first with first.
    let mut taken = vec![false; old.entries.len()];
    let mut rows = Vec::new();
    for n in &new.entries {
        let found = (0..old.entries.len()).find(|&j| !taken[j] && same(&old.entries[j], n));
        let row = match found {
            Some(j) => {
                taken[j] = true;
                matched(&old.entries[j], n)
            }
            None => Row {
                solution: n.solution.clone(),
                case: n.case.name.clone(),
                mode: n.mode,
                old: None,
                new: Some(Side::of(n)),
                ratio: None,
                change: Change::OnlyNew,
            },
        };
        rows.push(row);
    }
    for (o, _) in old.entries.iter().zip(&taken).filter(|(_, taken)| !**taken) {
        rows.push(Row {
            solution: o.solution.clone(),
            case: o.case.name.clone(),
            mode: o.mode,
            old: Some(Side::of(o)),
            new: None,
            ratio: None,
            change: Change::OnlyOld,
        });
    }
    rows
}

fn matched(old: &Entry, new: &Entry) -> Row {
    let (o, n) = (Side::of(old), Side::of(new));
    let timed = |s: &Side| s.has_time();
    let (ratio, change) = if old.case.shape != new.case.shape {
        (None, Change::ShapeDiffers)
    } else if !timed(&o) || !timed(&n) {
        (None, Change::NotTimed)
    } else {
        let (om, nm) = (o.median_s.unwrap_or(1.0), n.median_s.unwrap_or(1.0));
        let few = |s: &Side| s.samples.is_none_or(|n| n < MIN_SAMPLES_TO_COMPARE);
        let change = match (o.interval, n.interval) {
            _ if nm == om => Change::Unchanged,
            _ if few(&o) || few(&n) => Change::TooFewSamples,
            (Some(oi), Some(ni)) if !oi.overlaps(&ni) => {
                if nm < om {
                    Change::Faster
                } else {
                    Change::Slower
                }
            }
            _ => Change::WithinNoise,
        };
        (Some(nm / om), change)
    };
    Row {
        solution: new.solution.clone(),
        case: new.case.name.clone(),
        mode: new.mode,
        old: Some(o),
        new: Some(n),
        ratio,
        change,
    }
}

/// The ratio as people read it: `×0.52 (1.92× faster)`, `×1.10 (1.10× slower)`, `×1.000 (the same)`.
pub fn ratio_text(ratio: f64) -> String {
    if ratio < 1.0 {
        format!("×{ratio:.3} ({:.2}× faster)", 1.0 / ratio)
    } else if ratio > 1.0 {
        format!("×{ratio:.3} ({ratio:.2}× slower)")
    } else {
        format!("×{ratio:.3} (the same)")
    }
}

/// How the machines of two documents differ (CPU, core count, OS and architecture, GPU, driver), one phrase
/// each, `CPU 'A' vs 'B'`; empty when they match. Times from different machines say little about a change in
/// the code.
pub fn machine_differences(old: &Meta, new: &Meta) -> Vec<String> {
    let mut out = host_differences(&old.host, &new.host);
    let mut differs = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what} '{a}' vs '{b}'"));
        }
    };
    let gpu = |m: &Meta| m.gpu.as_ref().map(|g| g.name.clone());
    let driver = |m: &Meta| m.gpu.as_ref().map(|g| g.driver.clone());
    let none = || "none".to_owned();
    differs(
        "GPU",
        gpu(old).unwrap_or_else(none),
        gpu(new).unwrap_or_else(none),
    );
    if let (Some(a), Some(b)) = (driver(old), driver(new)) {
        differs("GPU driver", a, b);
    }
    out
}

/// How two host machines differ (CPU, core count, OS and architecture), one phrase each, `CPU 'A' vs 'B'`; empty
/// when they match.
pub fn host_differences(old: &Host, new: &Host) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what} '{a}' vs '{b}'"));
        }
    };
    differs("CPU", old.cpu.clone(), new.cpu.clone());
    differs(
        "logical cores",
        old.logical_cores.to_string(),
        new.logical_cores.to_string(),
    );
    differs(
        "OS",
        format!("{} {}", old.os, old.arch),
        format!("{} {}", new.os, new.arch),
    );
    out
}

/// The comparison as a table.
pub fn table(rows: &[Row]) -> Table {
    let mut t = Table::new(&[
        ("solution", Align::Left),
        ("case", Align::Left),
        ("mode", Align::Left),
        ("old median", Align::Right),
        ("old CI", Align::Right),
        ("new median", Align::Right),
        ("new CI", Align::Right),
        ("new/old", Align::Right),
        ("change", Align::Left),
    ]);
    let median = |s: &Option<Side>| -> String {
        match s {
            Some(
                side @ Side {
                    median_s: Some(m), ..
                },
            ) if side.has_time() => match side.verdict {
                Verdict::Pass => crate::commands::format_seconds(*m),
                other => format!("{} ({other})", crate::commands::format_seconds(*m)),
            },
            // A pass with no time (a document of `judge check`, say) is no median.
            Some(Side {
                median_s: None,
                verdict: Verdict::Pass,
                ..
            }) => "not timed".to_owned(),
            Some(side) => side.verdict.to_string(),
            None => String::new(),
        }
    };
    let ci = |s: &Option<Side>| -> String {
        match s {
            Some(Side {
                median_s: Some(m),
                interval: Some(i),
                ..
            }) if *m > 0.0 => format!("±{:.1}%", 100.0 * i.half_width() / m),
            _ => String::new(),
        }
    };
    for r in rows {
        t.push(vec![
            r.solution.clone(),
            r.case.clone(),
            r.mode.to_string(),
            median(&r.old),
            ci(&r.old),
            median(&r.new),
            ci(&r.new),
            r.ratio.map(ratio_text).unwrap_or_default(),
            r.change.to_string(),
        ]);
    }
    t
}

/// A one-line count of the judgements (`2 faster, 1 within noise`).
pub fn summary(rows: &[Row]) -> String {
    let order = [
        Change::Faster,
        Change::Slower,
        Change::Unchanged,
        Change::WithinNoise,
        Change::TooFewSamples,
        Change::NotTimed,
        Change::ShapeDiffers,
        Change::OnlyOld,
        Change::OnlyNew,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|c| {
            let n = rows.iter().filter(|r| r.change == *c).count();
            (n > 0).then(|| format!("{n} {c}"))
        })
        .collect();
    if parts.is_empty() {
        "nothing to compare".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Clock, Timing};

    fn doc_with(samples: &[(&str, Vec<f64>)]) -> ResultsDoc {
        let mut doc: ResultsDoc =
            serde_json::from_str(include_str!("../tests/data/run-v1.json")).unwrap();
        let template = doc.entries[0].clone();
        doc.entries = samples
            .iter()
            .map(|(name, s)| Entry {
                solution: (*name).to_owned(),
                mode: Mode::Warm,
                timing: Timing::from_samples(Clock::Wall, s.clone()),
                ..template.clone()
            })
            .collect();
        doc
    }

    #[test]
    fn a_key_held_twice_is_matched_in_order() {
        // Two entries of one solution, case and mode in each document (two case files of one name): the first
        // is matched with the first, the second with the second; a third in the new document alone is new.
        let fast: Vec<f64> = (1..=100).map(f64::from).collect();
        let slow: Vec<f64> = fast.iter().map(|x| x * 4.0).collect();
        let old = doc_with(&[("a", fast.clone()), ("a", slow.clone())]);
        let new = doc_with(&[("a", fast.clone()), ("a", slow.clone()), ("a", fast)]);
        let rows = compare(&old, &new);
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(rows[0].ratio, Some(1.0));
        assert_eq!(rows[1].ratio, Some(1.0));
        assert_eq!(rows[2].change, Change::OnlyNew);
        let back = compare(&new, &old);
        assert_eq!(back.len(), 3, "{back:?}");
        assert_eq!(back[2].change, Change::OnlyOld);
    }

    #[test]
    fn ratios_and_noise_by_hand() {
        // a: 100 samples 1..=100 → median 50.5, CI [40, 61]; ×0.5 → CI [20, 30.5]: disjoint.
        // c: shifted by 5 → CI [45, 66]: overlaps [40, 61].
        let base: Vec<f64> = (1..=100).map(f64::from).collect();
        let old = doc_with(&[("a", base.clone()), ("c", base.clone())]);
        let new = doc_with(&[
            ("a", base.iter().map(|x| x * 0.5).collect()),
            ("c", base.iter().map(|x| x + 5.0).collect()),
        ]);
        let rows = compare(&old, &new);
        assert_eq!(rows[0].change, Change::Faster);
        assert!((rows[0].ratio.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(rows[1].change, Change::WithinNoise);
        assert!((rows[1].ratio.unwrap() - 55.5 / 50.5).abs() < 1e-12);
        assert_eq!(summary(&rows), "1 faster, 1 within noise");
        assert_eq!(ratio_text(0.5), "×0.500 (2.00× faster)");
        assert_eq!(ratio_text(1.1), "×1.100 (1.10× slower)");
    }

    #[test]
    fn documents_without_intervals_fall_back_to_the_sample_range() {
        let mut old = doc_with(&[("a", vec![1.0, 1.5, 2.0, 2.0, 2.5, 3.0])]);
        let mut new = doc_with(&[("a", vec![3.5, 3.7, 4.0, 4.0, 4.5, 5.0])]);
        for doc in [&mut old, &mut new] {
            if let Some(t) = &mut doc.entries[0].timing {
                t.summary.median_ci = None;
            }
        }
        // [1, 3] and [3.5, 5] are disjoint.
        assert_eq!(compare(&old, &new)[0].change, Change::Slower);
        new.entries[0].case.shape.s += 1;
        assert_eq!(compare(&old, &new)[0].change, Change::ShapeDiffers);
        new.entries[0].case.shape.s -= 1;
        new.entries[0].verdict = Verdict::WrongAnswer;
        assert_eq!(compare(&old, &new)[0].change, Change::NotTimed);
        let table = table(&compare(&old, &new)).render_text();
        assert!(table.contains("wrong-answer"), "{table}");
    }

    #[test]
    fn correct_answers_judged_too_slow_or_suspicious_keep_their_times() {
        let base: Vec<f64> = (0..20).map(|i| 1.0 + 0.01 * f64::from(i)).collect();
        let old = doc_with(&[
            ("a", base.clone()),
            ("b", base.clone()),
            ("c", base.clone()),
        ]);
        let mut new = doc_with(&[
            ("a", base.iter().map(|x| x * 3.0).collect()),
            ("b", base.iter().map(|x| x + 0.001).collect()),
            ("c", base.clone()),
        ]);
        new.entries[0].verdict = Verdict::TooSlow;
        new.entries[1].verdict = Verdict::Suspicious;
        new.entries[2].verdict = Verdict::WrongAnswer;
        let rows = compare(&old, &new);
        assert_eq!(rows[0].change, Change::Slower);
        assert!((rows[0].ratio.unwrap() - 3.0).abs() < 1e-12);
        assert_eq!(rows[1].change, Change::WithinNoise);
        // A wrong answer's time (timed for an ablation) is not compared.
        assert_eq!(rows[2].change, Change::NotTimed);
        let text = table(&rows).render_text();
        assert!(text.contains(" s (too-slow)"), "{text}");
    }

    /// The same document twice is no change, said as such: not "within noise", and its ratio not "slower".
    #[test]
    fn identical_documents_are_no_change() {
        let base: Vec<f64> = (1..=20).map(f64::from).collect();
        let doc = doc_with(&[("a", base.clone()), ("b", vec![2.0])]);
        let rows = compare(&doc, &doc);
        assert!(
            rows.iter().all(|r| r.change == Change::Unchanged),
            "{rows:?}"
        );
        assert_eq!(summary(&rows), "2 no change");
        assert_eq!(ratio_text(1.0), "×1.000 (the same)");
        let text = table(&rows).render_text();
        assert!(
            !text.contains("slower") && !text.contains("noise"),
            "{text}"
        );
        // A change inside the noise is still called so.
        let moved = doc_with(&[
            ("a", base.iter().map(|x| x + 0.5).collect()),
            ("b", vec![2.0]),
        ]);
        assert_eq!(compare(&doc, &moved)[0].change, Change::WithinNoise);
    }

    #[test]
    fn different_machines_are_named() {
        let old = doc_with(&[("a", vec![1.0])]).meta;
        assert!(machine_differences(&old, &old).is_empty());
        let mut new = old.clone();
        new.host.cpu = "Other CPU".to_owned();
        new.host.logical_cores += 2;
        let said = machine_differences(&old, &new);
        assert_eq!(
            said,
            [
                format!("CPU '{}' vs 'Other CPU'", old.host.cpu),
                format!(
                    "logical cores '{}' vs '{}'",
                    old.host.logical_cores, new.host.logical_cores
                )
            ]
        );
    }

    #[test]
    fn a_pass_without_a_time_is_not_a_median() {
        let old = doc_with(&[("a", vec![1.0, 2.0, 3.0])]);
        let mut new = old.clone();
        new.entries[0].timing = None;
        let rows = compare(&old, &new);
        assert!(rows[0].is_matched());
        assert_eq!(rows[0].change, Change::NotTimed);
        let text = table(&rows).render_text();
        assert!(
            text.contains("not timed") && !text.contains(" pass "),
            "{text}"
        );
        let other = doc_with(&[("b", vec![1.0])]);
        assert!(!compare(&old, &other).iter().any(Row::is_matched));
    }

    #[test]
    fn too_few_samples_are_not_judged() {
        // One timed call each, as `judge run --json` writes: zero-width intervals that never overlap.
        let old = doc_with(&[("a", vec![2.0]), ("b", vec![2.0])]);
        let new = doc_with(&[("a", vec![1.0]), ("b", vec![3.0])]);
        let rows = compare(&old, &new);
        assert!(
            rows.iter().all(|r| r.change == Change::TooFewSamples),
            "{rows:?}"
        );
        // The ratio is still shown; only the judgement is withheld.
        assert!((rows[0].ratio.unwrap() - 0.5).abs() < 1e-12);
        let text = table(&rows).render_text();
        assert!(
            !text.contains(" faster ") && !text.contains(" slower "),
            "{text}"
        );
        assert!(text.contains("not judged (under 6 samples)"), "{text}");
        assert_eq!(summary(&rows), "2 not judged (under 6 samples)");

        // Five samples on one side are still too few, even with the other side well sampled.
        let five = doc_with(&[("a", vec![1.0, 1.0, 1.0, 1.0, 1.0])]);
        let many = doc_with(&[("a", vec![2.0; MIN_SAMPLES_TO_COMPARE])]);
        assert_eq!(compare(&many, &five)[0].change, Change::TooFewSamples);
        // Six each suffice.
        let six = doc_with(&[("a", vec![1.0; MIN_SAMPLES_TO_COMPARE])]);
        assert_eq!(compare(&many, &six)[0].change, Change::Faster);
    }
}
