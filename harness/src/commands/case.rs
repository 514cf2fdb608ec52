//! `judge case export` and `judge case info`: moving cases between this judge and other tools.

use std::path::Path;

use crate::challenge::{DEFAULT_TOLERANCE, oracle};
use crate::check::{CheckReport, check};
use crate::cli::{ExportArgs, InfoArgs};
use crate::io::{CaseFile, FileError, Format, read_case, write_case};
use crate::table::{Align, Table};
use crate::verdict::ExitStatus;

use super::{CommandError, error_figures, format_error};

pub(super) fn export(args: &ExportArgs) -> Result<ExitStatus, CommandError> {
    let mut specs = args.suite.specs();
    if let Some(name) = &args.name {
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        specs.retain(|s| s.name == name);
        if specs.is_empty() {
            return Err(CommandError::Usage(format!(
                "suite {} has no case '{name}'; its cases: {}",
                args.suite,
                names.join(", ")
            )));
        }
    }
    // One case to a path with a case-file extension is a file; anything else is a directory of files.
    let single = specs.len() == 1 && !args.out.is_dir() && args.out.extension().is_some();
    if single {
        Format::from_path(&args.out).map_err(CommandError::Input)?;
    } else {
        if specs.len() > 1 && Format::from_path(&args.out).is_ok() {
            return Err(CommandError::Usage(format!(
                "suite {} has {} cases: give --out a directory (or pick one case with --name)",
                args.suite,
                specs.len()
            )));
        }
        crate::io::create_dir(&args.out)
            .map_err(|e| CommandError::Output(FileError::io(&args.out, e)))?;
    }
    for spec in &specs {
        let case =
            spec.build(Some(args.suite), args.seed)
                .map_err(|source| CommandError::Generate {
                    case: spec.name.to_owned(),
                    source,
                })?;
        let scores = (!args.no_scores).then(|| oracle::scores(&case.inputs));
        let path = if single {
            args.out.clone()
        } else {
            args.out
                .join(format!("{}.{}", spec.name, args.format.extension()))
        };
        let file = CaseFile {
            name: Some(case.name.clone()),
            inputs: case.inputs,
            scores,
            ignored: Vec::new(),
        };
        write_case(&path, &file).map_err(CommandError::Output)?;
        crate::outln!(
            "wrote {} ({}{})",
            path.display(),
            file.inputs.shape(),
            if args.no_scores { "" } else { ", with scores" }
        );
    }
    Ok(ExitStatus::Success)
}

/// Validates a case file and compares its stored scores with the oracle. Stored scores that disagree make the
/// file an invalid case (exit status 2, as any other invalid case file): whoever uses them as references would
/// judge against wrong answers.
pub(super) fn info(args: &InfoArgs) -> Result<ExitStatus, CommandError> {
    let file = read_case(&args.file).map_err(CommandError::Input)?;
    let expected = file.scores.as_ref().map(|_| oracle::scores(&file.inputs));
    let stored = expected
        .as_deref()
        .and_then(|expected| stored_scores(&file, expected));
    crate::out!("{}", describe(&args.file, &file, stored.as_ref()));
    if let Some(report) = &stored {
        refuse_disagreeing(&args.file, report)?;
    }
    Ok(ExitStatus::Success)
}

/// How the scores stored in `file` (if any) compare with `expected`, the oracle's scores of its inputs.
fn stored_scores(file: &CaseFile, expected: &[f64]) -> Option<CheckReport> {
    let scores = file.scores.as_ref()?;
    let stored: Vec<f32> = scores.iter().map(|&s| s as f32).collect();
    Some(check(
        &stored,
        expected,
        file.inputs.shape(),
        DEFAULT_TOLERANCE,
    ))
}

/// Refuses the case file at `path` when the scores stored in it disagree with `expected`, the oracle's scores of
/// its inputs, beyond the default tolerance: [`FileError::StoredScores`], which says how many disagree, the first
/// and the worst of them. Every command that reads a case file refuses such a file, as `judge case info`
/// does: the file contradicts itself (inputs edited after the scores were written, or scores of another case),
/// and whoever takes its scores as references would judge against wrong answers.
pub(super) fn refuse_wrong_stored_scores(
    path: &Path,
    file: &CaseFile,
    expected: &[f64],
) -> Result<(), CommandError> {
    match stored_scores(file, expected) {
        Some(report) => refuse_disagreeing(path, &report),
        None => Ok(()),
    }
}

/// [`refuse_wrong_stored_scores`] with `report`, the check of the stored scores against the oracle, made. Its
/// reason names the first and the worst of the elements that disagree.
fn refuse_disagreeing(path: &Path, report: &CheckReport) -> Result<(), CommandError> {
    match report.reason() {
        Some(reason) => Err(CommandError::Input(FileError::StoredScores {
            path: path.to_owned(),
            reason,
        })),
        None => Ok(()),
    }
}

/// A human-readable description of a case file: shape, value ranges, and how its stored scores (`stored`, from
/// [`stored_scores`]) compare with the oracle.
fn describe(path: &Path, file: &CaseFile, stored: Option<&CheckReport>) -> String {
    let x = &file.inputs;
    let shape = x.shape();
    let name = file.name.as_deref().unwrap_or("(unnamed)");
    let mut out = if stored.is_some_and(|report| !report.passed) {
        format!(
            "{}: case '{name}', {shape}: valid inputs, but its stored scores disagree with the oracle\n",
            path.display()
        )
    } else {
        format!("{}: valid case '{name}', {shape}\n", path.display())
    };
    let range = |v: &[f32]| {
        let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        format!("[{lo}, {hi}]")
    };
    let mut table = Table::new(&[
        ("field", Align::Left),
        ("dims", Align::Left),
        ("values", Align::Left),
    ]);
    let max_idx = x.k_idx.iter().copied().max().unwrap_or(0);
    let rows = [
        ("Q", format!("{:?}", [shape.b, shape.d]), range(&x.q)),
        (
            "K_idx",
            format!("{:?}", [shape.s, shape.d]),
            format!("max index {max_idx} (C = {})", shape.c),
        ),
        (
            "qjl_signs",
            format!("{:?}", [shape.s, shape.d]),
            format!("{} of +1", x.qjl_signs.iter().filter(|&&v| v == 1).count()),
        ),
        ("gamma", format!("{:?}", [shape.s]), range(&x.gamma)),
        (
            "Pi",
            format!("{:?}", [shape.d, shape.d]),
            "orthogonal".to_owned(),
        ),
        (
            "S_mat",
            format!("{:?}", [shape.d, shape.d]),
            range(&x.s_mat),
        ),
        ("codebook", format!("{:?}", [shape.c]), range(&x.codebook)),
    ];
    for (field, dims, values) in rows {
        table.push(vec![field.to_owned(), dims, values]);
    }
    out.push_str(&table.render_text());
    match stored {
        None => out.push_str("no stored scores\n"),
        Some(report) => {
            let [abs, _, frob] = error_figures(report, format_error);
            out.push_str(&format!(
                "stored scores vs the oracle: max abs err {abs}, rel frob {frob} — {}\n",
                report
                    .reason()
                    .unwrap_or_else(|| format!("within {DEFAULT_TOLERANCE}"))
            ));
        }
    }
    if !file.ignored.is_empty() {
        out.push_str(&format!(
            "ignored arrays (not fields of this problem): {}\n",
            file.ignored.join(", ")
        ));
    }
    out
}
