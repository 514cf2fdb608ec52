//! `judge compare OLD.json NEW.json`: the ratio table of two results documents, with a noise judgement.

use crate::cli::CompareArgs;
use crate::compare::{Row, compare as compare_docs, machine_differences, summary, table};
use crate::results::ResultsDoc;
use crate::verdict::ExitStatus;

use super::CommandError;

pub(super) fn compare(args: &CompareArgs) -> Result<ExitStatus, CommandError> {
    let old = ResultsDoc::read(&args.old).map_err(CommandError::Input)?;
    let new = ResultsDoc::read(&args.new).map_err(CommandError::Input)?;
    let differences = machine_differences(&old.meta, &new.meta);
    if !differences.is_empty() {
        crate::errln!(
            "warning: {} and {} were measured on different machines ({}): their ratios say as much about \
             the machines as about the code",
            args.old.display(),
            args.new.display(),
            differences.join("; ")
        );
    }
    let rows = compare_docs(&old, &new);
    let t = table(&rows);
    if args.markdown {
        crate::out!("{}", t.render_markdown());
    } else {
        crate::out!("{}", t.render_text());
    }
    crate::outln!(
        "\n{} (old: {}, new: {}; beyond noise = the medians' 95% confidence intervals do not overlap)",
        summary(&rows),
        args.old.display(),
        args.new.display()
    );
    // Documents of different runs (other solutions, cases or modes) compare nothing: that is not a result.
    if !rows.iter().any(Row::is_matched) {
        return Err(CommandError::Usage(format!(
            "{} and {} share no entry (the same solution, case and mode), so nothing was compared",
            args.old.display(),
            args.new.display()
        )));
    }
    Ok(ExitStatus::Success)
}
