//! Running a compiler under a wall-clock limit: its own process group (so `cc1`, `as` and `ld` die with it),
//! stdout and stderr captured together, killed when the limit passes; and, for a submission's source, confined
//! like a worker ([`Confinement`]): another user where the judge runs as root, no privileges, and limits on
//! memory, file size and CPU time, which every process of the compiler inherits.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::sandbox::WorkerUser;
use crate::sandbox::landlock::{ChildRules, WriteRules};

/// Most compiler output kept, in bytes (the start of it: the first errors are the ones that matter).
pub const LOG_KEPT: usize = 64 * 1024;

/// One compiler invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The program (`cc`, `c++`, `nvcc`).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The directory to run it in.
    pub dir: Option<std::path::PathBuf>,
    /// The whole environment it gets; `None` for the judge's.
    pub env: Option<Vec<(OsString, OsString)>>,
    /// How its processes are confined; `None` runs it as the judge runs.
    pub confinement: Option<Confinement>,
}

/// What a compiler runs as and may use. Source code can make a compiler read any file it may open
/// (`#include "/etc/shadow"` prints the file in its errors, `.incbin` builds it into the library), allocate
/// without end (`#include "/dev/zero"`) or write files of any size (`.fill`): so it runs as the workers' user,
/// with no privileges, and under limits that each of its processes (`cc1`, `as`, `ld`, `cicc`, `ptxas`)
/// inherits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// Who it runs as.
    pub user: WorkerUser,
    /// The one directory it may write in (its output and temporary files), besides `/dev/null`, where the kernel
    /// has Landlock (see `sandbox::landlock`).
    pub writes_in: PathBuf,
    /// `RLIMIT_AS` of each process, in bytes: an allocation past it fails.
    pub address_space: u64,
    /// `RLIMIT_FSIZE`, in bytes: a process writing past it in any file is killed (`SIGXFSZ`).
    pub file_size: u64,
}

impl Confinement {
    /// Runs in the compiler's process between `fork` and `exec` (async-signal-safe calls only): the limits, with
    /// `RLIMIT_CPU` at the wall-clock limit rounded up (so a process that outlives a dead judge still ends), no
    /// core files, no privileges, the user, death with the judge. `run` then applies the Landlock rules.
    fn apply(&self, cpu_seconds: u64) -> std::io::Result<()> {
        let rlimits = [
            (libc::RLIMIT_CORE, 0),
            (libc::RLIMIT_AS, self.address_space),
            (libc::RLIMIT_FSIZE, self.file_size),
            (libc::RLIMIT_CPU, cpu_seconds),
        ];
        crate::sandbox::privileges::confine(&rlimits, self.user)
    }
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

/// The `RLIMIT_CPU` of a confined compiler whose wall-clock limit is `limit`: whole seconds, rounded up.
pub fn cpu_seconds(limit: Duration) -> u64 {
    limit.as_secs_f64().ceil() as u64
}

/// Runs `invocation` with a wall-clock `limit`. An error means the compiler could not be started at all.
pub fn run(invocation: &Invocation, limit: Duration) -> std::io::Result<Finished> {
    let started = Instant::now();
    let mut command = Command::new(&invocation.program);
    if let Some(dir) = &invocation.dir {
        command.current_dir(dir);
    }
    if let Some(env) = &invocation.env {
        command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    }
    // Made before the fork and kept until the compiler has started: the child applies it by descriptor.
    let mut rules = None;
    if let Some(confinement) = &invocation.confinement {
        let cpu_seconds = cpu_seconds(limit);
        // Where this kernel has no Landlock, the compiler writes what its user may (the judge warned once).
        rules =
            WriteRules::beneath(&[confinement.writes_in.clone(), PathBuf::from("/dev/null")])?.ok();
        let ruleset = rules.as_ref().map(WriteRules::for_child);
        let confinement = confinement.clone();
        // SAFETY: the closure runs in the forked child before `exec` and makes only async-signal-safe system
        // calls on values captured before the fork (see `Confinement::apply`, then `ChildRules::apply`).
        unsafe {
            command.pre_exec(move || {
                confinement.apply(cpu_seconds)?;
                // After `apply`, which set `no_new_privs`, as Landlock requires.
                ruleset.map_or(Ok(()), ChildRules::apply)
            });
        }
    }
    command
        .args(&invocation.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = crate::sandbox::children::spawn(&mut command)?;
    drop(rules);
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
            take_rest(&rx, Duration::from_millis(100), |chunk| {
                collect(&mut log, chunk)
            });
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
    take_rest(&rx, Duration::from_millis(500), |chunk| {
        collect(&mut log, chunk)
    });
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

/// Hands `take` what arrives on `rx` until its senders are gone (the pipes closed) or `grace` has passed, all
/// told: a process the compiler left running outside its process group (`setsid`) may hold the pipes open and
/// write to them without end.
fn take_rest(rx: &Receiver<Vec<u8>>, grace: Duration, mut take: impl FnMut(Vec<u8>)) {
    let until = Instant::now() + grace;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) if !left.is_zero() => take(chunk),
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Invocation {
        Invocation {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            dir: None,
            env: None,
            confinement: None,
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

    /// The `Max …` rows of `/proc/self/limits` in `log`, as `(name, soft limit)`.
    fn limit_rows(log: &str) -> Vec<(String, String)> {
        log.lines()
            .filter(|l| l.starts_with("Max "))
            .filter_map(|l| {
                let (name, rest) = l.split_at(26.min(l.len()));
                Some((
                    name.trim().to_owned(),
                    rest.split_whitespace().next()?.to_owned(),
                ))
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_confined_compiler_runs_as_the_workers_user_under_its_limits() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // A file outside the compiler's directory that its permissions let anyone write.
        let elsewhere = tempfile::tempdir().unwrap();
        let open_file = elsewhere.path().join("open-to-all");
        std::fs::write(&open_file, "before\n").unwrap();
        std::fs::set_permissions(&open_file, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(elsewhere.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (user, _) = WorkerUser::automatic();
        let mut invocation = sh(&format!(
            "cat /proc/self/limits; echo ids $(id -u) $(id -g) groups $(id -G); echo tmp $TMPDIR; \
             grep CapEff /proc/self/status; head -c 70000 /dev/zero > $TMPDIR/big; echo wrote $?; \
             echo after >> {}; echo elsewhere $?",
            open_file.display()
        ));
        invocation.env = Some(vec![("TMPDIR".into(), dir.path().into())]);
        invocation.confinement = Some(Confinement {
            user,
            writes_in: dir.path().to_owned(),
            address_space: 1 << 30,
            file_size: 65_536,
        });
        // The compiler's directory must be its user's, as `Submission::build` makes it.
        let ids = user.ids();
        std::os::unix::fs::chown(dir.path(), Some(ids.uid), Some(ids.gid)).unwrap();
        let Finished::Exited { log, .. } = run(&invocation, Duration::from_millis(2500)).unwrap()
        else {
            panic!("timed out");
        };
        let rows = limit_rows(&log);
        let row = |name: &str| {
            rows.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {name} row in {log}"))
        };
        assert_eq!(row("Max address space"), "1073741824", "{log}");
        assert_eq!(row("Max file size"), "65536", "{log}");
        assert_eq!(row("Max core file size"), "0", "{log}");
        // The wall-clock limit rounded up to whole seconds.
        assert_eq!(row("Max cpu time"), "3", "{log}");
        assert!(
            log.contains(&format!("ids {} {} groups", ids.uid, ids.gid)),
            "{log}"
        );
        // Another user keeps no supplementary group (the judge's own user keeps its own).
        if user != WorkerUser::Judge {
            assert!(log.contains(&format!("groups {}\n", ids.gid)), "{log}");
        }
        assert!(
            log.contains(&format!("tmp {}\n", dir.path().display())),
            "{log}"
        );
        assert!(log.contains("CapEff:\t0000000000000000"), "{log}");
        // Writing past the file-size limit kills the writer (SIGXFSZ: the shell reports 128 + 25).
        assert!(log.contains("wrote 153"), "{log}");
        assert_eq!(
            std::fs::metadata(dir.path().join("big")).unwrap().len(),
            65_536
        );
        // Outside its directory it writes nothing, whatever the permissions say, where the kernel has Landlock.
        let after = std::fs::read_to_string(&open_file).unwrap();
        match crate::sandbox::landlock::abi() {
            Ok(_) => {
                assert!(log.contains("elsewhere 2"), "{log}");
                assert_eq!(after, "before\n");
            }
            Err(why) => {
                println!("without Landlock ({why}), the compiler writes the open file");
                assert_eq!(after, "before\nafter\n", "{log}");
            }
        }
    }

    /// A process the compiler left running outside its process group (`setsid`) keeps the output pipes open and
    /// may write to them without end: taking what is left after the compiler's end is bounded, so the judge goes
    /// on, within the limit, whatever it does.
    #[test]
    fn output_of_a_process_left_behind_does_not_hold_the_judge() {
        for script in [
            "echo started; setsid sh -c 'while :; do echo spam; sleep 0.05; done' & exit 0",
            "echo started; setsid sh -c 'while :; do echo spam; sleep 0.05; done' & sleep 30",
            "echo started; setsid yes spam & exit 0",
        ] {
            let started = Instant::now();
            let finished = run(&sh(script), Duration::from_secs(2)).unwrap();
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(4),
                "{script}: {took:?}, {finished:?}"
            );
            let log = match &finished {
                Finished::Exited { log, .. } | Finished::TimedOut { log, .. } => log,
            };
            assert!(log.starts_with("started"), "{script}: {finished:?}");
        }
    }

    #[test]
    fn a_missing_compiler_is_an_error() {
        let missing = Invocation {
            program: "/nonexistent/cc".into(),
            args: vec![],
            dir: None,
            env: None,
            confinement: None,
        };
        assert!(run(&missing, Duration::from_secs(1)).is_err());
    }
}
