//! The Markdown report: a short header and the results table, for pull requests and CI job summaries.

use super::html::format_utc;
use super::tables::{bench_table, verdict_summary};
use crate::results::ResultsDoc;

/// The Markdown text for `doc`.
pub fn render(doc: &ResultsDoc) -> String {
    let meta = &doc.meta;
    let mut out = String::new();
    match &meta.bench {
        Some(b) => out.push_str(&format!("## judge bench: preset {}\n\n", b.preset)),
        None => out.push_str("## judge results\n\n"),
    }
    out.push_str(&format!(
        "{} · {} · judge {}\n\n",
        verdict_summary(&doc.entries),
        format_utc(meta.started_at_unix),
        meta.judge_version
    ));
    let mut machine = format!(
        "Machine: {} ({} logical cores)",
        meta.host.cpu, meta.host.logical_cores
    );
    if let Some(c) = &meta.cpu_peak {
        machine.push_str(&format!(
            "; measured {:.1} GFLOP/s FMA peak, {:.1} GB/s read",
            c.fma_gflops, c.read_gbps
        ));
    }
    if let Some(g) = &meta.gpu {
        machine.push_str(&format!("; GPU {} (driver {})", g.name, g.driver));
    }
    out.push_str(&machine);
    out.push_str("\n\n");
    out.push_str(&bench_table(&doc.entries).render_markdown());
    out
}
