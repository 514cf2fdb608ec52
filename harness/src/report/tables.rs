//! The results table of a bench, as a [`Table`] (rendered for the terminal or as Markdown), and one-line
//! summaries shared by the terminal, Markdown and HTML outputs.

use crate::commands::format_seconds;
use crate::results::{Entry, Mode};
use crate::table::{Align, Table};
use crate::timing::StopReason;
use crate::verdict::Verdict;

/// `B×S×D×C` of an entry's case.
pub fn shape_cell(entry: &Entry) -> String {
    let s = entry.case.shape;
    format!("{}×{}×{}×{}", s.b, s.s, s.d, s.c)
}

/// The median's 95% confidence interval as ± percent of the median (`±0.4%`), when recorded.
pub fn ci_cell(entry: &Entry) -> String {
    entry
        .timing
        .as_ref()
        .and_then(|t| t.summary.median_rel_err())
        .map(|r| format!("±{:.1}%", 100.0 * r))
        .unwrap_or_default()
}

/// Outliers by side (`0`, `5 high`, `1 low, 2 high`), when recorded.
pub fn outliers_cell(entry: &Entry) -> String {
    entry
        .timing
        .as_ref()
        .and_then(|t| t.summary.outliers)
        .map(|o| match (o.low, o.high) {
            (0, 0) => "0".to_owned(),
            (0, high) => format!("{high} high"),
            (low, 0) => format!("{low} low"),
            (low, high) => format!("{low} low, {high} high"),
        })
        .unwrap_or_default()
}

/// Why sampling stopped, in words.
pub fn stop_cell(entry: &Entry) -> &'static str {
    match entry.timing.as_ref().and_then(|t| t.stop) {
        Some(StopReason::Converged) => "converged",
        Some(StopReason::Budget) => "budget",
        Some(StopReason::MaxSamples) => "max samples",
        None => "",
    }
}

/// Formats a rate with three significant digits (`0.0349`, `12.3`, `1234`).
pub fn rate(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// `mean ± sd` of an entry's samples, when timed.
pub fn mean_cell(entry: &Entry) -> String {
    entry
        .timing
        .as_ref()
        .map(|t| {
            format!(
                "{} ± {}",
                format_seconds(t.summary.mean),
                format_seconds(t.summary.std_dev)
            )
        })
        .unwrap_or_default()
}

/// `p10 … p90` of an entry's samples, when timed.
pub fn spread_cell(entry: &Entry) -> String {
    entry
        .timing
        .as_ref()
        .map(|t| {
            format!(
                "{} … {}",
                format_seconds(t.summary.p10),
                format_seconds(t.summary.p90)
            )
        })
        .unwrap_or_default()
}

/// The table `judge bench` prints and the Markdown report holds.
pub fn bench_table(entries: &[Entry]) -> Table {
    let mut table = Table::new(&[
        ("solution", Align::Left),
        ("case", Align::Left),
        ("mode", Align::Left),
        ("verdict", Align::Left),
        ("median", Align::Right),
        ("95% CI", Align::Right),
        ("mean ± sd", Align::Right),
        ("min", Align::Right),
        ("p10 … p90", Align::Right),
        ("n", Align::Right),
        ("outliers", Align::Right),
        ("GB/s", Align::Right),
        ("GFLOP/s", Align::Right),
        ("speed of light", Align::Right),
        ("note", Align::Left),
    ]);
    for e in entries {
        let timing = e.timing.as_ref();
        let note = match (e.verdict, &e.reason) {
            (Verdict::Pass, Some(r)) => r.clone(),
            (Verdict::Pass, None) if e.mode != Mode::Check => {
                format!("stopped: {}", stop_cell(e))
            }
            (_, r) => r.clone().unwrap_or_default(),
        };
        table.push(vec![
            e.solution.clone(),
            e.case.name.clone(),
            e.mode.to_string(),
            e.verdict.to_string(),
            timing
                .map(|t| format_seconds(t.summary.median))
                .unwrap_or_default(),
            ci_cell(e),
            mean_cell(e),
            timing
                .map(|t| format_seconds(t.summary.min))
                .unwrap_or_default(),
            spread_cell(e),
            timing.map(|t| t.summary.n.to_string()).unwrap_or_default(),
            outliers_cell(e),
            e.derived.map(|d| rate(d.gbps)).unwrap_or_default(),
            e.derived.map(|d| rate(d.gflops)).unwrap_or_default(),
            e.derived
                .and_then(|d| d.speed_of_light)
                .map(|s| s.label())
                .unwrap_or_default(),
            note,
        ]);
    }
    table
}

/// A one-line count of verdicts, such as `4 measurements: 3 pass, 1 skipped`.
pub fn verdict_summary(entries: &[Entry]) -> String {
    let order = [
        Verdict::Pass,
        Verdict::WrongAnswer,
        Verdict::RuntimeError,
        Verdict::Skipped,
    ];
    let counts: Vec<String> = order
        .iter()
        .filter_map(|v| {
            let n = entries.iter().filter(|e| e.verdict == *v).count();
            (n > 0).then(|| format!("{n} {v}"))
        })
        .collect();
    let noun = if entries.len() == 1 {
        "measurement"
    } else {
        "measurements"
    };
    format!("{} {noun}: {}", entries.len(), counts.join(", "))
}
