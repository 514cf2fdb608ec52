//! Takes every privilege away from a worker before it runs submitted code.
//!
//! The judge makes its own memory unreadable to other processes ([`super::protect_judge`]), but a process
//! holding `CAP_SYS_PTRACE` reads (and writes) it anyway. A judge running as root, as in most CI containers,
//! would otherwise start workers that can find the expected scores in `/proc/<judge>/mem`. So every worker
//! drops every capability: from its bounding set (an `exec` by a root process cannot get them back), its
//! ambient, inheritable, permitted and effective sets, and it sets `no_new_privs` (nor can a set-user-ID or
//! file-capability program). The user id stays the same; file permissions still apply as they would to a
//! process of that user without privileges.

use std::io;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per capability set.
#[cfg(target_os = "linux")]
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Capability numbers tried when emptying the bounding set: every one Linux defines (41 in 6.x), with room.
#[cfg(target_os = "linux")]
const CAPABILITY_NUMBERS: libc::c_ulong = 64;

/// `struct __user_cap_header_struct`.
#[cfg(target_os = "linux")]
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`: one 32-bit word of each set.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops every capability of the calling thread and of what it will `exec`, and sets `no_new_privs`.
///
/// Makes only `prctl` and `capset` system calls on stack values, so it may run between `fork` and `exec`. Call
/// it before the process has other threads: capabilities belong to threads, and new ones inherit the creator's.
/// A no-op outside Linux.
pub fn drop_all() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY (every block below): prctl with integer arguments only; capset with pointers to a header and
        // two data words that live on this stack frame for the whole call.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for capability in 0..CAPABILITY_NUMBERS {
            // EINVAL past the last capability this kernel knows; EPERM without CAP_SETPCAP, where the process
            // holds no capability to lose and, with no_new_privs set, can gain none by `exec`.
            unsafe {
                libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0);
            }
        }
        // EINVAL on kernels without ambient capabilities (before 4.3), which then have none to clear.
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            );
        }
        let header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let none = [CapData::default(); 2];
        if unsafe { libc::syscall(libc::SYS_capset, &header, none.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether the calling thread holds any capability, effective or permitted (`false` outside Linux).
pub fn any_held() -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        let mut header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut sets = [CapData::default(); 2];
        // SAFETY: capget writes the header and two data words, all valid and writable for the call.
        if unsafe { libc::syscall(libc::SYS_capget, &mut header, sets.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sets.iter().any(|s| s.effective != 0 || s.permitted != 0))
    }
    #[cfg(not(target_os = "linux"))]
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a child process, so the test runner keeps its own privileges.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_process_started_after_dropping_holds_nothing_even_as_root() {
        use std::os::unix::process::CommandExt;
        use std::process::Command;

        // `exec` by a root process would restore a full set unless the bounding set is empty.
        let mut cmd = Command::new("grep");
        cmd.args([
            "-E",
            "^(Cap(Eff|Prm|Bnd|Amb)|NoNewPrivs)",
            "/proc/self/status",
        ]);
        // SAFETY: drop_all makes only async-signal-safe system calls.
        unsafe {
            cmd.pre_exec(drop_all);
        }
        let output = cmd.output().expect("grep runs");
        let text = String::from_utf8_lossy(&output.stdout);
        for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
            let line = text
                .lines()
                .find(|l| l.starts_with(set))
                .unwrap_or_else(|| panic!("no {set} line in {text}"));
            assert!(
                line.ends_with("0000000000000000"),
                "{set} not empty: {line}"
            );
        }
        assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    }

    #[test]
    fn holding_nothing_after_dropping_everything_in_a_thread_of_our_own() {
        // Capabilities belong to threads: dropping them in a fresh thread leaves the test runner as it was.
        let held = std::thread::spawn(|| {
            drop_all().expect("dropping privileges never needs any");
            any_held().expect("capget works")
        })
        .join()
        .expect("the thread ends");
        assert!(!held);
    }
}
