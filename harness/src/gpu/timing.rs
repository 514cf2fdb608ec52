//! [`CudaTiming`]: the [`GpuTiming`] `judge bench` measures CUDA variants with. It maps the bench's modes to
//! the sampler's cache regimes (warm: the same inputs solved just before; cold: the L2 flushed by reading),
//! hands out one [`GpuSampler`] per measurement, times the copy reference (the faster of two ways of copying)
//! once per mode and byte count, measures the floor of the method (an empty kernel) when it starts, and, when
//! asked, the copy after a memset flush for comparison.

use std::collections::HashMap;
use std::time::Duration;

use solutions::{Prepared, Solution, SolveError};

use super::{
    CopySetup, FlushMethod, GpuSampler, Regime, TIMER, flush_bytes, gpu_info, measure_empty,
    reference_copy, time_copy, timer_error,
};
use crate::bench::sampler::GpuTiming;
use crate::meta::GpuInfo;
use crate::results::{CacheRegime, FlushComparison, GpuMethod, Mode, Reference};
use crate::stats::Summary;
use crate::timing::{Sampler, SamplingPlan};

/// Choices about how CUDA variants are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuOptions {
    /// How cold samples flush the L2 ([`FlushMethod::Read`] unless showing what a memset flush costs).
    pub flush: FlushMethod,
    /// Whether warm samples poison the output between the warming call and the timed one (they do unless
    /// measuring what the poison costs; without it the timed output cannot be told from the warming one).
    pub warm_poison: bool,
    /// Also time each device copy cold after the other flush method, and record both medians.
    pub compare_flush: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            flush: FlushMethod::Read,
            warm_poison: true,
            compare_flush: false,
        }
    }
}

/// The cache regime a [`GpuSampler`] sets up for `regime` with `options` on a GPU with `l2_bytes` of L2.
pub fn cache_regime(regime: Regime, options: &GpuOptions, l2_bytes: u64) -> CacheRegime {
    match (regime, options.flush) {
        (Regime::Warm, _) => CacheRegime::SameInputsSolved {
            output_poisoned: options.warm_poison,
        },
        (Regime::Cold, FlushMethod::Read) => CacheRegime::ReadFlush {
            bytes: flush_bytes(l2_bytes),
        },
        (Regime::Cold, FlushMethod::Memset) => CacheRegime::MemsetFlush {
            bytes: flush_bytes(l2_bytes),
        },
    }
}

/// The sampling plan of the empty-kernel floor: short, whatever the bench's budget (the floor is a few
/// microseconds and steady).
fn floor_plan(bench: &SamplingPlan) -> SamplingPlan {
    SamplingPlan {
        warmup_calls: 5,
        warmup_time: Duration::from_millis(20),
        min_samples: 50,
        max_samples: 2_000,
        target_rel_err: 0.01,
        budget: bench.budget.min(Duration::from_millis(300)),
    }
}

/// Times CUDA variants for `judge bench` with the GPU sampler of this module (see the docs of [`crate::gpu`]).
pub struct CudaTiming {
    info: GpuInfo,
    l2_bytes: u64,
    options: GpuOptions,
    plan: SamplingPlan,
    copies: usize,
    references: HashMap<(Regime, u64), Reference>,
    empty_kernel: [Option<f64>; 2],
    flush_comparison: Vec<FlushComparison>,
}

impl CudaTiming {
    /// Opens the GPU and measures the floor of the method. Device copies are then timed under `plan` (the
    /// bench's), rotating among `copies` buffer pairs as the variants rotate among their input sets.
    pub fn new(plan: SamplingPlan, copies: usize, options: GpuOptions) -> Result<Self, SolveError> {
        let gpu = solutions::cuda::gpu().map_err(|e| timer_error("opening the GPU", e))?;
        let info = gpu_info().ok_or_else(|| SolveError::Failed {
            solution: TIMER.to_owned(),
            context: "describing the GPU".to_owned(),
            message: "the GPU opened but could not be described".to_owned(),
        })?;
        let floor = floor_plan(&plan);
        let empty_kernel = Regime::ALL.map(|regime| {
            measure_empty(regime, &floor)
                .ok()
                .and_then(|s| Summary::of(&s.seconds))
                .map(|s| s.median)
        });
        Ok(Self {
            info,
            l2_bytes: gpu.info.l2_bytes,
            options,
            plan,
            copies: copies.max(1),
            references: HashMap::new(),
            empty_kernel,
            flush_comparison: Vec::new(),
        })
    }

    /// How copies in `regime` are timed, with `flush` for cold samples.
    fn copy_setup(&self, regime: Regime, flush: FlushMethod) -> CopySetup {
        CopySetup {
            flush,
            warm_poison: self.options.warm_poison,
            ..CopySetup::new(regime, self.copies)
        }
    }
}

/// Wraps a [`GpuSampler`] so the bench can read its sets' outputs back: every call's, to look for scores left
/// unwritten, and set 0's last, to check it against the oracle.
struct BenchSampler<'s> {
    inner: GpuSampler<Box<dyn Prepared + 's>>,
}

impl Sampler for BenchSampler<'_> {
    fn sample(&mut self) -> Result<f64, SolveError> {
        self.inner.sample()
    }

    fn read_output(&mut self, set: usize, out: &mut [f32]) -> Option<Result<(), SolveError>> {
        self.inner
            .sets_mut()
            .get_mut(set)
            .map(|s| s.read_output(out))
    }

    fn last_set(&self) -> Option<usize> {
        self.inner.last_set()
    }
}

impl GpuTiming for CudaTiming {
    fn modes(&self) -> Vec<Mode> {
        Regime::ALL.into_iter().map(Mode::from).collect()
    }

    fn sampler<'s>(
        &'s mut self,
        solution: &'s dyn Solution,
        mode: Mode,
        sets: Vec<Box<dyn Prepared + 's>>,
    ) -> Result<Box<dyn Sampler + 's>, SolveError> {
        let regime = Regime::try_from(mode).map_err(|e| SolveError::Failed {
            solution: solution.name().to_owned(),
            context: "creating the GPU sampler".to_owned(),
            message: e.to_string(),
        })?;
        let mut inner = GpuSampler::with_flush(sets, regime, self.options.flush)?;
        if !self.options.warm_poison {
            inner = inner.without_warm_poison();
        }
        Ok(Box::new(BenchSampler { inner }))
    }

    fn copy(&mut self, mode: Mode, bytes: u64) -> Result<Reference, SolveError> {
        let regime = Regime::try_from(mode).map_err(|e| SolveError::Failed {
            solution: TIMER.to_owned(),
            context: "timing the device copy".to_owned(),
            message: e.to_string(),
        })?;
        if let Some(reference) = self.references.get(&(regime, bytes)) {
            return Ok(reference.clone());
        }
        let plan = self.plan.for_reference();
        let setup = self.copy_setup(regime, self.options.flush);
        let reference = reference_copy(bytes, &setup, &plan)?;
        if regime == Regime::Cold && self.options.compare_flush {
            let other = match self.options.flush {
                FlushMethod::Read => FlushMethod::Memset,
                FlushMethod::Memset => FlushMethod::Read,
            };
            let compared = time_copy(
                reference.kind,
                bytes,
                &self.copy_setup(regime, other),
                &plan,
            )?
            .summary
            .median;
            let this = reference.summary.median;
            let (read_flush_s, memset_flush_s) = match other {
                FlushMethod::Memset => (this, compared),
                FlushMethod::Read => (compared, this),
            };
            self.flush_comparison.push(FlushComparison {
                bytes,
                read_flush_s,
                memset_flush_s,
            });
        }
        self.references.insert((regime, bytes), reference.clone());
        Ok(reference)
    }

    fn info(&self) -> GpuInfo {
        self.info.clone()
    }

    fn method(&self) -> GpuMethod {
        GpuMethod {
            warm: cache_regime(Regime::Warm, &self.options, self.l2_bytes),
            cold: cache_regime(Regime::Cold, &self.options, self.l2_bytes),
            empty_kernel_warm_s: self.empty_kernel[0],
            empty_kernel_cold_s: self.empty_kernel[1],
            flush_comparison: self.flush_comparison.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_regimes_and_back() {
        for regime in Regime::ALL {
            assert_eq!(Regime::try_from(Mode::from(regime)), Ok(regime));
        }
        let err = Regime::try_from(Mode::Check).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GPU variants are timed warm or cold, not in check mode"
        );
    }

    #[test]
    fn regimes_say_how_the_cache_was_set_up() {
        // An H100: 50 MiB of L2, flushed by reading 200 MiB.
        let l2 = 50 << 20;
        let default = GpuOptions::default();
        assert_eq!(
            cache_regime(Regime::Warm, &default, l2),
            CacheRegime::SameInputsSolved {
                output_poisoned: true
            }
        );
        assert_eq!(
            cache_regime(Regime::Cold, &default, l2),
            CacheRegime::ReadFlush { bytes: 200 << 20 }
        );
        let aid = GpuOptions {
            flush: FlushMethod::Memset,
            warm_poison: false,
            compare_flush: true,
        };
        assert_eq!(
            cache_regime(Regime::Warm, &aid, l2),
            CacheRegime::SameInputsSolved {
                output_poisoned: false
            }
        );
        assert_eq!(
            cache_regime(Regime::Cold, &aid, l2),
            CacheRegime::MemsetFlush { bytes: 200 << 20 }
        );
        // Small L2s are flushed with at least 64 MiB.
        assert_eq!(
            cache_regime(Regime::Cold, &default, 4 << 20),
            CacheRegime::ReadFlush { bytes: 64 << 20 }
        );
        assert_eq!(
            cache_regime(Regime::Cold, &default, l2).describe(),
            "L2 flushed by reading 209 MB"
        );
    }

    #[test]
    fn the_floor_is_measured_briefly() {
        let bench = SamplingPlan {
            budget: Duration::from_secs(10),
            ..SamplingPlan::default()
        };
        assert_eq!(floor_plan(&bench).budget, Duration::from_millis(300));
        let quick = SamplingPlan {
            budget: Duration::from_millis(50),
            ..SamplingPlan::default()
        };
        assert_eq!(floor_plan(&quick).budget, Duration::from_millis(50));
    }
}
