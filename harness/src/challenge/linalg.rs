//! Small dense f64 linear algebra for generation: a Haar-random orthogonal matrix by Householder QR, and a
//! transpose. Written out (rather than taken from a crate) so the arithmetic is fixed and a seed gives the same
//! matrix on every machine.

use super::rng::Rng;

/// Transposes a row-major `rows × cols` matrix.
pub fn transpose(m: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; m.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = m[i * cols + j];
        }
    }
    t
}

/// The Q factor of the QR decomposition of a `d × d` matrix of i.i.d. N(0, 1) draws, with the signs of its
/// columns chosen so that R has a positive diagonal: a uniformly (Haar) distributed orthogonal matrix,
/// row-major.
pub fn random_orthogonal(d: usize, rng: &mut Rng) -> Vec<f64> {
    let a = rng.normals(d * d, 1.0);
    householder_q(a, d)
}

/// The orthogonal factor Q (with R's diagonal made positive) of a row-major `d × d` matrix.
pub fn householder_q(mut a: Vec<f64>, d: usize) -> Vec<f64> {
    let mut reflectors: Vec<Vec<f64>> = Vec::with_capacity(d);
    let mut diag_sign = vec![1.0; d];
    for k in 0..d {
        let x: Vec<f64> = (k..d).map(|i| a[i * d + k]).collect();
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            reflectors.push(vec![0.0; d - k]);
            continue;
        }
        let alpha = if x[0] >= 0.0 { -norm } else { norm };
        diag_sign[k] = alpha.signum();
        let mut v = x;
        v[0] -= alpha;
        let vnorm = v.iter().map(|t| t * t).sum::<f64>().sqrt();
        v.iter_mut().for_each(|t| *t /= vnorm);
        apply_reflector(&mut a, d, k, k, &v);
        reflectors.push(v);
    }
    // Q = H_0 · H_1 · … · H_{d-1}: apply the reflectors to the identity in reverse order.
    let mut q = vec![0.0; d * d];
    (0..d).for_each(|i| q[i * d + i] = 1.0);
    for (k, v) in reflectors.iter().enumerate().rev() {
        apply_reflector(&mut q, d, k, 0, v);
    }
    for row in q.chunks_exact_mut(d) {
        row.iter_mut().zip(&diag_sign).for_each(|(x, s)| *x *= s);
    }
    q
}

/// `M[k.., c0..] -= 2 v (vᵀ M[k.., c0..])` for a row-major `d × d` matrix `M`.
fn apply_reflector(m: &mut [f64], d: usize, k: usize, c0: usize, v: &[f64]) {
    let mut w = vec![0.0; d - c0];
    for (i, vi) in v.iter().enumerate() {
        let row = &m[(k + i) * d + c0..(k + i + 1) * d];
        w.iter_mut().zip(row).for_each(|(wj, mij)| *wj += vi * mij);
    }
    for (i, vi) in v.iter().enumerate() {
        let row = &mut m[(k + i) * d + c0..(k + i + 1) * d];
        row.iter_mut()
            .zip(&w)
            .for_each(|(mij, wj)| *mij -= 2.0 * vi * wj);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_deviation_from_identity(q: &[f64], d: usize) -> f64 {
        let mut worst: f64 = 0.0;
        for i in 0..d {
            for j in 0..d {
                let dot: f64 = (0..d).map(|k| q[i * d + k] * q[j * d + k]).sum();
                worst = worst.max((dot - if i == j { 1.0 } else { 0.0 }).abs());
            }
        }
        worst
    }

    #[test]
    fn q_is_orthogonal_for_many_sizes() {
        for d in [1, 2, 3, 7, 64, 129] {
            let q = random_orthogonal(d, &mut Rng::new(d as u64, "qr"));
            assert!(max_deviation_from_identity(&q, d) < 1e-12, "d = {d}");
        }
    }

    #[test]
    fn qr_reproduces_the_matrix_with_positive_r_diagonal() {
        let d = 5;
        let a = Rng::new(9, "a").normals(d * d, 1.0);
        let q = householder_q(a.clone(), d);
        // R = Qᵀ A must be upper triangular with a positive diagonal.
        for i in 0..d {
            for j in 0..d {
                let r: f64 = (0..d).map(|k| q[k * d + i] * a[k * d + j]).sum();
                if i > j {
                    assert!(r.abs() < 1e-12, "R[{i},{j}] = {r}");
                } else if i == j {
                    assert!(r > 0.0, "R[{i},{i}] = {r}");
                }
            }
        }
    }

    #[test]
    fn transpose_swaps_indices() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
