//! The judge's side of a worker: starts it confined (own process group, no core dumps, an address-space
//! backstop, killed if the judge dies), sends requests, and turns every way a worker can fail into a typed
//! error: a crash with its signal, a hang past the wall-clock limit, a resident set over the memory limit (or,
//! as the worker reports it, device memory over the device limit), more threads than a worker may run, a broken
//! protocol.
//!
//! Two helper threads per worker read its channel and its stderr, so the judge can wait for an answer with a
//! deadline while it samples the worker's memory every few milliseconds; the last few kilobytes of stderr
//! (the submission's prints included) are kept for the report.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use solutions::Backend;

use super::SandboxConfig;
use super::landlock::{ChildRules, WriteRules};
use super::limits::{Limits, MAX_THREADS, MIB};
use super::privileges::WorkerUser;
use super::protocol::{
    FrameError, PROTOCOL_VERSION, Request, Response, Stage, read_frame, write_frame,
};
use super::signal;
use crate::verdict::Verdict;

/// How often the memory of a busy worker is sampled.
const MEMORY_POLL: Duration = Duration::from_millis(4);
/// How long a worker that closed its channel gets to exit by itself before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long a worker that answered a call may take to stop itself.
const FREEZE_WAIT: Duration = Duration::from_secs(5);
/// How much of a worker's stderr is kept, in bytes (the end of it).
const STDERR_KEPT: usize = 16 * 1024;

/// The program that serves as worker and its arguments: normally this very judge with the hidden `worker`
/// subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    /// The running judge itself, re-executed as `judge worker`.
    pub fn this_judge() -> io::Result<WorkerCommand> {
        Ok(Self::judge_at(std::env::current_exe()?))
    }

    /// The judge binary at `path`, as `PATH worker` (tests use the binary Cargo built).
    pub fn judge_at(path: impl Into<PathBuf>) -> WorkerCommand {
        Self {
            program: path.into(),
            args: vec!["worker".into()],
        }
    }
}

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Death {
    /// Ended by a signal it did not handle.
    Signal(i32),
    /// Exited with this status.
    Exited(i32),
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Death::Signal(sig) => write!(
                f,
                "was killed by {} ({})",
                signal::name(sig),
                signal::meaning(sig)
            ),
            Death::Exited(code) => write!(f, "exited with status {code}"),
        }
    }
}

/// Why a request to a worker did not get its answer. Each variant carries what the judge was asking for
/// (`during`) and the end of the worker's stderr.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The worker program could not be started (the judge's fault, not the submission's).
    #[error("could not start the worker {program}: {source}")]
    Spawn {
        /// The worker program.
        program: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The library the judge built could not be opened (the judge's fault).
    #[error("could not open the built library {path}: {source}")]
    Library {
        /// The library.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The shared buffers of a case could not be created (the judge's fault).
    #[error("could not create the shared buffers in {dir}: {source}")]
    Region {
        /// Where they were to be created.
        dir: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The worker died: a crash (by a signal) or an exit in the middle of a request.
    #[error("the worker {death} while {during}")]
    Died {
        /// What the judge had asked for.
        during: String,
        /// How it ended.
        death: Death,
        /// The end of its stderr.
        stderr: String,
    },
    /// A request ran past its wall-clock limit; the worker was killed.
    #[error("the worker was still {during} after the limit of {limit_s} s; it was killed")]
    TimedOut {
        /// What the judge had asked for.
        during: String,
        /// The limit, in seconds.
        limit_s: f64,
        /// The end of its stderr.
        stderr: String,
    },
    /// The worker's resident memory passed the limit; it was killed (or died of it).
    #[error(
        "the worker reached {:.1} MiB of memory while {during}, over the limit of {} MiB; it was killed",
        *peak_bytes as f64 / MIB as f64,
        limit_bytes / MIB
    )]
    MemoryLimit {
        /// What the judge had asked for.
        during: String,
        /// The largest resident set seen, in bytes.
        peak_bytes: u64,
        /// The limit, in bytes.
        limit_bytes: u64,
        /// The end of its stderr.
        stderr: String,
    },
    /// A CUDA submission held more device memory than the limit when a call returned; the worker was killed.
    #[error(
        "the submission held {:.1} MiB of device memory after {during}, over the limit of {} MiB; the worker \
         was killed",
        *bytes as f64 / MIB as f64,
        limit_bytes / MIB
    )]
    DeviceMemoryLimit {
        /// What the judge had asked for.
        during: String,
        /// Device memory the submission held, in bytes.
        bytes: u64,
        /// The limit, in bytes.
        limit_bytes: u64,
        /// The end of its stderr.
        stderr: String,
    },
    /// The worker said something that is not an answer of the protocol (something wrote to its channel), or
    /// closed its channel and did not exit.
    #[error("the worker broke the protocol while {during}: {reason}")]
    Protocol {
        /// What the judge had asked for.
        during: String,
        /// What was wrong.
        reason: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// The worker ran more threads than [`MAX_THREADS`]; it was killed.
    #[error(
        "the worker ran {threads} threads while {during}, over the limit of {limit}; it was killed"
    )]
    TooManyThreads {
        /// What the judge had asked for.
        during: String,
        /// The threads seen.
        threads: u64,
        /// The limit.
        limit: u64,
        /// The end of its stderr.
        stderr: String,
    },
    /// The submission left processes running when its worker was told to end (they were killed).
    #[error(
        "the submission left {} process(es) running after its calls (pid {}); the judge killed them",
        pids.len(),
        pids.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
    )]
    LeftProcesses {
        /// The processes, as they were found.
        pids: Vec<libc::pid_t>,
        /// The end of the worker's stderr.
        stderr: String,
    },
    /// The worker answered that it could not do what was asked.
    #[error("{} failed: {message}", stage.describe())]
    Refused {
        /// What the judge had asked for.
        during: String,
        /// The step that failed.
        stage: Stage,
        /// The worker's explanation.
        message: String,
        /// The end of its stderr.
        stderr: String,
    },
}

impl SandboxError {
    /// The verdict this failure earns the submission; `None` for failures of the judge itself.
    pub fn verdict(&self) -> Option<Verdict> {
        match self {
            SandboxError::Spawn { .. }
            | SandboxError::Library { .. }
            | SandboxError::Region { .. } => None,
            SandboxError::Died { .. }
            | SandboxError::Protocol { .. }
            | SandboxError::TooManyThreads { .. }
            | SandboxError::LeftProcesses { .. } => Some(Verdict::RuntimeError),
            SandboxError::TimedOut { .. } => Some(Verdict::Timeout),
            SandboxError::MemoryLimit { .. } | SandboxError::DeviceMemoryLimit { .. } => {
                Some(Verdict::MemoryLimit)
            }
            SandboxError::Refused { stage, .. } => Some(match stage {
                // Nothing of the submission has run yet: the judge cannot run it here.
                Stage::Device | Stage::Confine => Verdict::Skipped,
                Stage::Load | Stage::Symbol => Verdict::CompileError,
                _ => Verdict::RuntimeError,
            }),
        }
    }

    /// The error with `alias` (a path only the worker used, such as `/proc/self/fd/N`) replaced by `path` in the
    /// worker's explanation.
    pub fn naming(self, alias: &Path, path: &Path) -> SandboxError {
        match self {
            SandboxError::Refused {
                during,
                stage,
                message,
                stderr,
            } => SandboxError::Refused {
                during,
                stage,
                message: message.replace(&*alias.to_string_lossy(), &path.to_string_lossy()),
                stderr,
            },
            other => other,
        }
    }

    /// The end of the worker's stderr, when there was any.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            SandboxError::Spawn { .. }
            | SandboxError::Library { .. }
            | SandboxError::Region { .. } => None,
            SandboxError::Died { stderr, .. }
            | SandboxError::TimedOut { stderr, .. }
            | SandboxError::MemoryLimit { stderr, .. }
            | SandboxError::DeviceMemoryLimit { stderr, .. }
            | SandboxError::Protocol { stderr, .. }
            | SandboxError::TooManyThreads { stderr, .. }
            | SandboxError::LeftProcesses { stderr, .. }
            | SandboxError::Refused { stderr, .. } => {
                Some(stderr.as_str()).filter(|s| !s.trim().is_empty())
            }
        }
    }
}

enum Incoming {
    Frame(Response),
    Broken(FrameError),
    Closed,
}

#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: bool,
    finished: bool,
    /// The draining thread has seen bytes arrive and not yet kept them: they are on their way.
    taking: bool,
}

/// A running worker process.
pub struct Worker {
    pid: libc::pid_t,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Incoming>,
    /// The read end of the worker's stderr, watched (never read) for bytes not yet drained.
    stderr_watch: OwnedFd,
    stderr: Arc<Mutex<Tail>>,
    limits: Limits,
    ended: bool,
    _child: Child,
}

impl Worker {
    /// Starts a worker for a submission of `backend` under `sandbox` (its program, limits, working directory and
    /// user) and agrees on the protocol. The descriptors in `inherit` stay open in the worker under the same
    /// numbers (every other descriptor of the judge is closed on `exec`).
    pub fn spawn(
        sandbox: &SandboxConfig,
        backend: Backend,
        inherit: &[RawFd],
    ) -> Result<Worker, SandboxError> {
        let command = &sandbox.worker;
        let (limits, user) = (sandbox.limits, sandbox.user);
        let spawn_failed = |source| SandboxError::Spawn {
            program: command.program.clone(),
            source,
        };
        let mut inherit = inherit.to_vec();
        // A worker of another user may not reach the judge's program by its path (under /root, say): it runs
        // the program from a descriptor the judge opened, as `/proc/self/fd/N`.
        let program = match user {
            WorkerUser::Switch { .. } if command.program.components().count() > 1 => {
                let file = File::open(&command.program).map_err(spawn_failed)?;
                let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
                inherit.push(file.as_raw_fd());
                Some((file, path))
            }
            _ => None,
        };
        let mut cmd = Command::new(program.as_ref().map_or(&command.program, |(_, path)| path));
        cmd.arg0(&command.program)
            .args(&command.args)
            .env_clear()
            .envs(super::env::Who::Worker.kept(&sandbox.pass_env))
            .current_dir(&sandbox.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let address_space = limits.address_space(backend);
        // Where this kernel has no Landlock, the worker writes what its user may (the judge warned once).
        let rules = WriteRules::for_worker(&sandbox.regions)
            .map_err(spawn_failed)?
            .ok();
        let ruleset = rules.as_ref().map(WriteRules::for_child);
        // SAFETY: the closure runs in the forked child before `exec`. It only makes async-signal-safe system
        // calls (fcntl, getrlimit, setrlimit, prctl, setgroups, setgid, setuid, capset, open, landlock_add_rule,
        // landlock_restrict_self, close) on values captured before the fork, and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    // Only in this child: the judge's descriptor stays close-on-exec for every other.
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                confine(address_space, user)?;
                // After `confine`, which set `no_new_privs`, as Landlock requires.
                ruleset.map_or(Ok(()), ChildRules::apply)
            });
        }
        let mut child = super::children::spawn(&mut cmd).map_err(spawn_failed)?;
        drop((program, rules));
        let spawn_error = |what: &str| spawn_failed(io::Error::other(format!("no {what} pipe")));
        let stdin = child.stdin.take().ok_or_else(|| spawn_error("stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| spawn_error("stdout"))?;
        let stderr_pipe = child.stderr.take().ok_or_else(|| spawn_error("stderr"))?;
        // A second descriptor of the pipe, to ask how many bytes wait in it (`stderr_text`).
        let stderr_watch = stderr_pipe
            .as_fd()
            .try_clone_to_owned()
            .map_err(spawn_failed)?;
        let pid = libc::pid_t::try_from(child.id()).map_err(|_| spawn_error("valid pid"))?;

        let (tx, incoming) = channel();
        std::thread::Builder::new()
            .name(format!("worker-{pid}-channel"))
            .spawn(move || {
                let mut stdout = stdout;
                loop {
                    let message = match read_frame::<_, Response>(&mut stdout) {
                        Ok(Some(response)) => Incoming::Frame(response),
                        Ok(None) => Incoming::Closed,
                        Err(e) => Incoming::Broken(e),
                    };
                    let last = !matches!(message, Incoming::Frame(_));
                    if tx.send(message).is_err() || last {
                        break;
                    }
                }
            })
            .map_err(spawn_failed)?;
        let stderr = Arc::new(Mutex::new(Tail::default()));
        let sink = Arc::clone(&stderr);
        std::thread::Builder::new()
            .name(format!("worker-{pid}-stderr"))
            .spawn(move || drain_stderr(stderr_pipe, &sink))
            .map_err(spawn_failed)?;

        let mut worker = Worker {
            pid,
            stdin: Some(stdin),
            incoming,
            stderr_watch,
            stderr,
            limits,
            ended: false,
            _child: child,
        };
        let hello = Request::Hello {
            protocol: PROTOCOL_VERSION,
        };
        match worker.request(&hello, limits.startup(), "starting the worker")? {
            Response::Ready { protocol, .. } if protocol == PROTOCOL_VERSION => Ok(worker),
            other => Err(worker.protocol_error(
                "starting the worker",
                format!("expected ready for protocol {PROTOCOL_VERSION}, got {other:?}"),
            )),
        }
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The limits it runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sends `request` and waits up to `limit` for the answer, watching the worker's memory meanwhile. Returns
    /// the answer. A `failed` answer becomes [`SandboxError::Refused`], unless it names a step the request does
    /// not take ([`Request::may_fail_at`]), which is a protocol error; any error other than `Refused` leaves the
    /// worker dead.
    pub fn request(
        &mut self,
        request: &Request,
        limit: Duration,
        during: &str,
    ) -> Result<Response, SandboxError> {
        if self.ended {
            return Err(self.protocol_error(during, "the worker had already ended".to_owned()));
        }
        let deadline = Instant::now() + limit;
        let sent = match self.stdin.as_mut() {
            Some(stdin) => write_frame(stdin, request),
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        };
        if sent.is_err() {
            return Err(self.collect_death(during));
        }
        loop {
            let now = Instant::now();
            let wait = deadline.saturating_duration_since(now).min(MEMORY_POLL);
            match self.incoming.recv_timeout(wait) {
                Ok(Incoming::Frame(response)) => {
                    // The call is over: its peak counts, whatever the resident set is now.
                    if let Some(error) = self.over_limits(during, true) {
                        return Err(error);
                    }
                    return match response {
                        Response::Failed { stage, .. } if !request.may_fail_at(stage) => {
                            Err(self.protocol_error(
                                during,
                                format!(
                                    "the worker answered with a failure at {} ({stage:?}), a step this \
                                     request does not take: an answer the worker did not write",
                                    stage.describe()
                                ),
                            ))
                        }
                        Response::Failed { stage, message } => Err(SandboxError::Refused {
                            during: during.to_owned(),
                            stage,
                            message,
                            stderr: self.stderr_text(),
                        }),
                        answer => Ok(answer),
                    };
                }
                Ok(Incoming::Broken(e)) => {
                    self.kill();
                    return Err(self.protocol_error(during, e.to_string()));
                }
                Ok(Incoming::Closed) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.collect_death(during));
                }
                Err(RecvTimeoutError::Timeout) => {
                    // A process the submission started may hold the channel open after the worker died, so
                    // its end does not always close the channel: look at the worker itself.
                    if has_ended(self.pid) {
                        return Err(self.collect_death(during));
                    }
                    if let Some(error) = self.over_limits(during, false) {
                        return Err(error);
                    }
                    if Instant::now() >= deadline {
                        self.kill();
                        return Err(SandboxError::TimedOut {
                            during: during.to_owned(),
                            limit_s: limit.as_secs_f64(),
                            stderr: self.stderr_text(),
                        });
                    }
                }
            }
        }
    }

    /// Waits until the worker has stopped itself after answering a call (see the protocol), so the slot can be
    /// copied out with nothing of the submission running. Returns the worker's death if it died instead.
    pub fn await_frozen(&mut self, during: &str) -> Result<(), SandboxError> {
        let deadline = Instant::now() + FREEZE_WAIT;
        loop {
            match peek_state(self.pid) {
                ChildState::Stopped => {
                    consume_stop(self.pid);
                    return Ok(());
                }
                ChildState::Ended => return Err(self.collect_death(during)),
                ChildState::Running if Instant::now() >= deadline => {
                    return Err(self.protocol_error(
                        during,
                        "it answered but did not stop to be checked".to_owned(),
                    ));
                }
                ChildState::Running => std::thread::sleep(Duration::from_micros(50)),
            }
        }
    }

    /// Wakes a worker stopped by [`Worker::await_frozen`].
    pub fn thaw(&mut self) {
        if !self.ended {
            // SAFETY: signalling our own, not yet reaped, child.
            unsafe { libc::kill(self.pid, libc::SIGCONT) };
        }
    }

    /// Ends the worker without letting it run anything more. First it stops every thread of the worker, so
    /// nothing of the submission still running there (a thread it started) can start a process after the
    /// search; then it kills every process the submission left running (the worker is their subreaper, so
    /// orphans are found too), and those are [`SandboxError::LeftProcesses`]; then it kills the worker. The
    /// worker is never asked to exit: a normal exit runs the submission's library destructors and exit
    /// handlers, after the search (`bad/forks_at_exit.c` starts a daemon from one).
    pub fn shutdown(mut self) -> Result<(), SandboxError> {
        if self.ended {
            return Ok(());
        }
        // SAFETY: signalling our own, not yet reaped, child.
        unsafe { libc::kill(self.pid, libc::SIGSTOP) };
        let deadline = Instant::now() + FREEZE_WAIT;
        while !all_threads_stopped(self.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(50));
        }
        let left = kill_descendants(self.pid);
        let result = if left.is_empty() {
            Ok(())
        } else {
            Err(SandboxError::LeftProcesses {
                pids: left,
                stderr: self.stderr_text(),
            })
        };
        self.kill();
        result
    }

    /// The end of the worker's stderr so far: once what it has written is drained (an ended worker's to the end
    /// of the pipe; a living one's, stopped after `solve` or not, to what the pipe holds now), within 200 ms.
    pub fn stderr_text(&self) -> String {
        let deadline = Instant::now() + Duration::from_millis(200);
        loop {
            let tail = match self.stderr.lock() {
                Ok(t) => t,
                Err(poisoned) => poisoned.into_inner(),
            };
            let drained = if self.ended {
                tail.finished
            } else {
                !tail.taking && bytes_waiting(&self.stderr_watch) == 0
            };
            if drained || Instant::now() >= deadline {
                let text = String::from_utf8_lossy(&tail.bytes).into_owned();
                return if tail.cut {
                    format!("[…]{text}")
                } else {
                    text
                };
            }
            drop(tail);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Ends a worker whose submission holds `bytes` of device memory, over the limit, and says so.
    pub fn over_device_memory(&mut self, during: &str, bytes: u64) -> SandboxError {
        self.kill();
        SandboxError::DeviceMemoryLimit {
            during: during.to_owned(),
            bytes,
            limit_bytes: self.limits.device_memory_bytes,
            stderr: self.stderr_text(),
        }
    }

    /// Ends the worker for breaking the protocol (an answer that makes no sense) and says so.
    pub fn broken(&mut self, during: &str, reason: String) -> SandboxError {
        self.protocol_error(during, reason)
    }

    fn protocol_error(&mut self, during: &str, reason: String) -> SandboxError {
        self.kill();
        SandboxError::Protocol {
            during: during.to_owned(),
            reason,
            stderr: self.stderr_text(),
        }
    }

    fn memory_error(&mut self, during: &str, peak: u64) -> SandboxError {
        self.kill();
        SandboxError::MemoryLimit {
            during: during.to_owned(),
            peak_bytes: peak,
            limit_bytes: self.limits.memory_bytes,
            stderr: self.stderr_text(),
        }
    }

    fn threads_error(&mut self, during: &str, threads: u64) -> SandboxError {
        self.kill();
        SandboxError::TooManyThreads {
            during: during.to_owned(),
            threads,
            limit: MAX_THREADS,
            stderr: self.stderr_text(),
        }
    }

    /// The worker closed its channel or its stdin broke: it is dying or dead. Reaps it and says how it ended.
    fn collect_death(&mut self, during: &str) -> SandboxError {
        self.stdin = None;
        let until = Instant::now() + EXIT_GRACE;
        let mut ended = false;
        while Instant::now() < until {
            if has_ended(self.pid) {
                ended = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if !ended {
            return self.protocol_error(
                during,
                "it closed its channel to the judge but did not exit".to_owned(),
            );
        }
        // Kill the rest of the group (anything the submission forked). The worker is a zombie until reaped, so
        // its process group id cannot have been reused yet.
        // SAFETY: signalling our own child's process group, which it was put in by `process_group(0)`.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        let (death, peak) = reap(self.pid, 0).unwrap_or((Death::Signal(libc::SIGKILL), 0));
        self.reaped();
        if peak > self.limits.memory_bytes {
            return SandboxError::MemoryLimit {
                during: during.to_owned(),
                peak_bytes: peak,
                limit_bytes: self.limits.memory_bytes,
                stderr: self.stderr_text(),
            };
        }
        SandboxError::Died {
            during: during.to_owned(),
            death,
            stderr: self.stderr_text(),
        }
    }

    /// Kills every process the submission started (wherever they moved), the worker's whole process group,
    /// and reaps the worker.
    fn kill(&mut self) {
        self.stdin = None;
        if self.ended {
            return;
        }
        kill_descendants(self.pid);
        // SAFETY: signalling our own child's process group (see `spawn`); the pid has not been reaped yet, so
        // it cannot have been reused.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        let _ = reap(self.pid, 0);
        self.reaped();
    }

    /// Marks the worker reaped, and kills what the judge adopted from it: a worker that died by itself handed
    /// the processes it still had to the judge (a subreaper).
    fn reaped(&mut self) {
        self.ended = true;
        super::children::reaped(self.pid as u32);
        super::children::kill_adopted();
    }

    /// What one read of `/proc/<pid>/status` says of the worker (Linux; `None` elsewhere or once it is gone).
    fn status(&self) -> Option<ProcStatus> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            line[name.len()..].split_whitespace().next()?.parse().ok()
        };
        Some(ProcStatus {
            rss: field("VmRSS:").map(|kib| kib * 1024),
            peak_rss: field("VmHWM:").map(|kib| kib * 1024),
            threads: field("Threads:"),
        })
    }

    /// Kills the worker and says why when it is over the memory limit or runs more than [`MAX_THREADS`]
    /// threads, from one read of its status. The memory compared is its peak resident set when `peak_counts`
    /// (a call has just answered), else its resident set now (polled while a call runs); the error reports the
    /// peak either way.
    fn over_limits(&mut self, during: &str, peak_counts: bool) -> Option<SandboxError> {
        let status = self.status()?;
        let memory = if peak_counts {
            status.peak_rss
        } else {
            status.rss
        };
        if memory.is_some_and(|m| m > self.limits.memory_bytes) {
            let peak = status.peak_rss.max(status.rss).unwrap_or(0);
            return Some(self.memory_error(during, peak));
        }
        let threads = status.threads.filter(|&t| t > MAX_THREADS)?;
        Some(self.threads_error(during, threads))
    }
}

/// The worker's resident set and its peak, in bytes, and its threads, as `/proc/<pid>/status` gives them.
struct ProcStatus {
    rss: Option<u64>,
    peak_rss: Option<u64>,
    threads: Option<u64>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs in the child between `fork` and `exec`: no core files, the address-space backstop, death with the
/// judge and no privileges ([`super::privileges::confine`]), and a subreaper for the submission's processes.
/// Async-signal-safe calls only.
fn confine(address_space: Option<u64>, user: WorkerUser) -> io::Result<()> {
    // No limit is the hard limit (`set_limit` never raises it).
    let rlimits = [
        (libc::RLIMIT_CORE, 0),
        (
            libc::RLIMIT_AS,
            address_space.unwrap_or(libc::RLIM_INFINITY),
        ),
        // Threads of the worker's user, a backstop to the judge's watch ([`MAX_THREADS`]) that a thread bomb
        // cannot outrun: only for a user of the worker's own, since the count takes in every process of the user
        // (and the kernel does not hold root to it).
        (libc::RLIMIT_NPROC, 4 * MAX_THREADS),
    ];
    // All of them for a user of the worker's own; all but the last, `RLIMIT_NPROC`, otherwise.
    let own_user = matches!(user, WorkerUser::Switch { .. });
    let rlimits = &rlimits[..rlimits.len() - usize::from(!own_user)];
    super::privileges::confine(rlimits, user)?;
    #[cfg(target_os = "linux")]
    {
        // Orphans among the submission's processes (a daemon's double fork) become the worker's children
        // rather than init's, so the judge can find them all from the worker (`kill_descendants`).
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no pointers are involved.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Reaps `pid` with `wait4`; returns how it ended and its peak resident set in bytes, or `None` when it has not
/// ended (with `WNOHANG`) or cannot be waited for.
fn reap(pid: libc::pid_t, flags: libc::c_int) -> Option<(Death, u64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid, writable, and outlive the call.
        let got = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if got == pid {
            break;
        }
        if got == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return None;
    }
    let death = if libc::WIFSIGNALED(status) {
        Death::Signal(libc::WTERMSIG(status))
    } else {
        Death::Exited(libc::WEXITSTATUS(status))
    };
    // ru_maxrss is in kibibytes on Linux.
    let peak = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
    Some((death, peak))
}

enum ChildState {
    Running,
    Stopped,
    Ended,
}

/// `waitid` on `pid` with `flags` (which include `WNOHANG`): the report, or `None` when nothing is to report or
/// the call failed.
fn wait_report(pid: libc::pid_t, flags: libc::c_int) -> Option<libc::siginfo_t> {
    // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid and writable; the flags are the caller's (WNOWAIT leaves what is reported
    // waitable).
    let got = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
    // SAFETY: after a successful waitid, si_pid is filled (0 when nothing is to report).
    (got == 0 && unsafe { info.si_pid() } != 0).then_some(info)
}

/// Whether `pid` has stopped or ended, without consuming an end (so `reap` still sees it).
fn peek_state(pid: libc::pid_t) -> ChildState {
    let flags = libc::WSTOPPED | libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    match wait_report(pid, flags).map(|info| info.si_code) {
        None => ChildState::Running,
        Some(libc::CLD_STOPPED | libc::CLD_TRAPPED) => ChildState::Stopped,
        Some(_) => ChildState::Ended,
    }
}

/// Consumes the report of a stop, so the next stop is reported afresh (only a stop is waited for, never an
/// exit).
fn consume_stop(pid: libc::pid_t) {
    wait_report(pid, libc::WSTOPPED | libc::WNOHANG);
}

/// True once `pid` has ended (it is then a zombie: not reaped, so its ids stay reserved; WNOWAIT leaves it
/// waitable for `reap`).
fn has_ended(pid: libc::pid_t) -> bool {
    wait_report(pid, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT).is_some()
}

/// Whether every thread of `pid` is stopped (or `pid` has ended): Linux `/proc/<pid>/task`; elsewhere, true.
/// Read from `/proc` rather than waited for like [`Worker::await_frozen`]: a worker already stopped, whose stop
/// was reported and consumed, reports no new stop when stopped again.
fn all_threads_stopped(pid: libc::pid_t) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| state_and_parent(&stat))
            .is_none_or(|(state, _)| matches!(state, 'T' | 't' | 'Z' | 'X'))
    })
}

/// Stops, then kills, every live (not zombie) descendant of `root`, and returns their pids as first found.
/// Stopping first keeps a process that forks in a loop from outrunning the search. Linux `/proc`; finds nothing
/// elsewhere.
pub(super) fn kill_descendants(root: libc::pid_t) -> Vec<libc::pid_t> {
    let mut found: Vec<libc::pid_t> = Vec::new();
    let mut zombies: Vec<libc::pid_t> = Vec::new();
    // A few rounds: each stops what the last one found, so what they forked meanwhile shows up in the next.
    // A round that meets a zombie it had not seen is followed by another too: `/proc` is listed before each
    // process is read, so a process that forked and then exited in between was read as a zombie while its
    // child was missing from the list; that child is in any list taken after the zombie was read.
    for _ in 0..8 {
        let tree = descendants(root);
        let fresh: Vec<libc::pid_t> = tree
            .live
            .into_iter()
            .filter(|p| !found.contains(p))
            .collect();
        let new_zombies: Vec<libc::pid_t> = tree
            .zombies
            .into_iter()
            .filter(|p| !zombies.contains(p))
            .collect();
        if fresh.is_empty() && new_zombies.is_empty() {
            break;
        }
        for &pid in &fresh {
            // SAFETY: signalling a process found as a live descendant of our own unreaped child; it cannot be
            // reaped (and its pid reused) by anyone but its parent, which is that child or one of its processes.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
        found.extend(fresh);
        zombies.extend(new_zombies);
    }
    for &pid in &found {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    found
}

/// Every process in `/proc` as (pid, state letter, parent pid).
fn processes() -> Vec<(libc::pid_t, char, libc::pid_t)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<libc::pid_t>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (state, ppid) = state_and_parent(&stat)?;
            Some((pid, state, ppid))
        })
        .collect()
}

/// The children of `parent` with their state letters (zombies included).
pub(super) fn children_of(parent: libc::pid_t) -> Vec<(libc::pid_t, char)> {
    processes()
        .into_iter()
        .filter(|&(_, _, ppid)| ppid == parent)
        .map(|(pid, state, _)| (pid, state))
        .collect()
}

/// The descendants of `root`, live and zombie.
struct Tree {
    live: Vec<libc::pid_t>,
    zombies: Vec<libc::pid_t>,
}

/// The descendants of `root`, from every process's parent in `/proc`.
///
/// The walk goes through zombies too: `/proc` is read one process at a time, so a daemon may be read while its
/// parent still lived, and that parent later as a zombie; skipping zombies would lose the daemon.
fn descendants(root: libc::pid_t) -> Tree {
    let all = processes();
    let mut found: Vec<(libc::pid_t, char)> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, state, ppid) in &all {
            if ppid == parent && !found.iter().any(|&(p, _)| p == pid) {
                found.push((pid, state));
                frontier.push(pid);
            }
        }
    }
    let (zombies, live): (Vec<_>, Vec<_>) = found.into_iter().partition(|&(_, state)| state == 'Z');
    Tree {
        live: live.into_iter().map(|(pid, _)| pid).collect(),
        zombies: zombies.into_iter().map(|(pid, _)| pid).collect(),
    }
}

/// The state letter and parent pid of a `/proc/<pid>/stat` line (`pid (comm) S ppid …`; comm may hold spaces
/// and parentheses, so fields are counted after the last `)`).
fn state_and_parent(stat: &str) -> Option<(char, libc::pid_t)> {
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// How many bytes wait to be read in the pipe `fd` (0 when that cannot be told).
fn bytes_waiting(fd: &OwnedFd) -> usize {
    let mut waiting: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points at `waiting`; `fd` is open.
    let ok = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut waiting) } == 0;
    if ok {
        usize::try_from(waiting).unwrap_or(0)
    } else {
        0
    }
}

/// Keeps the end of the worker's stderr. It waits for bytes without taking them, marks them as on their way,
/// and only then reads them: so a reader of the tail that sees neither bytes in the pipe nor bytes on their way
/// has everything written so far.
fn drain_stderr<P: Read + AsRawFd>(mut pipe: P, sink: &Mutex<Tail>) {
    let lock = || match sink.lock() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut buf = [0u8; 4096];
    loop {
        let mut ready = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the pipe this thread owns.
        if unsafe { libc::poll(&mut ready, 1, -1) } < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        lock().taking = true;
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                lock().taking = false;
                continue;
            }
            Err(_) => break,
        };
        let mut tail = lock();
        tail.taking = false;
        tail.bytes.extend_from_slice(&buf[..n]);
        if tail.bytes.len() > STDERR_KEPT {
            let excess = tail.bytes.len() - STDERR_KEPT;
            tail.bytes.drain(..excess);
            tail.cut = true;
        }
    }
    let mut tail = lock();
    tail.taking = false;
    tail.finished = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in worker: a shell script instead of `judge worker`.
    fn fake(script: &str) -> WorkerCommand {
        WorkerCommand {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
        }
    }

    fn config(worker: WorkerCommand, user: WorkerUser) -> SandboxConfig {
        SandboxConfig {
            worker,
            limits: Limits {
                startup_s: 0.5,
                ..Limits::default()
            },
            workdir: std::env::temp_dir(),
            regions: std::env::temp_dir(),
            user,
            pass_env: Vec::new(),
        }
    }

    fn spawn(script: &str) -> Result<Worker, SandboxError> {
        Worker::spawn(&config(fake(script), WorkerUser::Judge), Backend::Cpu, &[])
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_worker_of_another_user_runs_from_a_descriptor_what_it_cannot_reach_by_name() {
        use std::os::unix::fs::PermissionsExt;

        // The program lies in a directory only the judge's user may enter, as a judge installed under /root does.
        let private = tempfile::tempdir().unwrap();
        std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let program = private.path().join("worker.sh");
        std::fs::write(
            &program,
            "#!/bin/sh\necho \"ids $(id -u) $(id -g) $(id -G)\" >&2\nexit 7\n",
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let worker = WorkerCommand {
            program,
            args: Vec::new(),
        };
        let user = WorkerUser::Switch {
            uid: 65_534,
            gid: 65_534,
        };
        let err = Worker::spawn(&config(worker, user), Backend::Cpu, &[])
            .err()
            .unwrap();
        // A judge running as root switches where its user namespace has the ids (most machines).
        if user.check().is_ok() {
            match &err {
                SandboxError::Died {
                    death: Death::Exited(7),
                    stderr,
                    ..
                } => assert!(stderr.contains("ids 65534 65534 65534\n"), "{stderr}"),
                other => panic!("{other}"),
            }
        } else {
            // Elsewhere the kernel refuses the switch: the worker never starts.
            assert!(matches!(err, SandboxError::Spawn { .. }), "{err}");
            if !crate::sandbox::privileges::judge_is_root() {
                assert!(err.to_string().contains("not permitted"), "{err}");
            }
        }
    }

    #[test]
    fn garbage_on_the_channel_is_a_protocol_error() {
        let err = spawn("printf 'xxxxxxxx'; sleep 5").err().unwrap();
        assert!(matches!(err, SandboxError::Protocol { .. }), "{err}");
        assert_eq!(err.verdict(), Some(Verdict::RuntimeError));
        assert!(err.to_string().contains("larger than the limit"), "{err}");
    }

    #[test]
    fn an_early_exit_is_reported_with_its_status_and_stderr() {
        let err = spawn("echo 'cannot start' >&2; exit 7").err().unwrap();
        match &err {
            SandboxError::Died {
                death: Death::Exited(7),
                stderr,
                ..
            } => assert!(stderr.contains("cannot start"), "{stderr}"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_signal_is_named() {
        let err = spawn("kill -SEGV $$").err().unwrap();
        assert!(
            err.to_string().contains("SIGSEGV (segmentation fault"),
            "{err}"
        );
    }

    #[test]
    fn silence_past_the_limit_is_a_timeout_and_the_worker_is_gone() {
        let started = Instant::now();
        let err = spawn("sleep 30").err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(err, SandboxError::TimedOut { .. }), "{err}");
        assert_eq!(err.verdict(), Some(Verdict::Timeout));
    }

    #[test]
    fn a_missing_program_is_the_judges_fault() {
        let missing = WorkerCommand::judge_at("/nonexistent/judge");
        let err = Worker::spawn(&config(missing, WorkerUser::Judge), Backend::Cpu, &[])
            .err()
            .unwrap();
        assert!(matches!(err, SandboxError::Spawn { .. }));
        assert_eq!(err.verdict(), None);
    }
}
