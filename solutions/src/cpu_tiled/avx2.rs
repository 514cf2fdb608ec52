//! The AVX2+FMA path: the portable tile layout (16 keys, two 8-lane vectors) and a kernel of 2 queries × 16 keys
//! held in 8 accumulators (the codebook and the QJL sums of each query and vector), which leaves room in the 16
//! vector registers for the decoded values and the broadcast query weights.
//!
//! Decoding works on 16 keys × 32 dimensions at a time: two 16 × 16 byte transposes side by side (64 unpacks, all
//! in registers) turn the key-major index and sign bytes into one 16-key row per dimension; `vpermps` turns
//! indices into codebook values (two 8-entry tables and a blend for C ≤ 16, a gather above) and a compare turns
//! signs into 0.0 / 1.0. Dimensions past the last whole block of 32 are decoded element by element.

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
        decode(tile, inputs, proj.codebook(), s0 + col, nk);
        for blk in proj.blocks() {
            let out = &mut rows[blk.b0..blk.b0 + blk.len];
            match blk.len {
                1 => kernel::<1>(tile, &blk, out, col, nk),
                _ => kernel::<QB>(tile, &blk, out, col, nk),
            }
        }
    }
}

/// Codebook lookup modes: one 8-entry table (C ≤ 8), two and a blend (C ≤ 16), or a gather.
const TABLE8: u8 = 0;
const TABLE16: u8 = 1;
const GATHER: u8 = 2;

/// Dimensions per transposed block.
const DIM_BLOCK: usize = 32;

/// Decodes keys `s0 .. s0 + nk` (`1 ≤ nk ≤ TILE`) into `tile`; `codebook` has 256 entries.
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
fn decode(tile: &mut Tile, inputs: &Inputs, codebook: &[f32], s0: usize, nk: usize) {
    let shape = inputs.shape();
    let whole = shape.d / DIM_BLOCK * DIM_BLOCK;
    tile.start(inputs, s0, nk);
    match shape.c {
        0..=8 => decode_blocks::<TABLE8>(tile, inputs, codebook, s0, nk, whole),
        9..=16 => decode_blocks::<TABLE16>(tile, inputs, codebook, s0, nk, whole),
        _ => decode_blocks::<GATHER>(tile, inputs, codebook, s0, nk, whole),
    }
    tile.decode_dims(inputs, codebook, s0, nk, whole..shape.d);
}

/// Decodes dimensions `0 .. whole` (a multiple of [`DIM_BLOCK`]) of keys `s0 .. s0 + nk`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn decode_blocks<const LOOKUP: u8>(
    tile: &mut Tile,
    inputs: &Inputs,
    codebook: &[f32],
    s0: usize,
    nk: usize,
    whole: usize,
) {
    let d = inputs.shape().d;
    debug_assert_eq!(codebook.len(), 256);
    // SAFETY: the padded codebook holds 256 floats, so offsets 0 and 8 have 8 readable floats each.
    let tables = unsafe {
        [
            _mm256_loadu_ps(codebook.as_ptr()),
            _mm256_loadu_ps(codebook.as_ptr().add(8)),
        ]
    };
    // SAFETY: `i8` and `u8` have the same size and alignment, and every byte is a valid `u8`.
    let sign_bytes = unsafe {
        std::slice::from_raw_parts(
            inputs.qjl_signs.as_ptr().cast::<u8>(),
            inputs.qjl_signs.len(),
        )
    };
    let (vals, pos, _) = tile.parts_mut();
    for d0 in (0..whole).step_by(DIM_BLOCK) {
        let idx = transpose(&load_rows(&inputs.k_idx, d, s0, nk, d0));
        let sgn = transpose(&load_rows(sign_bytes, d, s0, nk, d0));
        // Column c holds dimension d0 + c in lane 0 and d0 + 16 + c in lane 1 (unrolled: constant indices keep
        // everything in registers).
        macro_rules! column {
            ($c:literal) => {{
                for (lane, (i, sg)) in [
                    (
                        _mm256_extracti128_si256::<0>(idx[$c]),
                        _mm256_extracti128_si256::<0>(sgn[$c]),
                    ),
                    (
                        _mm256_extracti128_si256::<1>(idx[$c]),
                        _mm256_extracti128_si256::<1>(sgn[$c]),
                    ),
                ]
                .into_iter()
                .enumerate()
                {
                    let dim = d0 + 16 * lane + $c;
                    store8(
                        &mut vals[dim][..8],
                        lookup::<LOOKUP>(_mm256_cvtepu8_epi32(i), &tables, codebook),
                    );
                    store8(
                        &mut vals[dim][8..],
                        lookup::<LOOKUP>(
                            _mm256_cvtepu8_epi32(_mm_srli_si128::<8>(i)),
                            &tables,
                            codebook,
                        ),
                    );
                    store8(&mut pos[dim][..8], positive(_mm256_cvtepi8_epi32(sg)));
                    store8(
                        &mut pos[dim][8..],
                        positive(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(sg))),
                    );
                }
            }};
        }
        unroll16!(column);
    }
}

/// The codebook values of 8 indices, one per 32-bit lane.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lookup<const LOOKUP: u8>(index: __m256i, tables: &[__m256; 2], codebook: &[f32]) -> __m256 {
    match LOOKUP {
        TABLE8 => _mm256_permutevar8x32_ps(tables[0], index),
        TABLE16 => {
            let lo = _mm256_permutevar8x32_ps(tables[0], index);
            let hi = _mm256_permutevar8x32_ps(tables[1], index);
            // Bit 3 of the index picks the table: move it to the sign bit, which `blendv` reads.
            _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32::<28>(index)))
        }
        // SAFETY: every lane of `index` is a zero-extended byte (< 256) and `codebook` has 256 floats.
        _ => unsafe { _mm256_i32gather_ps::<4>(codebook.as_ptr(), index) },
    }
}

/// 1.0 where the sign (±1, one per 32-bit lane) is +1, else 0.0.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn positive(signs: __m256i) -> __m256 {
    let plus = _mm256_cmpgt_epi32(signs, _mm256_setzero_si256());
    _mm256_and_ps(_mm256_castsi256_ps(plus), _mm256_set1_ps(1.0))
}

/// Stores 8 floats into `dst`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn store8(dst: &mut [f32], v: __m256) {
    assert_eq!(dst.len(), 8);
    // SAFETY: `dst` has 8 writable floats (checked above).
    unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), v) };
}

/// Loads 32 bytes from column `d0` of rows `first .. first + keys` of the `[S, D]` byte matrix `src`; rows past
/// `keys` are zero.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn load_rows(src: &[u8], d: usize, first: usize, keys: usize, d0: usize) -> [__m256i; 16] {
    assert!((1..=16).contains(&keys) && d0 + DIM_BLOCK <= d && (first + keys) * d <= src.len());
    let mut out = [_mm256_setzero_si256(); 16];
    // A fixed trip count keeps `out` in registers.
    for (r, v) in out.iter_mut().enumerate() {
        if r < keys {
            // SAFETY: `r < keys`, so `(first + r)·d + d0 + 32 <= (first + keys)·d <= src.len()` (checked above).
            *v = unsafe { _mm256_loadu_si256(src.as_ptr().add((first + r) * d + d0).cast()) };
        }
    }
    out
}

/// Transposes 16 rows of 32 bytes, independently in each 128-bit lane: output `c` holds, in lane `L`, the 16
/// bytes of column `16·L + c` (row 0 first).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn transpose(r: &[__m256i; 16]) -> [__m256i; 16] {
    // Straight-line code with constant indices, so that all 16 rows stay in registers; the same four
    // stages as the AVX-512 transpose.
    let a = [
        _mm256_unpacklo_epi8(r[0], r[1]),
        _mm256_unpackhi_epi8(r[0], r[1]),
        _mm256_unpacklo_epi8(r[2], r[3]),
        _mm256_unpackhi_epi8(r[2], r[3]),
        _mm256_unpacklo_epi8(r[4], r[5]),
        _mm256_unpackhi_epi8(r[4], r[5]),
        _mm256_unpacklo_epi8(r[6], r[7]),
        _mm256_unpackhi_epi8(r[6], r[7]),
        _mm256_unpacklo_epi8(r[8], r[9]),
        _mm256_unpackhi_epi8(r[8], r[9]),
        _mm256_unpacklo_epi8(r[10], r[11]),
        _mm256_unpackhi_epi8(r[10], r[11]),
        _mm256_unpacklo_epi8(r[12], r[13]),
        _mm256_unpackhi_epi8(r[12], r[13]),
        _mm256_unpacklo_epi8(r[14], r[15]),
        _mm256_unpackhi_epi8(r[14], r[15]),
    ];
    let b = [
        _mm256_unpacklo_epi16(a[0], a[2]),
        _mm256_unpackhi_epi16(a[0], a[2]),
        _mm256_unpacklo_epi16(a[1], a[3]),
        _mm256_unpackhi_epi16(a[1], a[3]),
        _mm256_unpacklo_epi16(a[4], a[6]),
        _mm256_unpackhi_epi16(a[4], a[6]),
        _mm256_unpacklo_epi16(a[5], a[7]),
        _mm256_unpackhi_epi16(a[5], a[7]),
        _mm256_unpacklo_epi16(a[8], a[10]),
        _mm256_unpackhi_epi16(a[8], a[10]),
        _mm256_unpacklo_epi16(a[9], a[11]),
        _mm256_unpackhi_epi16(a[9], a[11]),
        _mm256_unpacklo_epi16(a[12], a[14]),
        _mm256_unpackhi_epi16(a[12], a[14]),
        _mm256_unpacklo_epi16(a[13], a[15]),
        _mm256_unpackhi_epi16(a[13], a[15]),
    ];
    let c = [
        _mm256_unpacklo_epi32(b[0], b[4]),
        _mm256_unpackhi_epi32(b[0], b[4]),
        _mm256_unpacklo_epi32(b[1], b[5]),
        _mm256_unpackhi_epi32(b[1], b[5]),
        _mm256_unpacklo_epi32(b[2], b[6]),
        _mm256_unpackhi_epi32(b[2], b[6]),
        _mm256_unpacklo_epi32(b[3], b[7]),
        _mm256_unpackhi_epi32(b[3], b[7]),
        _mm256_unpacklo_epi32(b[8], b[12]),
        _mm256_unpackhi_epi32(b[8], b[12]),
        _mm256_unpacklo_epi32(b[9], b[13]),
        _mm256_unpackhi_epi32(b[9], b[13]),
        _mm256_unpacklo_epi32(b[10], b[14]),
        _mm256_unpackhi_epi32(b[10], b[14]),
        _mm256_unpacklo_epi32(b[11], b[15]),
        _mm256_unpackhi_epi32(b[11], b[15]),
    ];
    [
        _mm256_unpacklo_epi64(c[0], c[8]),
        _mm256_unpackhi_epi64(c[0], c[8]),
        _mm256_unpacklo_epi64(c[1], c[9]),
        _mm256_unpackhi_epi64(c[1], c[9]),
        _mm256_unpacklo_epi64(c[2], c[10]),
        _mm256_unpackhi_epi64(c[2], c[10]),
        _mm256_unpacklo_epi64(c[3], c[11]),
        _mm256_unpackhi_epi64(c[3], c[11]),
        _mm256_unpacklo_epi64(c[4], c[12]),
        _mm256_unpackhi_epi64(c[4], c[12]),
        _mm256_unpacklo_epi64(c[5], c[13]),
        _mm256_unpackhi_epi64(c[5], c[13]),
        _mm256_unpacklo_epi64(c[6], c[14]),
        _mm256_unpackhi_epi64(c[6], c[14]),
        _mm256_unpacklo_epi64(c[7], c[15]),
        _mm256_unpackhi_epi64(c[7], c[15]),
    ]
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
