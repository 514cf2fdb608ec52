//! The Lloyd-Max (MSE-optimal scalar) quantizer of one coordinate of a uniformly random unit vector in R^D,
//! the codebook TurboQuant uses after its random rotation.
//!
//! The coordinate `x` has density ∝ (1 − x²)^((D−3)/2) on [−1, 1]. With `x = cos θ`, θ ∈ [0, π] has density
//! ∝ sin^(D−2) θ, which is bounded for every D ≥ 2 (at D = 2 the x-density is singular at ±1 but θ is uniform).
//! We tabulate the cumulative mass and first moment on a fine θ grid, then run Lloyd's iteration (boundaries at
//! midpoints, levels at conditional means) from equal-mass initial cells until the levels stop moving (or the
//! iteration cap, `MAX_ITERATIONS`).

/// Grid intervals in θ; the trapezoid rule on this grid is accurate to ~1e-10 even at D = 256.
const GRID: usize = 1 << 18;
/// Convergence: largest change of a level in one iteration, in units of the coordinate's standard deviation.
const TOLERANCE: f64 = 1e-12;
/// Iteration cap. Up to C = 16 the levels stop moving long before it; with hundreds of levels the iteration
/// converges slowly: C = 256 at D = 256 reaches the cap with the levels still moving about 1e-10·sd a step, by
/// the rate of convergence about 1e-5·sd from the fixed point, far inside the spacing of the levels (about
/// 0.01·sd there).
const MAX_ITERATIONS: usize = 200_000;

/// Why no codebook was built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LloydMaxError {
    /// D = 1: the unit sphere in R^1 is the two points ±1, and the coordinate has no density.
    #[error(
        "the sphere-coordinate codebook needs D ≥ 2 (got D = {d}): in R^1 the unit sphere is just ±1"
    )]
    DimensionTooSmall { d: usize },
    /// Fewer than two levels asked for.
    #[error("a codebook needs at least 2 levels (got C = {c})")]
    TooFewLevels { c: usize },
}

/// Cumulative tables of the θ density on a uniform grid.
struct Tables {
    /// Grid step in θ (radians).
    step: f64,
    /// `mass[k] = ∫_0^{θ_k} sin^(D−2)` (unnormalised).
    mass: Vec<f64>,
    /// `moment[k] = ∫_0^{θ_k} cos · sin^(D−2)` (unnormalised).
    moment: Vec<f64>,
}

impl Tables {
    fn new(d: usize) -> Self {
        let step = std::f64::consts::PI / GRID as f64;
        let power = (d - 2) as f64;
        let density = |theta: f64| libm::pow(libm::sin(theta), power);
        let mut mass = Vec::with_capacity(GRID + 1);
        let mut moment = Vec::with_capacity(GRID + 1);
        let (mut m, mut f) = (0.0, 0.0);
        mass.push(0.0);
        moment.push(0.0);
        let mut prev = (density(0.0), 1.0);
        for k in 1..=GRID {
            let theta = k as f64 * step;
            let cur = (density(theta), libm::cos(theta));
            m += 0.5 * step * (prev.0 + cur.0);
            f += 0.5 * step * (prev.0 * prev.1 + cur.0 * cur.1);
            mass.push(m);
            moment.push(f);
            prev = cur;
        }
        Self { step, mass, moment }
    }

    /// Linear interpolation of a cumulative table at angle `theta`.
    fn at(&self, table: &[f64], theta: f64) -> f64 {
        let pos = (theta / self.step).clamp(0.0, GRID as f64);
        let k = (pos.floor() as usize).min(GRID - 1);
        let frac = pos - k as f64;
        table[k] + frac * (table[k + 1] - table[k])
    }

    /// `(mass, first moment)` of x over `[lo, hi]`, unnormalised.
    fn cell(&self, lo: f64, hi: f64) -> (f64, f64) {
        // x = cos θ is decreasing: x ∈ [lo, hi] ⇔ θ ∈ [acos hi, acos lo].
        let (t_hi, t_lo) = (
            libm::acos(hi.clamp(-1.0, 1.0)),
            libm::acos(lo.clamp(-1.0, 1.0)),
        );
        (
            self.at(&self.mass, t_lo) - self.at(&self.mass, t_hi),
            self.at(&self.moment, t_lo) - self.at(&self.moment, t_hi),
        )
    }

    /// The x whose lower tail holds fraction `p` of the mass (inverse CDF), by bisection.
    fn quantile(&self, p: f64) -> f64 {
        let total = self.mass[GRID];
        let (mut lo, mut hi) = (-1.0f64, 1.0f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if self.cell(-1.0, mid).0 < p * total {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }
}

/// The `c` Lloyd-Max levels, ascending, for one coordinate of a uniform random unit vector in R^`d`.
pub fn sphere_codebook(d: usize, c: usize) -> Result<Vec<f64>, LloydMaxError> {
    if d < 2 {
        return Err(LloydMaxError::DimensionTooSmall { d });
    }
    if c < 2 {
        return Err(LloydMaxError::TooFewLevels { c });
    }
    let tables = Tables::new(d);
    let sd = 1.0 / (d as f64).sqrt();
    let mut levels: Vec<f64> = (0..c)
        .map(|i| {
            let (lo, hi) = (
                tables.quantile(i as f64 / c as f64),
                tables.quantile((i + 1) as f64 / c as f64),
            );
            let (mass, moment) = tables.cell(lo, hi);
            if mass > 0.0 {
                moment / mass
            } else {
                0.5 * (lo + hi)
            }
        })
        .collect();
    for _ in 0..MAX_ITERATIONS {
        let mut next = Vec::with_capacity(c);
        for i in 0..c {
            let lo = if i == 0 {
                -1.0
            } else {
                0.5 * (levels[i - 1] + levels[i])
            };
            let hi = if i + 1 == c {
                1.0
            } else {
                0.5 * (levels[i] + levels[i + 1])
            };
            let (mass, moment) = tables.cell(lo, hi);
            next.push(if mass > 0.0 { moment / mass } else { levels[i] });
        }
        let change = next
            .iter()
            .zip(&levels)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        levels = next;
        if change < TOLERANCE * sd {
            break;
        }
    }
    // The density is symmetric: remove the last rounding asymmetry.
    let mirrored: Vec<f64> = levels.iter().rev().map(|x| -x).collect();
    Ok(levels
        .iter()
        .zip(&mirrored)
        .map(|(a, b)| 0.5 * (a + b))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaled_positive_half(d: usize, c: usize) -> Vec<f64> {
        let levels = sphere_codebook(d, c).unwrap();
        levels[c / 2..]
            .iter()
            .map(|x| x * (d as f64).sqrt())
            .collect()
    }

    /// Agreement to 3 decimals: less than one unit of the third decimal apart.
    ///
    /// The published table is itself a little off in the fourth decimal: two independent quadratures of the
    /// exact density (this module's θ-grid, and composite Simpson in x) both give 2.04593 where the table says
    /// 2.0454, the largest gap (5.3e-4).
    fn assert_close_3dp(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-3, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn matches_published_centroids_at_d128() {
        // Our own high-precision reference (Simpson, 2000 panels per cell) to 5 decimals.
        let exact = [
            0.12787, 0.38638, 0.65362, 0.93710, 1.24777, 1.60434, 2.04593, 2.68886,
        ];
        let got = scaled_positive_half(128, 16);
        assert!(
            got.iter().zip(exact).all(|(g, e)| (g - e).abs() < 1e-5),
            "{got:?}"
        );
        assert_close_3dp(&scaled_positive_half(128, 2), &[0.7994]);
        assert_close_3dp(&scaled_positive_half(128, 4), &[0.4524, 1.5052]);
        assert_close_3dp(
            &scaled_positive_half(128, 16),
            &[
                0.1278, 0.3862, 0.6533, 0.9367, 1.2473, 1.6039, 2.0454, 2.6884,
            ],
        );
    }

    #[test]
    fn d3_is_the_uniform_quantizer() {
        // At D = 3 the coordinate is uniform on [−1, 1]: Lloyd-Max levels are the cell midpoints.
        let levels = sphere_codebook(3, 4).unwrap();
        assert_close_3dp(&levels, &[-0.75, -0.25, 0.25, 0.75]);
    }

    #[test]
    fn small_dimensions_and_many_levels_are_sorted_and_inside() {
        for (d, c) in [(2, 2), (2, 16), (5, 256), (256, 256), (256, 2)] {
            let levels = sphere_codebook(d, c).unwrap();
            assert_eq!(levels.len(), c);
            assert!(
                levels.windows(2).all(|w| w[0] < w[1]),
                "d={d} c={c}: {levels:?}"
            );
            assert!(levels.iter().all(|x| x.abs() < 1.0));
        }
    }

    #[test]
    fn d1_is_rejected_with_the_reason() {
        let err = sphere_codebook(1, 4).unwrap_err();
        assert!(err.to_string().contains("D ≥ 2"), "{err}");
    }
}
