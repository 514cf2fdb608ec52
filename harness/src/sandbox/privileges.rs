//! Takes every privilege away from a worker before it runs submitted code.
//!
//! The judge makes its own memory unreadable to other processes ([`super::protect_judge`]), but a process
//! holding `CAP_SYS_PTRACE` reads (and writes) it anyway. A judge running as root, as in most CI containers,
//! would otherwise start workers that can find the expected scores in `/proc/<judge>/mem`. So every worker
//! drops every capability: from its bounding set (an `exec` by a root process cannot get them back), its
//! ambient, inheritable, permitted and effective sets, and it sets `no_new_privs` (nor can a set-user-ID or
//! file-capability program).
//!
//! A judge running as root also switches each worker to another user ([`WorkerUser`]; by default a user id of the
//! judge's own, [`super::users`]), so that submitted code does not own root's files: without it, a worker with no
//! capabilities could still rewrite any file root owns and may write (a later submission's compiler, say). The
//! worker needs no file of the judge's by name: its program, its library and its shared buffers reach it as
//! inherited descriptors.

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per capability set.
#[cfg(target_os = "linux")]
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
/// Capability numbers tried when emptying the bounding set: every one Linux defines (41 in 6.x), with room.
#[cfg(target_os = "linux")]
const CAPABILITY_NUMBERS: libc::c_ulong = 64;

/// Capability numbers (`linux/capability.h`).
#[cfg(target_os = "linux")]
const CAP_SETGID: u32 = 6;
#[cfg(target_os = "linux")]
const CAP_SETUID: u32 = 7;

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

/// The user id of `nobody`, which a judge running as root gives its workers where it cannot take an id of its own.
pub const NOBODY: u32 = 65_534;

/// Who a worker runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerUser {
    /// The judge's own user.
    Judge,
    /// Another user and group (no supplementary groups), which the worker switches to before it loads the
    /// submission; only a judge running as root can.
    Switch {
        /// The user id.
        uid: u32,
        /// The group id.
        gid: u32,
    },
}

/// A user and group id, as a worker runs with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIds {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
}

impl fmt::Display for UserIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {}, group {}", self.uid, self.gid)
    }
}

impl WorkerUser {
    /// The ids a worker of this user runs with (the judge's own effective ids for [`WorkerUser::Judge`]).
    pub fn ids(self) -> UserIds {
        match self {
            WorkerUser::Switch { uid, gid } => UserIds { uid, gid },
            // SAFETY: geteuid and getegid cannot fail.
            WorkerUser::Judge => unsafe {
                UserIds {
                    uid: libc::geteuid(),
                    gid: libc::getegid(),
                }
            },
        }
    }

    /// The default. A judge running as root takes a user and group id of its own for its workers
    /// ([`super::users`]: one that no account, process or other judge on the machine has), so that judges side by
    /// side cannot read each other's compiles; where none can be taken, `nobody` (65534, group 65534); where the
    /// judge cannot switch users at all, its own user. A judge that is not root keeps its own user. The second
    /// value says why a judge running as root settled for less than a user of its own. The choice is made once per
    /// process and held (with the id's lock) until it ends.
    pub fn automatic() -> (WorkerUser, Option<String>) {
        static CHOICE: std::sync::OnceLock<Choice> = std::sync::OnceLock::new();
        let choice = CHOICE.get_or_init(Choice::make);
        (choice.user, choice.why.clone())
    }

    /// Whether this judge can start workers as this user: `Ok` for [`WorkerUser::Judge`]; for another user, the
    /// judge must run as root, hold `CAP_SETUID` and `CAP_SETGID`, and the ids must exist in its user namespace.
    pub fn check(self) -> Result<(), String> {
        let WorkerUser::Switch { uid, gid } = self else {
            return Ok(());
        };
        can_switch()?;
        ids_mapped(uid, gid)
    }
}

/// What [`WorkerUser::automatic`] chose for this process.
struct Choice {
    user: WorkerUser,
    /// Why a judge running as root settled for less than a user of its own.
    why: Option<String>,
    /// The id taken, whose lock is held while the process runs.
    _reserved: Option<super::users::Reserved>,
}

impl Choice {
    fn make() -> Choice {
        use super::users;
        let settle = |user, why| Choice {
            user,
            why,
            _reserved: None,
        };
        if !judge_is_root() {
            return settle(WorkerUser::Judge, None);
        }
        if let Err(why) = can_switch() {
            return settle(
                WorkerUser::Judge,
                Some(format!(
                    "workers run as root, owning root's files: they cannot be switched to another user ({why})"
                )),
            );
        }
        let maps = id_map("uid_map").and_then(|uids| Ok((uids, id_map("gid_map")?)));
        let own = maps.and_then(|(uids, gids)| {
            users::reserve(
                users::RANGE,
                std::path::Path::new(users::LOCKS),
                &users::ids_in_use(),
                |id| id_is_mapped(&uids, id) && id_is_mapped(&gids, id),
            )
        });
        let why_not_own = match own {
            Ok(reserved) => {
                crate::submission::remove_compiles_left_by(reserved.id());
                return Choice {
                    user: WorkerUser::Switch {
                        uid: reserved.id(),
                        gid: reserved.id(),
                    },
                    why: None,
                    _reserved: Some(reserved),
                };
            }
            Err(why) => why,
        };
        match ids_mapped(NOBODY, NOBODY) {
            Ok(()) => settle(
                WorkerUser::Switch {
                    uid: NOBODY,
                    gid: NOBODY,
                },
                Some(format!(
                    "workers run as user {NOBODY} (nobody), as those of other judges on this machine may, so a \
                     submission could read another judge's compile: no user of the judge's own could be taken \
                     ({why_not_own})"
                )),
            ),
            Err(why) => settle(
                WorkerUser::Judge,
                Some(format!(
                    "workers run as root, owning root's files: they cannot be switched to another user \
                     ({why_not_own}; {why})"
                )),
            ),
        }
    }
}

/// Whether this judge may switch a worker to another user: it runs as root, its user namespace allows
/// `setgroups`, and it holds `CAP_SETUID` and `CAP_SETGID`.
fn can_switch() -> Result<(), String> {
    if !judge_is_root() {
        return Err(format!(
            "only a judge running as root can start workers as another user (this one runs as user {})",
            // SAFETY: geteuid cannot fail.
            unsafe { libc::geteuid() }
        ));
    }
    #[cfg(target_os = "linux")]
    {
        // A user namespace may forbid `setgroups` (after "deny" was written there), which the switch needs.
        if let Ok(text) = std::fs::read_to_string("/proc/self/setgroups")
            && text.trim() == "deny"
        {
            return Err(
                "this user namespace forbids setgroups (/proc/self/setgroups says deny)".to_owned(),
            );
        }
        let effective = capability_sets()
            .map_err(|e| format!("cannot read the judge's capabilities: {e}"))?
            .effective;
        for (name, bit) in [("CAP_SETGID", CAP_SETGID), ("CAP_SETUID", CAP_SETUID)] {
            if effective & (1 << bit) == 0 {
                return Err(format!("the judge lacks {name}"));
            }
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    Err("switching users is built for Linux only".to_owned())
}

/// Whether user `uid` and group `gid` exist in the judge's user namespace.
fn ids_mapped(uid: u32, gid: u32) -> Result<(), String> {
    for (what, file, id) in [("user", "uid_map", uid), ("group", "gid_map", gid)] {
        if !id_is_mapped(&id_map(file)?, id) {
            return Err(format!(
                "{what} {id} does not exist in this user namespace (/proc/self/{file} maps no range holding it)"
            ));
        }
    }
    Ok(())
}

/// Whether the judge's effective user is root.
pub fn judge_is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// This process's `/proc/self/uid_map` or `gid_map` (`file`).
fn id_map(file: &str) -> Result<String, String> {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .map_err(|e| format!("cannot read /proc/self/{file}: {e}"))
}

/// Whether `id` lies in a range of a `/proc/<pid>/uid_map` or `gid_map` (lines of "inside outside count").
fn id_is_mapped(map: &str, id: u32) -> bool {
    map.lines().any(|line| {
        let fields: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        matches!(fields[..], [inside, _, count] if (inside..inside + count).contains(&u64::from(id)))
    })
}

/// Drops every capability of the calling thread and of what it will `exec`, sets `no_new_privs`, and switches to
/// `user` (dropping supplementary groups) when it is another user than the judge's.
///
/// Makes only `prctl`, `setgroups`, `setgid`, `setuid` and `capset` system calls on stack values, so it may run
/// between `fork` and `exec`. Call it before the process has other threads: capabilities and credentials belong
/// to threads, and new ones inherit the creator's. The switch clears the parent-death signal, so set that after.
/// A no-op outside Linux, where switching users is an error.
pub fn drop_all(user: WorkerUser) -> io::Result<()> {
    #[cfg(not(target_os = "linux"))]
    if user != WorkerUser::Judge {
        return Err(io::Error::other("switching users is built for Linux only"));
    }
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
        if let WorkerUser::Switch { uid, gid } = user {
            // Groups first: once the user id is not root, changing them is no longer allowed.
            // SAFETY: setgroups with a count of 0 reads nothing through its null pointer; setgid and setuid take
            // integers.
            unsafe {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
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

/// Confines a child between `fork` and `exec`: lowers each of `rlimits` ([`super::limits::set_limit`]), drops
/// every privilege and switches to `user` ([`drop_all`]), then asks for `SIGKILL` when the judge dies (after the
/// switch, which clears it). Async-signal-safe calls only, on values the caller captured before the fork.
pub fn confine(rlimits: &[(super::limits::Resource, u64)], user: WorkerUser) -> io::Result<()> {
    for &(resource, value) in rlimits {
        super::limits::set_limit(resource, value)?;
    }
    drop_all(user)?;
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_PDEATHSIG takes a signal number; no pointers are involved.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The calling thread's effective and permitted capability sets, one bit per capability.
#[cfg(target_os = "linux")]
struct CapabilitySets {
    effective: u64,
    permitted: u64,
}

#[cfg(target_os = "linux")]
fn capability_sets() -> io::Result<CapabilitySets> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut sets = [CapData::default(); 2];
    // SAFETY: capget writes the header and two data words, all valid and writable for the call.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, sets.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
    Ok(CapabilitySets {
        effective: join(sets[0].effective, sets[1].effective),
        permitted: join(sets[0].permitted, sets[1].permitted),
    })
}

/// Whether the calling thread holds any capability, effective or permitted (`false` outside Linux).
pub fn any_held() -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        let sets = capability_sets()?;
        Ok(sets.effective != 0 || sets.permitted != 0)
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
            cmd.pre_exec(|| drop_all(WorkerUser::Judge));
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
    fn ids_are_found_in_the_ranges_of_a_namespace_map() {
        // The initial namespace, and a rootless container's: 0 is the user, 1..65537 from /etc/subuid.
        let all = "         0          0 4294967295\n";
        let rootless = "         0       1000          1\n         1     100000      65536\n";
        assert!(id_is_mapped(all, NOBODY));
        assert!(id_is_mapped(rootless, NOBODY));
        assert!(id_is_mapped(rootless, 0));
        assert!(!id_is_mapped(rootless, 65_537));
        // `unshare -r`: root alone.
        assert!(!id_is_mapped("0 1000 1\n", NOBODY));
        assert!(!id_is_mapped("", 0));
    }

    #[test]
    fn a_judge_running_as_root_takes_a_user_of_its_own_and_keeps_it() {
        let (user, why_not) = WorkerUser::automatic();
        if judge_is_root() {
            match why_not {
                // Here (a root judge in the initial namespace, or a container mapping the range) it can.
                None => {
                    let WorkerUser::Switch { uid, gid } = user else {
                        panic!("{user:?}")
                    };
                    assert_eq!(uid, gid);
                    assert!(super::super::users::RANGE.contains(&uid), "{uid}");
                    assert_eq!(user.check(), Ok(()));
                    // Its lock is held: no other process (nor this one, asking again) can take it.
                    let path =
                        std::path::Path::new(super::super::users::LOCKS).join(uid.to_string());
                    let again = std::fs::File::open(&path).unwrap();
                    assert!(matches!(
                        again.try_lock_shared(),
                        Err(std::fs::TryLockError::WouldBlock)
                    ));
                }
                // Where it cannot, the reason is given.
                Some(why) => assert!(
                    why.contains("workers run as user 65534")
                        || why.contains("workers run as root"),
                    "{why}"
                ),
            }
            // Asked again, the process gets the same answer.
            assert_eq!(WorkerUser::automatic().0, user);
        } else {
            assert_eq!((user, why_not), (WorkerUser::Judge, None));
            let err = WorkerUser::Switch { uid: 1, gid: 1 }.check().unwrap_err();
            assert!(err.contains("only a judge running as root"), "{err}");
        }
        assert_eq!(WorkerUser::Judge.check(), Ok(()));
    }

    #[test]
    fn holding_nothing_after_dropping_everything_in_a_thread_of_our_own() {
        // Capabilities belong to threads: dropping them in a fresh thread leaves the test runner as it was.
        let held = std::thread::spawn(|| {
            drop_all(WorkerUser::Judge).expect("dropping privileges never needs any");
            any_held().expect("capget works")
        })
        .join()
        .expect("the thread ends");
        assert!(!held);
    }
}
