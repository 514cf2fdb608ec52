//! Which sampler times which backend: the one place where a backend's timing regime plugs into `judge bench`.
//!
//! [`Samplers`] answers, per backend: in which modes (warm, cold) and with which clock its solutions are
//! measured ([`Samplers::regime`]), what times one solve ([`Samplers::sampler`], a [`crate::timing::Sampler`]
//! over the prepared input sets), what the caches hold when a timed call starts ([`Samplers::cache_regime`]),
//! and what "speed of light" the times are compared with ([`Samplers::basis`]: the CPU's measured FMA peak, or
//! a same-size device copy measured under the same cache regime). [`MachineSamplers`] is the real one: CPU
//! variants through [`CpuSampler`], CUDA variants through a [`GpuTiming`] (the CUDA backend's is
//! [`crate::gpu::CudaTiming`], attached with [`MachineSamplers::with_gpu`]). [`Scripted`] replays fixed times
//! so whole benches are testable.

use std::collections::HashMap;

use solutions::{Backend, Prepared, Shape, Solution, SolveError};

use crate::meta::GpuInfo;
use crate::results::{
    Basis, CacheRegime, Clock, CpuCeilings, GpuMethod, Mode, Reference, ReferenceKind,
};
use crate::stats::MIN_SAMPLES_TO_COMPARE;
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

/// Why CUDA variants are not timed when no [`GpuTiming`] is attached and no other reason was given.
pub const NO_GPU_SAMPLER: &str =
    "no GPU timing is attached to this bench: CUDA variants are not timed";

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

    /// What the caches hold when a timed call of `backend` in `mode` starts, when the sampler sets it up.
    fn cache_regime(&self, backend: Backend, mode: Mode) -> Option<CacheRegime>;

    /// The CPU's measured limits, for the results document and the roofline.
    fn cpu_ceilings(&self) -> Option<CpuCeilings>;

    /// Measures the CPU's limits again and keeps the higher of each, before a CPU time is called suspicious:
    /// one measurement taken while other work held the cores reads low, so its floor reads high. The limits
    /// now held (the default: the same, not measured again).
    fn remeasure_cpu_ceilings(&mut self) -> Option<CpuCeilings> {
        self.cpu_ceilings()
    }

    /// The GPU measured on, for the results document.
    fn gpu(&self) -> Option<GpuInfo>;

    /// How GPU variants are timed (regimes, floor of the method, flush comparisons so far), for the results
    /// document.
    fn gpu_method(&self) -> Option<GpuMethod>;
}

/// What a GPU backend gives `judge bench`: its modes, a sampler per measurement, the speed-of-light copy, and
/// the device's description. The CUDA backend's is [`crate::gpu::CudaTiming`], attached with
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

    /// A device copy of `bytes` bytes timed the same way under the cache regime of `mode` (samples in
    /// seconds). Each (mode, byte count) is measured once per bench and handed out again.
    fn copy(&mut self, mode: Mode, bytes: u64) -> Result<Reference, SolveError>;

    /// The device measured on.
    fn info(&self) -> GpuInfo;

    /// How the samples are taken: the cache regime of each mode, the floor of the method, and what else was
    /// measured so far.
    fn method(&self) -> GpuMethod;
}

/// The samplers of this machine: CPU variants timed by the wall clock in warm mode against the measured
/// FMA peak; CUDA variants through the attached [`GpuTiming`], or skipped with a reason when none is attached.
pub struct MachineSamplers {
    cpu: Option<CpuCeilings>,
    gpu: Result<Box<dyn GpuTiming>, String>,
}

impl Default for MachineSamplers {
    fn default() -> Self {
        Self::new(None)
    }
}

impl MachineSamplers {
    /// Samplers comparing CPU times with `cpu` (measure it with [`crate::cpu_peak::measure`]); CUDA variants
    /// are skipped with [`NO_GPU_SAMPLER`].
    pub fn new(cpu: Option<CpuCeilings>) -> Self {
        Self {
            cpu,
            gpu: Err(NO_GPU_SAMPLER.to_owned()),
        }
    }

    /// The same, comparing CPU times with `cpu`.
    pub fn with_cpu(self, cpu: Option<CpuCeilings>) -> Self {
        Self { cpu, ..self }
    }

    /// The same, measuring CUDA variants through `gpu`.
    pub fn with_gpu(self, gpu: Box<dyn GpuTiming>) -> Self {
        Self {
            gpu: Ok(gpu),
            ..self
        }
    }

    /// The same, skipping CUDA variants with `reason` (for example why the GPU timer could not be set up).
    pub fn without_gpu(self, reason: String) -> Self {
        Self {
            gpu: Err(reason),
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
            (Backend::Cuda, Ok(gpu)) => Regime::Measured {
                modes: gpu.modes(),
                clock: Clock::CudaEvents,
            },
            (Backend::Cuda, Err(reason)) => Regime::Unsupported {
                reason: reason.clone(),
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
            (Backend::Cuda, _, Ok(gpu)) => gpu.sampler(solution, mode, sets),
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
            (Backend::Cuda, Ok(gpu)) => Some(Basis::DeviceCopy(gpu.copy(mode, shape.min_bytes())?)),
            (Backend::Cuda, Err(_)) => None,
        })
    }

    fn cache_regime(&self, backend: Backend, mode: Mode) -> Option<CacheRegime> {
        match (backend, &self.gpu) {
            (Backend::Cuda, Ok(gpu)) => gpu.method().regime(mode),
            _ => None,
        }
    }

    fn cpu_ceilings(&self) -> Option<CpuCeilings> {
        self.cpu.clone()
    }

    fn remeasure_cpu_ceilings(&mut self) -> Option<CpuCeilings> {
        let now = CpuCeilings::from(crate::cpu_peak::measure());
        self.cpu = Some(match self.cpu.take() {
            Some(before) => CpuCeilings {
                fma_gflops: before.fma_gflops.max(now.fma_gflops),
                read_gbps: before.read_gbps.max(now.read_gbps),
                ..before
            },
            None => now,
        });
        self.cpu.clone()
    }

    fn gpu(&self) -> Option<GpuInfo> {
        self.gpu.as_ref().ok().map(|g| g.info())
    }

    fn gpu_method(&self) -> Option<GpuMethod> {
        self.gpu.as_ref().ok().map(|g| g.method())
    }
}

/// Samplers that replay fixed times instead of timing anything (a mock executor), so a whole bench, its
/// document and its reports are deterministic in tests.
///
/// Each solution gets its base time (seconds) from the table, or 1 ms; cold mode adds half of it. Samples
/// cycle through `base × (1, 1.01, 0.99, 1.02, 0.98)`. CPU solutions are measured warm against the given FMA
/// peak; CUDA ones warm and cold, in the cache regimes of [`scripted_gpu_method`], against a 2 µs copy (the copy
/// kernel; `cuMemcpyDtoDAsync` 3 µs), on [`scripted_gpu`]. The sampler never runs the solve itself.
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

/// The cache regimes [`Scripted`] says its CUDA samples were taken in.
pub fn scripted_gpu_method() -> GpuMethod {
    GpuMethod {
        warm: CacheRegime::SameInputsSolved {
            output_poisoned: true,
        },
        cold: CacheRegime::ReadFlush { bytes: 200_000_000 },
        empty_kernel_warm_s: Some(3e-6),
        empty_kernel_cold_s: Some(3e-6),
        flush_comparison: Vec::new(),
    }
}

/// The GPU [`Scripted`] says it measured on.
pub fn scripted_gpu() -> GpuInfo {
    GpuInfo {
        name: "scripted GPU".to_owned(),
        compute_capability: "9.0".to_owned(),
        driver: "none".to_owned(),
        memory_bytes: 80 << 30,
        multiprocessors: Some(132),
        l2_bytes: Some(50 << 20),
        nvrtc: None,
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
        shape: Shape,
    ) -> Result<Option<Basis>, SolveError> {
        Ok(Some(match backend {
            Backend::Cpu => Basis::FmaPeak {
                gflops: self.cpu.fma_gflops,
            },
            Backend::Cuda => {
                let copy = |kind, seconds| {
                    Reference::copy(
                        kind,
                        shape.min_bytes(),
                        vec![seconds; MIN_SAMPLES_TO_COMPARE],
                    )
                    .ok_or_else(|| SolveError::Failed {
                        solution: "scripted GPU".to_owned(),
                        context: "device copy".to_owned(),
                        message: "no samples".to_owned(),
                    })
                };
                Basis::DeviceCopy(Reference::faster(
                    copy(ReferenceKind::CopyKernel, 2e-6)?,
                    copy(ReferenceKind::DeviceCopy, 3e-6)?,
                ))
            }
        }))
    }

    fn cache_regime(&self, backend: Backend, mode: Mode) -> Option<CacheRegime> {
        match backend {
            Backend::Cuda => scripted_gpu_method().regime(mode),
            Backend::Cpu => None,
        }
    }

    fn cpu_ceilings(&self) -> Option<CpuCeilings> {
        Some(self.cpu.clone())
    }

    fn gpu(&self) -> Option<GpuInfo> {
        Some(scripted_gpu())
    }

    fn gpu_method(&self) -> Option<GpuMethod> {
        Some(scripted_gpu_method())
    }
}
