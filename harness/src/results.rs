//! The versioned results document that every run and bench writes (DESIGN.md §4): `meta` (how and where it was
//! made), then one entry per solution × case × mode, with the check report and raw timing samples. Tables and
//! reports are rendered from it, so a result can be re-rendered or compared later.
//!
//! [`ResultsFile`] rewrites the whole document after every entry (atomically), so an interrupted run loses
//! nothing that was already measured.
//!
//! Fields added after version 1 was first written (the bench block of `meta`, the measured CPU ceilings, the
//! stop reason and derived metrics of an entry, the error profile, the median's confidence interval and the
//! outlier counts) are optional, so every version-1 document still reads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use solutions::{Backend, Shape};

use crate::bench::plan::Preset;
use crate::challenge::suites::{Case, CaseSource};
use crate::check::{CheckReport, Tolerance};
use crate::cpu_peak::CpuPeak;
use crate::error_profile::ErrorProfile;
use crate::gate::GateSummary;
use crate::io::{FileError, write_atomically};
use crate::meta::{GpuInfo, Host, JUDGE_VERSION, git_commit, unix_time};
use crate::stats::{Interval, Summary};
use crate::timing::{SamplingPlan, StopReason};
use crate::verdict::Verdict;

/// The `schema` tag of a results document.
pub const SCHEMA: &str = "judge.results";
/// The version of the results schema; bump it on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole results document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsDoc {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Always [`SCHEMA_VERSION`] when written by this judge.
    pub schema_version: u32,
    /// How and where it was made.
    pub meta: Meta,
    /// One per solution × case × mode, in the order measured.
    pub entries: Vec<Entry>,
    /// What `judge gate` concluded about its submission (only in documents the gate wrote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateSummary>,
}

/// How and where a document was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The judge's version.
    pub judge_version: String,
    /// The git commit the judge was built from, when known.
    pub git_commit: Option<String>,
    /// The command line.
    pub argv: Vec<String>,
    /// When the command started, in seconds since the Unix epoch.
    pub started_at_unix: f64,
    /// The run's seed (each case derives its own from it).
    pub seed: u64,
    /// The tolerance applied by the checker.
    pub tolerance: Tolerance,
    /// The host machine.
    pub host: Host,
    /// The GPU, when one was used.
    pub gpu: Option<GpuInfo>,
    /// The CPU's measured limits, when CPU variants were timed against them.
    #[serde(default)]
    pub cpu_peak: Option<CpuCeilings>,
    /// How a bench sampled, when the document comes from `judge bench`.
    #[serde(default)]
    pub bench: Option<BenchMeta>,
    /// How GPU variants were timed, when a bench timed any on a GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_timing: Option<GpuMethod>,
}

/// How a bench timed GPU variants (DESIGN.md §5, [`crate::gpu`]): CUDA events around one solve, the stream
/// held by a host-released kernel until the whole call is queued, a device-wide synchronize after every sample;
/// each mode's cache regime, the floor of the method, and the optional flush comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuMethod {
    /// The cache regime of warm samples.
    pub warm: CacheRegime,
    /// The cache regime of cold samples.
    pub cold: CacheRegime,
    /// The floor of the method: the median of an empty kernel timed the same way, warm, in seconds (absent
    /// when it could not be measured).
    pub empty_kernel_warm_s: Option<f64>,
    /// The same, cold, in seconds.
    pub empty_kernel_cold_s: Option<f64>,
    /// Device copies timed cold after both flush methods (`judge bench --compare-flush`), one per byte count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flush_comparison: Vec<FlushComparison>,
}

impl GpuMethod {
    /// The cache regime of `mode`; `None` for a mode GPU variants are not timed in.
    pub fn regime(&self, mode: Mode) -> Option<CacheRegime> {
        match mode {
            Mode::Warm => Some(self.warm),
            Mode::Cold => Some(self.cold),
            Mode::Check => None,
        }
    }
}

/// A device copy timed cold after each flush method: what dirty L2 lines left by a memset flush cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlushComparison {
    /// Bytes copied (a case's minimal byte count).
    pub bytes: u64,
    /// Median after the read flush, in seconds.
    pub read_flush_s: f64,
    /// Median after the memset flush, in seconds.
    pub memset_flush_s: f64,
}

/// The CPU's measured limits, as recorded in a document (see [`crate::cpu_peak`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuCeilings {
    /// Single-precision FMA throughput over all threads, in GFLOP/s (an FMA counts as 2 flops).
    pub fma_gflops: f64,
    /// Memory read bandwidth over all threads, in GB/s (10^9 bytes per second).
    pub read_gbps: f64,
    /// Threads used.
    pub threads: usize,
    /// The SIMD path of the FMA loop (`avx512`, `avx2+fma`, `neon`, `scalar`).
    pub simd: String,
}

impl From<CpuPeak> for CpuCeilings {
    fn from(peak: CpuPeak) -> Self {
        Self {
            fma_gflops: peak.fma_gflops,
            read_gbps: peak.read_gbps,
            threads: peak.threads,
            simd: peak.simd.to_owned(),
        }
    }
}

impl CpuCeilings {
    /// Arithmetic intensity at which the two ceilings meet, in flop/byte.
    pub fn ridge_intensity(&self) -> f64 {
        self.fma_gflops / self.read_gbps
    }
}

/// How `judge bench` chose its cases and decided when to stop sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchMeta {
    /// The preset whose cases were measured.
    pub preset: Preset,
    /// The axes that replaced the preset's shape dimensions, as given (`S=1024:65536:pow2`).
    pub axes: Vec<String>,
    /// Independently generated input sets per case, rotated between calls.
    pub input_sets: usize,
    /// Untimed calls before the first sample.
    pub warmup_calls: usize,
    /// Minimum warm-up time, in seconds.
    pub warmup_s: f64,
    /// Fewest samples (unless the budget runs out first).
    pub min_samples: usize,
    /// Most samples.
    pub max_samples: usize,
    /// Sampling stops once the median's relative error (CI half-width over median) is below this.
    pub target_rel_err: f64,
    /// Sampling stops once this much time has been spent on one measurement, in seconds.
    pub budget_s: f64,
}

impl BenchMeta {
    /// The record of `plan` for `preset` and `axes`.
    pub fn new(preset: Preset, axes: Vec<String>, input_sets: usize, plan: &SamplingPlan) -> Self {
        Self {
            preset,
            axes,
            input_sets,
            warmup_calls: plan.warmup_calls,
            warmup_s: plan.warmup_time.as_secs_f64(),
            min_samples: plan.min_samples,
            max_samples: plan.max_samples,
            target_rel_err: plan.target_rel_err,
            budget_s: plan.budget.as_secs_f64(),
        }
    }
}

/// A path as a results document holds it (`#[serde(with = "crate::results::path_text")]`): text, with bytes that
/// are not UTF-8 (a file name can be any bytes) replaced by U+FFFD, as [`argv`] does; serde writes no such path at
/// all, and the whole document would be lost for one file name.
pub mod path_text {
    use std::path::{Path, PathBuf};

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `path` as text.
    pub fn serialize<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&path.to_string_lossy())
    }

    /// Reads a path written by [`serialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
        PathBuf::deserialize(deserializer)
    }
}

/// This process's arguments as text: an argument that is not UTF-8 (a file name can be any bytes) has its
/// invalid bytes replaced by U+FFFD, where `std::env::args` would panic.
pub fn argv() -> Vec<String> {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

impl Meta {
    /// Meta for a command starting now on this machine.
    pub fn now(seed: u64, tolerance: Tolerance) -> Self {
        Self {
            judge_version: JUDGE_VERSION.to_owned(),
            git_commit: git_commit(),
            argv: argv(),
            started_at_unix: unix_time(),
            seed,
            tolerance,
            host: Host::detect(),
            gpu: None,
            cpu_peak: None,
            bench: None,
            gpu_timing: None,
        }
    }
}

/// Which measurement an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A correctness run (`judge run`): one checked call, timed once by the wall clock.
    Check,
    /// Repeated timed calls with caches warm.
    Warm,
    /// Repeated timed calls with the input bytes flushed from the caches before each.
    Cold,
}

impl Mode {
    /// The name used in tables and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Check => "check",
            Mode::Warm => "warm",
            Mode::Cold => "cold",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The case an entry is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseInfo {
    /// Its name.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// Where it came from.
    pub source: CaseSource,
}

impl From<&Case> for CaseInfo {
    fn from(case: &Case) -> Self {
        Self {
            name: case.name.clone(),
            shape: case.inputs.shape(),
            source: case.source.clone(),
        }
    }
}

/// Timing of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// What measured the samples.
    pub clock: Clock,
    /// Every sample, in seconds, in the order taken.
    pub samples_s: Vec<f64>,
    /// Their summary.
    pub summary: Summary,
    /// Why sampling stopped (absent for a single timed check call).
    #[serde(default)]
    pub stop: Option<StopReason>,
    /// Independently generated input sets the calls rotated among.
    #[serde(default)]
    pub input_sets: Option<usize>,
    /// The same measurement of a reference (a device copy of the same byte count), when one was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// What the caches held when each timed call started, when the sampler controls it (GPU samplers do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regime: Option<CacheRegime>,
}

/// What the caches held when a timed call started (DESIGN.md §5). GPU samplers set it up before every sample
/// and record it with the timing, so a document says how its warm and cold numbers were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CacheRegime {
    /// Warm: the same input set was solved (untimed) just before the timed call, so its inputs and outputs
    /// were in L2 as far as they fit; the output was poisoned in between unless `output_poisoned` is false.
    SameInputsSolved {
        /// Whether the output was poisoned between the warming call and the timed one.
        output_poisoned: bool,
    },
    /// Cold: the L2 was flushed by reading a buffer of `bytes` bytes, leaving clean lines of that buffer only
    /// (no input bytes, nothing to write back).
    ReadFlush {
        /// Size of the flush buffer, in bytes.
        bytes: u64,
    },
    /// Cold: the L2 was flushed by writing (memset) a buffer of `bytes` bytes, leaving dirty lines that are
    /// written back during the timed call (kept only to show what that costs).
    MemsetFlush {
        /// Size of the flush buffer, in bytes.
        bytes: u64,
    },
}

impl CacheRegime {
    /// One sentence for tables and reports: `the same inputs solved just before`, `L2 flushed by reading 209 MB`.
    pub fn describe(&self) -> String {
        match *self {
            CacheRegime::SameInputsSolved {
                output_poisoned: true,
            } => "the same inputs solved just before (output poisoned in between)".to_owned(),
            CacheRegime::SameInputsSolved {
                output_poisoned: false,
            } => "the same inputs solved just before (output not poisoned)".to_owned(),
            CacheRegime::ReadFlush { bytes } => {
                format!("L2 flushed by reading {} MB", bytes / 1_000_000)
            }
            CacheRegime::MemsetFlush { bytes } => {
                format!(
                    "L2 flushed by a memset of {} MB (dirty lines)",
                    bytes / 1_000_000
                )
            }
        }
    }
}

/// What a timing is compared with: the "speed of light" for its byte count, measured the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// What the reference is.
    pub kind: ReferenceKind,
    /// Bytes it copies per call (it reads and writes each once).
    pub bytes: u64,
    /// Its samples, in seconds.
    pub samples_s: Vec<f64>,
    /// Their summary.
    pub summary: Summary,
    /// The other way of copying the bytes, timed beside this one and slower (the reference is the faster of
    /// the two); absent in documents from before both were timed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slower: Option<SlowerCopy>,
}

impl Reference {
    /// A copy of `bytes` bytes made by `kind`, from its samples (seconds); `None` when there are none.
    pub fn copy(kind: ReferenceKind, bytes: u64, samples_s: Vec<f64>) -> Option<Self> {
        let summary = Summary::of(&samples_s)?;
        Some(Self {
            kind,
            bytes,
            samples_s,
            summary,
            slower: None,
        })
    }

    /// The faster of two copies of the same bytes (by median), with the slower one's median kept beside it.
    pub fn faster(a: Self, b: Self) -> Self {
        let (mut fast, slow) = if b.summary.median < a.summary.median {
            (b, a)
        } else {
            (a, b)
        };
        fast.slower = Some(SlowerCopy {
            kind: slow.kind,
            median_s: slow.summary.median,
        });
        fast
    }
}

/// A way of copying a reference's bytes that was timed and found slower than the reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlowerCopy {
    /// How it copies.
    pub kind: ReferenceKind,
    /// Its median, in seconds.
    pub median_s: f64,
}

/// Kinds of reference measurement: two ways of copying `bytes` bytes from one device buffer to another, under
/// the same cache regime as the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceKind {
    /// The driver's `cuMemcpyDtoDAsync`.
    DeviceCopy,
    /// The judge's copy kernel (`judge_copy` in `kernels/harness.cu`: 16-byte loads and stores, grid-stride,
    /// four blocks of 256 threads per multiprocessor).
    CopyKernel,
}

impl ReferenceKind {
    /// Both kinds, in the order they are timed.
    pub const ALL: [ReferenceKind; 2] = [ReferenceKind::CopyKernel, ReferenceKind::DeviceCopy];

    /// A short name for tables and messages.
    pub fn label(self) -> &'static str {
        match self {
            ReferenceKind::DeviceCopy => "cuMemcpyDtoDAsync",
            ReferenceKind::CopyKernel => "copy kernel",
        }
    }
}

impl Timing {
    /// Timing from raw samples; `None` when there are none.
    pub fn from_samples(clock: Clock, samples_s: Vec<f64>) -> Option<Self> {
        let summary = Summary::of(&samples_s)?;
        Some(Self {
            clock,
            samples_s,
            summary,
            stop: None,
            input_sets: None,
            reference: None,
            regime: None,
        })
    }
}

/// What took a timing sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// The host's monotonic clock around the call (and its synchronisation, for GPU variants).
    Wall,
    /// CUDA events recorded on the solution's stream.
    CudaEvents,
}

impl Clock {
    /// A few words for messages: `the monotonic clock`, `CUDA events`.
    pub const fn describe(self) -> &'static str {
        match self {
            Clock::Wall => "the monotonic clock",
            Clock::CudaEvents => "CUDA events",
        }
    }
}

/// One solution × case × mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The solution's name.
    pub solution: String,
    /// Its backend.
    pub backend: Backend,
    /// The case.
    pub case: CaseInfo,
    /// The measurement.
    pub mode: Mode,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, for anything but a pass.
    pub reason: Option<String>,
    /// The checker's report, when the output was checked.
    pub check: Option<CheckReport>,
    /// Timing, when the call was timed.
    pub timing: Option<Timing>,
    /// Metrics derived from the median time and the case's cost model, when timed.
    #[serde(default)]
    pub derived: Option<Derived>,
    /// How the output's element errors are distributed, when the output was checked by `judge bench`.
    #[serde(default)]
    pub errors: Option<ErrorProfile>,
}

impl Entry {
    /// The median time in seconds, when timed.
    pub fn median_s(&self) -> Option<f64> {
        self.timing.as_ref().map(|t| t.summary.median)
    }

    /// Why the variant was skipped, when it was: the same on every case of a run, so tables give it once, in a
    /// note ([`crate::table::Notes`]).
    pub fn skip_reason(&self) -> Option<&str> {
        self.reason
            .as_deref()
            .filter(|_| self.verdict == Verdict::Skipped)
    }
}

/// What a speed-of-light comparison is made against (see [`SpeedOfLight`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Basis {
    /// The CPU's measured FMA throughput, in GFLOP/s.
    FmaPeak {
        /// GFLOP/s.
        gflops: f64,
    },
    /// A device copy of the case's minimal byte count measured under the same cache regime (its median is the
    /// floor; the whole measurement is kept with the entry's timing).
    DeviceCopy(Reference),
}

/// How far a time is from the limit of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "kebab-case")]
pub enum SpeedOfLight {
    /// CPU: achieved reduced-form GFLOP/s as a percentage of the measured FMA peak.
    FmaPeak {
        /// The peak, in GFLOP/s.
        peak_gflops: f64,
        /// Achieved over peak, in percent.
        percent: f64,
        /// The time the reduced form's FLOPs take at the peak, in seconds.
        floor_s: f64,
    },
    /// GPU: the median time as a multiple of a same-size device copy under the same cache regime.
    DeviceCopy {
        /// The copy's median time, in seconds.
        copy_s: f64,
        /// Median over copy time (dimensionless; 1 would be copy speed).
        ratio: f64,
        /// How far the ratio can move with the noise of both medians: the low end of the variant's ~95%
        /// median interval over the high end of the copy's, and the high end over the low end (see
        /// [`ratio_interval`]). Absent when either interval is unknown, and in documents written before it was
        /// recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ratio_ci: Option<Interval>,
    },
}

impl SpeedOfLight {
    /// The time the basis stands for, in seconds: on the CPU the FMA-peak floor, which no solution can beat; on
    /// the GPU the copy's time, a reference (the copy reads and writes the minimal bytes, a solve moves them
    /// once, so a solve can beat it: ×0.95 copy has been measured cold).
    pub fn basis_s(&self) -> f64 {
        match *self {
            SpeedOfLight::FmaPeak { floor_s, .. } => floor_s,
            SpeedOfLight::DeviceCopy { copy_s, .. } => copy_s,
        }
    }

    /// Short text for tables: `12.3% FMA peak`, `×1.80 copy`, or with the ratio's interval
    /// `×1.07 copy (1.04–1.10)`.
    pub fn label(&self) -> String {
        match *self {
            SpeedOfLight::FmaPeak { percent, .. } => format!("{percent:.1}% FMA peak"),
            SpeedOfLight::DeviceCopy {
                ratio, ratio_ci, ..
            } => match ratio_ci {
                Some(ci) => format!("×{ratio:.2} copy ({:.2}–{:.2})", ci.low, ci.high),
                None => format!("×{ratio:.2} copy"),
            },
        }
    }
}

/// Metrics derived from a median time and the case's cost model (DESIGN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Derived {
    /// Effective bandwidth: [`Shape::min_bytes`] over the median time, in GB/s (10^9 bytes per second).
    pub gbps: f64,
    /// [`Shape::reduced_flops`] over the median time, in GFLOP/s.
    pub gflops: f64,
    /// Reduced-form FLOPs per minimal byte, in flop/byte.
    pub intensity: f64,
    /// Distance from the machine's limit, when a basis is known.
    pub speed_of_light: Option<SpeedOfLight>,
}

/// The interval of `time / copy` that the ~95% intervals of both medians allow: `[time.low / copy.high,
/// time.high / copy.low]`. Each median's interval is distribution-free (order statistics), and the two sample sets
/// are independent, so the ratio lies inside with at least ~90% confidence; it is wide when either median is
/// poorly known, which a ratio of two medians alone does not show. `None` when a copy bound is not positive.
pub fn ratio_interval(time: Interval, copy: Interval) -> Option<Interval> {
    (copy.low > 0.0).then(|| Interval {
        low: time.low / copy.high,
        high: time.high / copy.low,
    })
}

impl Derived {
    /// The metrics of `shape` solved in `median_s` seconds (> 0), against `basis` when known; `median_ci` (the
    /// ~95% interval of that median, when known) bounds the ratio to a device copy.
    pub fn new(
        shape: Shape,
        median_s: f64,
        median_ci: Option<Interval>,
        basis: Option<&Basis>,
    ) -> Self {
        let flops = shape.reduced_flops() as f64;
        let gflops = flops / median_s / 1e9;
        Self {
            gbps: shape.min_bytes() as f64 / median_s / 1e9,
            gflops,
            intensity: flops / shape.min_bytes() as f64,
            speed_of_light: basis.map(|b| match b {
                Basis::FmaPeak { gflops: peak } => SpeedOfLight::FmaPeak {
                    peak_gflops: *peak,
                    percent: 100.0 * gflops / peak,
                    floor_s: flops / (peak * 1e9),
                },
                Basis::DeviceCopy(copy) => SpeedOfLight::DeviceCopy {
                    copy_s: copy.summary.median,
                    ratio: median_s / copy.summary.median,
                    ratio_ci: median_ci
                        .zip(copy.summary.median_ci)
                        .and_then(|(time, copy)| ratio_interval(time, copy)),
                },
            }),
        }
    }
}

impl ResultsDoc {
    /// An empty document.
    pub fn new(meta: Meta) -> Self {
        Self {
            schema: SCHEMA.to_owned(),
            schema_version: SCHEMA_VERSION,
            meta,
            entries: Vec::new(),
            gate: None,
        }
    }

    /// Reads a document, refusing other schemas and other versions. The schema and version are looked at before
    /// the rest, so a document of another version is refused for its version, not for a field that version
    /// renamed.
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::io(path, e))?;
        let malformed = |reason: String| FileError::Malformed {
            path: path.to_owned(),
            format: "results",
            reason,
        };
        check_schema(&text).map_err(malformed)?;
        let doc: ResultsDoc = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        doc.check_times().map_err(malformed)?;
        Ok(doc)
    }

    /// Refuses a timing summary whose times are negative or not finite, and measured CPU ceilings that are not
    /// positive (no judge writes either, so the document was edited or damaged: the charts' log axes cannot show
    /// them); the message names the entry.
    fn check_times(&self) -> Result<(), String> {
        if let Some(cpu) = &self.meta.cpu_peak
            && let Some((what, value)) = [
                ("FMA peak", cpu.fma_gflops),
                ("read bandwidth", cpu.read_gbps),
            ]
            .into_iter()
            .find(|(_, v)| !(v.is_finite() && *v > 0.0))
        {
            return Err(format!(
                "meta.cpu_peak: {what} {value}; measured ceilings must be finite and > 0"
            ));
        }
        for (index, entry) in self.entries.iter().enumerate() {
            let Some(timing) = &entry.timing else {
                continue;
            };
            let s = &timing.summary;
            let mut times = vec![
                ("median", s.median),
                ("min", s.min),
                ("max", s.max),
                ("p10", s.p10),
                ("p90", s.p90),
                ("mean", s.mean),
                ("standard deviation", s.std_dev),
            ];
            if let Some(ci) = s.median_ci {
                times.extend([
                    ("median interval low", ci.low),
                    ("median interval high", ci.high),
                ]);
            }
            if let Some(r) = &timing.reference {
                times.push(("reference median", r.summary.median));
            }
            if let Some(SpeedOfLight::DeviceCopy { copy_s, .. }) =
                entry.derived.and_then(|d| d.speed_of_light)
            {
                times.push(("device copy", copy_s));
            }
            if let Some((what, value)) = times
                .into_iter()
                .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
            {
                return Err(format!(
                    "entry {} ({} on {}, {}): {what} time {value} s; times must be finite and ≥ 0",
                    index + 1,
                    entry.solution,
                    entry.case.name,
                    entry.mode
                ));
            }
        }
        Ok(())
    }

    /// Writes the document as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| FileError::Malformed {
            path: path.to_owned(),
            format: "results",
            reason: format!("could not encode: {e}"),
        })?;
        text.push(b'\n');
        write_atomically(path, &text)
    }
}

/// Refuses `text` unless it is a JSON object whose `schema` is [`SCHEMA`] and whose `schema_version` is one this
/// judge reads (1 to [`SCHEMA_VERSION`]); the message names what the document says it is. Only the schema and
/// version are read here, so a document of another version is named as such whatever its other fields hold.
fn check_schema(text: &str) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Envelope {
        schema: Option<serde_json::Value>,
        schema_version: Option<serde_json::Value>,
    }
    let reads = match SCHEMA_VERSION {
        1 => format!("this judge reads '{SCHEMA}' version 1"),
        newest => format!("this judge reads '{SCHEMA}' versions 1 to {newest}"),
    };
    if !text.trim_start().starts_with('{') {
        return Err(format!("not a results document (a JSON object); {reads}"));
    }
    // Read for these two fields alone: the rest of the document is skipped, not built.
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let said = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => format!("'{s}'"),
        Some(v) => v.to_string(),
        None => "none".to_owned(),
    };
    let version = envelope.schema_version.as_ref().and_then(|v| v.as_u64());
    let known = version.is_some_and(|v| (1..=u64::from(SCHEMA_VERSION)).contains(&v));
    if envelope.schema.as_ref().and_then(|s| s.as_str()) != Some(SCHEMA) || !known {
        return Err(format!(
            "schema {} version {}; {reads}",
            said(&envelope.schema),
            said(&envelope.schema_version)
        ));
    }
    Ok(())
}

/// A document being filled, rewritten to its file (if any) after every entry.
///
/// A write that fails once the run has started does not lose the entry or stop the run: the document in memory
/// stays whole, every later change tries the file again, and [`ResultsFile::finish`] says whether the file
/// holds it all at the end.
pub struct ResultsFile {
    doc: ResultsDoc,
    path: Option<PathBuf>,
    /// The path leads to a stream ([`crate::io::is_stream`]): written once, by [`ResultsFile::finish`].
    stream: bool,
    /// The failure of the latest write, when it failed.
    failed: Option<FileError>,
}

impl ResultsFile {
    /// A document written to `path` (when given) as entries arrive. Writes the empty document at once, so a bad
    /// path is reported before any work is done; a stream (a pipe, a FIFO, `/dev/stdout`) gets the whole
    /// document once, at [`ResultsFile::finish`], instead.
    pub fn create(meta: Meta, path: Option<PathBuf>) -> Result<Self, FileError> {
        let stream = path.as_deref().is_some_and(crate::io::is_stream);
        let file = Self {
            doc: ResultsDoc::new(meta),
            path,
            stream,
            failed: None,
        };
        if !stream {
            file.flush()?;
        }
        Ok(file)
    }

    /// Adds an entry and rewrites the file. A failed write is kept for [`ResultsFile::finish`] rather than
    /// returned, so that the caller goes on with its run.
    pub fn push(&mut self, entry: Entry) {
        self.doc.entries.push(entry);
        self.rewrite();
    }

    /// The document so far.
    pub fn doc(&self) -> &ResultsDoc {
        &self.doc
    }

    /// Records the gate's summary and rewrites the file. As with [`ResultsFile::push`], a failed write is kept
    /// for [`ResultsFile::finish`].
    pub fn set_gate(&mut self, summary: GateSummary) {
        self.doc.gate = Some(summary);
        self.rewrite();
    }

    /// Mutable access to the meta block (for example to record the GPU once it is known).
    pub fn meta_mut(&mut self) -> &mut Meta {
        &mut self.doc.meta
    }

    /// Rewrites the file, if any.
    pub fn flush(&self) -> Result<(), FileError> {
        match &self.path {
            Some(path) => self.doc.write(path),
            None => Ok(()),
        }
    }

    /// The failure of the latest write, when it failed (later writes may still succeed).
    pub fn write_failure(&self) -> Option<&FileError> {
        self.failed.as_ref()
    }

    /// Ends the document: when the latest write failed, tries once more, and returns the error if the file
    /// still does not hold the whole document.
    pub fn finish(&mut self) -> Result<(), FileError> {
        if self.stream {
            return self.flush();
        }
        if self.failed.is_some() {
            self.rewrite();
        }
        self.failed.take().map_or(Ok(()), Err)
    }

    fn rewrite(&mut self) {
        if !self.stream {
            self.failed = self.flush().err();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document written by `judge run --json` before the bench fields existed.
    const RUN_V1: &str = include_str!("../tests/data/run-v1.json");

    #[test]
    fn documents_written_before_the_bench_fields_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run-v1.json");
        std::fs::write(&path, RUN_V1).unwrap();
        let doc = ResultsDoc::read(&path).unwrap();
        assert_eq!(doc.schema_version, 1);
        assert_eq!(
            (doc.meta.cpu_peak.clone(), doc.meta.bench.clone()),
            (None, None)
        );
        let entry = &doc.entries[0];
        assert_eq!((entry.mode, entry.verdict), (Mode::Check, Verdict::Pass));
        assert!(entry.derived.is_none() && entry.errors.is_none());
        let timing = entry.timing.as_ref().unwrap();
        assert_eq!((timing.stop, timing.input_sets), (None, None));
        assert_eq!(timing.summary.median_ci, None);
        // Written again and read back, it is the same document.
        let again = dir.path().join("again.json");
        doc.write(&again).unwrap();
        assert_eq!(ResultsDoc::read(&again).unwrap(), doc);
    }

    #[test]
    fn newer_versions_and_other_schemas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let newer = RUN_V1.replacen("\"schema_version\": 1", "\"schema_version\": 2", 1);
        let other = RUN_V1.replacen("judge.results", "someone.else", 1);
        for (name, text) in [("newer.json", newer), ("other.json", other)] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let message = ResultsDoc::read(&path).unwrap_err().to_string();
            assert!(message.contains("this judge reads"), "{message}");
        }
    }

    /// A document of another version is refused for its version, even where its fields differ from this one's,
    /// and so are version 0, a document that is not an object, and one without a schema.
    #[test]
    fn other_versions_are_refused_before_their_fields_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut v2: serde_json::Value = serde_json::from_str(RUN_V1).unwrap();
        v2["schema_version"] = 2.into();
        v2["meta"].as_object_mut().unwrap().remove("seed");
        let v0 = RUN_V1.replacen("\"schema_version\": 1", "\"schema_version\": 0", 1);
        let cases = [
            (
                v2.to_string(),
                "schema 'judge.results' version 2; this judge reads 'judge.results' version 1",
            ),
            (v0, "schema 'judge.results' version 0; this judge reads"),
            ("[]".to_owned(), "not a results document (a JSON object)"),
            ("{\"entries\": []}".to_owned(), "schema none version none"),
        ];
        for (i, (text, expected)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("doc{i}.json"));
            std::fs::write(&path, text).unwrap();
            let message = ResultsDoc::read(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.contains(&format!("doc{i}.json")), "{message}");
        }
        // A damaged document is refused with the line and column of the damage.
        let path = dir.path().join("cut.json");
        std::fs::write(&path, &RUN_V1[..RUN_V1.len() / 2]).unwrap();
        let message = ResultsDoc::read(&path).unwrap_err().to_string();
        assert!(
            message.contains("cut.json")
                && message.contains(" line ")
                && message.contains(" column "),
            "{message}"
        );
    }

    /// Percentiles and ceilings that a log axis cannot show are refused like the median.
    #[test]
    fn negative_percentiles_and_zero_ceilings_are_refused() {
        let mut doc: ResultsDoc = serde_json::from_str(RUN_V1).unwrap();
        if let Some(t) = &mut doc.entries[0].timing {
            t.summary.p10 = -1.0;
        }
        let message = doc.check_times().unwrap_err();
        assert!(message.contains("p10 time -1 s"), "{message}");
        if let Some(t) = &mut doc.entries[0].timing {
            t.summary.p10 = t.summary.min;
        }
        assert_eq!(doc.check_times(), Ok(()));
        doc.meta.cpu_peak = Some(CpuCeilings {
            fma_gflops: 100.0,
            read_gbps: 0.0,
            threads: 1,
            simd: "scalar".to_owned(),
        });
        let message = doc.check_times().unwrap_err();
        assert!(message.contains("read bandwidth 0"), "{message}");
    }

    #[test]
    fn negative_or_infinite_times_are_refused_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut doc: ResultsDoc = serde_json::from_str(RUN_V1).unwrap();
        if let Some(t) = &mut doc.entries[0].timing {
            t.summary.median = -1.0;
        }
        let path = dir.path().join("negative.json");
        doc.write(&path).unwrap();
        let message = ResultsDoc::read(&path).unwrap_err().to_string();
        let first = &doc.entries[0];
        assert!(
            message.contains(&format!(
                "entry 1 ({} on {}, check): median time -1 s",
                first.solution, first.case.name
            )),
            "{message}"
        );
        // JSON cannot hold an infinite or NaN time (the reader refuses `1e999` and `null`), but a document built
        // in memory can.
        for bad in [f64::INFINITY, f64::NAN] {
            if let Some(t) = &mut doc.entries[0].timing {
                t.summary.median = 1e-3;
                t.summary.max = bad;
            }
            let message = doc.check_times().unwrap_err();
            assert!(message.contains(&format!("max time {bad} s")), "{message}");
        }
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "\"median\": -1.0",
            "\"median\": 1e999",
            1,
        );
        std::fs::write(&path, text).unwrap();
        assert!(ResultsDoc::read(&path).is_err());
    }

    #[test]
    fn a_results_file_that_cannot_be_written_keeps_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join("r.json");
        let template: ResultsDoc = serde_json::from_str(RUN_V1).unwrap();
        let entry = template.entries[0].clone();
        let mut file = ResultsFile::create(template.meta.clone(), Some(path.clone())).unwrap();
        file.push(entry.clone());
        std::fs::remove_dir_all(&sub).unwrap();
        // The write fails, the run goes on.
        file.push(entry.clone());
        assert!(file.write_failure().is_some());
        file.push(entry.clone());
        assert_eq!(file.doc().entries.len(), 3);
        let message = file.finish().unwrap_err().to_string();
        assert!(message.contains("r.json"), "{message}");
        // Writable again: the next write holds the whole document.
        std::fs::create_dir(&sub).unwrap();
        file.push(entry);
        assert!(file.finish().is_ok());
        assert_eq!(ResultsDoc::read(&path).unwrap().entries.len(), 4);
    }

    #[test]
    fn a_stream_gets_one_whole_document_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("r.json");
        crate::io::make_fifo(&fifo);
        let template: ResultsDoc = serde_json::from_str(RUN_V1).unwrap();
        let entry = template.entries[0].clone();
        // Nothing is written (or opened) before the end: a FIFO with no reader yet would hold the judge here.
        let mut file = ResultsFile::create(template.meta.clone(), Some(fifo.clone())).unwrap();
        file.push(entry.clone());
        file.push(entry);
        let reader = crate::io::read_fifo_in_background(&fifo);
        file.finish().unwrap();
        let doc: ResultsDoc = serde_json::from_slice(&reader.join().unwrap()).unwrap();
        assert_eq!(doc.entries.len(), 2);
    }

    #[test]
    fn derived_metrics_by_hand() {
        // Perf shape: 12,861,504 bytes and 4·32·128·(128 + 32768) = 538,968,064 FLOPs.
        let shape = Shape::PERF;
        assert_eq!(shape.reduced_flops(), 538_968_064);
        let d = Derived::new(shape, 0.01, None, Some(&Basis::FmaPeak { gflops: 100.0 }));
        assert!((d.gbps - 1.286_150_4).abs() < 1e-9);
        assert!((d.gflops - 53.896_806_4).abs() < 1e-9);
        assert!((d.intensity - 538_968_064.0 / 12_861_504.0).abs() < 1e-12);
        match d.speed_of_light {
            Some(SpeedOfLight::FmaPeak {
                percent, floor_s, ..
            }) => {
                assert!((percent - 53.896_806_4).abs() < 1e-9);
                assert!((floor_s - 0.005_389_680_64).abs() < 1e-15);
            }
            other => panic!("{other:?}"),
        }
        let copy = Reference::copy(
            ReferenceKind::DeviceCopy,
            shape.min_bytes(),
            vec![5e-6, 5.5e-6, 6e-6, 6e-6, 6.5e-6, 7e-6],
        )
        .unwrap();
        let g = Derived::new(shape, 9e-6, None, Some(&Basis::DeviceCopy(copy.clone())));
        assert_eq!(
            g.speed_of_light.map(|s| (s.label(), s.basis_s())),
            Some(("×1.50 copy".to_owned(), 6e-6))
        );
        // With the time's interval: the copy's (six samples: its whole range, 5-7 µs) bounds the ratio from
        // 8 / 7 to 10 / 5.
        let ci = Interval {
            low: 8e-6,
            high: 10e-6,
        };
        let h = Derived::new(shape, 9e-6, Some(ci), Some(&Basis::DeviceCopy(copy)));
        match h.speed_of_light {
            Some(
                sol @ SpeedOfLight::DeviceCopy {
                    ratio_ci: Some(r), ..
                },
            ) => {
                assert!(
                    (r.low - 8.0 / 7.0).abs() < 1e-12 && (r.high - 2.0).abs() < 1e-12,
                    "{r:?}"
                );
                assert_eq!(sol.label(), "×1.50 copy (1.14–2.00)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_reference_is_the_faster_copy() {
        let bytes = Shape::PERF.min_bytes();
        let kernel =
            Reference::copy(ReferenceKind::CopyKernel, bytes, vec![7e-6, 7.5e-6, 8e-6]).unwrap();
        let driver =
            Reference::copy(ReferenceKind::DeviceCopy, bytes, vec![10e-6, 11e-6, 12e-6]).unwrap();
        for (a, b) in [
            (kernel.clone(), driver.clone()),
            (driver.clone(), kernel.clone()),
        ] {
            let r = Reference::faster(a, b);
            assert_eq!(r.kind, ReferenceKind::CopyKernel);
            assert_eq!(r.summary.median, 7.5e-6);
            assert_eq!(
                r.slower,
                Some(SlowerCopy {
                    kind: ReferenceKind::DeviceCopy,
                    median_s: 11e-6
                })
            );
        }
        // A tie keeps the first.
        let same = Reference::copy(ReferenceKind::CopyKernel, bytes, vec![11e-6]).unwrap();
        assert_eq!(
            Reference::faster(driver.clone(), same).kind,
            ReferenceKind::DeviceCopy
        );
        // Written and read back; a reference from before the slower copy was kept reads as one without it.
        let r = Reference::faster(kernel, driver);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"kind\":\"copy-kernel\""), "{text}");
        assert_eq!(serde_json::from_str::<Reference>(&text).unwrap(), r);
        // A reference without a slower copy is written as documents were before that field existed.
        let old = serde_json::to_string(
            &Reference::copy(ReferenceKind::DeviceCopy, 16, vec![1e-6]).unwrap(),
        )
        .unwrap();
        assert!(
            old.contains("\"kind\":\"device-copy\"") && !old.contains("slower"),
            "{old}"
        );
        let read: Reference = serde_json::from_str(&old).unwrap();
        assert_eq!((read.kind, read.slower), (ReferenceKind::DeviceCopy, None));
    }

    /// A file name can be any bytes: a case file (or a submission, or a baseline) whose name is not UTF-8 is
    /// written with U+FFFD in place of the bytes, as the command line is, where the document could not be
    /// written at all.
    #[test]
    fn paths_that_are_not_utf8_are_written_as_text() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"case-\xff.npz");
        let mut doc: ResultsDoc = serde_json::from_str(RUN_V1).unwrap();
        doc.entries[0].case.source = CaseSource::File {
            path: dir.path().join(name),
        };
        let path = dir.path().join("results.json");
        doc.write(&path).unwrap();
        let read = ResultsDoc::read(&path).unwrap();
        let CaseSource::File { path: case } = &read.entries[0].case.source else {
            panic!("{:?}", read.entries[0].case.source);
        };
        assert_eq!(case, &dir.path().join("case-\u{fffd}.npz"));
    }
}
