//! The checker: compares one output against the oracle element by element and says pass or fail, with the
//! errors that explain the verdict (max absolute and relative error, relative Frobenius error, mismatches and
//! the first few positions, non-finite and unwritten elements).

use std::fmt;

use serde::{Deserialize, Serialize};
use solutions::{POISON, Shape};

/// How many mismatching elements are listed by position.
pub const FIRST_MISMATCHES: usize = 5;

/// An element passes when `|x − ref| ≤ atol + rtol·|ref|`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// Absolute tolerance, in score units.
    pub atol: f64,
    /// Relative tolerance (dimensionless).
    pub rtol: f64,
}

impl Tolerance {
    /// True when `got` is within tolerance of `expected`.
    pub fn accepts(&self, got: f64, expected: f64) -> bool {
        (got - expected).abs() <= self.atol + self.rtol * expected.abs()
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "atol={:e} rtol={:e}", self.atol, self.rtol)
    }
}

/// One element outside tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Query index.
    pub b: usize,
    /// Key index.
    pub s: usize,
    /// What the solution wrote. In JSON a number, or `"NaN"`, `"inf"`, `"-inf"` (which JSON numbers cannot be;
    /// documents written before read `null` as NaN).
    #[serde(with = "non_finite_as_name")]
    pub got: f32,
    /// What the oracle says.
    pub expected: f64,
}

/// A float in JSON that may be NaN or infinite: finite values as numbers, the others by name.
mod non_finite_as_name {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f32, serializer: S) -> Result<S::Ok, S::Error> {
        match *x {
            x if x.is_nan() => serializer.serialize_str("NaN"),
            f32::INFINITY => serializer.serialize_str("inf"),
            f32::NEG_INFINITY => serializer.serialize_str("-inf"),
            x => serializer.serialize_f32(x),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Number(f32),
        Name(String),
        Null(()),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
        match Stored::deserialize(deserializer)? {
            Stored::Number(x) => Ok(x),
            Stored::Null(()) => Ok(f32::NAN),
            Stored::Name(name) => match name.as_str() {
                "NaN" => Ok(f32::NAN),
                "inf" => Ok(f32::INFINITY),
                "-inf" => Ok(f32::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!(
                    "'{other}' is not a float (a number, \"NaN\", \"inf\" or \"-inf\")"
                ))),
            },
        }
    }
}

/// Everything the checker found about one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// Whether every element is finite and within tolerance.
    pub passed: bool,
    /// Largest |x − ref| over finite elements, in score units.
    pub max_abs_err: f64,
    /// Largest |x − ref| / |ref| over finite elements with ref ≠ 0.
    pub max_rel_err: f64,
    /// ‖x − ref‖ / ‖ref‖ over finite elements (0 when both norms are 0; ‖x − ref‖ when only ‖ref‖ is).
    pub rel_frobenius: f64,
    /// Number of finite elements outside tolerance.
    pub mismatches: usize,
    /// Number of NaN or ±inf elements (unwritten ones included).
    pub non_finite: usize,
    /// Number of elements still holding the poison pattern, i.e. never written.
    pub unwritten: usize,
    /// The first few failing elements (outside tolerance or non-finite), in row-major order.
    pub first_failures: Vec<Mismatch>,
    /// The finite element farthest outside its tolerance, by `|x − ref| / (atol + rtol·|ref|)` (the first of
    /// equals); `None` when no finite element is outside it. Documents written before it read `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst: Option<Mismatch>,
}

impl CheckReport {
    /// A one-line explanation of a failure; `None` when it passed.
    pub fn reason(&self) -> Option<String> {
        if self.passed {
            return None;
        }
        let mut parts = Vec::new();
        if self.unwritten > 0 {
            parts.push(format!("{} element(s) never written", self.unwritten));
        }
        if self.non_finite > self.unwritten {
            parts.push(format!(
                "{} NaN/inf element(s)",
                self.non_finite - self.unwritten
            ));
        }
        if self.mismatches > 0 {
            parts.push(format!(
                "{} element(s) outside {}",
                self.mismatches, self.tolerance
            ));
        }
        let at = |what: &str, m: &Mismatch| {
            format!(
                "{what} at (b={}, s={}): got {}, expected {}",
                m.b,
                m.s,
                format_got(m.got),
                format_expected(m.expected)
            )
        };
        let first = self.first_failures.first();
        if let Some(first) = first {
            parts.push(at("first", first));
        }
        if let Some(worst) = self.worst.as_ref().filter(|w| Some(*w) != first) {
            parts.push(at("the worst", worst));
        }
        Some(parts.join("; "))
    }
}

/// Whether `x` reads well in fixed point: zero, or a magnitude from 1e-4 to below 1e6.
fn fixed_point_reads(x: f64) -> bool {
    x == 0.0 || (1e-4..1e6).contains(&x.abs())
}

/// An oracle score for messages: six decimals in fixed point, in scientific notation (`4.904447e59`) outside
/// [`fixed_point_reads`]'s range, where fixed point would print sixty digits or only zeros.
pub fn format_expected(x: f64) -> String {
    if fixed_point_reads(x) || !x.is_finite() {
        format!("{x:.6}")
    } else {
        format!("{x:.6e}")
    }
}

/// An output element for messages: its shortest exact form, in scientific notation outside
/// [`fixed_point_reads`]'s range; NaN and ±inf by name.
pub fn format_got(x: f32) -> String {
    if fixed_point_reads(f64::from(x)) || !x.is_finite() {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Checks `got` (`[B, S]` f32) against `expected` (`[B, S]` f64 from the oracle).
///
/// # Panics
/// If the two lengths differ from `shape.output_len()`: the harness sizes both, so that is a bug in the judge.
pub fn check(got: &[f32], expected: &[f64], shape: Shape, tolerance: Tolerance) -> CheckReport {
    assert_eq!(got.len(), shape.output_len(), "output length");
    assert_eq!(expected.len(), shape.output_len(), "oracle length");
    let mut report = CheckReport {
        tolerance,
        passed: true,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        rel_frobenius: 0.0,
        mismatches: 0,
        non_finite: 0,
        unwritten: 0,
        first_failures: Vec::new(),
        worst: None,
    };
    let (mut diff_sq, mut ref_sq) = (0.0f64, 0.0f64);
    // How far outside its tolerance the worst element so far is: |x − ref| over what the tolerance allows there.
    let mut worst_ratio = 1.0f64;
    for (flat, (&x, &want)) in got.iter().zip(expected).enumerate() {
        let failed = if x.is_finite() {
            let err = (f64::from(x) - want).abs();
            report.max_abs_err = report.max_abs_err.max(err);
            if want != 0.0 {
                report.max_rel_err = report.max_rel_err.max(err / want.abs());
            }
            diff_sq += err * err;
            ref_sq += want * want;
            let outside = !tolerance.accepts(f64::from(x), want);
            report.mismatches += usize::from(outside);
            if outside {
                let allowed = tolerance.atol + tolerance.rtol * want.abs();
                let ratio = if allowed > 0.0 {
                    err / allowed
                } else {
                    f64::INFINITY
                };
                if report.worst.is_none() || ratio > worst_ratio {
                    worst_ratio = ratio;
                    report.worst = Some(Mismatch {
                        b: flat / shape.s,
                        s: flat % shape.s,
                        got: x,
                        expected: want,
                    });
                }
            }
            outside
        } else {
            report.non_finite += 1;
            report.unwritten += usize::from(x.to_bits() == POISON.to_bits());
            true
        };
        if failed && report.first_failures.len() < FIRST_MISMATCHES {
            report.first_failures.push(Mismatch {
                b: flat / shape.s,
                s: flat % shape.s,
                got: x,
                expected: want,
            });
        }
    }
    report.rel_frobenius = match (diff_sq.sqrt(), ref_sq.sqrt()) {
        (0.0, _) => 0.0,
        (diff, 0.0) => diff,
        (diff, norm) => diff / norm,
    };
    report.passed = report.mismatches == 0 && report.non_finite == 0;
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOL: Tolerance = Tolerance {
        atol: 1e-3,
        rtol: 1e-3,
    };
    const SHAPE: Shape = Shape::new(2, 3, 1, 2);

    #[test]
    fn exact_output_passes_with_zero_errors() {
        let expected = [1.0, -2.0, 0.0, 4.0, 5.5, -6.0];
        let got: Vec<f32> = expected.iter().map(|&x| x as f32).collect();
        let r = check(&got, &expected, SHAPE, TOL);
        assert!(r.passed);
        assert_eq!(
            (r.max_abs_err, r.rel_frobenius, r.mismatches),
            (0.0, 0.0, 0)
        );
        assert_eq!(r.reason(), None);
    }

    #[test]
    fn boundary_of_the_tolerance_is_inclusive() {
        // |x − ref| = atol + rtol·|ref| exactly passes; a bit more fails.
        let half = Tolerance {
            atol: 0.5,
            rtol: 0.5,
        };
        assert!(half.accepts(2.0, 1.0));
        assert!(half.accepts(0.0, 1.0));
        assert!(!half.accepts(2.0 + 1e-9, 1.0));
        assert!(!TOL.accepts(1.0025, 1.0));
        assert!(TOL.accepts(0.001, 0.0));
        assert!(!TOL.accepts(0.0011, 0.0));
    }

    #[test]
    fn mismatches_are_counted_and_located() {
        let expected = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let got = [1.0, 2.0, 3.5, 4.0, 5.0, 0.0];
        let r = check(&got, &expected, SHAPE, TOL);
        assert!(!r.passed);
        assert_eq!(r.mismatches, 2);
        assert_eq!((r.first_failures[0].b, r.first_failures[0].s), (0, 2));
        assert_eq!((r.first_failures[1].b, r.first_failures[1].s), (1, 2));
        assert_eq!(r.max_abs_err, 6.0);
        assert_eq!(r.max_rel_err, 1.0);
        let norm = (1.0f64 + 4.0 + 9.0 + 16.0 + 25.0 + 36.0).sqrt();
        assert!((r.rel_frobenius - (0.25f64 + 36.0).sqrt() / norm).abs() < 1e-15);
        let reason = r.reason().unwrap();
        assert!(
            reason.contains("2 element(s) outside") && reason.contains("(b=0, s=2)"),
            "{reason}"
        );
    }

    #[test]
    fn nan_inf_and_poison_fail_with_their_own_reason() {
        let expected = [0.0; 6];
        let got = [0.0, f32::NAN, 0.0, f32::INFINITY, 0.0, POISON];
        let r = check(&got, &expected, SHAPE, TOL);
        assert!(!r.passed);
        assert_eq!((r.non_finite, r.unwritten, r.mismatches), (3, 1, 0));
        let reason = r.reason().unwrap();
        assert!(reason.contains("1 element(s) never written"), "{reason}");
        assert!(reason.contains("2 NaN/inf"), "{reason}");
        // The report reads back from JSON, its non-finite values by name (JSON numbers cannot hold them).
        let mut wide = r.clone();
        wide.first_failures[0].got = f32::NEG_INFINITY;
        let json = serde_json::to_string(&wide).unwrap();
        assert!(
            json.contains(r#""got":"-inf""#) && json.contains(r#""got":"inf""#),
            "{json}"
        );
        let back: CheckReport = serde_json::from_str(&json).unwrap();
        let got: Vec<f32> = back.first_failures.iter().map(|m| m.got).collect();
        assert_eq!(got[..2], [f32::NEG_INFINITY, f32::INFINITY]);
        assert!(got[2].is_nan());
        // Documents written before stored them as null.
        let old = json.replace(r#""got":"NaN""#, r#""got":null"#);
        assert_ne!(old, json);
        let back: CheckReport = serde_json::from_str(&old).unwrap();
        assert!(back.first_failures[2].got.is_nan());
        assert!(
            serde_json::from_str::<CheckReport>(&json.replace(r#""-inf""#, r#""big""#)).is_err()
        );
    }

    #[test]
    fn far_values_are_written_in_scientific_notation() {
        assert_eq!(format_expected(0.0), "0.000000");
        assert_eq!(format_expected(-1.25), "-1.250000");
        assert_eq!(format_expected(4.904_446_863_163_124e59), "4.904447e59");
        assert_eq!(format_expected(3e-9), "3.000000e-9");
        assert_eq!(format_expected(f64::INFINITY), "inf");
        assert_eq!(format_got(f32::MAX), "3.4028235e38");
        assert_eq!(format_got(0.5), "0.5");
        assert_eq!(format_got(f32::NAN), "NaN");
        let r = check(&[f32::INFINITY], &[4.9e59], Shape::new(1, 1, 1, 2), TOL);
        let reason = r.reason().unwrap();
        assert!(reason.contains("got inf, expected 4.900000e59"), "{reason}");
    }

    #[test]
    fn zero_reference_frobenius_is_absolute() {
        let r = check(
            &[0.0, 0.0, 0.0, 0.0, 0.0, 3.0],
            &[0.0; 6],
            SHAPE,
            Tolerance {
                atol: 10.0,
                rtol: 0.0,
            },
        );
        assert!(r.passed);
        assert_eq!(r.rel_frobenius, 3.0);
    }

    #[test]
    fn the_worst_element_is_named_where_it_is_not_the_first() {
        // (0, 2) is the first failure, 0.5 outside a tolerance of about 0.004; (1, 2) is 6 outside about 0.007.
        let expected = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let got = [1.0, 2.0, 3.5, 4.0, 5.0, 0.0];
        let r = check(&got, &expected, SHAPE, TOL);
        let worst = r.worst.unwrap();
        assert_eq!(
            (worst.b, worst.s, worst.got, worst.expected),
            (1, 2, 0.0, 6.0)
        );
        let reason = r.reason().unwrap();
        assert!(
            reason.contains("first at (b=0, s=2): got 3.5")
                && reason.contains("the worst at (b=1, s=2): got 0, expected 6.000000"),
            "{reason}"
        );
        // Judged against what the tolerance allows there, not by the absolute error: 0.9 off at 1000 (allowed
        // 1.001) passes, 0.01 off at 0 (allowed 0.001) is the worst.
        let r = check(&[1000.9, 0.01], &[1000.0, 0.0], Shape::new(1, 2, 1, 2), TOL);
        assert_eq!(r.mismatches, 1);
        assert_eq!(r.worst.map(|w| w.s), Some(1));
        // When the worst is the first, it is said once; a passing output and non-finite elements have none.
        let reason = check(&[0.0, 1.0], &[1.0, 1.0], Shape::new(1, 2, 1, 2), TOL)
            .reason()
            .unwrap();
        assert!(!reason.contains("worst"), "{reason}");
        assert_eq!(
            check(&[1.0, 1.0], &[1.0, 1.0], Shape::new(1, 2, 1, 2), TOL).worst,
            None
        );
        assert_eq!(
            check(&[f32::NAN], &[1.0], Shape::new(1, 1, 1, 2), TOL).worst,
            None
        );
        // With no tolerance at all, any difference is infinitely far outside: the first of them is the worst.
        let exact = Tolerance {
            atol: 0.0,
            rtol: 0.0,
        };
        let r = check(&[1.5, 9.0], &[1.0, 1.0], Shape::new(1, 2, 1, 2), exact);
        assert_eq!(r.worst.map(|w| w.s), Some(0));
        // Documents written before the field read it as absent.
        let mut json = serde_json::to_value(check(&got, &expected, SHAPE, TOL)).unwrap();
        json.as_object_mut().unwrap().remove("worst");
        let back: CheckReport = serde_json::from_value(json).unwrap();
        assert_eq!(back.worst, None);
    }

    proptest! {
        /// The worst element is the one with the largest |x − ref| / (atol + rtol·|ref|) among those outside the
        /// tolerance, the first of equals, as a plain search finds it.
        #[test]
        fn the_worst_element_is_the_largest_excess(
            pairs in proptest::collection::vec((-10.0f64..10.0, -10.0f32..10.0), 6),
        ) {
            let expected: Vec<f64> = pairs.iter().map(|p| p.0).collect();
            let got: Vec<f32> = pairs.iter().map(|p| p.1).collect();
            let r = check(&got, &expected, SHAPE, TOL);
            let mut want: Option<(usize, f64)> = None;
            for (i, (&x, &e)) in got.iter().zip(&expected).enumerate() {
                let excess = (f64::from(x) - e).abs() / (TOL.atol + TOL.rtol * e.abs());
                if excess > 1.0 && want.is_none_or(|(_, w)| excess > w) {
                    want = Some((i, excess));
                }
            }
            prop_assert_eq!(r.worst.map(|w| w.b * SHAPE.s + w.s), want.map(|w| w.0));
        }

        #[test]
        fn perturbation_within_tolerance_passes_and_beyond_fails(
            values in proptest::collection::vec(-1e3f64..1e3, 6),
            frac in 0.0f64..0.9,
        ) {
            let bound = |x: f64| TOL.atol + TOL.rtol * x.abs();
            let inside: Vec<f32> = values.iter().map(|&x| (x + frac * bound(x)) as f32).collect();
            let outside: Vec<f32> = values.iter().map(|&x| (x + 1.5 * bound(x)) as f32).collect();
            // f32 rounding of values up to 1e3 moves them by at most 6e-5, below the 10% margin kept.
            prop_assert!(check(&inside, &values, SHAPE, TOL).passed);
            let r = check(&outside, &values, SHAPE, TOL);
            prop_assert_eq!(r.mismatches, 6);
        }
    }
}
