//! The AVX-512 path: 16 keys per vector, [`KV`] vectors (48 keys) per tile, queries in blocks of [`QB`].
//! Needs AVX-512F and AVX-512BW only.
//!
//! **Decode** (once per tile, shared by every query): for each group of 16 keys and each block of 64 dimensions,
//! the 16 rows of indices and signs are loaded as bytes, the sign bit is merged into bit 7 of the index byte (for
//! C ≤ 32, whose indices need at most 5 bits), and one 16 × 64 byte transpose (64 unpacks, straight-line code)
//! turns key-major bytes into dimension-major ones, all in registers. From each transposed register (4 kernel
//! positions × 16 keys), `vpmovzxbd` + `vpermps` (a 16-entry table in a register; `vpermi2ps` for 32) give the
//! codebook values, ignoring bit 7, and a byte shuffle plus two multiply-adds give each key's 4 sign bits as one
//! number. For C > 32 indices and signs are transposed separately and the values gathered. Nothing decoded goes
//! through memory before it is final: reloading just-stored vectors in narrower pieces defeats store-to-load
//! forwarding and cost more than the decoding itself.
//!
//! **Kernel**: for [`QB`] queries × 48 keys, 12 accumulators take `Qp[b,d]·value` by FMA, and 12 take the QJL
//! weights by table lookup: per group of 4 positions, one `vpermps` of the query's 16-entry sign table (see
//! [`super::project`]) by the keys' 4-bit numbers replaces 4 masked adds. Measured on Zen 4 in loops shaped like
//! this kernel (cycles per position, 12 FMAs): FMAs alone 12.1; with the sign term by table lookup 14–15; by
//! merge-masked adds, which do not overlap with the FMAs, 20.7; as 12 more FMAs on 0/1 values, 23. Decoded values
//! are loaded once per position and used by every query of the block; each query weight is broadcast once and
//! used by all three vectors.
//!
//! The transpose leaves dimension `d = 64·k + 16·L + c` (lane `L`, byte column `c`) in slot `64·k + 4·c + L`;
//! within whole blocks of 64 the kernel visits dimensions in slot order ([`kernel_order`]), so a transposed
//! register holds exactly one group of 4 positions.

use std::arch::x86_64::*;

use super::aligned::Aligned;
use super::project::{GROUP, Projection, QueryBlock, TABLE};
use crate::problem::Inputs;

/// 16-key vectors per tile.
pub(crate) const KV: usize = 3;
/// Keys per tile.
pub(crate) const TILE: usize = 16 * KV;
/// Queries per block.
pub(crate) const QB: usize = 4;

/// Dimensions per transpose block.
const DIM_BLOCK: usize = 64;

/// Per-task scratch of the AVX-512 path.
pub(crate) struct Scratch {
    /// Codebook values, `[D][TILE]`, dimensions in kernel order.
    vals: Aligned<f32>,
    /// Sign numbers, `[G][TILE]`: for key `l` and group `g`, bit `i` is set where the key's sign at kernel
    /// position `4g + i` is +1.
    nibs: Aligned<u32>,
    /// `sqrt(pi/2)/D · gamma` of the tile's keys (0 past the end of the input).
    cg: Aligned<f32>,
    /// Transposed index bytes of one 16-key × 64-dimension block, `[slot][16 keys]`.
    bytes: Aligned<u8>,
}

impl Scratch {
    /// Scratch for dimension `d`.
    pub(crate) fn new(d: usize) -> Self {
        Self {
            vals: Aligned::zeroed(d * TILE),
            nibs: Aligned::zeroed(d.div_ceil(GROUP) * TILE),
            cg: Aligned::zeroed(TILE),
            bytes: Aligned::zeroed(DIM_BLOCK * 16),
        }
    }
}

/// The order in which the kernel visits the dimensions: within each whole block of 64, the transpose's slot
/// order (so decoding a block is one linear pass); in a last, partial block, plain order.
pub(crate) fn kernel_order(d: usize) -> Vec<usize> {
    let whole = d / DIM_BLOCK * DIM_BLOCK;
    (0..d)
        .map(|k| {
            if k < whole {
                let j = k % DIM_BLOCK;
                k - j + 16 * (j % 4) + j / 4
            } else {
                k
            }
        })
        .collect()
}

/// The slot of dimension `d` (counted from the start of its block) in the transposed buffers.
#[inline(always)]
const fn slot(d: usize) -> usize {
    4 * (d % 16) + d / 16
}

/// [`Projection::compute`] compiled for AVX-512.
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) fn project(proj: &mut Projection, inputs: &Inputs) {
    proj.compute(inputs);
}

/// Solves keys `s0 .. s0 + rows[0].len()` into `rows` (one slice per query).
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) fn solve_chunk(
    inputs: &Inputs,
    proj: &Projection,
    s0: usize,
    rows: &mut [&mut [f32]],
    scratch: &mut Scratch,
) {
    let n = rows.first().map_or(0, |r| r.len());
    let c = inputs.shape().c;
    for col in (0..n).step_by(TILE) {
        let nk = TILE.min(n - col);
        match c {
            0..=16 => decode::<TABLE16>(inputs, proj.codebook(), s0 + col, nk, scratch),
            17..=32 => decode::<TABLE32>(inputs, proj.codebook(), s0 + col, nk, scratch),
            _ => decode::<GATHER>(inputs, proj.codebook(), s0 + col, nk, scratch),
        }
        let blocks = proj.blocks().len();
        for (i, blk) in proj.blocks().enumerate() {
            // The next tile's keys arrive while this one is computed.
            if col + TILE < n {
                prefetch_keys(inputs, s0 + col + TILE, TILE.min(n - col - TILE), i, blocks);
            }
            let out = &mut rows[blk.b0..blk.b0 + blk.len];
            // And the output lines this block will write for the next tile: a store that misses waits for the
            // line to be read first, and these misses cost 15–20% of the run before this prefetch.
            if col + TILE < n {
                for row in out.iter() {
                    for key in (col + TILE..(col + 2 * TILE).min(n)).step_by(16) {
                        // A prefetch reads nothing and cannot fault.
                        _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().wrapping_add(key).cast());
                    }
                }
            }
            match blk.len {
                1 => kernel::<1>(scratch, &blk, out, col, nk),
                2 => kernel::<2>(scratch, &blk, out, col, nk),
                3 => kernel::<3>(scratch, &blk, out, col, nk),
                _ => kernel::<QB>(scratch, &blk, out, col, nk),
            }
        }
    }
}

/// Codebook lookup modes: a 16-entry table in one register (C ≤ 16), a 32-entry table in two (C ≤ 32), or a
/// gather from the 256-entry table.
const TABLE16: u8 = 0;
const TABLE32: u8 = 1;
const GATHER: u8 = 2;

/// Decodes keys `s0 .. s0 + nk` (`1 ≤ nk ≤ TILE`) into `scratch`; `codebook` has 256 entries. Kept out of
/// line, like the kernel, so that each gets the register file to itself.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline(never)]
fn decode<const LOOKUP: u8>(
    inputs: &Inputs,
    codebook: &[f32],
    s0: usize,
    nk: usize,
    scratch: &mut Scratch,
) {
    let shape = inputs.shape();
    let d = shape.d;
    debug_assert_eq!(codebook.len(), 256);
    debug_assert!(s0 + nk <= shape.s && nk <= TILE);

    let coef = _mm512_set1_ps(shape.qjl_coef() as f32);
    let gamma = &inputs.gamma[s0..s0 + nk];
    for (j, cg) in scratch
        .cg
        .as_mut_slice()
        .as_chunks_mut::<16>()
        .0
        .iter_mut()
        .enumerate()
    {
        let count = gamma.len().saturating_sub(16 * j).min(16);
        let lanes = ((1u32 << count) - 1) as u16;
        // SAFETY: the load mask enables the `count` floats of `gamma` from 16·j (none when `count` is 0, in which
        // case nothing is accessed); masked-off lanes are neither read nor faulted on, and read as 0.
        let g = unsafe { _mm512_maskz_loadu_ps(lanes, gamma.as_ptr().wrapping_add(16 * j)) };
        // SAFETY: `cg` is 16 writable floats.
        unsafe { _mm512_storeu_ps(cg.as_mut_ptr(), _mm512_mul_ps(coef, g)) };
    }
    // SAFETY: the padded codebook holds 256 floats, so offsets 0 and 16 have 16 readable floats each.
    let table = unsafe {
        [
            _mm512_loadu_ps(codebook.as_ptr()),
            _mm512_loadu_ps(codebook.as_ptr().add(16)),
        ]
    };
    // SAFETY: `i8` and `u8` have the same size and alignment, and every byte is a valid `u8`.
    let sign_bytes = unsafe {
        std::slice::from_raw_parts(
            inputs.qjl_signs.as_ptr().cast::<u8>(),
            inputs.qjl_signs.len(),
        )
    };
    let vals = scratch.vals.as_mut_slice().as_chunks_mut::<TILE>().0;
    let nibs = scratch.nibs.as_mut_slice().as_chunks_mut::<TILE>().0;
    for g in 0..KV {
        let keys = nk.saturating_sub(16 * g).min(16);
        if keys == 0 {
            // Past the end of the input: the kernel computes these lanes from stale (finite) values and never
            // stores them.
            break;
        }
        let first = s0 + 16 * g;
        for d0 in (0..d).step_by(DIM_BLOCK) {
            let width = DIM_BLOCK.min(d - d0);
            // Transposed indices and signs (one register per column; sign in bit 7).
            let (idx, sgn) = if LOOKUP == GATHER {
                // Indices may use all 8 bits: transpose indices and signs separately.
                (
                    transpose(&load_rows(&inputs.k_idx, None, d, first, keys, d0, width)),
                    transpose(&load_rows(sign_bytes, None, d, first, keys, d0, width)),
                )
            } else {
                // Indices fit in 5 bits: carry the sign in bit 7 through one transpose.
                let merged = transpose(&load_rows(
                    &inputs.k_idx,
                    Some(sign_bytes),
                    d,
                    first,
                    keys,
                    d0,
                    width,
                ));
                (merged, merged)
            };
            if width == DIM_BLOCK {
                // Kernel position d0 + 4·c + L is lane L of transposed column c: decode from registers (the
                // columns are unrolled so that every index is a constant and nothing goes through memory).
                macro_rules! column {
                    ($c:literal) => {{
                        let first_position = d0 + 4 * $c;
                        let lanes = [
                            lane_indices::<0>(idx[$c]),
                            lane_indices::<1>(idx[$c]),
                            lane_indices::<2>(idx[$c]),
                            lane_indices::<3>(idx[$c]),
                        ];
                        for (lane, index) in lanes.into_iter().enumerate() {
                            store_values(
                                &mut vals[first_position + lane][16 * g..16 * g + 16],
                                lookup::<LOOKUP>(index, &table, codebook),
                            );
                        }
                        let nibble = positive_nibbles(sgn[$c]);
                        let dst = &mut nibs[first_position / GROUP][16 * g..16 * g + 16];
                        // SAFETY: `dst` has 16 writable u32.
                        unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), nibble) };
                    }};
                }
                column!(0);
                column!(1);
                column!(2);
                column!(3);
                column!(4);
                column!(5);
                column!(6);
                column!(7);
                column!(8);
                column!(9);
                column!(10);
                column!(11);
                column!(12);
                column!(13);
                column!(14);
                column!(15);
            } else {
                // A last, partial block: kernel position d0 + k is dimension d0 + k, held in slot(k).
                store_bytes(&idx, &mut scratch.bytes);
                let bytes = scratch.bytes.as_slice().as_chunks::<16>().0;
                let positive = positive_masks(&sgn);
                let mut masks = [0u16; DIM_BLOCK];
                for k in 0..width {
                    let j = slot(k);
                    // SAFETY: `bytes[j]` holds 16 readable bytes.
                    let index =
                        _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(bytes[j].as_ptr().cast()) });
                    let values = lookup::<LOOKUP>(index, &table, codebook);
                    store_values(&mut vals[d0 + k][16 * g..16 * g + 16], values);
                    masks[k] = (positive[j / 4] >> (16 * (j % 4))) as u16;
                }
                for (h, group) in masks[..width.next_multiple_of(GROUP)]
                    .as_chunks::<GROUP>()
                    .0
                    .iter()
                    .enumerate()
                {
                    store_nibbles(&mut nibs[d0 / GROUP + h][16 * g..16 * g + 16], group);
                }
            }
        }
    }
}

/// The 16 bytes of 128-bit lane `L` of `v`, zero-extended to 32-bit lanes.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn lane_indices<const L: i32>(v: __m512i) -> __m512i {
    _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32::<L>(v))
}

/// For a transposed register (lane `L` = 16 keys' bytes of one kernel position `L`, sign in bit 7), the 4-bit
/// number per key whose bit `L` is set where that key's sign at position `L` is +1.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn positive_nibbles(v: __m512i) -> __m512i {
    // 4 × 4 transpose of 32-bit units across lanes: lane q now holds, in unit L, keys 4q .. 4q+3 of position L.
    let units = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
        v,
    );
    // 4 × 4 byte transpose within each lane: unit i now holds key 4q + i at positions 0..3.
    let per_key = _mm512_shuffle_epi8(
        units,
        _mm512_broadcast_i32x4(_mm_setr_epi8(
            0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
        )),
    );
    // Byte = 1 where bit 7 is clear (sign +1), else 0: (!(x >> 7)) & 1.
    let shifted = _mm512_srli_epi16::<7>(per_key);
    let bits =
        _mm512_ternarylogic_epi32::<0x0C>(shifted, _mm512_set1_epi8(1), _mm512_setzero_si512());
    // Σ bit_L · 2^L over the 4 bytes of each unit.
    let pairs = _mm512_maddubs_epi16(bits, _mm512_set1_epi16(0x0201));
    _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x0004_0001))
}

/// Stores, for 16 keys, the 4-bit numbers whose bit `i` is bit `l` (the key) of `masks[i]`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn store_nibbles(dst: &mut [u32], masks: &[u16; GROUP]) {
    assert_eq!(dst.len(), 16);
    let mut v = _mm512_maskz_mov_epi32(masks[0], _mm512_set1_epi32(1));
    v = _mm512_mask_or_epi32(v, masks[1], v, _mm512_set1_epi32(2));
    v = _mm512_mask_or_epi32(v, masks[2], v, _mm512_set1_epi32(4));
    v = _mm512_mask_or_epi32(v, masks[3], v, _mm512_set1_epi32(8));
    // SAFETY: `dst` has 16 writable u32 (checked above).
    unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), v) };
}

/// The codebook values of 16 indices, one per 32-bit lane (bits above the table size are ignored by the table
/// lookups; the gather needs them zero).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn lookup<const LOOKUP: u8>(index: __m512i, table: &[__m512; 2], codebook: &[f32]) -> __m512 {
    match LOOKUP {
        TABLE16 => _mm512_permutexvar_ps(index, table[0]),
        TABLE32 => _mm512_permutex2var_ps(table[0], index, table[1]),
        // SAFETY: every lane of `index` is a zero-extended byte (< 256) and `codebook` has 256 floats.
        _ => unsafe { _mm512_i32gather_ps::<4>(index, codebook.as_ptr()) },
    }
}

/// Stores 16 floats into `dst`, which starts on a cache line.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn store_values(dst: &mut [f32], values: __m512) {
    assert_eq!(dst.len(), 16);
    debug_assert_eq!(dst.as_ptr() as usize % 64, 0);
    // SAFETY: `dst` has 16 writable floats, 64-byte aligned (rows of `vals` are 192 bytes from a line-aligned
    // start, and `dst` starts at a multiple of 16 floats within its row).
    unsafe { _mm512_store_ps(dst.as_mut_ptr(), values) };
}

/// Loads `width` bytes from column `d0` of rows `first .. first + keys` of the `[S, D]` byte matrix `src`;
/// with `signs`, bit 7 of each byte is replaced by bit 7 of the matching sign byte. Rows past `keys` and
/// bytes past `width` are zero.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn load_rows(
    src: &[u8],
    signs: Option<&[u8]>,
    d: usize,
    first: usize,
    keys: usize,
    d0: usize,
    width: usize,
) -> [__m512i; 16] {
    let lanes: u64 = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    assert!((1..=16).contains(&keys) && d0 + width <= d);
    assert!((first + keys) * d <= src.len());
    assert!(signs.is_none_or(|s| s.len() == src.len()));
    let high = _mm512_set1_epi8(0x80u8 as i8);
    let mut out = [_mm512_setzero_si512(); 16];
    // A fixed trip count and no slicing in the body keep `out` in registers; rows past `keys` load nothing
    // (mask 0) from an address inside the first row.
    for (r, v) in out.iter_mut().enumerate() {
        let (row, mask) = if r < keys {
            (first + r, lanes)
        } else {
            (first, 0)
        };
        let offset = row * d + d0;
        // SAFETY: `row < first + keys`, so `offset + width <= (first + keys)·d <= src.len()` (checked above):
        // the address is inside `src` and the load mask enables at most the `width` bytes that follow it, all in
        // bounds; masked-off bytes are neither read nor faulted on.
        *v = unsafe { _mm512_maskz_loadu_epi8(mask, src.as_ptr().add(offset).cast()) };
        if let Some(signs) = signs {
            // SAFETY: as above; `signs` has the length of `src` (checked above).
            let sign = unsafe { _mm512_maskz_loadu_epi8(mask, signs.as_ptr().add(offset).cast()) };
            // Bit select: bit 7 from the sign, bits 0..6 from the index.
            *v = _mm512_ternarylogic_epi32::<0xE4>(sign, *v, high);
        }
    }
    out
}

/// Asks for part `part` of `parts` of the index, sign and gamma bytes of keys `first .. first + count` to be
/// brought into the cache. Spreading one tile's prefetches over the kernel calls that precede it keeps the
/// memory system busy without flooding its miss queues.
#[target_feature(enable = "avx512f,avx512bw")]
fn prefetch_keys(inputs: &Inputs, first: usize, count: usize, part: usize, parts: usize) {
    let d = inputs.shape().d;
    let lines = (count * d).div_ceil(64);
    let (lo, hi) = (lines * part / parts, lines * (part + 1) / parts);
    for array in [
        inputs.k_idx.as_ptr(),
        inputs.qjl_signs.as_ptr().cast::<u8>(),
    ] {
        for line in lo..hi {
            // A prefetch reads nothing and cannot fault; `wrapping_add` keeps the address arithmetic defined.
            _mm_prefetch::<_MM_HINT_T0>(array.wrapping_add(first * d + 64 * line).cast());
        }
    }
    if part == 0 {
        for key in (first..first + count).step_by(16) {
            _mm_prefetch::<_MM_HINT_T0>(inputs.gamma.as_ptr().wrapping_add(key).cast());
        }
    }
}

/// Transposes 16 rows of 64 bytes, independently in each 128-bit lane: output `c` holds, in lane `L`, the 16
/// bytes of column `16·L + c` (row 0 first).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn transpose(r: &[__m512i; 16]) -> [__m512i; 16] {
    // Straight-line code with constant indices, so that all 16 rows stay in registers.
    // Stage 1: bytes → 16-bit units of rows (2g, 2g+1); a[2g + h] holds columns 8h .. 8h+7.
    let a = [
        _mm512_unpacklo_epi8(r[0], r[1]),
        _mm512_unpackhi_epi8(r[0], r[1]),
        _mm512_unpacklo_epi8(r[2], r[3]),
        _mm512_unpackhi_epi8(r[2], r[3]),
        _mm512_unpacklo_epi8(r[4], r[5]),
        _mm512_unpackhi_epi8(r[4], r[5]),
        _mm512_unpacklo_epi8(r[6], r[7]),
        _mm512_unpackhi_epi8(r[6], r[7]),
        _mm512_unpacklo_epi8(r[8], r[9]),
        _mm512_unpackhi_epi8(r[8], r[9]),
        _mm512_unpacklo_epi8(r[10], r[11]),
        _mm512_unpackhi_epi8(r[10], r[11]),
        _mm512_unpacklo_epi8(r[12], r[13]),
        _mm512_unpackhi_epi8(r[12], r[13]),
        _mm512_unpacklo_epi8(r[14], r[15]),
        _mm512_unpackhi_epi8(r[14], r[15]),
    ];
    // Stage 2: 32-bit units of rows 4q .. 4q+3; b[4q + 2h + h2] holds columns 8h + 4h2 ...
    let b = [
        _mm512_unpacklo_epi16(a[0], a[2]),
        _mm512_unpackhi_epi16(a[0], a[2]),
        _mm512_unpacklo_epi16(a[1], a[3]),
        _mm512_unpackhi_epi16(a[1], a[3]),
        _mm512_unpacklo_epi16(a[4], a[6]),
        _mm512_unpackhi_epi16(a[4], a[6]),
        _mm512_unpacklo_epi16(a[5], a[7]),
        _mm512_unpackhi_epi16(a[5], a[7]),
        _mm512_unpacklo_epi16(a[8], a[10]),
        _mm512_unpackhi_epi16(a[8], a[10]),
        _mm512_unpacklo_epi16(a[9], a[11]),
        _mm512_unpackhi_epi16(a[9], a[11]),
        _mm512_unpacklo_epi16(a[12], a[14]),
        _mm512_unpackhi_epi16(a[12], a[14]),
        _mm512_unpacklo_epi16(a[13], a[15]),
        _mm512_unpackhi_epi16(a[13], a[15]),
    ];
    // Stage 3: 64-bit units of rows 8o .. 8o+7; c[8o + 4h + 2h2 + h3] holds columns 8h + 4h2 + 2h3 ...
    let c = [
        _mm512_unpacklo_epi32(b[0], b[4]),
        _mm512_unpackhi_epi32(b[0], b[4]),
        _mm512_unpacklo_epi32(b[1], b[5]),
        _mm512_unpackhi_epi32(b[1], b[5]),
        _mm512_unpacklo_epi32(b[2], b[6]),
        _mm512_unpackhi_epi32(b[2], b[6]),
        _mm512_unpacklo_epi32(b[3], b[7]),
        _mm512_unpackhi_epi32(b[3], b[7]),
        _mm512_unpacklo_epi32(b[8], b[12]),
        _mm512_unpackhi_epi32(b[8], b[12]),
        _mm512_unpacklo_epi32(b[9], b[13]),
        _mm512_unpackhi_epi32(b[9], b[13]),
        _mm512_unpacklo_epi32(b[10], b[14]),
        _mm512_unpackhi_epi32(b[10], b[14]),
        _mm512_unpacklo_epi32(b[11], b[15]),
        _mm512_unpackhi_epi32(b[11], b[15]),
    ];
    // Stage 4: 128-bit units of all 16 rows; output 8h + 4h2 + 2h3 + h4 is that column.
    [
        _mm512_unpacklo_epi64(c[0], c[8]),
        _mm512_unpackhi_epi64(c[0], c[8]),
        _mm512_unpacklo_epi64(c[1], c[9]),
        _mm512_unpackhi_epi64(c[1], c[9]),
        _mm512_unpacklo_epi64(c[2], c[10]),
        _mm512_unpackhi_epi64(c[2], c[10]),
        _mm512_unpacklo_epi64(c[3], c[11]),
        _mm512_unpackhi_epi64(c[3], c[11]),
        _mm512_unpacklo_epi64(c[4], c[12]),
        _mm512_unpackhi_epi64(c[4], c[12]),
        _mm512_unpacklo_epi64(c[5], c[13]),
        _mm512_unpackhi_epi64(c[5], c[13]),
        _mm512_unpacklo_epi64(c[6], c[14]),
        _mm512_unpackhi_epi64(c[6], c[14]),
        _mm512_unpacklo_epi64(c[7], c[15]),
        _mm512_unpackhi_epi64(c[7], c[15]),
    ]
}

/// Stores the 16 transposed registers: register `c`, lane `L` goes to slot `4·c + L`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn store_bytes(t: &[__m512i; 16], bytes: &mut Aligned<u8>) {
    let dst = bytes.as_mut_slice().as_chunks_mut::<64>().0;
    for (v, dst) in t.iter().zip(dst) {
        // SAFETY: `dst` has 64 writable bytes.
        unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), *v) };
    }
}

/// Per transposed register, the mask of bytes whose bit 7 is clear (sign +1).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn positive_masks(t: &[__m512i; 16]) -> [u64; 16] {
    let mut out = [0u64; 16];
    for (m, v) in out.iter_mut().zip(t) {
        *m = !_mm512_movepi8_mask(*v);
    }
    out
}

/// `N` queries × [`TILE`] keys, accumulated over D, then combined and stored.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline(never)]
fn kernel<const N: usize>(
    scratch: &Scratch,
    blk: &QueryBlock<'_>,
    rows: &mut [&mut [f32]],
    col: usize,
    nk: usize,
) {
    let vals = scratch.vals.as_slice().as_chunks::<TILE>().0;
    let nibs = scratch.nibs.as_slice().as_chunks::<TILE>().0;
    let qp = blk.qp.as_chunks::<N>().0;
    let tables = blk.tables.as_chunks::<TABLE>().0;
    let d = vals.len();
    assert!(qp.len() == d && nibs.len() == d.div_ceil(GROUP) && tables.len() == nibs.len() * N);
    let mut acc = [[_mm512_setzero_ps(); KV]; N];
    let mut sg = [[_mm512_setzero_ps(); KV]; N];
    for (t, sg) in sg.iter_mut().enumerate() {
        *sg = [_mm512_set1_ps(blk.neg_sum[t]); KV];
    }
    // Whole groups of 4 positions, then the last, partial group (its missing positions weigh 0 in the tables).
    let whole = d / GROUP;
    // An opaque trip count keeps the 4 positions of a group a loop: unrolled, the compiler loads all 12 value
    // vectors up front and runs out of registers.
    let group = std::hint::black_box(GROUP);
    for g in 0..whole {
        for i in 0..group {
            fma_position(&mut acc, &vals[GROUP * g + i], &qp[GROUP * g + i]);
        }
        lookup_group(&mut sg, &nibs[g], &tables[g * N..(g + 1) * N]);
    }
    if whole < nibs.len() {
        for k in GROUP * whole..d {
            fma_position(&mut acc, &vals[k], &qp[k]);
        }
        lookup_group(&mut sg, &nibs[whole], &tables[whole * N..(whole + 1) * N]);
    }
    let cg = scratch.cg.as_slice();
    for j in 0..KV {
        let lo = 16 * j;
        if lo >= nk {
            break;
        }
        let count = (nk - lo).min(16);
        // SAFETY: `cg` holds TILE floats.
        let cgv = unsafe { _mm512_loadu_ps(cg.as_ptr().add(lo)) };
        for (t, row) in rows.iter_mut().enumerate().take(N) {
            let res = _mm512_fmadd_ps(sg[t][j], cgv, acc[t][j]);
            let dst = &mut row[col + lo..col + lo + count];
            // SAFETY: `dst` has `count` writable floats and the store mask enables exactly `count` lanes;
            // masked-off lanes are neither written nor faulted on.
            unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), ((1u32 << count) - 1) as u16, res) };
        }
    }
}

/// `sg[t][j] += tables[t][nib[j]]` lane by lane: the QJL weights of one group of 4 positions.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn lookup_group<const N: usize>(
    sg: &mut [[__m512; KV]; N],
    nib: &[u32; TILE],
    tables: &[[f32; TABLE]],
) {
    let mut index = [_mm512_setzero_si512(); KV];
    for (j, index) in index.iter_mut().enumerate() {
        // SAFETY: `nib` is `[u32; TILE]` on a cache line; each 16-lane vector of it is readable and aligned.
        *index = unsafe { _mm512_load_si512(nib.as_ptr().add(16 * j).cast()) };
    }
    for (sg, table) in sg.iter_mut().zip(tables) {
        // SAFETY: `table` is `[f32; 16]`.
        let table = unsafe { _mm512_loadu_ps(table.as_ptr()) };
        for (sg, index) in sg.iter_mut().zip(&index) {
            *sg = _mm512_add_ps(*sg, _mm512_permutexvar_ps(*index, table));
        }
    }
}

/// `acc[t][j] += Qp[t] · values[j]` for one kernel position.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn fma_position<const N: usize>(acc: &mut [[__m512; KV]; N], row: &[f32; TILE], qp: &[f32; N]) {
    let mut v = [_mm512_setzero_ps(); KV];
    for (j, v) in v.iter_mut().enumerate() {
        // SAFETY: `row` is `[f32; TILE]` starting on a cache line (the buffer is line-aligned and a row is 192
        // bytes), so each of its KV 16-float vectors is readable and 64-byte aligned.
        *v = unsafe { _mm512_load_ps(row.as_ptr().add(16 * j)) };
    }
    for (acc, &q) in acc.iter_mut().zip(qp) {
        let q = _mm512_set1_ps(q);
        for (acc, v) in acc.iter_mut().zip(&v) {
            *acc = _mm512_fmadd_ps(q, *v, *acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_order_is_a_permutation_matching_the_slots() {
        for d in [1usize, 37, 64, 100, 128, 256] {
            let order = kernel_order(d);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..d).collect::<Vec<_>>(), "d={d}");
            // In whole blocks, position d0 + j holds the dimension whose slot is j.
            for (k, &dim) in order.iter().enumerate().take(d / DIM_BLOCK * DIM_BLOCK) {
                assert_eq!(slot(dim % DIM_BLOCK), k % DIM_BLOCK);
                assert_eq!(dim / DIM_BLOCK, k / DIM_BLOCK);
            }
        }
        let mut slots: Vec<usize> = (0..64).map(slot).collect();
        slots.sort_unstable();
        assert_eq!(slots, (0..64).collect::<Vec<_>>());
    }

    #[test]
    fn transpose_matches_the_definition() {
        if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")) {
            return;
        }
        let rows: Vec<[u8; 64]> = (0..16)
            .map(|r| std::array::from_fn(|c| (r * 64 + c) as u8 ^ 0x5a))
            .collect();
        // SAFETY: AVX-512F/BW were detected above.
        let out = unsafe { transpose_bytes(&rows) };
        for (col, v) in out.iter().enumerate() {
            for lane in 0..4 {
                for r in 0..16 {
                    assert_eq!(
                        v[16 * lane + r],
                        rows[r][16 * lane + col],
                        "col {col} lane {lane} row {r}"
                    );
                }
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    fn transpose_bytes(rows: &[[u8; 64]]) -> Vec<[u8; 64]> {
        // SAFETY: each row has 64 readable bytes.
        let r: [__m512i; 16] =
            std::array::from_fn(|i| unsafe { _mm512_loadu_si512(rows[i].as_ptr().cast()) });
        transpose(&r)
            .iter()
            .map(|v| {
                let mut out = [0u8; 64];
                // SAFETY: `out` has 64 writable bytes.
                unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), *v) };
                out
            })
            .collect()
    }
}
