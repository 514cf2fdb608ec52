//! Which sampler times which backend: the one place where a backend's timing regime plugs into `judge bench`.
//!
//! [`Samplers`] answers three questions per backend: in which modes (warm, cold) and with which clock its
//! solutions are measured ([`Samplers::regime`]), what times one solve ([`Samplers::sampler`], a
//! [`crate::timing::Sampler`] over the prepared input sets), and what "speed of light" the times are compared
//! with ([`Samplers::basis`]: the CPU's measured FMA peak, or a same-size device copy under the same cache
//! regime). [`MachineSamplers`] is the real one: CPU variants through [`CpuSampler`], CUDA variants through a
//! [`GpuTiming`] that the CUDA backend provides (attached with [`MachineSamplers::with_gpu`]). [`Scripted`]
//! replays fixed times so whole benches are testable.

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

/// What a GPU backend gives `judge bench`: its modes, a sampler per measurement, the speed-of-light copy, and
/// the device's description. The CUDA backend implements it and is attached with
/// [`MachineSamplers::with_gpu`]; every CUDA variant is then measured through it.
pub trait GpuTiming {
    /// The modes CUDA variants are measured in, in order (warm, then cold with the L2 flushed).
    fn modes(&self) -> Vec<Mode>;

    /// A sampler timing `solution` in `mode` over its prepared input sets, rotating among them; each
    /// [`Sampler::sample`] is one solve timed with CUDA events, in seconds.
    fn sampler<'s>(
        &'s mut self,
        solution: &'s dyn Solution,
        mode: Mode,
        sets: Vec<Box<dyn Prepared + 's>>,
    ) -> Result<Box<dyn Sampler + 's>, SolveError>;

    /// The median time of a device copy of `bytes` bytes under the cache regime of `mode`, in seconds.
    fn copy_seconds(&mut self, mode: Mode, bytes: u64) -> Result<f64, SolveError>;

    /// The device measured on.
    fn info(&self) -> GpuInfo;
}

/// The samplers of this machine: CPU variants timed by the wall clock in warm mode against the measured
/// FMA peak; CUDA variants through the attached [`GpuTiming`], or skipped with [`NO_GPU_SAMPLER`] when none
/// is attached.
#[derive(Default)]
pub struct MachineSamplers {
    cpu: Option<CpuCeilings>,
    gpu: Option<Box<dyn GpuTiming>>,
}

impl MachineSamplers {
    /// Samplers comparing CPU times with `cpu` (measure it with [`crate::cpu_peak::measure`]); no GPU.
    pub fn new(cpu: Option<CpuCeilings>) -> Self {
        Self { cpu, gpu: None }
    }

    /// The same, measuring CUDA variants through `gpu`.
    pub fn with_gpu(self, gpu: Box<dyn GpuTiming>) -> Self {
        Self {
            gpu: Some(gpu),
            ..self
        }
    }
}

impl Samplers for MachineSamplers {
    fn regime(&self, backend: Backend) -> Regime {
        match (backend, &self.gpu) {
            (Backend::Cpu, _) => Regime::Measured {
                modes: vec![Mode::Warm],
                clock: Clock::Wall,
            },
            (Backend::Cuda, Some(gpu)) => Regime::Measured {
                modes: gpu.modes(),
                clock: Clock::CudaEvents,
            },
            (Backend::Cuda, None) => Regime::Unsupported {
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
        let unsupported = |message: String| SolveError::Failed {
            solution: solution.name().to_owned(),
            context: format!("{} sampler, {mode} mode", solution.backend()),
            message,
        };
        if sets.is_empty() {
            return Err(unsupported("no prepared input set".to_owned()));
        }
        match (solution.backend(), mode, &mut self.gpu) {
            (Backend::Cpu, Mode::Warm, _) => Ok(Box::new(CpuSampler::new(sets))),
            (Backend::Cuda, _, Some(gpu)) => gpu.sampler(solution, mode, sets),
            (backend, mode, _) => Err(unsupported(format!(
                "{backend} solutions are not timed in {mode} mode here"
            ))),
        }
    }

    fn basis(
        &mut self,
        backend: Backend,
        mode: Mode,
        shape: Shape,
    ) -> Result<Option<Basis>, SolveError> {
        Ok(match (backend, &mut self.gpu) {
            (Backend::Cpu, _) => self.cpu.as_ref().map(|c| Basis::FmaPeak {
                gflops: c.fma_gflops,
            }),
            (Backend::Cuda, Some(gpu)) => Some(Basis::DeviceCopy {
                seconds: gpu.copy_seconds(mode, shape.min_bytes())?,
            }),
            (Backend::Cuda, None) => None,
        })
    }

    fn cpu_ceilings(&self) -> Option<CpuCeilings> {
        self.cpu.clone()
    }

    fn gpu(&self) -> Option<GpuInfo> {
        self.gpu.as_ref().map(|g| g.info())
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
