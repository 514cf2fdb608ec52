//! The problem's data: the shape (B, S, D, C), one owned input set, its validation against the challenge's
//! constraints, and the cost model (bytes that must move, flops of the reduced and literal forms).
//!
//! All matrices are row-major. Field names follow the public challenge: `Q [B,D]`, `K_idx [S,D] u8`,
//! `qjl_signs [S,D] i8`, `gamma [S]`, `Pi [D,D]`, `S_mat [D,D]`, `codebook [C]`, and the output `scores [B,S]`.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// Inclusive bounds of each shape parameter: `(min, max)`.
pub const B_RANGE: (usize, usize) = (1, 32);
/// Number of keys, inclusive bounds.
pub const S_RANGE: (usize, usize) = (1, 65_536);
/// Head dimension, inclusive bounds.
pub const D_RANGE: (usize, usize) = (1, 256);
/// Codebook size, inclusive bounds.
pub const C_RANGE: (usize, usize) = (2, 256);

/// Largest allowed deviation of any element of `Pi·Piᵀ` from the identity (dimensionless).
///
/// Loose enough for an orthogonal matrix computed in f32 (errors of order 1e-6 at D = 256), tight enough to
/// reject a matrix that is not a rotation.
pub const PI_ORTHOGONALITY_TOL: f64 = 1e-4;

/// The shape of one case: `b` queries, `s` keys, head dimension `d`, codebook size `c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    /// Number of queries (rows of `Q` and of `scores`).
    pub b: usize,
    /// Number of keys (rows of `K_idx`, `qjl_signs`; columns of `scores`).
    pub s: usize,
    /// Head dimension.
    pub d: usize,
    /// Codebook size (number of quantization levels).
    pub c: usize,
}

impl Shape {
    /// A shape; call [`Shape::validate`] before trusting it.
    pub const fn new(b: usize, s: usize, d: usize, c: usize) -> Self {
        Self { b, s, d, c }
    }

    /// The shape of the performance case: B = 32, S = 32,768, D = 128, C = 16.
    pub const PERF: Shape = Shape::new(32, 32_768, 128, 16);

    /// Checks every parameter against the challenge's constraints.
    pub fn validate(&self) -> Result<(), InputError> {
        for (field, value, (min, max)) in [
            ("B", self.b, B_RANGE),
            ("S", self.s, S_RANGE),
            ("D", self.d, D_RANGE),
            ("C", self.c, C_RANGE),
        ] {
            if value < min || value > max {
                return Err(InputError::ShapeOutOfRange {
                    field,
                    value,
                    min,
                    max,
                });
            }
        }
        Ok(())
    }

    /// Number of output elements, `B·S`.
    pub const fn output_len(&self) -> usize {
        self.b * self.s
    }

    /// The QJL coefficient `sqrt(pi/2) / D` (dimensionless).
    pub fn qjl_coef(&self) -> f64 {
        (std::f64::consts::PI / 2.0).sqrt() / self.d as f64
    }

    /// Bytes that any solution must move at least once: every input read once and the scores written once.
    ///
    /// 12,861,504 bytes at the perf preset.
    pub const fn min_bytes(&self) -> u64 {
        let (b, s, d, c) = (self.b as u64, self.s as u64, self.d as u64, self.c as u64);
        s * d // K_idx, u8
            + s * d // qjl_signs, i8
            + 4 * s // gamma
            + 4 * b * d // Q
            + 4 * d * d * 2 // Pi and S_mat
            + 4 * c // codebook
            + 4 * b * s // scores
    }

    /// Floating-point operations of the reduced form: `Qp = Q·Piᵀ` and `Qs = Q·S_matᵀ` (2·2·B·D² flops), then
    /// two dot products of length D per output (2·2·B·S·D flops). ≈ 0.54 GFLOP at the perf preset.
    pub const fn reduced_flops(&self) -> u64 {
        let (b, s, d) = (self.b as u64, self.s as u64, self.d as u64);
        4 * b * d * d + 4 * b * s * d
    }

    /// Floating-point operations of the literal form: dequantize every key (2·2·D² flops each), then one dot
    /// product of length D per output. ≈ 2.4 GFLOP at the perf preset.
    pub const fn literal_flops(&self) -> u64 {
        let (b, s, d) = (self.b as u64, self.s as u64, self.d as u64);
        4 * s * d * d + 2 * b * s * d
    }

    /// Dimensions of one field at this shape, outermost first (the values of [`Field::letters`]).
    pub fn dims(&self, field: Field) -> Vec<usize> {
        field
            .letters()
            .iter()
            .map(|&letter| match letter {
                'B' => self.b,
                'S' => self.s,
                'D' => self.d,
                'C' => self.c,
                other => {
                    unreachable!("Field::letters gave '{other}', which is no letter of a shape")
                }
            })
            .collect()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B={} S={} D={} C={}", self.b, self.s, self.d, self.c)
    }
}

/// One named array of the problem, with the name the public challenge uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Queries, `[B, D]` f32.
    Q,
    /// Codebook indices of the rotated keys, `[S, D]` u8, each `< C`.
    KIdx,
    /// Signs of the projected residuals, `[S, D]` i8, each ±1.
    QjlSigns,
    /// Residual norms, `[S]` f32, each ≥ 0.
    Gamma,
    /// The random rotation, `[D, D]` f32, orthogonal.
    Pi,
    /// The QJL projection, `[D, D]` f32.
    SMat,
    /// Quantization levels, `[C]` f32.
    Codebook,
    /// The output, `[B, S]` f32.
    Scores,
}

impl Field {
    /// Every input field, in the order of the public challenge's `solve` signature: [`Field::ALL`] but the
    /// output.
    pub const INPUTS: [Field; 7] = {
        let mut inputs = [Field::Q; 7];
        let mut i = 0;
        while i < inputs.len() {
            inputs[i] = Field::ALL[i];
            i += 1;
        }
        inputs
    };

    /// Every field: the inputs, then the output, in the order of the `solve` signature's arguments.
    pub const ALL: [Field; 8] = [
        Field::Q,
        Field::KIdx,
        Field::QjlSigns,
        Field::Gamma,
        Field::Pi,
        Field::SMat,
        Field::Codebook,
        Field::Scores,
    ];

    /// The name used in files and messages (`Q`, `K_idx`, `qjl_signs`, `gamma`, `Pi`, `S_mat`, `codebook`,
    /// `scores`).
    pub const fn name(self) -> &'static str {
        match self {
            Field::Q => "Q",
            Field::KIdx => "K_idx",
            Field::QjlSigns => "qjl_signs",
            Field::Gamma => "gamma",
            Field::Pi => "Pi",
            Field::SMat => "S_mat",
            Field::Codebook => "codebook",
            Field::Scores => "scores",
        }
    }

    /// The letters of the shape that give this field's dimensions, outermost first (`Q` is `[B, D]`).
    pub const fn letters(self) -> &'static [char] {
        match self {
            Field::Q => &['B', 'D'],
            Field::KIdx | Field::QjlSigns => &['S', 'D'],
            Field::Gamma => &['S'],
            Field::Pi | Field::SMat => &['D', 'D'],
            Field::Codebook => &['C'],
            Field::Scores => &['B', 'S'],
        }
    }

    /// Looks a field up by its file name.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A position inside a field, outermost index first; prints as `[s, d]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position(pub Vec<usize>);

impl Position {
    /// The position of the `flat`-th element (row-major) in an array of dimensions `dims`.
    pub fn from_flat(flat: usize, dims: &[usize]) -> Self {
        let mut rest = flat;
        let mut index = vec![0; dims.len()];
        for (slot, &dim) in index.iter_mut().zip(dims).rev() {
            *slot = rest % dim.max(1);
            rest /= dim.max(1);
        }
        Position(index)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// Why an input set (or a shape) breaks the challenge's constraints. Each variant names the field, the first
/// offending position and value, and the rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// A shape parameter outside its range.
    #[error("{field} = {value} is out of range: the rule is {min} ≤ {field} ≤ {max}")]
    ShapeOutOfRange {
        field: &'static str,
        value: usize,
        min: usize,
        max: usize,
    },
    /// An array whose length does not match the shape.
    #[error("{field} has {actual} elements, but its shape {dims:?} needs {expected}")]
    Length {
        field: Field,
        dims: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    /// A codebook index `≥ C`.
    #[error("K_idx{position} = {value} is not a codebook index: the rule is K_idx < C = {c}")]
    IndexOutOfRange {
        position: Position,
        value: u8,
        c: usize,
    },
    /// A sign that is neither −1 nor +1.
    #[error("qjl_signs{position} = {value}: the rule is that every sign is -1 or +1")]
    BadSign { position: Position, value: i8 },
    /// NaN or ±inf in a float field.
    #[error(
        "{field}{position} = {value} is not finite: the rule is that every value of {field} is finite"
    )]
    NotFinite {
        field: Field,
        position: Position,
        value: f32,
    },
    /// A negative residual norm.
    #[error("gamma{position} = {value} is negative: the rule is gamma ≥ 0 (it is a norm)")]
    NegativeGamma { position: Position, value: f32 },
    /// `Pi·Piᵀ` too far from the identity.
    #[error(
        "Pi is not orthogonal: (Pi·Piᵀ){position} = {value:.6}, {deviation:.3e} away from the identity; \
         the rule is a deviation of at most {tol:e}"
    )]
    NotOrthogonal {
        position: Position,
        value: f64,
        deviation: f64,
        tol: f64,
    },
    /// An expected score beyond float32's range: no float32 output can come within tolerance of it.
    #[error(
        "the largest expected score, scores{position} = {value:.3e}, is beyond float32's range (±{max:e}), so no \
         float32 output can match it; the rule is that every expected score fits float32 (scale Q or the keys down)",
        max = f32::MAX
    )]
    ScoresOverflow { position: Position, value: f64 },
}

/// The arrays of one input set, unchecked. Build an [`Inputs`] from it with [`Inputs::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct InputParts {
    /// The shape the arrays claim to have.
    pub shape: Shape,
    /// `[B, D]` queries.
    pub q: Vec<f32>,
    /// `[S, D]` codebook indices.
    pub k_idx: Vec<u8>,
    /// `[S, D]` residual signs, ±1.
    pub qjl_signs: Vec<i8>,
    /// `[S]` residual norms.
    pub gamma: Vec<f32>,
    /// `[D, D]` orthogonal rotation.
    pub pi: Vec<f32>,
    /// `[D, D]` QJL projection.
    pub s_mat: Vec<f32>,
    /// `[C]` quantization levels.
    pub codebook: Vec<f32>,
}

/// One input set that satisfies every constraint of the challenge. Read its arrays through `Deref` to
/// [`InputParts`]; the only way to build one is [`Inputs::new`], which validates.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs(InputParts);

impl Deref for Inputs {
    type Target = InputParts;
    fn deref(&self) -> &InputParts {
        &self.0
    }
}

impl Inputs {
    /// Validates `parts` and wraps them. The error names the first violation found, checking the shape, then
    /// lengths, then each field in signature order.
    pub fn new(parts: InputParts) -> Result<Self, InputError> {
        parts.validate()?;
        Ok(Self(parts))
    }

    /// Gives the arrays back, for changing and re-validating.
    pub fn into_parts(self) -> InputParts {
        self.0
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.0.shape
    }
}

impl InputParts {
    /// Checks the shape, every length and every value rule; returns the first violation.
    pub fn validate(&self) -> Result<(), InputError> {
        let shape = self.shape;
        shape.validate()?;
        self.check_lengths()?;
        check_finite(Field::Q, &self.q, &shape)?;
        if let Some(flat) = self.k_idx.iter().position(|&i| usize::from(i) >= shape.c) {
            return Err(InputError::IndexOutOfRange {
                position: Position::from_flat(flat, &shape.dims(Field::KIdx)),
                value: self.k_idx[flat],
                c: shape.c,
            });
        }
        if let Some(flat) = self.qjl_signs.iter().position(|&v| v != 1 && v != -1) {
            return Err(InputError::BadSign {
                position: Position::from_flat(flat, &shape.dims(Field::QjlSigns)),
                value: self.qjl_signs[flat],
            });
        }
        check_finite(Field::Gamma, &self.gamma, &shape)?;
        if let Some(flat) = self.gamma.iter().position(|&g| g < 0.0) {
            return Err(InputError::NegativeGamma {
                position: Position(vec![flat]),
                value: self.gamma[flat],
            });
        }
        check_finite(Field::Pi, &self.pi, &shape)?;
        check_orthogonal(&self.pi, shape.d)?;
        check_finite(Field::SMat, &self.s_mat, &shape)?;
        check_finite(Field::Codebook, &self.codebook, &shape)?;
        self.check_scores_fit()
    }

    /// Checks that every expected score `Q_b · K~_s` fits float32. A cheap bound settles almost every input
    /// set: `|Q_b·K~_s| ≤ ‖Q_b‖₁ · max_j |K~_sj|`, and `|K~_sj| ≤ max|codebook| · Σ_i |Pi_ij| + coef · gamma_s ·
    /// Σ_i |S_mat_ij|`. Only when the bound exceeds float32's range are the scores computed (in f64, as
    /// `(Q·Piᵀ)_b · codebook[K_idx_s] + coef·gamma_s · (Q·S_matᵀ)_b · sigma_s`) to find the largest.
    fn check_scores_fit(&self) -> Result<(), InputError> {
        let Shape { b, s, d, .. } = self.shape;
        let limit = f64::from(f32::MAX);
        let abs = |v: &f32| f64::from(v.abs());
        let max = |it: &mut dyn Iterator<Item = f64>| it.fold(0.0, f64::max);
        let column_sum =
            |m: &[f32]| max(&mut (0..d).map(|j| (0..d).map(|i| abs(&m[i * d + j])).sum()));
        let query = max(&mut self.q.chunks_exact(d).map(|row| row.iter().map(abs).sum()));
        let level = max(&mut self.codebook.iter().map(abs));
        let gamma = max(&mut self.gamma.iter().map(abs));
        let coef = self.shape.qjl_coef();
        let bound = query * (level * column_sum(&self.pi) + coef * gamma * column_sum(&self.s_mat));
        if bound <= limit {
            return Ok(());
        }
        let project = |m: &[f32]| -> Vec<f64> {
            let mut out = vec![0.0; b * d];
            for (q_row, out_row) in self.q.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
                for (slot, m_row) in out_row.iter_mut().zip(m.chunks_exact(d)) {
                    *slot = q_row
                        .iter()
                        .zip(m_row)
                        .map(|(q, x)| f64::from(*q) * f64::from(*x))
                        .sum();
                }
            }
            out
        };
        let (q_pi, q_s) = (project(&self.pi), project(&self.s_mat));
        let mut largest = (0.0f64, 0, 0);
        for key in 0..s {
            let levels = &self.k_idx[key * d..(key + 1) * d];
            let signs = &self.qjl_signs[key * d..(key + 1) * d];
            let scale = coef * f64::from(self.gamma[key]);
            for query in 0..b {
                let (p, r) = (
                    &q_pi[query * d..(query + 1) * d],
                    &q_s[query * d..(query + 1) * d],
                );
                let mse: f64 = p
                    .iter()
                    .zip(levels)
                    .map(|(x, &k)| x * f64::from(self.codebook[usize::from(k)]))
                    .sum();
                let qjl: f64 = r.iter().zip(signs).map(|(x, &sg)| x * f64::from(sg)).sum();
                let score = mse + scale * qjl;
                if score.abs() > largest.0.abs() {
                    largest = (score, query, key);
                }
            }
        }
        let (value, query, key) = largest;
        if value.abs() <= limit {
            return Ok(());
        }
        Err(InputError::ScoresOverflow {
            position: Position(vec![query, key]),
            value,
        })
    }

    fn check_lengths(&self) -> Result<(), InputError> {
        let lens = [
            (Field::Q, self.q.len()),
            (Field::KIdx, self.k_idx.len()),
            (Field::QjlSigns, self.qjl_signs.len()),
            (Field::Gamma, self.gamma.len()),
            (Field::Pi, self.pi.len()),
            (Field::SMat, self.s_mat.len()),
            (Field::Codebook, self.codebook.len()),
        ];
        for (field, actual) in lens {
            let dims = self.shape.dims(field);
            let expected = dims.iter().product();
            if actual != expected {
                return Err(InputError::Length {
                    field,
                    dims,
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }
}

fn check_finite(field: Field, values: &[f32], shape: &Shape) -> Result<(), InputError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(flat) => Err(InputError::NotFinite {
            field,
            position: Position::from_flat(flat, &shape.dims(field)),
            value: values[flat],
        }),
    }
}

/// Checks `max |Pi·Piᵀ − I| ≤ PI_ORTHOGONALITY_TOL`, computed in f64.
fn check_orthogonal(pi: &[f32], d: usize) -> Result<(), InputError> {
    let rows: Vec<Vec<f64>> = pi
        .chunks_exact(d)
        .map(|r| r.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let mut worst: Option<(f64, usize, usize, f64)> = None;
    for i in 0..d {
        for j in i..d {
            let dot: f64 = rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum();
            let target = if i == j { 1.0 } else { 0.0 };
            let deviation = (dot - target).abs();
            if worst.is_none_or(|(w, ..)| deviation > w) {
                worst = Some((deviation, i, j, dot));
            }
        }
    }
    match worst {
        Some((deviation, i, j, value)) if deviation > PI_ORTHOGONALITY_TOL => {
            Err(InputError::NotOrthogonal {
                position: Position(vec![i, j]),
                value,
                deviation,
                tol: PI_ORTHOGONALITY_TOL,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(d: usize) -> Vec<f32> {
        (0..d * d)
            .map(|k| if k % (d + 1) == 0 { 1.0 } else { 0.0 })
            .collect()
    }

    fn small() -> InputParts {
        let shape = Shape::new(2, 3, 2, 4);
        InputParts {
            shape,
            q: vec![1.0, 0.0, 0.0, 1.0],
            k_idx: vec![0, 3, 1, 2, 3, 0],
            qjl_signs: vec![1; 6],
            gamma: vec![0.0; 3],
            pi: identity(2),
            s_mat: identity(2),
            codebook: vec![-0.75, -0.25, 0.25, 0.75],
        }
    }

    #[test]
    fn dims_follow_the_letters() {
        let shape = Shape::new(2, 3, 5, 7);
        for (field, dims) in [
            (Field::Q, vec![2, 5]),
            (Field::KIdx, vec![3, 5]),
            (Field::QjlSigns, vec![3, 5]),
            (Field::Gamma, vec![3]),
            (Field::Pi, vec![5, 5]),
            (Field::SMat, vec![5, 5]),
            (Field::Codebook, vec![7]),
            (Field::Scores, vec![2, 3]),
        ] {
            assert_eq!(shape.dims(field), dims, "{field}");
        }
        assert_eq!(Field::Q.letters(), ['B', 'D']);
    }

    #[test]
    fn perf_shape_costs_match_the_design() {
        assert_eq!(Shape::PERF.min_bytes(), 12_861_504);
        assert_eq!(
            Shape::PERF.reduced_flops(),
            4 * 32 * 128 * 128 + 4 * 32 * 32_768 * 128
        );
        let literal = Shape::PERF.literal_flops() as f64;
        assert!((2.3e9..2.5e9).contains(&literal), "{literal}");
    }

    #[test]
    fn valid_inputs_pass() {
        assert!(Inputs::new(small()).is_ok());
    }

    #[test]
    fn shape_limits_name_the_field_and_rule() {
        let err = Shape::new(33, 1, 1, 2).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "B = 33 is out of range: the rule is 1 ≤ B ≤ 32"
        );
        let err = Shape::new(1, 1, 1, 1).validate().unwrap_err();
        assert!(matches!(
            err,
            InputError::ShapeOutOfRange {
                field: "C",
                value: 1,
                ..
            }
        ));
        assert!(Shape::new(1, 65_537, 1, 2).validate().is_err());
        assert!(Shape::new(1, 1, 257, 2).validate().is_err());
        assert!(Shape::new(1, 1, 0, 2).validate().is_err());
        assert!(Shape::new(32, 65_536, 256, 256).validate().is_ok());
    }

    #[test]
    fn each_violation_names_field_position_and_rule() {
        let mut p = small();
        p.k_idx[3] = 4;
        assert_eq!(
            Inputs::new(p).unwrap_err().to_string(),
            "K_idx[1, 1] = 4 is not a codebook index: the rule is K_idx < C = 4"
        );

        let mut p = small();
        p.qjl_signs[5] = 0;
        assert_eq!(
            Inputs::new(p).unwrap_err().to_string(),
            "qjl_signs[2, 1] = 0: the rule is that every sign is -1 or +1"
        );

        let mut p = small();
        p.q[1] = f32::NAN;
        let err = Inputs::new(p).unwrap_err();
        assert!(
            matches!(&err, InputError::NotFinite { field: Field::Q, position, .. } if position.0 == [0, 1])
        );

        let mut p = small();
        p.gamma[2] = -0.5;
        assert_eq!(
            Inputs::new(p).unwrap_err().to_string(),
            "gamma[2] = -0.5 is negative: the rule is gamma ≥ 0 (it is a norm)"
        );

        let mut p = small();
        p.s_mat[0] = f32::INFINITY;
        assert!(
            Inputs::new(p)
                .unwrap_err()
                .to_string()
                .starts_with("S_mat[0, 0] = inf is not finite")
        );

        let mut p = small();
        p.codebook.push(1.0);
        assert_eq!(
            Inputs::new(p).unwrap_err().to_string(),
            "codebook has 5 elements, but its shape [4] needs 4"
        );

        let mut p = small();
        p.pi[1] = 0.5;
        let err = Inputs::new(p).unwrap_err();
        assert!(
            matches!(&err, InputError::NotOrthogonal { position, .. } if position.0 == [0, 1]),
            "{err}"
        );
    }

    #[test]
    fn scores_beyond_f32_are_rejected_with_the_largest_and_where() {
        let mut p = small();
        p.q.iter_mut().for_each(|v| *v *= 1e30);
        p.codebook.iter_mut().for_each(|v| *v *= 1e30);
        let err = Inputs::new(p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the largest expected score, scores[0, 0] = -7.500e59, is beyond float32's range (±3.4028235e38), \
             so no float32 output can match it; the rule is that every expected score fits float32 (scale Q or the \
             keys down)"
        );

        // The QJL term counts too: a large gamma on the last key.
        let mut p = small();
        p.gamma[2] = 1e37;
        p.q[3] = 1e3;
        let err = Inputs::new(p).unwrap_err();
        assert!(
            matches!(&err, InputError::ScoresOverflow { position, value } if position.0 == [1, 2] && *value > 1e39),
            "{err}"
        );

        // Large scores that still fit pass.
        let mut p = small();
        p.q.iter_mut().for_each(|v| *v *= 1e19);
        p.codebook.iter_mut().for_each(|v| *v *= 1e19);
        assert!(Inputs::new(p).is_ok());

        // The cheap bound overflows (|Q_0|₁ = 6e38) but every score of that query is 0: exact scores decide.
        let mut p = small();
        p.q[0] = 3e38;
        p.q[1] = 3e38;
        assert!(Inputs::new(p).is_ok());
    }

    #[test]
    fn position_from_flat_is_row_major() {
        assert_eq!(Position::from_flat(7, &[3, 4]).0, vec![1, 3]);
        assert_eq!(Position::from_flat(0, &[5]).0, vec![0]);
        assert_eq!(Position::from_flat(23, &[2, 3, 4]).to_string(), "[1, 2, 3]");
    }

    #[test]
    fn field_names_round_trip() {
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(f));
        }
        assert_eq!(Field::from_name("k_idx"), None);
    }
}
