//! The AVX-512 path: 16 keys per vector, [`KV`] vectors (48 keys) per tile, queries in blocks of [`QB`].
//! Needs AVX-512F and AVX-512BW only.
//!
//! **Decode** (once per tile, shared by every query): for each group of 16 keys and each block of 64 dimensions,
//! the 16 rows of indices and signs are loaded as bytes, the sign bit is merged into bit 7 of the index byte (for
//! C ≤ 32, whose indices need at most 5 bits), and one 16 × 16 transpose of 32-bit units (64 shuffles,
//! straight-line code) gives, per register, 4 consecutive dimensions of the 16 keys, one key per 32-bit lane,
//! all in registers. Each dimension is one byte of the lane: shifted down to the low byte, `vpermps` (a 16-entry
//! table in a register; `vpermi2ps` for 32) turns it into the codebook value, reading only the index bits; and
//! a shift, a mask and one multiply gather the 4 sign bits of each lane into one number. So a dimension costs one
//! shuffle besides its share of the transpose. For C > 32 indices and signs are transposed separately and the
//! values gathered. Nothing decoded goes through memory before it is final: reloading just-stored vectors in
//! narrower pieces defeats store-to-load forwarding and cost more than the decoding itself. (A first version
//! transposed bytes, which needed 4 shuffles per dimension to widen them: decoding took 20% of a solve at the
//! perf preset, now 16%, by perf.)
//!
//! **Kernel**: for [`QB`] queries × 48 keys, 12 accumulators take `Qp[b,d]·value` by FMA, and 12 take the QJL
//! weights by table lookup: per group of 4 positions, one `vpermps` of the query's 16-entry sign table (see
//! [`super::project`]) by the keys' 4-bit numbers replaces 4 masked adds. Measured on Zen 4 in loops shaped like
//! this kernel (cycles per position, 12 FMAs): FMAs alone 12.1; with the sign term by table lookup 14–15; by
//! merge-masked adds, which do not overlap with the FMAs, 20.7; as 12 more FMAs on 0/1 values, 23. Decoded values
//! are loaded once per position and used by every query of the block; each query weight is broadcast once and
//! used by all three vectors.
//!
//! The kernel visits the dimensions in order ("positions" below are dimensions), so a transposed register holds
//! exactly one group of 4 positions.

use std::arch::x86_64::*;

use super::aligned::Aligned;
use super::project::{Extra, GROUP, Projection, QueryBlock, TABLE};
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
    /// Codebook values, `[D][TILE]`.
    vals: Aligned<f32>,
    /// Sign numbers, `[G][TILE]`: for key `l` and group `g`, bit `i` is set where the key's sign at kernel
    /// position `4g + i` is +1.
    nibs: Aligned<u32>,
    /// `coef · gamma` of the tile's keys, `coef` the projection's scaled `sqrt(pi/2)/D` (0 past the end of the input).
    cg: Aligned<f32>,
}

impl Scratch {
    /// Scratch for dimension `d`.
    pub(crate) fn new(d: usize) -> Self {
        Self {
            vals: Aligned::zeroed(d * TILE),
            nibs: Aligned::zeroed(d.div_ceil(GROUP) * TILE),
            cg: Aligned::zeroed(TILE),
        }
    }
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
    for col in (0..n).step_by(TILE) {
        let nk = TILE.min(n - col);
        decode_tile(inputs, proj, s0 + col, nk, scratch);
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
                        prefetch_t0(row.as_ptr().wrapping_add(key));
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

/// Decodes keys `s0 .. s0 + nk` (`1 ≤ nk ≤ TILE`) into `scratch` with the lookup mode the case's C needs.
#[target_feature(enable = "avx512f,avx512bw")]
fn decode_tile(inputs: &Inputs, proj: &Projection, s0: usize, nk: usize, scratch: &mut Scratch) {
    let (codebook, coef) = (proj.codebook(), proj.qjl_coef());
    match inputs.shape().c {
        0..=16 => decode::<TABLE16>(inputs, codebook, coef, s0, nk, scratch),
        17..=32 => decode::<TABLE32>(inputs, codebook, coef, s0, nk, scratch),
        _ => decode::<GATHER>(inputs, codebook, coef, s0, nk, scratch),
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
    coef: f32,
    s0: usize,
    nk: usize,
    scratch: &mut Scratch,
) {
    let shape = inputs.shape();
    let d = shape.d;
    debug_assert_eq!(codebook.len(), 256);
    debug_assert!(s0 + nk <= shape.s && nk <= TILE);

    let coef = _mm512_set1_ps(coef);
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
            // Transposed indices and signs: register j holds, in 32-bit lane k, the 4 bytes of dimensions
            // d0 + 4j .. d0 + 4j + 3 of key `first + k` (sign in bit 7 of each byte when merged).
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
            // Dimension d0 + 4j + i is byte i of each lane of register j: shifted down, the table lookups read
            // only its low bits (the gather masks it). The columns are unrolled so that every index is a
            // constant and nothing goes through memory.
            macro_rules! column {
                ($j:literal) => {{
                    let position = d0 + 4 * $j;
                    if position < d0 + width {
                        let count = (d0 + width - position).min(GROUP);
                        let bytes = [
                            idx[$j],
                            _mm512_srli_epi32::<8>(idx[$j]),
                            _mm512_srli_epi32::<16>(idx[$j]),
                            _mm512_srli_epi32::<24>(idx[$j]),
                        ];
                        for (i, index) in bytes.into_iter().enumerate().take(count) {
                            store_values(
                                &mut vals[position + i][16 * g..16 * g + 16],
                                lookup::<LOOKUP>(index, &table, codebook),
                            );
                        }
                        let dst = &mut nibs[position / GROUP][16 * g..16 * g + 16];
                        // SAFETY: `dst` has 16 writable u32.
                        unsafe {
                            _mm512_storeu_si512(dst.as_mut_ptr().cast(), positive_nibbles(sgn[$j]))
                        };
                    }
                }};
            }
            unroll16!(column);
        }
    }
}

/// For a transposed register (lane `k` = the 4 bytes of key `k` at 4 consecutive dimensions, sign in bit 7),
/// the 4-bit number per key whose bit `i` is set where that key's sign at the group's dimension `i` is +1.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn positive_nibbles(v: __m512i) -> __m512i {
    // Bit 8i = 1 where bit 7 of byte i is clear (sign +1).
    let bits = _mm512_andnot_si512(_mm512_srli_epi32::<7>(v), _mm512_set1_epi32(0x0101_0101));
    // Multiplying by 2^24 + 2^17 + 2^10 + 2^3 moves bit 8i to bit 24 + i; no two partial products share a
    // bit, so nothing carries into bits 24..27, and nothing reaches bits 28..31.
    _mm512_srli_epi32::<24>(_mm512_mullo_epi32(bits, _mm512_set1_epi32(0x0102_0408)))
}

/// The codebook values of 16 indices, one per 32-bit lane: the low byte of each lane (bits above the table size
/// are ignored by the table lookups; the gather masks them off).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn lookup<const LOOKUP: u8>(index: __m512i, table: &[__m512; 2], codebook: &[f32]) -> __m512 {
    match LOOKUP {
        TABLE16 => _mm512_permutexvar_ps(index, table[0]),
        TABLE32 => _mm512_permutex2var_ps(table[0], index, table[1]),
        // SAFETY: every lane of the masked index is below 256 and `codebook` has 256 floats.
        _ => unsafe {
            _mm512_i32gather_ps::<4>(
                _mm512_and_si512(index, _mm512_set1_epi32(0xff)),
                codebook.as_ptr(),
            )
        },
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

/// Asks for the cache line at `p` to be brought into every level of the cache (`_mm_prefetch` with the T0 hint).
/// Rust 1.89, the oldest toolchain the project supports, declares that intrinsic an unsafe function; later
/// toolchains declare it safe, where the `unsafe` block is unused.
#[inline(always)]
fn prefetch_t0<T>(p: *const T) {
    // SAFETY: a prefetch reads nothing and cannot fault, whatever the address.
    #[allow(unused_unsafe)]
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(p.cast())
    }
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
            // `wrapping_add` keeps the address arithmetic defined.
            prefetch_t0(array.wrapping_add(first * d + 64 * line));
        }
    }
    if part == 0 {
        for key in (first..first + count).step_by(16) {
            prefetch_t0(inputs.gamma.as_ptr().wrapping_add(key));
        }
    }
}

/// Transposes 16 rows of 16 32-bit units (64 bytes each): output `j` holds, in 32-bit lane `k`, unit `j` of row `k`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn transpose(r: &[__m512i; 16]) -> [__m512i; 16] {
    // Straight-line code with constant indices, so that all 16 rows stay in registers.
    // Stage 1, per 128-bit lane L: t[2m] = units 4L, 4L+1 of rows 2m, 2m+1 interleaved; t[2m+1] = units 4L+2, 4L+3.
    let t: [__m512i; 16] = std::array::from_fn(|i| {
        let (a, b) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(a, b)
        } else {
            _mm512_unpackhi_epi32(a, b)
        }
    });
    // Stage 2: u[4m + e] holds, in lane L, unit 4L + e of rows 4m .. 4m+3.
    let u: [__m512i; 16] = std::array::from_fn(|i| {
        let (m, e) = (i / 4, i % 4);
        let (a, b) = (t[4 * m + e / 2], t[4 * m + 2 + e / 2]);
        if e % 2 == 0 {
            _mm512_unpacklo_epi64(a, b)
        } else {
            _mm512_unpackhi_epi64(a, b)
        }
    });
    // Stages 3 and 4: a 4 × 4 transpose of 128-bit lanes among u[e], u[4+e], u[8+e], u[12+e], so that output
    // 4L + e holds lane L of each, rows 0..15 in order.
    let mut out = [_mm512_setzero_si512(); 16];
    for e in 0..4 {
        let v0 = _mm512_shuffle_i32x4::<0x88>(u[e], u[4 + e]);
        let v1 = _mm512_shuffle_i32x4::<0xDD>(u[e], u[4 + e]);
        let v2 = _mm512_shuffle_i32x4::<0x88>(u[8 + e], u[12 + e]);
        let v3 = _mm512_shuffle_i32x4::<0xDD>(u[8 + e], u[12 + e]);
        out[e] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
        out[8 + e] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
        out[4 + e] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
        out[12 + e] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
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

/// Times this path's parts alone, each on operands that stay in the L1 cache: the decoding of one tile, and
/// [`QB`] queries × one tile in [`kernel`]. See [`super::probe`].
pub(crate) struct PartsTimer {
    /// One tile of keys and [`QB`] queries at the probed D and C.
    ops: super::ProbeOperands,
    scratch: Scratch,
}

impl PartsTimer {
    /// The operands for dimension `d` and codebook size `c` (a valid shape's).
    pub(crate) fn new(d: usize, c: usize) -> Self {
        Self {
            ops: super::ProbeOperands::new(QB, TILE, QB, d, c, Extra::SignTables),
            scratch: Scratch::new(d),
        }
    }

    /// Decodes the tile `calls` times, then runs the kernel `kernel_calls` times; seconds per tile decoded, zero
    /// for the store (the kernel writes the rows itself), and seconds per kernel call.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(crate) fn time(&mut self, calls: usize, kernel_calls: usize) -> (f64, f64, f64) {
        let scratch = &mut self.scratch;
        let (inputs, proj, mut rows) = self.ops.split();
        let decode_seconds = super::seconds_per(calls, || {
            decode_tile(std::hint::black_box(inputs), proj, 0, TILE, scratch);
        });
        let blk = proj.blocks().next().expect("one block of queries");
        let kernel_seconds = super::seconds_per(kernel_calls, || {
            kernel::<QB>(std::hint::black_box(&*scratch), &blk, &mut rows, 0, TILE);
        });
        std::hint::black_box(&rows);
        // The kernel writes the rows itself: a tile has no separate store.
        (decode_seconds, 0.0, kernel_seconds)
    }
}

/// The 16 × 16 transpose of 4-byte units against the definition. Errs where this CPU lacks AVX-512F/BW.
pub(crate) fn check_transpose() -> Result<(), String> {
    if !super::Isa::Avx512.is_supported() {
        return Err(super::Isa::Avx512.missing().to_owned());
    }
    let rows: Vec<[u8; 64]> = (0..16)
        .map(|r| std::array::from_fn(|c| (r * 64 + c) as u8 ^ 0x5a))
        .collect();
    // SAFETY: AVX-512F/BW were detected above.
    let out = unsafe { transpose_rows(&rows) };
    for (j, v) in out.iter().enumerate() {
        for k in 0..16 {
            if v[4 * k..4 * k + 4] != rows[k][4 * j..4 * j + 4] {
                return Err(format!(
                    "unit {j} of row {k} is {:?}, not {:?}",
                    &v[4 * k..4 * k + 4],
                    &rows[k][4 * j..4 * j + 4]
                ));
            }
        }
    }
    Ok(())
}

#[target_feature(enable = "avx512f,avx512bw")]
fn transpose_rows(rows: &[[u8; 64]]) -> Vec<[u8; 64]> {
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
