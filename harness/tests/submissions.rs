//! Every fixture submission in `fixtures/submissions/` gets the verdict written in its header
//! (`// expect: VERDICT`, optionally `// expect-reason: TEXT` and `// expect-baseline: OTHER`), through the gate
//! run in this process on a reduced case list with small limits. The judge must survive the crashing, hanging
//! and memory-hungry ones: each test goes on to check every case's verdict after them.
//!
//! The `.cu` fixtures are checked here only for a well-formed header; `tests/gpu_submissions.rs` runs them on a
//! GPU.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use common::{
    entry_lines, expectation, fixture_files, fixtures, has_reason, kept_baseline,
    reduced_functional,
};
use harness::challenge::DEFAULT_TOLERANCE;
use harness::challenge::generate::Generator;
use harness::challenge::suites::{CaseSpec, Suite};
use harness::commands::run::CaseRef;
use harness::cpu_peak::{self, CpuPeak};
use harness::gate::baseline::BaselineSpec;
use harness::gate::{self, FloorSource, GatePlan, GateSummary, SeedSource};
use harness::results::{Meta, ResultsDoc, ResultsFile};
use harness::sandbox::limits::MIB;
use harness::sandbox::{Limits, UserIds, WorkerCommand, WorkerUser, Workspace};
use harness::submission::{CompileOptions, Submission};
use harness::timing::SamplingPlan;
use harness::verdict::Verdict;
use solutions::Shape;

const SEED: u64 = 20_250_419;

/// A quick measurement of this CPU's limits, shared by every test of this file.
fn peak() -> CpuPeak {
    static PEAK: OnceLock<CpuPeak> = OnceLock::new();
    *PEAK.get_or_init(|| {
        let (fma_gflops, simd) = cpu_peak::fma_peak(Duration::from_millis(30), 3);
        CpuPeak {
            fma_gflops,
            read_gbps: cpu_peak::read_bandwidth(64 << 20, 3),
            read_bytes: 64 << 20,
            threads: 1,
            simd,
        }
    })
}

/// The reduced case list: S = 1 (public-01), S not a multiple of 4 or 8 (public-07), D not a power of two,
/// C = 256 with indices ≥ 128, and a small timed case.
fn plan(
    submission: &Path,
    workspace: &Workspace,
    baseline: Option<BaselineSpec>,
    timed: bool,
    user: WorkerUser,
) -> GatePlan {
    let functional = reduced_functional();
    let timed_case = CaseSpec {
        name: "perf-small",
        shape: Shape::new(32, 1024, 256, 16),
        generator: Generator::Challenge,
        tweak: None,
    };
    let limits = Limits {
        call_s: 1.5,
        startup_s: 30.0,
        memory_bytes: 256 * MIB,
        ..Limits::default()
    };
    GatePlan {
        submission: Submission::new(submission, None).unwrap(),
        functional,
        timed: timed.then_some(CaseRef::Spec(Suite::Perf, timed_case)),
        seed: SEED,
        seed_source: SeedSource::Given,
        tolerance: DEFAULT_TOLERANCE,
        sandbox: workspace.config(
            WorkerCommand::judge_at(common::judge_binary()),
            limits,
            user,
        ),
        compile: CompileOptions {
            limit: Duration::from_secs(60),
            // `bad/includes_endless_file.c` allocates up to this.
            memory_bytes: 1024 * MIB,
            ..CompileOptions::default()
        },
        sampling: SamplingPlan {
            warmup_calls: 1,
            warmup_time: Duration::ZERO,
            min_samples: 5,
            max_samples: 9,
            target_rel_err: 0.05,
            budget: Duration::from_secs(2),
        },
        baseline,
        floor: FloorSource::Fixed(peak()),
        progress: false,
        options: Vec::new(),
    }
}

fn run_gate(
    submission: &Path,
    baseline: Option<BaselineSpec>,
    timed: bool,
) -> (GateSummary, ResultsDoc) {
    // Workers run as they would from the command line (`--worker-user auto`).
    run_gate_as(submission, baseline, timed, WorkerUser::automatic().0)
}

/// [`run_gate`] with workers of `user`.
fn run_gate_as(
    submission: &Path,
    baseline: Option<BaselineSpec>,
    timed: bool,
    user: WorkerUser,
) -> (GateSummary, ResultsDoc) {
    // One gate at a time, as `judge gate` runs: two gates timing calls on a 2-core machine at once delay each
    // other's round trips by milliseconds, which the clock check may read as a tampered timer.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // As `judge gate` does: among other things, this process adopts what dead workers leave behind.
    harness::sandbox::protect_judge();
    let workspace = Workspace::create().unwrap();
    let plan = plan(submission, &workspace, baseline, timed, user);
    let mut results = ResultsFile::create(Meta::now(SEED, DEFAULT_TOLERANCE), None).unwrap();
    let summary = gate::run(&plan, &mut results).unwrap();
    results.set_gate(summary.clone());
    (summary, results.doc().clone())
}

/// Runs the gate on one fixture and checks its verdict, reason and exit status; returns the document.
fn judge_fixture(relative: &str) -> ResultsDoc {
    let path = fixtures().join(relative);
    let expected = expectation(&path);
    let baseline = expected.baseline.as_ref().map(|reference| {
        let (_, doc) = run_gate(reference, None, true);
        kept_baseline(&doc).unwrap()
    });
    let (summary, doc) = run_gate(&path, baseline, expected.timed);
    let table = entry_lines(&doc);
    println!(
        "{relative}: {} (exit {})\n  {}",
        summary.verdict,
        summary.exit_status,
        table.join("\n  ")
    );
    assert_eq!(
        summary.verdict,
        expected.verdict,
        "{relative}: got {}, expected {}\n{}\noutputs: {:?}",
        summary.verdict,
        expected.verdict,
        table.join("\n"),
        summary.outputs
    );
    assert_eq!(
        summary.exit_status,
        expected.verdict.exit_status().code(),
        "{relative}"
    );
    // Every case has an entry: the judge went on after whatever the submission did.
    let cases = reduced_functional().len() + usize::from(expected.timed);
    assert_eq!(doc.entries.len(), cases, "{relative}: {table:?}");
    if let Some(reason) = &expected.reason {
        assert!(
            has_reason(&doc, expected.verdict, reason),
            "{relative}: no '{reason}' in the reasons:\n{}",
            table.join("\n")
        );
    }
    doc
}

/// A test per fixture that checks its expected verdict and nothing more; after `;`, the fixtures whose own
/// tests below check their verdict (through [`judge_fixture`]) and more, so that none is judged twice.
macro_rules! fixture_tests {
    ($($test:ident => $file:literal,)* ; $($elsewhere:literal,)*) => {
        $(
            #[test]
            fn $test() {
                judge_fixture($file);
            }
        )*

        /// Every C and C++ fixture on disk has a test above, or is judged by a test of its own in this file.
        #[test]
        fn every_host_fixture_is_tested() {
            let source = include_str!("submissions.rs");
            for file in [$($elsewhere,)*] {
                assert!(
                    source.contains(&format!("judge_fixture(\"{file}\")")),
                    "{file} is listed as judged by its own test, but no test here calls judge_fixture on it"
                );
            }
            let tested: BTreeSet<&str> = [$($file,)* $($elsewhere,)*].into_iter().collect();
            for dir in ["good", "bad"] {
                for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
                    let path = entry.unwrap().path();
                    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                    if ["c", "cpp"].contains(&ext) {
                        let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
                        assert!(tested.contains(name.as_str()), "{name} has no test");
                    }
                }
            }
        }
    };
}

fixture_tests! {
    good_reference_cpp => "good/reference.cpp",
    good_chatty => "good/chatty.c",
    bad_unwritten_tail => "bad/unwritten_tail.c",
    bad_modifies_inputs => "bad/modifies_inputs.c",
    bad_cache_by_pointer => "bad/cache_by_pointer.c",
    bad_cache_by_query => "bad/cache_by_query.c",
    bad_remembers_keys => "bad/remembers_keys.c",
    bad_signals_the_judge => "bad/signals_the_judge.c",
    bad_clone_parent => "bad/clone_parent.c",
    bad_writes_past_output => "bad/writes_past_output.c",
    bad_truncates_buffers => "bad/truncates_buffers.c",
    bad_rewrites_own_library => "bad/rewrites_own_library.c",
    bad_creates_files => "bad/creates_files.c",
    bad_opens_sockets => "bad/opens_sockets.c",
    bad_keeps_shared_memory => "bad/keeps_shared_memory.c",
    bad_limits_the_judge => "bad/limits_the_judge.c",
    bad_clears_death_signal => "bad/clears_death_signal.c",
    bad_cache_by_content => "bad/cache_by_content.c",
    bad_cache_by_rows => "bad/cache_by_rows.c",
    bad_cache_cheap_key => "bad/cache_cheap_key.c",
    bad_bf16_operands => "bad/bf16_operands.c",
    bad_deferred_thread => "bad/deferred_thread.c",
    bad_reads_judge_memory => "bad/reads_judge_memory.c",
    bad_slows_the_clock => "bad/slows_the_clock.c",
    bad_forges_answer => "bad/forges_answer.c",
    bad_forges_clock => "bad/forges_clock.c",
    bad_forges_skip => "bad/forges_skip.c",
    bad_crash_segfault => "bad/crash_segfault.c",
    bad_infinite_loop => "bad/infinite_loop.c",
    bad_huge_alloc => "bad/huge_alloc.c",
    bad_thread_bomb => "bad/thread_bomb.c",
    bad_calls_exit => "bad/calls_exit.c",
    bad_compile_error => "bad/compile_error.c",
    bad_includes_endless_file => "bad/includes_endless_file.c",
    bad_writes_huge_object => "bad/writes_huge_object.c",
    bad_no_solve_symbol => "bad/no_solve_symbol.c",
    bad_solve_is_a_variable => "bad/solve_is_a_variable.c",
    bad_solve_not_extern_c => "bad/solve_not_extern_c.cpp",
    bad_slow => "bad/slow.c",
    ;
    "good/reference.c",
    "bad/leaves_process.c",
    "bad/exits_leaving_process.c",
    "bad/forks_at_exit.c",
    "bad/reads_other_compiles.c",
}

/// Workers of the judge's own user (here `--worker-user judge`, as a judge that is not root runs them) own what
/// the judge's user owns. Where the kernel has Landlock they still cannot write it: the library they were loaded
/// from stays closed to writing, and the fixture that tries passes. Without Landlock it gets the wrong answer it
/// makes where the open succeeds: the limit the README states for such kernels.
#[test]
fn workers_of_the_judges_user_write_none_of_its_files() {
    let path = fixtures().join("bad/rewrites_own_library.c");
    let (summary, doc) = run_gate_as(&path, None, false, WorkerUser::Judge);
    let want = match harness::sandbox::landlock::abi() {
        Ok(_) => Verdict::Pass,
        Err(why) => {
            println!("without Landlock ({why}), the worker rewrites its library");
            Verdict::WrongAnswer
        }
    };
    assert_eq!(summary.verdict, want, "{}", entry_lines(&doc).join("\n"));
}

/// A process may set the resource limits of another of its user, so a worker of the judge's own user
/// (`--worker-user judge`) could set the judge's (a CPU-time limit kills it). The worker's filter refuses
/// `prlimit64` on any process but its own, and the fixture that tries passes.
#[test]
fn workers_of_the_judges_user_set_none_of_its_limits() {
    let path = fixtures().join("bad/limits_the_judge.c");
    let (summary, doc) = run_gate_as(&path, None, false, WorkerUser::Judge);
    assert_eq!(
        summary.verdict,
        Verdict::Pass,
        "{}",
        entry_lines(&doc).join("\n")
    );
}

/// A judge running as root runs its workers and compilers as a user of its own, and a compile's directory is its
/// compiler's user's alone (mode 0700). So a submission cannot list the compile of a judge beside it: here a
/// directory like that judge's, of another id taken as a judge takes one, planted in `/tmp` while the fixture
/// runs. As that other user, the same fixture lists it and gets wrong-answer: the probe works. Where this judge
/// takes no user of its own (it is not root, or no id could be taken), the directory planted is of its workers'
/// own user, as another such judge's would be, and the fixture must read it: the limit the README states.
#[test]
fn a_submission_cannot_read_the_compile_of_a_judge_beside_it() {
    use harness::sandbox::users;
    use std::os::unix::fs::PermissionsExt;
    let (workers, why_not) = WorkerUser::automatic();
    // The other judge's id: taken as a judge takes its own, so it is neither ours nor anyone else's.
    let other = matches!((workers, &why_not), (WorkerUser::Switch { .. }, None)).then(|| {
        users::reserve(
            users::RANGE,
            Path::new(users::LOCKS),
            &users::ids_in_use(),
            |_| true,
        )
        .unwrap()
    });
    let owner = other.as_ref().map_or(workers.ids(), |other| UserIds {
        uid: other.id(),
        gid: other.id(),
    });
    let compile = tempfile::Builder::new()
        .prefix("judge-compile-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::write(compile.path().join("another_author.c"), "int secret;\n").unwrap();
    std::os::unix::fs::chown(compile.path(), Some(owner.uid), Some(owner.gid)).unwrap();
    let path = fixtures().join("bad/reads_other_compiles.c");
    let Some(other) = other else {
        println!(
            "this judge takes no user of its own ({}): a compile of its workers' user is open to them",
            why_not.as_deref().unwrap_or("it is not root")
        );
        let (summary, doc) = run_gate(&path, None, false);
        assert_eq!(
            summary.verdict,
            Verdict::WrongAnswer,
            "{}",
            entry_lines(&doc).join("\n")
        );
        return;
    };
    assert_ne!(owner, workers.ids());
    // Its header's verdict: pass.
    judge_fixture("bad/reads_other_compiles.c");
    let as_other = WorkerUser::Switch {
        uid: other.id(),
        gid: other.id(),
    };
    let (summary, doc) = run_gate_as(&path, None, false, as_other);
    assert_eq!(
        summary.verdict,
        Verdict::WrongAnswer,
        "{}",
        entry_lines(&doc).join("\n")
    );
}

/// A source can make its compiler read any file the compiler may open: `#include` prints it in the errors the
/// gate shows, `.incbin` builds it into the library. The compiler runs as the workers do, so a file that no
/// one but a privileged process may read stays closed to it, even under a judge running as root.
#[test]
fn a_compiler_reads_no_file_its_workers_could_not() {
    use std::os::unix::fs::PermissionsExt;
    let secrets = tempfile::tempdir().unwrap();
    std::fs::set_permissions(secrets.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = secrets.path().join("secret");
    const MARKER: &str = "only_the_judge_may_read_this";
    std::fs::write(&secret, format!("{MARKER}: not C\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let sources = tempfile::tempdir().unwrap();
    let reference = std::fs::read_to_string(fixtures().join("good/reference.c")).unwrap();
    let attempts = [
        (
            "includes_secret.c",
            format!("#include \"{}\"\n", secret.display()),
            "Permission denied",
        ),
        (
            "embeds_secret.c",
            format!(
                "__asm__(\".incbin \\\"{}\\\"\");\n{reference}",
                secret.display()
            ),
            "file not found",
        ),
    ];
    for (name, source, reason) in attempts {
        let path = sources.path().join(name);
        std::fs::write(&path, source).unwrap();
        let (summary, doc) = run_gate(&path, None, false);
        let table = entry_lines(&doc);
        assert_eq!(summary.verdict, Verdict::CompileError, "{name}: {table:?}");
        assert!(
            has_reason(&doc, Verdict::CompileError, reason),
            "{name}: {table:?}"
        );
        let document = serde_json::to_string(&doc).unwrap();
        assert!(
            !document.contains(MARKER),
            "{name}: the secret is in the results"
        );
    }
}

/// The fixtures' README describes every fixture: a row names it (`bad/x.c`), or names its C twin with the CUDA
/// one beside it (`bad/x.c`, `.cu`).
#[test]
fn every_fixture_is_described_in_the_readme() {
    let readme = std::fs::read_to_string(fixtures().join("README.md")).unwrap();
    let missing: Vec<String> = ["c", "cpp", "cu"]
        .into_iter()
        .flat_map(fixture_files)
        .filter(|file| {
            let twin = file
                .strip_suffix(".cu")
                .map(|stem| format!("`{stem}.c`, `.cu`"));
            !readme.contains(&format!("`{file}`")) && !twin.is_some_and(|t| readme.contains(&t))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures/submissions/README.md does not describe {missing:?}"
    );
}

#[test]
fn a_submission_that_starts_a_process_is_stopped_at_the_attempt() {
    // `judge_fixture` checks every case's verdict and that its reason names SIGSYS.
    let doc = judge_fixture("bad/leaves_process.c");
    for entry in &doc.entries {
        let reason = entry.reason.as_deref().unwrap_or_default();
        assert!(
            reason.contains("starting a process"),
            "{}: {reason}",
            entry.case.name
        );
    }
}

#[test]
fn a_worker_that_forks_then_exits_leaves_nothing() {
    let doc = judge_fixture("bad/exits_leaving_process.c");
    let summary = doc.gate.expect("the gate's summary is in the document");
    let pids: Vec<u32> = summary
        .outputs
        .iter()
        .flat_map(|o| o.stderr.lines())
        .filter_map(|l| l.strip_prefix("left process ")?.trim().parse().ok())
        .collect();
    assert!(pids.is_empty(), "processes were started: {pids:?}");
}

#[test]
fn no_worker_runs_the_submissions_exit_handlers() {
    // The fixture's destructor would create this file first (the worker's parent is this process, the judge).
    let marker =
        std::path::PathBuf::from(format!("/tmp/judge-forks-at-exit.{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    // Checks that the verdict is pass: every case's scores right, nothing left.
    judge_fixture("bad/forks_at_exit.c");
    assert!(
        !marker.exists(),
        "a worker exited normally and ran the submission's destructor ({} exists)",
        marker.display()
    );
}

#[test]
fn the_good_solution_is_timed_and_checked_on_every_call() {
    let doc = judge_fixture("good/reference.c");
    let summary = doc.gate.expect("the gate's summary is in the document");
    let perf = summary.perf.expect("the timed case ran");
    assert!(perf.findings.is_empty(), "{:?}", perf.findings);
    assert!(perf.samples >= 5);
    let floor = perf.floor.expect("a CPU floor");
    assert!(perf.fastest_s > floor.threshold());
    let timed = doc.entries.last().unwrap();
    assert_eq!(timed.case.name, "perf-small");
    // The errors shown are those of the checked call that came closest to failing.
    let check = timed
        .check
        .as_ref()
        .expect("the timed case shows its errors");
    assert!(check.passed && check.rel_frobenius < 1e-5, "{check:?}");
    assert!(
        timed
            .timing
            .as_ref()
            .is_some_and(|t| t.samples_s.len() == perf.samples)
    );
}

#[test]
fn cuda_fixtures_state_their_verdicts() {
    let files = fixture_files("cu");
    for file in &files {
        let e = expectation(&fixtures().join(file));
        assert_eq!(
            file.starts_with("good/"),
            e.verdict == Verdict::Pass,
            "{file}"
        );
    }
    assert!(files.len() >= 8, "only {} CUDA fixtures", files.len());
}
