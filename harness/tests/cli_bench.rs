//! `judge bench`, `judge report` and `judge compare` as a user runs them: exit statuses, the files written,
//! and what the commands print.

use std::process::Command;

fn judge(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the judge binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bench_then_report_then_compare() {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("report");
    let report = report_dir.to_str().unwrap();
    let (code, stdout, stderr) = judge(&[
        "bench",
        "--axis",
        "S=64,128",
        "--axis",
        "B=2",
        "--axis",
        "D=8",
        "--budget",
        "100ms",
        "--warmup",
        "0s",
        "--input-sets",
        "2",
        "--solution",
        "cpu-naive",
        "--solution",
        "bad-drops-qjl",
        "--report",
        report,
    ]);
    // A wrong answer among the variants: exit status 1, like `judge run`.
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("b2-s64-d8-c16") && stdout.contains("wrong-answer"));
    assert!(
        stdout.contains("4 measurements: 2 pass, 2 wrong-answer"),
        "{stdout}"
    );
    // Where stderr is not a terminal (a CI log), progress is one plain line per finished measurement: no live
    // display, no escape sequences or carriage returns.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "one line per measurement: {stderr}");
    for solution in ["cpu-naive", "bad-drops-qjl"] {
        assert_eq!(
            lines.iter().filter(|l| l.starts_with(solution)).count(),
            2,
            "{stderr}"
        );
    }
    assert!(
        !stderr.contains(['\x1b', '\r']),
        "plain lines when stderr is not a terminal: {stderr:?}"
    );
    let json = report_dir.join("results.json");
    for file in [
        "results.json",
        "index.html",
        "results.md",
        "time-per-variant.png",
    ] {
        assert!(report_dir.join(file).is_file(), "{file} missing");
    }
    // Every file was written through a temporary one and a rename: none of those is left.
    let left: Vec<_> = std::fs::read_dir(&report_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let again = dir.path().join("again");
    let (code, stdout, _) = judge(&[
        "report",
        json.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("index.html"));
    assert_eq!(
        std::fs::read(report_dir.join("results.md")).unwrap(),
        std::fs::read(again.join("results.md")).unwrap(),
        "a re-rendered report is the same"
    );

    let (code, stdout, _) = judge(&["compare", json.to_str().unwrap(), json.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("2 no change, 2 not timed"), "{stdout}");
    assert!(stdout.contains("×1.000 (the same)"));
}

#[test]
fn usage_errors_are_reported_as_such() {
    let (code, _, stderr) = judge(&["bench", "--axis", "S=0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("S"), "{stderr}");
    // A swept dimension out of range names the axis that set it.
    let (code, _, stderr) = judge(&["bench", "--axis", "D=64,512", "--axis", "S=1024"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--axis D=64,512: D = 512 is out of range"),
        "{stderr}"
    );
    let (code, _, stderr) = judge(&["bench", "--solution", "no-such-variant"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown solution"));
    let (code, _, stderr) = judge(&["report", "/nonexistent/results.json"]);
    assert_eq!(code, 2, "{stderr}");
}

/// Under an address-space limit smaller than the read-bandwidth buffer (`ulimit -v`), the bench measures the
/// bandwidth over the largest part of the buffer it can allocate and says so, instead of aborting on the
/// allocation ("memory allocation of 268435456 bytes failed") before measuring anything.
#[cfg(target_os = "linux")]
#[test]
fn a_memory_limit_below_the_bandwidth_buffer_is_measured_within() {
    use std::os::unix::process::CommandExt;

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("limited.json");
    let limit: libc::rlim_t = 240 << 20;
    let mut command = Command::new(env!("CARGO_BIN_EXE_judge"));
    command
        .args(["bench", "--axis", "S=64", "--axis", "B=2", "--axis", "D=8"])
        .args([
            "--budget",
            "50ms",
            "--warmup",
            "0s",
            "--solution",
            "cpu-naive",
        ])
        .arg("--json")
        .arg(&json)
        .env("NO_COLOR", "1")
        .env("RAYON_NUM_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "1");
    // SAFETY: setrlimit is async-signal-safe, and nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &rlimit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = command.output().expect("the judge binary runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("GB/s read over ") && stdout.contains("256 MiB could not be allocated"),
        "{stdout}"
    );
    let doc = harness::results::ResultsDoc::read(&json).unwrap();
    let cpu = doc.meta.cpu_peak.expect("the ceilings are recorded");
    assert!(cpu.read_gbps.is_finite() && cpu.read_gbps > 0.0, "{cpu:?}");
}
