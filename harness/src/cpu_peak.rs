//! The CPU's measured limits, the "speed of light" for CPU variants: single-precision FMA throughput (GFLOP/s,
//! all cores, widest SIMD available) and memory read bandwidth (GB/s, all cores).
//!
//! Both are measured, not looked up: a loop of independent FMA chains long enough to hide the FMA latency, and a
//! parallel read of a buffer far larger than the last-level cache ([`READ_BUFFER_BYTES`], or the largest half,
//! quarter, … of it that can be allocated under a memory limit). Each takes the best of a few short runs.

use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Independent accumulator chains per thread: enough to cover FMA latency × FMA pipes on current cores, where
/// the registers allow it (AVX-512 and NEON have 32 vector registers).
const CHAINS: usize = 16;

/// Chains of the AVX2 loop: x86-64 has only 16 `ymm` registers, and 16 chains beside the two constants spill to
/// memory every round (on two Zen 3 cores the loop then read 108 GFLOP/s, against 190–205 with 12 chains). 12
/// still cover 2 pipes × a 4–5-cycle FMA latency.
const CHAINS_AVX2: usize = 12;

/// Bytes of the buffer whose read gives the bandwidth: far more than the last-level cache of most machines.
pub const READ_BUFFER_BYTES: usize = 256 << 20;

/// The smallest buffer tried when [`READ_BUFFER_BYTES`] cannot be allocated (an address-space limit such as
/// `ulimit -v`); below it the allocation is left to fail as any other would.
pub const MIN_READ_BUFFER_BYTES: usize = 4 << 20;

/// Measured limits of this machine's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuPeak {
    /// Single-precision FMA throughput over all threads, in GFLOP/s (an FMA counts as 2 flops).
    pub fma_gflops: f64,
    /// Memory read bandwidth over all threads, in GB/s (10^9 bytes per second).
    pub read_gbps: f64,
    /// Bytes of the buffer read for [`CpuPeak::read_gbps`]: [`READ_BUFFER_BYTES`], or less where that much could
    /// not be allocated (a cache may then have served part of it, so the bandwidth may read high).
    pub read_bytes: usize,
    /// Threads used.
    pub threads: usize,
    /// The SIMD path of the FMA loop (`avx512`, `avx2+fma`, `neon`, `scalar`).
    pub simd: &'static str,
}

/// Measures the FMA peak and read bandwidth; takes about half a second.
pub fn measure() -> CpuPeak {
    let threads = rayon::current_num_threads();
    let (fma_gflops, simd) = fma_peak(Duration::from_millis(60), 3);
    let buffer = read_buffer(READ_BUFFER_BYTES);
    CpuPeak {
        fma_gflops,
        read_gbps: read_speed(&buffer, 3),
        read_bytes: buffer.len() * 8,
        threads,
        simd,
    }
}

/// Best-of-`repeats` FMA throughput over all rayon threads, each running for about `span`; GFLOP/s and the path.
pub fn fma_peak(span: Duration, repeats: usize) -> (f64, &'static str) {
    let simd = fma_path();
    // Calibrate the iteration count on one thread so one run lasts about `span`.
    let mut iters: u64 = 1 << 14;
    loop {
        let start = Instant::now();
        std::hint::black_box(fma_chains(iters));
        if start.elapsed() >= span / 4 || iters >= 1 << 34 {
            let scale = span.as_secs_f64() / start.elapsed().as_secs_f64().max(1e-9);
            iters = ((iters as f64 * scale) as u64).max(1);
            break;
        }
        iters *= 4;
    }
    let threads = rayon::current_num_threads();
    let flops_per_thread = iters as f64 * chains(simd) as f64 * lanes(simd) as f64 * 2.0;
    let best = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            let sink: f32 = (0..threads)
                .into_par_iter()
                .map(|_| fma_chains(iters))
                .sum();
            std::hint::black_box(sink);
            flops_per_thread * threads as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max);
    (best, simd)
}

/// Best-of-`repeats` read bandwidth of a `bytes`-long buffer (or the largest half, quarter, … of it that can be
/// allocated, down to [`MIN_READ_BUFFER_BYTES`]) over all rayon threads, in GB/s.
pub fn read_bandwidth(bytes: usize, repeats: usize) -> f64 {
    read_speed(&read_buffer(bytes), repeats)
}

/// A buffer of `bytes` bytes of 64-bit words, every page written; where that much cannot be allocated, the
/// largest half, quarter, … of it that can, down to [`MIN_READ_BUFFER_BYTES`] (below which the allocation fails as
/// any other does).
fn read_buffer(bytes: usize) -> Vec<u64> {
    let mut words = (bytes / 8).max(1);
    loop {
        let mut buffer = Vec::new();
        if buffer.try_reserve_exact(words).is_ok() || words * 8 <= MIN_READ_BUFFER_BYTES {
            buffer.resize(words, 1u64);
            return buffer;
        }
        words /= 2;
    }
}

/// Best-of-`repeats` read bandwidth of `words` over all rayon threads, in GB/s.
fn read_speed(words: &[u64], repeats: usize) -> f64 {
    (0..repeats)
        .map(|_| {
            let start = Instant::now();
            let sum: u64 = words
                .par_chunks(1 << 16)
                .map(|c| c.iter().fold(0u64, |a, &w| a.wrapping_add(w)))
                .sum();
            std::hint::black_box(sum);
            (words.len() * 8) as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

fn chains(simd: &str) -> usize {
    if simd == "avx2+fma" {
        CHAINS_AVX2
    } else {
        CHAINS
    }
}

fn lanes(simd: &str) -> usize {
    match simd {
        "avx512" => 16,
        "avx2+fma" => 8,
        "neon" => 4,
        _ => 1,
    }
}

fn fma_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "avx2+fma";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            return "neon";
        }
    }
    "scalar"
}

/// Runs `iters` rounds of `CHAINS` independent FMAs on the widest path available; returns a value the optimiser
/// cannot discard.
fn fma_chains(iters: u64) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { x86::fma_avx512(iters) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { x86::fma_avx2(iters) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            // SAFETY: the CPU supports NEON, checked just above.
            return unsafe { arm::fma_neon(iters) };
        }
    }
    let mut acc = [1.0f32; CHAINS];
    for _ in 0..iters {
        for a in &mut acc {
            *a = a.mul_add(0.999_999, 1e-7);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{CHAINS, CHAINS_AVX2};

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma_avx512(iters: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..iters {
            for v in &mut acc {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_avx2(iters: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(1.0); CHAINS_AVX2];
        for _ in 0..iters {
            for v in &mut acc {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let mut total = 0.0;
        for v in &acc {
            // SAFETY: `lanes` holds exactly 8 f32.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *v) };
            total += lanes.iter().sum::<f32>();
        }
        total
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    use super::CHAINS;

    #[target_feature(enable = "neon")]
    pub(super) unsafe fn fma_neon(iters: u64) -> f32 {
        let (a, b) = (vdupq_n_f32(0.999_999), vdupq_n_f32(1e-7));
        let mut acc = [vdupq_n_f32(1.0); CHAINS];
        for _ in 0..iters {
            for v in &mut acc {
                *v = vfmaq_f32(b, *v, a);
            }
        }
        acc.iter().map(|v| vaddvq_f32(*v)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_and_bandwidth_are_plausible() {
        let (gflops, simd) = fma_peak(Duration::from_millis(5), 1);
        assert!(gflops > 0.1 && gflops < 1e5, "{gflops} GFLOP/s on {simd}");
        let gbps = read_bandwidth(8 << 20, 1);
        assert!(gbps > 0.1 && gbps < 1e4, "{gbps} GB/s");
    }
}
