//! `judge list`: the variants (and whether they can run here), the suites and the generators.

use solutions::Availability;

use crate::challenge::generate::Generator;
use crate::challenge::suites::Suite;
use crate::table::{Align, Table};
use crate::verdict::ExitStatus;

use super::CommandError;

pub(super) fn list() -> Result<ExitStatus, CommandError> {
    let mut variants = Table::new(&[
        ("variant", Align::Left),
        ("backend", Align::Left),
        ("here", Align::Left),
        ("what it does", Align::Left),
    ]);
    let registry = solutions::registry();
    let (here, notes) = availability_column(
        registry
            .iter()
            .map(|s| (s.name(), s.availability()))
            .collect(),
    );
    for (solution, here) in registry.iter().zip(here) {
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
    let notes: String = if notes.is_empty() {
        String::new()
    } else {
        format!("\n{}\n", notes.join("\n"))
    };
    print!(
        "{}{notes}\n{}\n{}",
        variants.render_text(),
        suites.render_text(),
        generators.render_text()
    );
    Ok(ExitStatus::Success)
}

/// The "here" column for `(name, availability)` pairs, in order, and the notes it refers to: a variant that
/// cannot run here reads `unavailable (n)`, and note `n` gives the reason once for every variant that shares it,
/// so that a long reason (a missing driver, say) does not widen the table.
fn availability_column(variants: Vec<(&str, Availability)>) -> (Vec<String>, Vec<String>) {
    let mut reasons: Vec<(String, Vec<&str>)> = Vec::new();
    let column = variants
        .into_iter()
        .map(|(name, availability)| match availability {
            Availability::Available => "available".to_owned(),
            Availability::Unavailable(reason) => {
                let index = match reasons.iter().position(|(r, _)| *r == reason) {
                    Some(i) => i,
                    None => {
                        reasons.push((reason, Vec::new()));
                        reasons.len() - 1
                    }
                };
                reasons[index].1.push(name);
                format!("unavailable ({})", index + 1)
            }
        })
        .collect();
    let notes = reasons
        .iter()
        .enumerate()
        .map(|(i, (reason, names))| format!("({}) {}: {reason}", i + 1, names.join(", ")))
        .collect();
    (column, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_reasons_are_given_once_below_the_table() {
        let no_driver = || Availability::Unavailable("no NVIDIA driver".to_owned());
        let (column, notes) = availability_column(vec![
            ("cpu", Availability::Available),
            ("gpu-a", no_driver()),
            ("avx", Availability::Unavailable("lacks AVX-512".to_owned())),
            ("gpu-b", no_driver()),
        ]);
        assert_eq!(
            column,
            [
                "available",
                "unavailable (1)",
                "unavailable (2)",
                "unavailable (1)"
            ]
        );
        assert_eq!(
            notes,
            [
                "(1) gpu-a, gpu-b: no NVIDIA driver",
                "(2) avx: lacks AVX-512"
            ]
        );
        let (column, notes) = availability_column(vec![("cpu", Availability::Available)]);
        assert_eq!((column, notes.len()), (vec!["available".to_owned()], 0));
    }
}
