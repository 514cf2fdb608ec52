//! `judge list`: the variants (and whether they can run here), the suites and the generators.

use solutions::Availability;

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
        "{}{}\n{}\n{}",
        variants.render_text(),
        notes.render_text(),
        suites.render_text(),
        generators.render_text()
    );
    Ok(ExitStatus::Success)
}
