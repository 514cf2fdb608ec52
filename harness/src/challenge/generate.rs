//! Input generators (DESIGN.md §3), all seeded and reproducible: `challenge` (what the public challenge does),
//! `turboquant` (the method as published, with the true keys kept), `uniform` (coverage of the constraint
//! space) and the worked example.
//!
//! Generation is done in f64 from the f32-rounded matrices that end up in the case, so the stored indices,
//! signs and norms are exactly consistent with the stored `Pi`, `S_mat` and codebook.

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use solutions::{InputError, InputParts, Inputs, Shape};

use super::linalg::{random_orthogonal, transpose};
use super::lloyd_max::{LloydMaxError, sphere_codebook};
use super::rng::Rng;

/// A way to make input sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generator {
    /// The public challenge's recipe: Pi from QR of randn, S_mat randn, codebook linspace(−1, 1, C),
    /// Q = 0.5·randn, keys 0.3·randn quantized to the nearest centroid, QJL signs of the residual.
    Challenge,
    /// TurboQuant as published: unit-norm keys, the Lloyd-Max codebook of a sphere coordinate, Q = randn.
    /// Keeps the true keys, so the compressed estimate can be compared with the true scores. Needs D ≥ 2.
    Turboquant,
    /// Indices, signs, norms and codebook drawn uniformly within the constraints: coverage, not realism.
    Uniform,
    /// The hand-checkable example of DESIGN.md §3 (fixed shape B=2, S=3, D=2, C=4; the seed is ignored).
    WorkedExample,
}

impl Generator {
    /// Every generator, as `judge list` shows them.
    pub const ALL: [Generator; 4] = [
        Generator::Challenge,
        Generator::Turboquant,
        Generator::Uniform,
        Generator::WorkedExample,
    ];

    /// The name used on the command line and in results.
    pub const fn name(self) -> &'static str {
        match self {
            Generator::Challenge => "challenge",
            Generator::Turboquant => "turboquant",
            Generator::Uniform => "uniform",
            Generator::WorkedExample => "worked-example",
        }
    }

    /// Whether its cases keep the true (uncompressed) keys ([`Generated::true_keys`]), which the quality of the
    /// compressed estimate is measured against.
    pub const fn keeps_true_keys(self) -> bool {
        matches!(self, Generator::Challenge | Generator::Turboquant)
    }

    /// One line saying what it makes.
    pub const fn description(self) -> &'static str {
        match self {
            Generator::Challenge => {
                "the public challenge's recipe: randn keys (0.3) quantized on linspace(-1,1,C)"
            }
            Generator::Turboquant => {
                "unit-norm keys, Lloyd-Max sphere codebook; true keys kept (D >= 2)"
            }
            Generator::Uniform => {
                "indices, signs, norms and codebook uniform within the constraints"
            }
            Generator::WorkedExample => {
                "the 2x3 hand-checkable example (fixed shape B=2 S=3 D=2 C=4)"
            }
        }
    }
}

impl fmt::Display for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Generator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Generator::ALL
            .into_iter()
            .find(|g| g.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Generator::ALL.iter().map(|g| g.name()).collect();
                format!("unknown generator '{s}'; known: {}", names.join(", "))
            })
    }
}

/// Why a case could not be generated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateError {
    /// The shape (or the generated arrays) break the constraints.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The turboquant codebook cannot be built for this shape.
    #[error("generator turboquant: {0}")]
    Codebook(#[from] LloydMaxError),
    /// The worked example has one fixed shape.
    #[error("the worked example has the fixed shape {expected}, not {got}")]
    WorkedExampleShape { expected: Shape, got: Shape },
}

/// A generated input set, with the true (uncompressed) keys when the generator knows them.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The validated inputs.
    pub inputs: Inputs,
    /// `[S, D]` row-major true keys, for estimate-quality analysis (challenge and turboquant generators).
    pub true_keys: Option<Vec<f64>>,
}

/// The worked example's shape.
pub const WORKED_EXAMPLE_SHAPE: Shape = Shape::new(2, 3, 2, 4);
/// The worked example's expected scores, `[2, 3]` row-major.
pub const WORKED_EXAMPLE_SCORES: [f64; 6] = [-0.75, -0.25, 0.75, 0.75, 0.25, -0.75];

/// Generates one input set of `shape` with `generator` from `seed`.
pub fn generate(generator: Generator, shape: Shape, seed: u64) -> Result<Generated, GenerateError> {
    shape.validate()?;
    match generator {
        Generator::WorkedExample => worked_example(shape),
        Generator::Uniform => uniform(shape, seed),
        Generator::Challenge => {
            let levels: Vec<f64> = (0..shape.c)
                .map(|i| -1.0 + 2.0 * i as f64 / (shape.c - 1) as f64)
                .collect();
            quantized(shape, seed, &levels, 0.5, |rng| {
                rng.normals(shape.s * shape.d, 0.3)
            })
        }
        Generator::Turboquant => {
            let levels = sphere_codebook(shape.d, shape.c)?;
            quantized(shape, seed, &levels, 1.0, |rng| {
                let mut keys = rng.normals(shape.s * shape.d, 1.0);
                for key in keys.chunks_exact_mut(shape.d) {
                    let norm = key.iter().map(|x| x * x).sum::<f64>().sqrt();
                    key.iter_mut().for_each(|x| *x /= norm);
                }
                keys
            })
        }
    }
}

fn worked_example(shape: Shape) -> Result<Generated, GenerateError> {
    if shape != WORKED_EXAMPLE_SHAPE {
        return Err(GenerateError::WorkedExampleShape {
            expected: WORKED_EXAMPLE_SHAPE,
            got: shape,
        });
    }
    let identity = vec![1.0, 0.0, 0.0, 1.0];
    let inputs = Inputs::new(InputParts {
        shape,
        q: identity.clone(),
        k_idx: vec![0, 3, 1, 2, 3, 0],
        qjl_signs: vec![1; 6],
        gamma: vec![0.0; 3],
        pi: identity.clone(),
        s_mat: identity,
        codebook: vec![-0.75, -0.25, 0.25, 0.75],
    })?;
    Ok(Generated {
        inputs,
        true_keys: None,
    })
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn round_trip(v: &[f64]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x as f32)).collect()
}

/// Shared by the challenge and turboquant generators: draw Pi, S_mat and Q, draw keys with `keys`, then
/// quantize each key against `levels` and record its QJL signs and residual norm.
fn quantized(
    shape: Shape,
    seed: u64,
    levels: &[f64],
    q_scale: f64,
    keys: impl FnOnce(&mut Rng) -> Vec<f64>,
) -> Result<Generated, GenerateError> {
    let d = shape.d;
    let pi = round_trip(&random_orthogonal(d, &mut Rng::new(seed, "Pi")));
    let s_mat = round_trip(&Rng::new(seed, "S_mat").normals(d * d, 1.0));
    let levels = round_trip(levels);
    let q = Rng::new(seed, "Q").normals(shape.b * d, q_scale);
    let true_keys = keys(&mut Rng::new(seed, "K"));

    let pi_t = transpose(&pi, d, d);
    let s_mat_t = transpose(&s_mat, d, d);
    let mut k_idx = vec![0u8; shape.s * d];
    let mut qjl_signs = vec![0i8; shape.s * d];
    let mut gamma = vec![0.0f32; shape.s];
    k_idx
        .par_chunks_mut(d)
        .zip(qjl_signs.par_chunks_mut(d))
        .zip(gamma.par_iter_mut())
        .zip(true_keys.par_chunks(d))
        .for_each_init(
            || (vec![0.0; d], vec![0.0; d]),
            |(rotated, residual), (((idx, signs), g), key)| {
                // rotated = key · Piᵀ, as a sum of rows of Piᵀ.
                rotated.fill(0.0);
                for (kj, row) in key.iter().zip(pi_t.chunks_exact(d)) {
                    rotated.iter_mut().zip(row).for_each(|(r, p)| *r += kj * p);
                }
                // Nearest level per coordinate; residual = key − codebook[idx] · Pi.
                residual.copy_from_slice(key);
                for ((slot, &y), pi_row) in
                    idx.iter_mut().zip(rotated.iter()).zip(pi.chunks_exact(d))
                {
                    let best = nearest(levels.as_slice(), y);
                    *slot = best as u8;
                    residual
                        .iter_mut()
                        .zip(pi_row)
                        .for_each(|(r, p)| *r -= levels[best] * p);
                }
                *g = residual.iter().map(|r| r * r).sum::<f64>().sqrt() as f32;
                // projected = residual · S_matᵀ; sign(0) = +1.
                rotated.fill(0.0);
                for (rj, row) in residual.iter().zip(s_mat_t.chunks_exact(d)) {
                    rotated.iter_mut().zip(row).for_each(|(p, s)| *p += rj * s);
                }
                signs
                    .iter_mut()
                    .zip(rotated.iter())
                    .for_each(|(s, &p)| *s = if p >= 0.0 { 1 } else { -1 });
            },
        );
    let inputs = Inputs::new(InputParts {
        shape,
        q: to_f32(&q),
        k_idx,
        qjl_signs,
        gamma,
        pi: to_f32(&pi),
        s_mat: to_f32(&s_mat),
        codebook: to_f32(&levels),
    })?;
    Ok(Generated {
        inputs,
        true_keys: Some(true_keys),
    })
}

/// Index of the level nearest to `y` (the lower index on a tie).
fn nearest(levels: &[f64], y: f64) -> usize {
    let mut best = 0;
    for (i, level) in levels.iter().enumerate().skip(1) {
        if (level - y).abs() < (levels[best] - y).abs() {
            best = i;
        }
    }
    best
}

fn uniform(shape: Shape, seed: u64) -> Result<Generated, GenerateError> {
    let (s, d, c) = (shape.s, shape.d, shape.c);
    let mut idx_rng = Rng::new(seed, "K_idx");
    let mut sign_rng = Rng::new(seed, "qjl_signs");
    let mut gamma_rng = Rng::new(seed, "gamma");
    let mut codebook_rng = Rng::new(seed, "codebook");
    let mut codebook: Vec<f64> = (0..c).map(|_| 2.0 * codebook_rng.uniform() - 1.0).collect();
    codebook.sort_by(f64::total_cmp);
    let inputs = Inputs::new(InputParts {
        shape,
        q: to_f32(&Rng::new(seed, "Q").normals(shape.b * d, 1.0)),
        k_idx: (0..s * d).map(|_| idx_rng.below(c as u64) as u8).collect(),
        qjl_signs: (0..s * d)
            .map(|_| if sign_rng.coin() { 1 } else { -1 })
            .collect(),
        gamma: (0..s).map(|_| gamma_rng.uniform() as f32).collect(),
        pi: to_f32(&random_orthogonal(d, &mut Rng::new(seed, "Pi"))),
        s_mat: to_f32(&Rng::new(seed, "S_mat").normals(d * d, 1.0)),
        codebook: to_f32(&codebook),
    })?;
    Ok(Generated {
        inputs,
        true_keys: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shapes() -> impl Strategy<Value = Shape> {
        (1usize..=32, 1usize..=300, 1usize..=256, 2usize..=256)
            .prop_map(|(b, s, d, c)| Shape::new(b, s, d, c))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn challenge_and_uniform_are_valid_and_reproducible(shape in shapes(), seed in any::<u64>()) {
            for generator in [Generator::Challenge, Generator::Uniform] {
                let a = generate(generator, shape, seed).unwrap();
                let b = generate(generator, shape, seed).unwrap();
                prop_assert_eq!(&a.inputs, &b.inputs);
                prop_assert!(a.inputs.validate().is_ok());
            }
        }

        #[test]
        fn turboquant_is_valid_for_d_at_least_2(b in 1usize..=8, s in 1usize..=64, d in 2usize..=256, c in 2usize..=32, seed in any::<u64>()) {
            let g = generate(Generator::Turboquant, Shape::new(b, s, d, c), seed).unwrap();
            prop_assert!(g.inputs.validate().is_ok());
            let keys = g.true_keys.unwrap();
            for key in keys.chunks_exact(d) {
                let norm: f64 = key.iter().map(|x| x * x).sum::<f64>().sqrt();
                prop_assert!((norm - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn the_extremes_of_the_constraint_space_generate() {
        for shape in [
            Shape::new(1, 1, 1, 2),
            Shape::new(32, 2, 256, 256),
            Shape::new(2, 65_536, 4, 256),
        ] {
            for generator in [Generator::Challenge, Generator::Uniform] {
                assert!(generate(generator, shape, 5).is_ok(), "{generator} {shape}");
            }
        }
    }

    #[test]
    fn different_seeds_differ() {
        let shape = Shape::new(2, 8, 8, 4);
        let a = generate(Generator::Challenge, shape, 1).unwrap();
        let b = generate(Generator::Challenge, shape, 2).unwrap();
        assert_ne!(a.inputs, b.inputs);
    }

    #[test]
    fn challenge_residual_is_consistent() {
        // gamma is the norm of key − codebook[idx]·Pi, computed from the stored (f32) Pi and codebook.
        let shape = Shape::new(1, 5, 16, 8);
        let g = generate(Generator::Challenge, shape, 3).unwrap();
        let (inputs, keys) = (&g.inputs, g.true_keys.unwrap());
        for s in 0..shape.s {
            let mut r: Vec<f64> = keys[s * 16..(s + 1) * 16].to_vec();
            for i in 0..16 {
                let level = f64::from(inputs.codebook[usize::from(inputs.k_idx[s * 16 + i])]);
                for (rj, &p) in r.iter_mut().zip(&inputs.pi[i * 16..(i + 1) * 16]) {
                    *rj -= level * f64::from(p);
                }
            }
            let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - f64::from(inputs.gamma[s])).abs() < 1e-6);
        }
    }

    #[test]
    fn worked_example_is_fixed() {
        let g = generate(Generator::WorkedExample, WORKED_EXAMPLE_SHAPE, 99).unwrap();
        assert_eq!(g.inputs.k_idx, vec![0, 3, 1, 2, 3, 0]);
        let err = generate(Generator::WorkedExample, Shape::new(1, 1, 1, 2), 0).unwrap_err();
        assert!(err.to_string().contains("fixed shape"), "{err}");
    }

    #[test]
    fn turboquant_rejects_d1_naming_the_rule() {
        let err = generate(Generator::Turboquant, Shape::new(1, 1, 1, 2), 0).unwrap_err();
        assert!(err.to_string().contains("D ≥ 2"), "{err}");
    }

    #[test]
    fn keeps_true_keys_says_which_generators_do() {
        for generator in Generator::ALL {
            let shape = match generator {
                Generator::WorkedExample => WORKED_EXAMPLE_SHAPE,
                _ => Shape::new(1, 2, 4, 4),
            };
            let generated = generate(generator, shape, 1).unwrap();
            assert_eq!(
                generated.true_keys.is_some(),
                generator.keeps_true_keys(),
                "{generator}"
            );
        }
    }

    /// FNV-1a of every array of `inputs`, floats as their little-endian bytes.
    fn digest(inputs: &Inputs) -> u64 {
        let mut bytes = Vec::new();
        for field in [
            &inputs.q,
            &inputs.gamma,
            &inputs.pi,
            &inputs.s_mat,
            &inputs.codebook,
        ] {
            bytes.extend(field.iter().flat_map(|x| x.to_le_bytes()));
        }
        bytes.extend_from_slice(&inputs.k_idx);
        bytes.extend(inputs.qjl_signs.iter().flat_map(|s| s.to_le_bytes()));
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// The bytes each generator makes for one seed, pinned: the golden cases of `fixtures/cases/` pin the
    /// challenge generator's, and these the others', whose arithmetic differs (the turboquant codebook goes
    /// through `libm`'s `pow`, `acos`, `sin` and `cos`; uniform draws through `Rng::below`, `coin` and `uniform`).
    /// If one changes, every case of that generator changes: only on purpose, with the pins updated.
    #[test]
    fn generated_bytes_are_pinned() {
        for (generator, want) in [
            (Generator::Challenge, 0xc71b_5a5d_581e_19af_u64),
            (Generator::Turboquant, 0x58b0_4dda_f9c4_4407),
            (Generator::Uniform, 0x192c_801e_13fe_db7f),
        ] {
            let inputs = generate(generator, Shape::new(2, 5, 6, 4), 7)
                .unwrap()
                .inputs;
            assert_eq!(digest(&inputs), want, "{generator}");
        }
    }

    #[test]
    fn generator_names_parse() {
        for g in Generator::ALL {
            assert_eq!(g.name().parse::<Generator>().unwrap(), g);
        }
        assert!(
            "nope"
                .parse::<Generator>()
                .unwrap_err()
                .contains("known: challenge")
        );
    }
}
