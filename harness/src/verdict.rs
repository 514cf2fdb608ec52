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
    /// The solution reported an error while preparing or running, or its process crashed (the reason names the
    /// signal) or exited in the middle of a call.
    RuntimeError,
    /// A submitted source file did not compile, or the library does not export `solve` with the contract's
    /// signature (the reason holds the compiler's output).
    CompileError,
    /// A call ran past the wall-clock limit; its process was killed.
    Timeout,
    /// The process used more memory (a CUDA submission: more device memory) than its limit; it was killed.
    MemoryLimit,
    /// Correct, but slower than the baseline by more than the allowed factor.
    TooSlow,
    /// Correct, but its time cannot be trusted: below the physical floor, much faster on inputs it has seen
    /// before (results cached across calls), work left running on another stream, host work before the device
    /// starts, or disowned by the judge's own clock.
    Suspicious,
}

impl Verdict {
    /// Every verdict, from best to worst as the exit status ranks them.
    pub const ALL: [Verdict; 9] = [
        Verdict::Pass,
        Verdict::Skipped,
        Verdict::TooSlow,
        Verdict::Suspicious,
        Verdict::WrongAnswer,
        Verdict::RuntimeError,
        Verdict::Timeout,
        Verdict::MemoryLimit,
        Verdict::CompileError,
    ];

    /// The name used in tables and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Skipped => "skipped",
            Verdict::WrongAnswer => "wrong-answer",
            Verdict::RuntimeError => "runtime-error",
            Verdict::CompileError => "compile-error",
            Verdict::Timeout => "timeout",
            Verdict::MemoryLimit => "memory-limit",
            Verdict::TooSlow => "too-slow",
            Verdict::Suspicious => "suspicious",
        }
    }

    /// What it means, in a few words (for the README, the Markdown summary and `--help`).
    pub const fn meaning(self) -> &'static str {
        match self {
            Verdict::Pass => "every output element finite and within tolerance, every check passed",
            Verdict::Skipped => "not run: it cannot run on this machine (the reason says why)",
            Verdict::WrongAnswer => {
                "an output element outside tolerance, NaN/inf or never written, or an input changed by the call"
            }
            Verdict::RuntimeError => {
                "an error while preparing or running, a crash (the signal is named) or an exit during a call"
            }
            Verdict::CompileError => {
                "the source did not compile, or the library does not export `solve`"
            }
            Verdict::Timeout => "a call ran past the wall-clock limit and was killed",
            Verdict::MemoryLimit => {
                "the worker process used more memory (or a CUDA submission more device memory) than its limit and \
                 was killed"
            }
            Verdict::TooSlow => "correct, but slower than the baseline by more than --max-slowdown",
            Verdict::Suspicious => {
                "correct, but the time cannot be trusted (below the physical floor, faster on repeated inputs, work \
                 left running on another stream, host work before the device starts, or the judge's clock \
                 disagreeing with the submission's)"
            }
        }
    }

    /// Parses a name as [`Verdict::name`] writes it.
    pub fn from_name(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.name() == name)
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
            Verdict::RuntimeError | Verdict::Timeout | Verdict::MemoryLimit => {
                ExitStatus::RuntimeError
            }
            Verdict::CompileError => ExitStatus::CompileError,
            Verdict::TooSlow | Verdict::Suspicious => ExitStatus::SlowOrSuspicious,
        }
    }
}

/// A one-line count of `verdicts` in the order of [`Verdict::ALL`], such as `42 checks: 40 pass, 2 wrong-answer`;
/// `noun` is the thing counted, singular and plural (`("check", "checks")`).
pub fn count_line(verdicts: &[Verdict], noun: (&str, &str)) -> String {
    let counts: Vec<String> = Verdict::ALL
        .iter()
        .filter_map(|v| {
            let n = verdicts.iter().filter(|x| *x == v).count();
            (n > 0).then(|| format!("{n} {v}"))
        })
        .collect();
    let noun = if verdicts.len() == 1 { noun.0 } else { noun.1 };
    if counts.is_empty() {
        return format!("0 {noun}");
    }
    format!("{} {noun}: {}", verdicts.len(), counts.join(", "))
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
    /// 3: a submission did not compile (or does not export `solve`).
    CompileError = 3,
    /// 4: some solution failed to prepare or run, crashed, timed out or ran out of memory.
    RuntimeError = 4,
    /// 5: a submission was correct but too slow against the baseline, or its time is suspicious.
    SlowOrSuspicious = 5,
    /// 6: something the command required is missing on this machine.
    Unavailable = 6,
    /// 7: the judge itself failed (for example, it could not write its results).
    Internal = 7,
}

impl ExitStatus {
    /// Every status, for the help text and the README.
    pub const ALL: [ExitStatus; 8] = [
        ExitStatus::Success,
        ExitStatus::WrongAnswer,
        ExitStatus::Usage,
        ExitStatus::CompileError,
        ExitStatus::RuntimeError,
        ExitStatus::SlowOrSuspicious,
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
            ExitStatus::CompileError => "a submission did not compile (or does not export `solve`)",
            ExitStatus::RuntimeError => {
                "a solution failed to run: an error, a crash, a timeout or the memory limit"
            }
            ExitStatus::SlowOrSuspicious => {
                "a submission was correct but too slow against the baseline, or its time is suspicious"
            }
            ExitStatus::Unavailable => "something required is missing on this machine",
            ExitStatus::Internal => "the judge itself failed (e.g. could not write results)",
        }
    }

    /// Rank used to pick one status among several: higher wins. For a solution, the status names the first
    /// stage it failed, in the order compile, run, correctness, speed: a compile error outranks a crash, a
    /// crash outranks a wrong answer, a wrong answer outranks a time verdict.
    pub const fn severity(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::SlowOrSuspicious => 1,
            ExitStatus::WrongAnswer => 2,
            ExitStatus::RuntimeError => 3,
            ExitStatus::CompileError => 4,
            ExitStatus::Unavailable => 5,
            ExitStatus::Usage => 6,
            ExitStatus::Internal => 7,
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

    /// One help line per status of `statuses` (`  CODE  meaning`), `success` standing for the meaning of 0.
    pub fn help_table(statuses: &[ExitStatus], success: &str) -> String {
        let rows: Vec<(ExitStatus, &str)> = statuses
            .iter()
            .map(|&s| {
                let meaning = if s == ExitStatus::Success {
                    success
                } else {
                    s.meaning()
                };
                (s, meaning)
            })
            .collect();
        ExitStatus::help_rows(&rows)
    }

    /// One help line per status and what it means for the command (`  CODE  meaning`).
    pub fn help_rows(rows: &[(ExitStatus, &str)]) -> String {
        rows.iter()
            .map(|(s, meaning)| format!("  {}  {meaning}", s.code()))
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
    fn count_lines_follow_the_verdict_order() {
        use Verdict::*;
        assert_eq!(
            count_line(&[WrongAnswer, Pass, Skipped, Pass], ("check", "checks")),
            "4 checks: 2 pass, 1 skipped, 1 wrong-answer"
        );
        assert_eq!(count_line(&[Pass], ("check", "checks")), "1 check: 1 pass");
        assert_eq!(
            count_line(&[], ("measurement", "measurements")),
            "0 measurements"
        );
    }

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
        assert!(
            ExitStatus::help_table(&ExitStatus::ALL, "done")
                .contains("  0  done\n  1  a solution gave a wrong answer")
        );
    }

    #[test]
    fn gate_verdicts_map_to_their_documented_codes() {
        let code = |v: Verdict| v.exit_status().code();
        assert_eq!(code(Verdict::CompileError), 3);
        assert_eq!(code(Verdict::Timeout), 4);
        assert_eq!(code(Verdict::MemoryLimit), 4);
        assert_eq!(code(Verdict::TooSlow), 5);
        assert_eq!(code(Verdict::Suspicious), 5);
        // The earliest failed stage wins: compile, run, correctness, speed.
        assert_eq!(
            ExitStatus::from_verdicts([Verdict::Suspicious, Verdict::WrongAnswer]),
            ExitStatus::WrongAnswer
        );
        assert_eq!(
            ExitStatus::from_verdicts([Verdict::Timeout, Verdict::CompileError]),
            ExitStatus::CompileError
        );
        for v in Verdict::ALL {
            assert_eq!(Verdict::from_name(v.name()), Some(v));
        }
    }

    #[test]
    fn skips_are_not_failures() {
        assert!(!Verdict::Skipped.is_failure());
        assert!(Verdict::WrongAnswer.is_failure());
    }

    #[test]
    fn the_readme_verdict_table_says_what_help_says() {
        let readme = include_str!("../../README.md");
        for verdict in Verdict::ALL {
            let prefix = format!("| `{}` |", verdict.name());
            let row = readme
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("README has no row for {}", verdict.name()));
            assert!(
                row.ends_with(&format!(
                    "| {} |",
                    verdict
                        .meaning()
                        .replace("--max-slowdown", "`--max-slowdown`")
                )),
                "README: {row}\nhelp: {}",
                verdict.meaning()
            );
        }
    }
}
