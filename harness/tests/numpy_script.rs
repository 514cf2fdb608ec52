//! `tools/numpy_reduced.py`, the NumPy baseline of the cpu bench: its check against the oracle and the
//! `--serve` protocol, through the client the bench's paired comparison uses. They need `python3` with NumPy;
//! without them every test is reported as ignored, with a line that says why (CI installs nothing beyond the Rust
//! toolchain).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::challenge::oracle;
use harness::challenge::suites::{Case, DEFAULT_SEED, Suite};
use harness::io::{CaseFile, write_case};
use libtest_mimic::{Arguments, Failed, Trial};

#[path = "../benches/support/numpy_server.rs"]
mod numpy_server;
use numpy_server::NumpyServer;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/numpy_reduced.py")
}

/// Why the script cannot run here, if it cannot.
fn numpy_missing() -> Option<String> {
    match Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
    {
        Err(e) => Some(format!("python3: {e}")),
        Ok(o) if !o.status.success() => Some("python3 has no NumPy (pip install numpy)".to_owned()),
        Ok(_) => None,
    }
}

/// A small functional case written with its oracle scores, `wrong` added to the first score.
fn case_file(dir: &Path, wrong: f64) -> PathBuf {
    let spec = Suite::Functional
        .specs()
        .into_iter()
        .find(|s| s.name == "public-01")
        .expect("the functional suite has public-01");
    let case: Case = spec
        .build(Some(Suite::Functional), DEFAULT_SEED)
        .expect("public-01 builds");
    let mut scores = oracle::scores(&case.inputs);
    scores[0] += wrong;
    let path = dir.join(format!("public-01-{wrong}.npz"));
    let file = CaseFile {
        name: Some(case.name.clone()),
        inputs: case.inputs.clone(),
        scores: Some(scores),
        ignored: Vec::new(),
    };
    write_case(&path, &file).expect("the case is written");
    path
}

/// Ready with a passing check, then timed calls on request, then a clean exit on an empty line: through the
/// client the bench uses.
fn serves_timed_calls() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let mut server = NumpyServer::start(&script(), &case_file(dir.path(), 0.0))?;
    // The client has refused a ready line whose check failed.
    if server.ready["ready"] != true {
        return Err(format!("ready line {}", server.ready).into());
    }
    let rel = server.ready["rel_frobenius"]
        .as_f64()
        .ok_or("no rel_frobenius")?;
    if rel >= 1e-5 {
        return Err(format!("rel. Frobenius error {rel} against the oracle").into());
    }
    for calls in [2usize, 1] {
        // The client checks the count of times; the times themselves must be real.
        let times = server.time(calls)?;
        if !times.iter().all(|&t| t > 0.0) {
            return Err(format!("asked for {calls} calls, got {times:?}").into());
        }
    }
    server.finish()?;
    Ok(())
}

/// A stored score that is off fails the check, and the client refuses the server for it.
fn reports_a_failed_check() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    match NumpyServer::start(&script(), &case_file(dir.path(), 1.0)) {
        Err(e) if e.contains("fail the check") => Ok(()),
        Err(e) => Err(format!("failed for another reason: {e}").into()),
        Ok(server) => Err(format!("a wrong stored score passed: {}", server.ready).into()),
    }
}

/// A request that is not a positive count ends the server with status 2 and names the line.
fn rejects_a_bad_request() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new("python3")
        .arg(script())
        .arg(case_file(dir.path(), 0.0))
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let written = child
        .stdin
        .take()
        .ok_or("no stdin pipe")
        .map(|mut input| input.write_all(b"1\n0\n"));
    let output = child.wait_with_output()?;
    written??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stdout.lines().count() != 2 {
        return Err(format!("expected the ready line and one answer, got {stdout:?}").into());
    }
    if output.status.code() != Some(2) || !stderr.contains("stdin line 2") {
        return Err(format!("status {}, stderr {stderr:?}", output.status).into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let missing = numpy_missing();
    if let Some(why) = &missing {
        println!("skipped: {why}; the NumPy script tests are reported as ignored");
    }
    let trials = [
        (
            "numpy/serves-timed-calls",
            serves_timed_calls as fn() -> Result<(), Failed>,
        ),
        ("numpy/reports-a-failed-check", reports_a_failed_check),
        ("numpy/rejects-a-bad-request", rejects_a_bad_request),
    ]
    .into_iter()
    .map(|(name, test)| Trial::test(name, test).with_ignored_flag(missing.is_some()))
    .collect();
    libtest_mimic::run(&args, trials).exit();
}
