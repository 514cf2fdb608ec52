//! The physical floor of one call (DESIGN.md §5): no correct solve can beat moving `Shape::min_bytes()` at
//! the measured memory bandwidth, nor doing `Shape::reduced_flops()` at the measured FMA peak. A time below a
//! fraction of it is not "fast" but *suspicious*: work cached across calls, work left running after `solve`
//! returned, or a clock that lies.
//!
//! The fraction is deliberately generous ([`SUSPICIOUS_FRACTION`]): warm caches read faster than memory, a
//! peak measured on a busy machine reads low, and cleverer arithmetic (tables instead of multiplies) needs
//! fewer flops than the reduced form. Only a time several times below every honest explanation is flagged.
//!
//! On a GPU the floor is the byte term alone ([`Floor::gpu`]), at the bandwidth of a device-to-device copy
//! measured on the device: tensor cores do the reduced form's flops in less time than the bytes take, so no
//! flop rate bounds an honest kernel from below.

use serde::{Deserialize, Serialize};
use solutions::Shape;

use crate::commands::format_seconds;
use crate::cpu_peak::CpuPeak;

/// A call faster than this fraction of the floor is suspicious ("a quarter" in [`Floor::finding`]).
pub const SUSPICIOUS_FRACTION: f64 = 0.25;

/// The floor of one call at one shape on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    /// The floor itself: the larger of the two terms, in seconds.
    pub seconds: f64,
    /// Bytes that must move (`Shape::min_bytes`).
    pub bytes: u64,
    /// Flops of the reduced form (`Shape::reduced_flops`).
    pub flops: u64,
    /// Bytes that must move, over the measured bandwidth, in seconds.
    pub bytes_s: f64,
    /// Flops of the reduced form, over the measured peak, in seconds (`None` on a GPU: not a bound).
    #[serde(default)]
    pub flops_s: Option<f64>,
    /// The bandwidth used, in GB/s.
    pub bandwidth_gbps: f64,
    /// The peak used, in GFLOP/s (`None` on a GPU).
    #[serde(default)]
    pub peak_gflops: Option<f64>,
}

impl Floor {
    /// The floor of `shape` at `bandwidth_gbps` (10⁹ bytes/s) and `peak_gflops` (10⁹ flop/s).
    pub fn new(shape: Shape, bandwidth_gbps: f64, peak_gflops: f64) -> Floor {
        let bytes_s = shape.min_bytes() as f64 / (bandwidth_gbps * 1e9);
        let flops_s = shape.reduced_flops() as f64 / (peak_gflops * 1e9);
        Floor {
            seconds: bytes_s.max(flops_s),
            bytes: shape.min_bytes(),
            flops: shape.reduced_flops(),
            bytes_s,
            flops_s: Some(flops_s),
            bandwidth_gbps,
            peak_gflops: Some(peak_gflops),
        }
    }

    /// The GPU floor of `shape`: its bytes at the bandwidth of a device copy of `copy_bytes` bytes that took
    /// `copy_s` seconds (a copy reads and writes its bytes, so it moves twice `copy_bytes`).
    pub fn gpu(shape: Shape, copy_bytes: u64, copy_s: f64) -> Floor {
        let bandwidth_gbps = 2.0 * copy_bytes as f64 / copy_s / 1e9;
        let bytes_s = shape.min_bytes() as f64 / (bandwidth_gbps * 1e9);
        Floor {
            seconds: bytes_s,
            bytes: shape.min_bytes(),
            flops: shape.reduced_flops(),
            bytes_s,
            flops_s: None,
            bandwidth_gbps,
            peak_gflops: None,
        }
    }

    /// The CPU floor from measured limits.
    pub fn cpu(shape: Shape, peak: &CpuPeak) -> Floor {
        Floor::new(shape, peak.read_gbps, peak.fma_gflops)
    }

    /// Times below this many seconds are suspicious.
    pub fn threshold(&self) -> f64 {
        self.seconds * SUSPICIOUS_FRACTION
    }

    /// Why `seconds`, the time of `what` (`"a call"`), is suspicious, naming the floor and its terms; `None`
    /// when it is not below [`Floor::threshold`].
    pub fn finding(&self, what: &str, seconds: f64) -> Option<String> {
        if seconds >= self.threshold() {
            return None;
        }
        let flops = match (self.flops_s, self.peak_gflops) {
            (Some(t), Some(peak)) => format!(
                "; {} flops at {peak:.0} GFLOP/s: {}",
                self.flops,
                format_seconds(t)
            ),
            _ => String::new(),
        };
        Some(format!(
            "{what} took {}, below a quarter of the physical floor of {} ({} bytes at {:.0} GB/s: {}{flops})",
            format_seconds(seconds),
            format_seconds(self.seconds),
            self.bytes,
            self.bandwidth_gbps,
            format_seconds(self.bytes_s),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_larger_term() {
        // The perf shape at 3 TB/s and 67 TFLOP/s (an H100, DESIGN.md §2): bytes ≈ 4.3 µs, flops ≈ 8 µs.
        let f = Floor::new(Shape::PERF, 3000.0, 67_000.0);
        assert!((f.bytes_s - 4.29e-6).abs() < 0.01e-6, "{f:?}");
        let flops_s = f.flops_s.unwrap();
        assert!((flops_s - 8.05e-6).abs() < 0.01e-6, "{f:?}");
        assert_eq!(f.seconds, flops_s);
        assert_eq!(f.threshold(), f.seconds * SUSPICIOUS_FRACTION);
    }

    #[test]
    fn the_gpu_floor_is_the_bytes_at_the_copy_bandwidth() {
        // A copy of the perf case's bytes in 7.2 µs (an H100, warm): 3.57 TB/s, a floor of half the copy.
        let f = Floor::gpu(Shape::PERF, Shape::PERF.min_bytes(), 7.2e-6);
        assert!((f.bandwidth_gbps - 3572.6).abs() < 1.0, "{f:?}");
        assert!((f.seconds - 3.6e-6).abs() < 1e-9, "{f:?}");
        assert_eq!((f.flops_s, f.peak_gflops), (None, None));
    }
}
