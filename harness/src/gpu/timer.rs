//! The pieces of one GPU sample: the stream hold (a kernel spinning on a flag in mapped host memory) and the L2
//! flush (a kernel reading a large buffer, or for comparison a memset of it). Kernels from `kernels/harness.cu`.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering, fence};

use cudarc::driver::sys;
use cudarc::driver::{CudaSlice, CudaStream};
use solutions::cuda::buffers::{device_ptr, zeros};
use solutions::cuda::{CudaError, Gpu, HARNESS_CU, Kernel, Launch, check, driver_error, param};

use super::FlushMethod;

/// How long the hold waits for the host before giving up (the sample is then taken again), in nanoseconds.
pub const HOLD_TIMEOUT_NS: u64 = 50_000_000;

/// Holds a stream, and with it the whole device, until released from the host.
///
/// The hold kernel takes every thread slot of every multiprocessor (its grid is sized from the device's
/// attributes: [`Hold::shape`]), so no kernel of any stream can start while it waits: a solve that starts work
/// on a stream of its own, which does not wait for the held one, and waits for that work before returning,
/// would otherwise have it done before the start event, where the timer does not look. Such work now waits for
/// the hold; the solve waiting for it makes the hold give up ([`Hold::timed_out`]), and the work runs after the
/// start event, timed.
pub struct Hold {
    kernel: Kernel,
    /// Two u32 words of pinned, mapped host memory: [0] release flag, [1] timed-out flag.
    host: *mut u32,
    device: u64,
    /// One u32 of device memory through which the block that polls the host flag releases the others.
    gate: CudaSlice<u32>,
    /// The value the gate takes when the current hold ends; a new one for each hold.
    generation: AtomicU32,
    /// Blocks and threads a block of the hold kernel.
    shape: (u32, u32),
}

// SAFETY: the pinned words are plain memory owned by this value; the driver allows using them from any thread.
unsafe impl Send for Hold {}

/// The hold kernel's launch on a device with `sms` multiprocessors of `threads_per_sm` thread slots each, whose
/// blocks take at most `threads_per_block` threads: `(blocks, threads a block)`, as many blocks a
/// multiprocessor as it takes to fill its thread slots with blocks of equal size. The kernel's launch bounds
/// (at most 32 registers a thread) let all of them be resident at once.
fn hold_shape(sms: u32, threads_per_sm: u32, threads_per_block: u32) -> (u32, u32) {
    let per_sm = match threads_per_block {
        0 => 1,
        block => threads_per_sm.div_ceil(block).max(1),
    };
    let threads = (threads_per_sm / per_sm).max(32);
    (sms.max(1) * per_sm, threads)
}

impl Hold {
    /// Allocates the flags and the gate, and loads the kernel.
    pub fn new(gpu: &Gpu) -> Result<Self, CudaError> {
        let kernel = gpu.module(&HARNESS_CU)?.kernel("judge_hold")?;
        gpu.bind()?;
        let attr = |a, what: &'static str| {
            gpu.context()
                .attribute(a)
                .map_err(|e| driver_error(e, what, "cuDeviceGetAttribute"))
                .map(|v| u32::try_from(v).unwrap_or(0))
        };
        use sys::CUdevice_attribute_enum as A;
        let shape = hold_shape(
            gpu.info.multiprocessors,
            attr(
                A::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR,
                "threads per multiprocessor",
            )?,
            attr(
                A::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                "threads per block",
            )?,
        );
        let gate: CudaSlice<u32> = zeros(gpu, 1, "the stream hold's gate")?;
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
            gate,
            generation: AtomicU32::new(0),
            shape,
        };
        // Zeroing the gate must be done before the first hold reads it.
        gpu.synchronize_device("clearing the stream hold's gate")?;
        mapped.map(|()| hold)
    }

    /// The hold kernel's `(blocks, threads a block)` on this device.
    pub fn shape(&self) -> (u32, u32) {
        self.shape
    }

    /// Clears the flags and enqueues the hold kernel on `stream`, giving up after the sampler's timeout (50 ms).
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
        let gate = device_ptr(&self.gate, stream);
        // Never the gate's current value: the previous hold left its own generation there.
        let generation = self
            .generation
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        let mut params = [
            param(&release),
            param(&timeout),
            param(&timed_out),
            param(&gate),
            param(&generation),
        ];
        let (blocks, threads) = self.shape;
        // SAFETY: matches judge_hold(const volatile unsigned*, unsigned long long, volatile unsigned*, volatile
        // unsigned*, unsigned); the first two pointers are mapped pinned words and the third a device word, all
        // owned by this value and so outliving the kernel.
        unsafe {
            self.kernel.launch(
                stream,
                Launch {
                    grid: (blocks, 1),
                    block: threads,
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

#[cfg(test)]
mod tests {
    use super::hold_shape;

    #[test]
    fn the_hold_takes_every_thread_slot() {
        // H100 and A100: 2,048 slots, blocks of up to 1,024 threads.
        assert_eq!(hold_shape(132, 2048, 1024), (264, 1024));
        assert_eq!(hold_shape(108, 2048, 1024), (216, 1024));
        // Ampere and Ada consumer parts: 1,536 slots.
        assert_eq!(hold_shape(84, 1536, 1024), (168, 768));
        // Turing: 1,024 slots, one block.
        assert_eq!(hold_shape(40, 1024, 1024), (40, 1024));
        // Attributes a driver failed to give (read as 0) still make a launchable shape.
        assert_eq!(hold_shape(0, 0, 0), (1, 32));
    }
}
