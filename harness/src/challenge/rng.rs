//! Portable seeded randomness: the same seed and stream label give the same numbers on every machine.
//!
//! Built on ChaCha12 from `rand_chacha`, with our own conversions to uniform and normal variates (Box-Muller
//! through `libm`, not the platform's math library), so no dependency upgrade or libm difference can change
//! a generated case.

use rand_chacha::ChaCha12Rng;
use rand_chacha::rand_core::{Rng as _, SeedableRng};

/// A seeded generator for one named stream of one case.
pub struct Rng {
    inner: ChaCha12Rng,
    spare_normal: Option<f64>,
}

impl Rng {
    /// The generator for `stream` (a label such as `"Q"` or `"Pi"`) under `seed`. Different labels give
    /// independent streams, so changing how one array is drawn leaves the others' bytes alone.
    pub fn new(seed: u64, stream: &str) -> Self {
        let mut state = seed ^ fnv1a(stream.as_bytes());
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        Self {
            inner: ChaCha12Rng::from_seed(key),
            spare_normal: None,
        }
    }

    /// A uniform variate in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, n)`, without modulo bias. `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below needs a positive bound");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.inner.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// A fair coin: `true` with probability 1/2.
    pub fn coin(&mut self) -> bool {
        self.inner.next_u64() >> 63 == 1
    }

    /// A standard normal variate (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // 1 - uniform() lies in (0, 1], so the logarithm is finite.
        let radius = libm::sqrt(-2.0 * libm::log(1.0 - self.uniform()));
        let angle = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare_normal = Some(radius * libm::sin(angle));
        radius * libm::cos(angle)
    }

    /// `n` standard normal variates times `scale`.
    pub fn normals(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| scale * self.normal()).collect()
    }
}

/// Mixes a 64-bit seed with a case or stream name: FNV-1a of the name, XOR the seed, through SplitMix64.
pub fn derive_seed(seed: u64, name: &str) -> u64 {
    let mut state = seed ^ fnv1a(name.as_bytes()).rotate_left(17);
    splitmix64(&mut state)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_and_streams_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, "Q").below(1000)).collect();
        let mut r = Rng::new(7, "Q");
        let b: Vec<f64> = (0..4).map(|_| r.normal()).collect();
        let mut r2 = Rng::new(7, "Q");
        let c: Vec<f64> = (0..4).map(|_| r2.normal()).collect();
        assert_eq!(b, c);
        assert_eq!(a.len(), 4);
        assert_ne!(Rng::new(7, "Q").uniform(), Rng::new(7, "K").uniform());
        assert_ne!(Rng::new(7, "Q").uniform(), Rng::new(8, "Q").uniform());
    }

    #[test]
    fn pinned_values_guard_portability() {
        // If these change, every generated case changes: only on purpose, with the fixtures regenerated.
        assert_eq!(derive_seed(0, "perf"), 0xd8d6_3dcf_5f15_78c9);
        let mut r = Rng::new(42, "pinned");
        let got = [r.below(1 << 20), r.below(1 << 20), r.below(1 << 20)];
        assert_eq!(got, [82_484, 892_861, 63_695]);
        assert_eq!(r.uniform().to_bits(), 0x3fe8_d986_2300_55c7);
        assert_eq!(r.normal().to_bits(), 0x3ff1_86de_c52e_8653);
        assert_eq!(r.normal().to_bits(), 0x3fdf_07d9_f20c_374f);
    }

    #[test]
    fn normal_moments_are_standard() {
        let mut r = Rng::new(1, "moments");
        let xs = r.normals(200_000, 1.0);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn below_covers_its_range() {
        let mut r = Rng::new(3, "below");
        let mut seen = [false; 256];
        for _ in 0..20_000 {
            seen[r.below(256) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
