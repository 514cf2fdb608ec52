//! Parameter axes, nvbench style: `S=1024:65536:pow2`, `D=64,128,256`, `B=8:32:8`. Each axis names one shape
//! dimension and lists its values; a bench's cases are the cartesian product of its axes applied to a base
//! shape.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use solutions::Shape;

/// The most values one axis may expand to (a guard against typos such as `S=1:65536`).
pub const MAX_AXIS_VALUES: usize = 1024;

/// A shape dimension an axis can sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dim {
    /// Number of queries.
    B,
    /// Number of keys.
    S,
    /// Head dimension.
    D,
    /// Codebook size.
    C,
}

impl Dim {
    /// Every dimension, in shape order.
    pub const ALL: [Dim; 4] = [Dim::B, Dim::S, Dim::D, Dim::C];

    /// The letter used on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Dim::B => "B",
            Dim::S => "S",
            Dim::D => "D",
            Dim::C => "C",
        }
    }

    /// This dimension of `shape`.
    pub const fn get(self, shape: &Shape) -> usize {
        match self {
            Dim::B => shape.b,
            Dim::S => shape.s,
            Dim::D => shape.d,
            Dim::C => shape.c,
        }
    }

    /// `shape` with this dimension set to `value`.
    pub const fn set(self, shape: Shape, value: usize) -> Shape {
        let mut out = shape;
        match self {
            Dim::B => out.b = value,
            Dim::S => out.s = value,
            Dim::D => out.d = value,
            Dim::C => out.c = value,
        }
        out
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One axis: a dimension and its values, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    /// The dimension.
    pub dim: Dim,
    /// Its values (at least one, no duplicates).
    pub values: Vec<usize>,
    /// The text it was parsed from, for the results document.
    pub spec: String,
}

/// Why an axis specification was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AxisError {
    /// Not `NAME=VALUES`.
    #[error("axis '{spec}': expected NAME=VALUES, such as S=1024:65536:pow2 or D=64,128,256")]
    Syntax { spec: String },
    /// The name is not a shape dimension.
    #[error("axis '{spec}': unknown dimension '{name}'; use B, S, D or C")]
    UnknownDim { spec: String, name: String },
    /// A value is not a whole number.
    #[error("axis '{spec}': '{value}' is not a whole number")]
    NotANumber { spec: String, value: String },
    /// A range is empty or its step is unusable.
    #[error("axis '{spec}': {reason}")]
    BadRange { spec: String, reason: String },
    /// The axis expands to too many values.
    #[error("axis '{spec}' has {count} values; at most {MAX_AXIS_VALUES} are allowed")]
    TooMany { spec: String, count: usize },
    /// The same dimension appears on two axes.
    #[error("dimension {dim} appears on more than one axis")]
    Repeated { dim: Dim },
}

impl FromStr for Axis {
    type Err = AxisError;

    /// Parses `NAME=LIST` where LIST is `v1,v2,…`, `start:stop` (step 1), `start:stop:step` or
    /// `start:stop:pow2` (start, 2·start, 4·start, … up to stop). Ranges include `stop` when it is reached.
    fn from_str(spec: &str) -> Result<Self, AxisError> {
        let owned = || spec.to_owned();
        let (name, list) = spec
            .split_once('=')
            .ok_or_else(|| AxisError::Syntax { spec: owned() })?;
        let dim = Dim::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| AxisError::UnknownDim {
                spec: owned(),
                name: name.trim().to_owned(),
            })?;
        let number = |text: &str| -> Result<usize, AxisError> {
            text.trim()
                .replace('_', "")
                .parse::<usize>()
                .map_err(|_| AxisError::NotANumber {
                    spec: owned(),
                    value: text.trim().to_owned(),
                })
        };
        let bad = |reason: &str| AxisError::BadRange {
            spec: owned(),
            reason: reason.to_owned(),
        };
        let list = list.trim();
        let mut values: Vec<usize> = if list.contains(':') {
            let parts: Vec<&str> = list.split(':').collect();
            if parts.len() > 3 {
                return Err(AxisError::Syntax { spec: owned() });
            }
            let (start, stop) = (number(parts[0])?, number(parts[1])?);
            if start > stop {
                return Err(bad("start is above stop"));
            }
            match parts.get(2).map(|p| p.trim()) {
                Some(step) if step.eq_ignore_ascii_case("pow2") => {
                    if start == 0 {
                        return Err(bad("a pow2 range cannot start at 0"));
                    }
                    let mut out = Vec::new();
                    let mut v = start;
                    while v <= stop && out.len() <= MAX_AXIS_VALUES {
                        out.push(v);
                        match v.checked_mul(2) {
                            Some(next) => v = next,
                            None => break,
                        }
                    }
                    out
                }
                step => {
                    let step = step.map(number).transpose()?.unwrap_or(1);
                    if step == 0 {
                        return Err(bad("the step is 0"));
                    }
                    let count = (stop - start) / step + 1;
                    if count > MAX_AXIS_VALUES {
                        return Err(AxisError::TooMany {
                            spec: owned(),
                            count,
                        });
                    }
                    (0..count).map(|i| start + i * step).collect()
                }
            }
        } else {
            list.split(',').map(number).collect::<Result<_, _>>()?
        };
        if values.is_empty() {
            return Err(bad("no values"));
        }
        if values.len() > MAX_AXIS_VALUES {
            return Err(AxisError::TooMany {
                spec: owned(),
                count: values.len(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        values.retain(|v| seen.insert(*v));
        Ok(Axis {
            dim,
            values,
            spec: format!("{dim}={list}"),
        })
    }
}

/// Every shape of the cartesian product of `axes` applied to `base`, the first axis varying slowest.
///
/// Fails when two axes name the same dimension. Shapes are not validated here.
pub fn expand(base: Shape, axes: &[Axis]) -> Result<Vec<Shape>, AxisError> {
    for (i, a) in axes.iter().enumerate() {
        if axes[..i].iter().any(|b| b.dim == a.dim) {
            return Err(AxisError::Repeated { dim: a.dim });
        }
    }
    let mut shapes = vec![base];
    for axis in axes {
        shapes = shapes
            .iter()
            .flat_map(|&s| axis.values.iter().map(move |&v| axis.dim.set(s, v)))
            .collect();
    }
    Ok(shapes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Axis, AxisError> {
        s.parse()
    }

    #[test]
    fn lists_ranges_and_powers_of_two() {
        assert_eq!(parse("D=64,128,256").unwrap().values, [64, 128, 256]);
        assert_eq!(
            parse("S=1024:65536:pow2").unwrap().values,
            [1024, 2048, 4096, 8192, 16384, 32768, 65536]
        );
        assert_eq!(parse("s=1000:3000:pow2").unwrap().values, [1000, 2000]);
        assert_eq!(parse("B=8:32:8").unwrap().values, [8, 16, 24, 32]);
        assert_eq!(parse("C=2:4").unwrap().values, [2, 3, 4]);
        assert_eq!(parse("C = 4, 4, 8").unwrap().values, [4, 8]);
        assert_eq!(parse("S=1_024").unwrap().values, [1024]);
        assert_eq!(parse("d=64").unwrap().spec, "D=64");
        // Doubling stops where the next power would not fit, instead of repeating the largest number until
        // the axis counted 1,025 values.
        let wide = parse("S=1:18446744073709551615:pow2").unwrap();
        assert_eq!(wide.values.len(), 64);
        assert_eq!(wide.values.last(), Some(&(1usize << 63)));
    }

    #[test]
    fn bad_axes_say_what_is_wrong() {
        assert!(matches!(parse("S"), Err(AxisError::Syntax { .. })));
        assert!(matches!(parse("X=1"), Err(AxisError::UnknownDim { .. })));
        assert!(matches!(parse("S=a,b"), Err(AxisError::NotANumber { .. })));
        assert!(matches!(parse("S=9:1"), Err(AxisError::BadRange { .. })));
        assert!(matches!(
            parse("S=0:8:pow2"),
            Err(AxisError::BadRange { .. })
        ));
        assert!(matches!(parse("S=1:8:0"), Err(AxisError::BadRange { .. })));
        assert!(matches!(parse("S=1:65536"), Err(AxisError::TooMany { .. })));
        assert!(matches!(parse("S=1:2:3:4"), Err(AxisError::Syntax { .. })));
        let message = parse("Q=1").unwrap_err().to_string();
        assert!(message.contains("'Q'") && message.contains("B, S, D or C"));
    }

    #[test]
    fn expansion_is_the_cartesian_product() {
        let axes = [parse("S=1024,2048").unwrap(), parse("D=64,128").unwrap()];
        let shapes = expand(Shape::PERF, &axes).unwrap();
        let sd: Vec<(usize, usize)> = shapes.iter().map(|s| (s.s, s.d)).collect();
        assert_eq!(sd, [(1024, 64), (1024, 128), (2048, 64), (2048, 128)]);
        assert!(shapes.iter().all(|s| s.b == 32 && s.c == 16));
        let twice = [parse("S=1").unwrap(), parse("S=2").unwrap()];
        assert_eq!(
            expand(Shape::PERF, &twice),
            Err(AxisError::Repeated { dim: Dim::S })
        );
    }
}
