//! The query side of the reduced form, computed once per solve: `Qp = Q·Piᵀ`, the QJL weights `2·Q·S_matᵀ`, the
//! per-query sum `−Σ_d (Q·S_matᵀ)[b,d]`, and the codebook padded to 256 entries.
//!
//! With `p[s,d] = 1` where `qjl_signs[s,d] = +1` and 0 where it is −1, the QJL sum is
//! `Σ_d Qs[b,d]·sigma[s,d] = Σ_d 2·Qs[b,d]·p[s,d] − Σ_d Qs[b,d]`, so a kernel only adds the weight `2·Qs` where
//! the sign is positive (one masked add, no multiply) and starts from `−Σ_d Qs`.
//!
//! Queries are stored in blocks of the kernel's register height `qb`: block `i` holds queries
//! `b0 = i·qb .. b0 + len` as `[D][len]` (dimension-major), so one block's weights are contiguous. The
//! dimensions appear in the order the path's kernel visits them (`order[k]` is the dimension at position `k`),
//! so a path may lay its decoded tiles out in whatever order its decoder produces cheaply.

use super::aligned::Aligned;
use crate::problem::Inputs;

/// The projected queries of one solve, blocked for the kernel.
pub(crate) struct Projection {
    /// Queries per block (the kernel's register height).
    qb: usize,
    b: usize,
    d: usize,
    /// `Qp`, `[B·D]` in blocked order (see the module docs).
    qp: Aligned<f32>,
    /// `2·Qs`, same order.
    w: Aligned<f32>,
    /// `−Σ_d Qs[b,d]`, `[B]`.
    neg_sum: Aligned<f32>,
    /// The codebook followed by zeros, 256 entries, so any `u8` index is in bounds.
    codebook: Aligned<f32>,
    /// `order[k]`: the dimension at kernel position `k` (a permutation of `0..D`).
    order: Vec<usize>,
}

/// One block of queries: `len` queries starting at `b0`.
pub(crate) struct QueryBlock<'a> {
    /// First query of the block.
    pub(crate) b0: usize,
    /// Queries in the block, `1..=qb`.
    pub(crate) len: usize,
    /// `Qp` of the block, `[D][len]`.
    pub(crate) qp: &'a [f32],
    /// `2·Qs` of the block, `[D][len]`.
    pub(crate) w: &'a [f32],
    /// `−Σ_d Qs[b,d]` of the block, `[len]`.
    pub(crate) neg_sum: &'a [f32],
}

impl Projection {
    /// Buffers for `b` queries in blocks of `qb`, with dimensions in kernel order `order` (a permutation of
    /// `0..D`).
    pub(crate) fn new(b: usize, qb: usize, order: Vec<usize>) -> Self {
        let d = order.len();
        debug_assert!({
            let mut seen = vec![false; d];
            order
                .iter()
                .all(|&k| k < d && !std::mem::replace(&mut seen[k], true))
        });
        Self {
            order,
            qb,
            b,
            d,
            qp: Aligned::zeroed(b * d),
            w: Aligned::zeroed(b * d),
            neg_sum: Aligned::zeroed(b),
            codebook: Aligned::zeroed(256),
        }
    }

    /// The codebook padded with zeros to 256 entries.
    pub(crate) fn codebook(&self) -> &[f32] {
        self.codebook.as_slice()
    }

    /// The query blocks, in order.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = QueryBlock<'_>> {
        (0..self.b).step_by(self.qb).map(move |b0| {
            let len = self.qb.min(self.b - b0);
            let range = b0 * self.d..(b0 + len) * self.d;
            QueryBlock {
                b0,
                len,
                qp: &self.qp.as_slice()[range.clone()],
                w: &self.w.as_slice()[range],
                neg_sum: &self.neg_sum.as_slice()[b0..b0 + len],
            }
        })
    }

    /// Computes every field from `inputs`. Written so that the compiler vectorises the dot products with the
    /// features of the function it is inlined into (each SIMD path calls it from its own `target_feature`
    /// wrapper).
    #[inline(always)]
    pub(crate) fn compute(&mut self, inputs: &Inputs) {
        let (b, d, qb) = (self.b, self.d, self.qb);
        debug_assert_eq!(inputs.shape().b, b);
        debug_assert_eq!(inputs.shape().d, d);
        let cb = self.codebook.as_mut_slice();
        cb[..inputs.codebook.len()].copy_from_slice(&inputs.codebook);
        cb[inputs.codebook.len()..].fill(0.0);
        let (qp, w, neg) = (
            self.qp.as_mut_slice(),
            self.w.as_mut_slice(),
            self.neg_sum.as_mut_slice(),
        );
        for b0 in (0..b).step_by(qb) {
            let len = qb.min(b - b0);
            let (qp_blk, w_blk) = (&mut qp[b0 * d..], &mut w[b0 * d..]);
            for t in 0..len {
                let q = &inputs.q[(b0 + t) * d..(b0 + t + 1) * d];
                let mut sum = 0.0f32;
                for (k, &dim) in self.order.iter().enumerate() {
                    let qs = dot(q, &inputs.s_mat[dim * d..(dim + 1) * d]);
                    qp_blk[k * len + t] = dot(q, &inputs.pi[dim * d..(dim + 1) * d]);
                    w_blk[k * len + t] = 2.0 * qs;
                    sum += qs;
                }
                neg[b0 + t] = -sum;
            }
        }
    }
}

/// `Σ a[i]·b[i]` with 16 independent partial sums, a shape the compiler turns into vector code.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let (a_body, a_tail) = a.split_at(a.len() / LANES * LANES);
    let (b_body, b_tail) = b.split_at(a_body.len());
    for (x, y) in a_body.chunks_exact(LANES).zip(b_body.chunks_exact(LANES)) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in a_tail.iter().zip(b_tail) {
        tail += x * y;
    }
    // Pairwise, so the reduction stays balanced.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0] + tail
}
