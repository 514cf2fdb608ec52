//! The limits a worker runs under: wall-clock time per request, resident memory, device memory (CUDA
//! submissions), and the address-space backstop set with `setrlimit` before the worker's program starts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use solutions::Backend;

/// One mebibyte, in bytes.
pub const MIB: u64 = 1 << 20;

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

#[cfg(test)]
mod tests {
    use super::*;

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
