//! `judge gate`, `judge run --submission` and `judge check` end to end through the binary: exit statuses per
//! verdict, the files written for CI, the seed drawn from the OS, and scores made elsewhere round-tripping
//! through `judge check`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::io::{RawArray, npy, read_case};
use harness::results::ResultsDoc;
use harness::sandbox::WorkerUser;
use harness::verdict::Verdict;
use safetensors::tensor::{Dtype, TensorView};

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/submissions")
        .join(relative)
}

fn judge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(args)
        .output()
        .expect("the judge binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `judge gate` on the worked example only (no perf case), with extra arguments.
fn quick_gate(submission: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "gate",
        "--submission",
        submission.to_str().unwrap(),
        "--suite",
        "example",
        "--no-perf",
        "--quiet",
        "--time-limit",
        "5",
    ];
    args.extend_from_slice(extra);
    judge(&args)
}

#[test]
fn the_gate_writes_junit_markdown_and_json() {
    // Before the judge starts: a judge running as root takes a user of its own, and so does this process (below).
    let ours = WorkerUser::automatic();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (junit, md, json) = (file("junit.xml"), file("summary.md"), file("results.json"));
    let out = quick_gate(
        &fixture("good/reference.c"),
        &[
            "--seed",
            "7",
            "--junit",
            &junit,
            "--markdown",
            &md,
            "--json",
            &json,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testcase classname="example" name="worked-example""#),
        "{xml}"
    );
    assert!(xml.contains(r#"failures="0" errors="0""#), "{xml}");
    let summary = std::fs::read_to_string(&md).unwrap();
    assert!(summary.starts_with("## ✅ judge gate: pass"), "{summary}");
    assert!(summary.contains("--seed 7"), "{summary}");
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    // A judge running as root starts its workers as a user of its own: this test's process took one before it
    // started the judge (and holds it while it runs), so the judge, which ran beside it, must have taken another.
    let workers_line = summary
        .lines()
        .find(|l| l.starts_with("| workers ran as | "))
        .unwrap_or_else(|| panic!("no workers line in {summary}"));
    match ours {
        (WorkerUser::Switch { uid: ours, .. }, None) if root => {
            let theirs: u32 = workers_line
                .trim_start_matches("| workers ran as | user ")
                .split(',')
                .next()
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(|| panic!("{workers_line}"));
            assert!(
                harness::sandbox::users::RANGE.contains(&theirs),
                "{workers_line}"
            );
            assert_ne!(theirs, ours, "{workers_line}");
            assert_eq!(
                workers_line,
                format!("| workers ran as | user {theirs}, group {theirs} |")
            );
        }
        (WorkerUser::Switch { uid, gid }, _) => assert_eq!(
            workers_line,
            format!("| workers ran as | user {uid}, group {gid} |")
        ),
        (WorkerUser::Judge, _) => {
            // SAFETY: as above.
            let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
            assert_eq!(
                workers_line,
                format!("| workers ran as | user {uid}, group {gid} |")
            );
        }
    }
    // Where the kernel has Landlock, the workers' and the compiler's writes were confined by it.
    // (`tests/landlock.rs` checks what `confinement` says against the kernel.)
    let confined = harness::sandbox::landlock::confinement();
    assert!(
        summary.contains(&format!("| writes confined by | {confined} |")),
        "{summary}"
    );
    let doc = ResultsDoc::read(Path::new(&json)).unwrap();
    let gate = doc.gate.expect("the gate's summary");
    assert_eq!(
        (gate.verdict, gate.seed, gate.exit_status),
        (Verdict::Pass, 7, 0)
    );
    assert_eq!(doc.entries.len(), 1);
    assert_eq!(
        gate.workers_ran_as
            .map(|ids| format!("| workers ran as | user {}, group {} |", ids.uid, ids.gid))
            .as_deref(),
        Some(workers_line)
    );
    assert_eq!(gate.writes_confined_by, Some(confined));
}

#[test]
fn non_finite_outputs_show_no_error_figures_in_the_ci_files() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("nan.c");
    std::fs::write(
        &source,
        "#include <math.h>\n\
         void solve(const float* Q, const unsigned char* K_idx, const signed char* qjl_signs,\n\
                    const float* gamma, const float* Pi, const float* S_mat, const float* codebook,\n\
                    float* scores, int B, int S, int D, int C) {\n\
             for (long i = 0; i < (long)B * S; i++) scores[i] = NAN;\n\
         }\n",
    )
    .unwrap();
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (junit, md) = (file("junit.xml"), file("summary.md"));
    let out = quick_gate(&source, &["--junit", &junit, "--markdown", &md]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // The worked example is 2×3: six NaN scores, and no error figure that reads as exact.
    let summary = std::fs::read_to_string(&md).unwrap();
    let row = summary
        .lines()
        .find(|l| l.starts_with("| worked-example |"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(row.contains("| n/a (6 non-finite) |"), "{row}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("max abs err n/a (6 non-finite), max rel err n/a, rel frobenius n/a"),
        "{xml}"
    );
    assert!(!xml.contains("max abs err 0"), "{xml}");
}

#[test]
fn exit_statuses_follow_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let cases = [
        ("bad/unwritten_tail.c", 1, "never written"),
        ("bad/compile_error.c", 3, "compiler output"),
        ("bad/crash_segfault.c", 4, "SIGSEGV"),
        ("bad/huge_alloc.c", 4, "memory-limit"),
    ];
    for (submission, code, says) in cases {
        let out = quick_gate(
            &fixture(submission),
            &["--junit", junit.to_str().unwrap(), "--memory-limit", "256"],
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "{submission}: {}",
            text(&out)
        );
        assert!(text(&out).contains(says), "{submission}: {}", text(&out));
        let xml = std::fs::read_to_string(&junit).unwrap();
        let tag = if code == 1 { "<failure" } else { "<error" };
        assert!(xml.contains(tag), "{submission}: {xml}");
    }
}

#[test]
fn usage_errors_exit_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libsolve.so");
    std::fs::write(&lib, b"").unwrap();
    let out = judge(&["gate", "--submission", lib.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--backend"), "{}", text(&out));

    let reference = fixture("good/reference.c");
    let missing = dir.path().join("missing.json");
    let out = judge(&[
        "gate",
        "--submission",
        reference.to_str().unwrap(),
        "--baseline",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("missing.json"), "{}", text(&out));

    let out = judge(&["gate", "--submission", "solution.py"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// A `judge run --json` document times the perf case once (a first call): it is refused as a baseline, the error
/// naming the file and the entry, before anything is built.
#[test]
fn a_correctness_run_is_no_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run.json");
    let out = judge(&[
        "run",
        "--solution",
        "cpu-tiled",
        "--suite",
        "perf",
        "--quiet",
        "--json",
        run.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let reference = fixture("good/reference.c");
    let out = judge(&[
        "gate",
        "--submission",
        reference.to_str().unwrap(),
        "--baseline",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("run.json"), "{said}");
    assert!(
        said.contains("entry 1 ('cpu-tiled' on perf, check): a correctness run's entry"),
        "{said}"
    );
    assert!(!said.contains("verdict:"), "nothing ran: {said}");
}

/// A submission whose file name is not UTF-8 gets its results document like any other, the name's bytes that
/// are not UTF-8 written as U+FFFD: the document had not been written at all (exit 7).
#[test]
fn a_file_name_that_is_not_utf8_still_gets_its_results() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let submission = dir.path().join(std::ffi::OsStr::from_bytes(b"mine-\xff.c"));
    std::fs::copy(fixture("good/reference.c"), &submission).unwrap();
    let json = dir.path().join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_judge"))
        .args([
            "gate",
            "--suite",
            "example",
            "--no-perf",
            "--quiet",
            "--seed",
            "1",
        ])
        .arg("--submission")
        .arg(&submission)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = ResultsDoc::read(&json).unwrap();
    let gate = doc.gate.expect("the gate's summary");
    assert_eq!(gate.name, "mine-\u{fffd}.c");
    assert_eq!(gate.submission, dir.path().join("mine-\u{fffd}.c"));
}

/// A baseline measured on another machine is compared with, and every place that shows the comparison says so:
/// a warning on stderr, the too-slow reason, the Markdown summary.
#[test]
fn a_baseline_from_another_machine_is_named_as_such() {
    use harness::challenge::suites::CaseSource;
    use harness::results::{CaseInfo, Clock, Entry, Meta, Mode, Timing};
    let dir = tempfile::tempdir().unwrap();
    let mut doc = ResultsDoc::new(Meta::now(1, harness::challenge::DEFAULT_TOLERANCE));
    doc.meta.host.cpu = "A faster CPU".to_owned();
    doc.entries.push(Entry {
        solution: "main".to_owned(),
        backend: solutions::Backend::Cpu,
        case: CaseInfo {
            name: "perf".to_owned(),
            shape: solutions::Shape::PERF,
            source: CaseSource::File {
                path: "perf.npz".into(),
            },
        },
        mode: Mode::Warm,
        verdict: Verdict::Pass,
        reason: None,
        check: None,
        // Far below anything the reference takes here: too slow.
        timing: Timing::from_samples(Clock::Wall, vec![1e-5; 10]),
        derived: None,
        errors: None,
    });
    let baseline = dir.path().join("main.json");
    doc.write(&baseline).unwrap();
    let md = dir.path().join("gate.md");
    let out = judge(&[
        "gate",
        "--submission",
        fixture("good/reference.c").to_str().unwrap(),
        "--suite",
        "example",
        "--time-budget",
        "500ms",
        "--baseline",
        baseline.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("warning: the baseline") && said.contains("was measured on another machine"),
        "{said}"
    );
    let summary = std::fs::read_to_string(&md).unwrap();
    assert!(
        summary.contains("measured on another machine (CPU 'A faster CPU' vs"),
        "{summary}"
    );
    let perf = summary
        .lines()
        .find(|l| l.starts_with("| perf |"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(perf.contains("**too-slow**"), "{perf}");
}

/// When the judge itself fails part way (here its program is deleted while a case runs, so the next worker cannot
/// start), it still writes what it measured and prints the seed it drew, with the line that reproduces the run.
#[test]
fn a_judge_that_fails_part_way_keeps_its_results_and_prints_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("judge");
    std::fs::copy(env!("CARGO_BIN_EXE_judge"), &program).unwrap();
    let source = dir.path().join("sleepy.c");
    std::fs::write(
        &source,
        "#include <unistd.h>\n\
         void solve(const float* Q, const unsigned char* K_idx, const signed char* qjl_signs,\n\
                    const float* gamma, const float* Pi, const float* S_mat, const float* codebook,\n\
                    float* scores, int B, int S, int D, int C) {\n\
             sleep(3);\n\
         }\n",
    )
    .unwrap();
    let json = dir.path().join("results.json");
    let child = Command::new(&program)
        .args(["gate", "--suite", "example", "--quiet", "--submission"])
        .arg(&source)
        .arg("--json")
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::fs::remove_file(&program).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("could not start the worker"), "{said}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("(drawn from the OS); reproduce with: judge gate"))
        .unwrap_or_else(|| panic!("no seed line in {said}"));
    let seed: u64 = line
        .trim_start_matches("seed ")
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(line.ends_with(&format!("--seed {seed}")), "{line}");
    let doc = ResultsDoc::read(&json).unwrap();
    assert_eq!(doc.meta.seed, seed);
    assert!(doc.gate.is_none(), "no verdict was reached");
    assert!(
        doc.entries.len() <= 1
            && doc
                .entries
                .iter()
                .all(|e| e.case.name == "worked-example" && e.verdict == Verdict::WrongAnswer),
        "{:?}",
        doc.entries
    );
}

#[test]
fn a_prebuilt_library_runs_with_backend_cpu_and_cuda_sources_need_a_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libreference.so");
    let built = Command::new("cc")
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(fixture("good/reference.c"))
        .status()
        .unwrap();
    assert!(built.success());
    let out = judge(&[
        "gate",
        "--submission",
        lib.to_str().unwrap(),
        "--backend",
        "cpu",
        "--suite",
        "example",
        "--no-perf",
        "--seed",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("--backend cpu --suite example --no-perf --seed 1"),
        "the reproduce line repeats the options, the backend among them: {}",
        text(&out)
    );

    let out = quick_gate(&fixture("good/reference.cu"), &[]);
    let gpu = harness::submission::nvcc::device_arch().is_ok()
        && harness::submission::nvcc::resolve(std::env::var_os("NVCC").as_ref()).is_some();
    if gpu {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    } else {
        assert_eq!(out.status.code(), Some(6), "{}", text(&out));
        assert!(text(&out).contains("skipped"), "{}", text(&out));
        assert!(text(&out).contains("CUDA"), "{}", text(&out));
    }
}

#[test]
fn without_a_seed_the_gate_draws_one_and_prints_it() {
    let seed = |out: &Output| {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = stdout
            .lines()
            .find(|l| l.contains("drawn from the OS"))
            .unwrap_or_else(|| panic!("no seed line in {stdout}"))
            .to_owned();
        assert!(line.contains("--seed"), "{line}");
        line
    };
    let first = quick_gate(&fixture("good/reference.c"), &[]);
    let second = quick_gate(&fixture("good/reference.c"), &[]);
    assert_ne!(seed(&first), seed(&second));
}

#[test]
fn run_takes_submissions_beside_built_in_variants() {
    let good = fixture("good/reference.c");
    let crash = fixture("bad/crash_segfault.c");
    let out = judge(&[
        "run",
        "--solution",
        "cpu-naive",
        "--submission",
        good.to_str().unwrap(),
        "--submission",
        crash.to_str().unwrap(),
        "--suite",
        "example",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"))
            .to_owned()
    };
    assert!(row("cpu-naive").contains("pass"));
    assert!(row("reference.c").contains("pass"));
    assert!(row("crash_segfault.c").contains("runtime-error"));
    assert!(row("crash_segfault.c").contains("SIGSEGV"));
}

fn write_safetensors(path: &Path, dtype: Dtype, dims: Vec<usize>, bytes: &[u8]) {
    let view = TensorView::new(dtype, dims, bytes).unwrap();
    std::fs::write(
        path,
        safetensors::serialize([("scores", view)], None).unwrap(),
    )
    .unwrap();
}

#[test]
fn check_round_trips_scores_made_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let case = at("case.safetensors");
    let out = judge(&[
        "case",
        "export",
        "--suite",
        "functional",
        "--name",
        "public-05",
        "--out",
        case.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let check = |output: &Path| {
        judge(&[
            "check",
            "--case",
            case.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ])
    };

    // The case file itself holds the oracle's scores (as f32).
    let out = check(&case);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("pass"), "{}", text(&out));
    // The scores were timed elsewhere, if at all: the table has no time column.
    assert!(text(&out).contains("rel frob"), "{}", text(&out));
    assert!(!text(&out).contains("1-call time"), "{}", text(&out));

    let file = read_case(&case).unwrap();
    let shape = file.inputs.shape();
    let dims = vec![shape.b, shape.s];
    let scores: Vec<f64> = file.scores.unwrap();
    let as_f32: Vec<f32> = scores.iter().map(|&s| s as f32).collect();

    let npy_path = at("scores.npy");
    std::fs::write(
        &npy_path,
        npy::encode(&RawArray::f32(dims.clone(), &as_f32)),
    )
    .unwrap();
    let out = check(&npy_path);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let f64_path = at("scores64.safetensors");
    let bytes: Vec<u8> = scores.iter().flat_map(|s| s.to_le_bytes()).collect();
    write_safetensors(&f64_path, Dtype::F64, dims.clone(), &bytes);
    assert_eq!(check(&f64_path).status.code(), Some(0));

    let mut wrong = as_f32.clone();
    wrong[5] += 0.1;
    std::fs::write(&npy_path, npy::encode(&RawArray::f32(dims.clone(), &wrong))).unwrap();
    let out = check(&npy_path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("1 element(s) outside"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("scores[0, 5]"), "{}", text(&out));

    // bfloat16 keeps 8 bits of mantissa: about 4e-3 relative error, over the tolerance.
    let bf16_path = at("scores_bf16.safetensors");
    let bytes: Vec<u8> = as_f32
        .iter()
        .flat_map(|s| ((s.to_bits() + 0x8000) >> 16).to_le_bytes()[..2].to_vec())
        .collect();
    write_safetensors(&bf16_path, Dtype::BF16, dims.clone(), &bytes);
    let out = check(&bf16_path);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    let transposed = at("transposed.npy");
    std::fs::write(
        &transposed,
        npy::encode(&RawArray::f32(vec![shape.s, shape.b], &as_f32)),
    )
    .unwrap();
    let out = check(&transposed);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("dimensions"), "{}", text(&out));
}

/// What a submission controls (its stderr, its compiler's messages, its file name) is shown, not obeyed: no
/// control character reaches the terminal, and no markup the Markdown summary, whatever the submission prints.
/// Written to fake a passing verdict in a CI log: a carriage return, erase-line and cursor-up sequences, a
/// window title, then `verdict: pass`; named to break out of the summary's code spans into an image and a link.
#[test]
fn what_a_submission_prints_is_shown_not_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("x`<img src=x>[l](http:e)|.c");
    std::fs::write(
        &source,
        r#"#include <stdio.h>
#warning "\x1b[2J compiler text \x1b]0;title\x07"
void solve(const float* Q, const unsigned char* K_idx, const signed char* qjl_signs, const float* gamma,
           const float* Pi, const float* S_mat, const float* codebook, float* scores,
           int B, int S, int D, int C) {
    for (int i = 0; i < B * S; i++) scores[i] = 0.0f;
    fprintf(stderr, "\r\x1b[2K\x1b[12A\x1b[Jverdict: pass (exit status 0)\x1b]0;pwned\x07\n");
}
"#,
    )
    .unwrap();
    let markdown = dir.path().join("summary.md");
    let run = judge(&[
        "run",
        "--submission",
        source.to_str().unwrap(),
        "--suite",
        "example",
    ]);
    let gate = quick_gate(&source, &["--markdown", markdown.to_str().unwrap()]);
    for out in [&run, &gate] {
        assert_eq!(out.status.code(), Some(1), "{}", text(out));
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                !stream.iter().any(|&b| b == 0x1b || b == b'\r' || b == 0x07),
                "{}",
                text(out)
            );
        }
    }
    // The worker's stderr, as `run` shows it under its table: every control character written out.
    let shown = text(&run);
    assert!(
        shown.contains(r"\r\x1b[2K\x1b[12A\x1b[Jverdict: pass"),
        "{shown}"
    );
    // The name shows in code spans (fenced by two backticks, as it holds one), where Markdown takes it as text;
    // outside them nothing makes an image or a link.
    let md = std::fs::read_to_string(&markdown).unwrap();
    assert!(!md.contains('\u{1b}') && md.contains(r"\x1b[12A"), "{md}");
    assert!(md.contains("``x`<img src=x>[l](http:e)\\|.c``"), "{md}");
    let outside: String = md.split("``").step_by(2).collect();
    assert!(
        !outside.contains("<img") && !outside.contains("](http"),
        "{outside}"
    );
}
