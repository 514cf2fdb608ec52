//! The AVX2+FMA path: queries across the vector lanes, keys broadcast, the way a GEMM micro-kernel for 16 ×
//! `ymm` registers is laid out, and the QJL term by sign tables whose entries are whole rows of queries.
//!
//! **Why this shape.** AVX2 has 16 vector registers and no broadcast operands, so a kernel that puts keys across
//! the lanes (as the AVX-512 path does) pays one broadcast load per query and dimension, and its sign-table
//! lookups need a cross-lane permute per query. With queries across the lanes ([`LANES`] = 16 queries, two
//! vectors) and [`KEYS`] = 6 keys per micro-kernel, a dimension costs 2 vector loads of `Qp` and 6 broadcasts of
//! decoded values for 12 FMAs into 12 accumulators (the classic 6 × 16 shape), and the QJL term of a group of 4
//! dimensions is, per key, one 64-byte row of the lane group's sign table (`T[g][n]`, where `n` is the key's 4
//! sign bits there, see [`super::project`]) added into the same accumulators: 2 adds (2 FMAs by `coef·gamma`
//! in a tile that cannot be folded, below) instead of the 8 FMAs that the signs as 0/1 values would take.
//! Measured on a Zen 3 core in a C loop shaped like this kernel (the best of ten alternated runs, operands in L1
//! and L2): a 96-key tile of 32 queries takes 8.8 µs
//! with the codebook FMAs alone (89 GFLOP/s, about 90% of one core's FMA peak) and 11.4 µs with the sign rows.
//! Whole perf solves on two such cores took 3.0–3.3 ms, against 5.85 ms with the kernel this one replaced (2
//! queries × 16 keys, both terms as FMAs, the signs decoded to 0.0 / 1.0).
//!
//! **One tile** is [`TILE`] consecutive keys. Decoding writes, per key, its codebook values as a row of D'
//! floats (`vpermps` on 8 indices at a time; a gather for C > 16) and, for each group of 4 dimensions, the offset
//! of its sign-table row (one multiply turns 4 sign bytes into the 4-bit number, see [`nibbles`]) beside its
//! `coef·gamma`. The kernel then walks the dimensions in passes of [`PASS_GROUPS`] groups (32 dimensions), so
//! that a pass's codebook values (12 KB), its sign tables (8 KB per lane group) and `Qp` (2 KB) stay in the L1
//! cache together; the accumulators go through a `[TILE][32]` buffer between passes. A last step transposes that
//! buffer into the `[B, S]` output, 8 × 8 floats at a time.
//!
//! The score of query `b` and key `s` is
//!
//! ```text
//! Σ_d Qp[b,d]·codebook[K_idx[s,d]]  +  coef·gamma[s] · ( −Σ_d Qs[b,d]  +  Σ_g T[g][n(s,g)] )
//! ```
//!
//! all in f32, every term added once.
//!
//! **Folded tiles.** Zen 3 (and most x86-64 cores since) add floats on units of their own, beside the two FMA
//! units. So where it is safe ([`Lanes::fold_range`](super::project::Lanes::fold_range)), a tile computes each
//! key's score as
//!
//! ```text
//! c · ( Σ_d Qp[b,d]·(codebook[K_idx[s,d]] / c)  −  Σ_d Qs[b,d]  +  Σ_g T[g][n(s,g)] ),   c = coef·gamma[s]
//! ```
//!
//! Decoding divides the key's codebook values by `c` (it scales the key's 8- or 16-entry table once), the sign
//! rows become plain adds, and the last pass multiplies by `c`: the FMA units do the codebook term alone. Measured
//! on the Zen 3 pair: the lane group's products 4.6–4.9 µs a tile instead of 5.2–5.7 (parts probe, alternated),
//! whole perf solves 3.8–7.6% faster (six runs of 200 alternated pairs of solves on two threads). A tile with a key
//! whose `c` is zero or out of that range adds `c·T` with multiply-adds as before.

use std::arch::x86_64::*;

use super::Isa;
use super::aligned::Aligned;
use super::project::{GROUP, LANES, LaneGroup, Projection, TABLE};
use crate::problem::Inputs;

/// Keys per micro-kernel call (the broadcast side of the 6 × 16 shape).
pub(crate) const KEYS: usize = 6;
/// Keys per tile: 16 micro-kernel calls.
pub(crate) const TILE: usize = 16 * KEYS;
/// Queries per block, for the projection: one lane group.
pub(crate) const QB: usize = LANES;
/// Sign-table groups per pass over the dimensions (32 dimensions).
const PASS_GROUPS: usize = 8;
/// Floats per key in the accumulator buffer: every lane group of the largest B.
const ACC_STRIDE: usize = crate::problem::B_RANGE.1;

const _: () = assert!(ACC_STRIDE.is_multiple_of(LANES) && TABLE == 16 && LANES == 16);

/// Per-task scratch of the AVX2 path.
pub(crate) struct Scratch {
    /// Sign-table groups, `ceil(D / 4)`; the rows of `vals` have `4·groups` dimensions.
    groups: usize,
    /// Codebook values, `[TILE][4·groups]` (zero past D, and for keys past the end of the input).
    vals: Aligned<f32>,
    /// Per key and group, `[TILE][groups][2]`: the float offset `16·n` of the key's sign-table row (`n` its 4
    /// sign bits there), then the bits of its `coef·gamma` (kept beside each offset, so the kernel loads it
    /// inside its loop instead of holding 6 broadcast registers, which spilled).
    /// Keys past the end of the input have zero records (so their `coef·gamma` is 0).
    signs: Aligned<u32>,
    /// Accumulators between passes, `[TILE][ACC_STRIDE]`: key `k`, query `b` at `k·ACC_STRIDE + b`.
    acc: Aligned<f32>,
    /// Whether the decoded tile has its `coef·gamma` folded out (see [`decode`]).
    folded: bool,
    /// Per key, `[TILE]`: its `coef·gamma`, which the last pass of a folded tile multiplies the key's sums by.
    scale: Aligned<f32>,
}

impl Scratch {
    /// Scratch for dimension `d`.
    pub(crate) fn new(d: usize) -> Self {
        let groups = d.div_ceil(GROUP);
        Self {
            groups,
            vals: Aligned::zeroed(TILE * groups * GROUP),
            signs: Aligned::zeroed(TILE * groups * 2),
            acc: Aligned::zeroed(TILE * ACC_STRIDE),
            folded: false,
            scale: Aligned::zeroed(TILE),
        }
    }

    /// Dimensions of a row of `vals`: D rounded up to whole sign-table groups.
    fn dims(&self) -> usize {
        self.groups * GROUP
    }
}

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
    let lanes = proj
        .lanes()
        .expect("the AVX2 path's projection has the lane layout");
    let shape = inputs.shape();
    assert_eq!(rows.len(), shape.b);
    assert_eq!(scratch.groups, shape.d.div_ceil(GROUP));
    assert_eq!(lanes.table_groups(), scratch.groups);
    let n = rows.first().map_or(0, |r| r.len());
    for col in (0..n).step_by(TILE) {
        let nk = TILE.min(n - col);
        // Decoding also asks for the next tile's rows (see `decode`).
        let ahead = TILE.min(n.saturating_sub(col + nk));
        decode(scratch, inputs, proj, s0 + col, nk, ahead);
        products(scratch, proj, 0..lanes.groups(), nk);
        store(&scratch.acc, rows, col, nk);
    }
}

/// The decoded tile's first `nk` keys × lane groups `hs` over every dimension, into the accumulator buffer: pass by
/// pass over the dimensions, each pass for every lane group in `hs`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn products(scratch: &mut Scratch, proj: &Projection, hs: std::ops::Range<usize>, nk: usize) {
    assert!(nk <= TILE);
    let calls = nk.div_ceil(KEYS);
    for g0 in (0..scratch.groups).step_by(PASS_GROUPS) {
        let g1 = scratch.groups.min(g0 + PASS_GROUPS);
        for h in hs.clone() {
            let pass = Pass::new(scratch, proj.lane_group(h), h, g0..g1);
            for call in 0..calls {
                // SAFETY: `Pass::new` checked every buffer against `TILE` keys and the group range, and
                // `call·KEYS + KEYS ≤ calls·KEYS ≤ TILE` (TILE is a multiple of KEYS).
                unsafe {
                    if scratch.folded {
                        pass.kernel::<true>(call * KEYS);
                    } else {
                        pass.kernel::<false>(call * KEYS);
                    }
                }
            }
        }
    }
}

/// Asks for the index and sign rows of keys `first .. first + keys` to be brought into the L2 cache. Measured on
/// one thread of the Zen 3 pair (perf preset, alternated runs): 8.4–8.6 ms against 9.5–9.6 while the machine's
/// memory was slow, no difference (5.7–5.8 ms) while it was fast. [`decode`] issues them a key at a time.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn prefetch_keys(inputs: &Inputs, first: usize, keys: usize) {
    let d = inputs.shape().d;
    let (start, end) = (first * d, ((first + keys) * d).min(inputs.k_idx.len()));
    for at in (start..end).step_by(64) {
        // SAFETY: `at < end ≤ len` of both arrays (they have the same length, S·D); a prefetch reads nothing.
        unsafe {
            _mm_prefetch::<_MM_HINT_T1>(inputs.k_idx.as_ptr().add(at).cast());
            _mm_prefetch::<_MM_HINT_T1>(inputs.qjl_signs.as_ptr().add(at).cast());
        }
    }
}

/// Codebook lookup modes: one 8-entry table (C ≤ 8), two and a blend (C ≤ 16), or a gather.
const TABLE8: u8 = 0;
const TABLE16: u8 = 1;
const GATHER: u8 = 2;

/// Decodes keys `s0 .. s0 + nk` (`1 ≤ nk ≤ TILE`) into the scratch.
///
/// Where every key's `c = coef·gamma` lies in the projection's
/// [`Lanes::fold_range`](super::project::Lanes::fold_range), the tile is *folded*: each key's codebook values
/// are stored divided by its `c` (the key's 8- or 16-entry table is scaled once, so the division costs nothing
/// per value), the kernel adds the sign-table rows as they are (an add on the FP adders instead of a multiply-add
/// on the FMA units, which the codebook term keeps busy), and the last pass multiplies each key's sums by its
/// `c`. Elsewhere (a zero `gamma`, or magnitudes for which the division could overflow) the tile multiplies each
/// row by `c` as it adds it.
///
/// Beside key `s0 + k` it asks for the rows of key `s0 + nk + k` (for `k < ahead`, `ahead ≤ nk`), so the next
/// tile's inputs travel towards the L2 cache while this one decodes and computes. Issued as one loop of 384
/// prefetches before the tile's products (perf preset), they had held the core for 0.5 µs a tile (of about 15);
/// spread over the decoding, they cost nothing that cycle counters could see, and whole perf solves were 2.2–4.2%
/// faster (three runs of 200 alternated pairs of solves on two threads, 4 input sets).
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
fn decode(
    scratch: &mut Scratch,
    inputs: &Inputs,
    proj: &Projection,
    s0: usize,
    nk: usize,
    ahead: usize,
) {
    assert!(ahead <= nk);
    let coef = proj.qjl_coef();
    let (lo, hi) = proj
        .lanes()
        .expect("the AVX2 path's projection has the lane layout")
        .fold_range();
    let scale = &mut scratch.scale.as_mut_slice()[..nk];
    for (c, &g) in scale.iter_mut().zip(&inputs.gamma[s0..s0 + nk]) {
        *c = coef * g;
    }
    scratch.folded = scale.iter().all(|c| (lo..=hi).contains(c));
    let codebook = proj.codebook();
    match inputs.shape().c {
        0..=8 => decode_keys::<TABLE8>(scratch, inputs, codebook, s0, nk, ahead),
        9..=16 => decode_keys::<TABLE16>(scratch, inputs, codebook, s0, nk, ahead),
        _ => decode_keys::<GATHER>(scratch, inputs, codebook, s0, nk, ahead),
    }
}

#[target_feature(enable = "avx2,fma")]
#[inline]
fn decode_keys<const LOOKUP: u8>(
    scratch: &mut Scratch,
    inputs: &Inputs,
    codebook: &[f32],
    s0: usize,
    nk: usize,
    ahead: usize,
) {
    let shape = inputs.shape();
    let d = shape.d;
    assert!((1..=TILE).contains(&nk) && (s0 + nk) * d <= inputs.k_idx.len());
    let table: &[f32; 256] = codebook
        .try_into()
        .expect("the projection pads the codebook to 256 entries");
    // SAFETY: the table has 256 floats, so offsets 0 and 8 have 8 readable floats each.
    let tables = unsafe {
        [
            _mm256_loadu_ps(table.as_ptr()),
            _mm256_loadu_ps(table.as_ptr().add(8)),
        ]
    };
    let (dims, groups, folded) = (scratch.dims(), scratch.groups, scratch.folded);
    let vals = scratch.vals.as_mut_slice();
    let records = scratch.signs.as_mut_slice();
    // Each key's `coef·gamma` (`decode` set them).
    let scale = &scratch.scale.as_slice()[..nk];
    let whole8 = d / 8 * 8;
    let whole32 = d / 32 * 32;
    // What each key's codebook values are multiplied by (1/c in a folded tile), in a loop of its own: the
    // divisions' latency then overlaps, instead of heading each key's decoding (perf solves about 1% faster:
    // 0.986–0.997 of the time in six runs of 200 alternated pairs on two threads).
    let mut inv = [1.0f32; TILE];
    if folded {
        for (i, &c) in inv.iter_mut().zip(scale) {
            *i = 1.0 / c;
        }
    }
    for k in 0..nk {
        let s = s0 + k;
        if k < ahead {
            prefetch_keys(inputs, s + nk, 1);
        }
        let cg_bits = scale[k].to_bits();
        let inv = inv[k];
        let inv_v = _mm256_set1_ps(inv);
        let tables = [
            _mm256_mul_ps(tables[0], inv_v),
            _mm256_mul_ps(tables[1], inv_v),
        ];
        let idx = &inputs.k_idx[s * d..(s + 1) * d];
        let signs = &inputs.qjl_signs[s * d..(s + 1) * d];
        let row = &mut vals[k * dims..(k + 1) * dims];
        for d0 in (0..whole8).step_by(8) {
            // SAFETY: `d0 + 8 ≤ d`, so 8 bytes of `idx` and 8 floats of `row` are in bounds.
            unsafe {
                let i = _mm256_cvtepu8_epi32(_mm_loadl_epi64(idx.as_ptr().add(d0).cast()));
                _mm256_storeu_ps(
                    row.as_mut_ptr().add(d0),
                    lookup::<LOOKUP>(i, &tables, table, inv_v),
                );
            }
        }
        for (v, &i) in row[whole8..d].iter_mut().zip(&idx[whole8..]) {
            *v = table[usize::from(i)] * inv;
        }
        let rec = &mut records[k * groups * 2..(k + 1) * groups * 2];
        for d0 in (0..whole32).step_by(32) {
            // SAFETY: `d0 + 32 ≤ d`, so 32 sign bytes are in bounds; the 8 records of groups `d0/4 .. d0/4 + 8`
            // are 16 u32 inside `rec` (`groups ≥ d/4`).
            unsafe {
                let n = nibbles(_mm256_loadu_si256(signs.as_ptr().add(d0).cast()));
                // Lanes (groups) 0,1,4,5 | 2,3,6,7, so that the in-lane unpacks below interleave offsets and
                // coefficients in group order.
                let off = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_slli_epi32::<4>(n));
                let c = _mm256_set1_epi32(cg_bits as i32);
                let dst = rec.as_mut_ptr().add(d0 / GROUP * 2);
                _mm256_storeu_si256(dst.cast(), _mm256_unpacklo_epi32(off, c));
                _mm256_storeu_si256(dst.add(8).cast(), _mm256_unpackhi_epi32(off, c));
            }
        }
        for (g, r) in rec.chunks_exact_mut(2).enumerate().skip(whole32 / GROUP) {
            let n = (0..GROUP)
                .filter(|&i| GROUP * g + i < d && signs[GROUP * g + i] > 0)
                .fold(0u32, |n, i| n | 1 << i);
            r[0] = n * 16;
            r[1] = cg_bits;
        }
    }
    // The last micro-kernel call of a short tile reads up to KEYS − 1 keys past `nk`: make them zeros.
    let padded = (nk.div_ceil(KEYS) * KEYS).min(TILE);
    if padded > nk {
        vals[nk * dims..padded * dims].fill(0.0);
        records[nk * groups * 2..padded * groups * 2].fill(0);
    }
}

/// The 4-bit sign numbers of 8 groups of 4 dimensions, from 32 sign bytes (±1): lane `j` gets
/// `Σ_i [sign of dimension 4j+i is +1] << i`. A byte is `0x01` for +1 and `0xFF` for −1, so bit 1 of its
/// complement is the "+1" bit; a multiply by `0x01020408` then gathers the four bytes' bits into bits 24–27
/// (no other partial product reaches them: those of a higher byte by a lower multiplier overflow past bit 31,
/// the others land on distinct bits below 20).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn nibbles(signs: __m256i) -> __m256i {
    let plus = _mm256_and_si256(
        _mm256_srli_epi32::<1>(_mm256_xor_si256(signs, _mm256_set1_epi8(-1))),
        _mm256_set1_epi32(0x0101_0101),
    );
    _mm256_srli_epi32::<24>(_mm256_mullo_epi32(plus, _mm256_set1_epi32(0x0102_0408)))
}

/// The codebook values of 8 indices, one per 32-bit lane, times `scale`: `tables` are the codebook's first 16
/// entries already multiplied by it; a gather reads `codebook` and multiplies.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lookup<const LOOKUP: u8>(
    index: __m256i,
    tables: &[__m256; 2],
    codebook: &[f32; 256],
    scale: __m256,
) -> __m256 {
    match LOOKUP {
        TABLE8 => _mm256_permutevar8x32_ps(tables[0], index),
        TABLE16 => {
            let lo = _mm256_permutevar8x32_ps(tables[0], index);
            let hi = _mm256_permutevar8x32_ps(tables[1], index);
            // Bit 3 of the index picks the table: move it to the sign bit, which `blendv` reads.
            _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32::<28>(index)))
        }
        // SAFETY: every lane of `index` is a zero-extended byte (< 256) and `codebook` has 256 floats.
        _ => unsafe { _mm256_mul_ps(_mm256_i32gather_ps::<4>(codebook.as_ptr(), index), scale) },
    }
}

/// One pass of the micro-kernel over groups `g0 .. g1` for one lane group, as raw pointers checked once.
struct Pass {
    /// `Qp` of the lane group, at dimension `4·g0`; `[·][LANES]`.
    qp: *const f32,
    /// Sign tables of the lane group, at group `g0`; `[·][TABLE][LANES]`.
    tables: *const f32,
    /// `−Σ_d Qs` of the lane group.
    neg_sum: *const f32,
    /// Codebook values, at dimension `4·g0` of key 0; rows of `dims`.
    vals: *const f32,
    /// Sign-table records (offset, `coef·gamma`), at group `g0` of key 0; rows of `2·groups`.
    signs: *const u32,
    /// Accumulators, at the lane group's first query of key 0; rows of `ACC_STRIDE`.
    acc: *mut f32,
    /// Per key, what the last pass multiplies the sums by (`[TILE]`).
    scale: *const f32,
    dims: usize,
    groups: usize,
    /// Groups in this pass.
    count: usize,
    /// Whether this is the first pass (group 0 onwards), which starts the accumulators.
    first: bool,
    /// Whether this is the last pass (up to the last group), which scales the sums of a folded tile.
    last: bool,
}

impl Pass {
    /// Checks the bounds that [`Pass::kernel`] relies on.
    fn new(s: &mut Scratch, lanes: LaneGroup<'_>, h: usize, g: std::ops::Range<usize>) -> Self {
        assert!(g.start < g.end && g.end <= s.groups);
        let dims = s.dims();
        assert!(lanes.qp.len() >= dims * LANES && lanes.tables.len() >= s.groups * TABLE * LANES);
        assert!(
            s.vals.as_slice().len() >= TILE * dims
                && s.signs.as_slice().len() >= TILE * s.groups * 2
        );
        assert!((h + 1) * LANES <= ACC_STRIDE);
        assert!(s.acc.as_slice().len() >= TILE * ACC_STRIDE && s.scale.as_slice().len() >= TILE);
        Self {
            qp: lanes.qp[g.start * GROUP * LANES..].as_ptr(),
            tables: lanes.tables[g.start * TABLE * LANES..].as_ptr(),
            neg_sum: lanes.neg_sum.as_ptr(),
            vals: s.vals.as_slice()[g.start * GROUP..].as_ptr(),
            signs: s.signs.as_slice()[g.start * 2..].as_ptr(),
            acc: s.acc.as_mut_slice()[h * LANES..].as_mut_ptr(),
            scale: s.scale.as_slice().as_ptr(),
            dims,
            groups: s.groups,
            count: g.len(),
            first: g.start == 0,
            last: g.end == s.groups,
        }
    }

    /// Keys `k0 .. k0 + KEYS` × the lane group's 16 queries over this pass's groups, into the accumulators.
    /// Unfolded (`FOLDED` false), the first pass starts them at `coef·gamma·(−Σ Qs)` and each sign-table row is
    /// multiplied by `coef·gamma` as it is added. Folded (see [`decode`]), the first pass starts them at `−Σ Qs`,
    /// the rows are added as they are, and the last pass multiplies the sums by the key's scale (its
    /// `coef·gamma`).
    ///
    /// # Safety
    /// AVX2 and FMA must be available, and `k0 + KEYS ≤ TILE`; `Pass::new` checked the rest.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn kernel<const FOLDED: bool>(&self, k0: usize) {
        // SAFETY (whole body): every pointer below stays inside the buffer `Pass::new` checked: keys
        // `k0 .. k0 + KEYS ≤ TILE`, dimensions `4·g0 .. 4·g1 ≤ dims`, groups `g0 .. g1 ≤ groups`, sign-table
        // offsets `16·n` with `n < 16`, and queries `16h .. 16h + 16 ≤ ACC_STRIDE`.
        unsafe {
            let vals = self.vals.add(k0 * self.dims);
            let signs = self.signs.add(k0 * self.groups * 2);
            let mut acc = [[_mm256_setzero_ps(); 2]; KEYS];
            for (k, a) in acc.iter_mut().enumerate() {
                if self.first && FOLDED {
                    a[0] = _mm256_loadu_ps(self.neg_sum);
                    a[1] = _mm256_loadu_ps(self.neg_sum.add(8));
                } else if self.first {
                    // The first pass's records start at group 0, whose second word is the key's `coef·gamma`.
                    let cg =
                        _mm256_broadcast_ss(&*signs.add(k * self.groups * 2 + 1).cast::<f32>());
                    a[0] = _mm256_mul_ps(cg, _mm256_loadu_ps(self.neg_sum));
                    a[1] = _mm256_mul_ps(cg, _mm256_loadu_ps(self.neg_sum.add(8)));
                } else {
                    let row = self.acc.add((k0 + k) * ACC_STRIDE);
                    a[0] = _mm256_loadu_ps(row);
                    a[1] = _mm256_loadu_ps(row.add(8));
                }
            }
            for g in 0..self.count {
                for i in 0..GROUP {
                    let dim = g * GROUP + i;
                    let q = self.qp.add(dim * LANES);
                    let (q0, q1) = (_mm256_loadu_ps(q), _mm256_loadu_ps(q.add(8)));
                    for (k, a) in acc.iter_mut().enumerate() {
                        let v = _mm256_broadcast_ss(&*vals.add(k * self.dims + dim));
                        a[0] = _mm256_fmadd_ps(q0, v, a[0]);
                        a[1] = _mm256_fmadd_ps(q1, v, a[1]);
                    }
                }
                let table = self.tables.add(g * TABLE * LANES);
                for (k, a) in acc.iter_mut().enumerate() {
                    let rec = signs.add((k * self.groups + g) * 2);
                    let row = table.add(*rec as usize);
                    if FOLDED {
                        a[0] = _mm256_add_ps(a[0], _mm256_loadu_ps(row));
                        a[1] = _mm256_add_ps(a[1], _mm256_loadu_ps(row.add(8)));
                    } else {
                        let cg = _mm256_broadcast_ss(&*rec.add(1).cast::<f32>());
                        a[0] = _mm256_fmadd_ps(cg, _mm256_loadu_ps(row), a[0]);
                        a[1] = _mm256_fmadd_ps(cg, _mm256_loadu_ps(row.add(8)), a[1]);
                    }
                }
            }
            if FOLDED && self.last {
                for (k, a) in acc.iter_mut().enumerate() {
                    let c = _mm256_broadcast_ss(&*self.scale.add(k0 + k));
                    a[0] = _mm256_mul_ps(a[0], c);
                    a[1] = _mm256_mul_ps(a[1], c);
                }
            }
            for (k, a) in acc.iter().enumerate() {
                let row = self.acc.add((k0 + k) * ACC_STRIDE);
                _mm256_storeu_ps(row, a[0]);
                _mm256_storeu_ps(row.add(8), a[1]);
            }
        }
    }
}

/// Writes the accumulators of keys `0 .. nk` (`[TILE][ACC_STRIDE]`, key-major) into columns `col .. col + nk`
/// of every row (query-major): 8 × 8 transposes where whole, element by element at the edges.
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
fn store(acc: &Aligned<f32>, rows: &mut [&mut [f32]], col: usize, nk: usize) {
    let acc = acc.as_slice();
    let b = rows.len();
    assert!(b <= ACC_STRIDE && nk <= TILE && acc.len() >= TILE * ACC_STRIDE);
    assert!(rows.iter().all(|r| r.len() >= col + nk));
    let (kw, bw) = (nk / 8 * 8, b / 8 * 8);
    // Eight rows at a time, each written along the whole tile before the next eight: at the perf shape the rows
    // lie 128 KB apart, so the same columns of every row fall in one set of the L1 and L2 caches, and the 32 rows'
    // lines would evict one another between the two halves of each line that a key-first order writes. Measured
    // in whole solves (perf preset, two threads of the Zen 3 pair, 100 alternated solves, 4 input sets): 4.8–8.6%
    // faster than keys first; a tile's store 1.9–2.2 µs instead of 3.6–3.7.
    for b0 in (0..bw).step_by(8) {
        for k0 in (0..kw).step_by(8) {
            // SAFETY: `k0 + 8 ≤ nk ≤ TILE` and `b0 + 8 ≤ b ≤ ACC_STRIDE`, so the 8 loads read inside `acc`;
            // every row has at least `col + nk` floats (checked above), so the 8 stores write inside them.
            unsafe {
                let r: [__m256; 8] = std::array::from_fn(|i| {
                    _mm256_loadu_ps(acc.as_ptr().add((k0 + i) * ACC_STRIDE + b0))
                });
                let t = transpose8(r);
                for (i, v) in t.into_iter().enumerate() {
                    _mm256_storeu_ps(rows[b0 + i].as_mut_ptr().add(col + k0), v);
                }
            }
        }
    }
    for (t, row) in rows.iter_mut().enumerate() {
        let ks = if t < bw { kw..nk } else { 0..nk };
        for k in ks {
            row[col + k] = acc[k * ACC_STRIDE + t];
        }
    }
}

/// Transposes 8 rows of 8 floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let a = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let b = [
        _mm256_shuffle_ps::<0x44>(a[0], a[2]),
        _mm256_shuffle_ps::<0xEE>(a[0], a[2]),
        _mm256_shuffle_ps::<0x44>(a[1], a[3]),
        _mm256_shuffle_ps::<0xEE>(a[1], a[3]),
        _mm256_shuffle_ps::<0x44>(a[4], a[6]),
        _mm256_shuffle_ps::<0xEE>(a[4], a[6]),
        _mm256_shuffle_ps::<0x44>(a[5], a[7]),
        _mm256_shuffle_ps::<0xEE>(a[5], a[7]),
    ];
    [
        _mm256_permute2f128_ps::<0x20>(b[0], b[4]),
        _mm256_permute2f128_ps::<0x20>(b[1], b[5]),
        _mm256_permute2f128_ps::<0x20>(b[2], b[6]),
        _mm256_permute2f128_ps::<0x20>(b[3], b[7]),
        _mm256_permute2f128_ps::<0x31>(b[0], b[4]),
        _mm256_permute2f128_ps::<0x31>(b[1], b[5]),
        _mm256_permute2f128_ps::<0x31>(b[2], b[6]),
        _mm256_permute2f128_ps::<0x31>(b[3], b[7]),
    ]
}

/// Times this path's parts alone, on one thread, on a tile whose operands stay in the L1 and L2 caches as a
/// solve's do: decoding a tile's keys, writing its scores from the accumulator buffer into the `[B, S]` rows, and
/// [`products`] for one lane group over every dimension. See [`super::probe`].
pub(crate) struct PartsTimer {
    /// One tile of keys and B queries at the probed shape's B, D and C.
    ops: super::ProbeOperands,
    scratch: Scratch,
}

impl PartsTimer {
    /// The operands for `b` queries, dimension `d` and codebook size `c` (a valid shape's).
    pub(crate) fn new(b: usize, d: usize, c: usize) -> Self {
        Self {
            ops: super::ProbeOperands::new(b, TILE, QB, d, c, super::Extra::Lanes),
            scratch: Scratch::new(d),
        }
    }

    /// Decodes the tile `calls` times, moves its scores into the rows `calls` times, then runs the products of
    /// one lane group `kernel_calls` times; seconds per tile decoded, per tile stored and per lane group's
    /// products.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn time(&mut self, calls: usize, kernel_calls: usize) -> (f64, f64, f64) {
        let scratch = &mut self.scratch;
        let (inputs, proj, mut rows) = self.ops.split();
        let decode_seconds = super::seconds_per(calls, || {
            decode(scratch, std::hint::black_box(inputs), proj, 0, TILE, 0);
        });
        assert!(
            scratch.folded,
            "the probe's operands make folded tiles, the kind a solve's ordinary keys make"
        );
        let store_seconds = super::seconds_per(calls, || {
            store(std::hint::black_box(&scratch.acc), &mut rows, 0, TILE);
        });
        let kernel_seconds = super::seconds_per(kernel_calls, || {
            products(std::hint::black_box(&mut *scratch), proj, 0..1, TILE);
        });
        std::hint::black_box(&rows);
        (decode_seconds, store_seconds, kernel_seconds)
    }
}

/// [`nibbles`] against its definition: every 4-bit pattern in every group position, among all-minus and all-plus
/// neighbours. Errs where this CPU lacks AVX2 and FMA.
pub(crate) fn check_nibbles() -> Result<(), String> {
    if !Isa::Avx2.is_supported() {
        return Err(Isa::Avx2.missing().to_owned());
    }
    for n in 0u32..16 {
        for at in 0..8 {
            for fill in [-1i8, 1] {
                let mut signs = [fill; 32];
                for i in 0..4 {
                    signs[4 * at + i] = if n >> i & 1 == 1 { 1 } else { -1 };
                }
                let mut out = [0u32; 8];
                // SAFETY: AVX2 and FMA are available (checked above); 32 bytes in, 8 u32 out.
                unsafe {
                    let v = _mm256_loadu_si256(signs.as_ptr().cast());
                    _mm256_storeu_si256(out.as_mut_ptr().cast(), nibbles(v));
                }
                for (g, &got) in out.iter().enumerate() {
                    let want = (0..4)
                        .filter(|&i| signs[4 * g + i] > 0)
                        .fold(0, |m, i| m | 1 << i);
                    if got != want {
                        return Err(format!(
                            "pattern {n:04b} at group {at}, fill {fill}: group {g} is {got:04b}, not {want:04b}"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// [`transpose8`] against the definition. Errs where this CPU lacks AVX2 and FMA.
pub(crate) fn check_transpose8() -> Result<(), String> {
    if !Isa::Avx2.is_supported() {
        return Err(Isa::Avx2.missing().to_owned());
    }
    let m: Vec<[f32; 8]> = (0..8)
        .map(|i| std::array::from_fn(|j| (10 * i + j) as f32))
        .collect();
    // SAFETY: AVX2 and FMA are available (checked above); each row has 8 floats.
    let out = unsafe {
        let r = std::array::from_fn(|i| _mm256_loadu_ps(m[i].as_ptr()));
        transpose8(r).map(|v| {
            let mut o = [0.0f32; 8];
            _mm256_storeu_ps(o.as_mut_ptr(), v);
            o
        })
    };
    for (i, row) in out.iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            if x != m[j][i] {
                return Err(format!("out[{i}][{j}] is {x}, not {}", m[j][i]));
            }
        }
    }
    Ok(())
}
