//! A client of `tools/numpy_reduced.py --serve`: the cpu bench's paired comparison drives NumPy through it, and
//! `tests/numpy_script.rs` tests it (both include this file by path).

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// `tools/numpy_reduced.py --serve`, running; stopped when dropped.
pub struct NumpyServer {
    child: Child,
    input: ChildStdin,
    output: Lines<BufReader<ChildStdout>>,
    /// The server's ready line: `rel_frobenius`, `max_abs_err`, `passed`, `numpy`, `blas`.
    pub ready: serde_json::Value,
}

impl NumpyServer {
    /// Starts `script` on the case at `path` and waits for its ready line; fails unless its scores pass the check
    /// against the oracle scores stored in the case. The server's stderr is this process's.
    pub fn start(script: &Path, path: &Path) -> Result<Self, String> {
        let mut child = Command::new("python3")
            .arg(script)
            .arg(path)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("python3: {e}"))?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("python3: no pipes to the server".to_owned());
        };
        let mut server = Self {
            child,
            input,
            output: BufReader::new(output).lines(),
            ready: serde_json::Value::Null,
        };
        server.ready = server.answer()?;
        check_passed(&server.ready)?;
        Ok(server)
    }

    /// The next JSON line from the server.
    fn answer(&mut self) -> Result<serde_json::Value, String> {
        let line = self
            .output
            .next()
            .ok_or("the NumPy server ended early (its error is above)")?
            .map_err(|e| format!("reading from the NumPy server: {e}"))?;
        serde_json::from_str(&line).map_err(|e| format!("the NumPy server said {line:?}: {e}"))
    }

    /// Seconds of each of `calls` NumPy calls, made now.
    pub fn time(&mut self, calls: usize) -> Result<Vec<f64>, String> {
        writeln!(self.input, "{calls}").map_err(|e| format!("writing to the NumPy server: {e}"))?;
        let answer = self.answer()?;
        let times: Option<Vec<f64>> = answer["times"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect());
        match times {
            Some(t) if t.len() == calls => Ok(t),
            _ => Err(format!(
                "the NumPy server answered {answer} to a request for {calls} calls"
            )),
        }
    }

    /// Ends the server (an empty line) and checks that it exits cleanly.
    pub fn finish(mut self) -> Result<(), String> {
        writeln!(self.input).map_err(|e| format!("writing to the NumPy server: {e}"))?;
        let status = self
            .child
            .wait()
            .map_err(|e| format!("waiting for the NumPy server: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the NumPy server exited with {status}"))
        }
    }
}

/// Whether the script's output (its `--json` object or its ready line) says that its scores passed the check
/// against the oracle scores stored in the case.
pub fn check_passed(output: &serde_json::Value) -> Result<(), String> {
    if output["passed"] == serde_json::Value::Bool(true) {
        Ok(())
    } else {
        Err(format!(
            "the NumPy scores fail the check against the oracle (rel. Frobenius {})",
            output["rel_frobenius"]
        ))
    }
}

impl Drop for NumpyServer {
    fn drop(&mut self) {
        // After `finish` the child has exited and this does nothing; on an early error it stops the server.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
