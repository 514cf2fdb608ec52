//! The worker's CUDA executor: runs a device-pointer (`.cu`) submission's `solve` on device copies of a slot,
//! times it with CUDA events, and reports what it saw of the device.
//!
//! It shares the device's primary context with the submission's CUDA runtime (so the submission's `cudaMalloc`
//! and kernels live in the same address space as the buffers handed to it). One call, in order:
//!
//! 1. the slot's seven inputs are copied from the shared region into the slot's device buffers and the
//!    device output is filled with [`POISON`]; the device is synchronised;
//! 2. a hold kernel ([`Hold`]) is queued on the default (legacy) stream, then the start event; `solve` runs
//!    (its launches queue behind the hold); the end event is recorded and the hold released, so the events
//!    time the device's work and not the host's launch latency. The hold takes every thread slot of the
//!    device, so kernels that `solve` starts on a stream of its own, which does not wait for the default
//!    stream, cannot run before the start event either. The hold gives up after [`HOLD_TIMEOUT_NS`]: a `solve`
//!    that waits for the device itself makes it time out. What that `solve` did on the host before waiting
//!    (up to the timeout) then came before the start event, untimed. So once the hold has given way in
//!    [`GIVE_WAY_LIMIT`] calls other than the worker's first (whose `solve` may load its kernels), the worker
//!    times the later calls without a hold: the start event is recorded on an idle stream just before `solve`
//!    is called, and the events span all of it, host work and launch latency included;
//! 3. once the end event has completed, the whole device is synchronised and that wait is timed: work that
//!    `solve` left running on a stream the default stream does not wait for (a non-blocking stream) shows as
//!    a device still busy after the end event ([`DeviceCall::busy_after_s`]); errors of the submission's
//!    kernels (an illegal address) surface here;
//! 4. the device memory in use is read ([`DeviceCall::memory_bytes`]) and the output and the inputs, as the
//!    call left them on the device, are copied back into the slot for the judge to check.
//!
//! The inputs were just uploaded, so the L2 holds them as far as they fit: the time is a warm one.

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::Arc;
use std::time::Instant;

use cudarc::driver::sys;
use cudarc::driver::{CudaEvent, CudaStream};
use solutions::cuda::{CudaError, Gpu, check, driver_error, gpu};
use solutions::{Field, POISON, Shape};

use super::protocol::{DeviceCall, HoldOutcome, SlotLayout, field_bytes};
use super::region::Region;
use super::worker::{Call, Executor, ExecutorError, SolveFn};
use crate::gpu::Hold;

/// How long the hold waits for `solve` to return before letting the stream go, in nanoseconds. Queuing the
/// launches of an honest `solve` takes tens of microseconds; one that waits for the device inside `solve`
/// would otherwise wait for the hold.
pub const HOLD_TIMEOUT_NS: u64 = 5_000_000;

/// In how many calls other than its first the hold may give way before the worker times its calls without
/// one. An honest `solve` that only queues launches makes it give way only when the host stalls for the whole
/// timeout; one that waits for the device does so in every call, and before it waits it may have done host
/// work that the timer did not see. Two, so that one stall does not cost an honest `solve` the hold (its
/// times would then include the launch latency), while a `solve` that waits hides its host work in at most
/// three calls (its first and two more).
pub const GIVE_WAY_LIMIT: u32 = 2;

/// Whether a worker holds the stream for its next call: it does until the hold has given way in
/// [`GIVE_WAY_LIMIT`] calls other than its first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct HoldPolicy {
    /// Whether the first call has been recorded.
    past_first: bool,
    /// Calls other than the first in which the hold gave way before `solve` returned.
    gave_way: u32,
}

impl HoldPolicy {
    /// Whether the next call is held.
    fn holds(self) -> bool {
        self.gave_way < GIVE_WAY_LIMIT
    }

    /// Records a call: whether it was held at its start and the hold gave way before `solve` returned.
    fn record(&mut self, gave_way: bool) {
        if gave_way && self.past_first {
            self.gave_way += 1;
        }
        self.past_first = true;
    }
}

/// The arrays of one slot, in the order of the `solve` signature: seven inputs, then the output.
const FIELDS: [Field; 8] = Field::ALL;

/// One device allocation, freed when dropped.
struct DeviceBuffer {
    ptr: sys::CUdeviceptr,
}

impl DeviceBuffer {
    fn new(bytes: usize, what: &str) -> Result<DeviceBuffer, CudaError> {
        let mut ptr: sys::CUdeviceptr = 0;
        // SAFETY: a valid out pointer; the context is current (the caller bound it).
        check(
            unsafe { sys::cuMemAlloc_v2(&mut ptr, bytes.max(1)) },
            &format!("allocating {bytes} bytes of device memory for {what}"),
            "cuMemAlloc",
        )?;
        Ok(DeviceBuffer { ptr })
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated by cuMemAlloc in this process's primary context and freed once. A failure (a
        // context a submission broke) cannot be acted on.
        let _ = unsafe { sys::cuMemFree_v2(self.ptr) };
    }
}

/// The device buffers of one slot, indexed like [`FIELDS`].
struct SlotBuffers(Vec<DeviceBuffer>);

impl SlotBuffers {
    fn ptr(&self, field: Field) -> sys::CUdeviceptr {
        let index = FIELDS.iter().position(|&f| f == field).unwrap_or(0);
        self.0[index].ptr
    }
}

/// Device buffers per slot, CUDA events and the stream hold (see the module docs).
pub struct CudaExecutor {
    gpu: &'static Gpu,
    legacy: Arc<CudaStream>,
    hold: Option<Hold>,
    /// Whether the next call is held.
    policy: Cell<HoldPolicy>,
    start: CudaEvent,
    end: CudaEvent,
    slots: Vec<SlotBuffers>,
    /// Device memory in use before the first attach, in bytes.
    baseline: Option<u64>,
    /// Device memory taken by the buffers of the current attach, in bytes.
    own: u64,
}

impl CudaExecutor {
    /// Opens the device (its primary context, shared with the submission's runtime), creates the events and
    /// loads the hold kernel. Without NVRTC there is no hold kernel: calls are then timed unheld.
    pub fn new() -> Result<CudaExecutor, CudaError> {
        let gpu = gpu()?;
        gpu.bind()?;
        let ctx = gpu.context();
        let event = |what: &str| {
            ctx.new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(|e| driver_error(e, what, "cuEventCreate"))
        };
        let hold = match Hold::new(gpu) {
            Ok(hold) => Some(hold),
            Err(e) => {
                eprintln!("judge worker: timing without a stream hold ({e})");
                None
            }
        };
        let legacy = ctx.default_stream();
        if let Some(hold) = &hold {
            // One launch now, so that what the context sets up at its first launch (local memory for every
            // resident thread) is in place before the memory in use is first read, and not counted as the
            // submission's.
            hold.enqueue_for(&legacy, 0)?;
            hold.release();
            gpu.synchronize_device("a first launch on the device")?;
        }
        Ok(CudaExecutor {
            gpu,
            legacy,
            hold,
            policy: Cell::new(HoldPolicy::default()),
            start: event("creating the start event")?,
            end: event("creating the end event")?,
            slots: Vec::new(),
            baseline: None,
            own: 0,
        })
    }

    /// Device memory in use on the whole device, in bytes.
    fn used(&self, context: &str) -> Result<u64, CudaError> {
        let (free, total) = self
            .gpu
            .context()
            .mem_get_info()
            .map_err(|e| driver_error(e, context, "cuMemGetInfo"))?;
        Ok(total.saturating_sub(free) as u64)
    }

    fn synchronize(&self, context: &str) -> Result<(), CudaError> {
        self.gpu.synchronize_device(context)
    }

    /// Steps 1 to 4 of the module docs, for slot `index`.
    fn run(
        &self,
        solve: SolveFn,
        region: &Region,
        shape: Shape,
        layout: &SlotLayout,
        index: usize,
    ) -> Result<Call, ExecutorError> {
        let buffers = self
            .slots
            .get(index)
            .ok_or(ExecutorError::NoSlot { index })?;
        let host = |field: Field| {
            region
                .address(layout.offset(field), field_bytes(shape, field))
                .ok_or(ExecutorError::OutsideRegion { index, field })
        };
        self.gpu.bind()?;
        for field in Field::INPUTS {
            let bytes = field_bytes(shape, field) as usize;
            let src = host(field)?;
            // SAFETY: `src` has `bytes` readable bytes (checked by `address`), the destination buffer was
            // allocated for this field at this shape; the copy is synchronous.
            check(
                unsafe { sys::cuMemcpyHtoD_v2(buffers.ptr(field), src.cast(), bytes) },
                &format!("copying {field} to the device"),
                "cuMemcpyHtoD",
            )?;
        }
        let scores = buffers.ptr(Field::Scores);
        // SAFETY: the output buffer holds `output_len` f32 words.
        check(
            unsafe { sys::cuMemsetD32_v2(scores, POISON.to_bits(), shape.output_len()) },
            "poisoning the device output",
            "cuMemsetD32",
        )?;
        self.synchronize("staging the call's inputs")?;

        let dim = |v: usize| c_int::try_from(v).map_err(|_| ExecutorError::Dimension { value: v });
        let (b, s, d, c) = (dim(shape.b)?, dim(shape.s)?, dim(shape.d)?, dim(shape.c)?);
        let ptr = |field: Field| buffers.ptr(field) as usize;
        let hold = self.hold.as_ref().filter(|_| self.policy.get().holds());
        if let Some(hold) = hold {
            hold.enqueue_for(&self.legacy, HOLD_TIMEOUT_NS)?;
        }
        let started = self
            .start
            .record(&self.legacy)
            .map_err(|e| driver_error(e, "recording the start event", "cuEventRecord"));
        let called = Instant::now();
        if started.is_ok() {
            // SAFETY: `solve` has the contract's signature (looked up by that name in a library built for it).
            // Every pointer is a device allocation of this context sized for the array the contract says it is,
            // and the dimensions are those the buffers were sized for. What the submission does beyond the
            // contract is the reason it runs in this process and not in the judge.
            unsafe {
                solve(
                    ptr(Field::Q) as *const f32,
                    ptr(Field::KIdx) as *const u8,
                    ptr(Field::QjlSigns) as *const i8,
                    ptr(Field::Gamma) as *const f32,
                    ptr(Field::Pi) as *const f32,
                    ptr(Field::SMat) as *const f32,
                    ptr(Field::Codebook) as *const f32,
                    ptr(Field::Scores) as *mut f32,
                    b,
                    s,
                    d,
                    c,
                );
            }
        }
        let solve_host_s = called.elapsed().as_secs_f64();
        // The submission may have made another context current; the judge's calls go to its own.
        let bound = self.gpu.bind();
        let ended = started.and_then(|()| {
            self.end
                .record(&self.legacy)
                .map_err(|e| driver_error(e, "recording the end event", "cuEventRecord"))
        });
        // Release whatever happened, so the stream is never left waiting for the timeout.
        if let Some(hold) = hold {
            hold.release();
        }
        bound?;
        ended?;
        self.end.synchronize().map_err(|e| {
            driver_error(
                e,
                "waiting for the end event after solve",
                "cuEventSynchronize",
            )
        })?;
        let seen = Instant::now();
        self.synchronize("synchronising the device after solve")?;
        let busy_after_s = seen.elapsed().as_secs_f64();
        let ms = self
            .start
            .elapsed_ms(&self.end)
            .map_err(|e| driver_error(e, "reading the events", "cuEventElapsedTime"))?;
        let outcome = match hold {
            None => HoldOutcome::Unheld,
            Some(h) if h.timed_out() => HoldOutcome::GaveWay,
            Some(_) => HoldOutcome::Held,
        };
        let mut policy = self.policy.get();
        policy.record(outcome == HoldOutcome::GaveWay);
        self.policy.set(policy);
        let used = self.used("reading the device memory in use after the call")?;
        let memory_bytes = used
            .saturating_sub(self.baseline.unwrap_or(used))
            .saturating_sub(self.own);

        for field in FIELDS {
            let bytes = field_bytes(shape, field) as usize;
            let dst = host(field)?;
            // SAFETY: `dst` has `bytes` writable bytes in the region (checked by `address`); the source buffer
            // holds this field at this shape; the copy is synchronous and the device is idle.
            check(
                unsafe { sys::cuMemcpyDtoH_v2(dst.cast(), buffers.ptr(field), bytes) },
                &format!("copying {field} back from the device"),
                "cuMemcpyDtoH",
            )?;
        }
        Ok(Call {
            seconds: f64::from(ms) * 1e-3,
            device: Some(DeviceCall {
                busy_after_s,
                hold: outcome,
                solve_host_s,
                memory_bytes,
            }),
        })
    }
}

impl Executor for CudaExecutor {
    fn attach(
        &mut self,
        _region: &Region,
        shape: Shape,
        slots: &[SlotLayout],
    ) -> Result<(), ExecutorError> {
        self.gpu.bind()?;
        self.slots.clear();
        self.synchronize("freeing the previous case's buffers")?;
        let before = self.used("reading the device memory in use before the case")?;
        self.baseline.get_or_insert(before);
        for (index, _) in slots.iter().enumerate() {
            let buffers = FIELDS
                .iter()
                .map(|&field| {
                    DeviceBuffer::new(
                        field_bytes(shape, field) as usize,
                        &format!("{field} of slot {index}"),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.slots.push(SlotBuffers(buffers));
        }
        self.synchronize("allocating the case's buffers")?;
        let after = self.used("reading the device memory in use after allocating")?;
        self.own = after.saturating_sub(before);
        Ok(())
    }

    fn call(
        &mut self,
        solve: SolveFn,
        region: &Region,
        shape: Shape,
        slots: &[SlotLayout],
        index: usize,
    ) -> Result<Call, ExecutorError> {
        let layout = *slots.get(index).ok_or(ExecutorError::NoSlot { index })?;
        self.run(solve, region, shape, &layout, index)
    }
}

#[cfg(test)]
mod tests {
    use super::{GIVE_WAY_LIMIT, HoldPolicy};

    /// Replays calls (whether the hold gave way in each) and says which were held at their start.
    fn replay(gave_way: &[bool]) -> Vec<bool> {
        let mut policy = HoldPolicy::default();
        gave_way
            .iter()
            .map(|&gave| {
                let held = policy.holds();
                policy.record(held && gave);
                held
            })
            .collect()
    }

    #[test]
    fn the_hold_stops_only_after_it_gave_way_in_later_calls() {
        assert_eq!(GIVE_WAY_LIMIT, 2);
        // An honest solve: the first call loads its kernels and outlasts the hold; every call stays held.
        assert_eq!(replay(&[true, false, false, false]), [true; 4]);
        // One stall of the host later on does not cost the hold either.
        assert_eq!(replay(&[false, true, false, false]), [true; 4]);
        // A solve that waits for the device in every call: held in its first three, then no more.
        assert_eq!(
            replay(&[true, true, true, true, true]),
            [true, true, true, false, false]
        );
        // Two stalls anywhere after the first call end the hold for good.
        assert_eq!(
            replay(&[false, true, false, true, false, false]),
            [true, true, true, true, false, false]
        );
    }
}
