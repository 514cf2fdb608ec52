//! What the charts and tables show, extracted from a results document: the series (one per solution and
//! mode), the headline case, the S sweep, roofline points and aggregated error profiles. Pure data, no drawing.

use solutions::{Backend, Shape};

use crate::error_profile::ErrorProfile;
use crate::results::{CaseInfo, CpuCeilings, Entry, Mode, ResultsDoc, SpeedOfLight};
use crate::verdict::Verdict;

/// One line of a chart: a solution in one mode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// The solution's name.
    pub solution: String,
    /// The mode.
    pub mode: Mode,
    /// Its position among the document's solutions (for a stable colour).
    pub index: usize,
    /// Whether the document measured this solution in more than one mode (then the label names the mode).
    pub multi_mode: bool,
}

impl SeriesKey {
    /// `cpu-naive`, or `cuda-smem (cold)` when the solution was measured in several modes; control characters
    /// and direction overrides in the name (a submission's file name) written as visible escapes
    /// ([`crate::escape::for_terminal`]), as every chart shows it.
    pub fn label(&self) -> String {
        let name = crate::escape::for_terminal(&self.solution);
        if self.multi_mode {
            format!("{name} ({})", self.mode)
        } else {
            name.into_owned()
        }
    }
}

/// The solutions of a document in order of first appearance.
pub fn solutions(doc: &ResultsDoc) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &doc.entries {
        if !out.contains(&e.solution) {
            out.push(e.solution.clone());
        }
    }
    out
}

/// The series key of `entry` within `doc`.
pub fn key(doc: &ResultsDoc, entry: &Entry) -> SeriesKey {
    let index = solutions(doc)
        .iter()
        .position(|s| *s == entry.solution)
        .unwrap_or(0);
    let multi_mode = doc
        .entries
        .iter()
        .any(|e| e.solution == entry.solution && e.mode != entry.mode && e.mode != Mode::Check);
    SeriesKey {
        solution: entry.solution.clone(),
        mode: entry.mode,
        index,
        multi_mode,
    }
}

/// Entries that passed and were timed by repeated sampling (not single check calls).
pub fn timed(doc: &ResultsDoc) -> impl Iterator<Item = &Entry> {
    doc.entries
        .iter()
        .filter(|e| e.verdict == Verdict::Pass && e.mode != Mode::Check && e.timing.is_some())
}

/// The case the "time per variant" chart shows: the perf shape when measured, else the measured case that
/// moves the most bytes.
pub fn headline_case(doc: &ResultsDoc) -> Option<CaseInfo> {
    let measured: Vec<&Entry> = doc
        .entries
        .iter()
        .filter(|e| e.mode != Mode::Check)
        .collect();
    measured
        .iter()
        .find(|e| e.case.shape == Shape::PERF && e.timing.is_some())
        .or_else(|| {
            measured
                .iter()
                .filter(|e| e.timing.is_some())
                .max_by_key(|e| e.case.shape.min_bytes())
        })
        .or_else(|| measured.first())
        .map(|e| e.case.clone())
}

/// The CPU's lower bounds on the time of `shape`, in seconds: reduced-form FLOPs at the FMA peak, and the
/// minimal bytes at the read bandwidth.
pub fn cpu_floors(shape: Shape, cpu: &CpuCeilings) -> (f64, f64) {
    (
        shape.reduced_flops() as f64 / (cpu.fma_gflops * 1e9),
        shape.min_bytes() as f64 / (cpu.read_gbps * 1e9),
    )
}

/// The device-copy time recorded with an entry, when it was measured against one: a reference, not a floor (the
/// copy reads and writes the minimal bytes, a solve moves them once).
pub fn copy_reference(entry: &Entry) -> Option<f64> {
    match entry.derived?.speed_of_light? {
        SpeedOfLight::DeviceCopy { copy_s, .. } => Some(copy_s),
        SpeedOfLight::FmaPeak { .. } => None,
    }
}

/// A timed point: median and spread, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimePoint {
    /// Median.
    pub median: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Half-width of the median's confidence interval over the median, when known.
    pub rel_err: Option<f64>,
}

impl TimePoint {
    /// The point of a timed entry.
    pub fn of(entry: &Entry) -> Option<Self> {
        let s = &entry.timing.as_ref()?.summary;
        Some(Self {
            median: s.median,
            p10: s.p10,
            p90: s.p90,
            rel_err: s.median_rel_err(),
        })
    }
}

/// One row of the "time per variant" chart.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantRow {
    /// The series.
    pub key: SeriesKey,
    /// The solution's backend (which floors apply to the row).
    pub backend: Backend,
    /// The time, when timed.
    pub time: Option<TimePoint>,
    /// The verdict (why there is no time when there is none).
    pub verdict: Verdict,
}

/// The rows of the "time per variant" chart at `case`: timed ones fastest first, then the others.
pub fn variant_rows(doc: &ResultsDoc, case: &CaseInfo) -> Vec<VariantRow> {
    let mut rows: Vec<VariantRow> = doc
        .entries
        .iter()
        .filter(|e| e.case.name == case.name && e.case.shape == case.shape && e.mode != Mode::Check)
        .map(|e| VariantRow {
            key: key(doc, e),
            backend: e.backend,
            time: if e.verdict == Verdict::Pass {
                TimePoint::of(e)
            } else {
                None
            },
            verdict: e.verdict,
        })
        .collect();
    rows.sort_by(|a, b| match (&a.time, &b.time) {
        (Some(x), Some(y)) => x.median.total_cmp(&y.median),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.key.index.cmp(&b.key.index),
    });
    rows
}

/// The entries of an S sweep: shapes sharing B, D and C with several values of S.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The fixed dimensions: B, D, C.
    pub fixed: (usize, usize, usize),
    /// Every value of S measured, ascending.
    pub s_values: Vec<usize>,
    /// Per series, `(S, time)` ascending in S.
    pub series: Vec<(SeriesKey, Vec<(usize, TimePoint)>)>,
    /// Device-copy times per mode, `(S, seconds)`, when GPU entries carry them.
    pub copy_references: Vec<(Mode, Vec<(usize, f64)>)>,
}

/// The largest S sweep among the timed entries (most distinct S, at least two), if any.
pub fn s_sweep(doc: &ResultsDoc) -> Option<Sweep> {
    let mut groups: Vec<((usize, usize, usize), Vec<usize>)> = Vec::new();
    for e in timed(doc) {
        let s = e.case.shape;
        let fixed = (s.b, s.d, s.c);
        match groups.iter_mut().find(|(f, _)| *f == fixed) {
            Some((_, values)) => {
                if !values.contains(&s.s) {
                    values.push(s.s);
                }
            }
            None => groups.push((fixed, vec![s.s])),
        }
    }
    let (fixed, mut s_values) = groups
        .into_iter()
        .filter(|(_, v)| v.len() >= 2)
        .max_by_key(|(_, v)| v.len())?;
    s_values.sort_unstable();
    let in_sweep = |e: &&Entry| {
        let s = e.case.shape;
        (s.b, s.d, s.c) == fixed
    };
    let mut series: Vec<(SeriesKey, Vec<(usize, TimePoint)>)> = Vec::new();
    let mut copy_references: Vec<(Mode, Vec<(usize, f64)>)> = Vec::new();
    for e in timed(doc).filter(in_sweep) {
        let Some(point) = TimePoint::of(e) else {
            continue;
        };
        let k = key(doc, e);
        match series.iter_mut().find(|(sk, _)| *sk == k) {
            Some((_, points)) => points.push((e.case.shape.s, point)),
            None => series.push((k, vec![(e.case.shape.s, point)])),
        }
        if let (Some(copy), Backend::Cuda) = (copy_reference(e), e.backend) {
            match copy_references.iter_mut().find(|(m, _)| *m == e.mode) {
                Some((_, v)) => {
                    if !v.iter().any(|(s, _)| *s == e.case.shape.s) {
                        v.push((e.case.shape.s, copy));
                    }
                }
                None => copy_references.push((e.mode, vec![(e.case.shape.s, copy)])),
            }
        }
    }
    for (_, points) in &mut series {
        points.sort_by_key(|(s, _)| *s);
        points.dedup_by_key(|(s, _)| *s);
    }
    for (_, v) in &mut copy_references {
        v.sort_by_key(|(s, _)| *s);
    }
    Some(Sweep {
        fixed,
        s_values,
        series,
        copy_references,
    })
}

/// One point of the roofline: a timed entry's arithmetic intensity and achieved bandwidth.
#[derive(Debug, Clone, PartialEq)]
pub struct RooflinePoint {
    /// The series.
    pub key: SeriesKey,
    /// Reduced-form FLOPs per minimal byte, in flop/byte.
    pub intensity: f64,
    /// Minimal bytes over the median time, in GB/s.
    pub gbps: f64,
    /// The backend.
    pub backend: Backend,
}

/// Every timed entry as a roofline point.
pub fn roofline_points(doc: &ResultsDoc) -> Vec<RooflinePoint> {
    timed(doc)
        .filter_map(|e| {
            let median = e.median_s()?;
            let shape = e.case.shape;
            let bytes = shape.min_bytes() as f64;
            Some(RooflinePoint {
                key: key(doc, e),
                intensity: shape.reduced_flops() as f64 / bytes,
                gbps: bytes / median / 1e9,
                backend: e.backend,
            })
        })
        .collect()
}

/// The device-copy bandwidths (GB/s) of the GPU entries, per mode: the GPU's measured ceiling.
pub fn copy_bandwidths(doc: &ResultsDoc) -> Vec<(Mode, f64)> {
    let mut out: Vec<(Mode, f64)> = Vec::new();
    for e in timed(doc).filter(|e| e.backend == Backend::Cuda) {
        if let Some(copy) = copy_reference(e) {
            let gbps = e.case.shape.min_bytes() as f64 / copy / 1e9;
            match out.iter_mut().find(|(m, _)| *m == e.mode) {
                Some((_, best)) => *best = best.max(gbps),
                None => out.push((e.mode, gbps)),
            }
        }
    }
    out
}

/// Per solution, the error profiles of every case it was checked on, merged (each case counted once).
pub fn error_profiles(doc: &ResultsDoc) -> Vec<(SeriesKey, ErrorProfile, usize)> {
    let mut out: Vec<(SeriesKey, ErrorProfile, Vec<String>)> = Vec::new();
    for e in &doc.entries {
        let Some(profile) = &e.errors else {
            continue;
        };
        let mut k = key(doc, e);
        // Every mode shares the one check of a case: one line per solution.
        k.mode = Mode::Check;
        k.multi_mode = false;
        match out.iter_mut().find(|(sk, _, _)| sk.solution == k.solution) {
            Some((_, merged, cases)) => {
                if !cases.contains(&e.case.name) && merged.merge(profile) {
                    cases.push(e.case.name.clone());
                }
            }
            None => out.push((k, profile.clone(), vec![e.case.name.clone()])),
        }
    }
    out.into_iter()
        .map(|(k, p, cases)| (k, p, cases.len()))
        .collect()
}
