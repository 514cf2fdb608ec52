//! Plain tables for the terminal and Markdown, from rows of strings; and [`out!`](crate::out) /
//! [`outln!`](crate::outln), which print to stdout without dying when it has been closed.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::escape;

/// `65536` → `65,536`: a count with its thousands grouped by commas.
pub fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Set once stdout could not be written; nothing more is printed to it.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Set once a file the command writes is its own stdout: what it prints goes to stderr from then on.
static STDOUT_CARRIES_A_FILE: AtomicBool = AtomicBool::new(false);

/// Sends what [`write_stdout`] prints to stderr from now on, because stdout carries a file the command writes
/// (`--json /dev/stdout`): the file alone reaches stdout's reader (`| jq`, `> out.json`), not the file and a table
/// after it, nor a table written over the file's start through stdout's own position.
pub fn give_stdout_to_a_file() {
    STDOUT_CARRIES_A_FILE.store(true, Ordering::Relaxed);
}

/// Writes `args` to stdout, as `print!` does (to stderr once [`give_stdout_to_a_file`] was called), except when stdout is gone: a reader that closed its end of the
/// pipe (`judge list | head -1`) ends what the judge prints, not what it does. The command goes on, writes its
/// files and exits with its own status. Any other write error is said once on stderr. Control characters are
/// written as visible escapes ([`escape::for_terminal`]): some of the text comes from submitted code.
pub fn write_stdout(args: fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let text = args.to_string();
    if STDOUT_CARRIES_A_FILE.load(Ordering::Relaxed) {
        write_stderr(&text);
        return;
    }
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(escape::for_terminal(&text).as_bytes())
        .and_then(|()| stdout.flush())
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("warning: could not write to stdout: {e}; nothing more is printed there");
        }
    }
}

/// Writes `args` and a line break to stderr, as `eprintln!` does, with control characters written as visible
/// escapes ([`escape::for_terminal`]): some of what the judge says there (compiler output, file names, the
/// reasons of failures) comes from submitted code.
pub fn write_stderr_line(args: fmt::Arguments<'_>) {
    write_stderr(&format!("{args}\n"));
}

/// Writes `text` to stderr with control characters written as visible escapes; a failed write is dropped (there
/// is nowhere left to say it).
fn write_stderr(text: &str) {
    let _ = io::stderr()
        .lock()
        .write_all(escape::for_terminal(text).as_bytes());
}

/// `eprintln!` through [`write_stderr_line`]: control characters shown, not obeyed.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::table::write_stderr_line(format_args!($($arg)*))
    };
}

/// `print!` through [`write_stdout`]: quiet when stdout has been closed.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::table::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` through [`write_stdout`]: quiet when stdout has been closed.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::table::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::table::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Number columns.
    Right,
}

/// A table: a header row and data rows of equal width.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            headers: columns.iter().map(|(h, _)| (*h).to_owned()).collect(),
            aligns: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The column headers with their alignments.
    pub fn columns(&self) -> impl Iterator<Item = (&str, Align)> {
        self.headers
            .iter()
            .map(String::as_str)
            .zip(self.aligns.iter().copied())
    }

    /// The data rows.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }

    /// Renders for a terminal: columns padded, a rule under the header.
    pub fn render_text(&self) -> String {
        let widths = self.widths();
        let line = |cells: &[String]| -> String {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .zip(&self.aligns)
                .map(|((c, &w), a)| match a {
                    Align::Left => format!("{c:<w$}"),
                    Align::Right => format!("{c:>w$}"),
                })
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = line(&self.headers);
        out.push('\n');
        out.push_str(
            &widths
                .iter()
                .map(|&w| "-".repeat(w))
                .collect::<Vec<_>>()
                .join("  "),
        );
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    /// Renders as a GitHub-flavoured Markdown table, every cell literal text on one line
    /// ([`escape::markdown_text`]: some cells quote submitted code's output).
    pub fn render_markdown(&self) -> String {
        let esc = |c: &str| escape::markdown_text(c);
        let mut out = format!(
            "| {} |\n",
            self.headers
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let rule: Vec<&str> = self
            .aligns
            .iter()
            .map(|a| if *a == Align::Right { "---:" } else { "---" })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for row in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                row.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
            ));
        }
        out
    }
}

/// Notes printed below a table, so that a long text that many rows share (why a variant cannot run here, say) is
/// printed once: each row refers to its note by number, and the note names the rows that refer to it.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    /// Each note's text and who refers to it, in order of first reference.
    notes: Vec<(String, Vec<String>)>,
}

impl Notes {
    /// The reference, `(n)`, to the note that says `text` (added if new); `who` is named on the note, once.
    pub fn refer(&mut self, text: &str, who: &str) -> String {
        let index = match self.notes.iter().position(|(t, _)| t == text) {
            Some(i) => i,
            None => {
                self.notes.push((text.to_owned(), Vec::new()));
                self.notes.len() - 1
            }
        };
        let names = &mut self.notes[index].1;
        if !names.iter().any(|n| n == who) {
            names.push(who.to_owned());
        }
        format!("({})", index + 1)
    }

    /// True when nothing referred to a note.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// The notes, one a line (`(n) who, who: text`) after an empty line; empty when there are none.
    pub fn render_text(&self) -> String {
        self.render("", str::to_owned)
    }

    /// The notes as a Markdown list after an empty line, each literal text on one line
    /// ([`escape::markdown_text`]: the names can be submissions' file names); empty when there are none.
    pub fn render_markdown(&self) -> String {
        self.render("- ", escape::markdown_text)
    }

    fn render(&self, bullet: &str, esc: impl Fn(&str) -> String) -> String {
        if self.notes.is_empty() {
            return String::new();
        }
        let lines: String = self
            .notes
            .iter()
            .enumerate()
            .map(|(i, (text, names))| {
                format!(
                    "{bullet}({}) {}: {}\n",
                    i + 1,
                    esc(&names.join(", ")),
                    esc(text)
                )
            })
            .collect();
        format!("\n{lines}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(512), "512");
        assert_eq!(group_thousands(65536), "65,536");
        assert_eq!(group_thousands(12_861_504), "12,861,504");
        assert_eq!(group_thousands(100_000), "100,000");
    }

    #[test]
    fn text_and_markdown_rendering() {
        let mut t = Table::new(&[("name", Align::Left), ("ms", Align::Right)]);
        t.push(vec!["a".into(), "1.5".into()]);
        t.push(vec!["long|name".into(), "10".into()]);
        assert_eq!(
            t.render_text(),
            "name        ms\n---------  ---\na          1.5\nlong|name   10\n"
        );
        assert_eq!(
            t.render_markdown(),
            "| name | ms |\n| --- | ---: |\n| a | 1.5 |\n| long\\|name | 10 |\n"
        );
    }

    #[test]
    fn notes_give_a_shared_text_once_and_name_who_refers_to_it() {
        let mut notes = Notes::default();
        assert!(notes.is_empty() && notes.render_text().is_empty());
        assert_eq!(notes.refer("no driver", "gpu-a"), "(1)");
        assert_eq!(notes.refer("lacks AVX-512", "avx"), "(2)");
        assert_eq!(notes.refer("no driver", "gpu-b"), "(1)");
        assert_eq!(notes.refer("no driver", "gpu-a"), "(1)");
        assert_eq!(
            notes.render_text(),
            "\n(1) gpu-a, gpu-b: no driver\n(2) avx: lacks AVX-512\n"
        );
        assert_eq!(
            notes.render_markdown(),
            "\n- (1) gpu-a, gpu-b: no driver\n- (2) avx: lacks AVX-512\n"
        );
        // In Markdown, names and reasons are literal text on one line.
        let mut notes = Notes::default();
        notes.refer("no <b>driver</b>\n\n# here", "[x](http://e)_y.c");
        assert_eq!(
            notes.render_markdown(),
            "\n- (1) \\[x\\](http://e)\\_y.c: no &lt;b&gt;driver&lt;/b&gt;  \\# here\n"
        );
    }
}
