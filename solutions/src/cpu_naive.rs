//! `cpu-naive`: the literal formula in f32, written plainly: dequantize each key, then take its dot product
//! with every query. Single-threaded; the baseline every faster variant is compared with.

use crate::problem::Inputs;
use crate::solution::{Availability, Backend, HostPrepared, Prepared, Solution, SolveError};

/// The literal formula, one key at a time, in f32.
pub struct CpuNaive;

impl Solution for CpuNaive {
    fn name(&self) -> &str {
        "cpu-naive"
    }

    fn description(&self) -> &str {
        "literal formula in f32: dequantize each key (codebook·Pi + QJL term), then dot with each query; 1 thread"
    }

    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn availability(&self) -> Availability {
        Availability::Available
    }

    fn prepare<'a>(&self, inputs: &'a Inputs) -> Result<Box<dyn Prepared + 'a>, SolveError> {
        let mut key = vec![0.0f32; inputs.shape().d];
        Ok(Box::new(HostPrepared::new(
            self.name(),
            inputs,
            move |inputs: &Inputs, out: &mut [f32]| solve(inputs, &mut key, out),
        )))
    }
}

/// Writes `scores [B, S]` into `out`, using `key` (length D) as scratch for one dequantized key.
pub fn solve(inputs: &Inputs, key: &mut [f32], out: &mut [f32]) {
    let shape = inputs.shape();
    let (b_count, d) = (shape.b, shape.d);
    let coef = shape.qjl_coef() as f32;
    for s in 0..shape.s {
        // K~_s = codebook[K_idx_s] · Pi + coef · gamma_s · sigma_s · S_mat
        key.fill(0.0);
        let qjl_scale = coef * inputs.gamma[s];
        for i in 0..d {
            let level = inputs.codebook[usize::from(inputs.k_idx[s * d + i])];
            let sign = f32::from(inputs.qjl_signs[s * d + i]);
            let pi_row = &inputs.pi[i * d..(i + 1) * d];
            let s_row = &inputs.s_mat[i * d..(i + 1) * d];
            for j in 0..d {
                key[j] += level * pi_row[j] + qjl_scale * sign * s_row[j];
            }
        }
        for b in 0..b_count {
            let q_row = &inputs.q[b * d..(b + 1) * d];
            let mut dot = 0.0f32;
            for j in 0..d {
                dot += q_row[j] * key[j];
            }
            out[b * shape.s + s] = dot;
        }
    }
}
