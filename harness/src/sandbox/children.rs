//! The judge's own child processes: those it started (workers, compilers), and orphans it adopted.
//!
//! [`super::protect_judge`] makes the judge a subreaper, so a process that a submission started and whose
//! worker died (a crash, an `exit`) becomes the judge's child rather than init's. Every process the judge
//! starts goes through [`spawn`], which records it; [`kill_adopted`] then kills every other child, the
//! adopted ones. A judge that is not a subreaper (library use, tests) adopts nothing and kills nothing.

use std::collections::BTreeSet;
use std::io;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};

/// Pids of the children the judge started and has not yet reaped.
static STARTED: Mutex<BTreeSet<libc::pid_t>> = Mutex::new(BTreeSet::new());

fn started() -> MutexGuard<'static, BTreeSet<libc::pid_t>> {
    STARTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `command` and records it as one of the judge's own children (the record is held while it starts,
/// so [`kill_adopted`] never sees it unrecorded).
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut set = started();
    let child = command.spawn()?;
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        set.insert(pid);
    }
    Ok(child)
}

/// Forgets a child started with [`spawn`], once it has been reaped.
pub fn reaped(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        started().remove(&pid);
    }
}

/// Whether this process adopts orphaned descendants.
fn is_subreaper() -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut flag: libc::c_int = 0;
        // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer, which is valid for the call.
        let got =
            unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut flag as *mut libc::c_int) };
        got == 0 && flag != 0
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Kills and reaps every child of this process that it did not start (orphans it adopted as subreaper), with
/// everything they started, and reaps adopted ones that already ended. What a killed orphan leaves is adopted
/// in turn, so this repeats until a round finds nothing. Does nothing unless this process is a subreaper.
pub fn kill_adopted() {
    if !is_subreaper() {
        return;
    }
    let set = started();
    let me = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    for _ in 0..16 {
        let adopted: Vec<(libc::pid_t, char)> = super::supervisor::children_of(me)
            .into_iter()
            .filter(|(pid, _)| !set.contains(pid))
            .collect();
        if adopted.is_empty() {
            break;
        }
        for &(pid, state) in &adopted {
            if state != 'Z' {
                super::supervisor::kill_descendants(pid);
                // SAFETY: `pid` is our own child and not yet reaped (we reap it just below), so the pid is
                // not reused.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let mut status = 0;
            // SAFETY: waiting for one specific child of ours; `status` is valid for the call.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
    }
}
