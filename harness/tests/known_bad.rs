//! The known-bad variants must each be rejected on the functional suite, and the reference variant must pass
//! it with a precision far tighter than the default tolerance.

use std::collections::BTreeMap;

use harness::challenge::OWN_VARIANT_REL_FROBENIUS;
use harness::challenge::suites::Suite;
use harness::commands::run::CaseRef;
use harness::commands::run_in_memory;
use harness::verdict::{ExitStatus, Verdict};
use solutions::known_bad::{KnownBad, Mistake};
use solutions::{Solution, cpu_naive::CpuNaive};

/// Verdict per case name for one solution on the functional suite.
fn verdicts(solution: Box<dyn Solution>) -> (BTreeMap<String, Verdict>, Vec<f64>) {
    let entries =
        run_in_memory(vec![solution], CaseRef::collect(&[Suite::Functional], &[])).unwrap();
    let frob = entries
        .iter()
        .filter_map(|e| e.check.as_ref().map(|c| c.rel_frobenius))
        .collect();
    (
        entries
            .iter()
            .map(|e| (e.case.name.clone(), e.verdict))
            .collect(),
        frob,
    )
}

fn failing(v: &BTreeMap<String, Verdict>) -> Vec<&str> {
    v.iter()
        .filter(|(_, verdict)| **verdict == Verdict::WrongAnswer)
        .map(|(n, _)| n.as_str())
        .collect()
}

fn rejected(mistake: Mistake) -> BTreeMap<String, Verdict> {
    let (v, _) = verdicts(Box::new(KnownBad(mistake)));
    assert_eq!(
        ExitStatus::from_verdicts(v.values().copied()),
        ExitStatus::WrongAnswer,
        "{mistake:?} was not rejected: {v:?}"
    );
    v
}

#[test]
fn reference_passes_every_functional_case_tightly() {
    let (v, frob) = verdicts(Box::new(CpuNaive));
    assert!(v.values().all(|&x| x == Verdict::Pass), "{v:?}");
    assert_eq!(v.len(), Suite::Functional.specs().len());
    assert!(
        frob.iter().all(|&f| f <= OWN_VARIANT_REL_FROBENIUS),
        "{frob:?}"
    );
}

#[test]
fn dropping_qjl_fails_wherever_the_term_matters() {
    let v = rejected(Mistake::DropsQjl);
    // Identical to the reference where the QJL term is zero.
    assert_eq!(v["public-02-zero-q"], Verdict::Pass);
    assert_eq!(v["edge-gamma0"], Verdict::Pass);
    for case in [
        "public-05",
        "public-09",
        "edge-d256",
        "turboquant",
        "edge-c2",
    ] {
        assert_eq!(v[case], Verdict::WrongAnswer, "{case}");
    }
}

#[test]
fn sqrt_d_coefficient_fails_except_at_d1() {
    let v = rejected(Mistake::SqrtDCoefficient);
    // sqrt(D) = D only at D = 1.
    assert_eq!(v["public-01"], Verdict::Pass);
    assert_eq!(v["edge-d1"], Verdict::Pass);
    for case in ["public-06", "public-10", "edge-s65536", "turboquant"] {
        assert_eq!(v[case], Verdict::WrongAnswer, "{case}");
    }
}

#[test]
fn transposed_pi_fails_except_where_pi_is_symmetric() {
    let v = rejected(Mistake::PiTransposed);
    assert_eq!(v["public-01"], Verdict::Pass);
    assert_eq!(v["edge-d1"], Verdict::Pass);
    for case in ["public-03", "public-07", "edge-odd-d", "edge-c256-high-idx"] {
        assert_eq!(v[case], Verdict::WrongAnswer, "{case}");
    }
}

#[test]
fn signed_indices_are_caught_only_by_the_c256_case() {
    let v = rejected(Mistake::SignedIndices);
    assert_eq!(failing(&v), vec!["edge-c256-high-idx"]);
}

#[test]
fn an_unwritten_last_output_fails_every_case_as_unwritten() {
    let entries = run_in_memory(
        vec![Box::new(KnownBad(Mistake::LastOutputUnwritten))],
        CaseRef::collect(&[Suite::Functional], &[]),
    )
    .unwrap();
    for e in &entries {
        assert_eq!(e.verdict, Verdict::WrongAnswer, "{}", e.case.name);
        let check = e.check.as_ref().unwrap();
        assert_eq!(check.unwritten, 1, "{}", e.case.name);
        assert!(e.reason.as_ref().unwrap().contains("never written"));
    }
}
