//! Deliberately wrong variants: each makes one mistake that real submissions make, and the judge must reject
//! it on the functional suite. They are test fixtures: `judge list` shows them in a section of their own.
//!
//! Each one is the literal formula of [`crate::cpu_naive`] applied to inputs changed the way the mistake
//! changes them, so the mistake is the only difference from the reference.

use crate::cpu_naive;
use crate::problem::{InputParts, Inputs};
use crate::solution::{Availability, Backend, HostPrepared, Prepared, Solution, SolveError};

/// The mistakes, one per known-bad variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mistake {
    /// Leaves out the QJL correction term entirely.
    DropsQjl,
    /// Scales the QJL term by `sqrt(pi/2)/sqrt(D)` instead of `sqrt(pi/2)/D`.
    SqrtDCoefficient,
    /// Rotates with `Piᵀ` instead of `Pi`.
    PiTransposed,
    /// Reads `K_idx` as signed bytes, so indices ≥ 128 become negative (taken here as their magnitude).
    SignedIndices,
    /// Never writes the last output element.
    LastOutputUnwritten,
}

impl Mistake {
    /// Every mistake.
    pub const ALL: [Mistake; 5] = [
        Mistake::DropsQjl,
        Mistake::SqrtDCoefficient,
        Mistake::PiTransposed,
        Mistake::SignedIndices,
        Mistake::LastOutputUnwritten,
    ];
}

/// A known-bad variant.
pub struct KnownBad(pub Mistake);

/// Every known-bad variant.
pub fn all() -> Vec<KnownBad> {
    Mistake::ALL.into_iter().map(KnownBad).collect()
}

impl Solution for KnownBad {
    fn name(&self) -> &str {
        match self.0 {
            Mistake::DropsQjl => "bad-drops-qjl",
            Mistake::SqrtDCoefficient => "bad-sqrt-d-coefficient",
            Mistake::PiTransposed => "bad-pi-transposed",
            Mistake::SignedIndices => "bad-signed-indices",
            Mistake::LastOutputUnwritten => "bad-last-output-unwritten",
        }
    }

    fn description(&self) -> &str {
        match self.0 {
            Mistake::DropsQjl => "omits the QJL correction term",
            Mistake::SqrtDCoefficient => "uses sqrt(pi/2)/sqrt(D) as the QJL coefficient",
            Mistake::PiTransposed => "rotates with Pi transposed",
            Mistake::SignedIndices => "reads codebook indices as signed bytes",
            Mistake::LastOutputUnwritten => "never writes scores[B-1, S-1]",
        }
    }

    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn availability(&self) -> Availability {
        Availability::Available
    }

    fn prepare<'a>(&self, inputs: &'a Inputs) -> Result<Box<dyn Prepared + 'a>, SolveError> {
        let mistake = self.0;
        let seen =
            Inputs::new(distort(mistake, inputs.clone().into_parts())).map_err(|source| {
                SolveError::Input {
                    solution: self.name().to_owned(),
                    source,
                }
            })?;
        let mut key = vec![0.0f32; inputs.shape().d];
        let mut full = vec![0.0f32; inputs.shape().output_len()];
        Ok(Box::new(HostPrepared::new(
            self.name(),
            inputs,
            move |_: &Inputs, out: &mut [f32]| {
                cpu_naive::solve(&seen, &mut key, &mut full);
                let written = if mistake == Mistake::LastOutputUnwritten {
                    full.len() - 1
                } else {
                    full.len()
                };
                out[..written].copy_from_slice(&full[..written]);
            },
        )))
    }
}

/// The inputs as the mistaken code effectively reads them.
fn distort(mistake: Mistake, mut p: InputParts) -> InputParts {
    let d = p.shape.d;
    match mistake {
        Mistake::DropsQjl => p.gamma.fill(0.0),
        Mistake::SqrtDCoefficient => {
            let factor = (d as f32).sqrt();
            p.gamma.iter_mut().for_each(|g| *g *= factor);
        }
        Mistake::PiTransposed => {
            let original = p.pi.clone();
            for i in 0..d {
                for j in 0..d {
                    p.pi[i * d + j] = original[j * d + i];
                }
            }
        }
        Mistake::SignedIndices => p
            .k_idx
            .iter_mut()
            .for_each(|i| *i = (*i as i8).unsigned_abs()),
        Mistake::LastOutputUnwritten => {}
    }
    p
}
