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
    use crate::error_profile::ErrorProfile;
    use crate::results::{Basis, Clock, CpuCeilings, Derived, Entry, Meta, Mode, Timing};
    use crate::verdict::Verdict;

    /// Text a submission controls, made to break out of every context the report puts it in.
    const HOSTILE: &str = "</title></script><script>alert(1)</script><img src=x onerror=\"a()\" 'q'>\
                           &amp;\u{1b}[2J\u{202e}</svg><!--";

    /// A bench document: `names` timed warm at S = 64 and 128 against CPU ceilings, with error profiles, and one
    /// wrong answer and one skipped variant.
    fn bench_doc(names: &[&str]) -> ResultsDoc {
        let template: ResultsDoc =
            serde_json::from_str(include_str!("../../tests/data/run-v1.json")).unwrap();
        let mut doc = ResultsDoc::new(template.meta.clone());
        doc.meta.cpu_peak = Some(CpuCeilings {
            fma_gflops: 200.0,
            read_gbps: 20.0,
            threads: 2,
            simd: "avx2+fma".to_owned(),
        });
        let base = template.entries[0].clone();
        for s in [64, 128] {
            for (i, name) in names.iter().enumerate() {
                let mut e = Entry {
                    solution: (*name).to_owned(),
                    mode: Mode::Warm,
                    ..base.clone()
                };
                e.case.shape.s = s;
                let median = 1e-6 * s as f64 * (i + 1) as f64;
                e.timing = Timing::from_samples(
                    Clock::Wall,
                    (0..10)
                        .map(|k| median * (1.0 + 0.01 * f64::from(k)))
                        .collect(),
                );
                e.derived = Some(Derived::new(
                    e.case.shape,
                    median,
                    None,
                    Some(&Basis::FmaPeak { gflops: 200.0 }),
                ));
                e.errors = Some(ErrorProfile::of(
                    &[1.0, 2.0, 3.0],
                    &[1.0, 2.0001, 3.0],
                    DEFAULT_TOLERANCE,
                ));
                doc.entries.push(e);
            }
        }
        // Cases share one name, so that the headline case has every row.
        for e in &mut doc.entries {
            e.case.name = format!("case-s{}", e.case.shape.s);
        }
        let mut wrong = doc.entries[0].clone();
        wrong.solution = format!("{}-wrong", names[0]);
        wrong.verdict = Verdict::WrongAnswer;
        wrong.reason = Some("3 element(s) outside tolerance".to_owned());
        wrong.timing = None;
        wrong.derived = None;
        let mut skipped = wrong.clone();
        skipped.solution = format!("{}-skipped", names[0]);
        skipped.verdict = Verdict::Skipped;
        skipped.reason = Some("no NVIDIA driver".to_owned());
        skipped.errors = None;
        doc.entries.extend([wrong, skipped]);
        doc
    }

    /// The tag names of `html`, in order: every `<` that the page holds opens or closes a tag of its own.
    fn tags(html: &str) -> Vec<String> {
        html.match_indices('<')
            .map(|(i, _)| {
                html[i + 1..]
                    .trim_start_matches('/')
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                    .collect::<String>()
                    .to_ascii_lowercase()
            })
            .collect()
    }

    /// What a submission controls (its name, its case's name, its failure's reason, and in a document from
    /// elsewhere every text of `meta`) stays text in each format: no tag, attribute or comment of its own in
    /// the HTML page (its inline SVG included), no markup in the Markdown.
    #[test]
    fn hostile_text_stays_text() {
        let mut doc = bench_doc(&[&format!("a{HOSTILE}"), &format!("b{HOSTILE}")]);
        for e in &mut doc.entries {
            e.case.name = format!("{}{HOSTILE}", e.case.name);
            e.reason = e.reason.as_ref().map(|r| format!("{r}\n{HOSTILE}"));
        }
        let meta = &mut doc.meta;
        meta.git_commit = Some(format!("aéééééééééééé{HOSTILE}"));
        meta.judge_version = HOSTILE.to_owned();
        meta.argv = vec!["judge".to_owned(), HOSTILE.to_owned()];
        meta.host.cpu = HOSTILE.to_owned();
        meta.host.cpu_features = vec![HOSTILE.to_owned()];
        if let Some(c) = &mut meta.cpu_peak {
            c.simd = HOSTILE.to_owned();
        }
        let dir = tempfile::tempdir().unwrap();
        let files = write(&doc, dir.path(), &format!("r{HOSTILE}.json")).unwrap();
        assert_eq!(files.charts.len(), 4, "{:?}", files.skipped);
        let html = std::fs::read_to_string(&files.html).unwrap();
        let allowed = [
            "!doctype",
            "html",
            "head",
            "meta",
            "title",
            "style",
            "body",
            "main",
            "h1",
            "h2",
            "h3",
            "p",
            "dl",
            "dt",
            "dd",
            "code",
            "div",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "span",
            "details",
            "summary",
            "ul",
            "li",
            "b",
            "i",
            "br",
            "footer",
            "figure",
            "figcaption",
            "svg",
            "rect",
            "text",
            "line",
            "polyline",
            "circle",
            "path",
            "g",
            "polygon",
        ];
        for tag in tags(&html) {
            assert!(allowed.contains(&tag.as_str()), "<{tag}> in the page");
        }
        assert!(!html.contains("<script") && !html.contains("onerror=\"a"));
        assert!(!html.contains('\u{1b}') && !html.contains('\u{202e}'));
        assert_eq!(html.matches("<title>").count(), 1);
        assert!(
            html.contains("commit aéééééééééé"),
            "the commit is cut at a character"
        );
        let md = std::fs::read_to_string(&files.markdown).unwrap();
        for raw in ["<script", "<img", "<!--", "</svg", "\u{1b}", "\u{202e}"] {
            assert!(!md.contains(raw), "{raw} in the Markdown:\n{md}");
        }
    }

    /// Times that a log axis cannot show (a document may hold a time of 0 s) leave their charts undrawn with
    /// the reason, instead of hanging or drawing empty axes; the rest of the report is written.
    #[test]
    fn charts_of_times_a_log_axis_cannot_show_are_skipped_with_the_reason() {
        let mut doc = bench_doc(&["a", "b"]);
        for e in doc.entries.iter_mut().filter(|e| e.solution == "b") {
            if let Some(t) = &mut e.timing {
                t.summary.median = 0.0;
                t.summary.p10 = 0.0;
            }
            e.derived = None;
        }
        let dir = tempfile::tempdir().unwrap();
        let files = write(&doc, dir.path(), "results.json").unwrap();
        let reasons: Vec<&str> = files.skipped.iter().map(|(_, why)| why.as_str()).collect();
        assert_eq!(files.skipped.len(), 3, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .all(|why| why.contains("of b") && why.contains("which a log axis cannot show")),
            "{reasons:?}"
        );
        // Times too far apart to draw on one axis.
        let mut doc = bench_doc(&["a", "b"]);
        for e in doc.entries.iter_mut().filter(|e| e.solution == "b") {
            if let Some(t) = &mut e.timing {
                t.summary.median = 1e-90;
                t.summary.p10 = 1e-90;
                t.summary.p90 = 1e-90;
            }
        }
        let files = write(&doc, dir.path(), "results.json").unwrap();
        assert!(
            files
                .skipped
                .iter()
                .any(|(_, why)| why.contains("too far apart")),
            "{:?}",
            files.skipped
        );
    }

    /// One variant at one case, and many variants: every chart that has data is drawn.
    #[test]
    fn one_point_and_many_variants_are_drawn() {
        let mut one = bench_doc(&["a"]);
        one.entries
            .retain(|e| e.case.shape.s == 64 && e.timing.is_some());
        let dir = tempfile::tempdir().unwrap();
        let files = write(&one, dir.path(), "results.json").unwrap();
        assert_eq!(files.charts.len(), 3, "{:?}", files.skipped);
        let names: Vec<String> = (0..40).map(|i| format!("variant-{i:02}")).collect();
        let many = bench_doc(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let files = write(&many, dir.path(), "results.json").unwrap();
        assert_eq!(files.charts.len(), 4, "{:?}", files.skipped);
    }

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
