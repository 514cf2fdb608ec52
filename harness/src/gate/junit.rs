//! The gate's results as JUnit XML, the format CI systems (GitHub, GitLab, Jenkins, Buildkite) read: one test
//! suite for the submission, one test case per case. A wrong answer or a time verdict is a `<failure>`; a
//! crash, timeout, memory limit or compile error an `<error>`; a case that could not run here `<skipped>`.

use std::fmt::Write as _;

use super::GateSummary;
use crate::challenge::suites::CaseSource;
use crate::commands::{error_figures, format_seconds};
use crate::results::Entry;
use crate::verdict::Verdict;

/// How a verdict shows in JUnit.
enum Outcome {
    Passed,
    Failure,
    Error,
    Skipped,
}

fn outcome(verdict: Verdict) -> Outcome {
    match verdict {
        Verdict::Pass => Outcome::Passed,
        Verdict::WrongAnswer | Verdict::TooSlow | Verdict::Suspicious => Outcome::Failure,
        Verdict::RuntimeError | Verdict::Timeout | Verdict::MemoryLimit | Verdict::CompileError => {
            Outcome::Error
        }
        Verdict::Skipped => Outcome::Skipped,
    }
}

/// Escapes text for XML content, dropping characters XML 1.0 forbids (terminal escapes in compiler output, for
/// one).
pub fn escape(text: &str) -> String {
    escape_xml(text, false)
}

/// Escapes text for an XML attribute: as [`escape`], and tabs and line breaks as character references, which
/// a parser keeps (written as they are, it would turn each into a space).
pub fn escape_attribute(text: &str) -> String {
    escape_xml(text, true)
}

fn escape_xml(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' | '\n' | '\r' if attribute => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn class_name(entry: &Entry) -> String {
    match &entry.case.source {
        CaseSource::Generated { suite: Some(s), .. } => s.name().to_owned(),
        CaseSource::Generated { generator, .. } => generator.name().to_owned(),
        CaseSource::File { .. } => "file".to_owned(),
    }
}

/// Renders the JUnit document of a gate run.
pub fn render(summary: &GateSummary, entries: &[Entry]) -> String {
    let count = |o: fn(&Outcome) -> bool| entries.iter().filter(|e| o(&outcome(e.verdict))).count();
    let failures = count(|o| matches!(o, Outcome::Failure));
    let errors = count(|o| matches!(o, Outcome::Error));
    let skipped = count(|o| matches!(o, Outcome::Skipped));
    let suite_name = escape_attribute(&format!("judge gate: {}", summary.name));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"{suite_name}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"{skipped}\" time=\"{:.3}\">",
        entries.len(),
        summary.duration_s
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{suite_name}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" \
         skipped=\"{skipped}\" time=\"{:.3}\">",
        entries.len(),
        summary.duration_s
    );
    xml.push_str("    <properties>\n");
    for (name, value) in [
        ("verdict", summary.verdict.name().to_owned()),
        ("exit_status", summary.exit_status.to_string()),
        ("seed", summary.seed.to_string()),
        ("reproduce", summary.reproduce()),
        ("backend", summary.backend.to_string()),
    ] {
        let _ = writeln!(
            xml,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape_attribute(&value)
        );
    }
    xml.push_str("    </properties>\n");
    for entry in entries {
        let time = entry.timing.as_ref().map_or(0.0, |t| t.summary.median);
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.6}\"",
            escape_attribute(&class_name(entry)),
            escape_attribute(&entry.case.name)
        );
        let reason = entry.reason.clone().unwrap_or_default();
        let message = escape_attribute(&format!("{}: {reason}", entry.verdict));
        let details = escape(&details(summary, entry));
        match outcome(entry.verdict) {
            Outcome::Passed => {
                if details.is_empty() {
                    xml.push_str("/>\n");
                } else {
                    let _ = writeln!(
                        xml,
                        ">\n      <system-out>{details}</system-out>\n    </testcase>"
                    );
                }
            }
            Outcome::Skipped => {
                let _ = writeln!(
                    xml,
                    ">\n      <skipped message=\"{message}\"/>\n    </testcase>"
                );
            }
            Outcome::Failure | Outcome::Error => {
                let tag = if matches!(outcome(entry.verdict), Outcome::Error) {
                    "error"
                } else {
                    "failure"
                };
                let _ = writeln!(
                    xml,
                    ">\n      <{tag} type=\"{}\" message=\"{message}\">{details}</{tag}>\n    </testcase>",
                    entry.verdict
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// The text under a test case: the reason, the check's numbers, timing, and the worker's or compiler's output.
fn details(summary: &GateSummary, entry: &Entry) -> String {
    let mut text = String::new();
    if let Some(reason) = &entry.reason {
        let _ = writeln!(text, "{reason}");
    }
    if let Some(check) = &entry.check {
        let [abs, rel, frob] = error_figures(check, |x| format!("{x:.3e}"));
        let _ = writeln!(
            text,
            "max abs err {abs}, max rel err {rel}, rel frobenius {frob}, {} mismatch(es), {} unwritten",
            check.mismatches, check.unwritten
        );
    }
    if let (Some(timing), Some(perf)) = (&entry.timing, &summary.perf)
        && entry.mode == crate::results::Mode::Warm
    {
        let _ = writeln!(
            text,
            "median {} over {} calls, fastest {}",
            format_seconds(timing.summary.median),
            timing.summary.n,
            format_seconds(perf.fastest_s)
        );
        if let Some(floor) = &perf.floor {
            let _ = writeln!(text, "physical floor {}", format_seconds(floor.seconds));
        }
        if let Some(c) = &perf.baseline {
            let _ = writeln!(
                text,
                "baseline {} ({}): {:.2}×, allowed {:.2}×{}",
                format_seconds(c.baseline.median_s),
                c.baseline.solution,
                c.slowdown,
                c.baseline.max_slowdown,
                c.baseline.elsewhere_note()
            );
        }
    }
    if entry.verdict == Verdict::CompileError
        && let Some(log) = summary.build_error.as_ref().and_then(|b| b.log.as_ref())
    {
        let _ = writeln!(text, "compiler output:\n{log}");
    }
    if let Some(output) = summary.outputs.iter().find(|o| o.case == entry.case.name) {
        let _ = writeln!(text, "worker stderr:\n{}", output.stderr);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(escape("\u{1b}[31merror\u{1b}[0m\n"), "[31merror[0m\n");
        assert_eq!(
            escape_attribute("line 1\r\nline\t2"),
            "line 1&#13;&#10;line&#9;2"
        );
    }
}
