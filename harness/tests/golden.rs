//! The golden cases in `fixtures/cases/`: generation is reproducible bit for bit, and the oracle gives the stored
//! scores exactly. The worked example's scores are the hand-computed ones of DESIGN.md §3.

use std::path::PathBuf;

use harness::challenge::generate::WORKED_EXAMPLE_SCORES;
use harness::challenge::oracle;
use harness::challenge::suites::{DEFAULT_SEED, Suite};
use harness::io::read_case;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/cases")
        .join(format!("{name}.json"))
}

#[test]
fn worked_example_scores_are_exact() {
    let file = read_case(&fixture("worked-example")).unwrap();
    assert_eq!(file.scores.as_deref(), Some(&WORKED_EXAMPLE_SCORES[..]));
    assert_eq!(oracle::scores(&file.inputs), WORKED_EXAMPLE_SCORES.to_vec());
    let generated = Suite::Example.specs()[0]
        .build(Some(Suite::Example), DEFAULT_SEED)
        .unwrap();
    assert_eq!(generated.inputs, file.inputs);
}

#[test]
fn generators_reproduce_the_golden_inputs_bit_for_bit() {
    for name in ["public-04", "public-07"] {
        let file = read_case(&fixture(name)).unwrap();
        let spec = Suite::Functional
            .specs()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        let case = spec.build(Some(Suite::Functional), DEFAULT_SEED).unwrap();
        let (a, b) = (case.inputs.into_parts(), file.inputs.clone().into_parts());
        // Compare bit patterns, so -0.0 vs 0.0 or a NaN payload would show.
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.q), bits(&b.q), "{name}: Q");
        assert_eq!(a.k_idx, b.k_idx, "{name}: K_idx");
        assert_eq!(a.qjl_signs, b.qjl_signs, "{name}: qjl_signs");
        assert_eq!(bits(&a.gamma), bits(&b.gamma), "{name}: gamma");
        assert_eq!(bits(&a.pi), bits(&b.pi), "{name}: Pi");
        assert_eq!(bits(&a.s_mat), bits(&b.s_mat), "{name}: S_mat");
        assert_eq!(bits(&a.codebook), bits(&b.codebook), "{name}: codebook");
        assert_eq!(
            oracle::scores(&file.inputs),
            file.scores.unwrap(),
            "{name}: oracle drifted"
        );
    }
}
