//! The portable path, and the decoded-tile layout it shares with the NEON kernel.
//!
//! A tile holds [`TILE`] consecutive keys decoded once: `vals[d][l] = codebook[K_idx[s0 + l, d]]`,
//! `pos[d][l] = 1.0` where `qjl_signs[s0 + l, d] = +1` (else 0.0), and `cg[l] = coef · gamma[s0 + l]`, with `coef` the
//! projection's [`Projection::qjl_coef`] (`sqrt(pi/2)/D`, for ordinary inputs; the codebook values come from the
//! projection too, so both carry its scales).
//! Keys past the end of the input are decoded as zeros, so kernels always work on whole tiles and only the
//! stores look at how many keys are real. A kernel then computes, for a block of queries and the tile's keys,
//!
//! ```text
//! score[b, l] = Σ_d Qp[b,d]·vals[d][l]  +  cg[l] · ( −Σ_d Qs[b,d]  +  Σ_d 2·Qs[b,d]·pos[d][l] )
//! ```
//!
//! with every decoded value reused by every query of the block.

use super::aligned::Aligned;
use super::project::{Projection, QueryBlock};
use crate::problem::Inputs;

/// Keys per tile in this layout.
pub(crate) const TILE: usize = 16;

/// Queries per block of the portable kernel.
pub(crate) const QB: usize = 4;

/// One decoded tile (see the module docs for the layout).
pub(crate) struct Tile {
    vals: Aligned<f32>,
    pos: Aligned<f32>,
    cg: [f32; TILE],
}

impl Tile {
    /// Room for one tile of dimension `d`.
    pub(crate) fn new(d: usize) -> Self {
        Self {
            vals: Aligned::zeroed(d * TILE),
            pos: Aligned::zeroed(d * TILE),
            cg: [0.0; TILE],
        }
    }

    /// `vals`, one row of [`TILE`] keys per dimension.
    pub(crate) fn vals(&self) -> &[[f32; TILE]] {
        self.vals.as_slice().as_chunks().0
    }

    /// `pos`, one row of [`TILE`] keys per dimension.
    pub(crate) fn pos(&self) -> &[[f32; TILE]] {
        self.pos.as_slice().as_chunks().0
    }

    /// `cg`, one value per key.
    pub(crate) fn cg(&self) -> &[f32; TILE] {
        &self.cg
    }

    /// Decodes keys `s0 .. s0 + nk` (`1 ≤ nk ≤ TILE`) of `inputs` with the codebook and QJL coefficient of
    /// `proj`.
    #[inline(always)]
    pub(crate) fn decode(&mut self, inputs: &Inputs, proj: &Projection, s0: usize, nk: usize) {
        self.start(inputs, proj.qjl_coef(), s0, nk);
        self.decode_dims(inputs, proj.codebook(), s0, nk, 0..inputs.shape().d);
    }

    /// Sets the coefficients `coef·gamma` of keys `s0 .. s0 + nk` and zeroes the lanes past `nk`.
    #[inline(always)]
    pub(crate) fn start(&mut self, inputs: &Inputs, coef: f32, s0: usize, nk: usize) {
        if nk < TILE {
            let vals = self.vals.as_mut_slice().as_chunks_mut::<TILE>().0;
            let pos = self.pos.as_mut_slice().as_chunks_mut::<TILE>().0;
            for row in vals.iter_mut().chain(pos.iter_mut()) {
                row[nk..].fill(0.0);
            }
        }
        for (l, cg) in self.cg.iter_mut().enumerate() {
            *cg = if l < nk {
                coef * inputs.gamma[s0 + l]
            } else {
                0.0
            };
        }
    }

    /// Decodes dimensions `dims` of keys `s0 .. s0 + nk`, one element at a time.
    #[inline(always)]
    pub(crate) fn decode_dims(
        &mut self,
        inputs: &Inputs,
        codebook: &[f32],
        s0: usize,
        nk: usize,
        dims: std::ops::Range<usize>,
    ) {
        let d = inputs.shape().d;
        let table: &[f32; 256] = codebook
            .try_into()
            .expect("the projection pads the codebook to 256 entries");
        let vals = &mut self.vals.as_mut_slice().as_chunks_mut::<TILE>().0[dims.clone()];
        let pos = &mut self.pos.as_mut_slice().as_chunks_mut::<TILE>().0[dims.clone()];
        for l in 0..nk.min(TILE) {
            let s = s0 + l;
            let idx = &inputs.k_idx[s * d + dims.start..s * d + dims.end];
            let signs = &inputs.qjl_signs[s * d + dims.start..s * d + dims.end];
            for ((v, p), (&i, &sign)) in vals
                .iter_mut()
                .zip(pos.iter_mut())
                .zip(idx.iter().zip(signs))
            {
                v[l] = table[usize::from(i)];
                p[l] = if sign > 0 { 1.0 } else { 0.0 };
            }
        }
    }
}

/// Per-thread scratch of the portable path.
pub(crate) struct Scratch {
    tile: Tile,
}

impl Scratch {
    /// Scratch for dimension `d`.
    pub(crate) fn new(d: usize) -> Self {
        Self { tile: Tile::new(d) }
    }

    /// The tile buffer.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub(crate) fn tile_mut(&mut self) -> &mut Tile {
        &mut self.tile
    }
}

/// Solves keys `s0 .. s0 + rows[0].len()` into `rows` (one slice per query, all the same length).
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
        scratch.tile.decode(inputs, proj, s0 + col, nk);
        for blk in proj.blocks() {
            let out = &mut rows[blk.b0..blk.b0 + blk.len];
            match blk.len {
                1 => kernel::<1>(&scratch.tile, &blk, out, col, nk),
                2 => kernel::<2>(&scratch.tile, &blk, out, col, nk),
                3 => kernel::<3>(&scratch.tile, &blk, out, col, nk),
                _ => kernel::<QB>(&scratch.tile, &blk, out, col, nk),
            }
        }
    }
}

/// The register-blocked tile kernel in plain Rust: `N` queries × [`TILE`] keys, accumulated over D.
#[inline(always)]
fn kernel<const N: usize>(
    tile: &Tile,
    blk: &QueryBlock<'_>,
    rows: &mut [&mut [f32]],
    col: usize,
    nk: usize,
) {
    let qp = blk.qp.as_chunks::<N>().0;
    let w = blk.w.as_chunks::<N>().0;
    let mut acc = [[0.0f32; TILE]; N];
    let mut sg: [[f32; TILE]; N] = std::array::from_fn(|t| [blk.neg_sum[t]; TILE]);
    for ((v, p), (a, w)) in tile.vals().iter().zip(tile.pos()).zip(qp.iter().zip(w)) {
        for t in 0..N {
            for l in 0..TILE {
                acc[t][l] += a[t] * v[l];
                sg[t][l] += w[t] * p[l];
            }
        }
    }
    let cg = tile.cg();
    for (t, row) in rows.iter_mut().enumerate().take(N) {
        for (l, out) in row[col..col + nk].iter_mut().enumerate() {
            *out = acc[t][l] + cg[l] * sg[t][l];
        }
    }
}
