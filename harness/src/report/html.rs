//! The self-contained HTML report: machine, settings, the results table with verdicts and errors, and every
//! chart inline as SVG. No scripts, no fonts, no stylesheets or images from elsewhere: the page opens offline
//! and can be attached to a CI run as one file.

use std::fmt::Write as _;

use super::charts::ChartKind;
use super::tables::{
    ci_cell, copy_table, gpu_line, gpu_method_text, outliers_cell, rate, shape_cell, stop_cell,
    verdict_summary,
};
use crate::commands::{error_figures, format_error, format_seconds};
use crate::escape::html_text;
use crate::results::{Entry, ResultsDoc};
use crate::table::{Align, Notes, Table};

/// A chart as the page shows it: drawn (SVG text) or skipped with the reason.
pub struct ChartSection {
    /// Which chart.
    pub kind: ChartKind,
    /// The SVG, or why there is none.
    pub svg: Result<String, String>,
}

/// Makes plotters' SVG fit for inlining: no XML declaration, no namespace URL (inline SVG in HTML needs
/// neither), scaled to the page width.
pub fn inline_svg(svg: &str) -> String {
    let body = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    };
    body.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
        .replacen("<svg ", "<svg role=\"img\" class=\"chart\" ", 1)
}

/// `2026-11-22 12:41 UTC` from seconds since the Unix epoch.
pub fn format_utc(unix: f64) -> String {
    let secs = unix.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
main { max-width: 1360px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 32px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin: 22px 0 6px; }
p.lead { color: #555; margin: 0 0 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.92em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.86rem; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e6e6e6; text-align: left; white-space: nowrap; vertical-align: top; }
th { background: #f2f2f2; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.note-row td { white-space: normal; color: #555; font-size: 0.82rem; border-bottom: 1px solid #e6e6e6; padding-top: 0; }
tr:has(+ tr.note-row) td { border-bottom: none; }
.verdict { font-weight: 600; }
.pass { color: #17803d; }
.wrong-answer, .runtime-error { color: #c0262d; }
.skipped { color: #777; }
figure { margin: 14px 0 26px; }
svg.chart { width: 100%; height: auto; max-width: 1000px; display: block; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.92rem; max-width: 980px; margin-top: 6px; }
p.skip { color: #777; font-style: italic; }
details { margin: 6px 0; }
summary { cursor: pointer; font-weight: 600; }
footer { margin-top: 36px; color: #666; font-size: 0.85rem; }
"#;

/// The whole page for `doc`; `source` names the JSON file it was rendered from.
pub fn render(doc: &ResultsDoc, charts: &[ChartSection], source: &str) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let meta = &doc.meta;
    let title = match &meta.bench {
        Some(b) => format!("judge bench report: preset {}", b.preset),
        None => "judge results report".to_owned(),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        html_text(&title),
        html_text(&title)
    );
    let commit = meta
        .git_commit
        .as_deref()
        .map(|c| format!(", commit {}", c.chars().take(12).collect::<String>()))
        .unwrap_or_default();
    let _ = writeln!(
        h,
        "<p class=\"lead\">{} · measured {} with judge {}{}</p>",
        html_text(&verdict_summary(&doc.entries)),
        html_text(&format_utc(meta.started_at_unix)),
        html_text(&meta.judge_version),
        html_text(&commit)
    );
    machine(&mut h, doc);
    settings(&mut h, doc);
    results(&mut h, doc);
    copies(&mut h, doc);
    charts_section(&mut h, charts);
    failures(&mut h, &doc.entries);
    reading(&mut h);
    let _ = write!(
        h,
        "<footer>Rendered from <code>{}</code> (schema <code>{} v{}</code>). Re-render with \
         <code>judge report {}</code>; compare two runs with <code>judge compare OLD.json NEW.json</code>.\
         </footer>\n</main>\n</body>\n</html>\n",
        html_text(source),
        html_text(&doc.schema),
        doc.schema_version,
        html_text(source)
    );
    h
}

fn fact(h: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        h,
        "<dt>{}</dt><dd>{}</dd>",
        html_text(name),
        html_text(value)
    );
}

fn machine(h: &mut String, doc: &ResultsDoc) {
    let host = &doc.meta.host;
    h.push_str("<h2>Machine</h2>\n<dl class=\"facts\">\n");
    fact(h, "CPU", &host.cpu);
    fact(
        h,
        "cores",
        &format!(
            "{} logical ({}, {})",
            host.logical_cores, host.os, host.arch
        ),
    );
    fact(h, "CPU features", &host.cpu_features.join(", "));
    match &doc.meta.cpu_peak {
        Some(c) => fact(
            h,
            "CPU ceilings (measured)",
            &format!(
                "{:.1} GFLOP/s FMA peak ({}, {} threads); {:.1} GB/s read bandwidth; ridge at {:.1} FLOP/byte",
                c.fma_gflops,
                c.simd,
                c.threads,
                c.read_gbps,
                c.ridge_intensity()
            ),
        ),
        None => fact(h, "CPU ceilings", "not measured"),
    }
    match &doc.meta.gpu {
        Some(g) => fact(h, "GPU", gpu_line(g).trim_start_matches("GPU: ")),
        None => fact(h, "GPU", "none used"),
    }
    h.push_str("</dl>\n");
}

fn settings(h: &mut String, doc: &ResultsDoc) {
    let meta = &doc.meta;
    h.push_str("<h2>How it was measured</h2>\n<dl class=\"facts\">\n");
    fact(h, "command", &meta.argv.join(" "));
    fact(
        h,
        "seed and tolerance",
        &format!("seed {}; {}", meta.seed, meta.tolerance),
    );
    if let Some(b) = &meta.bench {
        let axes = if b.axes.is_empty() {
            String::new()
        } else {
            format!(", axes {}", b.axes.join(" "))
        };
        fact(h, "cases", &format!("preset {}{axes}", b.preset));
        fact(
            h,
            "sampling",
            &format!(
                "{} input sets rotated per case; warm-up {} calls and at least {}; then samples until the \
                 median's 95% CI half-width is under {}% of the median (at least {}, at most {} samples) \
                 or {} have passed",
                b.input_sets,
                b.warmup_calls,
                format_seconds(b.warmup_s),
                100.0 * b.target_rel_err,
                b.min_samples,
                b.max_samples,
                format_seconds(b.budget_s)
            ),
        );
    }
    if let Some(method) = &meta.gpu_timing {
        fact(h, "GPU timing", &gpu_method_text(method));
    }
    h.push_str("</dl>\n");
}

fn copies(h: &mut String, doc: &ResultsDoc) {
    if let Some(copies) = copy_table(doc) {
        h.push_str(
            "<h3>Device copies (the × copy references)</h3>\n<p class=\"lead\">A device-to-device copy of each \
             case's minimal bytes, timed like the GPU variants in each mode, two ways: by the judge's copy kernel \
             and by the driver's <code>cuMemcpyDtoDAsync</code>. The faster of the two is the reference; the \
             other's median is shown beside it. GB/s counts the bytes read and written.</p>\n",
        );
        plain_table(h, &copies);
    }
}

/// A [`Table`] as an HTML table (right-aligned columns numeric).
fn plain_table(h: &mut String, table: &Table) {
    h.push_str("<div class=\"table-wrap\"><table>\n");
    let headers: Vec<(&str, bool)> = table
        .columns()
        .map(|(name, align)| (name, align == Align::Right))
        .collect();
    header_row(h, &headers);
    for row in table.rows() {
        h.push_str("<tr>");
        for (text, (_, num)) in row.iter().zip(&headers) {
            cell(h, if *num { "num" } else { "" }, text);
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table></div>\n");
}

fn cell(h: &mut String, class: &str, text: &str) {
    if class.is_empty() {
        let _ = write!(h, "<td>{}</td>", html_text(text));
    } else {
        let _ = write!(h, "<td class=\"{class}\">{}</td>", html_text(text));
    }
}

fn header_row(h: &mut String, headers: &[(&str, bool)]) {
    h.push_str("<thead><tr>");
    for (name, num) in headers {
        let class = if *num { " class=\"num\"" } else { "" };
        let _ = write!(h, "<th{class}>{}</th>", html_text(name));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
}

fn results(h: &mut String, doc: &ResultsDoc) {
    h.push_str("<h2>Results</h2>\n");
    if doc.entries.is_empty() {
        h.push_str("<p class=\"skip\">No entries.</p>\n");
        return;
    }
    if let Some(method) = &doc.meta.gpu_timing {
        let _ = writeln!(
            h,
            "<p class=\"lead\">GPU modes: <i>warm</i>: {}; <i>cold</i>: {}. <i>× copy</i> is the median over \
             that of a device copy of the same bytes in the same mode.</p>",
            html_text(&method.warm.describe()),
            html_text(&method.cold.describe())
        );
    }
    let headers: [(&str, bool); 12] = [
        ("solution", false),
        ("backend", false),
        ("case", false),
        ("B×S×D×C", false),
        ("mode", false),
        ("verdict", false),
        ("median", true),
        ("GB/s", true),
        ("GFLOP/s", true),
        ("speed of light", true),
        ("max abs err", true),
        ("rel Frobenius err", true),
    ];
    h.push_str("<div class=\"table-wrap\"><table>\n");
    header_row(h, &headers);
    // Why a variant was skipped is the same on every case: said once, below the table.
    let mut notes = Notes::default();
    for e in &doc.entries {
        let skipped = e
            .skip_reason()
            .map(|reason| notes.refer(reason, &e.solution));
        h.push_str("<tr>");
        cell(h, "", &e.solution);
        cell(h, "", &e.backend.to_string());
        cell(h, "", &e.case.name);
        cell(h, "", &shape_cell(e));
        cell(h, "", &e.mode.to_string());
        cell(
            h,
            &format!("verdict {}", e.verdict.name()),
            &match &skipped {
                Some(note) => format!("{} {note}", e.verdict.name()),
                None => e.verdict.name().to_owned(),
            },
        );
        let median = e
            .timing
            .as_ref()
            .map(|t| format_seconds(t.summary.median))
            .unwrap_or_default();
        let ci = ci_cell(e);
        cell(
            h,
            "num",
            &if ci.is_empty() {
                median
            } else {
                format!("{median} {ci}")
            },
        );
        cell(
            h,
            "num",
            &e.derived.map(|d| rate(d.gbps)).unwrap_or_default(),
        );
        cell(
            h,
            "num",
            &e.derived.map(|d| rate(d.gflops)).unwrap_or_default(),
        );
        cell(
            h,
            "num",
            &e.derived
                .and_then(|d| d.speed_of_light)
                .map(|s| s.label())
                .unwrap_or_default(),
        );
        let [abs, _, frob] = e
            .check
            .as_ref()
            .map(|c| error_figures(c, format_error))
            .unwrap_or_default();
        cell(h, "num", &abs);
        cell(h, "num", &frob);
        h.push_str("</tr>\n");
        if let Some(reason) = e.reason.as_ref().filter(|_| skipped.is_none()) {
            let _ = writeln!(
                h,
                "<tr class=\"note-row\"><td></td><td colspan=\"{}\">{}</td></tr>",
                headers.len() - 1,
                html_text(reason)
            );
        }
    }
    h.push_str("</tbody>\n</table></div>\n");
    if !notes.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"lead\">{}</p>",
            html_text(notes.render_text().trim()).replace('\n', "<br>")
        );
    }
    statistics(h, &doc.entries);
}

fn statistics(h: &mut String, entries: &[Entry]) {
    let timed: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.timing.as_ref().is_some_and(|t| t.summary.n > 1))
        .collect();
    if timed.is_empty() {
        return;
    }
    h.push_str("<h3>Sample statistics</h3>\n<div class=\"table-wrap\"><table>\n");
    header_row(
        h,
        &[
            ("solution", false),
            ("case", false),
            ("mode", false),
            ("n", true),
            ("median", true),
            ("95% CI of median", true),
            ("mean", true),
            ("std dev", true),
            ("min", true),
            ("p10", true),
            ("p90", true),
            ("max", true),
            ("outliers", true),
            ("stopped by", false),
        ],
    );
    for e in timed {
        let Some(t) = &e.timing else { continue };
        let s = &t.summary;
        h.push_str("<tr>");
        cell(h, "", &e.solution);
        cell(h, "", &e.case.name);
        cell(h, "", &e.mode.to_string());
        cell(h, "num", &s.n.to_string());
        cell(h, "num", &format_seconds(s.median));
        cell(
            h,
            "num",
            &s.median_ci
                .map(|ci| format!("{} … {}", format_seconds(ci.low), format_seconds(ci.high)))
                .unwrap_or_default(),
        );
        cell(h, "num", &format_seconds(s.mean));
        cell(h, "num", &format_seconds(s.std_dev));
        cell(h, "num", &format_seconds(s.min));
        cell(h, "num", &format_seconds(s.p10));
        cell(h, "num", &format_seconds(s.p90));
        cell(h, "num", &format_seconds(s.max));
        cell(h, "num", &outliers_cell(e));
        cell(h, "", stop_cell(e));
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table></div>\n");
}

fn charts_section(h: &mut String, charts: &[ChartSection]) {
    h.push_str("<h2>Charts</h2>\n");
    for chart in charts {
        let _ = writeln!(h, "<h3>{}</h3>", html_text(chart.kind.heading()));
        match &chart.svg {
            Ok(svg) => {
                let _ = writeln!(
                    h,
                    "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
                    inline_svg(svg),
                    html_text(chart.kind.how_to_read())
                );
            }
            Err(why) => {
                let _ = writeln!(h, "<p class=\"skip\">Not drawn: {}.</p>", html_text(why));
            }
        }
    }
}

fn failures(h: &mut String, entries: &[Entry]) {
    let failed: Vec<&Entry> = entries.iter().filter(|e| e.verdict.is_failure()).collect();
    if failed.is_empty() {
        return;
    }
    h.push_str(
        "<h2>Failures</h2>\n<p class=\"lead\">Each failure with the first elements outside tolerance \
         (click to open).</p>\n",
    );
    for e in failed {
        let _ = write!(
            h,
            "<details><summary><span class=\"verdict {}\">{}</span>: {} on {} ({})</summary>\n<p>{}</p>\n",
            e.verdict.name(),
            e.verdict.name(),
            html_text(&e.solution),
            html_text(&e.case.name),
            e.mode,
            html_text(e.reason.as_deref().unwrap_or(""))
        );
        if let Some(check) = &e.check
            && !check.first_failures.is_empty()
        {
            h.push_str(
                "<div class=\"table-wrap\"><table><thead><tr><th class=\"num\">b</th><th class=\"num\">s</th>\
                 <th class=\"num\">got</th><th class=\"num\">expected</th></tr></thead><tbody>\n",
            );
            for m in &check.first_failures {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                     <td class=\"num\">{:.6}</td></tr>",
                    m.b, m.s, m.got, m.expected
                );
            }
            h.push_str("</tbody></table></div>\n");
        }
        h.push_str("</details>\n");
    }
}

fn reading(h: &mut String) {
    h.push_str(
        "<h2>How to read this report</h2>\n<ul>\n\
         <li><b>verdict</b>: every variant is checked against the f64 oracle on input set 0 before it is timed; \
         a wrong answer is reported with its errors and never timed. Skipped variants cannot run here; the \
         note says why.</li>\n\
         <li><b>median</b> is the time of one call; <b>95% CI</b> is the half-width of a distribution-free \
         confidence interval of the median (order statistics), as a percentage of it. Two medians whose \
         intervals do not overlap differ beyond noise (this is what <code>judge compare</code> reports).</li>\n\
         <li><b>p10/p90</b> bound the middle 80% of the samples; <b>outliers</b> are samples whose modified \
         z-score (0.6745·|x − median| / MAD) exceeds 3.5, low (unusually fast) and high (unusually slow: \
         preemption, page faults).</li>\n\
         <li><b>GB/s</b> is the minimal byte count of the case (every input read once, the scores written once) \
         over the median time; <b>GFLOP/s</b> counts the reduced form's FLOPs, whatever the variant computes.</li>\n\
         <li><b>speed of light</b>: for CPU variants, achieved GFLOP/s as a percentage of the CPU's measured FMA \
         peak; for GPU variants, the median time as a multiple of a device copy of the same bytes under the same \
         cache regime (×1 would be copy speed; the copy is the faster of the judge's copy kernel and the \
         driver's <code>cuMemcpyDtoDAsync</code>).</li>\n\
         <li><b>modes</b>: calls rotate among several independently generated input sets. CPU variants are \
         timed <i>warm</i> only, with caches as the previous call left them. GPU variants are timed in two \
         regimes: <i>warm</i>, where the same input set was solved (untimed) just before the timed call, so \
         its bytes are in L2 as far as they fit; and <i>cold</i>, where the L2 was flushed by reading a buffer \
         of four times its size, leaving no input bytes and no dirty lines. The device copy behind \
         <i>× copy</i> is timed in the same regime.</li>\n\
         </ul>\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_svg_inlining() {
        assert_eq!(
            html_text("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let svg = "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"10\" viewBox=\"0 0 10 10\" \
                   xmlns=\"http://www.w3.org/2000/svg\">\n</svg>";
        let inline = inline_svg(svg);
        assert!(inline.starts_with("<svg role=\"img\" class=\"chart\" width=\"10\""));
        assert!(!inline.contains("http"));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0.0), "1970-01-01 00:00 UTC");
        // 2000-02-29 12:34:56 UTC
        assert_eq!(format_utc(951_827_696.0), "2000-02-29 12:34 UTC");
        assert_eq!(format_utc(1_798_201_800.0), "2026-12-25 12:30 UTC");
    }
}
