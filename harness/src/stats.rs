//! Summary statistics of timing samples: median, mean, spread, percentiles, a distribution-free confidence
//! interval of the median, and outliers by median absolute deviation. Samples are in seconds.

use serde::{Deserialize, Serialize};

/// Confidence level of [`median_ci_sorted`] (two-sided).
pub const MEDIAN_CI_LEVEL: f64 = 0.95;

/// A sample is an outlier when its modified z-score, `0.6745·(x − median) / MAD`, is beyond this
/// (Iglewicz and Hoaglin's recommendation).
pub const OUTLIER_Z: f64 = 3.5;

/// A summary of a non-empty set of samples (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator; 0 for one sample).
    pub std_dev: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// 10th percentile (linear interpolation between order statistics).
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// The ~95% distribution-free confidence interval of the median (see [`median_ci_sorted`]). Absent below
    /// [`MIN_SAMPLES_TO_COMPARE`] samples, where no interval reaches 95% (one sample would read as a zero-width
    /// one), and in documents written before it was recorded.
    #[serde(default)]
    pub median_ci: Option<Interval>,
    /// Outliers by median absolute deviation (see [`Outliers`]). Absent in documents written before it was
    /// recorded.
    #[serde(default)]
    pub outliers: Option<Outliers>,
}

/// A closed interval `[low, high]`, in the unit of the values it bounds (seconds for timings).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// True when the two intervals share at least one point.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.low <= other.high && other.low <= self.high
    }

    /// Half the width.
    pub fn half_width(&self) -> f64 {
        (self.high - self.low) / 2.0
    }
}

/// Samples far from the median: those whose modified z-score `0.6745·(x − median) / MAD` is beyond
/// ±[`OUTLIER_Z`]. When the MAD is zero (more than half the samples equal), the mean absolute deviation
/// times 1.2533 stands in for it; when that is zero too, every sample equals the median and none is an outlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Outliers {
    /// Outliers below the median (unusually fast samples).
    pub low: usize,
    /// Outliers above the median (unusually slow samples: preemption, page faults, frequency changes).
    pub high: usize,
}

impl Outliers {
    /// Total count.
    pub fn total(&self) -> usize {
        self.low + self.high
    }
}

impl Summary {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        let median = percentile_sorted(&sorted, 50.0);
        Some(Summary {
            n,
            median,
            mean,
            std_dev: var.sqrt(),
            min: sorted[0],
            max: sorted[n - 1],
            p10: percentile_sorted(&sorted, 10.0),
            p90: percentile_sorted(&sorted, 90.0),
            median_ci: (n >= MIN_SAMPLES_TO_COMPARE).then(|| median_ci_sorted(&sorted)),
            outliers: Some(outliers(&sorted, median)),
        })
    }

    /// Half-width of the median's confidence interval over the median (dimensionless); `None` when the
    /// interval was not recorded or the median is not positive.
    pub fn median_rel_err(&self) -> Option<f64> {
        let ci = self.median_ci?;
        (self.median > 0.0).then(|| ci.half_width() / self.median)
    }
}

/// The `p`-th percentile (0–100) of sorted, non-empty `sorted`, interpolating linearly between order
/// statistics (NumPy's default method).
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (rank - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The fewest samples whose median can be told apart from another's at the 95% level without assuming a
/// distribution: even the widest interval, `[min, max]`, holds the median with probability only
/// `1 − 2·(½)ⁿ`, which reaches 95% at n = 6. Below it, non-overlapping intervals prove nothing (one sample
/// each gives zero-width intervals that never overlap).
pub const MIN_SAMPLES_TO_COMPARE: usize = 6;

/// The distribution-free ~95% confidence interval of the median of sorted, non-empty `sorted`: the order
/// statistics at 0-based ranks `n − 1 − k` and `k`, where `k = ceil(n/2 + 0.98·√n)` clamped to `n − 1` (the
/// normal approximation of Binomial(n, ½) with z = 1.96), so that as many samples lie beyond each end. Its
/// exact coverage is at least 95% for every n from 6 on (a test sums the binomial). It assumes nothing about
/// the shape of the distribution, which suits skewed timing samples; with few samples it is simply
/// `[min, max]`.
pub fn median_ci_sorted(sorted: &[f64]) -> Interval {
    let n = sorted.len();
    let half = 0.98 * (n as f64).sqrt();
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    Interval {
        low: sorted[n - 1 - hi],
        high: sorted[hi],
    }
}

/// The median absolute deviation of sorted, non-empty `sorted` around `median` (same unit as the samples,
/// unscaled).
pub fn mad(sorted: &[f64], median: f64) -> f64 {
    let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    percentile_sorted(&deviations, 50.0)
}

/// Counts the outliers of sorted, non-empty `sorted` around `median`; see [`Outliers`].
pub fn outliers(sorted: &[f64], median: f64) -> Outliers {
    let mad = mad(sorted, median);
    // Scale so that `z = (x − median) / scale` is a modified z-score.
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        let mean_ad = sorted.iter().map(|x| (x - median).abs()).sum::<f64>() / sorted.len() as f64;
        1.253_314 * mean_ad
    };
    if scale <= 0.0 {
        return Outliers::default();
    }
    let mut found = Outliers::default();
    for &x in sorted {
        let z = (x - median) / scale;
        if z < -OUTLIER_Z {
            found.low += 1;
        } else if z > OUTLIER_Z {
            found.high += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_summary() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0, 10.0]).unwrap();
        assert_eq!(
            (s.n, s.median, s.mean, s.min, s.max),
            (5, 3.0, 4.0, 1.0, 10.0)
        );
        // variance = (9 + 4 + 1 + 0 + 36) / 4 = 12.5
        assert!((s.std_dev - 12.5f64.sqrt()).abs() < 1e-15);
        // p10: rank 0.4 between 1 and 2 → 1.4; p90: rank 3.6 between 4 and 10 → 7.6
        assert!((s.p10 - 1.4).abs() < 1e-12 && (s.p90 - 7.6).abs() < 1e-12);
        // n = 5: even [min, max] holds the median with probability 1 − 2·(½)⁵ = 94%: no interval.
        assert_eq!(s.median_ci, None);
        assert_eq!(s.median_rel_err(), None);
        // n = 6: 0.98·√6 = 2.40 → k = ceil(5.40) = 6, clamped to 5: ranks 0 and 5, [min, max] (97%).
        let six = Summary::of(&[4.0, 1.0, 3.0, 2.0, 10.0, 5.0]).unwrap();
        assert_eq!(
            six.median_ci,
            Some(Interval {
                low: 1.0,
                high: 10.0
            })
        );
        // |x − 3| = 1, 2, 0, 1, 7 → MAD 1; z of 10 = 0.6745·7 = 4.72 > 3.5; z of 1 = −1.35.
        assert_eq!(s.outliers, Some(Outliers { low: 0, high: 1 }));
    }

    #[test]
    fn even_count_median_interpolates_and_empty_is_none() {
        assert_eq!(Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap().median, 2.5);
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[7.0]).unwrap().std_dev, 0.0);
    }

    #[test]
    fn median_ci_of_one_hundred_samples() {
        // n = 100: 0.98·10 = 9.8 → k = ceil(59.8) = 60: ranks 39 and 60, i.e. the values 40 and 61.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let ci = median_ci_sorted(&v);
        assert_eq!((ci.low, ci.high), (40.0, 61.0));
        let s = Summary::of(&v).unwrap();
        assert!((s.median_rel_err().unwrap() - 10.5 / 50.5).abs() < 1e-12);
        assert_eq!(s.outliers, Some(Outliers::default()));
    }

    #[test]
    fn mad_and_outliers_by_hand() {
        // median 10; |x − 10| = 0,0,0,1,1,2,30 → MAD 1 → scale 1/0.6745 = 1.4826.
        let v = [10.0, 10.0, 10.0, 11.0, 9.0, 8.0, 40.0];
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(mad(&sorted, 10.0), 1.0);
        // z(8) = −2/1.4826 = −1.35 (kept); z(40) = 30/1.4826 = 20.2 (outlier).
        assert_eq!(outliers(&sorted, 10.0), Outliers { low: 0, high: 1 });
        // One sample far below: z(−5) = −15/1.4826 = −10.1.
        let mut with_low = sorted.clone();
        with_low[0] = -5.0;
        with_low.sort_by(f64::total_cmp);
        assert_eq!(outliers(&with_low, 10.0), Outliers { low: 1, high: 1 });
    }

    #[test]
    fn zero_mad_falls_back_to_mean_absolute_deviation() {
        // median 1, MAD 0 (four of five equal); mean |x − 1| = 1.0/5 = 0.2 → scale 0.2507;
        // z(2) = 1/0.2507 = 3.99 > 3.5: an outlier.
        let sorted = [1.0, 1.0, 1.0, 1.0, 2.0];
        assert_eq!(outliers(&sorted, 1.0), Outliers { low: 0, high: 1 });
        // All equal: no scale at all, no outliers.
        assert_eq!(outliers(&[3.0; 4], 3.0), Outliers::default());
    }

    #[test]
    fn median_interval_is_symmetric_and_covers_at_least_95_percent() {
        // With the samples 0, 1, …, n − 1 each value is its rank. The interval [x(lo), x(hi)] holds the median
        // of a continuous distribution exactly when lo < W ≤ hi, where W, the number of samples at or below
        // the median, is Binomial(n, ½).
        for n in MIN_SAMPLES_TO_COMPARE..=2000 {
            let ranks: Vec<f64> = (0..n).map(|r| r as f64).collect();
            let ci = median_ci_sorted(&ranks);
            let (lo, hi) = (ci.low as usize, ci.high as usize);
            assert_eq!(lo, n - 1 - hi, "n = {n}: as many samples beyond each end");
            let ln_half_n = n as f64 * 0.5f64.ln();
            let mut ln_choose = 0.0; // ln C(n, w), built up from w = 0
            let mut coverage = 0.0;
            for w in 0..=hi {
                if w > 0 {
                    ln_choose += ((n - w + 1) as f64 / w as f64).ln();
                }
                if w > lo {
                    coverage += (ln_choose + ln_half_n).exp();
                }
            }
            assert!(coverage >= 0.95, "n = {n}: coverage {coverage}");
        }
    }

    #[test]
    fn intervals_overlap_when_they_share_a_point() {
        let a = Interval {
            low: 1.0,
            high: 2.0,
        };
        let b = Interval {
            low: 2.0,
            high: 3.0,
        };
        let c = Interval {
            low: 2.5,
            high: 3.0,
        };
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
        assert_eq!(a.half_width(), 0.5);
    }
}
