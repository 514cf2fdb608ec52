//! The f64 oracle: the literal formula, the source of truth every variant is checked against.
//!
//! Each key is dequantized in f64 (`K~_s = codebook[K_idx_s]·Pi + sqrt(pi/2)/D·gamma_s·sigma_s·S_mat`) and
//! dotted with every query. It deliberately does not use the reduced form, so a mistake in the algebra of a
//! fast variant cannot hide behind the same mistake here. Keys are independent, so they are spread over threads;
//! the arithmetic of each key is fixed, so the result does not depend on the thread count.

use rayon::prelude::*;
use solutions::Inputs;

use super::linalg::transpose;

/// Keys per parallel task: large enough to amortise scheduling, small enough to balance two cores.
const KEYS_PER_TASK: usize = 64;

/// The exact scores `[B, S]` row-major, in f64: each key dequantized whole, then dotted with each query.
pub fn scores(inputs: &Inputs) -> Vec<f64> {
    let b_count = inputs.shape().b;
    let by_key = per_key(inputs, b_count, |q, mse_key, qjl_key, out| {
        let key: Vec<f64> = mse_key.iter().zip(qjl_key).map(|(m, j)| m + j).collect();
        for (slot, q_row) in out.iter_mut().zip(q.chunks_exact(key.len())) {
            *slot = dot(q_row, &key);
        }
    });
    transpose(&by_key, inputs.shape().s, b_count)
}

/// The two parts of every score, `[B, S]` row-major, in f64: the MSE part `Q_b · codebook[K_idx_s]·Pi` and
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
    let by_key = per_key(inputs, 2 * b_count, |q, mse_key, qjl_key, out| {
        let (mse_out, qjl_out) = out.split_at_mut(b_count);
        for ((m, j), q_row) in mse_out
            .iter_mut()
            .zip(qjl_out)
            .zip(q.chunks_exact(mse_key.len()))
        {
            *m = dot(q_row, mse_key);
            *j = dot(q_row, qjl_key);
        }
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

/// Dequantizes every key in f64 (its MSE part `codebook[K_idx_s]·Pi` and its QJL part
/// `coef·gamma_s·sigma_s·S_mat` separately) and lets `emit(Q, mse_key, qjl_key, out)` fill that key's `width`
/// outputs. Returns `[S, width]`, key-major.
fn per_key<F>(inputs: &Inputs, width: usize, emit: F) -> Vec<f64>
where
    F: FnMut(&[f64], &[f64], &[f64], &mut [f64]) + Clone + Send + Sync,
{
    let shape = inputs.shape();
    let d = shape.d;
    let coef = shape.qjl_coef();
    let widen = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
    let (pi, s_mat, codebook, q) = (
        widen(&inputs.pi),
        widen(&inputs.s_mat),
        widen(&inputs.codebook),
        widen(&inputs.q),
    );

    let mut by_key = vec![0.0; shape.s * width];
    by_key
        .par_chunks_mut(KEYS_PER_TASK * width)
        .enumerate()
        .for_each_init(
            || (vec![0.0; d], vec![0.0; d], emit.clone()),
            |(mse_key, qjl_key, emit), (task, block)| {
                for (local, out) in block.chunks_exact_mut(width).enumerate() {
                    let s = task * KEYS_PER_TASK + local;
                    mse_key.fill(0.0);
                    qjl_key.fill(0.0);
                    let scale = coef * f64::from(inputs.gamma[s]);
                    for i in 0..d {
                        let level = codebook[usize::from(inputs.k_idx[s * d + i])];
                        let sigma = f64::from(inputs.qjl_signs[s * d + i]);
                        let pi_row = &pi[i * d..(i + 1) * d];
                        let s_row = &s_mat[i * d..(i + 1) * d];
                        mse_key
                            .iter_mut()
                            .zip(pi_row)
                            .for_each(|(k, p)| *k += level * p);
                        qjl_key
                            .iter_mut()
                            .zip(s_row)
                            .for_each(|(k, m)| *k += scale * sigma * m);
                    }
                    emit(&q, mse_key, qjl_key, out);
                }
            },
        );
    by_key
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
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
