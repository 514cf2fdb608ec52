//! Text that submitted code controls (what it prints, what its compiler prints about it, its file name, the
//! reasons built from them), made harmless where the judge shows it.
//!
//! - On a terminal or in a CI log, control characters would act instead of being read: a carriage return or an
//!   ANSI sequence can erase the judge's lines and draw a `verdict: pass` of its own, an OSC sequence can
//!   retitle the window, and the bidirectional overrides of Unicode reorder what is shown. [`for_terminal`]
//!   writes each of them as a visible escape (`\x1b`, `\r`, `\u{202e}`); everything the judge prints goes
//!   through it ([`crate::out!`], [`crate::errln!`]).
//! - In Markdown (a pull-request comment, a job summary), `<`, `[`, `` ` `` and the like would make raw HTML,
//!   links or code spans, and a blank line or `<!--` would end the table or hide the rest of the page.
//!   [`markdown_text`] escapes them for running text and table cells, [`markdown_code`] makes a code span that
//!   holds any text.
//! - In HTML (the report page), `<`, `&` and quotes would make markup, and the bidirectional overrides would
//!   reorder what a cell shows. [`html_text`] escapes the first as character references and writes the others,
//!   as the terminal does, as visible escapes.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown as an escape: the C0 controls but newline and tab, DEL, the C1 controls, and the
/// Unicode marks and overrides that change the direction text is shown in.
fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Appends the visible escape of `c` (one of [`is_hidden`]'s, or a line break or tab) to `out`.
fn push_escape(out: &mut String, c: char) {
    let _ = match c {
        '\r' => write!(out, "\\r"),
        '\n' => write!(out, "\\n"),
        '\t' => write!(out, "\\t"),
        c if u32::from(c) < 0x100 => write!(out, "\\x{:02x}", u32::from(c)),
        c => write!(out, "\\u{{{:x}}}", u32::from(c)),
    };
}

/// `text` with every control character but newline and tab (and every bidirectional override) written as a
/// visible escape, such as `\x1b` or `\r`: what a terminal shows is then what the text says.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` on one line: as [`for_terminal`] writes it, and line breaks and tabs as visible escapes too (`\n`), for
/// a name that must stay one line wherever it is shown.
pub fn one_line_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hidden(c) || c == '\n' || c == '\t' {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as literal HTML, fit for element content and for quoted attribute values: `&`, `<`, `>`, `"` and `'`
/// as character references, and every control character but newline and tab (and every bidirectional
/// override) as a visible escape, as [`for_terminal`] writes it.
pub fn html_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_hidden(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// `text` as literal Markdown on one line, for running text and table cells: line breaks become spaces,
/// controls visible escapes, and every character that Markdown or the HTML it allows would act on is escaped
/// (`\*`, `\[`, `&lt;`, `\|`, …), so the text can make no link, image, HTML, emphasis or code span, and cannot
/// end a table.
pub fn markdown_text(text: &str) -> String {
    one_line(text, true)
}

/// `text` as a Markdown code span on one line, fit for a table cell: delimited by more backticks than any run
/// in it, line breaks as spaces, controls as visible escapes, and `|` as `\|` (GitHub's tables split cells at
/// a `|` even inside a code span, and take `\|` there for the character).
pub fn markdown_code(text: &str) -> String {
    let body = one_line(text, false);
    if body.trim().is_empty() {
        // A span of nothing but spaces keeps them; an empty one would be two literal backticks.
        return format!("`{body} `");
    }
    let fence = backtick_fence(&body, 1);
    // A span whose text starts or ends with a backtick needs a space inside the fence, which Markdown strips.
    let pad = if body.starts_with('`') || body.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// A run of backticks longer than any in `text`, and at least `shortest` long: the fence of a code span (1) or a
/// code block (3) that holds `text` whole.
pub fn backtick_fence(text: &str, shortest: usize) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(shortest))
}

/// `text` on one line for Markdown: line breaks as spaces, controls as visible escapes, `|` as `\|` (a table
/// cell ends at `|` even inside a code span), and with `markup`, every character Markdown or HTML would act on
/// escaped too.
fn one_line(text: &str, markup: bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '|' => out.push_str("\\|"),
            c if is_hidden(c) => push_escape(&mut out, c),
            '<' if markup => out.push_str("&lt;"),
            '>' if markup => out.push_str("&gt;"),
            '&' if markup => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' if markup => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn terminal_text_keeps_lines_and_shows_controls() {
        assert!(matches!(for_terminal("plain\n\tline"), Cow::Borrowed(_)));
        assert_eq!(
            for_terminal("ok\r\u{1b}[2K\u{1b}[1Averdict: pass\u{7}"),
            "ok\\r\\x1b[2K\\x1b[1Averdict: pass\\x07"
        );
        // C1 controls, DEL and the direction overrides of Trojan-source tricks.
        assert_eq!(
            for_terminal("a\u{9b}2Jb\u{7f}c\u{202e}d\u{2066}"),
            "a\\x9b2Jb\\x7fc\\u{202e}d\\u{2066}"
        );
        assert_eq!(for_terminal("naïve — ✅"), "naïve — ✅");
    }

    #[test]
    fn a_one_line_name_shows_line_breaks_and_controls() {
        assert_eq!(
            one_line_name("two\nlines\t\u{1b}[2J\u{202e}ok"),
            "two\\nlines\\t\\x1b[2J\\u{202e}ok"
        );
        assert_eq!(one_line_name("naïve"), "naïve");
    }

    #[test]
    fn html_text_makes_no_markup_and_shows_controls() {
        assert_eq!(
            html_text("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            html_text("ssap\u{202e} \u{1b}[2J\r\nnext\tline"),
            "ssap\\u{202e} \\x1b[2J\\r\nnext\tline"
        );
    }

    #[test]
    fn markdown_text_makes_no_markup() {
        assert_eq!(
            markdown_text("<img src=x> [a](http://e) *b* `c`|d\n\n<!--"),
            "&lt;img src=x&gt; \\[a\\](http://e) \\*b\\* \\`c\\`\\|d  &lt;!--"
        );
        assert_eq!(markdown_text("x\u{1b}[8m"), "x\\x1b\\[8m");
    }

    #[test]
    fn code_spans_hold_any_backticks_on_one_line() {
        assert_eq!(markdown_code("mine.c"), "`mine.c`");
        assert_eq!(markdown_code("a`b``c|\n\nd"), "```a`b``c\\|  d```");
        assert_eq!(markdown_code("`x`"), "`` `x` ``");
        assert_eq!(markdown_code(""), "` `");
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_control_and_no_line_break(text in any::<String>()) {
            let shown = for_terminal(&text);
            prop_assert!(!shown.chars().any(is_hidden));
            for flat in [markdown_text(&text), markdown_code(&text)] {
                prop_assert!(!flat.chars().any(|c| is_hidden(c) || c == '\n'));
            }
            let md = markdown_text(&text);
            prop_assert!(!md.contains('<') && !md.contains('>'));
            let html = html_text(&text);
            prop_assert!(!html.chars().any(|c| is_hidden(c) || matches!(c, '<' | '>' | '"' | '\'')));
        }

        #[test]
        fn a_code_span_is_never_closed_early(text in "[a-z` |]{0,12}") {
            let span = markdown_code(&text);
            let fence = span.chars().take_while(|&c| c == '`').count();
            // The fence is longer than every run of backticks inside.
            let inner = &span[fence..span.len() - fence];
            prop_assert!(inner.split(|c| c != '`').all(|run| run.len() < fence));
        }
    }
}
