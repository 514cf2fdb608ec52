//! The NEON path (aarch64): the portable tile layout (16 keys, four 4-lane vectors), decoded by the portable code,
//! and a kernel of 2 queries × 16 keys in 16 accumulators, with the decoded values of one dimension (8 vectors)
//! loaded once and used by both queries.

use std::arch::aarch64::*;

use super::portable::{Scratch, TILE, Tile};
use super::project::{Projection, QueryBlock};
use crate::problem::Inputs;

/// Queries per block.
pub(crate) const QB: usize = 2;

/// 4-key vectors per tile.
const KV: usize = TILE / 4;

/// [`Projection::compute`] compiled for NEON.
#[target_feature(enable = "neon")]
pub(crate) fn project(proj: &mut Projection, inputs: &Inputs) {
    proj.compute(inputs);
}

/// Solves keys `s0 .. s0 + rows[0].len()` into `rows` (one slice per query).
#[target_feature(enable = "neon")]
pub(crate) fn solve_chunk(
    inputs: &Inputs,
    proj: &Projection,
    s0: usize,
    rows: &mut [&mut [f32]],
    scratch: &mut Scratch,
) {
    let n = rows.first().map_or(0, |r| r.len());
    for col in (0..n).step_by(TILE) {
        let nk = TILE.min(n - col);
        let tile = scratch.tile_mut();
        tile.decode(inputs, proj, s0 + col, nk);
        for blk in proj.blocks() {
            let out = &mut rows[blk.b0..blk.b0 + blk.len];
            match blk.len {
                1 => kernel::<1>(tile, &blk, out, col, nk),
                _ => kernel::<QB>(tile, &blk, out, col, nk),
            }
        }
    }
}

/// `N` queries × 16 keys, accumulated over D.
#[target_feature(enable = "neon")]
fn kernel<const N: usize>(
    tile: &Tile,
    blk: &QueryBlock<'_>,
    rows: &mut [&mut [f32]],
    col: usize,
    nk: usize,
) {
    let qp = blk.qp.as_chunks::<N>().0;
    let w = blk.w.as_chunks::<N>().0;
    let mut acc = [[vdupq_n_f32(0.0); KV]; N];
    let mut sg = [[vdupq_n_f32(0.0); KV]; N];
    for (t, sg) in sg.iter_mut().enumerate() {
        *sg = [vdupq_n_f32(blk.neg_sum[t]); KV];
    }
    for ((v, p), (a, ww)) in tile.vals().iter().zip(tile.pos()).zip(qp.iter().zip(w)) {
        let (mut vv, mut pv) = ([vdupq_n_f32(0.0); KV], [vdupq_n_f32(0.0); KV]);
        for j in 0..KV {
            // SAFETY: `v` and `p` are `[f32; 16]`: offset 4j has 4 readable floats.
            unsafe {
                vv[j] = vld1q_f32(v.as_ptr().add(4 * j));
                pv[j] = vld1q_f32(p.as_ptr().add(4 * j));
            }
        }
        for t in 0..N {
            let qa = vdupq_n_f32(a[t]);
            let qw = vdupq_n_f32(ww[t]);
            for j in 0..KV {
                acc[t][j] = vfmaq_f32(acc[t][j], qa, vv[j]);
                sg[t][j] = vfmaq_f32(sg[t][j], qw, pv[j]);
            }
        }
    }
    let cg = tile.cg();
    for (t, row) in rows.iter_mut().enumerate().take(N) {
        let mut res = [0.0f32; TILE];
        for j in 0..KV {
            // SAFETY: `cg` and `res` are `[f32; 16]`: offset 4j has 4 readable (writable) floats.
            unsafe {
                let r = vfmaq_f32(acc[t][j], sg[t][j], vld1q_f32(cg.as_ptr().add(4 * j)));
                vst1q_f32(res.as_mut_ptr().add(4 * j), r);
            }
        }
        row[col..col + nk].copy_from_slice(&res[..nk]);
    }
}
