//! The f64 oracle: the literal formula, the source of truth every variant is checked against.
//!
//! Each key is dequantized in f64 (`K~_s = codebook[K_idx_s]·Pi + sqrt(pi/2)/D·gamma_s·sigma_s·S_mat`) and
//! dotted with every query. It deliberately does not use the reduced form, so a mistake in the algebra of a
//! fast variant cannot hide behind the same mistake here. Keys are independent, so they are spread over threads;
//! the arithmetic of each key is fixed, so the result does not depend on the thread count.
//!
//! [`Dequantizer`] and [`scores_of_keys`] expose the two steps, so that the gate can score new queries against
//! keys it dequantized once: the result is bit for bit what [`scores`] gives for the same arrays.

use rayon::prelude::*;
use solutions::Inputs;

use super::linalg::transpose;

/// Keys per parallel task: large enough to amortise scheduling, small enough to balance two cores.
const KEYS_PER_TASK: usize = 64;

/// The exact scores `[B, S]` row-major, in f64: each key dequantized whole, then dotted with each query.
pub fn scores(inputs: &Inputs) -> Vec<f64> {
    let b_count = inputs.shape().b;
    let queries = Queries::new(&inputs.q, inputs.shape().d);
    let by_key = per_key(inputs, b_count, |mse_key, qjl_key, out| {
        let key: Vec<f64> = mse_key.iter().zip(qjl_key).map(|(m, j)| m + j).collect();
        queries.dot_all(&key, out);
    });
    transpose(&by_key, inputs.shape().s, b_count)
}

/// Every key of `inputs` dequantized in f64, `[S, D]` row-major, each element formed as [`scores`] forms it.
pub fn keys(inputs: &Inputs) -> Vec<f64> {
    per_key(inputs, inputs.shape().d, |mse_key, qjl_key, out| {
        for ((o, m), j) in out.iter_mut().zip(mse_key).zip(qjl_key) {
            *o = m + j;
        }
    })
}

/// The scores `[B, S]` row-major of the queries `q` (`[B, D]`, f32) against `s` dequantized keys, key `k` being
/// `key(k)` (`D` values, as [`keys`] or [`Dequantizer::key`] give them). For the arrays the keys came from,
/// this equals [`scores`] bit for bit.
pub fn scores_of_keys<'k, F>(q: &[f32], d: usize, s: usize, key: F) -> Vec<f64>
where
    F: Fn(usize) -> &'k [f64] + Sync,
{
    let queries = Queries::new(q, d);
    let b_count = queries.rows;
    let mut by_key = vec![0.0; s * b_count];
    by_key
        .par_chunks_mut(KEYS_PER_TASK * b_count)
        .enumerate()
        .for_each(|(task, block)| {
            for (local, out) in block.chunks_exact_mut(b_count).enumerate() {
                queries.dot_all(key(task * KEYS_PER_TASK + local), out);
            }
        });
    transpose(&by_key, s, b_count)
}

/// Both parts of every score, `[B, S]` row-major, in f64: the MSE part `Q_b · codebook[K_idx_s]·Pi` and
/// the QJL correction `Q_b · coef·gamma_s·sigma_s·S_mat`. Their sum is [`scores`] up to rounding.
#[derive(Debug, Clone, PartialEq)]
pub struct Terms {
    /// The MSE-quantizer estimate alone.
    pub mse: Vec<f64>,
    /// The QJL correction.
    pub qjl: Vec<f64>,
}

/// Both parts of every score; see [`Terms`].
pub fn terms(inputs: &Inputs) -> Terms {
    let (b_count, s_count) = (inputs.shape().b, inputs.shape().s);
    let queries = Queries::new(&inputs.q, inputs.shape().d);
    let by_key = per_key(inputs, 2 * b_count, |mse_key, qjl_key, out| {
        let (mse_out, qjl_out) = out.split_at_mut(b_count);
        queries.dot_all(mse_key, mse_out);
        queries.dot_all(qjl_key, qjl_out);
    });
    let mut mse = Vec::with_capacity(s_count * b_count);
    let mut qjl = Vec::with_capacity(s_count * b_count);
    for row in by_key.chunks_exact(2 * b_count) {
        mse.extend_from_slice(&row[..b_count]);
        qjl.extend_from_slice(&row[b_count..]);
    }
    Terms {
        mse: transpose(&mse, s_count, b_count),
        qjl: transpose(&qjl, s_count, b_count),
    }
}

/// The problem's matrices widened to f64 once, to dequantize keys with.
#[derive(Debug, Clone)]
pub struct Dequantizer {
    d: usize,
    coef: f64,
    pi: Vec<f64>,
    s_mat: Vec<f64>,
    codebook: Vec<f64>,
}

impl Dequantizer {
    /// The dequantizer of `inputs`' `Pi`, `S_mat` and codebook.
    pub fn new(inputs: &Inputs) -> Self {
        let widen = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
        Self {
            d: inputs.shape().d,
            coef: inputs.shape().qjl_coef(),
            pi: widen(&inputs.pi),
            s_mat: widen(&inputs.s_mat),
            codebook: widen(&inputs.codebook),
        }
    }

    /// The MSE part `codebook[idx]·Pi` and the QJL part `coef·gamma·sigma·S_mat` of one key (`idx` and `signs`
    /// of `D` values), into `mse` and `qjl`.
    fn parts_into(&self, idx: &[u8], signs: &[i8], gamma: f32, mse: &mut [f64], qjl: &mut [f64]) {
        let d = self.d;
        mse.fill(0.0);
        qjl.fill(0.0);
        let scale = self.coef * f64::from(gamma);
        for i in 0..d {
            let level = self.codebook[usize::from(idx[i])];
            let sigma = f64::from(signs[i]);
            let pi_row = &self.pi[i * d..(i + 1) * d];
            let s_row = &self.s_mat[i * d..(i + 1) * d];
            mse.iter_mut()
                .zip(pi_row)
                .for_each(|(k, p)| *k += level * p);
            qjl.iter_mut()
                .zip(s_row)
                .for_each(|(k, m)| *k += scale * sigma * m);
        }
    }

    /// One key dequantized (`D` values), formed as [`keys`] forms it: `idx` indexes this dequantizer's codebook.
    pub fn key(&self, idx: &[u8], signs: &[i8], gamma: f32) -> Vec<f64> {
        let (mut mse, mut qjl) = (vec![0.0; self.d], vec![0.0; self.d]);
        self.parts_into(idx, signs, gamma, &mut mse, &mut qjl);
        mse.iter().zip(&qjl).map(|(m, j)| m + j).collect()
    }
}

/// Queries per group that [`Queries::dot_all`] sums together: the most the problem allows.
const GROUP: usize = solutions::problem::B_RANGE.1;

/// Queries widened to f64 and stored dimension-major in groups of [`GROUP`] (the last padded with zeros), so
/// that one key is dotted with all of them at once.
struct Queries {
    rows: usize,
    /// Per group, `[D]` columns of the group's queries.
    groups: Vec<Vec<[f64; GROUP]>>,
    /// The loop compiled for the widest vectors this machine has.
    dot_group: fn(&[[f64; GROUP]], &[f64]) -> [f64; GROUP],
}

impl Queries {
    fn new(q: &[f32], d: usize) -> Self {
        let rows = q.len() / d.max(1);
        let groups = q
            .chunks(GROUP * d)
            .map(|group| {
                (0..d)
                    .map(|e| {
                        let mut column = [0.0; GROUP];
                        for (slot, row) in column.iter_mut().zip(group.chunks_exact(d)) {
                            *slot = f64::from(row[e]);
                        }
                        column
                    })
                    .collect()
            })
            .collect();
        Self {
            rows,
            groups,
            dot_group: dot_group_dispatch(),
        }
    }

    /// `out[b] = Σ_e Q[b, e]·key[e]`, each sum formed in the order of `e` from 0.0 by a multiply and an add
    /// (never fused), for every query at once: the sums are independent, so the loop runs at the machine's
    /// throughput, and the vector width does not change any sum's rounding.
    fn dot_all(&self, key: &[f64], out: &mut [f64]) {
        for (group, out) in self.groups.iter().zip(out.chunks_mut(GROUP)) {
            let sums = (self.dot_group)(group, key);
            out.copy_from_slice(&sums[..out.len()]);
        }
    }
}

#[inline(always)]
fn dot_group(columns: &[[f64; GROUP]], key: &[f64]) -> [f64; GROUP] {
    let mut sums = [0.0; GROUP];
    for (column, &k) in columns.iter().zip(key) {
        for (sum, q) in sums.iter_mut().zip(column) {
            *sum += q * k;
        }
    }
    sums
}

fn dot_group_portable(columns: &[[f64; GROUP]], key: &[f64]) -> [f64; GROUP] {
    dot_group(columns, key)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn dot_group_avx512(columns: &[[f64; GROUP]], key: &[f64]) -> [f64; GROUP] {
    dot_group(columns, key)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_group_avx2(columns: &[[f64; GROUP]], key: &[f64]) -> [f64; GROUP] {
    dot_group(columns, key)
}

fn dot_group_dispatch() -> fn(&[[f64; GROUP]], &[f64]) -> [f64; GROUP] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the machine has AVX-512F, checked just above.
            return |c, k| unsafe { dot_group_avx512(c, k) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the machine has AVX2, checked just above.
            return |c, k| unsafe { dot_group_avx2(c, k) };
        }
    }
    dot_group_portable
}

/// Dequantizes every key in f64 (its MSE part and its QJL part separately) and lets `emit(mse_key, qjl_key,
/// out)` fill that key's `width` outputs. Returns `[S, width]`, key-major.
fn per_key<F>(inputs: &Inputs, width: usize, emit: F) -> Vec<f64>
where
    F: FnMut(&[f64], &[f64], &mut [f64]) + Clone + Send + Sync,
{
    let d = inputs.shape().d;
    let dequantizer = Dequantizer::new(inputs);
    let mut by_key = vec![0.0; inputs.shape().s * width];
    by_key
        .par_chunks_mut(KEYS_PER_TASK * width)
        .enumerate()
        .for_each_init(
            || (vec![0.0; d], vec![0.0; d], emit.clone()),
            |(mse_key, qjl_key, emit), (task, block)| {
                for (local, out) in block.chunks_exact_mut(width).enumerate() {
                    let s = task * KEYS_PER_TASK + local;
                    let row = s * d..(s + 1) * d;
                    dequantizer.parts_into(
                        &inputs.k_idx[row.clone()],
                        &inputs.qjl_signs[row],
                        inputs.gamma[s],
                        mse_key,
                        qjl_key,
                    );
                    emit(mse_key, qjl_key, out);
                }
            },
        );
    by_key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::generate::{
        Generator, WORKED_EXAMPLE_SCORES, WORKED_EXAMPLE_SHAPE, generate,
    };
    use solutions::Shape;

    #[test]
    fn worked_example_is_exact() {
        let g = generate(Generator::WorkedExample, WORKED_EXAMPLE_SHAPE, 0).unwrap();
        assert_eq!(scores(&g.inputs), WORKED_EXAMPLE_SCORES.to_vec());
    }

    #[test]
    fn matches_a_direct_evaluation_with_the_qjl_term() {
        // Independent check of one score: build K~ element by element with index arithmetic spelled out.
        let shape = Shape::new(3, 70, 9, 5);
        let g = generate(Generator::Uniform, shape, 11).unwrap();
        let x = &g.inputs;
        let got = scores(x);
        let coef = (std::f64::consts::PI / 2.0).sqrt() / 9.0;
        for (b, s) in [(0, 0), (2, 69), (1, 64), (1, 33)] {
            let mut want = 0.0;
            for j in 0..9 {
                let mut k = 0.0;
                for i in 0..9 {
                    k += f64::from(x.codebook[x.k_idx[s * 9 + i] as usize])
                        * f64::from(x.pi[i * 9 + j]);
                    k += coef
                        * f64::from(x.gamma[s])
                        * f64::from(x.qjl_signs[s * 9 + i])
                        * f64::from(x.s_mat[i * 9 + j]);
                }
                want += f64::from(x.q[b * 9 + j]) * k;
            }
            assert!(
                (got[b * 70 + s] - want).abs() < 1e-12,
                "({b},{s}): {} vs {want}",
                got[b * 70 + s]
            );
        }
    }

    /// The loop compiled for wide vectors rounds every sum exactly as the portable one does (no fused
    /// multiply-adds, no reordering), so the oracle's scores do not depend on the machine.
    #[test]
    fn every_compiled_dot_rounds_alike() {
        let mut rng = crate::challenge::rng::Rng::new(5, "dots");
        let columns: Vec<[f64; GROUP]> = (0..300)
            .map(|_| std::array::from_fn(|_| rng.normal() * 1e3))
            .collect();
        let key: Vec<f64> = (0..300).map(|_| rng.normal() / 7.0).collect();
        let want = dot_group_portable(&columns, &key);
        assert_eq!((dot_group_dispatch())(&columns, &key), want);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                assert_eq!(unsafe { dot_group_avx2(&columns, &key) }, want);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                assert_eq!(unsafe { dot_group_avx512(&columns, &key) }, want);
            }
        }
        let sequential: f64 = (0..300).fold(0.0, |sum, e| sum + columns[e][3] * key[e]);
        assert_eq!(want[3].to_bits(), sequential.to_bits());
    }

    #[test]
    fn terms_split_the_score() {
        let g = generate(Generator::Challenge, Shape::new(2, 10, 8, 4), 1).unwrap();
        let t = terms(&g.inputs);
        let mut zero_gamma = g.inputs.clone().into_parts();
        zero_gamma.gamma.fill(0.0);
        let mse_only = scores(&solutions::Inputs::new(zero_gamma).unwrap());
        assert_eq!(t.mse, mse_only);
        let full = scores(&g.inputs);
        for ((m, j), f) in t.mse.iter().zip(&t.qjl).zip(&full) {
            assert!((m + j - f).abs() < 1e-12);
        }
        assert!(t.qjl.iter().any(|&v| v != 0.0));
    }
}
