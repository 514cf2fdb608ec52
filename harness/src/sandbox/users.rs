//! A worker user of the judge's own: a user id that no account, no process and no other judge on the machine has,
//! taken for as long as the judge runs.
//!
//! Two judges that ran their workers as one user (`nobody`) could not write each other's files (Landlock) nor
//! signal or trace each other's processes (the system-call filter), but a submission of one could read the
//! other's compile while it ran: the copy of the source in a directory of that user's, and the compiler's working
//! directory and memory under `/proc`, which belong to that user too. So a judge running as root takes a user and
//! group id of its own from [`RANGE`] and runs its workers and compilers as it: the kernel then keeps the two
//! judges' submissions apart as it keeps any two users apart.
//!
//! [`RANGE`] is 61184–65519, the range that systemd leaves to users made at run time, which no account file
//! names. An id there is taken when
//! - no account and no group of that number exist (`getpwuid_r`, `getgrgid_r`: systemd's own run-time users are
//!   found there through NSS, and by a file of that number in `/run/systemd/dynamic-uid`, where systemd records
//!   them);
//! - no process runs with it as any of its user or group ids, supplementary groups included
//!   (`/proc/<pid>/status`; where `/proc` hides other users' processes, the locks below still keep judges apart);
//! - the judge holds the lock (`flock`) on the file of that number in [`LOCKS`], which the kernel releases when
//!   the judge's process ends, however it ends. The directory must be a directory of the judge's user alone (no
//!   link, nobody else may write it), or another user could take the ids or free them.

use std::collections::HashSet;
use std::fs::File;
use std::ops::RangeInclusive;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// The ids a judge running as root takes its workers' user from.
pub const RANGE: RangeInclusive<u32> = 61_184..=65_519;

/// Where judges hold the locks on the ids they have taken: one file per id, named by its number.
pub const LOCKS: &str = "/tmp/judge-worker-users";

/// An id taken by this process: the lock on it is held while this value lives.
#[derive(Debug)]
pub struct Reserved {
    id: u32,
    /// The open lock file; dropping it releases the id.
    _lock: File,
}

impl Reserved {
    /// The user and group id taken.
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// Takes the first id of `range` that no account, group or process in `in_use` has, that `usable` accepts (an id
/// the judge can switch to), and whose lock in the directory `locks` no other process holds. The directory is
/// made (mode 0755) where it does not exist. Errors name the path or say that every id is taken.
pub fn reserve(
    range: RangeInclusive<u32>,
    locks: &Path,
    in_use: &HashSet<u32>,
    usable: impl Fn(u32) -> bool,
) -> Result<Reserved, String> {
    lock_directory(locks)?;
    for id in range.clone() {
        if in_use.contains(&id) || !usable(id) || named(id) || systemd_holds(id) {
            continue;
        }
        let path = locks.join(id.to_string());
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => return Ok(Reserved { id, _lock: file }),
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("{}: cannot lock it: {e}", path.display()));
            }
        }
    }
    Err(format!(
        "every id from {} to {} is taken: an account, a group, a process or another judge has it",
        range.start(),
        range.end()
    ))
}

/// Makes `dir` where it does not exist, and checks that it is a directory of this process's user that no one
/// else may write.
fn lock_directory(dir: &Path) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: geteuid cannot fail.
    let owner = unsafe { libc::geteuid() };
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a directory (a link or a file is there)",
            dir.display()
        ));
    }
    if meta.uid() != owner || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is not the judge's user's alone (owner {}, mode {:o}): another user could take or free ids there",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Whether an account or a group has the number `id`. A lookup that fails for another reason than "none" counts
/// as yes, so that such an id is passed over.
fn named(id: u32) -> bool {
    let mut buf = vec![0 as libc::c_char; 1 << 14];
    let absent = |rc: libc::c_int, found: bool| {
        !found
            && matches!(
                rc,
                0 | libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM
            )
    };
    // SAFETY: each call gets a zeroed record, a buffer of the length given and a result pointer, all alive for
    // the call; the records are not read afterwards (only whether one was found).
    unsafe {
        let mut account: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(id, &mut account, buf.as_mut_ptr(), buf.len(), &mut found);
        if !absent(rc, !found.is_null()) {
            return true;
        }
        let mut group: libc::group = std::mem::zeroed();
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrgid_r(id, &mut group, buf.as_mut_ptr(), buf.len(), &mut found);
        !absent(rc, !found.is_null())
    }
}

/// Whether systemd has given `id` to a user it made at run time (it keeps a file of that number there).
fn systemd_holds(id: u32) -> bool {
    std::fs::symlink_metadata(Path::new("/run/systemd/dynamic-uid").join(id.to_string())).is_ok()
}

/// Every user and group id (real, effective, saved and file system, and the supplementary groups) of the
/// processes that `/proc` shows.
pub fn ids_in_use() -> HashSet<u32> {
    let mut ids = HashSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return ids;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        // A process may end between the listing and the read: it then holds no id.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        ids.extend(status_ids(&status));
    }
    ids
}

/// The ids on the `Uid:`, `Gid:` and `Groups:` lines of a `/proc/<pid>/status`.
fn status_ids(status: &str) -> impl Iterator<Item = u32> + '_ {
    status
        .lines()
        .filter_map(|line| {
            ["Uid:", "Gid:", "Groups:"]
                .into_iter()
                .find_map(|field| line.strip_prefix(field))
        })
        .flat_map(|ids| ids.split_whitespace().filter_map(|id| id.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locks() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn two_reservations_take_two_ids_and_a_released_one_is_taken_again() {
        let dir = locks();
        let none = HashSet::new();
        let first = reserve(61_184..=61_200, dir.path(), &none, |_| true).unwrap();
        let second = reserve(61_184..=61_200, dir.path(), &none, |_| true).unwrap();
        assert_ne!(first.id(), second.id());
        assert!(RANGE.contains(&first.id()) && RANGE.contains(&second.id()));
        let id = first.id();
        drop(first);
        let third = reserve(61_184..=61_200, dir.path(), &none, |_| true).unwrap();
        assert_eq!(third.id(), id);
        assert!(dir.path().join(id.to_string()).is_file());
    }

    #[test]
    fn ids_that_processes_hold_or_the_judge_cannot_use_are_passed_over() {
        let dir = locks();
        let busy = HashSet::from([61_184, 61_185]);
        let taken = reserve(61_184..=61_200, dir.path(), &busy, |id| id != 61_186).unwrap();
        assert_eq!(taken.id(), 61_187);
    }

    #[test]
    fn an_id_an_account_has_is_never_taken() {
        // 0 is root's and 65534 nobody's on every Linux machine this runs on.
        let dir = locks();
        let err = reserve(0..=0, dir.path(), &HashSet::new(), |_| true).unwrap_err();
        assert!(err.contains("every id from 0 to 0 is taken"), "{err}");
        assert!(named(0));
    }

    #[test]
    fn a_full_range_is_an_error_that_names_it() {
        let dir = locks();
        let _held = reserve(61_190..=61_190, dir.path(), &HashSet::new(), |_| true).unwrap();
        let err = reserve(61_190..=61_190, dir.path(), &HashSet::new(), |_| true).unwrap_err();
        assert!(
            err.contains("every id from 61190 to 61190 is taken"),
            "{err}"
        );
    }

    #[test]
    fn a_lock_directory_others_may_write_or_a_link_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = locks();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = reserve(61_184..=61_200, dir.path(), &HashSet::new(), |_| true).unwrap_err();
        assert!(err.contains("is not the judge's user's alone"), "{err}");
        assert!(err.contains("mode 777"), "{err}");

        let real = locks();
        let link = real.path().join("link");
        std::os::unix::fs::symlink(real.path(), &link).unwrap();
        let err = reserve(61_184..=61_200, &link, &HashSet::new(), |_| true).unwrap_err();
        assert!(err.contains("is not a directory"), "{err}");
    }

    #[test]
    fn a_missing_lock_directory_is_made() {
        let dir = locks();
        let inner = dir.path().join("users");
        let taken = reserve(61_184..=61_200, &inner, &HashSet::new(), |_| true).unwrap();
        assert!(inner.join(taken.id().to_string()).is_file());
    }

    #[test]
    fn the_ids_of_a_status_file_are_read_from_its_uid_gid_and_groups_lines() {
        let status = "Name:\tcat\nUid:\t0\t61184\t0\t0\nGid:\t5\t5\t61190\t5\nGroups:\t7 61999\nNgid:\t61300\n";
        let ids: HashSet<u32> = status_ids(status).collect();
        assert_eq!(ids, HashSet::from([0, 61_184, 5, 61_190, 7, 61_999]));
        // This process is one of those `/proc` shows.
        // SAFETY: geteuid cannot fail.
        assert!(ids_in_use().contains(&unsafe { libc::geteuid() }));
    }
}
