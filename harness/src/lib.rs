//! The judge: generates valid inputs, runs every solution variant through one trait, checks each output against
//! an f64 oracle, times and reports.
//!
//! * [`challenge`]: everything specific to the TurboQuant challenge (generators, oracle, suites, quality);
//! * [`check`]: the element-wise checker and its report;
//! * [`runner`]: one checked call of one solution on one case;
//! * [`results`]: the versioned results document;
//! * [`timing`]: the sampler trait and the sampling loop;
//! * [`gpu`]: GPU timing (CUDA events, stream hold, L2 flush by reads) and the device-copy reference;
//! * [`io`]: case files (`.npz`, `.safetensors`, JSON);
//! * [`commands`] and [`cli`]: the `judge` command line.

pub mod challenge;
pub mod check;
pub mod cli;
pub mod commands;
pub mod cpu_peak;
pub mod gpu;
pub mod io;
pub mod meta;
pub mod results;
pub mod runner;
pub mod stats;
pub mod table;
pub mod timing;
pub mod verdict;
