//! `cpu-tiled` through the judge: every functional case and the perf case pass, with a precision far tighter than
//! the default tolerance, on the path `registry()` lists and on every lower path this CPU can run.

use harness::challenge::OWN_VARIANT_REL_FROBENIUS;
use harness::challenge::suites::Suite;
use harness::commands::run::CaseRef;
use harness::commands::run_in_memory;
use harness::verdict::Verdict;
use solutions::Solution;
use solutions::cpu_tiled::{CpuTiled, Isa};

/// Runs `solutions` on `suites`; asserts every entry passes within the own-variant precision and returns the
/// largest relative Frobenius error seen.
fn assert_all_pass(solutions: Vec<Box<dyn Solution>>, suites: &[Suite]) -> f64 {
    let count = solutions.len();
    let entries = run_in_memory(solutions, CaseRef::collect(suites, &[])).unwrap();
    let cases: usize = suites.iter().map(|s| s.specs().len()).sum();
    assert_eq!(entries.len(), cases * count);
    let mut worst = 0.0f64;
    for e in entries {
        assert_eq!(
            e.verdict,
            Verdict::Pass,
            "{} on {}: {:?}",
            e.solution,
            e.case.name,
            e.reason
        );
        let frob = e.check.as_ref().expect("a pass has a check").rel_frobenius;
        assert!(
            frob <= OWN_VARIANT_REL_FROBENIUS,
            "{} on {}: relative Frobenius error {frob:e}",
            e.solution,
            e.case.name
        );
        worst = worst.max(frob);
    }
    worst
}

#[test]
fn listed_variant_passes_functional_and_perf_tightly() {
    let listed = solutions::find("cpu-tiled").expect("registry lists cpu-tiled");
    assert!(listed.availability().is_available());
    let worst = assert_all_pass(vec![listed], &[Suite::Functional, Suite::Perf]);
    eprintln!(
        "cpu-tiled ({}): worst relative Frobenius error {worst:.2e}",
        Isa::best()
    );
}

#[test]
fn every_supported_path_passes_the_functional_suite_tightly() {
    let paths: Vec<Box<dyn Solution>> = Isa::ALL
        .into_iter()
        .filter(|isa| isa.is_supported())
        .map(|isa| Box::new(CpuTiled::with_isa(isa)) as Box<dyn Solution>)
        .collect();
    assert!(!paths.is_empty());
    assert_all_pass(paths, &[Suite::Functional]);
}

#[test]
fn unsupported_paths_are_skipped_with_a_reason() {
    for isa in Isa::ALL.into_iter().filter(|isa| !isa.is_supported()) {
        let entries = run_in_memory(
            vec![Box::new(CpuTiled::with_isa(isa))],
            CaseRef::collect(&[Suite::Example], &[]),
        )
        .unwrap();
        let e = &entries[0];
        assert_eq!(e.verdict, Verdict::Skipped, "{isa}");
        assert!(e.reason.as_ref().unwrap().contains("lacks"), "{isa}");
    }
}
