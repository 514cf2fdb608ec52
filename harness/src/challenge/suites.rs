//! The named suites of cases: `example` (the worked example), `functional` (the public challenge's ten cases and
//! our edge cases), `perf` (the performance case). A case is a name, a shape, a generator and an optional tweak;
//! its seed is derived from the run's seed and the case name, so adding a case never changes another.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use solutions::{Inputs, Shape};

use super::generate::{GenerateError, Generator, WORKED_EXAMPLE_SHAPE, generate};
use super::rng::derive_seed;

/// The seed used when none is given (the arXiv number of the TurboQuant paper).
pub const DEFAULT_SEED: u64 = 250_419_874;

/// A named group of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Suite {
    /// The worked example of DESIGN.md §3, checked to the last bit.
    Example,
    /// The public challenge's functional cases plus edge cases of the constraint space.
    Functional,
    /// The performance case: B=32, S=32,768, D=128, C=16.
    Perf,
}

impl Suite {
    /// Every suite.
    pub const ALL: [Suite; 3] = [Suite::Example, Suite::Functional, Suite::Perf];

    /// The name used on the command line and in results.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::Example => "example",
            Suite::Functional => "functional",
            Suite::Perf => "perf",
        }
    }

    /// One line saying what it holds.
    pub const fn description(self) -> &'static str {
        match self {
            Suite::Example => "the worked example (B=2 S=3 D=2 C=4), exact scores known by hand",
            Suite::Functional => "the public challenge's 10 functional cases and 10 edge cases",
            Suite::Perf => "the performance case B=32 S=32768 D=128 C=16",
        }
    }

    /// The cases of this suite.
    pub fn specs(self) -> Vec<CaseSpec> {
        match self {
            Suite::Example => vec![CaseSpec::new(
                "worked-example",
                WORKED_EXAMPLE_SHAPE,
                Generator::WorkedExample,
            )],
            Suite::Functional => functional(),
            Suite::Perf => vec![CaseSpec::new("perf", Shape::PERF, Generator::Challenge)],
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A change applied after generation, to reach corners the generators do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tweak {
    /// All queries zero: every score is exactly zero.
    ZeroQ,
    /// All residual norms zero: the QJL term vanishes.
    ZeroGamma,
}

/// How to make one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSpec {
    /// Unique within its suite; also the seed label.
    pub name: &'static str,
    /// Its shape.
    pub shape: Shape,
    /// Its generator.
    pub generator: Generator,
    /// An optional change after generation.
    pub tweak: Option<Tweak>,
}

impl CaseSpec {
    const fn new(name: &'static str, shape: Shape, generator: Generator) -> Self {
        Self {
            name,
            shape,
            generator,
            tweak: None,
        }
    }

    const fn tweaked(self, tweak: Tweak) -> Self {
        Self {
            tweak: Some(tweak),
            ..self
        }
    }

    /// Generates the case under the run's `seed`.
    pub fn build(&self, suite: Option<Suite>, seed: u64) -> Result<Case, GenerateError> {
        let case_seed = derive_seed(seed, self.name);
        let generated = generate(self.generator, self.shape, case_seed)?;
        let mut inputs = generated.inputs;
        if let Some(tweak) = self.tweak {
            let mut parts = inputs.into_parts();
            match tweak {
                Tweak::ZeroQ => parts.q.fill(0.0),
                Tweak::ZeroGamma => parts.gamma.fill(0.0),
            }
            inputs = Inputs::new(parts)?;
        }
        Ok(Case {
            name: self.name.to_owned(),
            source: CaseSource::Generated {
                suite,
                generator: self.generator,
                seed: case_seed,
                tweak: self.tweak,
            },
            inputs,
            true_keys: generated.true_keys,
        })
    }
}

/// Where a case came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CaseSource {
    /// Made by a generator.
    Generated {
        /// The suite it belongs to, if any.
        suite: Option<Suite>,
        /// The generator.
        generator: Generator,
        /// The case's own seed (derived from the run's seed and the case name).
        seed: u64,
        /// The tweak applied after generation.
        tweak: Option<Tweak>,
    },
    /// Read from a file.
    File {
        /// The file's path as given.
        #[serde(with = "crate::results::path_text")]
        path: PathBuf,
    },
}

/// One case ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// Where it came from.
    pub source: CaseSource,
    /// The validated inputs.
    pub inputs: Inputs,
    /// `[S, D]` true keys when known (for estimate quality).
    pub true_keys: Option<Vec<f64>>,
}

impl Case {
    /// The suite's name, or `file` for a case read from disk.
    pub fn origin_label(&self) -> String {
        match &self.source {
            CaseSource::Generated { suite: Some(s), .. } => s.name().to_owned(),
            CaseSource::Generated {
                suite: None,
                generator,
                ..
            } => generator.name().to_owned(),
            CaseSource::File { .. } => "file".to_owned(),
        }
    }
}

fn functional() -> Vec<CaseSpec> {
    use Generator::{Challenge, Turboquant, Uniform};
    let case = |name, b, s, d, c, g| CaseSpec::new(name, Shape::new(b, s, d, c), g);
    vec![
        // The public challenge's functional cases (B, S, D, C).
        case("public-01", 1, 1, 1, 2, Challenge),
        case("public-02-zero-q", 2, 3, 4, 4, Challenge).tweaked(Tweak::ZeroQ),
        case("public-03", 2, 4, 4, 4, Challenge),
        case("public-04", 4, 16, 32, 8, Challenge),
        case("public-05", 8, 64, 64, 16, Challenge),
        case("public-06", 16, 128, 128, 16, Challenge),
        case("public-07", 3, 30, 50, 8, Challenge),
        case("public-08", 7, 255, 100, 16, Challenge),
        case("public-09", 16, 4096, 128, 16, Challenge),
        case("public-10", 32, 8192, 128, 8, Challenge),
        // Edge cases of the constraint space.
        case("edge-s-prime", 5, 1021, 128, 16, Challenge),
        case("edge-d1", 4, 100, 1, 4, Uniform),
        case("edge-d256", 8, 512, 256, 16, Challenge),
        case("edge-odd-d", 32, 333, 37, 16, Uniform),
        case("edge-c2", 4, 257, 64, 2, Challenge),
        case("edge-c256-high-idx", 4, 300, 64, 256, Uniform),
        case("edge-gamma0", 4, 64, 32, 8, Challenge).tweaked(Tweak::ZeroGamma),
        case("edge-b1", 1, 2048, 128, 16, Challenge),
        case("edge-s65536", 2, 65_536, 32, 16, Challenge),
        case("turboquant", 8, 1024, 128, 16, Turboquant),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functional_cases_have_unique_names_and_valid_shapes() {
        let specs = Suite::Functional.specs();
        assert_eq!(specs.len(), 20);
        let mut names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 20);
        for spec in &specs {
            spec.shape.validate().unwrap();
        }
    }

    #[test]
    fn edge_cases_reach_their_corners() {
        let specs = Suite::Functional.specs();
        let find = |name: &str| {
            specs
                .iter()
                .find(|s| s.name == name)
                .unwrap()
                .build(None, DEFAULT_SEED)
                .unwrap()
        };
        let high = find("edge-c256-high-idx");
        assert!(
            high.inputs.k_idx.iter().any(|&i| i >= 128),
            "no index ≥ 128"
        );
        assert!(find("edge-gamma0").inputs.gamma.iter().all(|&g| g == 0.0));
        assert!(find("public-02-zero-q").inputs.q.iter().all(|&q| q == 0.0));
        let odd = find("edge-s-prime").inputs.shape().s;
        assert!([8, 16, 32, 64, 128, 256].iter().all(|t| odd % t != 0));
    }

    #[test]
    fn case_seeds_depend_on_the_run_seed_and_name() {
        let spec = &Suite::Functional.specs()[3];
        let a = spec.build(None, 1).unwrap();
        let b = spec.build(None, 1).unwrap();
        let c = spec.build(None, 2).unwrap();
        assert_eq!(a.inputs, b.inputs);
        assert_ne!(a.inputs, c.inputs);
    }

    #[test]
    fn perf_suite_is_the_perf_shape() {
        assert_eq!(Suite::Perf.specs()[0].shape, Shape::PERF);
    }
}
