//! What a bench measures: presets (named groups of cases), axes applied to them, and how each case's
//! rotating input sets are generated.

use std::fmt;

use serde::{Deserialize, Serialize};
use solutions::Shape;

use super::axes::{Axis, AxisError, expand};
use crate::challenge::generate::{GenerateError, Generator, generate};
use crate::challenge::rng::derive_seed;
use crate::challenge::suites::{Case, CaseSource, CaseSpec, Suite};

/// The values of S in the `scaling` preset's S sweep (B=32, D=128, C=16).
pub const SCALING_S: [usize; 7] = [1024, 2048, 4096, 8192, 16_384, 32_768, 65_536];
/// The values of D in the `scaling` preset's D sweep (B=32, S=32,768, C=16).
pub const SCALING_D: [usize; 4] = [32, 64, 128, 256];

/// A named group of bench cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The performance case: B=32, S=32,768, D=128, C=16.
    Perf,
    /// S from 1,024 to 65,536 in powers of two at B=32, D=128, C=16, and D from 32 to 256 at the perf S.
    Scaling,
    /// Every case of the functional suite.
    Functional,
}

impl Preset {
    /// The name used on the command line and in results.
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Perf => "perf",
            Preset::Scaling => "scaling",
            Preset::Functional => "functional",
        }
    }

    /// The cases of this preset, in order.
    pub fn cases(self) -> Vec<BenchCase> {
        match self {
            Preset::Perf => Suite::Perf
                .specs()
                .into_iter()
                .map(|spec| BenchCase::from_spec(Suite::Perf, spec))
                .collect(),
            Preset::Functional => Suite::Functional
                .specs()
                .into_iter()
                .map(|spec| BenchCase::from_spec(Suite::Functional, spec))
                .collect(),
            Preset::Scaling => {
                let s_sweep = SCALING_S.map(|s| Shape { s, ..Shape::PERF });
                let d_sweep = SCALING_D.map(|d| Shape { d, ..Shape::PERF });
                dedup_shapes(s_sweep.into_iter().chain(d_sweep))
                    .into_iter()
                    .map(BenchCase::swept)
                    .collect()
            }
        }
    }

    /// The cases of this preset with `axes` replacing their shape dimensions (cartesian product, generator
    /// `challenge`, duplicate shapes dropped). Without axes, the preset's own cases.
    pub fn cases_with_axes(self, axes: &[Axis]) -> Result<Vec<BenchCase>, AxisError> {
        if axes.is_empty() {
            return Ok(self.cases());
        }
        let mut shapes = Vec::new();
        for case in self.cases() {
            shapes.extend(expand(case.shape, axes)?);
        }
        Ok(dedup_shapes(shapes)
            .into_iter()
            .map(BenchCase::swept)
            .collect())
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn dedup_shapes(shapes: impl IntoIterator<Item = Shape>) -> Vec<Shape> {
    let mut out: Vec<Shape> = Vec::new();
    for s in shapes {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// How a bench case is made.
#[derive(Debug, Clone, PartialEq)]
enum Recipe {
    /// A case of a suite (with its generator and tweak).
    Spec(Suite, CaseSpec),
    /// A shape of a sweep, made by the `challenge` generator.
    Swept,
}

/// One case of a bench: a name, a shape, and a recipe for as many independent input sets as wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchCase {
    /// Unique within the bench; also the seed label, so a case's inputs do not depend on the other cases.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    recipe: Recipe,
}

impl BenchCase {
    /// A case of `suite`.
    pub fn from_spec(suite: Suite, spec: CaseSpec) -> Self {
        Self {
            name: spec.name.to_owned(),
            shape: spec.shape,
            recipe: Recipe::Spec(suite, spec),
        }
    }

    /// A swept shape, generated with `challenge`. The perf shape keeps the name `perf` (so it has the inputs
    /// of the perf suite and matches it in comparisons); others are named `b32-s1024-d128-c16`.
    pub fn swept(shape: Shape) -> Self {
        if shape == Shape::PERF {
            return Self::from_spec(Suite::Perf, Suite::Perf.specs().remove(0));
        }
        Self {
            name: format!("b{}-s{}-d{}-c{}", shape.b, shape.s, shape.d, shape.c),
            shape,
            recipe: Recipe::Swept,
        }
    }

    /// Generates input set `set` of this case under the run's `seed`. Set 0 is the case exactly as
    /// `judge run` generates it; set k > 0 comes from a seed derived from the run's seed and k. True keys are
    /// dropped (a bench does not need them, and at S = 65,536 they would take 64 MiB per set).
    pub fn build_set(&self, seed: u64, set: usize) -> Result<Case, GenerateError> {
        let set_seed = if set == 0 {
            seed
        } else {
            derive_seed(seed, &format!("input-set-{set}"))
        };
        let mut case = match &self.recipe {
            Recipe::Spec(suite, spec) => spec.build(Some(*suite), set_seed)?,
            Recipe::Swept => {
                let case_seed = derive_seed(set_seed, &self.name);
                let generated = generate(Generator::Challenge, self.shape, case_seed)?;
                Case {
                    name: self.name.clone(),
                    source: CaseSource::Generated {
                        suite: None,
                        generator: Generator::Challenge,
                        seed: case_seed,
                        tweak: None,
                    },
                    inputs: generated.inputs,
                    true_keys: None,
                }
            }
        };
        case.true_keys = None;
        Ok(case)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::suites::DEFAULT_SEED;

    #[test]
    fn presets_hold_the_documented_cases() {
        let perf = Preset::Perf.cases();
        assert_eq!(perf.len(), 1);
        assert_eq!(
            (perf[0].name.as_str(), perf[0].shape),
            ("perf", Shape::PERF)
        );
        assert_eq!(Preset::Functional.cases().len(), 20);
        let scaling = Preset::Scaling.cases();
        // 7 values of S and 4 of D, the perf shape counted once.
        assert_eq!(scaling.len(), 10);
        assert_eq!(scaling.iter().filter(|c| c.name == "perf").count(), 1);
        assert!(scaling.iter().any(|c| c.name == "b32-s1024-d128-c16"));
        assert!(scaling.iter().any(|c| c.name == "b32-s32768-d256-c16"));
    }

    #[test]
    fn axes_replace_the_preset_dimensions() {
        let axes: Vec<Axis> = ["S=1024:4096:pow2", "D=64,128"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let cases = Preset::Perf.cases_with_axes(&axes).unwrap();
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "b32-s1024-d64-c16",
                "b32-s1024-d128-c16",
                "b32-s2048-d64-c16",
                "b32-s2048-d128-c16",
                "b32-s4096-d64-c16",
                "b32-s4096-d128-c16"
            ]
        );
    }

    #[test]
    fn input_sets_differ_and_set_zero_is_the_suite_case() {
        let case = BenchCase::swept(Shape::new(2, 16, 8, 4));
        let a = case.build_set(DEFAULT_SEED, 0).unwrap();
        let b = case.build_set(DEFAULT_SEED, 1).unwrap();
        assert_eq!(a.inputs.shape(), b.inputs.shape());
        assert_ne!(a.inputs, b.inputs);
        assert_eq!(case.build_set(DEFAULT_SEED, 1).unwrap().inputs, b.inputs);
        let spec = Suite::Functional.specs().remove(4);
        let from_suite = spec.build(Some(Suite::Functional), DEFAULT_SEED).unwrap();
        let bench = BenchCase::from_spec(Suite::Functional, spec);
        assert_eq!(
            bench.build_set(DEFAULT_SEED, 0).unwrap().inputs,
            from_suite.inputs
        );
    }
}
