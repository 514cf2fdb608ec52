//! GPU timing (DESIGN.md §5): a [`crate::timing::Sampler`] that times exactly one solve of a CUDA variant
//! with CUDA events, and the "speed of light" reference, a device-to-device copy of the same byte count
//! measured the same way: the faster of the judge's copy kernel and the driver's `cuMemcpyDtoDAsync`.
//!
//! One sample, in order, on the variant's stream:
//!
//! 1. **Warm**: an untimed solve of the same input set (so its inputs and outputs are in L2 as far as they fit),
//!    then the output is poisoned. **Cold**: the output is poisoned, then the L2 is flushed by *reading* a
//!    buffer of 4× the L2 size (the default, [`FlushMethod::Read`]): afterwards the L2 holds clean lines of that
//!    buffer only — no input bytes and no dirty lines, so nothing is written back during the measured call.
//!    ([`FlushMethod::Memset`], kept for comparison, leaves the L2 full of dirty lines.)
//! 2. A hold kernel spins on a flag in mapped host memory, so the stream cannot reach the start event before
//!    the host has queued every launch of the call (host launch latency stays out of the number). It takes
//!    every thread slot of the device, so no other stream's kernels run before the start event either.
//! 3. Start event, the solve ([`solutions::Prepared::run`]), end event; the host releases the hold.
//! 4. A device-wide synchronize ends the sample; its time is the events' difference.
//!
//! Samplers rotate among several prepared input sets; the caller's [`crate::timing::collect`] warms up and
//! decides how many samples to take.
//!
//! Entry points: [`CudaTiming`] (what `judge bench` times CUDA variants with: a
//! [`crate::bench::sampler::GpuTiming`] built on the pieces below), [`GpuSampler::new`] (one variant, several
//! input sets, one regime), [`reference_copy`] (the reference; [`measure_copy`] and [`time_copy`] time one way
//! of copying), [`measure_empty`] (the floor of the method: an empty kernel timed the same way), [`gpu_info`]
//! (for the results' `meta`).

mod sampler;
mod timer;
mod timing;

use std::fmt;

use solutions::SolveError;
use solutions::cuda::{CudaError, gpu};

use crate::meta::GpuInfo;
use crate::results::Mode;

pub use sampler::{
    CopySetup, DeviceCopy, EmptyKernel, GpuSampler, Timed, measure_copy, measure_empty,
    reference_copy, time_copy,
};
pub use timer::Hold;
pub use timer::flush_bytes;
pub use timing::{CudaTiming, GpuOptions, cache_regime};

/// What the cache holds when the timed call starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Regime {
    /// The same input set was solved just before (untimed): inputs and outputs are in L2 as far as they fit.
    Warm,
    /// The L2 was flushed: no input bytes and no dirty lines in it.
    Cold,
}

impl Regime {
    /// Both regimes, warm first.
    pub const ALL: [Regime; 2] = [Regime::Warm, Regime::Cold];

    /// `warm` or `cold`.
    pub const fn name(self) -> &'static str {
        match self {
            Regime::Warm => "warm",
            Regime::Cold => "cold",
        }
    }
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mode that is not a GPU cache regime (`check`: one untimed-by-events correctness call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("GPU variants are timed warm or cold, not in {0} mode")]
pub struct NotARegime(pub Mode);

impl TryFrom<Mode> for Regime {
    type Error = NotARegime;

    fn try_from(mode: Mode) -> Result<Regime, NotARegime> {
        match mode {
            Mode::Warm => Ok(Regime::Warm),
            Mode::Cold => Ok(Regime::Cold),
            Mode::Check => Err(NotARegime(mode)),
        }
    }
}

impl From<Regime> for Mode {
    fn from(regime: Regime) -> Mode {
        match regime {
            Regime::Warm => Mode::Warm,
            Regime::Cold => Mode::Cold,
        }
    }
}

/// How a cold sample empties the L2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlushMethod {
    /// Read a buffer of 4× the L2 size: the L2 ends up holding clean lines only. The default.
    Read,
    /// Write (memset) the same buffer: the L2 ends up full of dirty lines that are written back during the
    /// measured call. Only for showing why [`FlushMethod::Read`] is the default.
    Memset,
}

/// The solution name GPU timer errors are reported under.
pub const TIMER: &str = "judge GPU timer";

/// A [`SolveError`] of the GPU timer.
pub(crate) fn timer_error(context: &str, error: CudaError) -> SolveError {
    SolveError::Cuda {
        solution: TIMER.to_owned(),
        context: context.to_owned(),
        error: Box::new(error),
    }
}

/// The GPU the CUDA variants use, for the results' `meta`; `None` when there is none.
pub fn gpu_info() -> Option<GpuInfo> {
    let gpu = gpu().ok()?;
    let info = &gpu.info;
    let nvrtc = solutions::cuda::nvrtc::nvrtc()
        .ok()
        .map(|n| format!("{}.{}", n.version.0, n.version.1));
    Some(GpuInfo {
        name: info.name.clone(),
        compute_capability: format!(
            "{}.{}",
            info.compute_capability.0, info.compute_capability.1
        ),
        driver: match driver_release() {
            Some(release) => format!("{release} (CUDA {})", info.driver_cuda()),
            None => format!("CUDA {}", info.driver_cuda()),
        },
        memory_bytes: info.memory_bytes,
        multiprocessors: Some(info.multiprocessors),
        l2_bytes: Some(info.l2_bytes),
        nvrtc,
    })
}

/// The kernel driver's release (`580.159.04`), from `/proc/driver/nvidia/version` on Linux.
fn driver_release() -> Option<String> {
    let text = std::fs::read_to_string("/proc/driver/nvidia/version").ok()?;
    let line = text.lines().next()?;
    line.split_whitespace()
        .find(|w| {
            w.chars().next().is_some_and(|c| c.is_ascii_digit())
                && w.contains('.')
                && w.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(str::to_owned)
}
