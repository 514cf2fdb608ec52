//! `judge list`: the variants (and whether they can run here), the known-bad variants that test the judge,
//! the suites and the generators.

use solutions::{Availability, Solution};

use crate::challenge::generate::Generator;
use crate::challenge::suites::Suite;
use crate::table::{Align, Notes, Table};
use crate::verdict::ExitStatus;

use super::CommandError;

pub(super) fn list() -> Result<ExitStatus, CommandError> {
    let mut variants = Table::new(&[
        ("variant", Align::Left),
        ("backend", Align::Left),
        ("here", Align::Left),
        ("what it does", Align::Left),
    ]);
    let mut notes = Notes::default();
    for solution in solutions::registry() {
        let here = match solution.availability() {
            Availability::Available => "available".to_owned(),
            Availability::Unavailable(reason) => {
                format!("unavailable {}", notes.refer(&reason, solution.name()))
            }
        };
        variants.push(vec![
            solution.name().to_owned(),
            solution.backend().to_string(),
            here,
            solution.description().to_owned(),
        ]);
    }
    let mut known_bad = Table::new(&[
        ("variant", Align::Left),
        ("backend", Align::Left),
        ("what it gets wrong", Align::Left),
    ]);
    for solution in solutions::known_bad::all() {
        known_bad.push(vec![
            solution.name().to_owned(),
            solution.backend().to_string(),
            solution.description().to_owned(),
        ]);
    }
    let mut suites = Table::new(&[
        ("suite", Align::Left),
        ("cases", Align::Right),
        ("what it holds", Align::Left),
    ]);
    for suite in Suite::ALL {
        suites.push(vec![
            suite.name().to_owned(),
            suite.specs().len().to_string(),
            suite.description().to_owned(),
        ]);
    }
    let mut generators = Table::new(&[("generator", Align::Left), ("what it makes", Align::Left)]);
    for generator in Generator::ALL {
        generators.push(vec![
            generator.name().to_owned(),
            generator.description().to_owned(),
        ]);
    }
    crate::out!(
        "{}{}\nknown-bad variants, for testing the judge: each must fail\n{}\n{}\n{}",
        variants.render_text(),
        notes.render_text(),
        known_bad.render_text(),
        suites.render_text(),
        generators.render_text()
    );
    Ok(ExitStatus::Success)
}
