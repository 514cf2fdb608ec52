//! Reports rendered from a results document (criterion's way: the measurement writes JSON, the report reads
//! it back): one self-contained HTML page with inline SVG charts, the same charts as PNG files, and a
//! Markdown table.
//!
//! * [`analysis`]: what the charts show, extracted from the document;
//! * [`charts`]: the charts (plotters, embedded font);
//! * [`html`], [`markdown`], [`tables`]: the text formats;
//! * [`font`]: the embedded font.

pub mod analysis;
pub mod charts;
pub mod font;
pub mod html;
pub mod markdown;
pub mod tables;

use std::path::{Path, PathBuf};

use self::charts::{Chart, ChartError, ChartKind};
use self::html::ChartSection;
use crate::results::ResultsDoc;

/// The HTML page's file name in a report directory.
pub const HTML_FILE: &str = "index.html";
/// The Markdown file's name in a report directory.
pub const MARKDOWN_FILE: &str = "results.md";

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report directory could not be created.
    #[error("could not create the report directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A chart could not be drawn.
    #[error(transparent)]
    Chart(#[from] ChartError),
}

/// What a report wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    /// The HTML page.
    pub html: PathBuf,
    /// The Markdown table.
    pub markdown: PathBuf,
    /// The PNG charts.
    pub charts: Vec<PathBuf>,
    /// Charts not drawn, with the reason.
    pub skipped: Vec<(ChartKind, String)>,
}

/// Where the chart of `kind` is written in a report's directory `dir`.
pub fn chart_path(dir: &Path, kind: ChartKind) -> PathBuf {
    dir.join(format!("{}.png", kind.file_stem()))
}

/// Every file a report may write into `dir`: the HTML page, the Markdown table and each chart.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    [dir.join(HTML_FILE), dir.join(MARKDOWN_FILE)]
        .into_iter()
        .chain(ChartKind::ALL.iter().map(|&kind| chart_path(dir, kind)))
        .collect()
}

/// Writes the report of `doc` into `dir` (created if needed): `index.html`, `results.md` and one PNG per
/// chart the document can fill. `source` names the JSON file in the page's footer.
pub fn write(doc: &ResultsDoc, dir: &Path, source: &str) -> Result<ReportFiles, ReportError> {
    crate::io::create_dir(dir).map_err(|source| ReportError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let mut sections = Vec::new();
    let mut pngs = Vec::new();
    let mut skipped = Vec::new();
    for kind in ChartKind::ALL {
        let png = chart_path(dir, kind);
        match Chart::prepare(kind, doc) {
            Ok(chart) => {
                chart.png(&png)?;
                pngs.push(png);
                sections.push(ChartSection {
                    kind,
                    svg: Ok(chart.svg()?),
                });
            }
            Err(why) => {
                // A chart from an earlier report in this directory would now be stale.
                if png.is_file() {
                    std::fs::remove_file(&png).map_err(|source| ReportError::Write {
                        path: png.clone(),
                        source,
                    })?;
                }
                skipped.push((kind, why.clone()));
                sections.push(ChartSection {
                    kind,
                    svg: Err(why),
                });
            }
        }
    }
    let html = dir.join(HTML_FILE);
    write_file(&html, html::render(doc, &sections, source).as_bytes())?;
    let markdown = dir.join(MARKDOWN_FILE);
    write_file(&markdown, markdown::render(doc).as_bytes())?;
    Ok(ReportFiles {
        html,
        markdown,
        charts: pngs,
        skipped,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::DEFAULT_TOLERANCE;
    use crate::results::Meta;

    /// With nothing timed (every variant skipped), each chart says that, not that a sweep or a bench is missing.
    #[test]
    fn a_report_of_nothing_timed_says_so() {
        let doc = ResultsDoc::new(Meta::now(1, DEFAULT_TOLERANCE));
        let dir = tempfile::tempdir().unwrap();
        let files = write(&doc, dir.path(), "results.json").unwrap();
        assert!(files.charts.is_empty());
        assert_eq!(files.skipped.len(), ChartKind::ALL.len());
        for (kind, why) in &files.skipped {
            assert!(
                why.contains("no variant was timed") || why.contains("no solution was measured"),
                "{kind:?}: {why}"
            );
        }
    }
}
