//! The `judge` binary end to end: exit statuses, tables, results documents and case files, as a user sees them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::results::ResultsDoc;
use harness::verdict::Verdict;

fn judge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(args)
        .output()
        .expect("the judge binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_on_the_example_passes_and_writes_a_results_document() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = judge(&[
        "run",
        "--solution",
        "cpu-naive",
        "--suite",
        "example",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("worked-example") && stdout.contains("pass"),
        "{stdout}"
    );
    assert!(stdout.contains("1 check: 1 pass"), "{stdout}");
    assert!(stdout.contains("1-call time"), "{stdout}");
    // A variant named twice is run once.
    let twice = judge(&[
        "run",
        "--solution",
        "cpu-naive",
        "--solution",
        "cpu-naive",
        "--suite",
        "example",
    ]);
    assert!(
        text(&twice.stdout).contains("1 check: 1 pass"),
        "{}",
        text(&twice.stdout)
    );
    let doc = ResultsDoc::read(&json).unwrap();
    assert_eq!(doc.entries.len(), 1);
    assert_eq!(doc.entries[0].verdict, Verdict::Pass);
    assert_eq!(doc.entries[0].check.as_ref().unwrap().max_abs_err, 0.0);
    assert!(doc.meta.argv.iter().any(|a| a == "--json"));
}

#[test]
fn a_wrong_solution_exits_1_and_says_why() {
    let out = judge(&[
        "run",
        "--solution",
        "bad-signed-indices",
        "--suite",
        "functional",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("edge-c256-high-idx") && stdout.contains("wrong-answer"),
        "{stdout}"
    );
    assert!(stdout.contains("outside atol=1e-3 rtol=1e-3"), "{stdout}");
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let out = judge(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("choose what to run: --all, --solution NAME"));

    let out = judge(&["run", "--solution", "nope", "--suite", "example"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown solution 'nope'; known: cpu-naive"));
    assert!(
        stderr.contains("known-bad, for testing the judge: bad-drops-qjl")
            && stderr.contains("bad-last-output-unwritten"),
        "{stderr}"
    );

    let out = judge(&["run", "--all", "--rtol", "-1"]);
    assert_eq!(out.status.code(), Some(2));

    let out = judge(&["run", "--all", "--case", "/nonexistent/case.npz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/case.npz"));
}

#[test]
fn exported_cases_run_and_describe_themselves() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["npz", "safetensors"] {
        let path = dir.path().join(format!("c.{ext}"));
        let p = path.to_str().unwrap();
        let out = judge(&[
            "case",
            "export",
            "--suite",
            "functional",
            "--name",
            "public-05",
            "--out",
            p,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let out = judge(&["run", "--all", "--case", p, "--quiet"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let table = text(&out.stdout);
        assert!(
            table.contains(" 2 pass") && !table.contains("wrong-answer"),
            "{table}"
        );
        // Both formats keep the case's name (npz in its archive comment), not the file's stem.
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("cpu-naive ") && l.contains(" public-05 ")),
            "{table}"
        );
        let out = judge(&["case", "info", p]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            text(&out.stdout).contains("valid case 'public-05', B=8 S=64 D=64 C=16"),
            "{}",
            text(&out.stdout)
        );
        assert!(text(&out.stdout).contains("within atol=1e-3"));
    }
}

/// The worked example exported as `dir/wrong.json`, with `off(i)` added to its `i`-th stored score: its path,
/// the case as written, and the right scores.
fn example_with_scores_off(
    dir: &Path,
    off: impl Fn(usize) -> f64,
) -> (PathBuf, serde_json::Value, Vec<f32>) {
    let path = dir.join("wrong.json");
    let out = judge(&[
        "case",
        "export",
        "--suite",
        "example",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let scores = case["scores"].as_array_mut().unwrap();
    let right = scores.iter().map(|s| s.as_f64().unwrap() as f32).collect();
    for (i, score) in scores.iter_mut().enumerate() {
        *score = (score.as_f64().unwrap() + off(i)).into();
    }
    std::fs::write(&path, case.to_string()).unwrap();
    (path, case, right)
}

#[test]
fn case_info_rejects_stored_scores_that_disagree_with_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = example_with_scores_off(dir.path(), |_| 1.0);
    let p = path.to_str().unwrap();

    let out = judge(&["case", "info", p]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "{p}: case 'worked-example', B=2 S=3 D=2 C=4: valid inputs, but its stored scores disagree with the \
             oracle"
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("valid case"), "{stdout}");
    assert!(
        text(&out.stderr).contains(&format!(
            "{p}: the stored scores disagree with the oracle: 6 element(s) outside atol=1e-3 rtol=1e-3"
        )),
        "{}",
        text(&out.stderr)
    );
}

/// `judge run --case` and `judge check --case` refuse what `judge case info` refuses: a case file whose stored
/// scores disagree with the oracle (they had judged against the oracle and said nothing of the file's own).
#[test]
fn run_and_check_refuse_a_case_whose_stored_scores_disagree_with_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    // Every score off by 1, and scores[1, 1] (0.25) by 2: the worst difference.
    let (path, mut case, right) =
        example_with_scores_off(dir.path(), |i| if i == 4 { 2.0 } else { 1.0 });
    let p = path.to_str().unwrap();
    let scores = dir.path().join("scores.npy");
    std::fs::write(
        &scores,
        harness::io::npy::encode(&harness::io::RawArray::f32(vec![2, 3], &right)),
    )
    .unwrap();

    let reason = format!(
        "{p}: the stored scores disagree with the oracle: 6 element(s) outside atol=1e-3 rtol=1e-3; first at \
         (b=0, s=0): got 0.25, expected -0.750000; the worst at (b=1, s=1): got 2.25, expected 0.250000"
    );
    for args in [
        vec!["run", "--solution", "cpu-naive", "--case", p],
        vec!["check", "--case", p, "--output", scores.to_str().unwrap()],
        vec!["case", "info", p],
    ] {
        let out = judge(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stdout)
        );
        assert!(
            text(&out.stderr).contains(&reason),
            "{args:?}: {}",
            text(&out.stderr)
        );
        if args[0] != "case" {
            assert!(
                !text(&out.stdout).contains("pass"),
                "{args:?}: {}",
                text(&out.stdout)
            );
        }
    }
    // Without its stored scores, the same inputs run and check.
    case.as_object_mut().unwrap().remove("scores");
    std::fs::write(&path, case.to_string()).unwrap();
    for args in [
        vec!["run", "--solution", "cpu-naive", "--case", p],
        vec!["check", "--case", p, "--output", scores.to_str().unwrap()],
    ] {
        let out = judge(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn exporting_a_suite_writes_one_file_per_case() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = judge(&[
        "case", "export", "--suite", "example", "--out", d, "--format", "npz",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("worked-example.npz").is_file());

    let many = dir.path().join("functional");
    let out = judge(&[
        "case",
        "export",
        "--suite",
        "functional",
        "--out",
        many.to_str().unwrap(),
        "--no-scores",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&many).unwrap().count(), 20);
    assert!(many.join("edge-d256.safetensors").is_file());

    let out = judge(&[
        "case",
        "export",
        "--suite",
        "functional",
        "--out",
        "all.npz",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("give --out a directory"));
    let bad = judge(&[
        "case",
        "export",
        "--suite",
        "functional",
        "--name",
        "nope",
        "--out",
        "x.npz",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("has no case 'nope'"));
}

#[test]
fn list_shows_variants_and_the_known_bad_ones_apart() {
    let out = judge(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("cpu-naive")
            && stdout.contains("functional")
            && stdout.contains("turboquant")
    );
    // The known-bad variants stand in a section of their own, after the real ones, each with its mistake.
    let section = stdout
        .find("known-bad variants, for testing the judge: each must fail")
        .unwrap_or_else(|| panic!("no known-bad section: {stdout}"));
    assert!(stdout[..section].contains("cpu-naive"), "{stdout}");
    assert!(!stdout[..section].contains("bad-"), "{stdout}");
    for (name, mistake) in [
        ("bad-drops-qjl", "omits the QJL correction term"),
        ("bad-sqrt-d-coefficient", "sqrt(pi/2)/sqrt(D)"),
        ("bad-pi-transposed", "Pi transposed"),
        ("bad-signed-indices", "signed bytes"),
        ("bad-last-output-unwritten", "never writes"),
    ] {
        let line = stdout[section..]
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not listed: {stdout}"));
        assert!(line.contains(mistake), "{line}");
    }
    // A variant that cannot run here points to a note below the table that names it and says why.
    assert_notes_resolve(&stdout, "unavailable");
}

/// Every table row of `stdout` that contains `marker` (not a note, not the count of checks, which starts with a
/// number: `84 checks: …`, `1 check: …`) refers to a note,
/// `(n)`, and that note stands below the table, naming the row's first cell and giving a reason. A row that gives
/// its reason inline, with no reference, fails.
fn assert_notes_resolve(stdout: &str, marker: &str) {
    let rows = stdout.lines().filter(|l| {
        let counted = l
            .split_whitespace()
            .next()
            .is_some_and(|w| w.parse::<usize>().is_ok());
        l.contains(marker) && !l.starts_with('(') && !counted
    });
    for line in rows {
        let n = line
            .split('(')
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .filter(|n| n.parse::<usize>().is_ok())
            .unwrap_or_else(|| panic!("a {marker} row refers to no note: {line}\n{stdout}"));
        let name = line.split_whitespace().next().unwrap();
        let note = stdout
            .lines()
            .find(|l| l.starts_with(&format!("({n}) ")))
            .unwrap_or_else(|| panic!("no note ({n}):\n{stdout}"));
        let (names, reason) = note.split_once(": ").unwrap();
        assert!(
            names.split([' ', ',']).any(|w| w == name) && !reason.is_empty(),
            "{note}"
        );
    }
}

#[test]
fn a_skipped_variants_reason_is_given_once_below_the_run_table() {
    let out = judge(&["run", "--all", "--suite", "example", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_notes_resolve(&stdout, "skipped");
    // However many cases a variant skips, its reason stands once: in its note, on no row.
    for note in stdout.lines().filter(|l| l.starts_with('(')) {
        let (_, reason) = note.split_once(": ").unwrap();
        assert_eq!(stdout.matches(reason).count(), 1, "{stdout}");
    }
}

#[test]
fn help_documents_exit_statuses() {
    let out = judge(&["run", "--help"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Exit statuses") && stdout.contains("1  a solution gave a wrong answer"),
        "{stdout}"
    );
}

#[test]
fn quality_shows_the_qjl_correction_removing_the_shrinkage() {
    let out = judge(&["quality", "--s", "512", "--d", "64", "--levels", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let slope = |label: &str| -> f64 {
        let line = stdout.lines().find(|l| l.contains(label)).unwrap();
        line.split_whitespace()
            .nth(if label == "MSE only" { 4 } else { 5 })
            .unwrap()
            .parse()
            .unwrap()
    };
    // One-bit MSE quantization shrinks inner products by about 2/π; QJL restores the scale.
    assert!(
        (slope("MSE only") - 2.0 / std::f64::consts::PI).abs() < 0.05,
        "{stdout}"
    );
    assert!((slope("MSE + QJL") - 1.0).abs() < 0.05, "{stdout}");

    let out = judge(&["quality", "--generator", "uniform", "--levels", "4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not keep the true keys"));
}

/// `--json /dev/stdout` gives stdout to the document: redirected to a file (`> out.json`) or piped (`| jq`),
/// stdout holds the document alone, and the table and the closing lines go to stderr. Before, the table was
/// written through stdout after the document (so `| jq` failed on it), or over the start of the file.
#[test]
fn a_document_on_stdout_is_all_that_stdout_carries() {
    let args = [
        "run",
        "--solution",
        "cpu-naive",
        "--suite",
        "example",
        "--json",
        "/dev/stdout",
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.json");
    let redirected = Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(args)
        .stdout(std::fs::File::create(&file).unwrap())
        .output()
        .unwrap();
    let piped = judge(&args);
    for (how, out, stdout) in [
        ("> out.json", &redirected, std::fs::read(&file).unwrap()),
        ("| reader", &piped, piped.stdout.clone()),
    ] {
        assert_eq!(out.status.code(), Some(0), "{how}: {}", text(&out.stderr));
        let copy = dir.path().join("stdout.json");
        std::fs::write(&copy, &stdout).unwrap();
        let doc = ResultsDoc::read(&copy).unwrap_or_else(|e| {
            panic!(
                "{how}: stdout is not the document alone ({e}): {}",
                text(&stdout)
            )
        });
        assert_eq!(doc.entries.len(), 1, "{how}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("1 check: 1 pass") && stderr.contains("worked-example"),
            "{how}: the table belongs on stderr: {stderr}"
        );
    }
}
