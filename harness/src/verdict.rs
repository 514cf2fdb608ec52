//! Verdicts (what happened to one solution on one case) and the judge's exit statuses (what a whole command
//! tells the shell and CI).

use std::fmt;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

/// What happened to one solution on one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every element finite and within tolerance.
    Pass,
    /// Not run: the solution cannot run on this machine (the entry's reason says why).
    Skipped,
    /// Some element outside tolerance, NaN/inf, or never written.
    WrongAnswer,
    /// The solution reported an error while preparing or running.
    RuntimeError,
}

impl Verdict {
    /// The name used in tables and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Skipped => "skipped",
            Verdict::WrongAnswer => "wrong-answer",
            Verdict::RuntimeError => "runtime-error",
        }
    }

    /// True for every verdict that means the solution failed (skips are neither passes nor failures).
    pub const fn is_failure(self) -> bool {
        !matches!(self, Verdict::Pass | Verdict::Skipped)
    }

    /// The exit status this verdict leads to when it is the worst of a run.
    pub const fn exit_status(self) -> ExitStatus {
        match self {
            Verdict::Pass | Verdict::Skipped => ExitStatus::Success,
            Verdict::WrongAnswer => ExitStatus::WrongAnswer,
            Verdict::RuntimeError => ExitStatus::RuntimeError,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The judge's exit statuses. When several apply, the most severe wins, in the order of
/// [`ExitStatus::severity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum ExitStatus {
    /// 0: everything that ran passed (skipped variants are listed, not counted).
    Success = 0,
    /// 1: some solution gave a wrong answer.
    WrongAnswer = 1,
    /// 2: invalid usage or input: bad arguments, an unreadable or invalid case file, an unknown name.
    Usage = 2,
    /// 4: some solution failed to prepare or run.
    RuntimeError = 4,
    /// 6: something the command required is missing on this machine.
    Unavailable = 6,
    /// 7: the judge itself failed (for example, it could not write its results).
    Internal = 7,
}

impl ExitStatus {
    /// Every status, for the help text and the README.
    pub const ALL: [ExitStatus; 6] = [
        ExitStatus::Success,
        ExitStatus::WrongAnswer,
        ExitStatus::Usage,
        ExitStatus::RuntimeError,
        ExitStatus::Unavailable,
        ExitStatus::Internal,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// What it means, in a few words.
    pub const fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Success => "every solution that ran passed",
            ExitStatus::WrongAnswer => "a solution gave a wrong answer",
            ExitStatus::Usage => "invalid usage or input (arguments, case files, names)",
            ExitStatus::RuntimeError => "a solution failed to prepare or run",
            ExitStatus::Unavailable => "something required is missing on this machine",
            ExitStatus::Internal => "the judge itself failed (e.g. could not write results)",
        }
    }

    /// Rank used to pick one status among several: higher wins.
    pub const fn severity(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::WrongAnswer => 1,
            ExitStatus::RuntimeError => 2,
            ExitStatus::Unavailable => 3,
            ExitStatus::Usage => 4,
            ExitStatus::Internal => 5,
        }
    }

    /// The most severe of `self` and `other`.
    pub fn max(self, other: ExitStatus) -> ExitStatus {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// The status a set of verdicts leads to.
    pub fn from_verdicts(verdicts: impl IntoIterator<Item = Verdict>) -> ExitStatus {
        verdicts
            .into_iter()
            .map(Verdict::exit_status)
            .fold(ExitStatus::Success, ExitStatus::max)
    }

    /// A table of every status for `--help`.
    pub fn help_table() -> String {
        ExitStatus::ALL
            .iter()
            .map(|s| format!("  {}  {}", s.code(), s.meaning()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_verdict_decides_the_exit_status() {
        assert_eq!(ExitStatus::from_verdicts([]), ExitStatus::Success);
        assert_eq!(
            ExitStatus::from_verdicts([Verdict::Pass, Verdict::Skipped]),
            ExitStatus::Success
        );
        assert_eq!(
            ExitStatus::from_verdicts([Verdict::Pass, Verdict::WrongAnswer]),
            ExitStatus::WrongAnswer
        );
        assert_eq!(
            ExitStatus::from_verdicts([Verdict::RuntimeError, Verdict::WrongAnswer]),
            ExitStatus::RuntimeError
        );
    }

    #[test]
    fn codes_are_distinct_and_documented() {
        let mut codes: Vec<u8> = ExitStatus::ALL.iter().map(|s| s.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), ExitStatus::ALL.len());
        assert!(ExitStatus::help_table().contains("  1  a solution gave a wrong answer"));
    }

    #[test]
    fn skips_are_not_failures() {
        assert!(!Verdict::Skipped.is_failure());
        assert!(Verdict::WrongAnswer.is_failure());
    }
}
