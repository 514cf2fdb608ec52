//! Progress of a long bench on stderr: on a terminal a live display (indicatif) of which solution, case and mode
//! is measured and its samples so far, with colour unless `NO_COLOR` is set; elsewhere (a CI log, `2> file`) one
//! plain line per finished measurement, so that a long bench is not silent for minutes; nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::timing::Phase;

/// Shortest interval between two updates of the sample count (updates are dropped in between).
const UPDATE_EVERY: Duration = Duration::from_millis(50);

/// A progress display over a known number of measurements.
pub struct Progress {
    /// The live display, on a terminal.
    bar: Option<ProgressBar>,
    /// Whether finished measurements are printed as plain lines (stderr is not a terminal, and not `--quiet`).
    lines: bool,
    label: String,
    last_update: Option<Instant>,
}

impl Progress {
    /// A display of `total` measurements (solutions × cases) on stderr: live on a terminal, plain lines
    /// elsewhere, nothing when `quiet`.
    pub fn new(total: u64, quiet: bool) -> Self {
        if quiet {
            return Self::hidden();
        }
        if !std::io::stderr().is_terminal() {
            return Self {
                lines: true,
                ..Self::hidden()
            };
        }
        let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let template = if colour {
            "{spinner:.cyan} [{pos}/{len}] {elapsed:>4} {msg}"
        } else {
            "{spinner} [{pos}/{len}] {elapsed:>4} {msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Self {
            bar: Some(bar),
            lines: false,
            label: String::new(),
            last_update: None,
        }
    }

    /// A display that shows nothing.
    pub fn hidden() -> Self {
        Self {
            bar: None,
            lines: false,
            label: String::new(),
            last_update: None,
        }
    }

    /// Says what is being done now (`generating perf: input set 2/4`).
    pub fn status(&mut self, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        }
    }

    /// Starts one measurement (`cpu-naive · perf · warm`).
    pub fn start(&mut self, label: String) {
        self.label = label;
        self.last_update = None;
        self.status(self.label.clone());
    }

    /// Reports where the sampling loop is (throttled).
    pub fn phase(&mut self, phase: Phase) {
        if self.bar.is_none() {
            return;
        }
        let now = Instant::now();
        if self
            .last_update
            .is_some_and(|t| now.duration_since(t) < UPDATE_EVERY)
        {
            return;
        }
        self.last_update = Some(now);
        let what = match phase {
            Phase::WarmUp { calls } => format!("warm-up call {calls}"),
            Phase::Sampling { samples } => format!("{samples} samples"),
        };
        self.status(format!("{} · {what}", self.label));
    }

    /// Ends one measurement, printing `line` (escaped: it may hold a submission's text) above the bar, or as a
    /// line of its own where there is no bar.
    pub fn finish(&mut self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(crate::escape::for_terminal(line));
            bar.inc(1);
        } else if self.lines {
            crate::errln!("{line}");
        }
    }

    /// Removes the display.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
