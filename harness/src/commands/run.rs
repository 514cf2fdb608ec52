//! `judge run`: every selected solution on every selected case, checked against the oracle; a table on
//! stdout, progress on stderr, the results document rewritten after each entry. Built-in variants run in
//! this process; submitted ones (`--submission`) each in a worker process of their own, case by case.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use solutions::{Backend, Solution};

use crate::challenge::DEFAULT_TOLERANCE;
use crate::challenge::oracle;
use crate::challenge::suites::{Case, CaseSource, CaseSpec, DEFAULT_SEED, Suite};
use crate::check::Tolerance;
use crate::cli::{RunArgs, SandboxArgs};
use crate::gate::trial::{self, CaseResult, TrialContext};
use crate::gate::views::Source;
use crate::io::{FileError, read_case};
use crate::results::{CaseInfo, Entry, Meta, Mode, ResultsFile};
use crate::runner::check_once;
use crate::sandbox::{self, SandboxConfig, WorkerCommand, WorkerUser, Workspace};
use crate::submission::{BuildError, Built, CompileOptions, SourceKind, Submission};
use crate::table::{Align, Notes, Table};
use crate::verdict::{ExitStatus, Verdict};

use super::{CommandError, error_figures, format_error, format_seconds, progress_line};

/// Where a case comes from, before it is built.
#[derive(Debug, Clone)]
pub enum CaseRef {
    /// A case of a suite, generated under the run's seed.
    Spec(Suite, CaseSpec),
    /// A case file.
    File(PathBuf),
}

impl CaseRef {
    /// Every case of `suites`, then every file; a suite or a file named twice (however spelt) counts once, in
    /// the place it was first named, so that no case is run, and entered in the results, twice.
    pub fn collect(suites: &[Suite], files: &[PathBuf]) -> Vec<CaseRef> {
        let unique_suites = super::once_each(suites.iter().copied(), |a, b| a == b);
        let unique_files = super::once_each(files, |a, b| same_file(a, b));
        let specs = unique_suites.into_iter().flat_map(|suite| {
            suite
                .specs()
                .into_iter()
                .map(move |spec| CaseRef::Spec(suite, spec))
        });
        specs
            .chain(unique_files.into_iter().cloned().map(CaseRef::File))
            .collect()
    }

    /// Builds the case (generates it or reads the file).
    pub fn build(&self, seed: u64) -> Result<Case, CommandError> {
        match self {
            CaseRef::Spec(suite, spec) => {
                spec.build(Some(*suite), seed)
                    .map_err(|source| CommandError::Generate {
                        case: spec.name.to_owned(),
                        source,
                    })
            }
            CaseRef::File(path) => {
                let file = read_case(path).map_err(CommandError::Input)?;
                Ok(Case {
                    name: file.name.unwrap_or_else(|| path.display().to_string()),
                    source: CaseSource::File { path: path.clone() },
                    inputs: file.inputs,
                    true_keys: None,
                })
            }
        }
    }
}

/// What to run.
pub struct RunPlan {
    /// The solutions, in order.
    pub solutions: Vec<Box<dyn Solution>>,
    /// The cases, in order.
    pub cases: Vec<CaseRef>,
    /// The run's seed.
    pub seed: u64,
    /// The checker's tolerance.
    pub tolerance: Tolerance,
    /// Print progress lines on stderr.
    pub progress: bool,
    /// Submitted solutions, run in worker processes after the built-in ones on each case.
    pub submissions: Option<Entrants>,
}

/// Submitted solutions entered in a run, and how to start their workers.
pub struct Entrants {
    /// The submissions, in order.
    pub list: Vec<Entrant>,
    /// How to start their workers.
    pub sandbox: SandboxConfig,
}

/// One submitted solution: its name, backend, and its build (or why it did not build).
pub struct Entrant {
    /// The name shown in results.
    pub name: String,
    /// Which pointers its `solve` takes.
    pub backend: Backend,
    /// The built library, or why there is none (every case then gets the build's verdict).
    pub build: Result<Built, BuildError>,
}

/// Runs `solutions` on `cases` under the default seed and tolerance, with no progress lines and no results file:
/// the entries, one per solution × case, in the order [`execute`] makes them. For judging built-in variants in
/// this process (tests, tools).
pub fn run_in_memory(
    solutions: Vec<Box<dyn Solution>>,
    cases: Vec<CaseRef>,
) -> Result<Vec<Entry>, CommandError> {
    let plan = RunPlan {
        solutions,
        cases,
        seed: DEFAULT_SEED,
        tolerance: DEFAULT_TOLERANCE,
        progress: false,
        submissions: None,
    };
    let mut results = ResultsFile::create(Meta::now(DEFAULT_SEED, DEFAULT_TOLERANCE), None)
        .map_err(CommandError::Output)?;
    execute(&plan, &mut results)?;
    Ok(results.doc().entries.clone())
}

/// The end of a submission's stderr under a failing verdict (see [`WorkerStderr::render`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStderr {
    /// The submission's name.
    pub solution: String,
    /// The cases whose workers wrote this same text, in order.
    pub cases: Vec<String>,
    /// The verdict of the first of them.
    pub verdict: Verdict,
    /// What the worker wrote last (the sandbox keeps the last 16 KiB).
    pub text: String,
}

/// The most lines of a worker's stderr printed under a failing verdict.
pub const STDERR_LINES: usize = 20;
/// The most bytes of a worker's stderr printed under a failing verdict.
pub const STDERR_BYTES: usize = 2048;

impl WorkerStderr {
    /// The text for the console: a heading naming the submission, the cases and how much is shown, then the
    /// last [`STDERR_LINES`] lines (at most [`STDERR_BYTES`] bytes), each behind `  | `.
    pub fn render(&self) -> String {
        let all: Vec<&str> = self.text.trim_end().lines().collect();
        let mut shown = &all[all.len().saturating_sub(STDERR_LINES)..];
        let mut bytes: usize = shown.iter().map(|l| l.len() + 1).sum();
        while bytes > STDERR_BYTES && shown.len() > 1 {
            bytes -= shown[0].len() + 1;
            shown = &shown[1..];
        }
        let amount = if shown.len() == all.len() {
            format!("{} line(s)", all.len())
        } else {
            format!("last {} of {} lines", shown.len(), all.len())
        };
        let mut text = format!(
            "stderr of {} on {} ({}; {amount}):\n",
            self.solution,
            self.cases.join(", "),
            self.verdict
        );
        for line in shown {
            // One very long line is cut to its end as well.
            let start = line.len().saturating_sub(STDERR_BYTES);
            let start = (start..line.len())
                .find(|&i| line.is_char_boundary(i))
                .unwrap_or(line.len());
            let cut = if start > 0 { "…" } else { "" };
            text.push_str(&format!("  | {cut}{}\n", &line[start..]));
        }
        text
    }
}

/// Adds `stderr` of `solution` on `case` to `tails`, merged with the same text of the same solution.
fn keep_stderr(
    tails: &mut Vec<WorkerStderr>,
    solution: &str,
    case: &str,
    verdict: Verdict,
    stderr: &str,
) {
    match tails
        .iter_mut()
        .find(|t| t.solution == solution && t.text == stderr)
    {
        Some(tail) => tail.cases.push(case.to_owned()),
        None => tails.push(WorkerStderr {
            solution: solution.to_owned(),
            cases: vec![case.to_owned()],
            verdict,
            text: stderr.to_owned(),
        }),
    }
}

/// Runs `plan`, pushing one entry per solution × case into `results`. Cases are built one at a time and the
/// oracle runs once per case. Returns the stderr of every submitted worker that failed.
///
/// A results file that cannot be written stops nothing: the entries stay in `results`, and
/// [`ResultsFile::finish`] reports the failure.
pub fn execute(
    plan: &RunPlan,
    results: &mut ResultsFile,
) -> Result<Vec<WorkerStderr>, CommandError> {
    let mut tails = Vec::new();
    let entrants = plan.submissions.as_ref().map_or(0, |e| e.list.len());
    let total = plan.cases.len() * (plan.solutions.len() + entrants);
    let mut done = 0;
    for case_ref in &plan.cases {
        let started = Instant::now();
        let case = case_ref.build(plan.seed)?;
        let built = started.elapsed().as_secs_f64();
        // Submissions' views need the keys dequantized; the oracle's scores then come from the same pass.
        let source = plan
            .submissions
            .is_some()
            .then(|| Source::new(&case.inputs));
        let oracle_scores;
        let expected: &[f64] = match &source {
            Some(source) => source.expected(),
            None => {
                oracle_scores = oracle::scores(&case.inputs);
                &oracle_scores
            }
        };
        if plan.progress {
            crate::errln!(
                "case {} ({}): built in {}, oracle in {}",
                case.name,
                case.inputs.shape(),
                format_seconds(built),
                format_seconds(started.elapsed().as_secs_f64() - built)
            );
        }
        for solution in &plan.solutions {
            done += 1;
            let outcome = check_once(solution.as_ref(), &case, expected, plan.tolerance);
            if plan.progress {
                let at = (done, total);
                progress_line(at, solution.name(), 26, outcome.verdict, outcome.elapsed_s);
            }
            results.push(outcome.into_entry(solution.as_ref(), &case));
        }
        let (Some(entrants), Some(source)) = (&plan.submissions, &source) else {
            continue;
        };
        let ctx = TrialContext {
            sandbox: &entrants.sandbox,
            tolerance: plan.tolerance,
            seed: plan.seed,
        };
        for entrant in &entrants.list {
            done += 1;
            let result = match &entrant.build {
                Err(e) => CaseResult::not_run(e.verdict(), e.reason()),
                Ok(built) => {
                    trial::check_case(built, &case, source, &ctx).map_err(CommandError::Sandbox)?
                }
            };
            if plan.progress {
                let median = result.timing.as_ref().map(|t| t.summary.median);
                progress_line((done, total), &entrant.name, 26, result.verdict, median);
            }
            if result.verdict.is_failure()
                && let Some(stderr) = &result.stderr
            {
                keep_stderr(
                    &mut tails,
                    &entrant.name,
                    &case.name,
                    result.verdict,
                    stderr,
                );
            }
            results.push(result.entry(
                (&entrant.name, entrant.backend),
                CaseInfo::from(&case),
                Mode::Check,
            ));
        }
    }
    Ok(tails)
}

/// The table `judge run` prints, as text: a row per entry; the reason a variant was skipped, the same on every
/// case, is given once in a note below the table (the row says which). Scores checked by `judge check` were timed
/// elsewhere: without a timed entry, the table has no time column.
pub fn results_text(entries: &[Entry]) -> String {
    let timed = entries.iter().any(|e| e.timing.is_some());
    let mut notes = Notes::default();
    let mut columns = vec![
        ("solution", Align::Left),
        ("case", Align::Left),
        ("B×S×D×C", Align::Left),
        ("verdict", Align::Left),
        ("max abs err", Align::Right),
        ("max rel err", Align::Right),
        ("rel frob", Align::Right),
    ];
    if timed {
        columns.push(("1-call time", Align::Right));
    }
    columns.push(("note", Align::Left));
    let mut table = Table::new(&columns);
    for e in entries {
        let s = e.case.shape;
        let [abs, rel, frob] = e
            .check
            .as_ref()
            .map(|c| error_figures(c, format_error))
            .unwrap_or_default();
        let mut row = vec![
            e.solution.clone(),
            e.case.name.clone(),
            format!("{}×{}×{}×{}", s.b, s.s, s.d, s.c),
            e.verdict.name().to_owned(),
            abs,
            rel,
            frob,
        ];
        if timed {
            row.push(
                e.timing
                    .as_ref()
                    .map(|t| format_seconds(t.summary.median))
                    .unwrap_or_default(),
            );
        }
        row.push(match e.skip_reason() {
            Some(reason) => notes.refer(reason, &e.solution),
            None => e.reason.clone().unwrap_or_default(),
        });
        table.push(row);
    }
    format!("{}{}", table.render_text(), notes.render_text())
}

/// A one-line count of verdicts, such as `42 checks: 40 pass, 2 wrong-answer`.
pub fn verdict_counts(entries: &[Entry]) -> String {
    let verdicts: Vec<Verdict> = entries.iter().map(|e| e.verdict).collect();
    crate::verdict::count_line(&verdicts, ("check", "checks"))
}

fn select_solutions(args: &RunArgs) -> Result<Vec<Box<dyn Solution>>, CommandError> {
    if args.all {
        return Ok(solutions::registry());
    }
    if args.solutions.is_empty() && args.submissions.is_empty() {
        return Err(CommandError::Usage(
            "choose what to run: --all, --solution NAME (see `judge list` for the names) or --submission PATH"
                .to_owned(),
        ));
    }
    super::solutions_by_name(&args.solutions)
}

/// Classifies and builds the submissions of `args`; the workspace must outlive the run. A compiler that cannot
/// be started is [`CommandError::Unavailable`]: the submission was asked for, and nothing can judge it here.
fn enter_submissions(
    args: &RunArgs,
    progress: bool,
) -> Result<Option<(Entrants, Workspace)>, CommandError> {
    if args.submissions.is_empty() {
        return Ok(None);
    }
    let submissions = submissions_of(args)?;
    for s in &submissions {
        check_compiler_variable(s.kind)?;
    }
    let workspace = Workspace::create().map_err(CommandError::Workdir)?;
    let worker = WorkerCommand::this_judge().map_err(CommandError::Workdir)?;
    let sandbox = args
        .sandbox
        .sandbox(&workspace, worker, worker_user(&args.sandbox)?);
    let compile = args.sandbox.compile_options();
    let mut list = Vec::new();
    for s in &submissions {
        let build = s.build(&sandbox, &compile);
        if let Err(e @ BuildError::CompilerMissing { .. }) = &build {
            return Err(CommandError::Unavailable(format!(
                "{}: {e}{}",
                s.path.display(),
                compiler_hint(s.kind)
            )));
        }
        // The compiler's output is the reason for a compile error, not progress: it is shown with --quiet too
        // (the table keeps only its first line).
        if let Err(e) = &build
            && (progress || e.log().is_some())
        {
            crate::errln!("{}: {e}", s.path.display());
            if let Some(log) = e.log() {
                crate::errln!("{}", log.trim_end());
            }
        }
        list.push(Entrant {
            name: s.name(),
            backend: s.backend,
            build,
        });
    }
    sandbox::protect_judge();
    Ok(Some((Entrants { list, sandbox }, workspace)))
}

/// What to do about a compiler of `kind` that could not be started.
fn compiler_hint(kind: SourceKind) -> String {
    kind.compiler_variable().map_or_else(String::new, |var| {
        format!(" (install it, or set ${var} to the compiler's path)")
    })
}

/// The workers' user that `--worker-user` asks for; a usage error (exit 2) when this judge cannot switch to it.
/// Says on stderr when a judge running as root keeps root for its workers, and when this kernel cannot confine
/// their writes (no Landlock).
pub(super) fn worker_user(args: &SandboxArgs) -> Result<WorkerUser, CommandError> {
    let (user, warning) = args.worker_user().map_err(CommandError::Usage)?;
    if let Some(warning) = warning {
        crate::errln!("warning: {warning} (see --worker-user)");
    }
    if let Err(why) = crate::sandbox::landlock::abi() {
        crate::errln!(
            "warning: {why}, so workers and compilers may write any file their user may write"
        );
    }
    Ok(user)
}

/// Refuses a `$CC`, `$CXX` or `$NVCC` (for a submission of `kind`) that holds arguments as well as a program
/// (`CC="cc -Wall"`): the judge runs the variable as one program, with its own flags.
pub(super) fn check_compiler_variable(kind: SourceKind) -> Result<(), CommandError> {
    let Some(var) = kind.compiler_variable() else {
        return Ok(());
    };
    let Some(value) = crate::submission::compiler_from_env(kind) else {
        return Ok(());
    };
    let text = value.to_string_lossy();
    if text.trim().contains(char::is_whitespace) && !Path::new(&value).exists() {
        return Err(CommandError::Usage(format!(
            "${var} is '{text}': it must name one program (a path, or a name on PATH), without arguments; \
             the judge passes its own flags"
        )));
    }
    Ok(())
}

/// Refuses, before anything runs, an output that would replace one of the command's input files, or another
/// output: `outputs` are (option, path), `inputs` the files the command reads. Paths are compared with every
/// symbolic link resolved (a file that does not exist yet by its resolved directory), and files that exist
/// also by device and inode, so a hard link is caught too.
pub(super) fn refuse_overwriting_inputs(
    outputs: &[(&str, &Path)],
    inputs: &[&Path],
) -> Result<(), CommandError> {
    for (i, (option, output)) in outputs.iter().enumerate() {
        if inputs.iter().any(|input| same_file(output, input)) {
            return Err(CommandError::Usage(format!(
                "{option} names an input file: {}",
                output.display()
            )));
        }
        if let Some((other, _)) = outputs[..i].iter().find(|(_, o)| same_file(output, o)) {
            return Err(CommandError::Usage(format!(
                "{other} and {option} name the same file: {}",
                output.display()
            )));
        }
    }
    Ok(())
}

/// Whether `a` and `b` are the same file, or would be once written.
fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b))
        && (ma.dev(), ma.ino()) == (mb.dev(), mb.ino())
    {
        return true;
    }
    matches!((resolved(a), resolved(b)), (Some(x), Some(y)) if x == y)
}

/// `path` absolute with every symbolic link resolved, as [`crate::io::write_atomically`] follows them (a
/// dangling link names its target). For a path that does not exist (yet), its nearest existing ancestor is
/// resolved and the rest appended as the directories a command creates would make it: `.` dropped, `..` taking
/// back the component before it (`new/../out` is `out`), so an output whose directory is still to be made is
/// compared too.
fn resolved(path: &Path) -> Option<PathBuf> {
    let target = crate::io::final_target(path).ok()?;
    if let Ok(p) = target.canonicalize() {
        return Some(p);
    }
    let absolute = std::path::absolute(&target).ok()?;
    let components: Vec<Component> = absolute.components().collect();
    let (mut base, rest) = (1..components.len()).rev().find_map(|n| {
        let prefix: PathBuf = components[..n].iter().collect();
        prefix.canonicalize().ok().map(|p| (p, &components[n..]))
    })?;
    for part in rest {
        match part {
            Component::ParentDir => {
                base.pop();
            }
            Component::Normal(name) => base.push(name),
            _ => {}
        }
    }
    Some(base)
}

/// Checks, before anything runs, that `path`, given as `option`, can be written
/// ([`crate::io::check_writable`]). When `path` is the command's own stdout, what the command prints goes to
/// stderr instead ([`crate::table::give_stdout_to_a_file`]).
pub(super) fn check_writable(option: &'static str, path: &Path) -> Result<(), CommandError> {
    crate::io::check_writable(path)
        .map_err(|source| CommandError::Unwritable { option, source })?;
    if crate::io::is_stdout(path) {
        crate::table::give_stdout_to_a_file();
    }
    Ok(())
}

/// Prints the failure of a file the command could not write once it had started (the command went on).
pub(super) fn report_write_failure(error: FileError) {
    super::eprint_error(&CommandError::Output(error));
}

/// Reads every case file of `cases`, so that a missing or invalid one is reported before anything runs; a file
/// whose stored scores disagree with the oracle is invalid, as `judge case info` says (the oracle runs here once
/// more for each file that stores scores).
fn check_case_files(cases: &[CaseRef]) -> Result<(), CommandError> {
    for case in cases {
        if let CaseRef::File(path) = case {
            let file = read_case(path).map_err(CommandError::Input)?;
            if file.scores.is_some() {
                let expected = oracle::scores(&file.inputs);
                super::case::refuse_wrong_stored_scores(path, &file, &expected)?;
            }
        }
    }
    Ok(())
}

/// The submissions `args` name, each with its kind and backend (`--backend` for a prebuilt library).
fn submissions_of(args: &RunArgs) -> Result<Vec<Submission>, CommandError> {
    let backend = args.sandbox.backend.map(Into::into);
    let submissions = args
        .submissions
        .iter()
        .map(|path| Submission::new(path, backend))
        .collect::<Result<Vec<_>, _>>()?;
    // Tables, results files, reports and comparisons name a submission by its file name.
    for (i, later) in submissions.iter().enumerate() {
        if let Some(earlier) = submissions[..i].iter().find(|s| s.name() == later.name()) {
            return Err(CommandError::Usage(format!(
                "--submission {} and --submission {} have the same file name, by which the results name them; \
                 rename one",
                earlier.path.display(),
                later.path.display()
            )));
        }
    }
    Ok(submissions)
}

/// With `--require-gpu`: an error naming every selected CUDA variant or CUDA submission that cannot run here,
/// with the reason (no driver, no device, no nvcc), or saying that none was selected.
fn require_gpu(solutions: &[Box<dyn Solution>], args: &RunArgs) -> Result<(), CommandError> {
    let submissions = submissions_of(args)?;
    let cuda_submissions: Vec<&Submission> = submissions
        .iter()
        .filter(|s| s.backend == Backend::Cuda)
        .collect();
    let cuda: Vec<&dyn Solution> = solutions
        .iter()
        .map(AsRef::as_ref)
        .filter(|s| s.backend() == Backend::Cuda)
        .collect();
    if cuda.is_empty() && cuda_submissions.is_empty() {
        return Err(CommandError::Unavailable(
            "--require-gpu: no CUDA variant or CUDA submission is selected".to_owned(),
        ));
    }
    let mut missing: Vec<String> = cuda
        .iter()
        .filter_map(|s| match s.availability() {
            solutions::Availability::Available => None,
            solutions::Availability::Unavailable(reason) => Some(format!("{}: {reason}", s.name())),
        })
        .collect();
    let options = CompileOptions::default();
    for s in cuda_submissions {
        if let Err(reason) = s.cuda_tools(&options) {
            missing.push(format!("{}: cannot run here: {reason}", s.path.display()));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CommandError::Unavailable(format!(
            "--require-gpu: {}",
            missing.join("; ")
        )))
    }
}

pub(super) fn run(args: &RunArgs) -> Result<ExitStatus, CommandError> {
    let solutions = select_solutions(args)?;
    // Before anything is compiled, run or written: the results file must not replace an input, and every case
    // file must read.
    let outputs: Vec<(&'static str, &Path)> =
        args.json.iter().map(|p| ("--json", p.as_path())).collect();
    let inputs: Vec<&Path> = args
        .cases
        .iter()
        .chain(&args.submissions)
        .map(PathBuf::as_path)
        .collect();
    refuse_overwriting_inputs(&outputs, &inputs)?;
    for (option, path) in &outputs {
        check_writable(option, path)?;
    }
    let suites = if args.suites.is_empty() && args.cases.is_empty() {
        vec![Suite::Functional, Suite::Perf]
    } else {
        args.suites.clone()
    };
    let cases = CaseRef::collect(&suites, &args.cases);
    check_case_files(&cases)?;
    if args.require_gpu {
        require_gpu(&solutions, args)?;
    }
    let (submissions, _workspace) = match enter_submissions(args, !args.quiet)? {
        Some((entrants, workspace)) => (Some(entrants), Some(workspace)),
        None => (None, None),
    };
    let tolerance = Tolerance {
        atol: args.check.atol,
        rtol: args.check.rtol,
    };
    let plan = RunPlan {
        solutions,
        cases,
        seed: args.check.seed,
        tolerance,
        progress: !args.quiet,
        submissions,
    };
    let mut meta = Meta::now(args.check.seed, tolerance);
    if plan
        .solutions
        .iter()
        .any(|s| s.backend() == solutions::Backend::Cuda)
    {
        meta.gpu = crate::gpu::gpu_info();
    }
    let mut results = ResultsFile::create(meta, args.json.clone()).map_err(CommandError::Output)?;
    let started = Instant::now();
    let ran = execute(&plan, &mut results);
    // Anything a dead worker left that was adopted after its worker ended.
    sandbox::children::kill_adopted();
    let tails = ran?;
    let written = results.finish();
    let entries = &results.doc().entries;
    crate::out!("{}", results_text(entries));
    for tail in &tails {
        crate::out!("\n{}", tail.render());
    }
    crate::outln!(
        "\n{} ({tolerance}, seed {}) in {}",
        verdict_counts(entries),
        args.check.seed,
        format_seconds(started.elapsed().as_secs_f64())
    );
    let status = ExitStatus::from_verdicts(entries.iter().map(|e| e.verdict));
    match (written, &args.json) {
        (Ok(()), Some(path)) => {
            crate::outln!("results written to {}", path.display());
            Ok(status)
        }
        (Ok(()), None) => Ok(status),
        // The run went on and its table is above; the judge's own failure outranks every verdict.
        (Err(error), _) => {
            report_write_failure(error);
            Ok(status.max(ExitStatus::Internal))
        }
    }
}
