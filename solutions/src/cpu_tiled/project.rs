//! The query side of the reduced form, computed once per solve: `Qp = Q·Piᵀ`, the QJL weights `2·Q·S_matᵀ`, the
//! per-query sum `−Σ_d (Q·S_matᵀ)[b,d]`, and the codebook padded to 256 entries.
//!
//! With `p[s,d] = 1` where `qjl_signs[s,d] = +1` and 0 where it is −1, the QJL sum is
//! `Σ_d Qs[b,d]·sigma[s,d] = Σ_d 2·Qs[b,d]·p[s,d] − Σ_d Qs[b,d]`, so a kernel only sums the weight `2·Qs` where
//! the sign is positive and starts from `−Σ_d Qs`.
//!
//! For kernels that add the QJL term by table lookup, it also builds, per query and per group of 4 consecutive
//! dimensions `4g .. 4g+4`, the 16 sums `T[g][n] = Σ_{i : bit i of n} 2·Qs[b, 4g+i]` (dimensions past D
//! weigh 0). With `n` the 4 sign bits of one key at those dimensions, `T[g][n]` is that group's share of
//! `Σ_d 2·Qs[b,d]·p[s,d]`: one lookup replaces four multiply-adds, the way product-quantization "fast scan"
//! search does it, but in f32.
//!
//! Queries are stored in blocks of the kernel's register height `qb`: block `i` holds queries
//! `b0 = i·qb .. b0 + len` as `[D][len]` (dimension-major), so one block's weights are contiguous.

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
    /// `Qᵀ`, `[D][MAX_B]`, zero past B (scratch).
    qt: Aligned<f32>,
    /// Sign tables `[B·G·16]` in blocked order (block `i`: `[G][len][16]`), when the kernel uses them.
    tables: Option<Aligned<f32>>,
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
    /// Sign tables of the block, `[G][len][16]` (empty when the projection builds none).
    // Only the AVX-512 kernel reads them.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) tables: &'a [f32],
}

/// The most queries a case can have (the challenge's bound on B).
const MAX_B: usize = crate::problem::B_RANGE.1;

/// Kernel positions per sign-table group.
pub(crate) const GROUP: usize = 4;

/// Entries per sign table (every combination of [`GROUP`] sign bits).
pub(crate) const TABLE: usize = 1 << GROUP;

impl Projection {
    /// Buffers for `b` queries of dimension `d` in blocks of `qb`; with `tables`, room for the sign tables too.
    pub(crate) fn new(b: usize, qb: usize, d: usize, tables: bool) -> Self {
        let groups = d.div_ceil(GROUP);
        Self {
            qb,
            b,
            d,
            qp: Aligned::zeroed(b * d),
            w: Aligned::zeroed(b * d),
            neg_sum: Aligned::zeroed(b),
            codebook: Aligned::zeroed(256),
            qt: Aligned::zeroed(d * MAX_B),
            tables: tables.then(|| Aligned::zeroed(b * groups * TABLE)),
        }
    }

    /// The codebook padded with zeros to 256 entries.
    pub(crate) fn codebook(&self) -> &[f32] {
        self.codebook.as_slice()
    }

    /// The query blocks, in order.
    pub(crate) fn blocks(&self) -> impl ExactSizeIterator<Item = QueryBlock<'_>> {
        (0..self.b).step_by(self.qb).map(move |b0| {
            let len = self.qb.min(self.b - b0);
            let range = b0 * self.d..(b0 + len) * self.d;
            let per_query = self.d.div_ceil(GROUP) * TABLE;
            QueryBlock {
                b0,
                len,
                qp: &self.qp.as_slice()[range.clone()],
                w: &self.w.as_slice()[range],
                neg_sum: &self.neg_sum.as_slice()[b0..b0 + len],
                tables: self.tables.as_ref().map_or(&[][..], |t| {
                    &t.as_slice()[b0 * per_query..(b0 + len) * per_query]
                }),
            }
        })
    }

    /// Computes every field from `inputs`. Written so that the compiler vectorises it with the features of the
    /// function it is inlined into (each SIMD path calls it from its own `target_feature` wrapper): the queries
    /// are transposed so that every output row is a sum of `D` scaled copies of one 32-wide row of `Qᵀ`, with no
    /// horizontal reductions.
    #[inline(always)]
    pub(crate) fn compute(&mut self, inputs: &Inputs) {
        let (b, d, qb) = (self.b, self.d, self.qb);
        debug_assert_eq!(inputs.shape().b, b);
        debug_assert_eq!(inputs.shape().d, d);
        let cb = self.codebook.as_mut_slice();
        cb[..inputs.codebook.len()].copy_from_slice(&inputs.codebook);
        cb[inputs.codebook.len()..].fill(0.0);

        // Qᵀ, [D][MAX_B], zero past B.
        let qt = self.qt.as_mut_slice().as_chunks_mut::<MAX_B>().0;
        for (j, row) in qt.iter_mut().enumerate() {
            for (t, x) in row.iter_mut().enumerate() {
                *x = if t < b { inputs.q[t * d + j] } else { 0.0 };
            }
        }
        let (qp, w, neg) = (
            self.qp.as_mut_slice(),
            self.w.as_mut_slice(),
            self.neg_sum.as_mut_slice(),
        );
        neg.fill(0.0);
        for dim in 0..d {
            let pi_row = &inputs.pi[dim * d..(dim + 1) * d];
            let s_row = &inputs.s_mat[dim * d..(dim + 1) * d];
            // Qp[·, dim] and Qs[·, dim] for all queries at once.
            let mut acc_p = [0.0f32; MAX_B];
            let mut acc_s = [0.0f32; MAX_B];
            for ((&p, &m), q) in pi_row.iter().zip(s_row).zip(qt.iter()) {
                for t in 0..MAX_B {
                    acc_p[t] += p * q[t];
                    acc_s[t] += m * q[t];
                }
            }
            for b0 in (0..b).step_by(qb) {
                let len = qb.min(b - b0);
                for t in 0..len {
                    qp[b0 * d + dim * len + t] = acc_p[b0 + t];
                    w[b0 * d + dim * len + t] = 2.0 * acc_s[b0 + t];
                }
            }
            for (n, s) in neg.iter_mut().zip(&acc_s) {
                *n -= s;
            }
        }
        if let Some(tables) = &mut self.tables {
            build_tables(self.w.as_slice(), tables.as_mut_slice(), b, d, qb);
        }
    }
}

/// Fills the sign tables (see the module docs) from the blocked weights `w`.
#[inline(always)]
fn build_tables(w: &[f32], tables: &mut [f32], b: usize, d: usize, qb: usize) {
    let groups = d.div_ceil(GROUP);
    for b0 in (0..b).step_by(qb) {
        let len = qb.min(b - b0);
        let w_blk = &w[b0 * d..(b0 + len) * d];
        let t_blk = &mut tables[b0 * groups * TABLE..(b0 + len) * groups * TABLE];
        for (g, t_group) in t_blk.chunks_exact_mut(len * TABLE).enumerate() {
            for (t, table) in t_group.chunks_exact_mut(TABLE).enumerate() {
                let weight = |i: usize| {
                    let k = GROUP * g + i;
                    if k < d { w_blk[k * len + t] } else { 0.0 }
                };
                table[0] = 0.0;
                for n in 1..TABLE {
                    // n = (n with its lowest bit cleared) + that bit.
                    table[n] = table[n & (n - 1)] + weight(n.trailing_zeros() as usize);
                }
            }
        }
    }
}
