//! `tools/numpy_reduced.py`, the NumPy baseline of the cpu bench: its check against the oracle and the
//! `--serve` protocol the bench's paired comparison speaks. They need `python3` with NumPy; without them every
//! test is reported as ignored, with a line that says why (CI installs nothing beyond the Rust toolchain).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

use harness::challenge::oracle;
use harness::challenge::suites::{Case, DEFAULT_SEED, Suite};
use harness::io::{CaseFile, write_case};
use libtest_mimic::{Arguments, Failed, Trial};

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

/// `numpy_reduced.py --serve` on a case; stopped when dropped.
struct Server {
    child: Child,
    out: BufReader<ChildStdout>,
    input: Option<ChildStdin>,
}

impl Server {
    fn start(path: &Path) -> Self {
        let mut child = Command::new("python3")
            .arg(script())
            .arg(path)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let out = BufReader::new(child.stdout.take().expect("piped"));
        let input = child.stdin.take();
        Self { child, out, input }
    }

    fn send(&mut self, line: &str) -> Result<(), Failed> {
        let input = self.input.as_mut().ok_or("input already closed")?;
        writeln!(input, "{line}")?;
        Ok(())
    }

    fn json_line(&mut self) -> Result<serde_json::Value, Failed> {
        let mut line = String::new();
        self.out.read_line(&mut line)?;
        serde_json::from_str(&line).map_err(|e| format!("not a JSON line: {line:?}: {e}").into())
    }

    /// Closes the input, waits, and returns the exit status and what the server wrote on stderr.
    fn finish(&mut self) -> Result<(ExitStatus, String), Failed> {
        drop(self.input.take());
        let status = self.child.wait()?;
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut stderr)?;
        }
        Ok((status, stderr))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // After `finish` this does nothing; after a failed check it stops the server.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ready with a passing check, then timed calls on request, then a clean exit on an empty line.
fn serves_timed_calls() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let mut server = Server::start(&case_file(dir.path(), 0.0));
    let ready = server.json_line()?;
    if ready["ready"] != true || ready["passed"] != true {
        return Err(format!("ready line {ready}").into());
    }
    let rel = ready["rel_frobenius"].as_f64().ok_or("no rel_frobenius")?;
    if rel >= 1e-5 {
        return Err(format!("rel. Frobenius error {rel} against the oracle").into());
    }
    for calls in [2usize, 1] {
        server.send(&calls.to_string())?;
        let answer = server.json_line()?;
        let times = answer["times"].as_array().ok_or("no times")?;
        if times.len() != calls || !times.iter().all(|t| t.as_f64().is_some_and(|t| t > 0.0)) {
            return Err(format!("asked for {calls} calls, got {answer}").into());
        }
    }
    server.send("")?;
    let (status, stderr) = server.finish()?;
    if !status.success() {
        return Err(format!("exit {status} after an empty line: {stderr}").into());
    }
    Ok(())
}

/// A stored score that is off fails the check, and the ready line says so.
fn reports_a_failed_check() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let mut server = Server::start(&case_file(dir.path(), 1.0));
    let ready = server.json_line()?;
    if ready["passed"] != false {
        return Err(format!("a wrong stored score passed: {ready}").into());
    }
    Ok(())
}

/// A request that is not a positive count ends the server with status 2 and names the line.
fn rejects_a_bad_request() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let mut server = Server::start(&case_file(dir.path(), 0.0));
    server.json_line()?;
    server.send("1")?;
    server.json_line()?;
    server.send("0")?;
    let (status, stderr) = server.finish()?;
    if status.code() != Some(2) || !stderr.contains("stdin line 2") {
        return Err(format!("status {status}, stderr {stderr:?}").into());
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
