//! Fresh input sets for every call, each with its exact expected output, cheaply: a *view* of a generated case
//! has new queries (drawn at the scale of the case's own), its keys reordered with a few of them changed (one
//! index each, and one sign for half of them), and its codebook reordered (indices remapped to match). The keys are dequantized
//! once per case in f64, so a view's expected scores cost one product of the new queries with them, computed
//! exactly as the oracle computes them (bit for bit the oracle's scores of the view's arrays).
//!
//! So each call sees bytes no earlier call saw, and no part of an earlier answer is right again: a cache
//! keyed on pointers returns stale scores, one keyed on whole contents never hits, one keyed on a row of
//! queries never hits (every query is new), and one that keeps dequantized keys under a sample of a key's
//! bytes (its gamma, its signs or some of them) returns a stale key for the changed keys, whose scores then fail.
//!
//! Two probes complete the set: [`repeat`] (exactly an earlier call's bytes, for a cache keyed on contents to
//! hit: the time then gives it away) and [`tweak`] (an earlier view with two keys swapped, in the same
//! buffers: a cache keyed on pointers, on the queries alone, or on a sample of the inputs returns stale
//! scores for the swapped columns).

use rayon::prelude::*;
use solutions::{InputParts, Inputs, Shape};

use crate::challenge::oracle::{self, Dequantizer};
use crate::challenge::rng::Rng;
use crate::check::Tolerance;

/// One input set to hand to a call, with the scores it must produce.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The arrays.
    pub parts: InputParts,
    /// `[B, S]` expected scores, in f64.
    pub expected: Vec<f64>,
    /// What this view is, for messages (`generated inputs`, `fresh view`, …).
    pub label: String,
}

/// Keys changed in every fresh view: one in this many, and at least one.
pub const CHANGED_KEY_SHARE: usize = 64;

/// What views of one generated case are made from: its arrays, its keys dequantized, and its expected scores.
pub struct Source<'a> {
    inputs: &'a Inputs,
    /// `[B, S]`, the oracle's scores of the case, computed from `keys`.
    expected: Vec<f64>,
    /// `[S, D]`, as [`Dequantizer::keys`] gives them.
    keys: Vec<f64>,
    dequantizer: Dequantizer,
    /// The root mean square of each query row of the case: the scale of the queries views draw.
    query_scale: Vec<f64>,
}

impl<'a> Source<'a> {
    /// The source of views of `inputs`. Dequantizes every key once and scores the case's queries against
    /// them: its [`Self::expected`] scores are the oracle's, bit for bit, in about the oracle's time.
    pub fn new(inputs: &'a Inputs) -> Self {
        let Shape { s, d, .. } = inputs.shape();
        let query_scale = inputs
            .q
            .chunks_exact(d)
            .map(|row| {
                let sum: f64 = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
                (sum / d as f64).sqrt()
            })
            .collect();
        let dequantizer = Dequantizer::new(inputs);
        let keys = dequantizer.keys(inputs);
        let expected = oracle::scores_of_keys(&inputs.q, d, s, |k| &keys[k * d..(k + 1) * d]);
        Self {
            inputs,
            expected,
            keys,
            dequantizer,
            query_scale,
        }
    }

    /// The oracle's scores of the case, `[B, S]`.
    pub fn expected(&self) -> &[f64] {
        &self.expected
    }

    /// The generated case as it is.
    pub fn base(&self) -> View {
        View {
            parts: (**self.inputs).clone(),
            expected: self.expected.clone(),
            label: "the generated inputs".to_owned(),
        }
    }

    /// A fresh view (see the module docs) with its expected scores.
    pub fn fresh(&self, rng: &mut Rng) -> View {
        let inputs = self.inputs;
        let shape = inputs.shape();
        let (b, s, d, c) = (shape.b, shape.s, shape.d, shape.c);
        let keys = permutation(s, rng);
        let levels = permutation(c, rng);

        // Queries: normal draws at the scale of a randomly chosen row of the case's.
        let mut q = Vec::with_capacity(b * d);
        for row in permutation(b, rng) {
            let scale = self.query_scale[row];
            q.extend((0..d).map(|_| (scale * rng.normal()) as f32));
        }

        // New level m holds old level levels[m]; old index i becomes the m with levels[m] = i.
        let mut remap = vec![0u8; c];
        for (m, &old) in levels.iter().enumerate() {
            remap[old] = m as u8;
        }
        let mut parts = InputParts {
            shape,
            q,
            k_idx: Vec::with_capacity(s * d),
            qjl_signs: Vec::with_capacity(s * d),
            gamma: keys.iter().map(|&k| inputs.gamma[k]).collect(),
            pi: inputs.pi.clone(),
            s_mat: inputs.s_mat.clone(),
            codebook: levels.iter().map(|&m| inputs.codebook[m]).collect(),
        };
        for &key in &keys {
            parts.k_idx.extend(
                inputs.k_idx[key * d..(key + 1) * d]
                    .iter()
                    .map(|&i| remap[usize::from(i)]),
            );
            parts
                .qjl_signs
                .extend_from_slice(&inputs.qjl_signs[key * d..(key + 1) * d]);
        }

        // Changed keys, at random positions of the view, edited in place: one index moved to another level,
        // and for half of them one sign flipped too, so that a key's signs and gamma alone do not tell it
        // changed. Each edit keeps the changed index's new level in the case's own codebook order, the
        // dequantizer's.
        let changed_count = (s / CHANGED_KEY_SHARE).max(1);
        let mut edits = Vec::with_capacity(changed_count);
        for position in shuffled_prefix(s, changed_count, rng) {
            let (row, key) = (position * d, keys[position]);
            let at = rng.below(d as u64) as usize;
            let step = 1 + rng.below(c as u64 - 1) as usize;
            let level = ((usize::from(inputs.k_idx[key * d + at]) + step) % c) as u8;
            parts.k_idx[row + at] = remap[usize::from(level)];
            if rng.coin() {
                let flip = row + rng.below(d as u64) as usize;
                parts.qjl_signs[flip] = -parts.qjl_signs[flip];
            }
            edits.push((position, at, level));
        }
        // Their keys dequantized anew (each with fixed arithmetic, so in parallel).
        let mut changed = vec![0.0; changed_count * d];
        changed.par_chunks_mut(d).zip(&edits).for_each_init(
            || (Vec::with_capacity(d), Vec::new()),
            |(idx, scratch), (value, &(position, at, level))| {
                let key = keys[position];
                idx.clear();
                idx.extend_from_slice(&inputs.k_idx[key * d..(key + 1) * d]);
                idx[at] = level;
                let signs = &parts.qjl_signs[position * d..(position + 1) * d];
                let gamma = parts.gamma[position];
                self.dequantizer.key_into(idx, signs, gamma, scratch, value);
            },
        );
        let mut rows: Vec<&[f64]> = keys
            .iter()
            .map(|&k| &self.keys[k * d..(k + 1) * d])
            .collect();
        for (&(position, ..), value) in edits.iter().zip(changed.chunks_exact(d)) {
            rows[position] = value;
        }
        let expected = oracle::scores_of_keys(&parts.q, d, s, |k| rows[k]);
        View {
            parts,
            expected,
            label: format!(
                "fresh inputs (new queries; keys and codebook reordered, {changed_count} of {s} keys changed)"
            ),
        }
    }
}

/// `view` again, unchanged, to present in other buffers.
pub fn repeat(view: &View) -> View {
    View {
        label: "inputs identical to an earlier call's, in other buffers".to_owned(),
        ..view.clone()
    }
}

/// `view` with the last key swapped with another (the one among a few candidates whose scores differ most
/// from it, so a stale answer cannot pass); with one key, the last query negated instead.
pub fn tweak(view: &View, tolerance: Tolerance) -> View {
    let shape = view.parts.shape;
    let (b, s, d) = (shape.b, shape.s, shape.d);
    let mut out = view.clone();
    if s < 2 {
        let last = b - 1;
        out.parts.q[last * d..].iter_mut().for_each(|x| *x = -*x);
        out.expected[last * s..].iter_mut().for_each(|x| *x = -*x);
        out.label = "the previous inputs with the last query negated, same buffers".to_owned();
        return out;
    }
    let last = s - 1;
    // How many tolerances apart two key columns are, at their most different query.
    let distance = |k: usize| {
        (0..b)
            .map(|row| {
                let (x, y) = (view.expected[row * s + k], view.expected[row * s + last]);
                (x - y).abs() / (tolerance.atol + tolerance.rtol * y.abs()).max(f64::MIN_POSITIVE)
            })
            .fold(0.0, f64::max)
    };
    let candidates = (s / 2..last).chain(0..s / 2).take(64);
    let mut other = s / 2 % last;
    let mut best = -1.0;
    for k in candidates {
        let dist = distance(k);
        if dist > best {
            (other, best) = (k, dist);
        }
        if dist > 10.0 {
            break;
        }
    }
    out.parts.gamma.swap(other, last);
    swap_rows(&mut out.parts.k_idx, d, other, last);
    swap_rows(&mut out.parts.qjl_signs, d, other, last);
    for row in 0..b {
        out.expected.swap(row * s + other, row * s + last);
    }
    out.label = format!("the previous inputs with keys {other} and {last} swapped, same buffers");
    out
}

fn swap_rows<T>(values: &mut [T], width: usize, a: usize, b: usize) {
    let (lo, hi) = (a.min(b), a.max(b));
    if lo == hi {
        return;
    }
    let (head, tail) = values.split_at_mut(hi * width);
    head[lo * width..(lo + 1) * width].swap_with_slice(&mut tail[..width]);
}

/// A uniformly random permutation of `0..n` (Fisher-Yates).
fn permutation(n: usize, rng: &mut Rng) -> Vec<usize> {
    shuffled_prefix(n, n, rng)
}

/// The first `k` entries of a uniformly random permutation of `0..n` (`k` distinct values, each ordered set
/// equally likely): Fisher-Yates stopped after `k` steps.
fn shuffled_prefix(n: usize, k: usize, rng: &mut Rng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = i + rng.below((n - i) as u64) as usize;
        p.swap(i, j);
    }
    p.truncate(k);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::DEFAULT_TOLERANCE;
    use crate::challenge::generate::{Generator, generate};
    use crate::challenge::oracle;

    fn case(shape: Shape, generator: Generator) -> Inputs {
        generate(generator, shape, 7).unwrap().inputs
    }

    /// The view's scores are exactly what the oracle computes from the view's arrays.
    fn assert_exact(view: &View) {
        let inputs = Inputs::new(view.parts.clone()).expect("a view is a valid input set");
        // Bit patterns, so that -0.0 against 0.0 (or a NaN) would show.
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&oracle::scores(&inputs)),
            bits(&view.expected),
            "{}",
            view.label
        );
    }

    #[test]
    fn fresh_views_are_new_bytes_with_exact_scores() {
        let mut rng = Rng::new(1, "views");
        for (shape, generator) in [
            (Shape::new(3, 30, 50, 8), Generator::Challenge),
            (Shape::new(4, 40, 16, 256), Generator::Uniform),
            (Shape::new(2, 130, 7, 2), Generator::Uniform),
            (Shape::new(1, 1, 1, 2), Generator::Challenge),
        ] {
            let inputs = case(shape, generator);
            let source = Source::new(&inputs);
            assert_exact(&source.base());
            let a = source.fresh(&mut rng);
            let b = source.fresh(&mut rng);
            assert_exact(&a);
            assert_exact(&b);
            assert_ne!(a.parts, b.parts);
            assert_ne!(a.parts, *inputs);
            let t = tweak(&a, DEFAULT_TOLERANCE);
            assert_exact(&t);
            assert_ne!(t.parts, a.parts, "{shape}");
            assert_eq!(repeat(&a).parts, a.parts);
        }
    }

    /// Every query of a view is new: no row equals a row of the case or of another view, negated or not.
    #[test]
    fn fresh_views_share_no_query_with_the_case_or_each_other() {
        let inputs = case(Shape::new(8, 20, 16, 4), Generator::Challenge);
        let source = Source::new(&inputs);
        let mut rng = Rng::new(2, "views");
        let mut seen: Vec<Vec<f32>> = inputs.q.chunks_exact(16).map(<[f32]>::to_vec).collect();
        for _ in 0..5 {
            let view = source.fresh(&mut rng);
            for row in view.parts.q.chunks_exact(16) {
                let negated: Vec<f32> = row.iter().map(|x| -x).collect();
                assert!(
                    !seen.iter().any(|old| old == row || *old == negated),
                    "a query row came back"
                );
            }
            seen.extend(view.parts.q.chunks_exact(16).map(<[f32]>::to_vec));
        }
    }

    /// A key as the problem sees it, whatever the codebook's order: its levels, its signs and its gamma.
    fn key_contents(parts: &InputParts, key: usize) -> (Vec<u32>, Vec<i8>, u32) {
        let d = parts.shape.d;
        let levels = parts.k_idx[key * d..(key + 1) * d]
            .iter()
            .map(|&i| parts.codebook[usize::from(i)].to_bits())
            .collect();
        let signs = parts.qjl_signs[key * d..(key + 1) * d].to_vec();
        (levels, signs, parts.gamma[key].to_bits())
    }

    #[test]
    fn a_view_changes_one_key_in_sixty_four() {
        let shape = Shape::new(2, 640, 24, 16);
        let inputs = case(shape, Generator::Challenge);
        let source = Source::new(&inputs);
        let view = source.fresh(&mut Rng::new(3, "views"));
        let originals: std::collections::HashSet<_> =
            (0..640).map(|k| key_contents(&inputs, k)).collect();
        let changed = (0..640)
            .filter(|&k| !originals.contains(&key_contents(&view.parts, k)))
            .count();
        assert_eq!(changed, 640 / CHANGED_KEY_SHARE);
        assert_exact(&view);
    }

    /// A submission that keeps dequantized keys under a sample of each key's bytes (its gamma and first 16
    /// signs) and scores the new queries against them gets scores outside the tolerance.
    #[test]
    fn keys_remembered_under_a_sample_of_their_bytes_give_wrong_scores() {
        let shape = Shape::new(4, 512, 32, 16);
        let inputs = case(shape, Generator::Challenge);
        let source = Source::new(&inputs);
        let sample = |parts: &InputParts, k: usize| {
            (
                parts.gamma[k].to_bits(),
                parts.qjl_signs[k * 32..k * 32 + 16].to_vec(),
            )
        };
        let remembered: std::collections::HashMap<_, _> = (0..512)
            .map(|k| (sample(&inputs, k), &source.keys[k * 32..(k + 1) * 32]))
            .collect();
        let view = source.fresh(&mut Rng::new(4, "views"));
        // A miss is computed honestly.
        let exact = oracle::keys(&Inputs::new(view.parts.clone()).unwrap());
        let rows: Vec<&[f64]> = (0..512)
            .map(|k| {
                remembered
                    .get(&sample(&view.parts, k))
                    .copied()
                    .unwrap_or(&exact[k * 32..(k + 1) * 32])
            })
            .collect();
        let answered = oracle::scores_of_keys(&view.parts.q, 32, 512, |k| rows[k]);
        let tol = DEFAULT_TOLERANCE;
        let outside = answered
            .iter()
            .zip(&view.expected)
            .filter(|&(x, r)| (x - r).abs() > tol.atol + tol.rtol * r.abs())
            .count();
        assert!(outside > 0, "the stale keys went unnoticed");
    }

    #[test]
    fn the_tweak_moves_the_last_key_and_changes_its_scores() {
        let inputs = case(Shape::new(4, 64, 32, 8), Generator::Challenge);
        let view = Source::new(&inputs).base();
        let t = tweak(&view, DEFAULT_TOLERANCE);
        let s = 64;
        assert_ne!(t.parts.k_idx[63 * 32..], view.parts.k_idx[63 * 32..]);
        let moved = (0..4).any(|row| {
            (t.expected[row * s + 63] - view.expected[row * s + 63]).abs() > 10.0 * 2e-3
        });
        assert!(
            moved,
            "the swapped column must differ by far more than the tolerance"
        );
    }
}
