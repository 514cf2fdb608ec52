//! The judge: generates valid inputs, runs every solution variant through one trait, checks each output against
//! an f64 oracle, times and reports.
//!
//! * [`challenge`]: everything specific to the TurboQuant challenge (generators, oracle, suites, quality);
//! * [`check`]: the element-wise checker and its report;
//! * [`runner`]: one checked call of one solution on one case;
//! * [`results`]: the versioned results document;
//! * [`timing`]: the sampler trait and the sampling loop;
//! * [`stats`]: summaries, the median's confidence interval, outliers;
//! * [`bench`](mod@bench): `judge bench` (presets, axes, sampling every solution on every case);
//! * [`compare`]: two results documents side by side, with a noise judgement;
//! * [`report`]: HTML, Markdown and PNG/SVG charts rendered from a results document;
//! * [`gpu`]: GPU timing (CUDA events, stream hold, L2 flush by reads) and the device-copy reference;
//! * [`io`]: case files (`.npz`, `.safetensors`, JSON);
//! * [`submission`]: submitted sources and libraries, and compiling them;
//! * [`sandbox`]: the worker process that runs submitted code, its protocol and limits;
//! * [`gate`]: judging one submission with every anti-cheat check, for CI (JUnit, Markdown, JSON);
//! * [`commands`] and [`cli`]: the `judge` command line.

// Commands print through `outln!`, which stops quietly when stdout is closed; a plain `print!` would panic there.
#![cfg_attr(not(test), deny(clippy::print_stdout))]

pub mod bench;
pub mod challenge;
pub mod check;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod cpu_peak;
pub mod error_profile;
pub mod escape;
pub mod gate;
pub mod gpu;
pub mod io;
pub mod meta;
pub mod report;
pub mod results;
pub mod runner;
pub mod sandbox;
pub mod stats;
pub mod submission;
pub mod table;
pub mod timing;
pub mod verdict;
