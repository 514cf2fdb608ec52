//! The report's charts, drawn with plotters on any backend: PNG files (bitmap, with the embedded font) and
//! SVG text for inlining in the HTML page. Each chart first extracts its data ([`super::analysis`]); a chart
//! whose data the document lacks is skipped with a reason instead of drawn empty.
//!
//! Legends are drawn in a strip under the plot, never over the data.

use std::error::Error;
use std::fmt::Display;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use solutions::{Backend, Shape};

use super::analysis::{
    self, RooflinePoint, SeriesKey, Sweep, TimePoint, VariantRow, copy_bandwidths, cpu_floors,
};
use super::font;
use crate::commands::format_seconds;
use crate::error_profile::ErrorProfile;
use crate::results::{CaseInfo, CpuCeilings, Mode, ResultsDoc};
use crate::table::group_thousands;
use crate::verdict::Verdict;

/// Chart size in pixels (PNG) or user units (SVG).
pub const SIZE: (u32, u32) = (1000, 600);

const TITLE_PX: u32 = 24;
const LABEL_PX: u32 = 16;
const DESC_PX: u32 = 17;
const LEGEND_PX: u32 = 16;
const LEGEND_ROW_PX: u32 = 26;

/// Colour-blind-safe series colours (Okabe and Ito), yellow left out for contrast on white.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];
const FLOOR: RGBColor = RGBColor(70, 70, 70);
const BANDWIDTH: RGBColor = RGBColor(150, 150, 150);
const TOLERANCE: RGBColor = RGBColor(200, 30, 30);
const MUTED: RGBColor = RGBColor(110, 110, 110);
const COPY_WARM: RGBColor = RGBColor(150, 105, 30);
const COPY_COLD: RGBColor = RGBColor(140, 80, 160);

/// The colour of a device-copy floor: the cold one differs from the warm one.
fn copy_colour(mode: Mode) -> RGBColor {
    if mode == Mode::Cold {
        COPY_COLD
    } else {
        COPY_WARM
    }
}

/// The legend mark of a series: hollow for cold mode, as its points are drawn.
fn series_mark(key: &SeriesKey) -> Mark {
    if key.mode == Mode::Cold {
        Mark::HollowLine
    } else {
        Mark::Line
    }
}

/// The charts a report can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChartKind {
    /// Median time of every variant at the headline case, with the floors.
    TimePerVariant,
    /// Median time against S for every variant, log-log, with the floors.
    TimeVsS,
    /// Achieved bandwidth against arithmetic intensity under the measured ceilings.
    Roofline,
    /// Distribution of element errors against the oracle, in units of the tolerance.
    Errors,
}

impl ChartKind {
    /// Every chart, in report order.
    pub const ALL: [ChartKind; 4] = [
        ChartKind::TimePerVariant,
        ChartKind::TimeVsS,
        ChartKind::Roofline,
        ChartKind::Errors,
    ];

    /// The PNG file name, without extension.
    pub const fn file_stem(self) -> &'static str {
        match self {
            ChartKind::TimePerVariant => "time-per-variant",
            ChartKind::TimeVsS => "time-vs-s",
            ChartKind::Roofline => "roofline",
            ChartKind::Errors => "errors",
        }
    }

    /// The heading of the chart in the report.
    pub const fn heading(self) -> &'static str {
        match self {
            ChartKind::TimePerVariant => "Time per variant",
            ChartKind::TimeVsS => "Time against S",
            ChartKind::Roofline => "Roofline",
            ChartKind::Errors => "Errors against the oracle",
        }
    }

    /// How to read the chart, one paragraph.
    pub const fn how_to_read(self) -> &'static str {
        match self {
            ChartKind::TimePerVariant => {
                "Median time of one call per variant at the headline case (log scale; shorter is faster), \
                 fastest at the top; pale bars are cold. The whisker spans the 10th to 90th percentile of \
                 the samples. Dashed lines are drawn across the rows they apply to. For CPU variants they are \
                 floors: the reduced form's FLOPs at the measured FMA peak and the minimal bytes at the \
                 measured read bandwidth. For GPU variants the line is a reference, a device copy of the same \
                 bytes timed the same way in the same mode (×1 copy); the copy reads and writes those bytes \
                 while a solve moves them once, so a solve can beat it. Variants without a bar were not timed \
                 (skipped, or a wrong answer)."
            }
            ChartKind::TimeVsS => {
                "Median time against the number of keys S with B, D and C fixed (log-log); hollow points are \
                 cold. A line of slope 1 means time proportional to S; a flatter start means fixed costs \
                 (launch, threads) dominate small cases. Dashed lines are, at each S, the CPU's floors and, \
                 for GPU variants, a device copy of the same bytes in each mode (a reference the copy's \
                 double traffic lets a solve beat)."
            }
            ChartKind::Roofline => {
                "Each point is one measured case: its arithmetic intensity (reduced-form FLOPs per minimal \
                 byte, fixed by the shape) and the bandwidth it achieved (minimal bytes over median time). \
                 The solid line is the CPU's roof: the measured read bandwidth, then, past the ridge, the \
                 measured FMA peak divided by the intensity. A dashed line is where a GPU variant would be \
                 if it took as long as a device copy of its bytes (the fastest copy measured, per mode; the \
                 copy itself moves twice those bytes, read and written). The gap between a point and its \
                 roof is what is left."
            }
            ChartKind::Errors => {
                "How far each variant's output elements are from the f64 oracle, in units of what the \
                 tolerance allows each element (|x - ref| / (atol + rtol·|ref|)); an element passes when \
                 this is at most 1 (the red line). Each variant's line covers every element of every case \
                 it was checked on. Plain f32 arithmetic lands around 1e-4; mass right of the line is a \
                 wrong answer."
            }
        }
    }
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("chart '{chart}': {message}")]
pub struct ChartError {
    /// The chart's file stem.
    pub chart: &'static str,
    /// What went wrong.
    pub message: String,
}

type Drawn = Result<(), Box<dyn Error>>;

/// A floor of the "time per variant" chart: drawn across the rows of the backend (and mode) it bounds.
struct RowFloor {
    label: String,
    seconds: f64,
    colour: RGBColor,
    backend: Backend,
    /// `None`: every mode of the backend.
    mode: Option<Mode>,
}

impl RowFloor {
    fn applies_to(&self, row: &VariantRow) -> bool {
        row.backend == self.backend && self.mode.is_none_or(|m| m == row.key.mode)
    }
}

enum Data {
    PerVariant {
        case: CaseInfo,
        rows: Vec<VariantRow>,
        floors: Vec<RowFloor>,
    },
    Sweep {
        sweep: Sweep,
        cpu: Option<CpuCeilings>,
        has_cpu: bool,
    },
    Roofline {
        points: Vec<RooflinePoint>,
        cpu: Option<CpuCeilings>,
        copies: Vec<(Mode, f64)>,
    },
    Errors {
        profiles: Vec<(SeriesKey, ErrorProfile, usize)>,
    },
}

/// The values a log axis is drawn over: far beyond any time (in seconds) or rate that a document holds, and far
/// enough inside the range of `f64` that the axis and its margins stay finite.
const LOG_AXIS_RANGE: std::ops::RangeInclusive<f64> = 1e-100..=1e100;

/// The widest range a log axis is drawn over, as a ratio of its largest value to its smallest: 30 decades.
const MAX_LOG_SPAN: f64 = 1e30;

/// Refuses values that a log axis cannot show: one that is not positive (a time of 0 s) or not finite (the rate
/// of a time of 0 s), one outside [`LOG_AXIS_RANGE`], or a set spanning more than [`MAX_LOG_SPAN`]; `what` names
/// each value for the reason.
fn check_log_axis(values: impl IntoIterator<Item = (String, f64)>) -> Result<(), String> {
    let mut smallest: Option<(String, f64)> = None;
    let mut largest: Option<(String, f64)> = None;
    for (what, v) in values {
        if !LOG_AXIS_RANGE.contains(&v) {
            let value = if v.is_finite() && v != 0.0 {
                format!("{v:.3e}")
            } else {
                v.to_string()
            };
            return Err(format!("{what} is {value}, which a log axis cannot show"));
        }
        if smallest.as_ref().is_none_or(|(_, s)| v < *s) {
            smallest = Some((what.clone(), v));
        }
        if largest.as_ref().is_none_or(|(_, l)| v > *l) {
            largest = Some((what, v));
        }
    }
    match (smallest, largest) {
        (Some((small, lo)), Some((large, hi))) if hi / lo > MAX_LOG_SPAN => Err(format!(
            "{small} ({lo:.3e}) and {large} ({hi:.3e}) are too far apart to draw on one axis"
        )),
        _ => Ok(()),
    }
}

/// The values of a time point that a log axis shows, named after `who`.
fn time_values(who: &str, t: &TimePoint) -> [(String, f64); 3] {
    [
        (format!("the median time of {who}"), t.median),
        (format!("the 10th percentile time of {who}"), t.p10),
        (format!("the 90th percentile time of {who}"), t.p90),
    ]
}

/// The values of the CPU's measured ceilings, which the floors and roofs are drawn from.
fn ceiling_values(cpu: &CpuCeilings) -> [(String, f64); 2] {
    [
        ("the measured FMA peak".to_owned(), cpu.fma_gflops),
        ("the measured read bandwidth".to_owned(), cpu.read_gbps),
    ]
}

impl Data {
    /// Refuses data whose log axes cannot be drawn (see [`check_log_axis`]), naming the value.
    fn check_log_axes(&self) -> Result<(), String> {
        match self {
            Data::PerVariant { rows, floors, .. } => check_log_axis(
                rows.iter()
                    .filter_map(|r| r.time.as_ref().map(|t| time_values(&r.key.label(), t)))
                    .flatten()
                    .chain(floors.iter().map(|f| (f.label.clone(), f.seconds))),
            ),
            Data::Sweep { sweep, cpu, .. } => {
                check_log_axis(cpu.iter().flat_map(ceiling_values))?;
                check_log_axis(
                    sweep
                        .series
                        .iter()
                        .flat_map(|(k, points)| {
                            points.iter().flat_map(move |(s, t)| {
                                time_values(&format!("{} at S={s}", k.label()), t)
                            })
                        })
                        .chain(sweep.copy_references.iter().flat_map(|(mode, points)| {
                            points.iter().map(move |(s, v)| {
                                (format!("the device copy time ({mode}) at S={s}"), *v)
                            })
                        })),
                )
            }
            Data::Roofline {
                points,
                cpu,
                copies,
            } => {
                check_log_axis(cpu.iter().flat_map(ceiling_values))?;
                check_log_axis(
                    points
                        .iter()
                        .map(|p| {
                            (
                                format!("the arithmetic intensity of {}", p.key.label()),
                                p.intensity,
                            )
                        })
                        .chain(cpu.iter().map(|c| {
                            ("the CPU's ridge intensity".to_owned(), c.ridge_intensity())
                        })),
                )?;
                check_log_axis(
                    points
                        .iter()
                        .map(|p| {
                            (
                                format!("the achieved bandwidth of {}", p.key.label()),
                                p.gbps,
                            )
                        })
                        .chain(
                            cpu.iter()
                                .map(|c| ("the measured read bandwidth".to_owned(), c.read_gbps)),
                        )
                        .chain(copies.iter().map(|(mode, gbps)| {
                            (format!("the device copy bandwidth ({mode})"), *gbps)
                        })),
                )
            }
            Data::Errors { .. } => Ok(()),
        }
    }
}

/// A chart with its data, ready to draw.
pub struct Chart {
    kind: ChartKind,
    data: Data,
}

/// Why a chart that needs timed variants has nothing to draw.
const NOTHING_TIMED: &str =
    "no variant was timed in these results (each was skipped or failed; the table says why)";

impl Chart {
    /// Extracts the data of `kind` from `doc`; `Err` says why the document cannot fill this chart.
    pub fn prepare(kind: ChartKind, doc: &ResultsDoc) -> Result<Chart, String> {
        let data = match kind {
            ChartKind::TimePerVariant => {
                let case = analysis::headline_case(doc)
                    .ok_or("no solution was measured in these results")?;
                let rows = analysis::variant_rows(doc, &case);
                if rows.iter().all(|r| r.time.is_none()) {
                    return Err(format!("no variant was timed at case '{}'", case.name));
                }
                let mut floors = Vec::new();
                let has_cpu = doc.entries.iter().any(|e| {
                    e.backend == Backend::Cpu && e.case.name == case.name && e.timing.is_some()
                });
                if let (Some(cpu), true) = (&doc.meta.cpu_peak, has_cpu) {
                    let (fma, bw) = cpu_floors(case.shape, cpu);
                    floors.push(RowFloor {
                        label: format!("CPU FMA-peak floor ({:.0} GFLOP/s)", cpu.fma_gflops),
                        seconds: fma,
                        colour: FLOOR,
                        backend: Backend::Cpu,
                        mode: None,
                    });
                    floors.push(RowFloor {
                        label: format!("CPU read-bandwidth floor ({:.1} GB/s)", cpu.read_gbps),
                        seconds: bw,
                        colour: BANDWIDTH,
                        backend: Backend::Cpu,
                        mode: None,
                    });
                }
                for e in doc
                    .entries
                    .iter()
                    .filter(|e| e.case.name == case.name && e.case.shape == case.shape)
                {
                    if let Some(copy) = analysis::copy_reference(e)
                        && !floors
                            .iter()
                            .any(|f| f.backend == e.backend && f.mode == Some(e.mode))
                    {
                        floors.push(RowFloor {
                            label: format!(
                                "device copy of the same bytes, {} ({})",
                                e.mode,
                                format_seconds(copy)
                            ),
                            seconds: copy,
                            colour: copy_colour(e.mode),
                            backend: e.backend,
                            mode: Some(e.mode),
                        });
                    }
                }
                Data::PerVariant { case, rows, floors }
            }
            ChartKind::TimeVsS if analysis::timed(doc).next().is_none() => {
                return Err(NOTHING_TIMED.to_owned());
            }
            ChartKind::TimeVsS => {
                let sweep = analysis::s_sweep(doc).ok_or(
                    "these results hold no sweep of S (run `judge bench --preset scaling` or --axis S=…)",
                )?;
                let has_cpu = analysis::timed(doc).any(|e| e.backend == Backend::Cpu);
                Data::Sweep {
                    sweep,
                    cpu: doc.meta.cpu_peak.clone(),
                    has_cpu,
                }
            }
            ChartKind::Roofline => {
                let points = analysis::roofline_points(doc);
                if points.is_empty() {
                    return Err("no variant was timed in these results".to_owned());
                }
                let copies = copy_bandwidths(doc);
                let cpu = doc.meta.cpu_peak.clone();
                if cpu.is_none() && copies.is_empty() {
                    return Err(
                        "these results hold no measured ceilings (CPU peak or device copy)"
                            .to_owned(),
                    );
                }
                Data::Roofline {
                    points,
                    cpu,
                    copies,
                }
            }
            ChartKind::Errors => {
                // Wrong answers carry error profiles though they are never timed.
                let profiles = analysis::error_profiles(doc);
                if profiles.is_empty() {
                    return Err(if analysis::timed(doc).next().is_none() {
                        NOTHING_TIMED.to_owned()
                    } else {
                        "these results hold no error profiles (written by `judge bench`)".to_owned()
                    });
                }
                Data::Errors { profiles }
            }
        };
        data.check_log_axes()?;
        Ok(Chart { kind, data })
    }

    /// Which chart this is.
    pub fn kind(&self) -> ChartKind {
        self.kind
    }

    /// Draws the chart into a PNG file: drawn and encoded in memory, then written as every output of the judge
    /// is ([`crate::io::write_atomically`]), so that a reader never sees half a chart and a failed write (a full
    /// disk) leaves none behind.
    pub fn png(&self, path: &Path) -> Result<(), ChartError> {
        use image::ImageEncoder as _;
        self.font()?;
        let (width, height) = SIZE;
        let mut rgb = vec![0u8; width as usize * height as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
            self.draw(&root).map_err(|e| self.error(e))?;
            root.present().map_err(|e| self.error(e))?;
        }
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&rgb, width, height, image::ColorType::Rgb8)
            .map_err(|e| self.error(e))?;
        crate::io::write_atomically(path, &png).map_err(|e| self.error(e))
    }

    /// Draws the chart as SVG text.
    pub fn svg(&self) -> Result<String, ChartError> {
        self.font()?;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
            self.draw(&root).map_err(|e| self.error(e))?;
            root.present().map_err(|e| self.error(e))?;
        }
        Ok(out)
    }

    fn font(&self) -> Result<(), ChartError> {
        if font::ensure_registered() {
            Ok(())
        } else {
            Err(self.error("the embedded font could not be loaded"))
        }
    }

    fn error(&self, e: impl Display) -> ChartError {
        ChartError {
            chart: self.kind.file_stem(),
            message: e.to_string(),
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        match &self.data {
            Data::PerVariant { case, rows, floors } => time_per_variant(root, case, rows, floors),
            Data::Sweep {
                sweep,
                cpu,
                has_cpu,
            } => time_vs_s(root, sweep, cpu.as_ref().filter(|_| *has_cpu)),
            Data::Roofline {
                points,
                cpu,
                copies,
            } => roofline(root, points, cpu.as_ref(), copies),
            Data::Errors { profiles } => errors(root, profiles),
        }
    }
}

/// A colour for a series: its solution's palette slot.
fn colour(key: &SeriesKey) -> RGBColor {
    PALETTE[key.index % PALETTE.len()]
}

/// The shape of a series' points. The palette's colours come round again after its seven, each round with
/// another shape, so that the first 28 solutions of a document are told apart by colour and shape together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dot {
    Circle,
    Square,
    Triangle,
    Diamond,
}

/// The shape of a series' points: its round of the palette.
fn dot_shape(key: &SeriesKey) -> Dot {
    [Dot::Circle, Dot::Square, Dot::Triangle, Dot::Diamond][(key.index / PALETTE.len()) % 4]
}

/// The outline of a point of `shape`, `radius` pixels from its centre, as pixel offsets from it, closed (its
/// first point repeated at the end): drawn as a polygon when filled (warm mode) and as a path when hollow
/// (cold mode), one element type each for every shape.
fn dot_outline(shape: Dot, radius: i32) -> Vec<(i32, i32)> {
    let r = radius;
    let mut points: Vec<(i32, i32)> = match shape {
        Dot::Circle => (0..16)
            .map(|k| {
                let a = f64::from(k) * std::f64::consts::PI / 8.0;
                let at = |x: f64| (f64::from(r) * x).round() as i32;
                (at(a.cos()), at(a.sin()))
            })
            .collect(),
        Dot::Square => {
            let h = r * 4 / 5;
            vec![(-h, -h), (h, -h), (h, h), (-h, h)]
        }
        Dot::Triangle => vec![(0, -r), (r, r * 3 / 4), (-r, r * 3 / 4)],
        Dot::Diamond => vec![(0, -r), (r, 0), (0, r), (-r, 0)],
    };
    points.push(points[0]);
    points
}

/// The unit a time axis is drawn in: chosen so the largest value reads naturally.
#[derive(Debug, Clone, Copy)]
struct TimeUnit {
    per_second: f64,
    name: &'static str,
}

fn time_unit(largest_s: f64) -> TimeUnit {
    if largest_s < 2e-3 {
        TimeUnit {
            per_second: 1e6,
            name: "µs",
        }
    } else if largest_s < 2.0 {
        TimeUnit {
            per_second: 1e3,
            name: "ms",
        }
    } else {
        TimeUnit {
            per_second: 1.0,
            name: "s",
        }
    }
}

/// Tick values of a log axis over `[lo, hi]`: labelled ones (1, 2, 5 × 10^k up to four decades, 10^k beyond
/// ones, every 1..9 × 10^k on ranges under about a decade) and light grid lines (every 1..9 × 10^k), so
/// labels never crowd whatever the range.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    // Outside these, a decade's exponent would not bound the loop below.
    if !(lo > 0.0 && hi.is_finite() && lo <= hi) {
        return (Vec::new(), Vec::new());
    }
    let d = decades(lo, hi);
    let all: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let labelled: &[f64] = if d <= 1.2 {
        all
    } else if d <= 4.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let every = if d > 8.0 { 2 } else { 1 };
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mut bold = Vec::new();
    let mut light = Vec::new();
    for k in k0..=k1 {
        let decade = 10f64.powi(k);
        for &m in all {
            let v = m * decade;
            if v < lo || v > hi {
                continue;
            }
            if labelled.contains(&m) && (m != 1.0 || k.rem_euclid(every) == 0) {
                bold.push(v);
            } else if d <= 6.0 {
                light.push(v);
            }
        }
    }
    (bold, light)
}

/// A number with at most three significant digits and no trailing zeros (`0.005`, `2.5`, `1200`).
fn compact_number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let digits = (2 - value.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Decades spanned by `[lo, hi]`.
fn decades(lo: f64, hi: f64) -> f64 {
    (hi / lo).log10()
}

/// One item of a legend strip.
struct LegendItem {
    label: String,
    colour: RGBColor,
    mark: Mark,
    /// The shape of the dot on a line mark.
    dot: Dot,
}

#[derive(Clone, Copy)]
enum Mark {
    /// A solid line with a dot.
    Line,
    /// A thinner line with a hollow dot (cold mode).
    HollowLine,
    /// A dashed line.
    Dashed,
}

/// `offsets` moved to `centre` (pixels).
fn at_centre(offsets: Vec<(i32, i32)>, centre: (i32, i32)) -> Vec<(i32, i32)> {
    offsets
        .into_iter()
        .map(|(dx, dy)| (centre.0 + dx, centre.1 + dy))
        .collect()
}

/// Splits `root` into a plot area and a legend strip at the bottom sized for `items`, draws the legend, and
/// returns the plot area.
fn with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
) -> Result<DrawingArea<DB, Shift>, Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    if items.is_empty() {
        return Ok(root.clone());
    }
    let style = TextStyle::from((font::FAMILY, LEGEND_PX).into_font()).color(&BLACK);
    let (width, _) = root.dim_in_pixel();
    // Lay the items out left to right, wrapping as needed.
    let swatch = 34i32;
    let gap = 26i32;
    let margin = 14i32;
    let mut rows: Vec<Vec<(&LegendItem, i32)>> = vec![Vec::new()];
    let mut x = margin;
    for item in items {
        let (text_w, _) = root.estimate_text_size(&item.label, &style)?;
        let w = swatch + 6 + text_w as i32;
        if x + w > width as i32 - margin && rows.last().is_some_and(|r| !r.is_empty()) {
            rows.push(Vec::new());
            x = margin;
        }
        if let Some(row) = rows.last_mut() {
            row.push((item, x));
        }
        x += w + gap;
    }
    let strip = rows.len() as u32 * LEGEND_ROW_PX + 10;
    let (_, height) = root.dim_in_pixel();
    let (plot, legend) = root.split_vertically(height.saturating_sub(strip));
    for (r, row) in rows.iter().enumerate() {
        let y = 4 + r as i32 * LEGEND_ROW_PX as i32 + LEGEND_ROW_PX as i32 / 2;
        for (item, x) in row {
            let c = item.colour;
            match item.mark {
                Mark::Line => {
                    legend.draw(&PathElement::new(
                        vec![(*x, y), (x + swatch, y)],
                        c.stroke_width(3),
                    ))?;
                    legend.draw(&Polygon::new(
                        at_centre(dot_outline(item.dot, 4), (x + swatch / 2, y)),
                        c.filled(),
                    ))?;
                }
                Mark::HollowLine => {
                    legend.draw(&PathElement::new(
                        vec![(*x, y), (x + swatch, y)],
                        c.stroke_width(2),
                    ))?;
                    let outline = at_centre(dot_outline(item.dot, 5), (x + swatch / 2, y));
                    legend.draw(&Polygon::new(outline.clone(), WHITE.filled()))?;
                    legend.draw(&PathElement::new(outline, c.stroke_width(2)))?;
                }
                Mark::Dashed => {
                    for k in 0..3 {
                        let x0 = x + k * 12;
                        legend.draw(&PathElement::new(
                            vec![(x0, y), (x0 + 7, y)],
                            c.stroke_width(2),
                        ))?;
                    }
                }
            }
            legend.draw(&Text::new(
                item.label.clone(),
                (x + swatch + 6, y),
                style.pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
    }
    Ok(plot)
}

const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);
const GRID_LIGHT: RGBColor = RGBColor(240, 240, 240);

fn title_style() -> TextStyle<'static> {
    (font::FAMILY, TITLE_PX).into_font().into()
}

fn shape_text(shape: Shape) -> String {
    format!("B={} S={} D={} C={}", shape.b, shape.s, shape.d, shape.c)
}

/// Vertical units per row of the "time per variant" chart (an integer axis, for plotters' tick formatting).
const ROW: i32 = 1000;

fn time_per_variant<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    case: &CaseInfo,
    rows: &[VariantRow],
    floors: &[RowFloor],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let legend: Vec<LegendItem> = floors
        .iter()
        .map(|f| LegendItem {
            label: f.label.clone(),
            colour: f.colour,
            dot: Dot::Circle,
            mark: Mark::Dashed,
        })
        .collect();
    let area = with_legend(root, &legend)?;
    let timed: Vec<&TimePoint> = rows.iter().filter_map(|r| r.time.as_ref()).collect();
    let floor_values = floors.iter().map(|f| f.seconds);
    let lo_data = timed
        .iter()
        .map(|t| t.p10.min(t.median))
        .chain(floor_values.clone())
        .fold(f64::INFINITY, f64::min);
    let hi_data = timed
        .iter()
        .map(|t| t.p90.max(t.median))
        .chain(floor_values)
        .fold(0.0, f64::max);
    let unit = time_unit(hi_data);
    // Leave room right of the slowest bar for its label: about a fifth of the axis width.
    let lo = lo_data * unit.per_second / 2.0;
    let span = decades(lo, hi_data * unit.per_second).max(0.5);
    let hi = lo * 10f64.powf(span / 0.78);
    let (bold, light) = log_ticks(lo, hi);
    let n = rows.len();
    let labels: Vec<String> = rows.iter().rev().map(|r| r.key.label()).collect();
    let label_style = TextStyle::from((font::FAMILY, LABEL_PX).into_font());
    let widest = labels
        .iter()
        .map(|l| area.estimate_text_size(l, &label_style).map(|(w, _)| w))
        .collect::<Result<Vec<u32>, _>>()?
        .into_iter()
        .max()
        .unwrap_or(40);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            format!(
                "Median time per call at {} ({})",
                crate::escape::for_terminal(&case.name),
                shape_text(case.shape)
            ),
            title_style(),
        )
        .margin(14)
        .margin_right(34)
        .x_label_area_size(52)
        .y_label_area_size(widest + 18)
        .build_cartesian_2d(
            (lo..hi)
                .log_scale()
                .with_key_points(bold)
                .with_light_points(light),
            (0..ROW * n as i32).with_key_points((0..n as i32).map(|i| i * ROW + ROW / 2).collect()),
        )?;
    // Row i spans [i·ROW, (i + 1)·ROW] with its centre at the key point; bars at most 44 px thick.
    let row_px = f64::from(chart.plotting_area().dim_in_pixel().1) / n.max(1) as f64;
    let half = (f64::from(ROW) * (22.0 / row_px).min(0.36)) as i32;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n + 1)
        .x_label_formatter(&|v| compact_number(*v))
        .y_label_formatter(&|v| labels.get((v / ROW) as usize).cloned().unwrap_or_default())
        .x_desc(format!("time per call ({}, log scale)", unit.name))
        .label_style(label_style.clone())
        .axis_desc_style((font::FAMILY, DESC_PX))
        .light_line_style(GRID_LIGHT)
        .bold_line_style(GRID_BOLD)
        .draw()?;
    for (slot, row) in rows.iter().rev().enumerate() {
        let y = slot as i32 * ROW + ROW / 2;
        let c = colour(&row.key);
        let row_floors: Vec<&RowFloor> = floors.iter().filter(|f| f.applies_to(row)).collect();
        // Each floor is drawn across the rows it bounds only, so it never crosses another row's label.
        for f in &row_floors {
            let x = f.seconds * unit.per_second;
            chart.draw_series(DashedLineSeries::new(
                vec![(x, slot as i32 * ROW), (x, (slot as i32 + 1) * ROW)],
                8,
                6,
                f.colour.stroke_width(2),
            ))?;
        }
        match &row.time {
            Some(t) => {
                let median = t.median * unit.per_second;
                // Cold bars are drawn pale with an outline, as cold series are hollow elsewhere.
                let corners = [(lo, y - half), (median, y + half)];
                if row.key.mode == Mode::Cold {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        corners,
                        c.mix(0.3).filled(),
                    )))?;
                    chart
                        .draw_series(std::iter::once(Rectangle::new(corners, c.stroke_width(2))))?;
                } else {
                    chart.draw_series(std::iter::once(Rectangle::new(
                        corners,
                        c.mix(0.85).filled(),
                    )))?;
                }
                let (p10, p90) = (t.p10 * unit.per_second, t.p90 * unit.per_second);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(p10, y), (p90, y)],
                    BLACK.stroke_width(2),
                )))?;
                let spread = t
                    .rel_err
                    .map(|r| format!(" ±{:.1}%", 100.0 * r))
                    .unwrap_or_default();
                chart.draw_series(std::iter::once(Text::new(
                    format!("{}{spread}", format_seconds(t.median)),
                    (p90.max(median) * 1.08, y),
                    label_style.pos(Pos::new(HPos::Left, VPos::Center)),
                )))?;
            }
            None => {
                let why = match row.verdict {
                    Verdict::Skipped => "skipped: not timed here".to_owned(),
                    Verdict::Pass => "not timed".to_owned(),
                    other => format!("{}: not timed", other.name().replace('-', " ")),
                };
                let text_x = row_floors
                    .iter()
                    .map(|f| f.seconds * unit.per_second * 1.25)
                    .fold(lo * 1.15, f64::max);
                chart.draw_series(std::iter::once(Text::new(
                    why,
                    (text_x, y),
                    label_style
                        .color(&MUTED)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                )))?;
            }
        }
    }
    Ok(())
}

fn time_vs_s<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sweep: &Sweep,
    cpu: Option<&CpuCeilings>,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let (b, d_dim, c_dim) = sweep.fixed;
    let shape_at = |s: usize| Shape::new(b, s, d_dim, c_dim);
    let mut legend: Vec<LegendItem> = sweep
        .series
        .iter()
        .map(|(k, _)| LegendItem {
            label: k.label(),
            colour: colour(k),
            dot: dot_shape(k),
            mark: series_mark(k),
        })
        .collect();
    let mut floor_lines: Vec<(Vec<(usize, f64)>, RGBColor)> = Vec::new();
    if let Some(cpu) = cpu {
        let fma: Vec<(usize, f64)> = sweep
            .s_values
            .iter()
            .map(|&s| (s, cpu_floors(shape_at(s), cpu).0))
            .collect();
        let bw: Vec<(usize, f64)> = sweep
            .s_values
            .iter()
            .map(|&s| (s, cpu_floors(shape_at(s), cpu).1))
            .collect();
        legend.push(LegendItem {
            label: "CPU FMA-peak floor".to_owned(),
            colour: FLOOR,
            dot: Dot::Circle,
            mark: Mark::Dashed,
        });
        legend.push(LegendItem {
            label: "CPU read-bandwidth floor".to_owned(),
            colour: BANDWIDTH,
            dot: Dot::Circle,
            mark: Mark::Dashed,
        });
        floor_lines.push((fma, FLOOR));
        floor_lines.push((bw, BANDWIDTH));
    }
    for (mode, points) in &sweep.copy_references {
        legend.push(LegendItem {
            label: format!("device copy of the same bytes, {mode}"),
            colour: copy_colour(*mode),
            dot: Dot::Circle,
            mark: Mark::Dashed,
        });
        floor_lines.push((points.clone(), copy_colour(*mode)));
    }
    let area = with_legend(root, &legend)?;
    let all_times = sweep
        .series
        .iter()
        .flat_map(|(_, pts)| pts.iter().flat_map(|(_, t)| [t.p10, t.p90, t.median]))
        .chain(
            floor_lines
                .iter()
                .flat_map(|(pts, _)| pts.iter().map(|(_, v)| *v)),
        );
    let (lo_s, hi_s) = all_times.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let unit = time_unit(hi_s);
    let (lo, hi) = (lo_s * unit.per_second / 1.6, hi_s * unit.per_second * 1.6);
    let (bold, light) = log_ticks(lo, hi);
    let first = sweep.s_values.first().copied().unwrap_or(1) as f64;
    let last = sweep.s_values.last().copied().unwrap_or(2) as f64;
    let (x0, x1) = (first.log2() - 0.3, last.log2() + 0.3);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            format!("Median time against S (B={b}, D={d_dim}, C={c_dim})"),
            title_style(),
        )
        .margin(14)
        .x_label_area_size(52)
        .y_label_area_size(70)
        .build_cartesian_2d(
            x0..x1,
            (lo..hi)
                .log_scale()
                .with_key_points(bold)
                .with_light_points(light),
        )?;
    let ticks = (x1.floor() - x0.ceil()) as usize + 1;
    chart
        .configure_mesh()
        .x_labels(ticks)
        .x_max_light_lines(1)
        .x_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-6 {
                group_thousands(2f64.powf(v.round()) as u64)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| compact_number(*v))
        .x_desc("S, keys (log scale)")
        .y_desc(format!("time per call ({}, log scale)", unit.name))
        .label_style((font::FAMILY, LABEL_PX))
        .axis_desc_style((font::FAMILY, DESC_PX))
        .light_line_style(GRID_LIGHT)
        .bold_line_style(GRID_BOLD)
        .draw()?;
    let at = |s: usize, v: f64| ((s as f64).log2(), v * unit.per_second);
    for (points, c) in &floor_lines {
        chart.draw_series(DashedLineSeries::new(
            points.iter().map(|&(s, v)| at(s, v)),
            8,
            6,
            c.stroke_width(2),
        ))?;
    }
    for (k, points) in &sweep.series {
        let c = colour(k);
        let style = if k.mode == Mode::Cold {
            c.stroke_width(2)
        } else {
            c.stroke_width(3)
        };
        chart.draw_series(LineSeries::new(
            points.iter().map(|(s, t)| at(*s, t.median)),
            style,
        ))?;
        let outline = dot_outline(dot_shape(k), 5);
        let centres = points
            .iter()
            .map(|(s, t)| EmptyElement::at(at(*s, t.median)));
        if k.mode == Mode::Cold {
            chart.draw_series(
                centres.map(|e| e + PathElement::new(outline.clone(), c.stroke_width(2))),
            )?;
        } else {
            chart.draw_series(centres.map(|e| e + Polygon::new(outline.clone(), c.filled())))?;
        }
    }
    Ok(())
}

fn roofline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[RooflinePoint],
    cpu: Option<&CpuCeilings>,
    copies: &[(Mode, f64)],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let mut legend: Vec<LegendItem> = Vec::new();
    for p in points {
        if !legend.iter().any(|l| l.label == p.key.label()) {
            legend.push(LegendItem {
                label: p.key.label(),
                colour: colour(&p.key),
                dot: dot_shape(&p.key),
                mark: series_mark(&p.key),
            });
        }
    }
    if let Some(cpu) = cpu {
        legend.push(LegendItem {
            label: format!(
                "CPU roof: {:.1} GB/s read, {:.0} GFLOP/s FMA",
                cpu.read_gbps, cpu.fma_gflops
            ),
            colour: FLOOR,
            dot: Dot::Circle,
            mark: Mark::Line,
        });
    }
    for (mode, gbps) in copies {
        legend.push(LegendItem {
            label: format!("as fast as a device copy, {mode}: {gbps:.0} GB/s"),
            colour: copy_colour(*mode),
            dot: Dot::Circle,
            mark: Mark::Dashed,
        });
    }
    let area = with_legend(root, &legend)?;
    let (mut x_lo, mut x_hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
        (lo.min(p.intensity), hi.max(p.intensity))
    });
    let (mut y_lo, mut y_hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
        (lo.min(p.gbps), hi.max(p.gbps))
    });
    if let Some(cpu) = cpu {
        let ridge = cpu.ridge_intensity();
        x_lo = x_lo.min(ridge);
        x_hi = x_hi.max(ridge);
        y_hi = y_hi.max(cpu.read_gbps);
    }
    for (_, gbps) in copies {
        y_hi = y_hi.max(*gbps);
    }
    x_lo /= 4.0;
    x_hi *= 4.0;
    y_lo /= 3.0;
    y_hi *= 3.0;
    if let Some(cpu) = cpu {
        // Show where the roof is at the right edge too.
        y_lo = y_lo.min(cpu.fma_gflops / x_hi / 1.5);
    }
    let (x_bold, x_light) = log_ticks(x_lo, x_hi);
    let (y_bold, y_light) = log_ticks(y_lo, y_hi);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            "Achieved bandwidth against arithmetic intensity",
            title_style(),
        )
        .margin(14)
        .margin_right(30)
        .x_label_area_size(52)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_lo..x_hi)
                .log_scale()
                .with_key_points(x_bold)
                .with_light_points(x_light),
            (y_lo..y_hi)
                .log_scale()
                .with_key_points(y_bold)
                .with_light_points(y_light),
        )?;
    chart
        .configure_mesh()
        .x_label_formatter(&|v| compact_number(*v))
        .y_label_formatter(&|v| compact_number(*v))
        .x_desc("arithmetic intensity (reduced-form FLOP per minimal byte, log scale)")
        .y_desc("achieved bandwidth (GB/s, log scale)")
        .label_style((font::FAMILY, LABEL_PX))
        .axis_desc_style((font::FAMILY, DESC_PX))
        .light_line_style(GRID_LIGHT)
        .bold_line_style(GRID_BOLD)
        .draw()?;
    if let Some(cpu) = cpu {
        // Both parts are straight on log-log axes: the corner is the ridge point.
        let ridge = cpu.ridge_intensity().clamp(x_lo, x_hi);
        let roof = [x_lo, ridge, x_hi].map(|x| (x, cpu.read_gbps.min(cpu.fma_gflops / x)));
        chart.draw_series(LineSeries::new(roof, FLOOR.stroke_width(3)))?;
    }
    for (mode, gbps) in copies {
        chart.draw_series(DashedLineSeries::new(
            vec![(x_lo, *gbps), (x_hi, *gbps)],
            8,
            6,
            copy_colour(*mode).stroke_width(2),
        ))?;
    }
    for p in points {
        let (c, outline) = (colour(&p.key), dot_outline(dot_shape(&p.key), 6));
        let centre = EmptyElement::at((p.intensity, p.gbps));
        if p.key.mode == Mode::Cold {
            chart.draw_series([centre + PathElement::new(outline, c.stroke_width(2))])?;
        } else {
            chart.draw_series([centre + Polygon::new(outline, c.filled())])?;
        }
    }
    Ok(())
}

fn errors<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    profiles: &[(SeriesKey, ErrorProfile, usize)],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let mut legend: Vec<LegendItem> = profiles
        .iter()
        .map(|(k, p, cases)| {
            let mut label = format!(
                "{} ({cases} case{})",
                k.label(),
                if *cases == 1 { "" } else { "s" }
            );
            if p.exact > 0 {
                label.push_str(&format!(
                    ", {}% exact",
                    compact_number(percent(p.exact, p.total))
                ));
            }
            if p.non_finite > 0 {
                label.push_str(&format!(", {} NaN/inf/unwritten", p.non_finite));
            }
            LegendItem {
                label,
                colour: colour(k),
                dot: dot_shape(k),
                mark: Mark::Line,
            }
        })
        .collect();
    legend.push(LegendItem {
        label: "tolerance (ratio 1)".to_owned(),
        colour: TOLERANCE,
        dot: Dot::Circle,
        mark: Mark::Dashed,
    });
    let area = with_legend(root, &legend)?;
    // The x range: occupied bins with a decade of margin, always showing the tolerance line.
    let mut first_bin = usize::MAX;
    let mut last_bin = 0;
    let mut y_max = 0.0f64;
    for (_, p, _) in profiles {
        for (i, &c) in p.counts.iter().enumerate() {
            if c > 0 {
                first_bin = first_bin.min(i);
                last_bin = last_bin.max(i);
                y_max = y_max.max(percent(c, p.total));
            }
        }
    }
    let grid = &profiles[0].1;
    let (x_lo, x_hi) = if first_bin == usize::MAX {
        (1e-6, 1e2)
    } else {
        (
            (grid.bin_low(first_bin) / 10.0).min(1e-2),
            (grid.bin_low(last_bin + 1) * 10.0).max(1e2),
        )
    };
    let y_hi = (y_max * 1.15).max(1.0);
    // Decades only: the bins are a quarter decade wide.
    let (k0, k1) = (x_lo.log10().ceil() as i32, x_hi.log10().floor() as i32);
    let decade_ticks: Vec<f64> = (k0..=k1).map(|k| 10f64.powi(k)).collect();
    let mut chart = ChartBuilder::on(&area)
        .caption("Element errors against the f64 oracle", title_style())
        .margin(14)
        .margin_right(30)
        .x_label_area_size(52)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_lo..x_hi).log_scale().with_key_points(decade_ticks),
            0.0..y_hi,
        )?;
    chart
        .configure_mesh()
        .y_labels(8)
        .x_label_formatter(&|v| format!("1e{}", v.log10().round()))
        .y_label_formatter(&|v| compact_number(*v))
        .x_desc("error / allowed error, |x - ref| / (atol + rtol·|ref|)  (log scale)")
        .y_desc("elements per bin (%)")
        .label_style((font::FAMILY, LABEL_PX))
        .axis_desc_style((font::FAMILY, DESC_PX))
        .light_line_style(GRID_LIGHT)
        .bold_line_style(GRID_BOLD)
        .draw()?;
    chart.draw_series(DashedLineSeries::new(
        vec![(1.0, 0.0), (1.0, y_hi)],
        8,
        6,
        TOLERANCE.stroke_width(2),
    ))?;
    for (k, p, _) in profiles {
        // A step line over the occupied bins (and one empty bin each side): flat across each bin, vertical
        // between bins.
        let occupied: Vec<usize> = (0..p.counts.len()).filter(|&i| p.counts[i] > 0).collect();
        let (Some(&first), Some(&last)) = (occupied.first(), occupied.last()) else {
            continue;
        };
        let mut steps = Vec::with_capacity(2 * p.counts.len() + 2);
        let span = first.saturating_sub(1)..(last + 2).min(p.counts.len());
        for (i, &c) in p.counts.iter().enumerate().take(span.end).skip(span.start) {
            let (x0, x1) = (p.bin_low(i), p.bin_low(i + 1));
            if x1 < x_lo || x0 > x_hi {
                continue;
            }
            let y = percent(c, p.total);
            steps.push((x0.max(x_lo), y));
            steps.push((x1.min(x_hi), y));
        }
        chart.draw_series(LineSeries::new(steps, colour(k).stroke_width(3)))?;
    }
    Ok(())
}

fn percent(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * count as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_28_series_differ_in_colour_or_shape() {
        let key = |index| SeriesKey {
            solution: format!("s{index}"),
            mode: Mode::Warm,
            index,
            multi_mode: false,
        };
        let looks: Vec<_> = (0..28)
            .map(|i| (colour(&key(i)), dot_shape(&key(i))))
            .collect();
        for (i, a) in looks.iter().enumerate() {
            for b in &looks[..i] {
                assert!(a != b, "series {i} looks like an earlier one: {a:?}");
            }
        }
        for shape in [Dot::Circle, Dot::Square, Dot::Triangle, Dot::Diamond] {
            let outline = dot_outline(shape, 5);
            assert_eq!(outline.first(), outline.last(), "{shape:?} is closed");
            assert!(outline.iter().all(|(x, y)| x.abs() <= 5 && y.abs() <= 5));
        }
    }
    #[test]
    fn tick_labels_are_sparse_and_compact() {
        let (bold, light) = log_ticks(1.5, 30.0);
        assert_eq!(bold, [2.0, 5.0, 10.0, 20.0]);
        assert!(light.contains(&3.0) && light.contains(&9.0) && !light.contains(&40.0));
        let (bold, _) = log_ticks(0.05, 2000.0);
        assert_eq!(bold, [0.1, 1.0, 10.0, 100.0, 1000.0]);
        let (bold, _) = log_ticks(2.0, 9.5);
        assert_eq!(bold, [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        // A range no log axis can span gives no ticks (it once looped over every exponent up to i32::MAX).
        for (lo, hi) in [
            (0.0, 10.0),
            (1e-3, f64::INFINITY),
            (2.0, 1.0),
            (f64::NAN, 1.0),
        ] {
            assert_eq!(log_ticks(lo, hi), (vec![], vec![]), "{lo} {hi}");
        }
        assert_eq!(compact_number(367.93), "368");
        assert_eq!(compact_number(2.50), "2.5");
        assert_eq!(compact_number(0.0123), "0.0123");
    }

    #[test]
    fn time_units_follow_the_largest_value() {
        assert_eq!(time_unit(5e-6).name, "µs");
        assert_eq!(time_unit(0.37).name, "ms");
        assert_eq!(time_unit(3.0).name, "s");
    }
}
