//! Taking timing samples: the [`Sampler`] trait (one timed solve per call, whatever the clock), the CPU
//! sampler, and the sampling loop that warms up and stops on noise or on a time budget.
//!
//! A sampler owns everything about one measurement regime: which prepared input set the next call uses
//! (rotating among several, so no call sees the buffers of the previous one), what happens before the timed
//! region (a cache flush, a stream hold), and which clock reads the time. The loop only decides how many samples
//! to take.

use std::time::{Duration, Instant};

use solutions::{Prepared, SolveError};

use crate::stats::{MIN_SAMPLES_TO_COMPARE, median_ci_sorted, percentile_sorted};

/// Takes timing samples of one solution on one case.
pub trait Sampler {
    /// Runs one solve and returns its duration in seconds. Work that must not be timed (choosing the input set,
    /// flushing caches) happens inside this call but outside the timed region.
    fn sample(&mut self) -> Result<f64, SolveError>;

    /// Reads the output the last call on input set `set` (numbered as handed to the sampler) left, into `out`;
    /// `None` when this sampler cannot (the default). `judge bench` checks the last timed output of set 0 this
    /// way, so a variant that goes wrong only under timing is caught.
    fn read_output(&mut self, set: usize, out: &mut [f32]) -> Option<Result<(), SolveError>> {
        let _ = (set, out);
        None
    }

    /// The input set (numbered as handed to the sampler) that the last [`Sampler::sample`] used; `None` when
    /// this sampler does not say (the default). With it and [`Sampler::read_output`], `judge bench` looks at the
    /// output of every call for scores left unwritten.
    fn last_set(&self) -> Option<usize> {
        None
    }
}

/// When to stop sampling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingPlan {
    /// Untimed calls before the first sample.
    pub warmup_calls: usize,
    /// Also keep warming up until this much time has passed.
    pub warmup_time: Duration,
    /// Never fewer samples than this (unless the budget runs out first).
    pub min_samples: usize,
    /// Never more samples than this.
    pub max_samples: usize,
    /// Stop once the relative error of the median (half-width of its ~95% confidence interval over the median)
    /// is below this.
    pub target_rel_err: f64,
    /// Stop once this much time has been spent sampling.
    pub budget: Duration,
}

impl Default for SamplingPlan {
    fn default() -> Self {
        Self {
            warmup_calls: 3,
            warmup_time: Duration::from_millis(100),
            min_samples: 10,
            max_samples: 10_000,
            target_rel_err: 0.01,
            budget: Duration::from_secs(5),
        }
    }
}

/// Fewest samples of a reference measurement (a device copy): every variant's time is divided by its median, so
/// it is sampled at least this often whatever the plan's own minimum (the plan's budget still ends it).
pub const REFERENCE_MIN_SAMPLES: usize = 256;

impl SamplingPlan {
    /// The plan for a reference that variants are measured against: this one, with at least
    /// [`REFERENCE_MIN_SAMPLES`] samples. On the H100, the warm copy's median over 32 consecutive samples moved
    /// by ±2% within one process (10.67–11.07 µs), and the convergence test had stopped one bench's copy after 32
    /// samples; over 256 it moved by 0.05 µs.
    pub fn for_reference(&self) -> SamplingPlan {
        SamplingPlan {
            min_samples: self.min_samples.max(REFERENCE_MIN_SAMPLES),
            max_samples: self.max_samples.max(REFERENCE_MIN_SAMPLES),
            ..*self
        }
    }
}

/// Why sampling stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The median's relative error fell below the target.
    Converged,
    /// The time budget ran out.
    Budget,
    /// The sample cap was reached.
    MaxSamples,
}

/// Samples in seconds, in the order taken, and why sampling stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Every sample, in seconds.
    pub seconds: Vec<f64>,
    /// Why the loop stopped.
    pub stop: StopReason,
}

/// Relative error of the median of `samples`: half the width of the distribution-free ~95% confidence
/// interval of the median ([`median_ci_sorted`]), divided by the median. Infinite below
/// [`MIN_SAMPLES_TO_COMPARE`] samples, where no interval reaches 95%.
pub fn median_rel_err(samples: &[f64]) -> f64 {
    if samples.len() < MIN_SAMPLES_TO_COMPARE {
        return f64::INFINITY;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = percentile_sorted(&sorted, 50.0);
    if median <= 0.0 {
        f64::INFINITY
    } else {
        median_ci_sorted(&sorted).half_width() / median
    }
}

/// Where the sampling loop is, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Untimed warm-up calls made so far.
    WarmUp {
        /// Calls so far.
        calls: usize,
    },
    /// Samples taken so far.
    Sampling {
        /// Samples so far.
        samples: usize,
    },
}

/// Warms up, then samples until the plan says stop.
pub fn collect(sampler: &mut dyn Sampler, plan: &SamplingPlan) -> Result<Samples, SolveError> {
    collect_observed(sampler, plan, &mut |_| {})
}

/// [`collect`], telling `observe` after every call where the loop is (for a progress bar; keep it cheap).
pub fn collect_observed(
    sampler: &mut dyn Sampler,
    plan: &SamplingPlan,
    observe: &mut dyn FnMut(Phase),
) -> Result<Samples, SolveError> {
    let warm_start = Instant::now();
    let mut warm_calls = 0;
    while warm_calls < plan.warmup_calls || warm_start.elapsed() < plan.warmup_time {
        sampler.sample()?;
        warm_calls += 1;
        observe(Phase::WarmUp { calls: warm_calls });
        if warm_start.elapsed() > plan.budget {
            break;
        }
    }
    let start = Instant::now();
    let mut seconds = Vec::new();
    loop {
        seconds.push(sampler.sample()?);
        observe(Phase::Sampling {
            samples: seconds.len(),
        });
        // Re-evaluating the median's error costs a sort: do it on a geometric schedule, and at the cap, so that a
        // median that converged on the last sample allowed says so.
        let n = seconds.len();
        if n >= plan.min_samples
            && (n.is_power_of_two() || n % 64 == 0 || n >= plan.max_samples)
            && median_rel_err(&seconds) < plan.target_rel_err
        {
            return Ok(Samples {
                seconds,
                stop: StopReason::Converged,
            });
        }
        if n >= plan.max_samples {
            return Ok(Samples {
                seconds,
                stop: StopReason::MaxSamples,
            });
        }
        if start.elapsed() >= plan.budget {
            return Ok(Samples {
                seconds,
                stop: StopReason::Budget,
            });
        }
    }
}

/// Times CPU solves with the monotonic wall clock, rotating among prepared input sets. Each call's output is
/// poisoned first, outside the timing (as the GPU samplers do), so the output read back after sampling is the
/// last call's own: a variant that stops writing under timing leaves poison, not an earlier call's scores.
pub struct CpuSampler<'a> {
    sets: Vec<Box<dyn Prepared + 'a>>,
    next: usize,
    last: Option<usize>,
}

impl<'a> CpuSampler<'a> {
    /// A sampler over one or more prepared input sets (of the same solution and shape).
    ///
    /// # Panics
    /// If `sets` is empty.
    pub fn new(sets: Vec<Box<dyn Prepared + 'a>>) -> Self {
        assert!(
            !sets.is_empty(),
            "CpuSampler needs at least one prepared input set"
        );
        Self {
            sets,
            next: 0,
            last: None,
        }
    }

    /// The prepared sets, for checking their outputs after sampling.
    pub fn sets_mut(&mut self) -> &mut [Box<dyn Prepared + 'a>] {
        &mut self.sets
    }
}

impl Sampler for CpuSampler<'_> {
    fn sample(&mut self) -> Result<f64, SolveError> {
        let index = self.next;
        self.next = (index + 1) % self.sets.len();
        self.last = Some(index);
        let set = &mut self.sets[index];
        set.poison_output()?;
        let start = Instant::now();
        set.run()?;
        set.synchronize()?;
        Ok(start.elapsed().as_secs_f64())
    }

    fn read_output(&mut self, set: usize, out: &mut [f32]) -> Option<Result<(), SolveError>> {
        self.sets.get_mut(set).map(|s| s.read_output(out))
    }

    fn last_set(&self) -> Option<usize> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_sampled_at_least_its_minimum_and_otherwise_as_planned() {
        let plan = SamplingPlan {
            min_samples: 10,
            max_samples: 100,
            warmup_time: Duration::ZERO,
            ..SamplingPlan::default()
        };
        let reference = plan.for_reference();
        assert_eq!(reference.min_samples, REFERENCE_MIN_SAMPLES);
        assert_eq!(reference.max_samples, REFERENCE_MIN_SAMPLES);
        assert_eq!(
            (
                reference.budget,
                reference.target_rel_err,
                reference.warmup_calls
            ),
            (plan.budget, plan.target_rel_err, plan.warmup_calls)
        );
        // A plan that already asks for more keeps its numbers.
        let big = SamplingPlan {
            min_samples: 1000,
            max_samples: 5000,
            ..plan
        };
        assert_eq!(big.for_reference(), big);
        // And the loop honours it: a constant sampler would converge at 10 samples, yet runs to the 256 that
        // are also the cap here, and says it converged there.
        let mut constant = Replay {
            values: vec![1e-5],
            at: 0,
        };
        let samples = collect(&mut constant, &reference).unwrap();
        assert_eq!(samples.seconds.len(), REFERENCE_MIN_SAMPLES);
        assert_eq!(samples.stop, StopReason::Converged);
        // A median that has not converged by the cap stops there, and says so.
        let mut noisy = Replay {
            values: vec![1.0, 3.0],
            at: 0,
        };
        let samples = collect(&mut noisy, &reference).unwrap();
        assert_eq!(samples.seconds.len(), REFERENCE_MIN_SAMPLES);
        assert_eq!(samples.stop, StopReason::MaxSamples);
    }

    /// A sampler that replays a fixed sequence (a mock executor for the loop).
    struct Replay {
        values: Vec<f64>,
        at: usize,
    }

    impl Sampler for Replay {
        fn sample(&mut self) -> Result<f64, SolveError> {
            let v = self.values[self.at % self.values.len()];
            self.at += 1;
            Ok(v)
        }
    }

    #[test]
    fn constant_samples_converge_at_the_minimum() {
        let mut s = Replay {
            values: vec![1e-3],
            at: 0,
        };
        let plan = SamplingPlan {
            warmup_time: Duration::ZERO,
            min_samples: 16,
            ..SamplingPlan::default()
        };
        let out = collect(&mut s, &plan).unwrap();
        assert_eq!(out.stop, StopReason::Converged);
        assert_eq!(out.seconds.len(), 16);
        assert_eq!(s.at, 16 + plan.warmup_calls);
    }

    #[test]
    fn noisy_samples_hit_the_cap() {
        let mut s = Replay {
            values: vec![1.0, 100.0, 5.0, 0.01],
            at: 0,
        };
        let plan = SamplingPlan {
            warmup_time: Duration::ZERO,
            max_samples: 50,
            ..SamplingPlan::default()
        };
        let out = collect(&mut s, &plan).unwrap();
        assert_eq!(out.stop, StopReason::MaxSamples);
        assert_eq!(out.seconds.len(), 50);
    }

    /// Writes its scores on its first call only.
    struct FirstCallOnly {
        out: Vec<f32>,
        calls: usize,
    }

    impl Prepared for FirstCallOnly {
        fn poison_output(&mut self) -> Result<(), SolveError> {
            self.out.fill(solutions::POISON);
            Ok(())
        }

        fn run(&mut self) -> Result<(), SolveError> {
            self.calls += 1;
            if self.calls == 1 {
                self.out.fill(1.0);
            }
            Ok(())
        }

        fn read_output(&mut self, out: &mut [f32]) -> Result<(), SolveError> {
            out.copy_from_slice(&self.out);
            Ok(())
        }
    }

    #[test]
    fn every_timed_cpu_call_starts_from_a_poisoned_output() {
        let set = FirstCallOnly {
            out: vec![0.0; 4],
            calls: 0,
        };
        let mut sampler = CpuSampler::new(vec![Box::new(set)]);
        let mut out = [0.0f32; 4];
        sampler.sample().unwrap();
        sampler.read_output(0, &mut out).unwrap().unwrap();
        assert_eq!(out, [1.0; 4]);
        // The second call writes nothing: what is read back is poison, not the first call's scores.
        sampler.sample().unwrap();
        sampler.read_output(0, &mut out).unwrap().unwrap();
        assert!(
            out.iter()
                .all(|x| x.to_bits() == solutions::POISON.to_bits())
        );
    }

    #[test]
    fn median_error_of_known_samples() {
        assert_eq!(median_rel_err(&[1.0, 2.0]), f64::INFINITY);
        assert_eq!(median_rel_err(&[1.0; 5]), f64::INFINITY);
        assert_eq!(median_rel_err(&[1.0; 6]), 0.0);
        // n = 9: 0.98·3 = 2.94 → k = ceil(7.44) = 8: ranks 0 and 8, the values 1 and 9.
        let v: Vec<f64> = (1..=9).map(f64::from).collect();
        assert!((median_rel_err(&v) - (9.0 - 1.0) / 2.0 / 5.0).abs() < 1e-12);
        // n = 100: ranks 39 and 60, the values 40 and 61.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((median_rel_err(&v) - 21.0 / 2.0 / 50.5).abs() < 1e-12);
    }
}
