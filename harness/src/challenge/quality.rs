//! How good the compressed estimate is: for cases whose true keys are known, the scores the compressed cache
//! gives (MSE part alone, and MSE + QJL) against the true scores `Q·Kᵀ`.
//!
//! TurboQuant's claim is that the QJL correction makes the inner-product estimate unbiased; the MSE quantizer
//! alone shrinks it. `slope` (least-squares fit of estimate = slope · truth) shows the shrinkage directly.

use serde::{Deserialize, Serialize};

use super::oracle;
use super::suites::Case;

/// Error statistics of one estimator against the true scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EstimateStats {
    /// Mean of (estimate − truth), in score units.
    pub bias: f64,
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
    let bias = err.iter().sum::<f64>() / n;
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
        assert!(s.bias.abs() < 1e-15);
        assert!((s.relative_rmse - 0.5).abs() < 1e-15);
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
