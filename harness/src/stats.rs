//! Summary statistics of timing samples: median, mean, spread and percentiles. Samples are in seconds.

use serde::{Deserialize, Serialize};

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
        Some(Summary {
            n,
            median: percentile_sorted(&sorted, 50.0),
            mean,
            std_dev: var.sqrt(),
            min: sorted[0],
            max: sorted[n - 1],
            p10: percentile_sorted(&sorted, 10.0),
            p90: percentile_sorted(&sorted, 90.0),
        })
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
    }

    #[test]
    fn even_count_median_interpolates_and_empty_is_none() {
        assert_eq!(Summary::of(&[1.0, 2.0, 3.0, 4.0]).unwrap().median, 2.5);
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[7.0]).unwrap().std_dev, 0.0);
    }
}
