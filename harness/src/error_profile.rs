//! The distribution of one output's element errors against the oracle, for the "errors" chart of a report.
//!
//! Each finite element's error is expressed as a multiple of what the tolerance allows it,
//! `r = |x − ref| / (atol + rtol·|ref|)`, so an element passes exactly when `r ≤ 1`, whatever its magnitude.
//! The ratios are counted in logarithmic bins (a fixed grid, so profiles of different variants line up).

use serde::{Deserialize, Serialize};

use crate::check::Tolerance;

/// log10 of the lower edge of the first bin.
pub const FIRST_DECADE: i32 = -9;
/// log10 of the upper edge of the last bin.
pub const LAST_DECADE: i32 = 4;
/// Bins per decade.
pub const BINS_PER_DECADE: u32 = 4;

/// Counts of error ratios `r = |x − ref| / (atol + rtol·|ref|)` (dimensionless; `r ≤ 1` passes) in
/// logarithmic bins: bin `i` holds `10^(first_decade + i/bins_per_decade) ≤ r < 10^(first_decade +
/// (i+1)/bins_per_decade)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorProfile {
    /// log10 of the lower edge of bin 0.
    pub first_decade: i32,
    /// Bins per decade.
    pub bins_per_decade: u32,
    /// Elements per bin.
    pub counts: Vec<u64>,
    /// Elements exactly equal to the oracle's value (r = 0).
    pub exact: u64,
    /// Elements with 0 < r below bin 0.
    pub below: u64,
    /// Elements with r at or above the last bin's upper edge.
    pub above: u64,
    /// NaN, ±inf or never-written elements (no ratio).
    pub non_finite: u64,
    /// Elements in all.
    pub total: u64,
    /// The largest finite ratio (0 when none).
    pub max_ratio: f64,
}

impl ErrorProfile {
    /// The profile of `got` (f32) against `expected` (the oracle's f64), element by element.
    ///
    /// # Panics
    /// If the lengths differ (the harness sizes both).
    pub fn of(got: &[f32], expected: &[f64], tolerance: Tolerance) -> Self {
        assert_eq!(got.len(), expected.len(), "output and oracle lengths");
        let bins = ((LAST_DECADE - FIRST_DECADE) as u32 * BINS_PER_DECADE) as usize;
        let mut profile = ErrorProfile {
            first_decade: FIRST_DECADE,
            bins_per_decade: BINS_PER_DECADE,
            counts: vec![0; bins],
            exact: 0,
            below: 0,
            above: 0,
            non_finite: 0,
            total: got.len() as u64,
            max_ratio: 0.0,
        };
        for (&x, &want) in got.iter().zip(expected) {
            if !x.is_finite() {
                profile.non_finite += 1;
                continue;
            }
            let allowed = tolerance.atol + tolerance.rtol * want.abs();
            let err = (f64::from(x) - want).abs();
            if err == 0.0 {
                profile.exact += 1;
                continue;
            }
            let ratio = if allowed > 0.0 {
                err / allowed
            } else {
                f64::INFINITY
            };
            if ratio.is_finite() {
                profile.max_ratio = profile.max_ratio.max(ratio);
            }
            let position = (ratio.log10() - f64::from(FIRST_DECADE)) * f64::from(BINS_PER_DECADE);
            if position < 0.0 {
                profile.below += 1;
            } else if position >= bins as f64 {
                profile.above += 1;
            } else {
                profile.counts[position as usize] += 1;
            }
        }
        profile
    }

    /// The lower edge of bin `i`, as a ratio.
    pub fn bin_low(&self, i: usize) -> f64 {
        10f64.powf(f64::from(self.first_decade) + i as f64 / f64::from(self.bins_per_decade))
    }

    /// Elements with a ratio of 1 or more (at the edge of the tolerance or outside it).
    pub fn outside(&self) -> u64 {
        let from_bin = (-self.first_decade) as usize * self.bins_per_decade as usize;
        self.counts.iter().skip(from_bin).sum::<u64>() + self.above
    }

    /// Adds another profile on the same grid; `false` (and nothing added) when the grids differ.
    pub fn merge(&mut self, other: &ErrorProfile) -> bool {
        if self.first_decade != other.first_decade
            || self.bins_per_decade != other.bins_per_decade
            || self.counts.len() != other.counts.len()
        {
            return false;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.exact += other.exact;
        self.below += other.below;
        self.above += other.above;
        self.non_finite += other.non_finite;
        self.total += other.total;
        self.max_ratio = self.max_ratio.max(other.max_ratio);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance {
        atol: 1e-3,
        rtol: 1e-3,
    };

    #[test]
    fn ratios_land_in_the_right_bins() {
        // ref 1.0 → allowance 2e-3. Errors: 0 (exact), 2e-7 (r = 1e-4), 2e-3 (r = 1, first bin ≥ 1),
        // 2.0 (r = 1000), NaN, 1e9 (r = 5e11, above the grid).
        let expected = [1.0; 6];
        let got = [1.0f32, 1.0 + 2e-7, 1.002, 3.0, f32::NAN, 1e9];
        let p = ErrorProfile::of(&got, &expected, TOL);
        assert_eq!(
            (p.total, p.exact, p.non_finite, p.above, p.below),
            (6, 1, 1, 1, 0)
        );
        let bin_of = |r: f64| ((r.log10() + 9.0) * 4.0).floor() as usize;
        // f32 rounding moves 1 + 2e-7 a little; it stays in the bin of 1e-4 or its neighbour.
        let b = bin_of(1e-4);
        assert_eq!(p.counts[b - 1] + p.counts[b] + p.counts[b + 1], 1);
        assert_eq!(p.counts[bin_of(1000.0)], 1);
        assert_eq!(p.counts.iter().sum::<u64>(), 3);
        // r = 1 exactly (up to f32 rounding, 1.002f32 is 1.00199997…) and r = 1000 are outside or at the edge.
        assert!(p.outside() >= 2);
        assert!((p.bin_low(36) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn merging_adds_counts() {
        let a = ErrorProfile::of(&[1.0, 2.0], &[1.0, 2.0 + 1e-6], TOL);
        let mut m = a.clone();
        assert!(m.merge(&a));
        assert_eq!((m.total, m.exact), (4, 2));
        assert_eq!(m.counts.iter().sum::<u64>(), 2);
    }
}
