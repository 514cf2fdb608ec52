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
//!
//! The AVX2 kernel puts queries, not keys, across the vector lanes, and asks for a layout of its own
//! ([`Lanes`]): queries in groups of [`LANES`] padded with zeros, `Qp` as `[D'][LANES]` per group (D' = D rounded
//! up to a whole sign-table group, the extra dimensions zero), and the sign tables turned the other way,
//! `[G][16][LANES]`, so that one table entry of all the group's queries is one contiguous row of 64 bytes.
//!
//! **Scales.** The reduced form multiplies `Q` by `Pi` and by `S_mat` before any key is seen, so its sums can
//! leave f32's range where the literal form's do not: queries of 1e37 against a rotation (the scores still fit),
//! or `Q·S_matᵀ` beyond 3.4e38 where `gamma` is 0 or tiny (the QJL term then is small or nothing). Where the
//! sums of `|Qp|` or `|Qs|` over the dimensions pass [`SUM_LIMIT`], the projection is made again from `Pi` or
//! `S_mat` scaled down by a power of two, exactly, and the codebook or the QJL coefficient
//! ([`Projection::qjl_coef`]) scaled up by it, so every product and score stays the same. Ordinary inputs are
//! never scaled.

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
    /// `−Σ_d Qs[b,d]`, `[B]` followed by zeros up to a whole number of [`LANES`].
    neg_sum: Aligned<f32>,
    /// The codebook followed by zeros, 256 entries, so any `u8` index is in bounds; multiplied by the power of
    /// two that `Pi` was divided by (see the module docs' scales; 1 for ordinary inputs).
    codebook: Aligned<f32>,
    /// `sqrt(pi/2)/D` multiplied by the power of two that `S_mat` was divided by (1 for ordinary inputs).
    qjl_coef: f32,
    /// `Qᵀ`, `[D][MAX_B]`, zero past B (scratch).
    qt: Aligned<f32>,
    /// Sign tables `[B·G·16]` in blocked order (block `i`: `[G][len][16]`), when the kernel uses them.
    tables: Option<Aligned<f32>>,
    /// The queries-across-lanes layout, when the kernel uses it.
    lanes: Option<Lanes>,
}

/// What a kernel needs beyond the blocked `Qp`, `2·Qs` and `−Σ Qs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra {
    /// Nothing more.
    None,
    /// Sign tables per query, `[G][16]` (the AVX-512 kernel).
    SignTables,
    /// The queries-across-lanes layout, [`Lanes`] (the AVX2 kernel).
    Lanes,
}

/// Queries per lane group of [`Lanes`]: two 8-lane vectors.
pub(crate) const LANES: usize = 16;

const _: () = assert!(
    MAX_B.is_multiple_of(LANES),
    "lane groups tile the largest B"
);

/// The projected queries with queries across the vector lanes, in groups of [`LANES`] (the last group padded
/// with zero queries).
pub(crate) struct Lanes {
    /// Lane groups, `ceil(B / LANES)`.
    groups: usize,
    /// Sign-table groups, `ceil(D / 4)`.
    table_groups: usize,
    /// `Qp`, `[groups][4·table_groups][LANES]`; zero past B and past D.
    qp: Aligned<f32>,
    /// Sign tables, `[groups][table_groups][TABLE][LANES]`: entry `n` of group `g` is
    /// `Σ_{i : bit i of n} 2·Qs[b, 4g+i]` for each query `b` of the lane group (so entry `1 << i` is the weight of
    /// dimension `4g+i` itself).
    tables: Aligned<f32>,
    /// The `coef·gamma` range in which the kernel may fold a key's `coef·gamma` out of its sum (see
    /// [`Lanes::fold_range`]); empty (`lo > hi`) where no key may.
    fold: (f32, f32),
}

/// One lane group of [`Lanes`].
// The queries-across-lanes layout is the AVX2 kernel's alone.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct LaneGroup<'a> {
    /// `Qp`, `[4·G][LANES]`.
    pub(crate) qp: &'a [f32],
    /// Sign tables, `[G][TABLE][LANES]`.
    pub(crate) tables: &'a [f32],
    /// `−Σ_d Qs`, `[LANES]`.
    pub(crate) neg_sum: &'a [f32; LANES],
}

// The queries-across-lanes layout is the AVX2 kernel's alone.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl Lanes {
    fn new(b: usize, d: usize) -> Self {
        let (groups, table_groups) = (b.div_ceil(LANES), d.div_ceil(GROUP));
        let dims = table_groups * GROUP;
        Self {
            groups,
            table_groups,
            qp: Aligned::zeroed(groups * dims * LANES),
            tables: Aligned::zeroed(groups * table_groups * TABLE * LANES),
            fold: (1.0, 0.0),
        }
    }

    /// The `coef·gamma` values `c` for which the kernel may sum a key's score as `c·(Σ_d Qp·(v/c) + QJL sum)`
    /// instead of `Σ_d Qp·v + c·(QJL sum)`, with no overflow and no product of the codebook term pushed towards
    /// the subnormal range: `c` in `[lo, hi]`, where
    ///
    /// - `lo = max_b Σ_d |Qp[b,d]| · max|codebook| · 2⁻¹⁰⁰` (so the scaled codebook term stays below 2¹⁰⁰),
    /// - `hi = max|Qp| · min|nonzero codebook entry| · 2⁶⁰` (so its largest products stay above 2⁻⁶⁰),
    ///
    /// both within `[2⁻¹⁰⁰, 2¹⁰⁰]`, and with every scaled codebook value `v/c` (a stored f32) within
    /// `[2⁻¹⁰⁰, 2¹⁰⁰]` in magnitude: `lo ≥ max|codebook| · 2⁻¹⁰⁰`, `hi ≤ min|nonzero codebook entry| · 2¹⁰⁰`. Empty (`lo > hi`) where `Qp` or the codebook is all zeros, or non-finite.
    /// Worked out by [`Projection::compute`] once every dimension of `Qp` is set.
    pub(crate) fn fold_range(&self) -> (f32, f32) {
        self.fold
    }

    /// Lane groups, `ceil(B / LANES)`.
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// Sign-table groups, `ceil(D / 4)`.
    pub(crate) fn table_groups(&self) -> usize {
        self.table_groups
    }

    /// Stores dimension `dim` of `Qp` and `Qs` (`[MAX_B]` each, zero past B): `Qp` in its rows, `2·Qs` in the
    /// single-bit entries of the sign tables.
    #[inline(always)]
    fn set_dim(&mut self, dim: usize, qp: &[f32; MAX_B], qs: &[f32; MAX_B]) {
        let dims = self.table_groups * GROUP;
        let (g, bit) = (dim / GROUP, 1 << (dim % GROUP));
        let qp_rows = self.qp.as_mut_slice().as_chunks_mut::<LANES>().0;
        let entries = self.tables.as_mut_slice().as_chunks_mut::<LANES>().0;
        // MAX_B is a multiple of LANES, so every lane group has LANES entries; past B they are zero.
        for (h, (q, s)) in qp
            .as_chunks::<LANES>()
            .0
            .iter()
            .zip(qs.as_chunks::<LANES>().0)
            .enumerate()
        {
            if h == self.groups {
                break;
            }
            qp_rows[h * dims + dim] = *q;
            entries[(h * self.table_groups + g) * TABLE + bit] = s.map(|x| 2.0 * x);
        }
    }

    /// Fills the sign tables from their single-bit entries, and works out [`Lanes::fold_range`] for `codebook`,
    /// once every dimension is set.
    #[inline(always)]
    fn finish(&mut self, codebook: &[f32]) {
        let dims = self.table_groups * GROUP;
        let (mut row_sum, mut max) = (0.0f32, 0.0f32);
        for group in self.qp.as_slice().chunks_exact(dims * LANES) {
            let mut sums = [0.0f32; LANES];
            for row in group.as_chunks::<LANES>().0 {
                for (sum, x) in sums.iter_mut().zip(row) {
                    *sum += x.abs();
                    max = max.max(x.abs());
                }
            }
            row_sum = sums.iter().fold(row_sum, |m, &x| m.max(x));
        }
        self.fold = fold_range(row_sum, max, codebook);
        let entries = self.tables.as_mut_slice().as_chunks_mut::<LANES>().0;
        for table in entries.chunks_exact_mut(TABLE) {
            let weights: [[f32; LANES]; GROUP] = std::array::from_fn(|i| table[1 << i]);
            fill_table(
                table,
                [0.0; LANES],
                |i| weights[i],
                |a, w| std::array::from_fn(|l| a[l] + w[l]),
            );
        }
    }
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
    /// Buffers for `b` queries of dimension `d` in blocks of `qb`, and room for what `extra` asks for.
    pub(crate) fn new(b: usize, qb: usize, d: usize, extra: Extra) -> Self {
        let groups = d.div_ceil(GROUP);
        Self {
            qb,
            b,
            d,
            qp: Aligned::zeroed(b * d),
            w: Aligned::zeroed(b * d),
            neg_sum: Aligned::zeroed(b.next_multiple_of(LANES)),
            codebook: Aligned::zeroed(256),
            qjl_coef: 0.0,
            qt: Aligned::zeroed(d * MAX_B),
            tables: (extra == Extra::SignTables).then(|| Aligned::zeroed(b * groups * TABLE)),
            lanes: (extra == Extra::Lanes).then(|| Lanes::new(b, d)),
        }
    }

    /// The queries-across-lanes layout, if this projection was made with [`Extra::Lanes`].
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn lanes(&self) -> Option<&Lanes> {
        self.lanes.as_ref()
    }

    /// Lane group `h` of the queries-across-lanes layout.
    ///
    /// # Panics
    /// If this projection was not made with [`Extra::Lanes`].
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn lane_group(&self, h: usize) -> LaneGroup<'_> {
        let lanes = self.lanes().expect("a projection made with Extra::Lanes");
        let dims = lanes.table_groups * GROUP;
        let per_table = lanes.table_groups * TABLE * LANES;
        LaneGroup {
            qp: &lanes.qp.as_slice()[h * dims * LANES..(h + 1) * dims * LANES],
            tables: &lanes.tables.as_slice()[h * per_table..(h + 1) * per_table],
            neg_sum: self.neg_sum.as_slice()[h * LANES..(h + 1) * LANES]
                .try_into()
                .expect("LANES entries"),
        }
    }

    /// The codebook padded with zeros to 256 entries, scaled as `Qp` needs (see the module docs' scales): what a
    /// kernel multiplies `Qp` by.
    pub(crate) fn codebook(&self) -> &[f32] {
        self.codebook.as_slice()
    }

    /// The QJL coefficient `sqrt(pi/2)/D`, scaled as `Qs` needs (see the module docs' scales): a key's
    /// `coef·gamma` is this times its `gamma`.
    pub(crate) fn qjl_coef(&self) -> f32 {
        self.qjl_coef
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
        let (b, d) = (self.b, self.d);
        debug_assert_eq!(inputs.shape().b, b);
        debug_assert_eq!(inputs.shape().d, d);

        // Qᵀ, [D][MAX_B], zero past B.
        let qt = self.qt.as_mut_slice().as_chunks_mut::<MAX_B>().0;
        for (j, row) in qt.iter_mut().enumerate() {
            for (t, x) in row.iter_mut().enumerate() {
                *x = if t < b { inputs.q[t * d + j] } else { 0.0 };
            }
        }
        let (sum_p, sum_s) = self.project(&inputs.pi, &inputs.s_mat);
        let scales = if sum_p <= SUM_LIMIT && sum_s <= SUM_LIMIT {
            Scales::ONE
        } else {
            let scales = Scales::for_inputs(inputs);
            let scaled = |m: &[f32], by: i32| -> Vec<f32> {
                let factor = 2f32.powi(-by);
                m.iter().map(|x| x * factor).collect()
            };
            self.project(
                &scaled(&inputs.pi, scales.pi),
                &scaled(&inputs.s_mat, scales.s_mat),
            );
            scales
        };
        let coef = inputs.shape().qjl_coef() as f32;
        self.qjl_coef = coef * 2f32.powi(scales.s_mat);
        let cb = self.codebook.as_mut_slice();
        let factor = 2f32.powi(scales.pi);
        for (slot, &x) in cb.iter_mut().zip(&inputs.codebook) {
            *slot = x * factor;
        }
        cb[inputs.codebook.len()..].fill(0.0);
        let (b, d, qb) = (self.b, self.d, self.qb);
        if let Some(tables) = &mut self.tables {
            build_tables(self.w.as_slice(), tables.as_mut_slice(), b, d, qb);
        }
        if let Some(lanes) = &mut self.lanes {
            lanes.finish(&self.codebook.as_slice()[..inputs.codebook.len()]);
        }
    }

    /// Computes `Qp` from `pi` and `Qs` from `s_mat` (`[D, D]` each) and the queries in `qt`, into every field but
    /// the codebook, the sign tables and the fold range; returns the largest sum over the dimensions of `|Qp|`
    /// and of `|Qs|` (infinite or NaN where they overflowed).
    #[inline(always)]
    fn project(&mut self, pi: &[f32], s_mat: &[f32]) -> (f32, f32) {
        let (b, d, qb) = (self.b, self.d, self.qb);
        let qt = self.qt.as_slice().as_chunks::<MAX_B>().0;
        let (mut sum_p, mut sum_s) = ([0.0f32; MAX_B], [0.0f32; MAX_B]);
        let (qp, w, neg) = (
            self.qp.as_mut_slice(),
            self.w.as_mut_slice(),
            self.neg_sum.as_mut_slice(),
        );
        neg.fill(0.0);
        for dim in 0..d {
            let pi_row = &pi[dim * d..(dim + 1) * d];
            let s_row = &s_mat[dim * d..(dim + 1) * d];
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
            for t in 0..MAX_B {
                sum_p[t] += acc_p[t].abs();
                sum_s[t] += acc_s[t].abs();
            }
            if let Some(lanes) = &mut self.lanes {
                lanes.set_dim(dim, &acc_p, &acc_s);
            }
        }
        // `f32::max` would skip a NaN, which must count as an overflow.
        let largest = |sums: [f32; MAX_B]| {
            sums.into_iter()
                .fold(0.0f32, |m, x| if x > m || x.is_nan() { x } else { m })
        };
        (largest(sum_p), largest(sum_s))
    }
}

/// The largest sum over the dimensions of `|Qp|` or `|Qs|` that the kernels take as they are: the QJL sums reach
/// three times `Σ |Qs|` (`−Σ Qs` plus the sign tables' `2·Qs`), and the AVX2 path's folded sums add at most 2¹⁰⁰,
/// all far below f32's 2¹²⁸.
const SUM_LIMIT: f32 = (1u128 << 120) as f32;

/// Powers of two by which `Pi` and `S_mat` are divided (and the codebook and the QJL coefficient multiplied)
/// for the projection (see the module docs' scales).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scales {
    /// Exponent for `Pi` and the codebook.
    pi: i32,
    /// Exponent for `S_mat` and the QJL coefficient.
    s_mat: i32,
}

impl Scales {
    /// No scaling: ordinary inputs.
    const ONE: Scales = Scales { pi: 0, s_mat: 0 };

    /// The smallest exponents that bring the sums of `|Qp|` and `3·|Qs|` over the dimensions to [`SUM_LIMIT`] or
    /// below, from bounds worked out in f64: `Σ_d |Qp[b,d]| ≤ Σ_j |Q[b,j]| · max_j Σ_d |Pi[d,j]|`, and the same
    /// for `S_mat`. Each is capped where the factor it multiplies would pass 2¹²⁰ itself: the codebook's largest
    /// magnitude, or the QJL coefficient (so past `Σ |Qs|` of about 2²⁴⁰, 1.8e72, the QJL sums still overflow).
    fn for_inputs(inputs: &Inputs) -> Scales {
        let d = inputs.shape().d;
        let limit = f64::from(SUM_LIMIT);
        let query = inputs
            .q
            .chunks_exact(d)
            .map(|row| row.iter().map(|x| f64::from(x.abs())).sum::<f64>())
            .fold(0.0, f64::max);
        let column_sum = |m: &[f32]| {
            let mut sums = vec![0.0f64; d];
            for row in m.chunks_exact(d) {
                for (sum, x) in sums.iter_mut().zip(row) {
                    *sum += f64::from(x.abs());
                }
            }
            sums.into_iter().fold(0.0, f64::max)
        };
        // The smallest e ≥ 0 with bound / 2^e ≤ limit, and at most `cap`.
        let exponent = |bound: f64, cap: f64| -> i32 {
            let needed = (bound / limit).log2().ceil().max(0.0);
            needed.min(cap.floor().max(0.0)) as i32
        };
        let cb_max = inputs
            .codebook
            .iter()
            .fold(0.0f64, |m, x| m.max(f64::from(x.abs())));
        let coef = inputs.shape().qjl_coef();
        Scales {
            pi: exponent(query * column_sum(&inputs.pi), (limit / cb_max).log2()),
            s_mat: exponent(
                3.0 * query * column_sum(&inputs.s_mat),
                (limit / coef).log2(),
            ),
        }
    }
}

/// [`Lanes::fold_range`] from the largest row sum and the largest magnitude of `Qp`, and the codebook.
fn fold_range(qp_row_sum: f32, qp_max: f32, codebook: &[f32]) -> (f32, f32) {
    const EMPTY: (f32, f32) = (1.0, 0.0);
    let cb_max = codebook
        .iter()
        .fold(0.0f64, |m, x| m.max(f64::from(x.abs())));
    let cb_min = codebook
        .iter()
        .map(|x| f64::from(x.abs()))
        .filter(|&x| x > 0.0)
        .fold(f64::INFINITY, f64::min);
    let (row_sum, qp_max) = (f64::from(qp_row_sum), f64::from(qp_max));
    let finite = codebook.iter().all(|x| x.is_finite());
    if !(finite && row_sum.is_finite() && cb_min.is_finite() && qp_max > 0.0) {
        return EMPTY;
    }
    // The scaled values v/c themselves are stored as f32: bounded by 2¹⁰⁰ above and 2⁻¹⁰⁰ below too, so that
    // none overflows (a huge entry against tiny queries, whose row sums alone allow a tiny c) or is subnormal.
    let lo = (row_sum * cb_max * 2f64.powi(-100))
        .max(cb_max * 2f64.powi(-100))
        .max(2f64.powi(-100));
    let hi = (qp_max * cb_min * 2f64.powi(60))
        .min(cb_min * 2f64.powi(100))
        .min(2f64.powi(100));
    if lo > hi {
        return EMPTY;
    }
    // Rounded inwards to f32.
    let lo32 = lo as f32;
    let lo32 = if f64::from(lo32) < lo {
        lo32.next_up()
    } else {
        lo32
    };
    let hi32 = hi as f32;
    let hi32 = if f64::from(hi32) > hi {
        hi32.next_down()
    } else {
        hi32
    };
    (lo32, hi32)
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
                fill_table(table, 0.0, weight, |a, w| a + w);
            }
        }
    }
}

/// Fills one sign table: `table[n] = Σ_{i : bit i of n} weight(i)`, each entry one `add` from an earlier one.
#[inline(always)]
fn fill_table<T: Copy>(
    table: &mut [T],
    zero: T,
    weight: impl Fn(usize) -> T,
    add: impl Fn(T, T) -> T,
) {
    debug_assert_eq!(table.len(), TABLE);
    table[0] = zero;
    for n in 1..TABLE {
        // n = (n with its lowest bit cleared) + that bit.
        table[n] = add(table[n & (n - 1)], weight(n.trailing_zeros() as usize));
    }
}

#[cfg(test)]
mod tests {
    use super::{Extra, Projection, fold_range};
    use crate::problem::{InputParts, Inputs, Shape};

    /// Inputs of B = 2, S = 1, D = 2, C = 2 with the queries scaled by `q` and `S_mat` by `s`.
    fn inputs(q: f32, s: f32) -> Inputs {
        Inputs::new(InputParts {
            shape: Shape::new(2, 1, 2, 2),
            q: vec![q, -q, 0.5 * q, q],
            k_idx: vec![0, 1],
            qjl_signs: vec![1, -1],
            gamma: vec![0.0],
            pi: vec![0.6, 0.8, -0.8, 0.6],
            s_mat: vec![s, -s, 0.5 * s, s],
            codebook: vec![-0.5, 0.25],
        })
        .expect("valid inputs")
    }

    #[test]
    fn ordinary_inputs_are_not_scaled_and_overflowing_sums_are() {
        let coef = Shape::new(2, 1, 2, 2).qjl_coef() as f32;
        let mut proj = Projection::new(2, 4, 2, Extra::None);
        proj.compute(&inputs(1.0, 1.0));
        assert_eq!(proj.qjl_coef(), coef);
        assert_eq!(&proj.codebook()[..3], &[-0.5, 0.25, 0.0]);

        // Q·S_matᵀ of about 1e48: S_mat scaled down, the coefficient up, by the same power of two.
        proj.compute(&inputs(1e10, 1e38));
        let up = proj.qjl_coef() / coef;
        assert!(up > 1e12 && up.log2().fract() == 0.0, "{up}");
        assert!(proj.neg_sum.as_slice()[..2].iter().all(|x| x.is_finite()));
        assert_eq!(&proj.codebook()[..2], &[-0.5, 0.25]);

        // Q·Piᵀ beyond f32: Pi scaled down, the codebook up.
        proj.compute(&inputs(3e38, 1e-30));
        let up = proj.codebook()[1] / 0.25;
        assert!(up >= 2.0 && up.log2().fract() == 0.0, "{up}");
        assert!(proj.qp.as_slice().iter().all(|x| x.is_finite()));
        assert_eq!(proj.qjl_coef(), coef);
    }

    #[test]
    fn the_fold_range_keeps_the_scaled_codebook_term_inside_its_bounds() {
        let codebook = [-0.75f32, -0.25, 0.0, 0.25, 0.75];
        let (row_sum, qp_max) = (40.0f32, 3.0f32);
        let (lo, hi) = fold_range(row_sum, qp_max, &codebook);
        assert!(lo <= hi, "{lo} .. {hi}");
        // A key's coef·gamma at the perf shape (gamma about 1) folds.
        assert!((lo..=hi).contains(&0.01));
        // At the ends: the largest scaled sum stays at or below 2^100, the largest product at or above 2^-60.
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        assert!(f64::from(row_sum) * 0.75 / lo <= 2f64.powi(100));
        assert!(f64::from(qp_max) * 0.25 / hi >= 2f64.powi(-60));
        assert!(lo >= 2f64.powi(-100) && hi <= 2f64.powi(100));
        // Zero (gamma = 0) never folds.
        assert!(lo > 0.0);
    }

    #[test]
    fn every_scaled_codebook_value_stays_a_normal_f32() {
        // (Qp row sum, max |Qp|, codebook). The first: tiny queries beside a codebook entry of 1e12, where the
        // row sums alone would let c go down to 2^-100 and 1e12 / c overflow f32.
        let cases: [(f32, f32, &[f32]); 4] = [
            (1e-20, 1e-21, &[1e12, 0.5, -0.25]),
            (1e31, 1e30, &[1e-30, 1.0]),
            (1e-30, 1e-31, &[1e-30, 1e30]),
            (40.0, 3.0, &[-0.75, -0.25, 0.25, 0.75]),
        ];
        for (row_sum, qp_max, codebook) in cases {
            let (lo, hi) = fold_range(row_sum, qp_max, codebook);
            for c in [lo, hi].into_iter().filter(|_| lo <= hi) {
                for &v in codebook {
                    let scaled = (v / c).abs();
                    assert!(
                        scaled.is_normal() && (2f32.powi(-100)..=2f32.powi(100)).contains(&scaled),
                        "{v} / {c} = {scaled} ({row_sum}, {qp_max}, {codebook:?})"
                    );
                }
            }
        }
        // The first case folds some keys, but not one whose coef·gamma is 1e-20.
        let (lo, hi) = fold_range(cases[0].0, cases[0].1, cases[0].2);
        assert!(lo <= hi, "{lo} .. {hi}");
        assert!(!(lo..=hi).contains(&1e-20));
    }

    #[test]
    fn nothing_folds_where_the_codebook_term_is_zero_or_not_finite() {
        let empty = |(lo, hi): (f32, f32)| lo > hi;
        assert!(empty(fold_range(0.0, 0.0, &[0.5, 1.0])), "Qp all zeros");
        assert!(
            empty(fold_range(4.0, 1.0, &[0.0, 0.0])),
            "codebook all zeros"
        );
        assert!(
            empty(fold_range(f32::INFINITY, 1.0, &[0.5])),
            "Qp row sum overflowed"
        );
        assert!(
            empty(fold_range(4.0, 1.0, &[f32::MAX, f32::NAN])),
            "codebook not finite"
        );
        // Magnitudes so far apart that no coef·gamma satisfies both bounds.
        assert!(empty(fold_range(1e30, 1e-30, &[1e-30, 1e30])));
    }
}
