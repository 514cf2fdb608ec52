//! The f64 oracle: the literal formula, the source of truth every variant is checked against.
//!
//! Each key is dequantized in f64 (`K~_s = codebook[K_idx_s]·Pi + sqrt(pi/2)/D·gamma_s·sigma_s·S_mat`) and
//! dotted with every query. It deliberately does not use the reduced form, so a mistake in the algebra of a
//! fast variant cannot hide behind the same mistake here. Keys are independent, so they are spread over threads;
//! the arithmetic of each key is fixed, so the result does not depend on the thread count.
//!
//! [`Dequantizer`] and [`scores_of_keys`] expose the two steps, so that the gate can score new queries against
//! keys it dequantized once: the result is bit for bit what [`scores`] gives for the same arrays.

use rayon::prelude::*;
use solutions::Inputs;

use super::linalg::transpose;

/// Keys per parallel task: large enough to amortise scheduling, small enough to balance two cores.
const KEYS_PER_TASK: usize = 64;

/// The exact scores `[B, S]` row-major, in f64: each key dequantized whole, then dotted with each query.
pub fn scores(inputs: &Inputs) -> Vec<f64> {
    let b_count = inputs.shape().b;
    let queries = Queries::new(&inputs.q, inputs.shape().d);
    let dequantizer = Dequantizer::new(inputs);
    let by_key = per_key(inputs, &dequantizer, b_count, |mse_key, qjl_key, out| {
        let key: Vec<f64> = mse_key.iter().zip(qjl_key).map(|(m, j)| m + j).collect();
        queries.dot_all(&key, out);
    });
    transpose(&by_key, inputs.shape().s, b_count)
}

/// Every key of `inputs` dequantized in f64, `[S, D]` row-major, each element formed as [`scores`] forms it.
pub fn keys(inputs: &Inputs) -> Vec<f64> {
    Dequantizer::new(inputs).keys(inputs)
}

/// The scores `[B, S]` row-major of the queries `q` (`[B, D]`, f32) against `s` dequantized keys, key `k` being
/// `key(k)` (`D` values, as [`keys`] or [`Dequantizer::key_into`] give them). For the arrays the keys came
/// from, this equals [`scores`] bit for bit.
pub fn scores_of_keys<'k, F>(q: &[f32], d: usize, s: usize, key: F) -> Vec<f64>
where
    F: Fn(usize) -> &'k [f64] + Sync,
{
    let queries = Queries::new(q, d);
    let b_count = queries.rows;
    let by_key = in_key_tasks(
        s,
        b_count,
        || (),
        |(), first, block| {
            let count = block.len() / b_count;
            let keys: [&[f64]; KEYS_PER_TASK] = std::array::from_fn(|local| {
                if local < count {
                    key(first + local)
                } else {
                    &[]
                }
            });
            queries.dot_keys(&keys[..count], block);
        },
    );
    transpose(&by_key, s, b_count)
}

/// Both parts of every score, `[B, S]` row-major, in f64: the MSE part `Q_b · codebook[K_idx_s]·Pi` and
/// the QJL correction `Q_b · coef·gamma_s·sigma_s·S_mat`. Their sum is [`scores`] up to rounding.
#[derive(Debug, Clone, PartialEq)]
pub struct Terms {
    /// The MSE-quantizer estimate alone.
    pub mse: Vec<f64>,
    /// The QJL correction.
    pub qjl: Vec<f64>,
}

/// Both parts of every score; see [`Terms`].
pub fn terms(inputs: &Inputs) -> Terms {
    let (b_count, s_count) = (inputs.shape().b, inputs.shape().s);
    let queries = Queries::new(&inputs.q, inputs.shape().d);
    let dequantizer = Dequantizer::new(inputs);
    let by_key = per_key(
        inputs,
        &dequantizer,
        2 * b_count,
        |mse_key, qjl_key, out| {
            let (mse_out, qjl_out) = out.split_at_mut(b_count);
            queries.dot_all(mse_key, mse_out);
            queries.dot_all(qjl_key, qjl_out);
        },
    );
    let mut mse = Vec::with_capacity(s_count * b_count);
    let mut qjl = Vec::with_capacity(s_count * b_count);
    for row in by_key.chunks_exact(2 * b_count) {
        mse.extend_from_slice(&row[..b_count]);
        qjl.extend_from_slice(&row[b_count..]);
    }
    Terms {
        mse: transpose(&mse, s_count, b_count),
        qjl: transpose(&qjl, s_count, b_count),
    }
}

/// The problem's matrices widened to f64 once, to dequantize keys with.
#[derive(Debug, Clone)]
pub struct Dequantizer {
    d: usize,
    coef: f64,
    pi: Vec<f64>,
    s_mat: Vec<f64>,
    codebook: Vec<f64>,
}

impl Dequantizer {
    /// The dequantizer of `inputs`' `Pi`, `S_mat` and codebook.
    pub fn new(inputs: &Inputs) -> Self {
        let widen = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
        Self {
            d: inputs.shape().d,
            coef: inputs.shape().qjl_coef(),
            pi: widen(&inputs.pi),
            s_mat: widen(&inputs.s_mat),
            codebook: widen(&inputs.codebook),
        }
    }

    /// The MSE part `codebook[idx]·Pi` and the QJL part `coef·gamma·sigma·S_mat` of one key (`idx` and `signs`
    /// of `D` values), into `mse` and `qjl`.
    fn parts_into(&self, idx: &[u8], signs: &[i8], gamma: f32, mse: &mut [f64], qjl: &mut [f64]) {
        let d = self.d;
        mse.fill(0.0);
        qjl.fill(0.0);
        let scale = self.coef * f64::from(gamma);
        for i in 0..d {
            let level = self.codebook[usize::from(idx[i])];
            let sigma = f64::from(signs[i]);
            let pi_row = &self.pi[i * d..(i + 1) * d];
            let s_row = &self.s_mat[i * d..(i + 1) * d];
            mse.iter_mut()
                .zip(pi_row)
                .for_each(|(k, p)| *k += level * p);
            qjl.iter_mut()
                .zip(s_row)
                .for_each(|(k, m)| *k += scale * sigma * m);
        }
    }

    /// Every key of `inputs` dequantized with this dequantizer's `Pi`, `S_mat` and codebook, `[S, D]` row-major:
    /// for the inputs it was built from, what [`keys`] gives.
    pub fn keys(&self, inputs: &Inputs) -> Vec<f64> {
        per_key(inputs, self, self.d, |mse_key, qjl_key, out| {
            for ((o, m), j) in out.iter_mut().zip(mse_key).zip(qjl_key) {
                *o = m + j;
            }
        })
    }

    /// One key dequantized into `out` (`D` values), formed as [`keys`] forms it: `idx` indexes this
    /// dequantizer's codebook. `scratch` (of any length) holds the QJL part meanwhile, so that a caller that
    /// dequantizes many keys allocates nothing per key.
    pub fn key_into(
        &self,
        idx: &[u8],
        signs: &[i8],
        gamma: f32,
        scratch: &mut Vec<f64>,
        out: &mut [f64],
    ) {
        scratch.resize(self.d, 0.0);
        self.parts_into(idx, signs, gamma, out, scratch);
        for (o, j) in out.iter_mut().zip(scratch.iter()) {
            *o += j;
        }
    }
}

/// Queries per vector: eight f64, one AVX-512 register (two AVX2 ones).
const LANES: usize = 8;

/// The most vectors of queries a [`QuerySet`] holds ([`dot_set`] has a loop for each number up to it): 32
/// queries, the most the problem allows.
const MAX_GROUPS: usize = 4;

/// One dimension of [`LANES`] queries.
type Column = [f64; LANES];

/// Up to [`MAX_GROUPS`]·[`LANES`] queries widened to f64 and stored dimension-major, in `groups` vectors of
/// [`LANES`] (the last padded with zeros, so at most `LANES - 1` lanes are wasted): `columns[e·groups + g]` holds
/// dimension `e` of the set's queries `g·LANES..(g + 1)·LANES`.
struct QuerySet {
    /// The set's first query among all.
    first: usize,
    /// Its number of queries.
    rows: usize,
    groups: usize,
    columns: Vec<Column>,
}

/// [`dot_set`] compiled for one instruction set.
type DotSet = fn(&QuerySet, &[&[f64]], usize, &mut [f64]);

/// Queries widened to f64, in sets that keys are dotted with all at once.
struct Queries {
    rows: usize,
    sets: Vec<QuerySet>,
    /// The loop compiled for the widest vectors this machine has.
    dot_set: DotSet,
}

impl Queries {
    fn new(q: &[f32], d: usize) -> Self {
        let rows = q.len() / d.max(1);
        let sets = q
            .chunks(MAX_GROUPS * LANES * d)
            .enumerate()
            .map(|(index, set)| {
                let set_rows = set.len() / d.max(1);
                let groups = set_rows.div_ceil(LANES);
                let mut columns = vec![[0.0; LANES]; d * groups];
                for (b, row) in set.chunks_exact(d).enumerate() {
                    for (e, &x) in row.iter().enumerate() {
                        columns[e * groups + b / LANES][b % LANES] = f64::from(x);
                    }
                }
                QuerySet {
                    first: index * MAX_GROUPS * LANES,
                    rows: set_rows,
                    groups,
                    columns,
                }
            })
            .collect();
        Self {
            rows,
            sets,
            dot_set: dot_set_dispatch(),
        }
    }

    /// `out[b] = Σ_e Q[b, e]·key[e]` for every query; see [`Self::dot_keys`].
    fn dot_all(&self, key: &[f64], out: &mut [f64]) {
        self.dot_keys(&[key], out);
    }

    /// `out[k·B + b] = Σ_e Q[b, e]·keys[k][e]` (`out` key-major, `[keys.len(), B]`), each sum formed in the order
    /// of `e` from 0.0 by a multiply and an add (never fused): the sums are independent, so they are formed a
    /// vector of queries at a time and for several keys at once, and neither the vector width nor the grouping
    /// changes any sum's rounding.
    fn dot_keys(&self, keys: &[&[f64]], out: &mut [f64]) {
        debug_assert_eq!(out.len(), keys.len() * self.rows);
        for set in &self.sets {
            (self.dot_set)(set, keys, self.rows, out);
        }
    }
}

/// For each key, `Σ_e columns[e·G + g]·key[e]` lane by lane for every `g < G`, from 0.0 in the order of `e`:
/// `G·K` vectors of independent sums, enough that the adds of one do not wait on those of another.
#[inline(always)]
fn dot_block<const G: usize, const K: usize>(
    columns: &[Column],
    keys: [&[f64]; K],
) -> [[Column; G]; K] {
    let d = columns.len() / G;
    // Cut every key to `d` values, so that the loop below needs no bounds checks.
    let mut keys = keys;
    for key in &mut keys {
        *key = &key[..d];
    }
    let mut sums = [[[0.0; LANES]; G]; K];
    for (e, row) in columns.chunks_exact(G).enumerate() {
        for (key_sums, key) in sums.iter_mut().zip(&keys) {
            let k = key[e];
            for (lanes, column) in key_sums.iter_mut().zip(row) {
                for (sum, q) in lanes.iter_mut().zip(column) {
                    *sum += q * k;
                }
            }
        }
    }
    sums
}

/// The scores of `set`'s queries against every key into their places in `out` (`[keys.len(), b_count]`),
/// [`dot_block`] taking `K` keys at a time.
#[inline(always)]
fn dot_set_by<const G: usize, const K: usize>(
    set: &QuerySet,
    keys: &[&[f64]],
    b_count: usize,
    out: &mut [f64],
) {
    let place = set.first..set.first + set.rows;
    for (chunk, out) in keys.chunks(K).zip(out.chunks_mut(K * b_count)) {
        // A chunk short of keys (the last) is padded with copies of its last key, computed and dropped.
        let batch = std::array::from_fn(|i| chunk[i.min(chunk.len() - 1)]);
        let sums = dot_block::<G, K>(&set.columns, batch);
        for (row, key_sums) in out.chunks_exact_mut(b_count).zip(&sums) {
            row[place.clone()].copy_from_slice(&key_sums.as_flattened()[..set.rows]);
        }
    }
}

/// [`dot_set_by`] with as many keys at once as fill four vectors of sums (six for three groups).
#[inline(always)]
fn dot_set(set: &QuerySet, keys: &[&[f64]], b_count: usize, out: &mut [f64]) {
    match set.groups {
        1 => dot_set_by::<1, 4>(set, keys, b_count, out),
        2 => dot_set_by::<2, 2>(set, keys, b_count, out),
        3 => dot_set_by::<3, 2>(set, keys, b_count, out),
        4 => dot_set_by::<4, 1>(set, keys, b_count, out),
        groups => unreachable!("a set of {groups} groups"),
    }
}

fn dot_set_portable(set: &QuerySet, keys: &[&[f64]], b_count: usize, out: &mut [f64]) {
    dot_set(set, keys, b_count, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn dot_set_avx512(set: &QuerySet, keys: &[&[f64]], b_count: usize, out: &mut [f64]) {
    dot_set(set, keys, b_count, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_set_avx2(set: &QuerySet, keys: &[&[f64]], b_count: usize, out: &mut [f64]) {
    dot_set(set, keys, b_count, out);
}

fn dot_set_dispatch() -> DotSet {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the machine has AVX-512F, checked just above.
            return |set, keys, b_count, out| unsafe { dot_set_avx512(set, keys, b_count, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the machine has AVX2, checked just above.
            return |set, keys, b_count, out| unsafe { dot_set_avx2(set, keys, b_count, out) };
        }
    }
    dot_set_portable
}

/// One compiled form of the oracle's dot-product loop, for the check that it rounds every sum exactly as the
/// portable loop does (no fused multiply-adds, no reordering), so that the oracle's scores do not depend on the
/// machine. The test harness reports the forms this CPU lacks as ignored.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct CompiledDot {
    /// The instruction set it is compiled for.
    pub name: &'static str,
    /// What this CPU lacks to run it; `None` where it can.
    pub missing: Option<&'static str>,
    /// Compares it with the portable loop, bit for bit; `Err` says where they differ, or what the CPU lacks.
    pub check: fn() -> Result<(), String>,
}

/// Every compiled form of the dot-product loop beside the portable one.
#[doc(hidden)]
pub fn compiled_dots() -> Vec<CompiledDot> {
    #[cfg(target_arch = "x86_64")]
    {
        const NO_AVX2: &str = "this CPU lacks AVX2";
        const NO_AVX512: &str = "this CPU lacks AVX-512F";
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        let avx512 = std::arch::is_x86_feature_detected!("avx512f");
        vec![
            CompiledDot {
                name: "avx2",
                missing: (!avx2).then_some(NO_AVX2),
                check: || {
                    if !std::arch::is_x86_feature_detected!("avx2") {
                        return Err(NO_AVX2.to_owned());
                    }
                    // SAFETY: the machine has AVX2, checked just above.
                    rounds_like_portable(|set, keys, b_count, out| unsafe {
                        dot_set_avx2(set, keys, b_count, out)
                    })
                },
            },
            CompiledDot {
                name: "avx512f",
                missing: (!avx512).then_some(NO_AVX512),
                check: || {
                    if !std::arch::is_x86_feature_detected!("avx512f") {
                        return Err(NO_AVX512.to_owned());
                    }
                    // SAFETY: the machine has AVX-512F, checked just above.
                    rounds_like_portable(|set, keys, b_count, out| unsafe {
                        dot_set_avx512(set, keys, b_count, out)
                    })
                },
            },
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    Vec::new()
}

/// `dot` gives the portable loop's sums bit for bit, and those are the plain sequential sums: for every number of
/// vectors of queries a set can have, and a number of keys that leaves a batch short. (Outside x86-64 only the
/// tests call it, on the portable loop.)
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn rounds_like_portable(dot: DotSet) -> Result<(), String> {
    let bits = |v: &[f64]| -> Vec<u64> { v.iter().map(|x| x.to_bits()).collect() };
    let mut rng = crate::challenge::rng::Rng::new(5, "dots");
    let d = 300;
    let keys: Vec<Vec<f64>> = (0..5)
        .map(|_| (0..d).map(|_| rng.normal() / 7.0).collect())
        .collect();
    let keys: Vec<&[f64]> = keys.iter().map(Vec::as_slice).collect();
    for b_count in [1, 8, 13, 24, 32] {
        let q: Vec<f32> = (0..b_count * d)
            .map(|_| (rng.normal() * 1e3) as f32)
            .collect();
        let queries = Queries::new(&q, d);
        let [set] = &queries.sets[..] else {
            return Err(format!("{b_count} queries make more than one set"));
        };
        let run = |dot: DotSet| {
            let mut out = vec![f64::NAN; keys.len() * b_count];
            dot(set, &keys, b_count, &mut out);
            bits(&out)
        };
        let (want, got) = (run(dot_set_portable), run(dot));
        if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
            return Err(format!(
                "B = {b_count}, score {i}: {} against the portable loop's {}",
                f64::from_bits(got[i]),
                f64::from_bits(want[i])
            ));
        }
        let (b, k) = (b_count - 1, 4);
        let sequential = (0..d).fold(0.0, |sum, e| sum + f64::from(q[b * d + e]) * keys[k][e]);
        if want[k * b_count + b] != sequential.to_bits() {
            return Err(format!(
                "B = {b_count}: the portable loop gives {} for query {b} and key {k}, the sequential sum {sequential}",
                f64::from_bits(want[k * b_count + b])
            ));
        }
    }
    Ok(())
}

/// `[S, width]` key-major, filled in parallel tasks of up to [`KEYS_PER_TASK`] keys: `fill(state, first, block)`
/// fills the `block.len() / width` keys from `first` on, with a `state` that `init` made for its thread.
fn in_key_tasks<T, I, F>(s: usize, width: usize, init: I, fill: F) -> Vec<f64>
where
    I: Fn() -> T + Send + Sync,
    F: Fn(&mut T, usize, &mut [f64]) + Send + Sync,
{
    let mut by_key = vec![0.0; s * width];
    by_key
        .par_chunks_mut(KEYS_PER_TASK * width)
        .enumerate()
        .for_each_init(init, |state, (task, block)| {
            fill(state, task * KEYS_PER_TASK, block);
        });
    by_key
}

/// Dequantizes every key of `inputs` in f64 with `dequantizer` (its MSE part and its QJL part separately) and
/// lets `emit(mse_key, qjl_key, out)` fill that key's `width` outputs. Returns `[S, width]`, key-major.
fn per_key<F>(inputs: &Inputs, dequantizer: &Dequantizer, width: usize, emit: F) -> Vec<f64>
where
    F: FnMut(&[f64], &[f64], &mut [f64]) + Clone + Send + Sync,
{
    let d = inputs.shape().d;
    assert_eq!(d, dequantizer.d, "the dequantizer is for another D");
    in_key_tasks(
        inputs.shape().s,
        width,
        || (vec![0.0; d], vec![0.0; d], emit.clone()),
        |(mse_key, qjl_key, emit), first, block| {
            for (local, out) in block.chunks_exact_mut(width).enumerate() {
                let s = first + local;
                let row = s * d..(s + 1) * d;
                dequantizer.parts_into(
                    &inputs.k_idx[row.clone()],
                    &inputs.qjl_signs[row],
                    inputs.gamma[s],
                    mse_key,
                    qjl_key,
                );
                emit(mse_key, qjl_key, out);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::generate::{
        Generator, WORKED_EXAMPLE_SCORES, WORKED_EXAMPLE_SHAPE, generate,
    };
    use solutions::Shape;

    #[test]
    fn worked_example_is_exact() {
        let g = generate(Generator::WorkedExample, WORKED_EXAMPLE_SHAPE, 0).unwrap();
        assert_eq!(scores(&g.inputs), WORKED_EXAMPLE_SCORES.to_vec());
    }

    #[test]
    fn matches_a_direct_evaluation_with_the_qjl_term() {
        // Independent check of one score: build K~ element by element with index arithmetic spelled out.
        let shape = Shape::new(3, 70, 9, 5);
        let g = generate(Generator::Uniform, shape, 11).unwrap();
        let x = &g.inputs;
        let got = scores(x);
        let coef = (std::f64::consts::PI / 2.0).sqrt() / 9.0;
        for (b, s) in [(0, 0), (2, 69), (1, 64), (1, 33)] {
            let mut want = 0.0;
            for j in 0..9 {
                let mut k = 0.0;
                for i in 0..9 {
                    k += f64::from(x.codebook[x.k_idx[s * 9 + i] as usize])
                        * f64::from(x.pi[i * 9 + j]);
                    k += coef
                        * f64::from(x.gamma[s])
                        * f64::from(x.qjl_signs[s * 9 + i])
                        * f64::from(x.s_mat[i * 9 + j]);
                }
                want += f64::from(x.q[b * 9 + j]) * k;
            }
            assert!(
                (got[b * 70 + s] - want).abs() < 1e-12,
                "({b},{s}): {} vs {want}",
                got[b * 70 + s]
            );
        }
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The dispatcher's choice for this machine, and the portable loop itself, give the plain sequential sums
    /// bit for bit. (The loops compiled for each instruction set are compared with the portable one by
    /// `tests/oracle_simd.rs`, which reports those this CPU lacks as ignored.)
    #[test]
    fn dispatched_dot_rounds_as_the_portable_one() {
        rounds_like_portable(dot_set_dispatch()).unwrap();
        rounds_like_portable(dot_set_portable).unwrap();
    }

    /// Whatever the number of queries and keys (vectors padded with zero lanes, batches of keys padded with
    /// repeats, more queries than one set holds), every score is the plain sequential sum, bit for bit, in its
    /// place.
    #[test]
    fn dot_keys_gives_every_sequential_sum_in_place() {
        let mut rng = crate::challenge::rng::Rng::new(6, "dots");
        let d = 37;
        for (b_count, k_count) in [
            (1, 1),
            (1, 7),
            (3, 5),
            (8, 3),
            (13, 7),
            (17, 64),
            (24, 5),
            (32, 2),
            (32, 65),
            (45, 6),
        ] {
            let q: Vec<f32> = (0..b_count * d).map(|_| rng.normal() as f32).collect();
            let keys: Vec<Vec<f64>> = (0..k_count)
                .map(|_| (0..d).map(|_| rng.normal()).collect())
                .collect();
            let refs: Vec<&[f64]> = keys.iter().map(Vec::as_slice).collect();
            let mut out = vec![f64::NAN; k_count * b_count];
            Queries::new(&q, d).dot_keys(&refs, &mut out);
            for (k, key) in keys.iter().enumerate() {
                for b in 0..b_count {
                    let sequential =
                        (0..d).fold(0.0, |sum, e| sum + f64::from(q[b * d + e]) * key[e]);
                    assert_eq!(
                        out[k * b_count + b].to_bits(),
                        sequential.to_bits(),
                        "B={b_count} keys={k_count}: query {b}, key {k}"
                    );
                }
            }
            let scores = scores_of_keys(&q, d, k_count, |k| &keys[k]);
            assert_eq!(bits(&scores), bits(&transpose(&out, k_count, b_count)));
        }
    }

    #[test]
    fn terms_split_the_score() {
        let g = generate(Generator::Challenge, Shape::new(2, 10, 8, 4), 1).unwrap();
        let t = terms(&g.inputs);
        let mut zero_gamma = g.inputs.clone().into_parts();
        zero_gamma.gamma.fill(0.0);
        let mse_only = scores(&solutions::Inputs::new(zero_gamma).unwrap());
        assert_eq!(t.mse, mse_only);
        let full = scores(&g.inputs);
        for ((m, j), f) in t.mse.iter().zip(&t.qjl).zip(&full) {
            assert!((m + j - f).abs() < 1e-12);
        }
        assert!(t.qjl.iter().any(|&v| v != 0.0));
    }
}
