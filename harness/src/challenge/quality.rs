//! How good the compressed estimate is: for cases whose true keys are known, the scores the compressed cache
//! gives (MSE part alone, and MSE + QJL) against the true scores `Q·Kᵀ`.
//!
//! TurboQuant's claim is that the QJL correction makes the inner-product estimate unbiased; the MSE quantizer
//! alone shrinks it. `slope` (least-squares fit of estimate = slope · truth) shows the shrinkage directly, and
//! `bias` measures it in score units: the mean error in the direction of the true score. The plain mean error
//! says little here: true scores are as often negative as positive, so a shrinking estimate errs upward on
//! half of them and downward on the other half, and its mean error is near zero whatever the shrinkage.

use serde::{Deserialize, Serialize};

use super::oracle;
use super::suites::Case;

/// Error statistics of one estimator against the true scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EstimateStats {
    /// Mean of (estimate − truth) · sign(truth), in score units: negative when estimates are pulled toward
    /// zero (shrunk), positive when pushed away from it, about zero for an unbiased estimator, whose error
    /// averages to zero for every true score.
    pub bias: f64,
    /// Mean of (estimate − truth), in score units (near zero for any estimator that treats positive and negative
    /// scores alike; see [`EstimateStats::bias`]).
    pub mean_error: f64,
    /// Root mean square of (estimate − truth), in score units.
    pub rmse: f64,
    /// `rmse` divided by the root mean square of the true scores (dimensionless).
    pub relative_rmse: f64,
    /// Least-squares slope of estimate against truth through the origin (1 = no shrinkage).
    pub slope: f64,
    /// Pearson correlation of estimate and truth.
    pub correlation: f64,
}

/// Both estimators of one case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// The MSE quantizer alone (QJL term dropped).
    pub mse_only: EstimateStats,
    /// MSE + QJL: the estimate the challenge computes.
    pub mse_qjl: EstimateStats,
    /// Root mean square of the true scores.
    pub true_rms: f64,
}

/// The quality of a case's compressed estimate, or `None` when its true keys are unknown.
pub fn quality(case: &Case) -> Option<Quality> {
    let keys = case.true_keys.as_ref()?;
    let inputs = &case.inputs;
    let shape = inputs.shape();
    let (s_count, d) = (shape.s, shape.d);
    let truth = oracle::scores_of_keys(&inputs.q, d, s_count, |s| &keys[s * d..(s + 1) * d]);
    let terms = oracle::terms(inputs);
    let full: Vec<f64> = terms
        .mse
        .iter()
        .zip(&terms.qjl)
        .map(|(m, j)| m + j)
        .collect();
    let true_rms = rms(&truth);
    Some(Quality {
        mse_only: stats(&terms.mse, &truth),
        mse_qjl: stats(&full, &truth),
        true_rms,
    })
}

fn rms(v: &[f64]) -> f64 {
    (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
}

/// Statistics of `estimate` against `truth` (same length, at least one element).
pub fn stats(estimate: &[f64], truth: &[f64]) -> EstimateStats {
    let n = truth.len() as f64;
    let err: Vec<f64> = estimate.iter().zip(truth).map(|(e, t)| e - t).collect();
    let mean_error = err.iter().sum::<f64>() / n;
    // A true score of exactly zero has no direction to err in.
    let bias = err
        .iter()
        .zip(truth)
        .map(|(e, t)| if *t == 0.0 { 0.0 } else { e * t.signum() })
        .sum::<f64>()
        / n;
    let rmse = rms(&err);
    let true_rms = rms(truth);
    let tt: f64 = truth.iter().map(|t| t * t).sum();
    let et: f64 = estimate.iter().zip(truth).map(|(e, t)| e * t).sum();
    let (mean_e, mean_t) = (
        estimate.iter().sum::<f64>() / n,
        truth.iter().sum::<f64>() / n,
    );
    let cov: f64 = estimate
        .iter()
        .zip(truth)
        .map(|(e, t)| (e - mean_e) * (t - mean_t))
        .sum();
    let var_e: f64 = estimate.iter().map(|e| (e - mean_e).powi(2)).sum();
    let var_t: f64 = truth.iter().map(|t| (t - mean_t).powi(2)).sum();
    EstimateStats {
        bias,
        mean_error,
        rmse,
        relative_rmse: if true_rms > 0.0 {
            rmse / true_rms
        } else {
            f64::NAN
        },
        slope: if tt > 0.0 { et / tt } else { f64::NAN },
        correlation: if var_e > 0.0 && var_t > 0.0 {
            cov / (var_e * var_t).sqrt()
        } else {
            f64::NAN
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::generate::Generator;
    use crate::challenge::suites::CaseSpec;
    use solutions::Shape;

    #[test]
    fn stats_of_a_known_estimate() {
        let truth = [1.0, -1.0, 2.0, -2.0];
        let half: Vec<f64> = truth.iter().map(|t| 0.5 * t).collect();
        let s = stats(&half, &truth);
        assert!((s.slope - 0.5).abs() < 1e-15);
        assert!((s.correlation - 1.0).abs() < 1e-15);
        // Halved, every score errs toward zero by half its size: the mean error does not show it, the bias does.
        assert!(s.mean_error.abs() < 1e-15);
        assert!((s.bias + 0.75).abs() < 1e-15);
        assert!((s.relative_rmse - 0.5).abs() < 1e-15);
    }

    /// Every statistic of a three-element estimate, worked out by hand.
    #[test]
    fn stats_by_hand() {
        let truth = [1.0, -1.0, 2.0];
        // Errors +0.5, +0.5, -1: toward zero on the first and third, away from it on the second.
        let s = stats(&[1.5, -0.5, 1.0], &truth);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-15;
        assert!(close(s.mean_error, 0.0), "{s:?}");
        assert!(close(s.bias, (0.5 - 0.5 - 1.0) / 3.0), "{s:?}");
        assert!(close(s.rmse, (1.5f64 / 3.0).sqrt()), "{s:?}");
        assert!(close(s.relative_rmse, (1.5f64 / 6.0).sqrt()), "{s:?}");
        assert!(close(s.slope, (1.5 + 0.5 + 2.0) / 6.0), "{s:?}");
        // Means 2/3 and 2/3; centred: truth (1/3, -5/3, 4/3), estimate (5/6, -7/6, 1/3).
        let cov = 5.0 / 18.0 + 35.0 / 18.0 + 4.0 / 9.0;
        let (var_t, var_e): (f64, f64) = (42.0 / 9.0, 78.0 / 36.0);
        assert!(
            (s.correlation - cov / (var_t * var_e).sqrt()).abs() < 1e-12,
            "{s:?}"
        );
    }

    /// `quality` against the scores computed here from the literal formula, in f64: the dequantized key
    /// `codebook[K_idx]·Pi` (MSE only) plus `sqrt(pi/2)/D · gamma · sigma·S_mat` (QJL), against `Q·Kᵀ`.
    #[test]
    fn quality_matches_the_literal_formula() {
        let spec = CaseSpec {
            name: "q",
            shape: Shape::new(3, 40, 8, 4),
            generator: Generator::Turboquant,
            tweak: None,
        };
        let case = spec.build(None, 11).unwrap();
        let (x, keys) = (&case.inputs, case.true_keys.as_ref().unwrap());
        let Shape { b, s, d, .. } = x.shape();
        let coef = (std::f64::consts::PI / 2.0).sqrt() / d as f64;
        let (mut truth, mut mse, mut full) = (vec![], vec![], vec![]);
        for bi in 0..b {
            for si in 0..s {
                let (mut t, mut m, mut j) = (0.0, 0.0, 0.0);
                for col in 0..d {
                    let q = f64::from(x.q[bi * d + col]);
                    t += q * keys[si * d + col];
                    for row in 0..d {
                        let idx = usize::from(x.k_idx[si * d + row]);
                        m += q * f64::from(x.codebook[idx]) * f64::from(x.pi[row * d + col]);
                        j += q
                            * coef
                            * f64::from(x.gamma[si])
                            * f64::from(x.qjl_signs[si * d + row])
                            * f64::from(x.s_mat[row * d + col]);
                    }
                }
                truth.push(t);
                mse.push(m);
                full.push(m + j);
            }
        }
        let q = quality(&case).unwrap();
        let close = |a: EstimateStats, b: EstimateStats| {
            [
                (a.bias, b.bias),
                (a.mean_error, b.mean_error),
                (a.rmse, b.rmse),
                (a.relative_rmse, b.relative_rmse),
                (a.slope, b.slope),
                (a.correlation, b.correlation),
            ]
            .iter()
            .all(|(x, y)| (x - y).abs() < 1e-9)
        };
        assert!(close(q.mse_only, stats(&mse, &truth)), "{q:?}");
        assert!(close(q.mse_qjl, stats(&full, &truth)), "{q:?}");
    }

    /// On a large case, the bias shows what TurboQuant claims: the MSE quantizer alone pulls scores toward zero
    /// (by about 1 − 2/π of their size at one bit), and with the QJL term the bias is gone (within the noise of
    /// one projection), while the mean error is near zero for both and shows neither.
    #[test]
    fn the_bias_of_mse_only_is_shrinkage_and_qjl_removes_it() {
        for (c, shrink) in [(2, 1.0 - 2.0 / std::f64::consts::PI), (4, 0.12)] {
            let spec = CaseSpec {
                name: "q",
                shape: Shape::new(8, 4096, 128, c),
                generator: Generator::Turboquant,
                tweak: None,
            };
            let q = quality(&spec.build(None, 3).unwrap()).unwrap();
            let mean_abs_truth = q.true_rms * (2.0 / std::f64::consts::PI).sqrt();
            let (mse, qjl) = (q.mse_only, q.mse_qjl);
            assert!(
                (mse.bias / mean_abs_truth + shrink).abs() < 0.3 * shrink,
                "C={c}: {q:?}"
            );
            assert!(qjl.bias.abs() < 0.2 * mse.bias.abs(), "C={c}: {q:?}");
            assert!(mse.mean_error.abs() < 0.2 * mse.bias.abs(), "C={c}: {q:?}");
        }
    }

    #[test]
    fn qjl_removes_the_shrinkage_of_the_mse_quantizer() {
        // 2 levels (1 bit) shrink inner products strongly; the QJL term should bring the slope back near 1.
        let spec = CaseSpec {
            name: "q",
            shape: Shape::new(8, 2048, 64, 2),
            generator: Generator::Turboquant,
            tweak: None,
        };
        let q = quality(&spec.build(None, 5).unwrap()).unwrap();
        assert!(q.mse_only.slope < 0.8, "{q:?}");
        assert!((q.mse_qjl.slope - 1.0).abs() < 0.05, "{q:?}");
    }
}
