//! The physical floor of one call (DESIGN.md §5): no correct solve can beat moving `Shape::min_bytes()` at
//! the measured memory bandwidth, nor doing `Shape::reduced_flops()` at the measured FMA peak. A time below a
//! fraction of it is not "fast" but *suspicious*: work cached across calls, work left running after `solve`
//! returned, or a clock that lies.
//!
//! The fraction is deliberately generous ([`SUSPICIOUS_FRACTION`]): warm caches read faster than memory, a
//! peak measured on a busy machine reads low, and cleverer arithmetic (tables instead of multiplies) needs
//! fewer flops than the reduced form. Only a time several times below every honest explanation is flagged.

use serde::{Deserialize, Serialize};
use solutions::Shape;

use crate::cpu_peak::CpuPeak;

/// A call faster than this fraction of the floor is suspicious.
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
    /// Flops of the reduced form, over the measured peak, in seconds.
    pub flops_s: f64,
    /// The bandwidth used, in GB/s.
    pub bandwidth_gbps: f64,
    /// The peak used, in GFLOP/s.
    pub peak_gflops: f64,
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
            flops_s,
            bandwidth_gbps,
            peak_gflops,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_larger_term() {
        // The perf shape at 3 TB/s and 67 TFLOP/s (an H100, DESIGN.md §2): bytes ≈ 4.3 µs, flops ≈ 8 µs.
        let f = Floor::new(Shape::PERF, 3000.0, 67_000.0);
        assert!((f.bytes_s - 4.29e-6).abs() < 0.01e-6, "{f:?}");
        assert!((f.flops_s - 8.05e-6).abs() < 0.01e-6, "{f:?}");
        assert_eq!(f.seconds, f.flops_s);
        assert_eq!(f.threshold(), f.seconds * SUSPICIOUS_FRACTION);
    }
}
