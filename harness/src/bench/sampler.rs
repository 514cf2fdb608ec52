//! Which sampler times which backend: the one place where a backend's timing regime plugs into `judge bench`.
//!
//! [`Samplers`] answers three questions per backend: in which modes (warm, cold) and with which clock its
//! solutions are measured ([`Samplers::regime`]), what times one solve ([`Samplers::sampler`], a
//! [`crate::timing::Sampler`] over the prepared input sets), and what "speed of light" the times are compared
//! with ([`Samplers::basis`]: the CPU's measured FMA peak, or a same-size device copy under the same cache
//! regime). [`MachineSamplers`] is the real one; [`Scripted`] replays fixed times so whole benches are testable.

use std::collections::HashMap;

use solutions::{Backend, Prepared, Shape, Solution, SolveError};

use crate::meta::GpuInfo;
use crate::results::{Basis, Clock, CpuCeilings, Mode};
use crate::timing::{CpuSampler, Sampler};

/// How solutions of one backend are measured here.
#[derive(Debug, Clone, PartialEq)]
pub enum Regime {
    /// In these modes (each one entry per solution × case), with this clock.
    Measured {
        /// The modes, in the order they are measured.
        modes: Vec<Mode>,
        /// What takes the samples.
        clock: Clock,
    },
    /// Not measured by this judge on this machine; the reason is shown on a skipped entry.
    Unsupported {
        /// Why.
        reason: String,
    },
}

/// The reason CUDA variants are not timed while no GPU sampler is built into the judge.
pub const NO_GPU_SAMPLER: &str =
    "this judge has no GPU sampler yet (CUDA events, L2 flush): CUDA variants are not timed";

/// Chooses and builds the sampler of each measurement, and knows the limits of the machine.
pub trait Samplers {
    /// How solutions of `backend` are measured.
    fn regime(&self, backend: Backend) -> Regime;

    /// A sampler timing `solution` in `mode` over `sets`, its prepared input sets (one or more, same shape),
    /// which the sampler rotates among: each [`Sampler::sample`] is one timed solve, in seconds. Called only
    /// for a backend and mode that [`Samplers::regime`] lists.
    fn sampler<'s>(
        &'s mut self,
        solution: &'s dyn Solution,
        mode: Mode,
        sets: Vec<Box<dyn Prepared + 's>>,
    ) -> Result<Box<dyn Sampler + 's>, SolveError>;

    /// What times of `backend` in `mode` at `shape` are compared with; `None` when unknown.
    fn basis(
        &mut self,
        backend: Backend,
        mode: Mode,
        shape: Shape,
    ) -> Result<Option<Basis>, SolveError>;

    /// The CPU's measured limits, for the results document and the roofline.
    fn cpu_ceilings(&self) -> Option<CpuCeilings>;

    /// The GPU measured on, for the results document.
    fn gpu(&self) -> Option<GpuInfo>;
}

/// The samplers of this machine: CPU variants timed by the wall clock in warm mode against the measured
/// FMA peak.
///
/// A GPU sampler plugs in here: give this struct a field holding the CUDA timing state (context, flush buffer,
/// copy kernel), fill it in [`MachineSamplers::new`]'s caller when a device is found, and answer the
/// `Backend::Cuda` arms below from it: `regime` → warm and cold with [`Clock::CudaEvents`], `sampler` → the
/// GPU sampler over `sets`, `basis` → [`Basis::DeviceCopy`] with the median time of a copy of
/// [`Shape::min_bytes`] bytes under the same flush regime, `gpu` → the device's [`GpuInfo`].
#[derive(Debug, Clone, Default)]
pub struct MachineSamplers {
    cpu: Option<CpuCeilings>,
}

impl MachineSamplers {
    /// Samplers comparing CPU times with `cpu` (measure it with [`crate::cpu_peak::measure`]).
    pub fn new(cpu: Option<CpuCeilings>) -> Self {
        Self { cpu }
    }
}

impl Samplers for MachineSamplers {
    fn regime(&self, backend: Backend) -> Regime {
        match backend {
            Backend::Cpu => Regime::Measured {
                modes: vec![Mode::Warm],
                clock: Clock::Wall,
            },
            Backend::Cuda => Regime::Unsupported {
                reason: NO_GPU_SAMPLER.to_owned(),
            },
        }
    }

    fn sampler<'s>(
        &'s mut self,
        solution: &'s dyn Solution,
        mode: Mode,
        sets: Vec<Box<dyn Prepared + 's>>,
    ) -> Result<Box<dyn Sampler + 's>, SolveError> {
        match (solution.backend(), mode) {
            (Backend::Cpu, Mode::Warm) if !sets.is_empty() => Ok(Box::new(CpuSampler::new(sets))),
            (backend, mode) => Err(SolveError::Failed {
                solution: solution.name().to_owned(),
                context: format!("{backend} sampler, {mode} mode"),
                message: if sets.is_empty() {
                    "no prepared input set".to_owned()
                } else {
                    format!("{backend} solutions are not timed in {mode} mode here")
                },
            }),
        }
    }

    fn basis(
        &mut self,
        backend: Backend,
        _mode: Mode,
        _shape: Shape,
    ) -> Result<Option<Basis>, SolveError> {
        Ok(match backend {
            Backend::Cpu => self.cpu.as_ref().map(|c| Basis::FmaPeak {
                gflops: c.fma_gflops,
            }),
            Backend::Cuda => None,
        })
    }

    fn cpu_ceilings(&self) -> Option<CpuCeilings> {
        self.cpu.clone()
    }

    fn gpu(&self) -> Option<GpuInfo> {
        None
    }
}

/// Samplers that replay fixed times instead of timing anything (a mock executor), so a whole bench, its
/// document and its reports are deterministic in tests.
///
/// Each solution gets its base time (seconds) from the table, or 1 ms; cold mode adds half of it. Samples
/// cycle through `base × (1, 1.01, 0.99, 1.02, 0.98)`. CPU solutions are measured warm against the given FMA
/// peak, CUDA ones warm and cold against a 2 µs device copy; the sampler never runs the solve itself.
#[derive(Debug, Clone)]
pub struct Scripted {
    times: HashMap<String, f64>,
    cpu: CpuCeilings,
}

impl Scripted {
    /// Replays `times` (solution name → base seconds) on a machine with these ceilings.
    pub fn new(times: &[(&str, f64)], cpu: CpuCeilings) -> Self {
        Self {
            times: times.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect(),
            cpu,
        }
    }

    fn base(&self, name: &str) -> f64 {
        self.times.get(name).copied().unwrap_or(1e-3)
    }
}

/// The sampler [`Scripted`] hands out.
struct Replay {
    base: f64,
    at: usize,
}

impl Sampler for Replay {
    fn sample(&mut self) -> Result<f64, SolveError> {
        const PATTERN: [f64; 5] = [1.0, 1.01, 0.99, 1.02, 0.98];
        let t = self.base * PATTERN[self.at % PATTERN.len()];
        self.at += 1;
        Ok(t)
    }
}

impl Samplers for Scripted {
    fn regime(&self, backend: Backend) -> Regime {
        match backend {
            Backend::Cpu => Regime::Measured {
                modes: vec![Mode::Warm],
                clock: Clock::Wall,
            },
            Backend::Cuda => Regime::Measured {
                modes: vec![Mode::Warm, Mode::Cold],
                clock: Clock::CudaEvents,
            },
        }
    }

    fn sampler<'s>(
        &'s mut self,
        solution: &'s dyn Solution,
        mode: Mode,
        _sets: Vec<Box<dyn Prepared + 's>>,
    ) -> Result<Box<dyn Sampler + 's>, SolveError> {
        let base = self.base(solution.name());
        Ok(Box::new(Replay {
            base: if mode == Mode::Cold { base * 1.5 } else { base },
            at: 0,
        }))
    }

    fn basis(
        &mut self,
        backend: Backend,
        _mode: Mode,
        _shape: Shape,
    ) -> Result<Option<Basis>, SolveError> {
        Ok(Some(match backend {
            Backend::Cpu => Basis::FmaPeak {
                gflops: self.cpu.fma_gflops,
            },
            Backend::Cuda => Basis::DeviceCopy { seconds: 2e-6 },
        }))
    }

    fn cpu_ceilings(&self) -> Option<CpuCeilings> {
        Some(self.cpu.clone())
    }

    fn gpu(&self) -> Option<GpuInfo> {
        None
    }
}
