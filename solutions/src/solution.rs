//! The [`Solution`] trait: the one interface through which the harness runs every variant, built-in or
//! submitted, on CPU or GPU.
//!
//! The life of a variant on one case: the harness asks [`Solution::availability`]; if available, it calls
//! [`Solution::prepare`] once per input set (upload, allocate, compile: nothing that computes the answer),
//! then, for each timed or checked call, [`Prepared::poison_output`], [`Prepared::run`] (exactly one solve)
//! and [`Prepared::read_output`]. Timing, checking and reporting belong to the harness.

use std::fmt;
use std::sync::Arc;

use cudarc::driver::CudaStream;
use serde::{Deserialize, Serialize};

use crate::cuda::CudaError;
use crate::problem::{InputError, Inputs};

/// The value the harness writes into every output element before each call: a quiet NaN with a recognisable
/// payload, so an element left unwritten is reported as such.
pub const POISON: f32 = f32::from_bits(0x7fc0_dead);

/// Where a variant computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// On the host's cores.
    Cpu,
    /// On an NVIDIA GPU through the CUDA driver.
    Cuda,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        })
    }
}

/// Whether a variant can run on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// It can run here.
    Available,
    /// It cannot run here; the reason is shown to the user (no GPU, no driver, a CPU feature missing, …).
    Unavailable(String),
}

impl Availability {
    /// True when the variant can run here.
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }
}

/// Why a variant could not prepare or run a case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// The variant cannot run on this machine.
    #[error("{solution} cannot run here: {reason}")]
    Unavailable { solution: String, reason: String },
    /// The inputs handed over are not valid for this variant.
    #[error("{solution}: invalid input: {source}")]
    Input {
        solution: String,
        #[source]
        source: InputError,
    },
    /// The caller's output slice has the wrong length.
    #[error("{solution}: output slice has {actual} elements, the case needs B·S = {expected}")]
    OutputLength {
        solution: String,
        expected: usize,
        actual: usize,
    },
    /// A CUDA call failed; `context` says which kernel or call of the variant.
    #[error("{solution}: {context}: {error}")]
    Cuda {
        solution: String,
        context: String,
        error: Box<CudaError>,
    },
    /// Any other failure, with what the variant was doing.
    #[error("{solution}: {context}: {message}")]
    Failed {
        solution: String,
        context: String,
        message: String,
    },
}

/// A variant of the challenge: a name, a backend, and a way to prepare a case.
pub trait Solution: Send + Sync {
    /// The name shown in listings and results (`cpu-naive`, `cuda-smem`, …).
    fn name(&self) -> &str;

    /// One line saying what the variant does.
    fn description(&self) -> &str;

    /// Where it computes.
    fn backend(&self) -> Backend;

    /// Whether it can run here, and if not, why.
    fn availability(&self) -> Availability;

    /// Gets ready to solve `inputs` (copies, uploads, allocations, compilation). Work that depends on the
    /// inputs' values (such as `Q·Piᵀ`) belongs in [`Prepared::run`], where it is timed.
    fn prepare<'a>(&self, inputs: &'a Inputs) -> Result<Box<dyn Prepared + 'a>, SolveError>;
}

/// A variant holding one prepared input set and its output buffer.
pub trait Prepared {
    /// Fills the whole output buffer with [`POISON`].
    fn poison_output(&mut self) -> Result<(), SolveError>;

    /// Runs exactly one solve into the output buffer. A CPU variant returns when it is done; a GPU variant may
    /// return once its work is queued, and [`Prepared::synchronize`] waits for it.
    fn run(&mut self) -> Result<(), SolveError>;

    /// Waits until every piece of work started by [`Prepared::run`] has finished.
    fn synchronize(&mut self) -> Result<(), SolveError> {
        Ok(())
    }

    /// Waits for outstanding work and copies the scores, `[B, S]` row-major, into `out`.
    fn read_output(&mut self, out: &mut [f32]) -> Result<(), SolveError>;

    /// The CUDA stream on which [`Prepared::run`] enqueues all of its work, for the harness's GPU timer: it holds
    /// this stream before the call and records its events on it. `None` (the default) for CPU variants.
    fn cuda_stream(&self) -> Option<Arc<CudaStream>> {
        None
    }
}

/// Checks that a caller's output slice has `expected` elements; shared by every variant's `read_output`.
pub fn check_output_len(solution: &str, out: &[f32], expected: usize) -> Result<(), SolveError> {
    if out.len() == expected {
        Ok(())
    } else {
        Err(SolveError::OutputLength {
            solution: solution.to_owned(),
            expected,
            actual: out.len(),
        })
    }
}

/// A prepared CPU variant whose solve is a plain function of the inputs into a host buffer.
///
/// Most CPU variants (built-in and known-bad) need nothing more: they hold the inputs and an output vector,
/// and `run` calls `solve`.
pub struct HostPrepared<'a, F> {
    name: String,
    inputs: &'a Inputs,
    out: Vec<f32>,
    solve: F,
}

impl<'a, F> HostPrepared<'a, F>
where
    F: FnMut(&Inputs, &mut [f32]),
{
    /// Wraps `solve` (which must write every element of its output slice) for `inputs`.
    pub fn new(name: &str, inputs: &'a Inputs, solve: F) -> Self {
        Self {
            name: name.to_owned(),
            inputs,
            out: vec![POISON; inputs.shape().output_len()],
            solve,
        }
    }
}

impl<F> Prepared for HostPrepared<'_, F>
where
    F: FnMut(&Inputs, &mut [f32]),
{
    fn poison_output(&mut self) -> Result<(), SolveError> {
        self.out.fill(POISON);
        Ok(())
    }

    fn run(&mut self) -> Result<(), SolveError> {
        (self.solve)(self.inputs, &mut self.out);
        Ok(())
    }

    fn read_output(&mut self, out: &mut [f32]) -> Result<(), SolveError> {
        check_output_len(&self.name, out, self.out.len())?;
        out.copy_from_slice(&self.out);
        Ok(())
    }
}
