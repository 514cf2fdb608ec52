//! `judge report results.json [--out DIR]`: renders the HTML page, Markdown table and PNG charts of a
//! results document.

use std::path::Path;

use crate::cli::ReportArgs;
use crate::report;
use crate::results::ResultsDoc;
use crate::verdict::ExitStatus;

use super::CommandError;
use super::run::refuse_overwriting_inputs;

pub(super) fn report(args: &ReportArgs) -> Result<ExitStatus, CommandError> {
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => crate::io::parent_dir(&args.results).to_owned(),
    };
    super::refuse_file_as_report_dir("--out", &dir)?;
    let files = report::files_in(&dir);
    let outputs: Vec<(&str, &Path)> = files.iter().map(|f| ("--out", f.as_path())).collect();
    refuse_overwriting_inputs(&outputs, &[args.results.as_path()])?;
    let doc = ResultsDoc::read(&args.results).map_err(CommandError::Input)?;
    let source = args
        .results
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.results.display().to_string());
    let files = report::write(&doc, &dir, &source)?;
    crate::outln!("report written to {}", files.html.display());
    crate::outln!("markdown: {}", files.markdown.display());
    for png in &files.charts {
        crate::outln!("chart: {}", png.display());
    }
    for (kind, why) in &files.skipped {
        crate::outln!("chart {} not drawn: {why}", kind.file_stem());
    }
    Ok(ExitStatus::Success)
}
