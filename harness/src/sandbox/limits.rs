//! The limits a worker runs under: wall-clock time per request, resident memory, device memory (CUDA
//! submissions), and the address-space backstop set with `setrlimit` before the worker's program starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use solutions::Backend;

/// One mebibyte, in bytes.
pub const MIB: u64 = 1 << 20;

/// Shortest wall-clock limit the command line accepts (a call, a compile, the gate's time budget), in seconds:
/// 1 ms. Below it a limit reads as 0 and kills every call.
pub const MIN_LIMIT_S: f64 = 1e-3;
/// Longest wall-clock limit the command line accepts, in seconds: 7 days. Far longer limits overflow the
/// clock's arithmetic.
pub const MAX_LIMIT_S: f64 = 7.0 * 86_400.0;
/// Smallest `--memory-limit` the command line accepts, in MiB: a worker takes about 5 MiB before it has loaded
/// anything, and the case's shared buffers count too (about 16 MiB at the perf case).
pub const MIN_MEMORY_MIB: u64 = 16;

/// Parses a wall-clock limit given in seconds on the command line, within [`MIN_LIMIT_S`] ..= [`MAX_LIMIT_S`].
pub fn parse_limit_seconds(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    check_limit_seconds(text, v)
}

/// `seconds` (which the command line gave as `text`) when it is within [`MIN_LIMIT_S`] ..= [`MAX_LIMIT_S`], the
/// range of every wall-clock limit; else the message saying so (NaN is out of range too).
pub fn check_limit_seconds(text: &str, seconds: f64) -> Result<f64, String> {
    if (MIN_LIMIT_S..=MAX_LIMIT_S).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!(
            "'{text}' is out of range: use {MIN_LIMIT_S} to {MAX_LIMIT_S} seconds (1 ms to 7 days)"
        ))
    }
}

/// Smallest `--compile-memory-limit` the command line accepts, in MiB: `cc1` alone maps about 100 MiB before it
/// reads a line.
pub const MIN_COMPILE_MEMORY_MIB: u64 = 256;

/// Parses `--memory-limit` (MiB), at least [`MIN_MEMORY_MIB`].
pub fn parse_memory_mib(text: &str) -> Result<u64, String> {
    parse_mib(
        text,
        MIN_MEMORY_MIB,
        "a worker takes about 5 MiB before it loads the submission, and the case's buffers count too",
    )
}

/// Parses `--compile-memory-limit` (MiB), at least [`MIN_COMPILE_MEMORY_MIB`].
pub fn parse_compile_memory_mib(text: &str) -> Result<u64, String> {
    parse_mib(
        text,
        MIN_COMPILE_MEMORY_MIB,
        "a compiler maps about 100 MiB before it reads a line",
    )
}

/// A whole number of MiB, at least `minimum`; `why` says why smaller is refused.
fn parse_mib(text: &str, minimum: u64, why: &str) -> Result<u64, String> {
    let v: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number of MiB"))?;
    if v >= minimum {
        Ok(v)
    } else {
        Err(format!(
            "{v} MiB is too small: use at least {minimum} MiB ({why})"
        ))
    }
}

/// Most threads a worker may run. A `solve` runs one a core at most; a thread bomb would take the machine's
/// process ids (32,768 on many machines) and kernel memory that no resident set counts. The judge counts the
/// worker's threads while it waits for an answer, as it samples its memory, and kills a worker over this; a
/// worker of a user of its own also has `RLIMIT_NPROC` at four times this, so a burst between two samples
/// fails there.
pub const MAX_THREADS: u64 = 1024;

/// What a worker may use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock limit of one `solve` call (staging and checking excluded), in seconds.
    pub call_s: f64,
    /// Wall-clock limit of starting the worker, loading the library (its constructors run then) and mapping a
    /// case, in seconds.
    pub startup_s: f64,
    /// Largest resident set of the worker, in bytes. It counts the case's shared buffers (twice the case's
    /// input and output bytes) and the worker's own few megabytes, as well as what the submission allocates.
    pub memory_bytes: u64,
    /// Most device memory a CUDA submission may hold when a call returns, in bytes, beyond what the worker's
    /// context and its own buffers use (see [`crate::sandbox::protocol::DeviceCall::memory_bytes`]).
    #[serde(default = "default_device_memory")]
    pub device_memory_bytes: u64,
}

fn default_device_memory() -> u64 {
    Limits::default().device_memory_bytes
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_s: 10.0,
            startup_s: 20.0,
            memory_bytes: 4096 * MIB,
            device_memory_bytes: 4096 * MIB,
        }
    }
}

impl Limits {
    /// The limit of one call.
    pub fn call(&self) -> Duration {
        Duration::from_secs_f64(self.call_s)
    }

    /// The limit of start-up steps.
    pub fn startup(&self) -> Duration {
        Duration::from_secs_f64(self.startup_s)
    }

    /// The `RLIMIT_AS` backstop for a worker of `backend`, in bytes; `None` for none.
    ///
    /// The resident-memory watch is the real limit (it can tell a memory hog from a crash); this backstop only
    /// stops an allocation far beyond it before it can hurt the machine. It is generous because thread stacks
    /// and malloc arenas reserve address space they never touch. A CUDA worker gets none: the CUDA driver
    /// reserves a large virtual range at start-up and fails under any address-space limit.
    pub fn address_space(&self, backend: Backend) -> Option<u64> {
        match backend {
            Backend::Cpu => Some(
                self.memory_bytes
                    .saturating_mul(4)
                    .max(self.memory_bytes.saturating_add(4096 * MIB)),
            ),
            Backend::Cuda => None,
        }
    }
}

/// A resource `setrlimit` limits (`RLIMIT_AS`, `RLIMIT_FSIZE`, …).
#[cfg(target_os = "linux")]
pub type Resource = libc::__rlimit_resource_t;
/// A resource `setrlimit` limits (`RLIMIT_AS`, `RLIMIT_FSIZE`, …).
#[cfg(not(target_os = "linux"))]
pub type Resource = libc::c_int;

/// Lowers both the soft and hard limit of `resource` to `value` (never raises the hard limit). Makes only
/// `getrlimit` and `setrlimit` calls on stack values, so it may run between `fork` and `exec`.
pub fn set_limit(resource: Resource, value: u64) -> std::io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `current` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(resource, &mut current) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let value = (value as libc::rlim_t).min(current.rlim_max);
    let wanted = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `wanted` is a valid rlimit that does not raise the hard limit.
    if unsafe { libc::setrlimit(resource, &wanted) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_on_the_command_line_are_bounded() {
        assert_eq!(parse_limit_seconds("2.5"), Ok(2.5));
        assert_eq!(parse_limit_seconds("0.001"), Ok(0.001));
        assert_eq!(parse_limit_seconds("604800"), Ok(604_800.0));
        for bad in ["1e20", "1.8e19", "1e-12", "0", "-1", "nan", "inf", "soon"] {
            assert!(parse_limit_seconds(bad).is_err(), "{bad}");
        }
        // Every accepted limit converts to a duration and can be added to a clock reading.
        let longest = Limits {
            call_s: MAX_LIMIT_S,
            ..Limits::default()
        };
        assert!(
            std::time::Instant::now()
                .checked_add(longest.call())
                .is_some()
        );
        assert_eq!(parse_memory_mib("16"), Ok(16));
        assert!(
            parse_memory_mib("1")
                .unwrap_err()
                .contains("at least 16 MiB")
        );
        assert!(parse_memory_mib("0").is_err() && parse_memory_mib("-5").is_err());
        assert_eq!(parse_compile_memory_mib("256"), Ok(256));
        assert!(
            parse_compile_memory_mib("255")
                .unwrap_err()
                .contains("at least 256 MiB")
        );
        assert!(parse_compile_memory_mib("lots").is_err());
    }

    #[test]
    fn address_space_backstop_is_above_the_memory_limit() {
        let small = Limits {
            memory_bytes: 256 * MIB,
            ..Limits::default()
        };
        assert_eq!(small.address_space(Backend::Cpu), Some(4352 * MIB));
        let big = Limits::default();
        assert_eq!(big.address_space(Backend::Cpu), Some(16384 * MIB));
        assert_eq!(big.address_space(Backend::Cuda), None);
    }
}
