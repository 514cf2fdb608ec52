//! The results table of a bench, as a [`Table`] (rendered for the terminal or as Markdown), and one-line
//! summaries shared by the terminal, Markdown and HTML outputs.

use solutions::Backend;

use crate::commands::format_seconds;
use crate::meta::GpuInfo;
use crate::results::{Entry, GpuMethod, Mode, Reference, ResultsDoc, SlowerCopy};
use crate::table::{Align, Notes, Table, group_thousands};
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

/// The table `judge bench` prints and the Markdown report holds, and the notes below it: the reason a variant was
/// skipped, the same on every case, is given once in a note (the row says which).
pub fn bench_table(entries: &[Entry]) -> (Table, Notes) {
    let mut notes = Notes::default();
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
            (Verdict::Skipped, Some(r)) => notes.refer(r, &e.solution),
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
    (table, notes)
}

/// A one-line count of verdicts, such as `4 measurements: 3 pass, 1 skipped`.
pub fn verdict_summary(entries: &[Entry]) -> String {
    let verdicts: Vec<Verdict> = entries.iter().map(|e| e.verdict).collect();
    crate::verdict::count_line(&verdicts, ("measurement", "measurements"))
}

/// The GPU in one line: `GPU: NVIDIA H100 80GB HBM3 (compute capability 9.0, 132 SMs, 50 MiB L2, 79.2 GiB),
/// driver 580.159.04 (CUDA 13.0), NVRTC 13.0`.
pub fn gpu_line(gpu: &GpuInfo) -> String {
    let mut parts = vec![format!("compute capability {}", gpu.compute_capability)];
    if let Some(sms) = gpu.multiprocessors {
        parts.push(format!("{sms} SMs"));
    }
    if let Some(l2) = gpu.l2_bytes {
        parts.push(format!("{} MiB L2", l2 >> 20));
    }
    parts.push(format!(
        "{:.1} GiB",
        gpu.memory_bytes as f64 / (1u64 << 30) as f64
    ));
    let nvrtc = gpu
        .nvrtc
        .as_ref()
        .map(|n| format!(", NVRTC {n}"))
        .unwrap_or_default();
    format!(
        "GPU: {} ({}), driver {}{nvrtc}",
        gpu.name,
        parts.join(", "),
        gpu.driver
    )
}

/// How GPU times were taken, in two sentences: the method, each mode's cache regime, and the floor of the
/// method.
pub fn gpu_method_text(method: &GpuMethod) -> String {
    let floor = match (method.empty_kernel_warm_s, method.empty_kernel_cold_s) {
        (Some(w), Some(c)) => format!(
            " Floor of the method (an empty kernel timed the same way): {} warm, {} cold.",
            format_seconds(w),
            format_seconds(c)
        ),
        (Some(t), None) | (None, Some(t)) => format!(
            " Floor of the method (an empty kernel timed the same way): {}.",
            format_seconds(t)
        ),
        (None, None) => String::new(),
    };
    format!(
        "GPU times: CUDA events around one solve, the stream held until the whole call is queued, a \
         device-wide synchronize after each sample. Warm: {}; cold: {} (no input bytes and no dirty lines in \
         L2).{floor}",
        method.warm.describe(),
        method.cold.describe()
    )
}

/// The device copies of one case that GPU variants were compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseCopies {
    /// The case's name.
    pub case: String,
    /// Bytes copied (the case's minimal byte count).
    pub bytes: u64,
    /// The copy measured in each mode.
    pub by_mode: Vec<(Mode, Reference)>,
}

impl CaseCopies {
    /// The copy measured in `mode`, if any.
    pub fn get(&self, mode: Mode) -> Option<&Reference> {
        self.by_mode
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, r)| r)
    }
}

/// The device-copy references GPU entries carry, per case in entry order.
pub fn copy_references(doc: &ResultsDoc) -> Vec<CaseCopies> {
    let mut out: Vec<CaseCopies> = Vec::new();
    for e in doc.entries.iter().filter(|e| e.backend == Backend::Cuda) {
        let Some(reference) = e.timing.as_ref().and_then(|t| t.reference.as_ref()) else {
            continue;
        };
        let i = match out.iter().position(|c| c.case == e.case.name) {
            Some(i) => i,
            None => {
                out.push(CaseCopies {
                    case: e.case.name.clone(),
                    bytes: reference.bytes,
                    by_mode: Vec::new(),
                });
                out.len() - 1
            }
        };
        if out[i].get(e.mode).is_none() {
            out[i].by_mode.push((e.mode, reference.clone()));
        }
    }
    out
}

/// The device copies GPU times were compared with ("× copy"), one row per case: median warm and cold, the
/// copy's bandwidth (bytes read + written over the median), which way of copying was the faster and so the
/// reference, the slower way's medians, and the cold copy after a memset flush when `--compare-flush` measured
/// it. `None` when no entry carries a copy.
pub fn copy_table(doc: &ResultsDoc) -> Option<Table> {
    let rows = copy_references(doc);
    if rows.is_empty() {
        return None;
    }
    let comparison = doc
        .meta
        .gpu_timing
        .as_ref()
        .map(|m| m.flush_comparison.as_slice())
        .unwrap_or_default();
    let mut headers = vec![
        ("case", Align::Left),
        ("bytes", Align::Right),
        ("copy warm", Align::Right),
        ("copy cold", Align::Right),
        ("copy GB/s warm / cold", Align::Right),
        ("copied by, warm / cold", Align::Left),
        ("slower way, warm / cold", Align::Left),
    ];
    if !comparison.is_empty() {
        headers.push(("cold after a memset flush", Align::Right));
    }
    let mut table = Table::new(&headers);
    for copies in rows {
        let time = |mode| {
            copies
                .get(mode)
                .map(|r| format_seconds(r.summary.median))
                .unwrap_or_default()
        };
        let gbps = |mode| {
            copies
                .get(mode)
                .map(|r| rate(2.0 * r.bytes as f64 / r.summary.median / 1e9))
                .unwrap_or_else(|| "–".to_owned())
        };
        let by = |mode| {
            copies
                .get(mode)
                .map(|r| r.kind.label().to_owned())
                .unwrap_or_else(|| "–".to_owned())
        };
        let slower = |mode| copies.get(mode).and_then(|r| r.slower);
        let slower = match (slower(Mode::Warm), slower(Mode::Cold)) {
            (Some(w), Some(c)) if w.kind == c.kind => format!(
                "{} {} / {}",
                w.kind.label(),
                format_seconds(w.median_s),
                format_seconds(c.median_s)
            ),
            (w, c) => {
                let one = |s: Option<SlowerCopy>| {
                    s.map(|s| format!("{} {}", s.kind.label(), format_seconds(s.median_s)))
                        .unwrap_or_else(|| "–".to_owned())
                };
                format!("{} / {}", one(w), one(c))
            }
        };
        let mut row = vec![
            copies.case.clone(),
            group_thousands(copies.bytes),
            time(Mode::Warm),
            time(Mode::Cold),
            format!("{} / {}", gbps(Mode::Warm), gbps(Mode::Cold)),
            format!("{} / {}", by(Mode::Warm), by(Mode::Cold)),
            slower,
        ];
        if !comparison.is_empty() {
            row.push(
                comparison
                    .iter()
                    .find(|c| c.bytes == copies.bytes)
                    .map(|c| format_seconds(c.memset_flush_s))
                    .unwrap_or_default(),
            );
        }
        table.push(row);
    }
    Some(table)
}
