//! Progress of a long bench on stderr (indicatif): which solution, which case, which mode, samples so far.
//! Hidden with `--quiet` or when stderr is not a terminal; colour only when `NO_COLOR` is unset.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::timing::Phase;

/// Shortest interval between two updates of the sample count (updates are dropped in between).
const UPDATE_EVERY: Duration = Duration::from_millis(50);

/// A progress display over a known number of measurements; does nothing when hidden.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    last_update: Option<Instant>,
}

impl Progress {
    /// A display of `total` measurements (solutions × cases), shown on stderr unless `quiet` or stderr is not
    /// a terminal.
    pub fn new(total: u64, quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self::hidden();
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
            label: String::new(),
            last_update: None,
        }
    }

    /// A display that shows nothing.
    pub fn hidden() -> Self {
        Self {
            bar: None,
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

    /// Ends one measurement, printing `line` above the bar.
    pub fn finish(&mut self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(line);
            bar.inc(1);
        }
    }

    /// Removes the display.
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
