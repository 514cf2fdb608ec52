//! The `judge` binary given what a user gets wrong: outputs that name inputs, limits out of range, negative
//! numbers, invalid case files, missing compilers, unwritable outputs, a closed stdout, documents that cannot
//! be compared. Each must end in a clear message and the documented exit status, never a panic or lost work.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::io::{RawArray, npy};
use harness::results::ResultsDoc;
use harness::sandbox::WorkerUser;

/// A command that runs the judge in a scratch folder under the build's own temporary folder, so that nothing a command
/// writes by default (a bench's `reports/bench-….json`, when a refusal under test regresses) lands in the tree.
fn judge_command(args: &[&str]) -> Command {
    let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_misuse");
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    let mut command = Command::new(env!("CARGO_BIN_EXE_judge"));
    command.args(args).current_dir(scratch);
    command
}

fn judge(args: &[&str]) -> Output {
    judge_command(args).output().expect("the judge binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that `out` ended with `status` and that its output contains `needle`.
fn expect(out: &Output, status: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(status), "{}", text(out));
    assert!(
        text(out).contains(needle),
        "no {needle:?} in: {}",
        text(out)
    );
}

fn good_c() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/submissions/good/reference.c")
}

fn worked_example_case() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cases/worked-example.json")
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Writes `dir/name`, a C submission whose `solve` (with `<stdio.h>` and `<stdlib.h>`) runs `body`; returns its
/// path.
fn write_solve(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let source = format!(
        "#include <stdio.h>\n#include <stdlib.h>\n\
         void solve(const float* Q, const unsigned char* K_idx, const signed char* qjl_signs, const float* gamma,\n\
         const float* Pi, const float* S_mat, const float* codebook, float* scores,\n\
         int B, int S, int D, int C) {{\n    {body}\n}}\n"
    );
    std::fs::write(&path, source).unwrap();
    path
}

/// Copies `from` into `dir` and returns the copy's path.
fn copy_into(dir: &Path, from: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    to
}

#[test]
fn an_output_that_names_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let case = copy_into(dir.path(), &worked_example_case(), "same.json");
    let source = copy_into(dir.path(), &good_c(), "victim.c");
    let case_bytes = std::fs::read(&case).unwrap();
    let source_bytes = std::fs::read(&source).unwrap();
    // The same file under another spelling, and through a hard link.
    let dotted = dir.path().join(".").join("victim.c");
    let linked = dir.path().join("linked.c");
    std::fs::hard_link(&source, &linked).unwrap();
    let results = dir.path().join("results.md");
    std::fs::write(&results, "{}").unwrap();
    let to_be_made = dir.path().join("new").join("..");
    let runs: Vec<(Vec<&str>, String)> = vec![
        (
            vec![
                "run",
                "--solution",
                "cpu-naive",
                "--case",
                s(&case),
                "--json",
                s(&case),
            ],
            format!("--json names an input file: {}", case.display()),
        ),
        (
            vec!["run", "--submission", s(&source), "--json", s(&dotted)],
            "--json names an input file".to_owned(),
        ),
        (
            vec![
                "gate",
                "--submission",
                s(&source),
                "--no-perf",
                "--suite",
                "example",
                "--json",
                s(&source),
            ],
            "--json names an input file".to_owned(),
        ),
        (
            vec![
                "gate",
                "--submission",
                s(&source),
                "--no-perf",
                "--suite",
                "example",
                "--junit",
                s(&linked),
            ],
            "--junit names an input file".to_owned(),
        ),
        (
            vec![
                "gate",
                "--submission",
                s(&source),
                "--no-perf",
                "--suite",
                "example",
                "--junit",
                "g.out",
                "--markdown",
                "./g.out",
            ],
            "--junit and --markdown name the same file".to_owned(),
        ),
        (
            vec!["report", s(&results), "--out", s(dir.path())],
            "--out names an input file".to_owned(),
        ),
        // Through a directory still to be made: `new/../` is the input's directory once `new` exists.
        (
            vec!["report", s(&results), "--out", s(&to_be_made)],
            "--out names an input file".to_owned(),
        ),
        // A file where the report's directory would go (the input itself, here).
        (
            vec!["report", s(&results), "--out", s(&results)],
            "it is a file, and a report is a directory of files".to_owned(),
        ),
    ];
    for (args, message) in runs {
        let out = judge(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", text(&out));
        assert!(text(&out).contains(&message), "{args:?}\n{}", text(&out));
    }
    assert_eq!(std::fs::read(&case).unwrap(), case_bytes);
    assert_eq!(std::fs::read(&source).unwrap(), source_bytes);
    assert_eq!(std::fs::read_to_string(&results).unwrap(), "{}");
}

#[test]
fn limits_out_of_range_are_refused_before_anything_runs() {
    let source = good_c();
    for (option, value, message) in [
        (
            "--time-limit",
            "1e20",
            "out of range: use 0.001 to 604800 seconds",
        ),
        ("--time-limit", "1.8e19", "out of range"),
        ("--time-limit", "1e-12", "out of range"),
        ("--compile-time-limit", "1e20", "out of range"),
        ("--memory-limit", "1", "use at least 16 MiB"),
        ("--compile-memory-limit", "255", "use at least 256 MiB"),
        ("--compile-memory-limit", "-1", "not a whole number of MiB"),
    ] {
        let out = judge(&[
            "run",
            "--submission",
            s(&source),
            "--suite",
            "example",
            option,
            value,
        ]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{option} {value}\n{}",
            text(&out)
        );
        assert!(
            text(&out).contains(message),
            "{option} {value}\n{}",
            text(&out)
        );
    }
    let out = judge(&["gate", "--submission", s(&source), "--time-budget", "1e20"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("out of range"), "{}", text(&out));
}

/// Results name a submission by its file name: two of the same name would read as one (and, built into one
/// directory, the second's library once replaced the first's, so both were judged as the second).
#[test]
fn two_submissions_of_one_file_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let first = copy_into(&dir.path().join("a"), &good_c(), "x.c");
    let second = copy_into(&dir.path().join("b"), &good_c(), "x.c");
    let out = judge(&[
        "run",
        "--submission",
        s(&first),
        "--submission",
        s(&second),
        "--suite",
        "example",
    ]);
    expect(&out, 2, "have the same file name");
    assert!(text(&out).contains(s(&first)) && text(&out).contains(s(&second)));
    // Nothing was built or run.
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

#[test]
fn negative_numbers_get_the_options_own_message() {
    for (option, message) in [
        (
            "--atol",
            "invalid value '-1' for '--atol <ATOL>': -1 must be finite and ≥ 0",
        ),
        ("--seed", "invalid value '-1' for '--seed <SEED>'"),
    ] {
        let out = judge(&["run", "--all", option, "-1"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(message), "{}", text(&out));
    }
}

#[test]
fn a_closed_stdout_ends_printing_quietly_and_keeps_the_results_file() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    for args in [
        vec!["list"],
        vec![
            "run",
            "--solution",
            "cpu-naive",
            "--suite",
            "example",
            "--json",
            s(&json),
        ],
    ] {
        let mut child = judge_command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Nobody reads stdout: its first write meets a closed pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{}", text(&out));
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    }
    assert_eq!(ResultsDoc::read(&json).unwrap().entries.len(), 1);
}

#[test]
fn a_results_file_lost_mid_run_is_reported_after_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("dd");
    std::fs::create_dir(&sub).unwrap();
    let json = sub.join("out.json");
    let child = judge_command(&[
        "run",
        "--solution",
        "cpu-naive",
        "--suite",
        "functional",
        "--suite",
        "perf",
        "--json",
        s(&json),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Once the first entry is in the file (the perf case, last, takes a while yet), the directory goes.
    let deadline = Instant::now() + Duration::from_secs(120);
    while ResultsDoc::read(&json).map_or(true, |d| d.entries.is_empty()) {
        assert!(Instant::now() < deadline, "no entry was written");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Moved away in one step (removing it could race with the judge's next write into it).
    std::fs::rename(&sub, dir.path().join("gone")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("21 checks: 21 pass"), "{all}");
    assert!(
        all.contains("could not write") && all.contains("out.json"),
        "{all}"
    );
    assert!(!all.contains("results written to"), "{all}");
}

#[test]
fn the_gate_checks_every_output_before_it_builds() {
    for option in ["--junit", "--markdown", "--json"] {
        let out = judge(&[
            "gate",
            "--submission",
            s(&good_c()),
            "--suite",
            "example",
            "--no-perf",
            option,
            "/nonexistent/dir/gate.out",
        ]);
        assert_eq!(out.status.code(), Some(7), "{option}\n{}", text(&out));
        let all = text(&out);
        assert!(
            all.contains("could not write /nonexistent/dir/gate.out"),
            "{all}"
        );
        // Nothing was built or run.
        assert!(!all.contains("[1/1]") && !all.contains("verdict:"), "{all}");
    }
}

#[test]
fn a_bad_case_file_is_reported_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.npz");
    std::fs::write(&bad, b"not a zip").unwrap();
    let out = judge(&[
        "run",
        "--solution",
        "cpu-naive",
        "--suite",
        "functional",
        "--case",
        s(&bad),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("bad.npz"), "{all}");
    assert!(!all.contains("[1/"), "a case ran first:\n{all}");
}

#[test]
fn a_compiler_that_cannot_run_is_status_6_and_cc_must_be_one_program() {
    let source = good_c();
    let args = ["run", "--submission", s(&source), "--suite", "example"];
    let out = judge_command(&args)
        .env("CC", "/nonexistent/cc")
        .output()
        .unwrap();
    expect(&out, 6, "could not run the compiler '/nonexistent/cc'");
    let out = judge_command(&args).env("CC", "cc -Wall").output().unwrap();
    expect(&out, 2, "$CC is 'cc -Wall': it must name one program");
    // An empty `CC=` counts as unset, as it does for `make`: the default compiler builds the submission.
    let out = judge_command(&args).env("CC", "").output().unwrap();
    expect(&out, 0, "1 pass");
}

/// A CI job's secrets are in the judge's environment; submitted code sees only the variables that configure the
/// machine's libraries, and those named with `--pass-env`. The submission prints what it sees to its stderr,
/// whose end the judge shows under a failure.
#[test]
fn submitted_code_sees_none_of_the_judges_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_solve(
        dir.path(),
        "prints_env.c",
        r#"const char* token = getenv("JUDGE_TEST_SECRET");
    const char* threads = getenv("OMP_NUM_THREADS");
    fprintf(stderr, "token=%s threads=%s\n", token ? token : "(none)", threads ? threads : "(none)");
    abort();"#,
    );
    let args = ["run", "--submission", s(&source), "--suite", "example"];
    let run = |extra: &[&str]| {
        judge_command(&[&args[..], extra].concat())
            .env("JUDGE_TEST_SECRET", "hunter2")
            .env("OMP_NUM_THREADS", "3")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    expect(&out, 4, "token=(none) threads=3");
    assert!(!text(&out).contains("hunter2"), "{}", text(&out));
    let out = run(&["--pass-env", "JUDGE_TEST_SECRET"]);
    expect(&out, 4, "token=hunter2 threads=3");
    let out = run(&["--pass-env", "JUDGE-TEST"]);
    expect(&out, 2, "is not a variable name");
}

#[test]
fn a_failing_submission_shows_the_end_of_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let source = write_solve(
        dir.path(),
        "debugprint.c",
        r#"for (int i = 0; i < 30; i++) fprintf(stderr, "noise %d\n", i);
    fprintf(stderr, "DEBUG: unsupported D=%d\n", D);
    abort();"#,
    );
    let out = judge(&[
        "run",
        "--submission",
        s(&source),
        "--suite",
        "example",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "stderr of debugprint.c on worked-example (runtime-error; last 20 of 31 lines):"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("  | DEBUG: unsupported D=2"), "{stdout}");
    assert!(!stdout.contains("noise 10\n"), "not bounded:\n{stdout}");
}

#[test]
fn compare_refuses_documents_with_nothing_in_common_or_negative_medians() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    for (solution, path) in [("cpu-naive", &a), ("cpu-tiled", &b)] {
        let out = judge(&[
            "run",
            "--solution",
            solution,
            "--suite",
            "example",
            "--quiet",
            "--json",
            s(path),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let out = judge(&["compare", s(&a), s(&b)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("share no entry"), "{}", text(&out));

    let mut doc = ResultsDoc::read(&a).unwrap();
    if let Some(t) = &mut doc.entries[0].timing {
        t.summary.median = -1.0;
    }
    let negative = dir.path().join("negative.json");
    doc.write(&negative).unwrap();
    let out = judge(&["compare", s(&a), s(&negative)]);
    expect(
        &out,
        2,
        "entry 1 (cpu-naive on worked-example, check): median time -1 s",
    );
}

#[test]
fn compare_does_not_judge_one_timed_call_per_entry() {
    // `judge run --json` times each entry once: zero-width intervals, which never overlap.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    for path in [&a, &b] {
        let out = judge(&[
            "run",
            "--solution",
            "cpu-naive",
            "--suite",
            "example",
            "--quiet",
            "--json",
            s(path),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let out = judge(&["compare", s(&a), s(&b)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = stdout
        .lines()
        .find(|l| l.starts_with("cpu-naive"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.ends_with("not judged (under 6 samples)"), "{row}");
    assert!(
        !stdout.contains("faster,")
            && !stdout.contains("slower,")
            && !row.ends_with("faster")
            && !row.ends_with("slower"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 not judged (under 6 samples)"),
        "{stdout}"
    );
}

#[test]
fn non_finite_outputs_show_no_error_figures() {
    let dir = tempfile::tempdir().unwrap();
    let scores = dir.path().join("nan.npy");
    std::fs::write(
        &scores,
        npy::encode(&RawArray::f32(vec![2, 3], &[f32::NAN; 6])),
    )
    .unwrap();
    let out = judge(&[
        "check",
        "--case",
        s(&worked_example_case()),
        "--output",
        s(&scores),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout
        .lines()
        .find(|l| l.contains("wrong-answer"))
        .unwrap_or_default();
    assert!(row.contains("n/a (6 non-finite)"), "{stdout}");
    assert!(!row.contains(" 0 "), "{stdout}");
}

#[test]
fn check_reads_a_fortran_order_output() {
    // The worked example's stored scores, saved the way NumPy saves a transposed array: [B, S] in Fortran order
    // (columns contiguous), header written by hand.
    let case = harness::io::read_case(&worked_example_case()).unwrap();
    let scores = case.scores.expect("the worked example stores its scores");
    let (b, s_len) = (case.inputs.shape().b, case.inputs.shape().s);
    let mut data = Vec::new();
    for j in 0..s_len {
        for i in 0..b {
            data.extend_from_slice(&(scores[i * s_len + j] as f32).to_le_bytes());
        }
    }
    let header = format!("{{'descr': '<f4', 'fortran_order': True, 'shape': ({b}, {s_len}), }}");
    let padded = format!("{header:<117}\n");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    bytes.extend_from_slice(padded.as_bytes());
    bytes.extend_from_slice(&data);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sF.npy");
    std::fs::write(&path, bytes).unwrap();
    let out = judge(&[
        "check",
        "--case",
        s(&worked_example_case()),
        "--output",
        s(&path),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("Fortran"), "{}", text(&out));
}

#[test]
fn an_unwritable_bench_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "").unwrap();
    let json = file.join("sub").join("b.json");
    let out = judge(&["bench", "--solution", "cpu-naive", "--json", s(&json)]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("could not write {}", json.display())),
        "{}",
        text(&out)
    );
}

#[test]
fn help_lists_only_the_statuses_a_command_can_end_with() {
    let out = judge(&["help", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Exit statuses:\n  0  the scores passed"),
        "{stdout}"
    );
    assert!(!stdout.contains("  7  "), "{stdout}");
    let out = judge(&["help", "compare"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Exit statuses:") && stdout.contains("  2  "),
        "{stdout}"
    );
}

#[test]
fn require_gpu_counts_cuda_submissions_and_says_why_they_cannot_run() {
    let out = judge(&["run", "--solution", "cpu-naive", "--require-gpu"]);
    expect(
        &out,
        6,
        "--require-gpu: no CUDA variant or CUDA submission is selected",
    );

    if harness::submission::nvcc::device_arch().is_ok() {
        // A device is here: the submission would be built and run, which `tests/gpu_submissions.rs` covers.
        eprintln!(
            "skipped: a CUDA device is present, so --require-gpu with a CUDA submission is not refused here \
             (the first half of this test ran)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cu = dir.path().join("mine.cu");
    // Never compiled: the check comes before any build.
    std::fs::write(&cu, "this is not CUDA").unwrap();
    let out = judge(&["run", "--submission", s(&cu), "--require-gpu", "--quiet"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains("no CUDA variant"), "{all}");
    assert!(
        all.contains(&format!(
            "--require-gpu: {}: cannot run here: no CUDA device (",
            cu.display()
        )),
        "{all}"
    );
}

#[test]
fn quiet_still_shows_the_whole_compiler_output() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.c");
    std::fs::write(
        &bad,
        "int first = undeclared_first;\nint second = undeclared_second;\n",
    )
    .unwrap();
    let out = judge(&["run", "--submission", s(&bad), "--suite", "example", "-q"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Both errors, not only the first line the table holds.
    assert!(
        stderr.contains("undeclared_first") && stderr.contains("undeclared_second"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_worker_user_is_a_number_and_needs_root_to_switch_to() {
    let good = good_c();
    for (value, needle) in [
        ("abc", "'abc' is not a user id"),
        ("1:x", "'x' is not a group id"),
        ("4294967295", "from 0 to 4294967294"),
    ] {
        let out = judge(&["run", "--submission", s(&good), "--worker-user", value]);
        expect(&out, 2, needle);
    }
    let out = judge(&[
        "run",
        "--submission",
        s(&good),
        "--suite",
        "functional",
        "--worker-user",
        "4242:4243",
    ]);
    // A judge running as root whose namespace has the ids runs its workers as them; any other is refused before
    // anything runs, with the reason (a judge not running as root: "only a judge running as root …").
    match (WorkerUser::Switch {
        uid: 4242,
        gid: 4243,
    })
    .check()
    {
        Ok(()) => expect(&out, 0, "pass"),
        Err(why) => expect(&out, 2, &why),
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        expect(
            &out,
            2,
            "only a judge running as root can start workers as another user",
        );
    }
}

/// A duration with a unit and a sign (`-1s`) looks like an option to a command-line parser; it must reach the
/// option's own check and be refused with the option named, not read as an unknown flag `-1`.
#[test]
fn negative_durations_name_their_option() {
    for (args, option) in [
        (vec!["bench", "--budget", "-1s"], "--budget"),
        (vec!["bench", "--warmup", "-200ms"], "--warmup"),
        (
            vec!["gate", "--submission", "a.c", "--time-budget", "-2s"],
            "--time-budget",
        ),
    ] {
        let out = judge(&args);
        let value = args[args.len() - 1];
        expect(&out, 2, &format!("invalid value '{value}' for '{option}"));
        assert!(text(&out).contains("negative"), "{}", text(&out));
    }
    let out = judge(&["bench", "--budget", "1e30s"]);
    expect(&out, 2, "invalid value '1e30s' for '--budget");
    assert!(text(&out).contains("out of range"), "{}", text(&out));
}

/// `--max-slowdown` is a ratio against a baseline, at least 1: 0 would call every submission too slow, and
/// without `--baseline` it would judge nothing, silently.
#[test]
fn max_slowdown_is_at_least_one_and_needs_a_baseline() {
    let source = good_c();
    for value in ["0", "0.5", "inf"] {
        let out = judge(&[
            "gate",
            "--submission",
            s(&source),
            "--baseline",
            "b.json",
            "--max-slowdown",
            value,
        ]);
        expect(
            &out,
            2,
            &format!("invalid value '{value}' for '--max-slowdown"),
        );
        assert!(text(&out).contains("≥ 1"), "{}", text(&out));
    }
    let out = judge(&["gate", "--submission", s(&source), "--max-slowdown", "1.2"]);
    expect(&out, 2, "--baseline");
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

/// More samples asked for at least than at most is a contradiction, refused before anything is measured;
/// `--min-samples` alone above the default maximum raises it.
#[test]
fn min_samples_above_max_samples_is_refused() {
    let out = judge(&[
        "bench",
        "--solution",
        "cpu-naive",
        "--min-samples",
        "100",
        "--max-samples",
        "10",
    ]);
    expect(&out, 2, "--min-samples 100");
    assert!(text(&out).contains("--max-samples 10"), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

/// `--max-samples` alone below the default minimum lowers it, as `--min-samples` alone above the default maximum
/// raises that: `--max-samples 3` was refused as "--min-samples 10 is more than --max-samples 3", naming an option
/// that was never given.
#[test]
fn max_samples_alone_below_the_default_minimum_lowers_it() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("few.json");
    let out = judge(&[
        "bench",
        "--solution",
        "cpu-naive",
        "--axis",
        "B=2",
        "--axis",
        "S=16",
        "--axis",
        "D=8",
        "--warmup",
        "0s",
        "--max-samples",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = harness::results::ResultsDoc::read(&json).unwrap();
    let bench = doc.meta.bench.as_ref().unwrap();
    assert_eq!((bench.min_samples, bench.max_samples), (3, 3));
    let timing = doc.entries[0].timing.as_ref().unwrap();
    assert_eq!(timing.samples_s.len(), 3);
}

/// Without --json or --report, each bench writes a results file of its own under reports/: two benches in the
/// same minute once wrote the same file, the second replacing the first's results.
#[test]
fn benches_in_the_same_minute_keep_both_results() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "--solution",
        "cpu-naive",
        "--preset",
        "functional",
        "--axis",
        "B=1",
        "--axis",
        "S=4",
        "--axis",
        "D=4",
        "--axis",
        "C=4",
        "--budget",
        "0",
        "--warmup",
        "0",
    ];
    for _ in 0..2 {
        let out = judge_command(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        expect(&out, 0, "results written to reports/bench-");
    }
    let files: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
}

/// A suite, a case file or a codebook size named twice is run once: twice, it was checked twice, and the
/// results document held two entries of one solution, case and mode, which `judge compare` cannot tell apart.
#[test]
fn a_suite_case_or_level_named_twice_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let case = copy_into(dir.path(), &worked_example_case(), "w.json");
    let again = dir.path().join(".").join("w.json");
    let out = judge(&[
        "run",
        "--solution",
        "cpu-naive",
        "--suite",
        "example",
        "--suite",
        "example",
        "--case",
        s(&case),
        "--case",
        s(&again),
        "--json",
        s(&json),
        "-q",
    ]);
    expect(&out, 0, "2 checks: 2 pass");
    let doc = ResultsDoc::read(&json).unwrap();
    assert_eq!(doc.entries.len(), 2, "{}", text(&out));
    let out = judge(&["quality", "--s", "64", "--levels", "4,4,2"]);
    expect(&out, 0, "MSE only");
    let rows = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("MSE only"))
        .count();
    assert_eq!(rows, 2, "{}", text(&out));
}

/// An output that cannot be written is refused before anything is built or run, naming its option, the path
/// and why: a directory given for a file, a directory that does not exist.
#[test]
fn an_unwritable_output_names_its_option_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let source = copy_into(dir.path(), &good_c(), "good.c");
    let folder = dir.path().to_str().unwrap().to_owned();
    let missing = dir.path().join("no").join("r.json");
    let missing = s(&missing).to_owned();
    for (args, option, path) in [
        (
            vec!["run", "--submission", s(&source), "--json", &folder],
            "--json",
            &folder,
        ),
        (
            vec!["run", "--submission", s(&source), "--json", &missing],
            "--json",
            &missing,
        ),
        (
            vec!["gate", "--submission", s(&source), "--junit", &folder],
            "--junit",
            &folder,
        ),
        (vec!["quality", "--json", &folder], "--json", &folder),
        (
            vec!["bench", "--solution", "cpu-naive", "--json", &folder],
            "--json",
            &folder,
        ),
    ] {
        let out = judge(&args);
        expect(&out, 7, &format!("{option}: could not write {path}: "));
        // Refused first: nothing built (no compiler line), run or printed.
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out));
        assert!(
            !text(&out).contains("building") && !text(&out).contains("[1/"),
            "{args:?}: {}",
            text(&out)
        );
    }
}

/// `judge quality`'s shape options out of range are named: the message once named a case `C=2` and the
/// dimension's letter, not the option that set it.
#[test]
fn quality_names_the_option_out_of_range() {
    for (option, value, rule) in [
        ("--b", "0", "1 ≤ B ≤ 32"),
        ("--s", "70000", "1 ≤ S ≤ 65536"),
        ("--d", "257", "1 ≤ D ≤ 256"),
        ("--levels", "2,300", "2 ≤ C ≤ 256"),
    ] {
        let out = judge(&["quality", option, value]);
        expect(&out, 2, &format!("error: {option}: "));
        assert!(text(&out).contains(rule), "{}", text(&out));
        assert!(out.stdout.is_empty(), "{}", text(&out));
    }
}

/// What `judge quality`'s generator cannot do is refused naming the option, before anything is generated: D = 1
/// for turboquant's sphere codebook (once named a case `C=2`), and a generator that keeps no true keys (the
/// worked example once answered that it has a fixed shape; uniform generated a whole case first).
#[test]
fn quality_names_what_its_generator_cannot_do() {
    for (args, needle) in [
        (
            vec!["quality", "--d", "1"],
            "error: --d: generator turboquant: the sphere-coordinate codebook needs D ≥ 2",
        ),
        (
            vec!["quality", "--generator", "worked-example"],
            "error: --generator: generator worked-example does not keep the true keys",
        ),
        (
            vec![
                "quality",
                "--generator",
                "uniform",
                "--b",
                "32",
                "--s",
                "65536",
                "--d",
                "256",
                "--levels",
                "256",
            ],
            "error: --generator: generator uniform does not keep the true keys",
        ),
    ] {
        let started = Instant::now();
        let out = judge(&args);
        expect(&out, 2, needle);
        assert!(!text(&out).contains("C=2"), "{}", text(&out));
        assert!(out.stdout.is_empty(), "{}", text(&out));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
}

/// A seed that is not a whole number from 0 to 2^64 − 1 is refused saying what a seed is, not with the
/// integer parser's 'invalid digit found in string'.
#[test]
fn a_bad_seed_says_what_a_seed_is() {
    for args in [
        vec!["run", "--all", "--seed", "-5"],
        vec!["bench", "--seed", "99999999999999999999999"],
        vec!["gate", "--submission", "a.c", "--seed", "1.5"],
        vec![
            "case", "export", "--suite", "example", "--out", "x.json", "--seed", "x",
        ],
        vec!["quality", "--seed", "-1"],
    ] {
        let out = judge(&args);
        let value = args[args.len() - 1];
        expect(
            &out,
            2,
            &format!("invalid value '{value}' for '--seed <SEED>'"),
        );
        assert!(
            text(&out).contains("a whole number from 0 to 18446744073709551615"),
            "{}",
            text(&out)
        );
    }
}

/// Rayon's threads that cannot be started (here every thread's stack is 1 PB, as `RUST_MIN_STACK` asks, so not one
/// starts, as with a `RAYON_NUM_THREADS` beyond what the machine gives) end each command that computes with a
/// message naming the setting and status 6, instead of rayon's panic (status 101); `judge list` needs no threads.
#[test]
fn threads_that_cannot_start_are_an_error_naming_the_setting() {
    let case = worked_example_case();
    for args in [
        vec!["run", "--solution", "cpu-tiled", "--suite", "example"],
        vec!["case", "info", s(&case)],
        vec!["quality", "--seed", "1"],
    ] {
        let out = judge_command(&args)
            .env("RUST_MIN_STACK", "1000000000000000")
            .env("RAYON_NUM_THREADS", "3")
            .output()
            .expect("the judge binary runs");
        expect(
            &out,
            6,
            "rayon's thread pool (RAYON_NUM_THREADS=3) could not be started",
        );
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    }
    let out = judge_command(&["list"])
        .env("RUST_MIN_STACK", "1000000000000000")
        .output()
        .expect("the judge binary runs");
    expect(&out, 0, "cpu-tiled");
}
