//! Every path of `cpu-tiled` that this CPU supports, against an f64 evaluation of the literal formula, over the
//! whole shape space.

use proptest::prelude::*;

use super::*;
use crate::problem::{InputParts, Shape};
use crate::{cpu_naive, known_bad::Mistake};

/// The bound every path must meet: relative Frobenius error against the f64 reference.
const REL_FROBENIUS: f64 = 1e-5;

/// A small deterministic generator (SplitMix64), so a failing case is reproduced from its seed.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A dense, non-symmetric orthogonal matrix: the product of two Householder reflections, in f64.
fn rotation(d: usize, rng: &mut Mix) -> Vec<f32> {
    let reflect = |rng: &mut Mix| {
        let v: Vec<f64> = (0..d).map(|_| rng.unit() + 0.1).collect();
        let norm2: f64 = v.iter().map(|x| x * x).sum();
        let mut h = vec![0.0f64; d * d];
        for i in 0..d {
            for j in 0..d {
                h[i * d + j] = f64::from(u8::from(i == j)) - 2.0 * v[i] * v[j] / norm2;
            }
        }
        h
    };
    let (a, b) = (reflect(rng), reflect(rng));
    let mut out = vec![0.0f32; d * d];
    for i in 0..d {
        for j in 0..d {
            out[i * d + j] = (0..d).map(|k| a[i * d + k] * b[k * d + j]).sum::<f64>() as f32;
        }
    }
    out
}

/// Random valid inputs of `shape`: every index in `[0, C)` (so indices ≥ 128 appear when C > 128), signs ±1.
fn random_inputs(shape: Shape, seed: u64) -> Inputs {
    let mut rng = Mix(seed);
    let (b, s, d, c) = (shape.b, shape.s, shape.d, shape.c);
    let parts = InputParts {
        shape,
        q: (0..b * d).map(|_| rng.unit() as f32).collect(),
        k_idx: (0..s * d).map(|_| rng.below(c) as u8).collect(),
        qjl_signs: (0..s * d)
            .map(|_| if rng.next() & 1 == 0 { 1 } else { -1 })
            .collect(),
        gamma: (0..s).map(|_| (rng.unit() + 1.0) as f32).collect(),
        pi: rotation(d, &mut rng),
        s_mat: (0..d * d).map(|_| rng.unit() as f32).collect(),
        codebook: (0..c).map(|_| rng.unit() as f32).collect(),
    };
    Inputs::new(parts).expect("the generator makes valid inputs")
}

/// The literal formula in f64: dequantize each key, then dot.
fn reference(inputs: &Inputs) -> Vec<f64> {
    let shape = inputs.shape();
    let (b, s, d) = (shape.b, shape.s, shape.d);
    let coef = shape.qjl_coef();
    let mut out = vec![0.0f64; b * s];
    let mut key = vec![0.0f64; d];
    for si in 0..s {
        key.fill(0.0);
        let scale = coef * f64::from(inputs.gamma[si]);
        for i in 0..d {
            let level = f64::from(inputs.codebook[usize::from(inputs.k_idx[si * d + i])]);
            let sign = f64::from(inputs.qjl_signs[si * d + i]);
            let (pi_row, s_row) = (
                &inputs.pi[i * d..(i + 1) * d],
                &inputs.s_mat[i * d..(i + 1) * d],
            );
            for ((k, &p), &m) in key.iter_mut().zip(pi_row).zip(s_row) {
                *k += level * f64::from(p) + scale * sign * f64::from(m);
            }
        }
        for bi in 0..b {
            out[bi * s + si] = (0..d)
                .map(|j| f64::from(inputs.q[bi * d + j]) * key[j])
                .sum();
        }
    }
    out
}

fn rel_frobenius(got: &[f32], want: &[f64]) -> f64 {
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        err += (f64::from(g) - w).powi(2);
        norm += w * w;
    }
    (err / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// Runs `solution` twice on `inputs` (the second time after re-poisoning, so nothing depends on a previous
/// call's output) and returns the second output.
fn solve(solution: &dyn Solution, inputs: &Inputs) -> Vec<f32> {
    let mut prepared = solution.prepare(inputs).expect("prepare");
    prepared.run().expect("first run");
    prepared.poison_output().expect("poison");
    prepared.run().expect("second run");
    let mut out = vec![0.0f32; inputs.shape().output_len()];
    prepared.read_output(&mut out).expect("read");
    out
}

/// Checks one path on one case: every element written and finite, error within the bound.
fn check_path(isa: Isa, inputs: &Inputs) -> Result<(), String> {
    let out = solve(&CpuTiled::with_isa(isa), inputs);
    if let Some(i) = out.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "{isa} on {}: element {i} is {}",
            inputs.shape(),
            out[i]
        ));
    }
    let err = rel_frobenius(&out, &reference(inputs));
    if err > REL_FROBENIUS {
        return Err(format!(
            "{isa} on {}: relative Frobenius error {err:.3e}",
            inputs.shape()
        ));
    }
    Ok(())
}

fn supported() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
}

/// Shapes at the corners the paths handle specially: D = 1, D not a multiple of 16 or 64, D = 256, S not a
/// multiple of any tile, S smaller than a vector, C = 256 (indices ≥ 128), C = 17 and 33 (table size
/// boundaries), every query-block remainder.
const EDGE_SHAPES: [(usize, usize, usize, usize); 16] = [
    (1, 1, 1, 2),
    (2, 3, 4, 4),
    (3, 17, 1, 16),
    (4, 47, 15, 16),
    (5, 49, 17, 16),
    (6, 97, 63, 8),
    (7, 95, 65, 16),
    (8, 33, 256, 16),
    (9, 300, 64, 256),
    (13, 48, 100, 17),
    (16, 129, 33, 32),
    (1, 2048, 128, 16),
    (31, 70, 37, 33),
    (32, 333, 128, 16),
    (32, 96, 256, 256),
    (17, 1000, 50, 2),
];

#[test]
fn every_path_meets_the_bound_on_edge_shapes() {
    for isa in supported() {
        for (i, &(b, s, d, c)) in EDGE_SHAPES.iter().enumerate() {
            let inputs = random_inputs(Shape::new(b, s, d, c), 1000 + i as u64);
            check_path(isa, &inputs).unwrap();
        }
    }
}

#[test]
fn high_indices_are_read_as_unsigned() {
    // Every index ≥ 128 and a codebook whose upper half differs from the lower half's magnitudes: reading
    // an index as signed would pick a wrong level.
    let shape = Shape::new(4, 200, 64, 256);
    let mut parts = random_inputs(shape, 7).into_parts();
    parts.k_idx.iter_mut().for_each(|i| *i |= 0x80);
    parts.codebook = (0..256).map(|i| i as f32 / 64.0 - 2.0).collect();
    let inputs = Inputs::new(parts).unwrap();
    for isa in supported() {
        check_path(isa, &inputs).unwrap();
    }
    // And the signed-index mistake is far outside the bound on these inputs, so the check above has teeth.
    let bad = solve(&crate::known_bad::KnownBad(Mistake::SignedIndices), &inputs);
    assert!(rel_frobenius(&bad, &reference(&inputs)) > 1e-2);
}

#[test]
fn agrees_with_cpu_naive_on_the_worked_example() {
    let pi_identity = vec![1.0, 0.0, 0.0, 1.0];
    let parts = InputParts {
        shape: Shape::new(2, 3, 2, 4),
        q: pi_identity.clone(),
        k_idx: vec![0, 3, 1, 2, 3, 0],
        qjl_signs: vec![1; 6],
        gamma: vec![0.0; 3],
        pi: pi_identity.clone(),
        s_mat: pi_identity,
        codebook: vec![-0.75, -0.25, 0.25, 0.75],
    };
    let inputs = Inputs::new(parts).unwrap();
    let mut naive = vec![0.0f32; 6];
    cpu_naive::solve(&inputs, &mut [0.0; 2], &mut naive);
    assert_eq!(naive, [-0.75, -0.25, 0.75, 0.75, 0.25, -0.75]);
    for isa in supported() {
        assert_eq!(solve(&CpuTiled::with_isa(isa), &inputs), naive, "{isa}");
    }
}

#[test]
fn many_chunks_cover_every_column_once() {
    // Large enough for several rayon chunks, with a ragged last chunk and a ragged last tile.
    let inputs = random_inputs(Shape::new(5, 40_001, 24, 16), 99);
    for isa in supported() {
        check_path(isa, &inputs).unwrap();
    }
}

#[test]
fn best_path_is_listed_and_unsupported_paths_say_why() {
    let best = CpuTiled::new();
    assert_eq!(best.name(), "cpu-tiled");
    assert_eq!(best.isa(), Isa::best());
    assert!(best.availability().is_available());
    for isa in Isa::ALL {
        let forced = CpuTiled::with_isa(isa);
        assert_eq!(forced.name(), format!("cpu-tiled-{isa}"));
        match forced.availability() {
            Availability::Available => assert!(isa.is_supported()),
            Availability::Unavailable(reason) => {
                assert!(!isa.is_supported());
                assert!(reason.contains("lacks"), "{reason}");
                let inputs = random_inputs(Shape::new(1, 1, 1, 2), 0);
                assert!(matches!(
                    forced.prepare(&inputs),
                    Err(SolveError::Unavailable { .. })
                ));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn this_machine_tests_its_x86_paths() {
    // The scalar path always runs; on a machine with AVX-512 the AVX2 path must run too, so no shipped x86 path
    // goes untested here.
    assert!(Isa::Scalar.is_supported());
    if Isa::Avx512.is_supported() {
        assert!(Isa::Avx2.is_supported());
    }
}

fn shape_strategy() -> impl Strategy<Value = Shape> {
    // D and S are drawn from small and full ranges alike; S stays moderate to keep the f64 reference quick.
    (
        1usize..=32,
        prop_oneof![1usize..=64, 1usize..=700],
        prop_oneof![1usize..=20, 1usize..=256],
        prop_oneof![2usize..=16, 2usize..=256],
    )
        .prop_map(|(b, s, d, c)| Shape::new(b, s, d, c))
}

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    }
}

/// A property test of one path over the shape space; on a CPU that lacks the path it says so (visible with
/// `--nocapture`) instead of running cases that would check nothing. libtest has no way to report it as ignored,
/// so `this_machine_tests_its_x86_paths` states which paths a machine must run.
macro_rules! path_proptest {
    ($name:ident, $isa:expr) => {
        #[test]
        fn $name() {
            let isa = $isa;
            if !isa.is_supported() {
                println!(
                    "skipped: {isa}: {}; its property test did not run",
                    isa.missing()
                );
                return;
            }
            let mut runner = proptest::test_runner::TestRunner::new(proptest_config());
            let result = runner.run(&(shape_strategy(), any::<u64>()), |(shape, seed)| {
                let inputs = random_inputs(shape, seed);
                check_path(isa, &inputs).map_err(TestCaseError::fail)
            });
            if let Err(e) = result {
                panic!("{isa}: {e}");
            }
        }
    };
}

path_proptest!(avx512_matches_reference_on_any_shape, Isa::Avx512);
path_proptest!(avx2_matches_reference_on_any_shape, Isa::Avx2);
path_proptest!(neon_matches_reference_on_any_shape, Isa::Neon);
path_proptest!(scalar_matches_reference_on_any_shape, Isa::Scalar);

/// The parts probe runs every lookup mode (C ≤ 16, ≤ 32, and the gather) on odd and even D, reports the kernel's
/// instruction counts for each (checked against counts worked out by hand), and builds its model of a solve from
/// its parts; it is `None` exactly where the
/// AVX-512 path cannot run.
#[test]
fn parts_probe_counts_and_models() {
    let span = std::time::Duration::from_millis(2);
    if !Isa::Avx512.is_supported() {
        assert_eq!(probe(Shape::new(30, 1000, 128, 16), span), None);
        println!("skipped: this CPU lacks AVX-512F/BW; only the probe's refusal was checked");
        return;
    }
    // (D, C, 16-lane FMAs and lookups per call of 4 queries × 48 keys): one FMA per query, dimension and 16 keys;
    // one lookup per query, group of 4 dimensions and 16 keys. S = 1000 gives 21 tiles of 48 keys, B = 30 gives 8
    // blocks of 4 queries.
    for (d, c, fmas, lookups) in [
        (1, 2, 12, 12),
        (50, 16, 600, 156),
        (128, 32, 1536, 384),
        (256, 256, 3072, 768),
    ] {
        let shape = Shape::new(30, 1000, d, c);
        let p = probe(shape, span).expect("a probe on a CPU with AVX-512F/BW");
        assert_eq!(p.shape, shape);
        assert!(
            p.decode_seconds > 0.0 && p.decode_seconds.is_finite(),
            "{p:?}"
        );
        assert!(
            p.kernel_seconds > 0.0 && p.kernel_seconds.is_finite(),
            "{p:?}"
        );
        assert_eq!((p.tile, p.queries), (48, 4), "{p:?}");
        assert_eq!((p.fmas, p.lookups), (fmas, lookups), "{p:?}");
        assert_eq!((p.tiles(), p.blocks()), (21, 8), "{p:?}");
        let one = 21.0 * (p.decode_seconds + 8.0 * p.kernel_seconds);
        assert!((p.model_seconds(1) - one).abs() <= 1e-12 * one, "{p:?}");
        assert!(
            (p.model_seconds(4) - one / 4.0).abs() <= 1e-12 * one,
            "{p:?}"
        );
    }
}
