//! A measurement aid of `cuda-warpspec`'s main kernel and of the one-launch kernels: with `JUDGE_KERNEL_TRACE`
//! set, one thread of each block records the global timer and its multiprocessor's cycle counter at the kernel's
//! phases (`stamp` in `kernels/trace.cuh`, up to 16 slots), and the trace of the last solve of an input set is
//! summarised on standard error when the set is dropped. Never set in normal use (it adds stores to the timed
//! kernel).

use cudarc::driver::CudaSlice;

use super::buffers::{device_ptr, zeros};
use super::{CudaError, Gpu};

/// Environment variable that turns the trace on.
pub const TRACE_ENV: &str = "JUDGE_KERNEL_TRACE";

/// Phases a kernel may stamp (`TRACE_SLOTS` in `kernels/trace.cuh`).
const PHASES: usize = 16;

/// One input set's trace buffer.
pub struct Trace {
    gpu: &'static Gpu,
    what: String,
    blocks: usize,
    buf: CudaSlice<u64>,
}

impl Trace {
    /// A trace for a grid of `blocks` blocks when `JUDGE_KERNEL_TRACE` is set, else `None`.
    pub fn from_env(
        gpu: &'static Gpu,
        what: String,
        blocks: usize,
    ) -> Result<Option<Self>, CudaError> {
        if std::env::var_os(TRACE_ENV).is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            gpu,
            what,
            blocks,
            buf: zeros(gpu, blocks * PHASES * 2, "the kernel trace")?,
        }))
    }

    /// The device address to pass to the kernel.
    pub fn ptr(&self) -> u64 {
        device_ptr(&self.buf, self.gpu.stream())
    }

    fn report(&self) -> Option<String> {
        let stream = self.gpu.stream();
        let mut host = vec![0u64; self.buf.len()];
        stream.memcpy_dtoh(&self.buf, &mut host).ok()?;
        stream.synchronize().ok()?;
        let at = |b: usize, p: usize, k: usize| host[(b * PHASES + p) * 2 + k];
        let start = (0..self.blocks).map(|b| at(b, 0, 0)).min()?;
        let mut out = format!(
            "trace {} ({} blocks): phase: global timer from the first block's start, median / max (ns); \
             cycles from the block's own start, median",
            self.what, self.blocks
        );
        for p in 1..PHASES {
            let mut t: Vec<u64> = (0..self.blocks)
                .filter(|&b| at(b, p, 0) != 0)
                .map(|b| at(b, p, 0).saturating_sub(start))
                .collect();
            if t.is_empty() {
                continue;
            }
            let mut c: Vec<u64> = (0..self.blocks)
                .filter(|&b| at(b, p, 0) != 0)
                .map(|b| at(b, p, 1).wrapping_sub(at(b, 0, 1)))
                .collect();
            t.sort_unstable();
            c.sort_unstable();
            let t0: Vec<u64> = {
                let mut v: Vec<u64> = (0..self.blocks)
                    .map(|b| at(b, 0, 0).saturating_sub(start))
                    .collect();
                v.sort_unstable();
                v
            };
            if p == 1 {
                out.push_str(&format!(
                    "\n  0 start: {} / {}",
                    t0[t0.len() / 2],
                    t0[t0.len() - 1]
                ));
            }
            out.push_str(&format!(
                "\n  {p}: {} / {} ns, {} cycles",
                t[t.len() / 2],
                t[t.len() - 1],
                c[c.len() / 2]
            ));
        }
        Some(out)
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        if let Some(text) = self.report() {
            eprintln!("{text}");
        }
    }
}
