//! A system-call filter (seccomp) that keeps submitted code to its own process: it cannot start another
//! process, it cannot signal, trace, write into or set the limits of any process but its own, and it cannot
//! create files or sockets.
//!
//! A `solve` needs neither, and each opens a hole otherwise: a child process is outside the worker's memory
//! watch (it can use gigabytes and exit before the next sample), a child created with `CLONE_PARENT` is the
//! judge's and not the worker's, so the search for processes left behind misses it, and a worker of the same
//! user as the judge could kill the judge. Threads stay allowed (`clone` with `CLONE_THREAD`). `clone3` answers
//! `ENOSYS`, as on kernels before 5.3, so that C libraries fall back to `clone`, whose flags the filter can
//! read. A forbidden call kills the whole worker with `SIGSYS` (the verdict names it), except those that only
//! read or trace (`ptrace`, `process_vm_readv`, `tkill`, `pidfd_send_signal`), which fail with `EPERM`.
//!
//! Files a worker creates would outlive it and escape its memory watch: bytes written to a file in `/dev/shm`
//! (or to a `memfd`) take memory that is in no process's resident set, and stay taken after the worker is
//! killed. So every call that makes a file or a name fails with `EACCES`: `open`/`openat` with `O_CREAT` or
//! `O_TMPFILE`, `creat`, `memfd_create`, `mkdir`, `mknod`, `link` and `symlink` (and their `…at` forms);
//! `openat2`, whose flags the filter cannot read, answers `ENOSYS`, as on kernels before 5.6. Opening files
//! that exist, the device's included, is untouched.
//!
//! So are System V IPC objects (`shmget`, `msgget`, `semget`: `EACCES`): a shared memory segment, once
//! detached, is in no resident set and outlives the worker, as do message queues and semaphore sets.
//!
//! Sockets are refused too (`socket`, `socketpair`: `EACCES`): a `solve` has no use for the network, and bytes
//! queued in a socket's buffers are kernel memory that no resident set counts (a Unix socket pair holds 233 KiB
//! by default; one worker held 1 GiB under a limit of 512 MiB). `io_uring_setup`, `_enter` and `_register`
//! answer `ENOSYS`, as on kernels before 5.1: a ring's operations (a socket, an open that creates a file) never
//! pass through this filter. And `prlimit64` on any process but the worker's own fails with `EPERM`: the kernel
//! lets a process set the limits of another of its user, so a worker of the judge's user could give the judge a
//! CPU-time limit that kills it. Nor can a worker change the signal it gets when the judge dies
//! (`prctl(PR_SET_PDEATHSIG, …)` fails with `EPERM`): cleared, it would outlive a judge killed while it ran.
//!
//! The filter is installed after the worker has opened the device and before it loads the submission, on
//! every thread of the worker (`SECCOMP_FILTER_FLAG_TSYNC`), and is inherited by every thread started later.
//! It needs `no_new_privs`, which [`super::privileges::drop_all`] has set.

use std::io;

/// Whether this build can install the filter (Linux on x86-64 or aarch64).
pub const SUPPORTED: bool = cfg!(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
));

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod filter {
    use libc::{
        BPF_ABS, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW,
        SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, sock_filter,
    };

    /// `AUDIT_ARCH_X86_64` / `AUDIT_ARCH_AARCH64`: the architecture seccomp reports for this build's calls.
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xC000_00B7;

    /// Offsets in `struct seccomp_data`: the call's number, its architecture, the low word of its first
    /// argument (little-endian).
    const NR: u32 = 0;
    const ARCH_AT: u32 = 4;
    const ARG0_LOW: u32 = 16;
    #[cfg(target_arch = "x86_64")]
    const ARG1_LOW: u32 = 24;
    const ARG2_LOW: u32 = 32;

    /// On x86-64, calls of the x32 ABI have this bit set in their number; none is allowed.
    #[cfg(target_arch = "x86_64")]
    const X32_BIT: u32 = 0x4000_0000;

    fn load(offset: u32) -> sock_filter {
        stmt(BPF_LD | BPF_W | BPF_ABS, offset)
    }

    fn stmt(code: u32, k: u32) -> sock_filter {
        sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }

    fn jump(test: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
        sock_filter {
            code: (BPF_JMP | test | BPF_K) as u16,
            jt,
            jf,
            k,
        }
    }

    fn ret(action: u32) -> sock_filter {
        stmt(BPF_RET | BPF_K, action)
    }

    const KILL: u32 = SECCOMP_RET_KILL_PROCESS;

    fn errno(code: i32) -> u32 {
        SECCOMP_RET_ERRNO | (code as u32 & 0xffff)
    }

    fn nr(call: libc::c_long) -> u32 {
        call as u32
    }

    /// `if (nr == call) { block }`, where `block` ends every path with a return.
    fn when(program: &mut Vec<sock_filter>, call: libc::c_long, block: &[sock_filter]) {
        let skip = u8::try_from(block.len()).expect("a block is a few instructions");
        program.push(jump(BPF_JEQ, nr(call), 0, skip));
        program.extend_from_slice(block);
    }

    /// Marks the instructions that compare with the process's own id, filled in by [`super::Filter::set_pid`].
    pub const PID_PLACEHOLDER: u32 = u32::MAX;

    /// The filter, with [`PID_PLACEHOLDER`] where the process's id goes.
    pub fn program() -> Vec<sock_filter> {
        let pid = PID_PLACEHOLDER;
        let mut p = vec![
            load(ARCH_AT),
            jump(BPF_JEQ, ARCH, 1, 0),
            ret(KILL),
            load(NR),
        ];
        #[cfg(target_arch = "x86_64")]
        p.extend([jump(libc::BPF_JGE, X32_BIT, 0, 1), ret(KILL)]);
        // Threads only.
        let clone_flags = libc::CLONE_THREAD as u32;
        when(
            &mut p,
            libc::SYS_clone,
            &[
                load(ARG0_LOW),
                jump(BPF_JSET, clone_flags, 0, 1),
                ret(SECCOMP_RET_ALLOW),
                ret(KILL),
            ],
        );
        when(&mut p, libc::SYS_clone3, &[ret(errno(libc::ENOSYS))]);
        #[cfg(target_arch = "x86_64")]
        for call in [libc::SYS_fork, libc::SYS_vfork] {
            when(&mut p, call, &[ret(KILL)]);
        }
        // Signals to this process (its id, or 0 for its own process group, which holds it alone).
        let own = [
            load(ARG0_LOW),
            jump(BPF_JEQ, pid, 2, 0),
            jump(BPF_JEQ, 0, 1, 0),
            ret(KILL),
            ret(SECCOMP_RET_ALLOW),
        ];
        for call in [
            libc::SYS_kill,
            libc::SYS_tgkill,
            libc::SYS_rt_sigqueueinfo,
            libc::SYS_rt_tgsigqueueinfo,
        ] {
            when(&mut p, call, &own);
        }
        // Resource limits of this process only (its id, or 0): a worker of the judge's user could otherwise set
        // the judge's, and a CPU-time limit kills it.
        when(
            &mut p,
            libc::SYS_prlimit64,
            &[
                load(ARG0_LOW),
                jump(BPF_JEQ, pid, 2, 0),
                jump(BPF_JEQ, 0, 1, 0),
                ret(errno(libc::EPERM)),
                ret(SECCOMP_RET_ALLOW),
            ],
        );
        // The signal this worker gets when the judge dies stays: cleared (`PR_SET_PDEATHSIG` to 0), a worker
        // would outlive a judge killed while it ran, unwatched.
        when(
            &mut p,
            libc::SYS_prctl,
            &[
                load(ARG0_LOW),
                jump(BPF_JEQ, libc::PR_SET_PDEATHSIG as u32, 0, 1),
                ret(errno(libc::EPERM)),
                ret(SECCOMP_RET_ALLOW),
            ],
        );
        for call in [
            libc::SYS_tkill,
            libc::SYS_pidfd_send_signal,
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
        ] {
            when(&mut p, call, &[ret(errno(libc::EPERM))]);
        }
        // No new files: opening one that exists is allowed, creating one is not (`O_TMPFILE` includes
        // `O_DIRECTORY`, which alone opens a directory that exists).
        let creates = (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u32;
        let unless_creating = |flags_at: u32| {
            [
                load(flags_at),
                jump(BPF_JSET, creates, 0, 1),
                ret(errno(libc::EACCES)),
                ret(SECCOMP_RET_ALLOW),
            ]
        };
        when(&mut p, libc::SYS_openat, &unless_creating(ARG2_LOW));
        #[cfg(target_arch = "x86_64")]
        when(&mut p, libc::SYS_open, &unless_creating(ARG1_LOW));
        when(&mut p, libc::SYS_openat2, &[ret(errno(libc::ENOSYS))]);
        for call in [
            libc::SYS_memfd_create,
            libc::SYS_mkdirat,
            libc::SYS_mknodat,
            libc::SYS_linkat,
            libc::SYS_symlinkat,
        ] {
            when(&mut p, call, &[ret(errno(libc::EACCES))]);
        }
        #[cfg(target_arch = "x86_64")]
        for call in [
            libc::SYS_creat,
            libc::SYS_mkdir,
            libc::SYS_mknod,
            libc::SYS_link,
            libc::SYS_symlink,
        ] {
            when(&mut p, call, &[ret(errno(libc::EACCES))]);
        }
        // No System V IPC objects: a shared memory segment's pages are in no resident set once detached, and
        // like a message queue or a semaphore set it outlives the worker.
        for call in [libc::SYS_shmget, libc::SYS_msgget, libc::SYS_semget] {
            when(&mut p, call, &[ret(errno(libc::EACCES))]);
        }
        // No sockets: the network, and buffers in the kernel that no resident set counts (a socket pair holds
        // 233 KiB, and more where the submission asks). No io_uring, whose operations (a socket, an open that
        // creates a file) this filter would not see.
        for call in [libc::SYS_socket, libc::SYS_socketpair] {
            when(&mut p, call, &[ret(errno(libc::EACCES))]);
        }
        for call in [
            libc::SYS_io_uring_setup,
            libc::SYS_io_uring_enter,
            libc::SYS_io_uring_register,
        ] {
            when(&mut p, call, &[ret(errno(libc::ENOSYS))]);
        }
        p.push(ret(SECCOMP_RET_ALLOW));
        p
    }
}

/// The filter, built in advance so that installing it allocates nothing (it may run between `fork` and
/// `exec`).
#[derive(Debug, Clone)]
pub struct Filter {
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    program: Vec<libc::sock_filter>,
}

impl Default for Filter {
    fn default() -> Self {
        Self::new()
    }
}

impl Filter {
    /// The filter, for whichever process installs it.
    pub fn new() -> Self {
        Self {
            #[cfg(all(
                target_os = "linux",
                any(target_arch = "x86_64", target_arch = "aarch64")
            ))]
            program: filter::program(),
        }
    }

    /// Installs the filter on every thread of the calling process, for that process's own id. It cannot be
    /// removed. `Err` where the kernel refuses it (seccomp disabled, or `no_new_privs` not set) or this build
    /// cannot make it (see [`SUPPORTED`]). Makes only `getpid` and `seccomp` system calls and allocates
    /// nothing.
    pub fn install(&mut self) -> io::Result<()> {
        #[cfg(all(
            target_os = "linux",
            any(target_arch = "x86_64", target_arch = "aarch64")
        ))]
        {
            // SAFETY: getpid has no arguments and cannot fail.
            let pid = unsafe { libc::getpid() } as u32;
            for instruction in &mut self.program {
                if instruction.k == filter::PID_PLACEHOLDER {
                    instruction.k = pid;
                }
            }
            let fprog = libc::sock_fprog {
                len: self.program.len() as u16,
                filter: self.program.as_mut_ptr(),
            };
            // SAFETY: `fprog` points at the program, both alive for the call; the kernel copies the filter.
            let status = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    libc::SECCOMP_FILTER_FLAG_TSYNC,
                    &fprog,
                )
            };
            match status {
                0 => Ok(()),
                -1 => Err(io::Error::last_os_error()),
                _ => Err(io::Error::other("another thread could not take the filter")),
            }
        }
        #[cfg(not(all(
            target_os = "linux",
            any(target_arch = "x86_64", target_arch = "aarch64")
        )))]
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "system-call filters are built for Linux on x86-64 and aarch64 only",
        ))
    }
}

#[cfg(all(
    test,
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::Command;

    /// Runs `sh -c script` with the filter installed between `fork` and `exec` (the filter survives `exec`).
    fn confined_sh(script: &str) -> std::process::ExitStatus {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        let mut filter = Filter::new();
        // SAFETY: prctl, getpid and seccomp system calls on values prepared before the fork; nothing allocates.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                filter.install()
            });
        }
        cmd.status().expect("sh starts")
    }

    #[test]
    fn a_confined_process_runs_but_cannot_start_another() {
        // A shell builtin needs no new process.
        assert_eq!(confined_sh("exit 3").code(), Some(3));
        // Running a program does: the shell is killed with SIGSYS at its fork.
        let status = confined_sh("/bin/true; exit 3");
        assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}");
    }

    #[test]
    fn a_confined_process_may_signal_itself_only() {
        // `kill -TERM $$` signals the shell itself: allowed, and the shell dies of it.
        let status = confined_sh("kill -TERM $$; exit 0");
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
        // Signalling its parent (the test runner) kills the shell instead.
        let status = confined_sh("kill -CONT $PPID; exit 0");
        assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}");
    }

    #[test]
    fn a_confined_process_opens_files_but_creates_none() {
        let dir = tempfile::tempdir().unwrap();
        let there = dir.path().join("there");
        std::fs::write(&there, "kept\n").unwrap();
        let new = dir.path().join("new");
        // Reading a file that exists works; a redirection that would create one fails, and so does one with
        // O_CREAT on a file that exists (`>>` asks for it, as does `<>`).
        let script = format!(
            "read line < {there}; [ \"$line\" = kept ] || exit 10; \
             echo x > {new} && exit 11; echo x >> {there} && exit 12; exit 0",
            there = there.display(),
            new = new.display()
        );
        let status = confined_sh(&script);
        assert_eq!(status.code(), Some(0), "{status:?}");
        assert!(!new.exists());
        assert_eq!(std::fs::read_to_string(&there).unwrap(), "kept\n");
    }
}
