//! Running untrusted submissions: a worker process per case, a small protocol to drive it, and shared
//! buffers for the data (DESIGN.md §6).
//!
//! The judge re-executes itself as `judge worker` ([`worker`]); the child loads the submission's library and
//! runs the calls the judge asks for ([`protocol`]) on arrays in a shared region ([`region`]), on the host or,
//! for CUDA submissions, on device copies of them ([`cuda`]). The judge
//! ([`supervisor`]) holds the oracle and does every check; it watches the child's wall-clock time and memory
//! ([`limits`]) and turns a crash (with its [`signal`] named), a hang or memory exhaustion into a verdict.

pub mod children;
pub mod cuda;
pub mod env;
pub mod landlock;
pub mod limits;
pub mod privileges;
pub mod protocol;
pub mod region;
pub mod seccomp;
pub mod signal;
pub mod supervisor;
pub mod users;
pub mod worker;

use std::path::PathBuf;

pub use limits::Limits;
pub use privileges::{UserIds, WorkerUser};
pub use supervisor::{SandboxError, Worker, WorkerCommand};

/// Everything needed to start workers: the program, its limits, its working directory and where the shared
/// regions go (both private to this judge).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The worker program.
    pub worker: WorkerCommand,
    /// Its limits.
    pub limits: Limits,
    /// The workers' working directory (built libraries go there too).
    pub workdir: PathBuf,
    /// Where shared regions are created where the kernel has no sealable memory files (see [`region_base`]).
    pub regions: PathBuf,
    /// Who the workers run as.
    pub user: WorkerUser,
    /// Variables of the judge's environment that workers and compilers get beyond those they keep anyway
    /// ([`env::Who::keeps`]).
    pub pass_env: Vec<String>,
}

/// Where shared regions are best placed: `/dev/shm` when it exists (memory-backed), else the temp directory.
pub fn region_base() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// The private directories of one judge run (working directory and shared regions), removed when dropped.
#[derive(Debug)]
pub struct Workspace {
    work: tempfile::TempDir,
    regions: tempfile::TempDir,
}

impl Workspace {
    /// Creates both directories, mode 0700: no other user may list them or reach what they hold (workers reach
    /// their libraries and regions through inherited descriptors). Left to the default, they would be 0755.
    pub fn create() -> std::io::Result<Workspace> {
        use std::os::unix::fs::PermissionsExt;
        let private = || std::fs::Permissions::from_mode(0o700);
        Ok(Workspace {
            work: tempfile::Builder::new()
                .prefix("judge-work-")
                .permissions(private())
                .tempdir()?,
            regions: tempfile::Builder::new()
                .prefix("judge-regions-")
                .permissions(private())
                .tempdir_in(region_base())?,
        })
    }

    /// A sandbox configuration using these directories, its workers run as `user`.
    pub fn config(&self, worker: WorkerCommand, limits: Limits, user: WorkerUser) -> SandboxConfig {
        SandboxConfig {
            worker,
            limits,
            workdir: self.work.path().to_owned(),
            regions: self.regions.path().to_owned(),
            user,
            pass_env: Vec::new(),
        }
    }
}

/// Makes the judge's own memory unreadable to its workers: without this, a worker running as the same user
/// could read the oracle's scores out of `/proc/<judge>/mem` (wherever ptrace is not restricted). Workers
/// start with the default again, as `exec` resets it. Also makes the judge a subreaper, so processes left by a
/// worker that died are handed to the judge, which kills them ([`children::kill_adopted`]). A no-op outside
/// Linux.
pub fn protect_judge() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: both take an integer flag; no pointers are involved. Failure only leaves the default in
        // place, which weakens a defence but breaks nothing.
        unsafe {
            libc::prctl(libc::PR_SET_DUMPABLE, 0);
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_s_directories_are_the_judge_s_alone() {
        use std::os::unix::fs::PermissionsExt;
        let workspace = Workspace::create().unwrap();
        for dir in [workspace.work.path(), workspace.regions.path()] {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o7777, 0o700, "{}", dir.display());
        }
    }
}
