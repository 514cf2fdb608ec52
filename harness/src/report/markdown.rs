//! The Markdown report: a short header and the results table, for pull requests and CI job summaries.

use super::html::format_utc;
use super::tables::{bench_table, copy_table, gpu_line, gpu_method_text, verdict_summary};
use crate::escape::markdown_text;
use crate::results::ResultsDoc;

/// The Markdown text for `doc`.
pub fn render(doc: &ResultsDoc) -> String {
    let meta = &doc.meta;
    let mut out = String::new();
    match &meta.bench {
        Some(b) => out.push_str(&format!("## judge bench: preset {}\n\n", b.preset)),
        None => out.push_str("## judge results\n\n"),
    }
    // The document's own text (and a document can come from anywhere) is literal Markdown.
    out.push_str(&format!(
        "{} · {} · judge {}\n\n",
        verdict_summary(&doc.entries),
        format_utc(meta.started_at_unix),
        markdown_text(&meta.judge_version)
    ));
    let mut machine = format!(
        "Machine: {} ({} logical cores)",
        markdown_text(&meta.host.cpu),
        meta.host.logical_cores
    );
    if let Some(c) = &meta.cpu_peak {
        machine.push_str(&format!(
            "; measured {:.1} GFLOP/s FMA peak, {:.1} GB/s read",
            c.fma_gflops, c.read_gbps
        ));
    }
    out.push_str(&machine);
    out.push_str("\n\n");
    if let Some(g) = &meta.gpu {
        out.push_str(&markdown_text(&gpu_line(g)));
        out.push_str("\n\n");
    }
    if let Some(method) = &meta.gpu_timing {
        out.push_str(&gpu_method_text(method));
        out.push_str(" *× copy* is the median over that of a device copy of the case's minimal bytes, timed the same way in the same mode.\n\n");
    }
    let (table, notes) = bench_table(&doc.entries);
    out.push_str(&table.render_markdown());
    out.push_str(&notes.render_markdown());
    if let Some(copies) = copy_table(doc) {
        out.push_str("\nDevice copies of each case's minimal bytes (the × copy references):\n\n");
        out.push_str(&copies.render_markdown());
    }
    out
}
