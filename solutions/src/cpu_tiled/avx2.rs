//! The AVX2+FMA path: the portable tile layout (16 keys, two 8-lane vectors), decoded by the portable code
//! compiled for AVX2, and a kernel of 2 queries × 16 keys held in 8 accumulators (the codebook and the QJL sums
//! of each query and vector), which leaves room in the 16 vector registers for the decoded values and the
//! broadcast query weights.

use std::arch::x86_64::*;

use super::portable::{Scratch, TILE, Tile};
use super::project::{Projection, QueryBlock};
use crate::problem::Inputs;

/// Queries per block.
pub(crate) const QB: usize = 2;

/// [`Projection::compute`] compiled for AVX2+FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn project(proj: &mut Projection, inputs: &Inputs) {
    proj.compute(inputs);
}

/// Solves keys `s0 .. s0 + rows[0].len()` into `rows` (one slice per query).
#[target_feature(enable = "avx2,fma")]
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
        tile.decode(inputs, proj.codebook(), s0 + col, nk);
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
#[target_feature(enable = "avx2,fma")]
fn kernel<const N: usize>(
    tile: &Tile,
    blk: &QueryBlock<'_>,
    rows: &mut [&mut [f32]],
    col: usize,
    nk: usize,
) {
    let qp = blk.qp.as_chunks::<N>().0;
    let w = blk.w.as_chunks::<N>().0;
    let mut acc = [[_mm256_setzero_ps(); 2]; N];
    let mut sg = [[_mm256_setzero_ps(); 2]; N];
    for (t, sg) in sg.iter_mut().enumerate() {
        *sg = [_mm256_set1_ps(blk.neg_sum[t]); 2];
    }
    for ((v, p), (a, ww)) in tile.vals().iter().zip(tile.pos()).zip(qp.iter().zip(w)) {
        // SAFETY: `v` and `p` are `[f32; 16]`: offsets 0 and 8 each have 8 readable floats.
        let (v0, v1, p0, p1) = unsafe {
            (
                _mm256_loadu_ps(v.as_ptr()),
                _mm256_loadu_ps(v.as_ptr().add(8)),
                _mm256_loadu_ps(p.as_ptr()),
                _mm256_loadu_ps(p.as_ptr().add(8)),
            )
        };
        for t in 0..N {
            let qa = _mm256_set1_ps(a[t]);
            let qw = _mm256_set1_ps(ww[t]);
            acc[t][0] = _mm256_fmadd_ps(qa, v0, acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(qa, v1, acc[t][1]);
            sg[t][0] = _mm256_fmadd_ps(qw, p0, sg[t][0]);
            sg[t][1] = _mm256_fmadd_ps(qw, p1, sg[t][1]);
        }
    }
    let cg = tile.cg();
    // SAFETY: `cg` is `[f32; 16]`.
    let (cg0, cg1) = unsafe {
        (
            _mm256_loadu_ps(cg.as_ptr()),
            _mm256_loadu_ps(cg.as_ptr().add(8)),
        )
    };
    for (t, row) in rows.iter_mut().enumerate().take(N) {
        let (r0, r1) = (
            _mm256_fmadd_ps(sg[t][0], cg0, acc[t][0]),
            _mm256_fmadd_ps(sg[t][1], cg1, acc[t][1]),
        );
        if nk == TILE {
            let dst = &mut row[col..col + TILE];
            // SAFETY: `dst` has 16 writable floats.
            unsafe {
                _mm256_storeu_ps(dst.as_mut_ptr(), r0);
                _mm256_storeu_ps(dst.as_mut_ptr().add(8), r1);
            }
        } else {
            let mut res = [0.0f32; TILE];
            // SAFETY: `res` has 16 writable floats.
            unsafe {
                _mm256_storeu_ps(res.as_mut_ptr(), r0);
                _mm256_storeu_ps(res.as_mut_ptr().add(8), r1);
            }
            row[col..col + nk].copy_from_slice(&res[..nk]);
        }
    }
}
