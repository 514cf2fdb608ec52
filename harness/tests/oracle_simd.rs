//! The oracle's dot-product loop compiled for each wide instruction set (AVX2, AVX-512F) rounds every sum exactly
//! as the portable loop does, so the oracle's scores do not depend on the machine that computes them.
//!
//! A form this CPU lacks is reported as *ignored*, never as passed, after a visible `skipped: …` line; forced to
//! run (`--include-ignored`) it fails and says what the CPU lacks. The loop the dispatcher picks on this machine
//! is checked by the oracle's own unit tests.

use harness::challenge::oracle::compiled_dots;
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let dots = compiled_dots();
    if dots.is_empty() {
        println!(
            "skipped: not an x86-64 CPU; there is no compiled dot product beside the portable one"
        );
    }
    let trials = dots
        .into_iter()
        .map(|dot| {
            if let Some(missing) = dot.missing {
                println!(
                    "skipped: {missing}; the {} dot product is reported as ignored",
                    dot.name
                );
            }
            let check = dot.check;
            Trial::test(format!("{}/rounds-like-portable", dot.name), move || {
                check().map_err(Failed::from)
            })
            .with_ignored_flag(dot.missing.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
