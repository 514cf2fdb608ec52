//! What the submission tests share: where the fixtures are, the verdict a fixture's header says it must get,
//! and the reduced case list the gate runs them on.

use std::path::{Path, PathBuf};

use harness::challenge::suites::Suite;
use harness::commands::run::CaseRef;
use harness::gate::baseline::BaselineSpec;
use harness::results::ResultsDoc;
use harness::verdict::Verdict;

/// `fixtures/submissions/`: see [`in_checkout`].
pub fn fixtures() -> PathBuf {
    in_checkout("fixtures/submissions")
}

/// `path` (relative to the repository's root) beside the sources the tests were built from, else under the
/// working directory (a test binary copied to another machine and run from a checkout's root).
pub fn in_checkout(path: &str) -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    if built.exists() {
        built
    } else {
        PathBuf::from(path)
    }
}

/// The `judge` binary the workers run: the one Cargo built for these tests, else the `judge` in the folder
/// above the test binary's (`target/release/` when the tests run from `target/release/deps/`), so test binaries
/// copied to another machine together with `judge` still find it.
pub fn judge_binary() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_judge"));
    if built.is_file() {
        return built;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("judge")))
        .filter(|p| p.is_file())
        .unwrap_or(built)
}

/// What a fixture's header says it must get.
#[derive(Debug)]
pub struct Expectation {
    /// `// expect: VERDICT`.
    pub verdict: Verdict,
    /// `// expect-reason: TEXT`: text the reason of a case with that verdict contains.
    pub reason: Option<String>,
    /// `// expect-baseline: OTHER`: the fixture whose results are the baseline.
    pub baseline: Option<PathBuf>,
    /// `// expect-time-near: OTHER`: the fixture whose perf median this one's must come near (the same work
    /// timed another way).
    #[allow(dead_code)] // read by one test target, not the other
    pub time_near: Option<PathBuf>,
    /// `// expect-time-at-least: N ms`: the least its perf median and its fastest call may be (work it does that
    /// the timer must see).
    #[allow(dead_code)] // read by one test target, not the other
    pub time_at_least_s: Option<f64>,
    /// `// expect-timed: no`: the fixture is judged without the timed case (its behaviour under test is not
    /// about time, and one more timed gate on a loaded 2-core machine only adds noise to the suite's others).
    #[allow(dead_code)] // read by one test target, not the other
    pub timed: bool,
}

/// Reads the header of the fixture at `path`; panics on a missing or unknown verdict.
pub fn expectation(path: &Path) -> Expectation {
    let text = std::fs::read_to_string(path).unwrap();
    let field = |key: &str| {
        text.lines()
            .take_while(|l| l.starts_with("//"))
            .find_map(|l| {
                l.strip_prefix("//")?
                    .trim()
                    .strip_prefix(key)?
                    .strip_prefix(':')
            })
            .map(|v| v.trim().to_owned())
    };
    let verdict =
        field("expect").unwrap_or_else(|| panic!("{}: no `// expect:` line", path.display()));
    Expectation {
        verdict: Verdict::from_name(&verdict)
            .unwrap_or_else(|| panic!("{}: unknown verdict '{verdict}'", path.display())),
        reason: field("expect-reason"),
        baseline: field("expect-baseline").map(|p| path.parent().unwrap().join(p)),
        time_near: field("expect-time-near").map(|p| path.parent().unwrap().join(p)),
        time_at_least_s: field("expect-time-at-least").map(|v| {
            let ms = v
                .strip_suffix("ms")
                .map(str::trim)
                .and_then(|n| n.parse::<f64>().ok());
            ms.unwrap_or_else(|| {
                panic!(
                    "{}: expect-time-at-least '{v}' is not 'N ms'",
                    path.display()
                )
            }) * 1e-3
        }),
        timed: field("expect-timed").is_none_or(|v| v != "no"),
    }
}

/// The fixture files of `ext` in `good/` and `bad/`, as `dir/name`, sorted.
#[allow(dead_code)] // used by one test target, not the other
pub fn fixture_files(ext: &str) -> Vec<String> {
    let mut found = Vec::new();
    for dir in ["good", "bad"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == ext) {
                found.push(format!(
                    "{dir}/{}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    found.sort();
    found
}

/// The reduced functional case list: S = 1 (public-01), S not a multiple of 4 or 8 (public-07), D not a power
/// of two, C = 256 with indices ≥ 128.
pub fn reduced_functional() -> Vec<CaseRef> {
    Suite::Functional
        .specs()
        .into_iter()
        .filter(|s| {
            [
                "public-01",
                "public-03",
                "public-06",
                "public-07",
                "edge-c256-high-idx",
            ]
            .contains(&s.name)
        })
        .map(|s| CaseRef::Spec(Suite::Functional, s))
        .collect()
}

/// One line per entry of `doc`: `case: verdict (reason)`.
pub fn entry_lines(doc: &ResultsDoc) -> Vec<String> {
    doc.entries
        .iter()
        .map(|e| {
            format!(
                "{}: {} ({})",
                e.case.name,
                e.verdict,
                e.reason.as_deref().unwrap_or("")
            )
        })
        .collect()
}

/// Whether an entry of `doc` with `verdict` gives a reason that contains `reason`.
pub fn has_reason(doc: &ResultsDoc, verdict: Verdict, reason: &str) -> bool {
    doc.entries
        .iter()
        .filter(|e| e.verdict == verdict)
        .filter_map(|e| e.reason.as_deref())
        .any(|r| r.contains(reason))
}

/// `doc` written to a file that outlives the test, as the baseline of another gate (at most 10% slower).
pub fn kept_baseline(doc: &ResultsDoc) -> Result<BaselineSpec, String> {
    let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    doc.write(file.path()).map_err(|e| e.to_string())?;
    let (_, path) = file.keep().map_err(|e| e.to_string())?;
    Ok(BaselineSpec {
        path,
        solution: None,
        max_slowdown: 1.10,
    })
}
