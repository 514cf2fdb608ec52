//! Fresh input sets for every call, each with its exact expected output, at almost no cost: a *view* of a
//! generated case is the same problem with its keys reordered, its queries reordered and possibly negated, and
//! its codebook reordered (indices remapped to match). The oracle's scores follow exactly: columns and rows
//! move with the keys and queries, negating a query negates its row bit for bit, and a reordered codebook
//! with remapped indices leaves every score unchanged. So each call sees bytes no earlier call saw (a cache
//! keyed on pointers returns stale scores; one keyed on contents never hits) and is still checked against the
//! f64 oracle, without running it again.
//!
//! Two probes complete the set: [`repeat`] (exactly an earlier call's bytes, for a cache keyed on contents to
//! hit: the time then gives it away) and [`tweak`] (an earlier view with two keys swapped, in the same
//! buffers: a cache keyed on pointers, on the queries alone, or on a sample of the inputs returns stale
//! scores for the swapped columns).

use solutions::{InputParts, Inputs};

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

/// The generated case as it is.
pub fn base(inputs: &Inputs, expected: &[f64]) -> View {
    View {
        parts: (**inputs).clone(),
        expected: expected.to_vec(),
        label: "the generated inputs".to_owned(),
    }
}

/// A random reordering of `inputs` (keys, queries with random signs, codebook), with its expected scores.
pub fn fresh(inputs: &Inputs, expected: &[f64], rng: &mut Rng) -> View {
    let shape = inputs.shape();
    let (b, s, d, c) = (shape.b, shape.s, shape.d, shape.c);
    let keys = permutation(s, rng);
    let queries = permutation(b, rng);
    let levels = permutation(c, rng);
    let sign = if rng.coin() { -1.0f32 } else { 1.0 };

    // New level m holds old level levels[m]; old index i becomes the m with levels[m] = i.
    let mut remap = vec![0u8; c];
    for (m, &old) in levels.iter().enumerate() {
        remap[old] = m as u8;
    }
    let mut parts = InputParts {
        shape,
        q: Vec::with_capacity(b * d),
        k_idx: Vec::with_capacity(s * d),
        qjl_signs: Vec::with_capacity(s * d),
        gamma: keys.iter().map(|&k| inputs.gamma[k]).collect(),
        pi: inputs.pi.clone(),
        s_mat: inputs.s_mat.clone(),
        codebook: levels.iter().map(|&m| inputs.codebook[m]).collect(),
    };
    for &row in &queries {
        parts
            .q
            .extend(inputs.q[row * d..(row + 1) * d].iter().map(|&x| sign * x));
    }
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
    let mut scores = Vec::with_capacity(b * s);
    for &row in &queries {
        let from = &expected[row * s..(row + 1) * s];
        scores.extend(keys.iter().map(|&k| f64::from(sign) * from[k]));
    }
    View {
        parts,
        expected: scores,
        label: "fresh inputs (keys, queries and codebook reordered)".to_owned(),
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
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::DEFAULT_TOLERANCE;
    use crate::challenge::generate::{Generator, generate};
    use crate::challenge::oracle;
    use solutions::Shape;

    fn case(shape: Shape, generator: Generator) -> (Inputs, Vec<f64>) {
        let inputs = generate(generator, shape, 7).unwrap().inputs;
        let expected = oracle::scores(&inputs);
        (inputs, expected)
    }

    /// The view's scores are exactly what the oracle computes from the view's arrays.
    fn assert_exact(view: &View) {
        let inputs = Inputs::new(view.parts.clone()).expect("a view is a valid input set");
        assert_eq!(oracle::scores(&inputs), view.expected, "{}", view.label);
    }

    #[test]
    fn fresh_views_are_new_bytes_with_exact_scores() {
        let mut rng = Rng::new(1, "views");
        for (shape, generator) in [
            (Shape::new(3, 30, 50, 8), Generator::Challenge),
            (Shape::new(4, 40, 16, 256), Generator::Uniform),
            (Shape::new(1, 1, 1, 2), Generator::Challenge),
        ] {
            let (inputs, expected) = case(shape, generator);
            assert_exact(&base(&inputs, &expected));
            let a = fresh(&inputs, &expected, &mut rng);
            let b = fresh(&inputs, &expected, &mut rng);
            assert_exact(&a);
            assert_exact(&b);
            if shape.s > 1 {
                assert_ne!(a.parts, b.parts);
                assert_ne!(a.parts, *inputs);
            }
            let t = tweak(&a, DEFAULT_TOLERANCE);
            assert_exact(&t);
            assert_ne!(t.parts, a.parts, "{shape}");
            assert_eq!(repeat(&a).parts, a.parts);
        }
    }

    #[test]
    fn the_tweak_moves_the_last_key_and_changes_its_scores() {
        let (inputs, expected) = case(Shape::new(4, 64, 32, 8), Generator::Challenge);
        let view = base(&inputs, &expected);
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
