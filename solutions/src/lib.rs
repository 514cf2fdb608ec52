//! The contract of the TurboQuant attention-scores challenge and every built-in way to solve it.
//!
//! * [`problem`]: shapes, an owned and validated input set, the cost model;
//! * [`solution`]: the [`Solution`] trait every variant implements (built-in or submitted);
//! * [`registry`]: the built-in variants that `judge list` shows;
//! * [`cuda`]: the CUDA backend (driver and NVRTC loaded at run time) and the CUDA variants;
//! * [`known_bad`]: deliberately wrong variants that the judge must reject (test fixtures, listed apart).
//!
//! The harness owns generation, the oracle, checking, timing and reporting; a variant never judges itself.

pub mod cpu_naive;
pub mod cpu_tiled;
pub mod cuda;
pub mod known_bad;
pub mod problem;
pub mod solution;

pub use problem::{Field, InputError, InputParts, Inputs, Shape};
pub use solution::{Availability, Backend, POISON, Prepared, Solution, SolveError};

/// Every built-in variant, in the order `judge list` and `judge run --all` show them.
///
/// Variants that cannot run on this machine are still listed; their [`Solution::availability`] says why.
pub fn registry() -> Vec<Box<dyn Solution>> {
    vec![
        Box::new(cpu_naive::CpuNaive),
        Box::new(cpu_tiled::CpuTiled::new()),
        Box::new(cuda::smem::CudaSmem),
        Box::new(cuda::warpspec::CudaWarpspec),
    ]
}

/// Looks a built-in variant up by its name (as `judge list` prints it).
pub fn find(name: &str) -> Option<Box<dyn Solution>> {
    registry().into_iter().find(|s| s.name() == name)
}
