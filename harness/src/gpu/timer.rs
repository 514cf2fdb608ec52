//! The pieces of one GPU sample: the stream hold (a kernel spinning on a flag in mapped host memory) and the L2
//! flush (a kernel reading a large buffer, or for comparison a memset of it). Kernels from `kernels/harness.cu`.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};

use cudarc::driver::sys;
use cudarc::driver::{CudaSlice, CudaStream};
use solutions::cuda::buffers::{device_ptr, zeros};
use solutions::cuda::{CudaError, Gpu, HARNESS_CU, Kernel, Launch, check, param};

use super::FlushMethod;

/// How long the hold waits for the host before giving up (the sample is then taken again), in nanoseconds.
pub const HOLD_TIMEOUT_NS: u64 = 50_000_000;

/// Holds a stream until released from the host.
pub struct Hold {
    kernel: Kernel,
    /// Two u32 words of pinned, mapped host memory: [0] release flag, [1] timed-out flag.
    host: *mut u32,
    device: u64,
}

// SAFETY: the pinned words are plain memory owned by this value; the driver allows using them from any thread.
unsafe impl Send for Hold {}

impl Hold {
    /// Allocates the flags and loads the kernel.
    pub fn new(gpu: &Gpu) -> Result<Self, CudaError> {
        let kernel = gpu.module(&HARNESS_CU)?.kernel("judge_hold")?;
        gpu.bind()?;
        let mut host: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid out pointer; 8 bytes of pinned memory mapped into the device's address space.
        check(
            unsafe {
                sys::cuMemHostAlloc(
                    &mut host,
                    8,
                    sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE,
                )
            },
            "allocating the stream-hold flag",
            "cuMemHostAlloc",
        )?;
        let mut device: sys::CUdeviceptr = 0;
        // SAFETY: `host` was allocated with DEVICEMAP just above.
        let mapped = check(
            unsafe { sys::cuMemHostGetDevicePointer_v2(&mut device, host, 0) },
            "mapping the stream-hold flag",
            "cuMemHostGetDevicePointer",
        );
        let hold = Hold {
            kernel,
            host: host.cast(),
            device,
        };
        mapped.map(|()| hold)
    }

    /// Clears the flags and enqueues the hold kernel on `stream`, giving up after [`HOLD_TIMEOUT_NS`].
    pub fn enqueue(&self, stream: &CudaStream) -> Result<(), CudaError> {
        self.enqueue_for(stream, HOLD_TIMEOUT_NS)
    }

    /// Clears the flags and enqueues the hold kernel on `stream`, giving up after `timeout_ns` nanoseconds.
    pub fn enqueue_for(&self, stream: &CudaStream, timeout_ns: u64) -> Result<(), CudaError> {
        // SAFETY: `host` points to two live u32 words; no kernel reads them now (the previous sample ended
        // with a device-wide synchronize).
        unsafe {
            std::ptr::write_volatile(self.host, 0);
            std::ptr::write_volatile(self.host.add(1), 0);
        }
        fence(Ordering::SeqCst);
        let release = self.device;
        let timed_out = self.device + 4;
        let timeout = timeout_ns;
        let mut params = [param(&release), param(&timeout), param(&timed_out)];
        // SAFETY: matches judge_hold(const volatile unsigned*, unsigned long long, volatile unsigned*); both
        // pointers are mapped pinned words that outlive the kernel.
        unsafe {
            self.kernel.launch(
                stream,
                Launch {
                    grid: (1, 1),
                    block: 32,
                    smem: 0,
                    pdl: false,
                },
                &mut params,
            )?;
        }
        Ok(())
    }

    /// Lets the held stream go on.
    pub fn release(&self) {
        fence(Ordering::SeqCst);
        // SAFETY: `host` points to a live u32 word.
        unsafe { std::ptr::write_volatile(self.host, 1) };
        fence(Ordering::SeqCst);
    }

    /// Whether the last hold gave up waiting (read after the device is synchronized).
    pub fn timed_out(&self) -> bool {
        // SAFETY: `host` points to two live u32 words.
        unsafe { std::ptr::read_volatile(self.host.add(1)) != 0 }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        // SAFETY: allocated by cuMemHostAlloc and freed once; no kernel uses it any more (samples end with a
        // device-wide synchronize). A failure here cannot be acted on.
        let _ = unsafe { sys::cuMemFreeHost(self.host.cast()) };
    }
}

/// The size of the flush buffer on a GPU with `l2_bytes` of L2, in bytes: 4× the L2, at least 64 MiB.
pub const fn flush_bytes(l2_bytes: u64) -> u64 {
    let bytes = 4 * l2_bytes;
    if bytes > 64 << 20 { bytes } else { 64 << 20 }
}

/// Empties the L2 of everything but clean lines of its own buffer.
pub struct Flush {
    kernel: Kernel,
    method: FlushMethod,
    buffer: CudaSlice<u8>,
    sink: CudaSlice<u32>,
    blocks: u32,
    stream: Arc<CudaStream>,
}

impl Flush {
    /// A flush buffer of 4× the device's L2 (at least 64 MiB).
    pub fn new(gpu: &Gpu, method: FlushMethod) -> Result<Self, CudaError> {
        let kernel = gpu.module(&HARNESS_CU)?.kernel("judge_flush_read")?;
        let bytes = flush_bytes(gpu.info.l2_bytes) as usize;
        let flush = Flush {
            kernel,
            method,
            buffer: zeros(gpu, bytes, "the L2 flush buffer")?,
            sink: zeros(gpu, 1, "the flush sink")?,
            blocks: gpu.info.multiprocessors * 8,
            stream: gpu.stream().clone(),
        };
        // Run it once, so the buffer's own dirty lines (from zeroing it) are written back before any sample.
        flush.enqueue(gpu.stream())?;
        flush.enqueue(gpu.stream())?;
        Ok(flush)
    }

    /// Enqueues the flush on `stream`.
    pub fn enqueue(&self, stream: &CudaStream) -> Result<(), CudaError> {
        let buffer = device_ptr(&self.buffer, &self.stream);
        match self.method {
            FlushMethod::Read => {
                let sink = device_ptr(&self.sink, &self.stream);
                let words = (self.buffer.len() / 16) as u64;
                let mut params = [param(&buffer), param(&words), param(&sink)];
                // SAFETY: matches judge_flush_read(const uint4*, unsigned long long, unsigned*); the buffer holds
                // `words` 16-byte words (its size is a multiple of 16) and the sink one word.
                unsafe {
                    self.kernel.launch(
                        stream,
                        Launch {
                            grid: (self.blocks, 1),
                            block: 256,
                            smem: 0,
                            pdl: false,
                        },
                        &mut params,
                    )
                }
            }
            FlushMethod::Memset => check(
                // SAFETY: the buffer holds `len` bytes.
                unsafe { sys::cuMemsetD8Async(buffer, 0, self.buffer.len(), stream.cu_stream()) },
                "flushing the L2 with a memset",
                "cuMemsetD8Async",
            ),
        }
    }
}
