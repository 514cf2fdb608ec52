//! The gate's results as a Markdown summary, fit for a pull-request comment or a CI job summary
//! (`$GITHUB_STEP_SUMMARY`): the verdict and how to reproduce it, a table of cases, the performance
//! findings, and the compiler's or worker's output in folded blocks.

use std::fmt::Write as _;

use solutions::Backend;

use super::{GateSummary, SeedSource};
use crate::commands::{error_figures, format_error, format_seconds};
use crate::escape;
use crate::results::Entry;
use crate::verdict::Verdict;

/// Longest reason shown in the table, in characters (the full text is in the JSON and JUnit files).
const NOTE_CHARS: usize = 160;

/// Untrusted text (a reason may quote the compiler or the worker) as a table cell: cut to [`NOTE_CHARS`], then
/// escaped ([`escape::markdown_text`]), so it stays one cell of literal text.
fn cell(text: &str) -> String {
    if text.chars().count() > NOTE_CHARS {
        let cut: String = text.chars().take(NOTE_CHARS).collect();
        format!("{}…", escape::markdown_text(&cut))
    } else {
        escape::markdown_text(text)
    }
}

/// Renders the Markdown summary of a gate run.
pub fn render(summary: &GateSummary, entries: &[Entry]) -> String {
    let mark = if summary.verdict == Verdict::Pass {
        "✅"
    } else {
        "❌"
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## {mark} judge gate: {} — {}\n",
        summary.verdict,
        escape::markdown_code(&summary.name)
    );
    let seed_note = match summary.seed_source {
        SeedSource::Os => "drawn from the OS",
        SeedSource::Given => "given",
    };
    let _ = writeln!(md, "| | |\n| --- | --- |");
    let _ = writeln!(
        md,
        "| submission | {} ({}, {} pointers) |",
        escape::markdown_code(&summary.submission.display().to_string()),
        summary.kind,
        summary.backend
    );
    let _ = writeln!(
        md,
        "| verdict | **{}** (exit status {}): {} |",
        summary.verdict,
        summary.exit_status,
        summary.verdict.meaning()
    );
    let _ = writeln!(md, "| seed | {} ({seed_note}) |", summary.seed);
    let _ = writeln!(
        md,
        "| reproduce | {} |",
        escape::markdown_code(&summary.reproduce())
    );
    let device = match summary.backend {
        Backend::Cuda => format!(
            ", {} MiB of device memory",
            summary.limits.device_memory_bytes >> 20
        ),
        Backend::Cpu => String::new(),
    };
    let _ = writeln!(
        md,
        "| limits | {} s per call, {} MiB of memory{device} |",
        summary.limits.call_s,
        summary.limits.memory_bytes >> 20
    );
    if let Some(ids) = summary.workers_ran_as {
        let _ = writeln!(md, "| workers ran as | {ids} |");
    }
    if let Some(how) = &summary.writes_confined_by {
        let _ = writeln!(md, "| writes confined by | {how} |");
    }
    let _ = writeln!(
        md,
        "| duration | {} |\n",
        format_seconds(summary.duration_s)
    );

    let passed = entries
        .iter()
        .filter(|e| e.verdict == Verdict::Pass)
        .count();
    let _ = writeln!(md, "### Cases: {passed} of {} passed\n", entries.len());
    let _ = writeln!(
        md,
        "| case | B×S×D×C | verdict | max abs err | time | note |\n| --- | --- | --- | ---: | ---: | --- |"
    );
    for e in entries {
        let s = e.case.shape;
        let _ = writeln!(
            md,
            "| {} | {}×{}×{}×{} | {} | {} | {} | {} |",
            cell(&e.case.name),
            s.b,
            s.s,
            s.d,
            s.c,
            if e.verdict == Verdict::Pass {
                "pass".to_owned()
            } else {
                format!("**{}**", e.verdict)
            },
            e.check
                .as_ref()
                .map(|c| {
                    let [abs, ..] = error_figures(c, format_error);
                    abs
                })
                .unwrap_or_default(),
            e.timing
                .as_ref()
                .map(|t| format_seconds(t.summary.median))
                .unwrap_or_default(),
            cell(e.reason.as_deref().unwrap_or(""))
        );
    }

    if let Some(perf) = &summary.perf {
        let _ = writeln!(md, "\n### Performance\n");
        let _ = writeln!(
            md,
            "- median **{}** over {} calls on fresh inputs (the worker's {}), fastest call {}",
            format_seconds(perf.median_s),
            perf.samples,
            perf.clock.describe(),
            format_seconds(perf.fastest_s)
        );
        let _ = writeln!(
            md,
            "- inputs seen before: median {} (a much faster repeat means cached results)",
            format_seconds(perf.repeat_median_s)
        );
        if let Some(floor) = &perf.floor {
            let flops = match (floor.flops_s, floor.peak_gflops) {
                (Some(t), Some(peak)) => {
                    format!(", flops {} at {peak:.0} GFLOP/s", format_seconds(t))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                md,
                "- physical floor {} (bytes {} at {:.0} GB/s{flops}): the median is {:.1}× above it",
                format_seconds(floor.seconds),
                format_seconds(floor.bytes_s),
                floor.bandwidth_gbps,
                perf.median_s / floor.seconds
            );
        }
        if let Some(busy) = &perf.busy_after {
            let _ = writeln!(
                md,
                "- device busy after the end event: fastest {}, median {} over {} calls (work left on another \
                 stream shows here)",
                format_seconds(busy.fastest_s),
                format_seconds(busy.median_s),
                busy.calls
            );
            if let Some(note) = busy.held_solve_note() {
                let _ = writeln!(md, "- {note}");
            }
            if let Some(note) = busy.unheld_note() {
                let _ = writeln!(md, "- {note}");
            }
        }
        if let Some(c) = &perf.baseline {
            let _ = writeln!(
                md,
                "- baseline {} ({}): {} → **{:.2}×** (allowed {:.2}×{})",
                escape::markdown_code(&c.baseline.path.display().to_string()),
                escape::markdown_text(&c.baseline.solution),
                format_seconds(c.baseline.median_s),
                c.slowdown,
                c.baseline.max_slowdown,
                escape::markdown_text(&c.baseline.elsewhere_note())
            );
        }
        for finding in &perf.findings {
            let _ = writeln!(md, "- ⚠️ {}", escape::markdown_text(finding));
        }
    }

    if let Some(failure) = &summary.build_error {
        let _ = writeln!(
            md,
            "\n### Build\n\n{}\n",
            escape::markdown_text(&failure.message)
        );
        if let Some(log) = &failure.log {
            folded(&mut md, "compiler output", log);
        }
    } else if let Some(compile) = summary
        .compile
        .as_ref()
        .filter(|c| !c.log.trim().is_empty())
    {
        folded(&mut md, "compiler warnings", &compile.log);
    }
    for output in &summary.outputs {
        folded(
            &mut md,
            &format!("worker stderr: {}", output.case),
            &output.stderr,
        );
    }
    md
}

/// `text` (a compiler's or worker's output) in a folded code block, its control characters as visible escapes.
fn folded(md: &mut String, title: &str, text: &str) {
    let text = escape::for_terminal(text.trim_end());
    let fence = escape::backtick_fence(&text, 3);
    let _ = writeln!(
        md,
        "\n<details><summary>{title}</summary>\n\n{fence}\n{text}\n{fence}\n\n</details>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_flattened_escaped_and_cut() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(cell("<img src=x>"), "&lt;img src=x&gt;");
        assert!(cell(&"x".repeat(500)).ends_with('…'));
    }

    #[test]
    fn fences_outgrow_the_text() {
        assert_eq!(escape::backtick_fence("plain", 3), "```");
        assert_eq!(escape::backtick_fence("has ```` inside", 3), "`````");
    }
}
