//! Running a compiler under a wall-clock limit: its own process group (so `cc1`, `as` and `ld` die with it),
//! stdout and stderr captured together, killed when the limit passes.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

/// Most compiler output kept, in bytes (the start of it: the first errors are the ones that matter).
pub const LOG_KEPT: usize = 64 * 1024;

/// One compiler invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The program (`cc`, `c++`, `nvcc`).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The directory to run it in (the source's, so messages name files as the author knows them).
    pub dir: Option<std::path::PathBuf>,
}

impl Invocation {
    /// The command line as one shell-like string, for messages.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How a compiler run ended.
#[derive(Debug)]
pub enum Finished {
    /// It exited; `success` says whether with status 0.
    Exited {
        /// Exit status 0.
        success: bool,
        /// The status in words (`exit status 1`, `signal 9`).
        status: String,
        /// Its stdout and stderr, interleaved as they came.
        log: String,
        /// How long it ran, in seconds.
        seconds: f64,
    },
    /// It ran past the limit and was killed.
    TimedOut {
        /// Its output so far.
        log: String,
        /// The limit, in seconds.
        limit_s: f64,
    },
}

/// Runs `invocation` with a wall-clock `limit`. An error means the compiler could not be started at all.
pub fn run(invocation: &Invocation, limit: Duration) -> std::io::Result<Finished> {
    let started = Instant::now();
    let mut command = Command::new(&invocation.program);
    if let Some(dir) = &invocation.dir {
        command.current_dir(dir);
    }
    command
        .args(&invocation.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = crate::sandbox::children::spawn(&mut command)?;
    let (tx, rx) = channel::<Vec<u8>>();
    let pipes: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for mut pipe in pipes {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut log = Vec::new();
    let collect = |log: &mut Vec<u8>, chunk: Vec<u8>| {
        let room = LOG_KEPT.saturating_sub(log.len());
        log.extend_from_slice(&chunk[..chunk.len().min(room)]);
    };
    let deadline = started + limit;
    let status = loop {
        while let Ok(chunk) = rx.try_recv() {
            collect(&mut log, chunk);
        }
        if let Some(status) = child.try_wait()? {
            crate::sandbox::children::reaped(child.id());
            break status;
        }
        if Instant::now() >= deadline {
            let pid = child.id() as libc::pid_t;
            // SAFETY: signalling the compiler's own process group, created by `process_group(0)`; the child
            // has not been reaped, so its group id is still ours.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            crate::sandbox::children::reaped(child.id());
            while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
                collect(&mut log, chunk);
            }
            return Ok(Finished::TimedOut {
                log: String::from_utf8_lossy(&log).into_owned(),
                limit_s: limit.as_secs_f64(),
            });
        }
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(10)) {
            collect(&mut log, chunk);
        }
    };
    // The pipes close when the compiler and its children exit; take what is left.
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
        collect(&mut log, chunk);
    }
    let words = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "an unknown status".to_owned(),
    };
    Ok(Finished::Exited {
        success: status.success(),
        status: words,
        log: String::from_utf8_lossy(&log).into_owned(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Invocation {
        Invocation {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            dir: None,
        }
    }

    #[test]
    fn output_and_status_are_captured() {
        match run(
            &sh("echo out; echo err >&2; exit 3"),
            Duration::from_secs(10),
        )
        .unwrap()
        {
            Finished::Exited {
                success,
                status,
                log,
                ..
            } => {
                assert!(!success);
                assert_eq!(status, "exit status 3");
                assert!(log.contains("out") && log.contains("err"), "{log}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_compiler_past_its_limit_is_killed() {
        let started = Instant::now();
        let finished = run(&sh("echo started; sleep 30"), Duration::from_millis(300)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(&finished, Finished::TimedOut { log, .. } if log.contains("started")),
            "{finished:?}"
        );
    }

    #[test]
    fn a_missing_compiler_is_an_error() {
        let missing = Invocation {
            program: "/nonexistent/cc".into(),
            args: vec![],
            dir: None,
        };
        assert!(run(&missing, Duration::from_secs(1)).is_err());
    }
}
