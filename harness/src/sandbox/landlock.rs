//! Where a worker or a compiler may write: nowhere but a few named places, by Landlock (Linux 5.13+).
//!
//! A worker runs as a user of its own only where the judge may switch users; a judge that is not root, or one
//! told `--worker-user judge`, starts workers of its own user, and two judges given one `--worker-user` start
//! workers of the same user. Such a worker could rewrite any existing file that user may write: its own library,
//! the judge's results, a later submission's compiler. The system-call filter stops new files, not writes to old
//! ones. A Landlock ruleset does: it is made before `fork`, and the child restricts itself between `fork` and
//! `exec`, so the worker's program, the submission and every process they start keep it, whoever they run as.
//!
//! The ruleset handles every right that changes the file system (writing or truncating a file, making or removing
//! an entry, moving one elsewhere) and grants them only beneath the paths it is given: for a worker, `/dev/null`,
//! the GPU's device files (`/dev/nvidia*`, which CUDA opens for writing) and the directory of its shared regions;
//! for a compiler, its own directory and `/dev/null`; for both, their own threads' entries in `/proc/self/task`
//! (CUDA names its threads there). Reading and executing stay as the user's permissions have them. Where the
//! kernel has no Landlock, [`WriteRules::beneath`] says so and nothing is restricted; the judge prints that once
//! on stderr.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Landlock's file-system access rights (`linux/landlock.h`).
mod access {
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const REMOVE_DIR: u64 = 1 << 4;
    pub const REMOVE_FILE: u64 = 1 << 5;
    pub const MAKE_CHAR: u64 = 1 << 6;
    pub const MAKE_DIR: u64 = 1 << 7;
    pub const MAKE_REG: u64 = 1 << 8;
    pub const MAKE_SOCK: u64 = 1 << 9;
    pub const MAKE_FIFO: u64 = 1 << 10;
    pub const MAKE_BLOCK: u64 = 1 << 11;
    pub const MAKE_SYM: u64 = 1 << 12;
    /// ABI 2: linking or renaming a file into another directory.
    pub const REFER: u64 = 1 << 13;
    /// ABI 3: truncating a file.
    pub const TRUNCATE: u64 = 1 << 14;
}

/// `LANDLOCK_CREATE_RULESET_VERSION`: ask for the ABI version instead of making a ruleset.
const CREATE_RULESET_VERSION: u32 = 1;
/// `LANDLOCK_RULE_PATH_BENEATH`.
const RULE_PATH_BENEATH: libc::c_int = 1;

/// `struct landlock_ruleset_attr` as ABI 1 has it (later fields are optional and left out).
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
}

/// `struct landlock_path_beneath_attr`.
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version this kernel offers, or why it offers none (not built in, or turned off at boot).
pub fn abi() -> Result<u32, String> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: with a null attribute, size 0 and the version flag, the call reads nothing and returns a number.
        let version = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<RulesetAttr>(),
                0usize,
                CREATE_RULESET_VERSION,
            )
        };
        if version >= 1 {
            return u32::try_from(version).map_err(|_| format!("Landlock ABI {version}"));
        }
        let e = io::Error::last_os_error();
        Err(match e.raw_os_error() {
            Some(libc::ENOSYS) => {
                "this kernel has no Landlock (Linux 5.13 or newer has it)".to_owned()
            }
            Some(libc::EOPNOTSUPP) => {
                "Landlock is turned off in this kernel (boot option `lsm=`)".to_owned()
            }
            _ => format!("Landlock does not answer: {e}"),
        })
    }
    #[cfg(not(target_os = "linux"))]
    Err(NOT_LINUX.to_owned())
}

/// What [`abi`] says outside Linux.
#[cfg(not(target_os = "linux"))]
const NOT_LINUX: &str = "Landlock is Linux's; this is another system";

/// How the workers' and the compilers' writes are confined on this machine, as the gate records it:
/// `Landlock ABI N`, or `nothing:` and the reason.
pub fn confinement() -> String {
    match abi() {
        Ok(abi) => format!("Landlock ABI {abi}"),
        Err(why) => format!("nothing: {why}"),
    }
}

/// The rights that change the file system, as far as ABI `abi` knows them.
fn write_rights(abi: u32) -> u64 {
    use access::*;
    let mut rights = WRITE_FILE
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    if abi >= 2 {
        rights |= REFER;
    }
    if abi >= 3 {
        rights |= TRUNCATE;
    }
    rights
}

/// The rights that apply to a file that is not a directory.
fn file_rights(abi: u32) -> u64 {
    write_rights(abi) & (access::WRITE_FILE | access::TRUNCATE)
}

/// Adds to `ruleset` the rule that grants `access` beneath the file or directory open as `parent`.
/// Async-signal-safe (one system call), for the child's rule in [`ChildRules::apply`].
#[cfg(target_os = "linux")]
fn add_rule(ruleset: RawFd, parent: RawFd, access: u64) -> io::Result<()> {
    let rule = PathBeneathAttr {
        allowed_access: access,
        parent_fd: parent,
    };
    // SAFETY: `rule` is a valid `landlock_path_beneath_attr` alive for the call; the kernel checks both
    // descriptors.
    let added = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            ruleset,
            RULE_PATH_BENEATH,
            &rule as *const PathBeneathAttr,
            0u32,
        )
    };
    if added != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A Landlock ruleset, made before `fork`, that lets the process that applies it write only beneath given paths.
#[derive(Debug)]
pub struct WriteRules {
    ruleset: OwnedFd,
    /// This kernel's Landlock ABI, which says what rights there are.
    abi: u32,
    /// The paths writes stay allowed beneath (those that existed when the rules were made).
    allowed: Vec<PathBuf>,
}

impl WriteRules {
    /// Rules that allow writes only beneath `paths` (directories, or single files such as a device); a path that
    /// does not exist is left out. `Ok(Err(reason))` where this kernel has no Landlock.
    pub fn beneath(paths: &[PathBuf]) -> io::Result<Result<WriteRules, String>> {
        let abi = match abi() {
            Ok(abi) => abi,
            Err(why) => return Ok(Err(why)),
        };
        #[cfg(target_os = "linux")]
        {
            let attr = RulesetAttr {
                handled_access_fs: write_rights(abi),
            };
            // SAFETY: `attr` is a valid `landlock_ruleset_attr` of the size given, alive for the call.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_landlock_create_ruleset,
                    &attr as *const RulesetAttr,
                    std::mem::size_of::<RulesetAttr>(),
                    0u32,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = RawFd::try_from(fd)
                .map_err(|_| io::Error::other("a ruleset descriptor out of range"))?;
            // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
            let ruleset = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut allowed = Vec::new();
            for path in paths {
                let parent = match File::options()
                    .read(true)
                    .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                    .open(path)
                {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
                    }
                };
                let access = if parent.metadata()?.is_dir() {
                    write_rights(abi)
                } else {
                    file_rights(abi)
                };
                add_rule(ruleset.as_raw_fd(), parent.as_raw_fd(), access)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                allowed.push(path.clone());
            }
            Ok(Ok(WriteRules {
                ruleset,
                abi,
                allowed,
            }))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (abi, paths);
            Ok(Err(NOT_LINUX.to_owned()))
        }
    }

    /// The rules for a worker: `/dev/null`, every `/dev/nvidia*` entry (CUDA opens the devices for writing) and
    /// `regions`, where shared regions live when the kernel has no sealed memory files.
    pub fn for_worker(regions: &Path) -> io::Result<Result<WriteRules, String>> {
        let mut paths = vec![PathBuf::from("/dev/null"), regions.to_owned()];
        if let Ok(entries) = std::fs::read_dir("/dev") {
            paths.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
                    .map(|e| e.path()),
            );
        }
        Self::beneath(&paths)
    }

    /// The paths writes stay allowed beneath.
    pub fn allowed(&self) -> &[PathBuf] {
        &self.allowed
    }

    /// What a child applies between `fork` and `exec` (see [`ChildRules::apply`]).
    pub fn for_child(&self) -> ChildRules {
        ChildRules {
            ruleset: self.ruleset.as_raw_fd(),
            abi: self.abi,
        }
    }
}

/// A [`WriteRules`] as a forked child applies it: plain numbers, so the child needs no allocation.
#[derive(Debug, Clone, Copy)]
pub struct ChildRules {
    ruleset: RawFd,
    /// This kernel's Landlock ABI.
    abi: u32,
}

impl ChildRules {
    /// Lets the calling process also write beneath its own `/proc/self/task` (each thread's name and attributes:
    /// CUDA's `cuInit` names its threads there and fails without it), then applies the rules to it for good;
    /// what it `exec`s and every process it starts keep them. The rule is added here, in the child, because
    /// `/proc/self` names the process that opens it. Async-signal-safe (open, two system calls, close), for
    /// `pre_exec`; needs `no_new_privs` (or `CAP_SYS_ADMIN`) first.
    pub fn apply(self) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            const TASKS: &[u8] = b"/proc/self/task\0";
            // SAFETY: a NUL-terminated path and integer flags; the descriptor is closed below.
            let tasks =
                unsafe { libc::open(TASKS.as_ptr().cast(), libc::O_PATH | libc::O_CLOEXEC) };
            // Without a `/proc` to open (a bare container), there is no such rule to add: the rules apply without
            // it, and only CUDA, which needs it, will fail to start there.
            if tasks >= 0 {
                let added = add_rule(self.ruleset, tasks, file_rights(self.abi));
                // SAFETY: closing the descriptor opened above, which nothing else holds.
                unsafe { libc::close(tasks) };
                added?;
            }
            // SAFETY: one system call on a descriptor number; no memory is passed.
            if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, self.ruleset, 0u32) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (self.ruleset, self.abi);
        Ok(())
    }
}
