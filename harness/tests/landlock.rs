//! The Landlock rules that confine the writes of workers and compilers (`sandbox::landlock`).
//!
//! Where the kernel has no Landlock, the trial that needs it is reported as *ignored*, never as passed, after a
//! visible `skipped: …` line; forced to run (`--include-ignored`) it fails and says why. The trial of what the
//! judge says about the kernel runs everywhere.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use harness::sandbox::landlock::{WriteRules, abi, confinement};
use libtest_mimic::{Arguments, Failed, Trial};

/// What the gate records and the judge warns about matches what the kernel answers: rules are made exactly where
/// it has Landlock, keep only the paths that exist, and otherwise come back refused with the reason `abi` gives.
fn the_judge_says_what_the_kernel_has() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let paths = [dir.path().to_owned(), PathBuf::from("/nonexistent")];
    let rules = WriteRules::beneath(&paths).map_err(|e| e.to_string())?;
    match (abi(), rules) {
        (Ok(n), Ok(rules)) => {
            if rules.allowed() != [dir.path().to_owned()] {
                return Err(format!("allowed {:?}", rules.allowed()));
            }
            if confinement() != format!("Landlock ABI {n}") {
                return Err(format!(
                    "Landlock ABI {n}, but the judge records {:?}",
                    confinement()
                ));
            }
        }
        (Err(why), Err(refused)) => {
            if refused != why || confinement() != format!("nothing: {why}") {
                return Err(format!(
                    "no Landlock ({why}), but the rules say {refused:?} and the judge records {:?}",
                    confinement()
                ));
            }
        }
        (abi, rules) => return Err(format!("abi() gives {abi:?}, the rules {rules:?}")),
    }
    Ok(())
}

/// A shell restricted to one directory may write and make files there, and may neither write an existing file
/// elsewhere nor make one; it may still read that file, and name its own thread (as CUDA does).
fn a_restricted_child_writes_only_beneath_its_paths() -> Result<(), String> {
    let err = |e: io::Error| e.to_string();
    let (inside, outside) = (
        tempfile::tempdir().map_err(err)?,
        tempfile::tempdir().map_err(err)?,
    );
    let existing = outside.path().join("existing");
    std::fs::write(&existing, "before\n").map_err(err)?;
    let rules = WriteRules::beneath(&[inside.path().to_owned()])
        .map_err(err)?
        .map_err(|why| format!("no rules: {why}"))?;
    let child = rules.for_child();
    let script = format!(
        "echo made > {inside}/new && echo ok-inside; \
         echo after >> {existing} && echo wrote-outside; \
         echo x > {outside}/new && echo made-outside; \
         echo restricted > /proc/self/task/$$/comm && echo named; \
         cat {existing}",
        inside = inside.path().display(),
        outside = outside.path().display(),
        existing = existing.display(),
    );
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &script]);
    // SAFETY: the closure makes async-signal-safe system calls only and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            child.apply()
        });
    }
    let out = cmd.output().map_err(err)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout != "ok-inside\nnamed\nbefore\n" {
        return Err(format!(
            "the shell printed {stdout:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let after = std::fs::read_to_string(&existing).map_err(err)?;
    let made = std::fs::read_to_string(inside.path().join("new")).map_err(err)?;
    if after != "before\n" || outside.path().join("new").exists() || made != "made\n" {
        return Err(format!(
            "files afterwards: existing {after:?}, made inside {made:?}, made outside {}",
            outside.path().join("new").exists()
        ));
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let missing = abi().err();
    if let Some(why) = &missing {
        println!("skipped: {why}; the restricted-child trial is reported as ignored");
    }
    let trials = vec![
        Trial::test("the-judge-says-what-the-kernel-has", || {
            the_judge_says_what_the_kernel_has().map_err(Failed::from)
        }),
        Trial::test("a-restricted-child-writes-only-beneath-its-paths", || {
            a_restricted_child_writes_only_beneath_its_paths().map_err(Failed::from)
        })
        .with_ignored_flag(missing.is_some()),
    ];
    libtest_mimic::run(&args, trials).exit();
}
