//! The judge ↔ worker protocol: length-prefixed JSON frames over a pair of pipes, one response for every
//! request. Bulk data never travels here: a case's inputs and outputs live in a shared memory region
//! ([`super::region`]) whose layout the judge sends once per case, so a frame is a few hundred bytes.
//!
//! A frame is a 4-byte little-endian length `N` (at most [`MAX_FRAME`]) followed by `N` bytes of JSON. The
//! conversation, always started by the judge:
//!
//! | judge sends | worker answers | what the worker does |
//! | --- | --- | --- |
//! | `hello {protocol}` | `ready {protocol, pid}` | checks the protocol version |
//! | `prepare {backend}` | `prepared` | opens the CUDA device (`cuda`), installs the system-call filter |
//! | `load {library}` | `loaded` | `dlopen`s the library (its initialisers run), finds `solve` |
//! | `attach {region, len, shape, slots}` | `attached` | maps the region (a CUDA worker also allocates one device buffer per slot) |
//! | `call {slot}` | `done {seconds, clock, device}` | runs exactly one `solve` on that slot and times it |
//!
//! There is no request to exit: the judge ends a worker by stopping and killing it, since a normal exit would
//! run the submission's library destructors and exit handlers after the judge's search for what it left.
//!
//! After answering `call` with `done` the worker stops itself with `SIGSTOP`; the judge waits until it is
//! stopped, copies the slot's output and inputs out, and wakes it with `SIGCONT`. So the judge sees exactly
//! what `solve` left when it returned, whatever threads or streams the submission left running (on a GPU the
//! worker synchronises the whole device and copies the device's output and inputs into the slot before
//! answering, and adds to `done` what it saw of the device: [`DeviceCall`]).
//!
//! Any request can instead be answered with `failed {stage, message}`, naming one of the steps that request
//! takes ([`Request::stages`]). The judge treats everything it reads as untrusted: a frame that is too long or
//! does not decode ends the worker with a protocol error, and so does a `failed` that names a step the request
//! does not take. From `load` on, submitted code runs in the worker and can write on its channel; a failure it
//! forged could otherwise claim the device could not be opened (a *skipped* case, as if the machine lacked a
//! GPU), which only `prepare`, before any submitted code has run, can answer. Likewise the clock and the device
//! report of a `done` must be those of the worker's backend ([`worker_clock`]).

use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use solutions::{Backend, Field, Shape};

use crate::results::Clock;

/// Version of this protocol; the worker refuses a `hello` with any other.
pub const PROTOCOL_VERSION: u32 = 6;

/// Largest frame either side accepts, in bytes.
pub const MAX_FRAME: usize = 1 << 20;

/// What the judge asks the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// First message: agree on the protocol.
    Hello {
        /// The judge's [`PROTOCOL_VERSION`].
        protocol: u32,
    },
    /// Get ready to run a library of this backend: open the CUDA device (`cuda`), then install the system-call
    /// filter. Nothing submitted has run when this is answered.
    Prepare {
        /// Which pointers `solve` takes: host (`cpu`) or device (`cuda`).
        backend: Backend,
    },
    /// Load the submission's shared library (which runs its initialisers) and look up `solve`.
    Load {
        /// Path of the `.so`.
        library: PathBuf,
    },
    /// Map the case's shared region (replacing any earlier one).
    Attach {
        /// The region's file.
        region: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// The case's shape.
        shape: Shape,
        /// Where each slot's arrays start.
        slots: Vec<SlotLayout>,
    },
    /// Run `solve` once on the arrays of one slot.
    Call {
        /// Index into the `slots` of the last `attach`.
        slot: u32,
    },
}

/// What the worker answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum Response {
    /// Answer to `hello`.
    Ready {
        /// The worker's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The worker's process id.
        pid: u32,
    },
    /// Answer to `prepare`.
    Prepared,
    /// Answer to `load`.
    Loaded,
    /// Answer to `attach`.
    Attached,
    /// Answer to `call`: the call returned (and, on a GPU, the device was synchronised).
    Done {
        /// Duration of the call by the worker's clock, in seconds.
        seconds: f64,
        /// Which clock took it.
        clock: Clock,
        /// What the worker saw of the device around the call (CUDA submissions only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceCall>,
    },
    /// The request could not be carried out.
    Failed {
        /// What the worker was doing.
        stage: Stage,
        /// Why, in words.
        message: String,
    },
}

impl Request {
    /// The steps this request takes: the stages a `failed` answer to it may name, beside
    /// [`Stage::Sequence`] (a request out of order, the judge's mistake).
    pub const fn stages(&self) -> &'static [Stage] {
        match self {
            Request::Hello { .. } => &[Stage::Hello],
            Request::Prepare { .. } => &[Stage::Device, Stage::Confine],
            Request::Load { .. } => &[Stage::Load, Stage::Symbol],
            Request::Attach { .. } => &[Stage::Attach],
            Request::Call { .. } => &[Stage::Call],
        }
    }

    /// Whether a `failed` answer naming `stage` can be an answer to this request.
    pub fn may_fail_at(&self, stage: Stage) -> bool {
        stage == Stage::Sequence || self.stages().contains(&stage)
    }
}

/// The clock a worker of `backend` times calls with: the host's monotonic clock for host pointers, CUDA
/// events for device pointers. The judge holds every `done` to it.
pub const fn worker_clock(backend: Backend) -> Clock {
    match backend {
        Backend::Cpu => Clock::Wall,
        Backend::Cuda => Clock::CudaEvents,
    }
}

/// What a CUDA worker saw of the device around one call: the signals of work left running on another stream
/// and of memory hoarded on the device, which the judge judges (the worker only reports).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeviceCall {
    /// How long the device stayed busy after the end event had completed, in seconds: the time a device-wide
    /// synchronise took once the default stream was done. Near zero unless `solve` left work running on a
    /// stream the default stream does not wait for.
    pub busy_after_s: f64,
    /// What the stream hold did in this call.
    pub hold: HoldOutcome,
    /// How long `solve` took on the host, from the call to its return, in seconds (the worker's clock). While
    /// the hold lasts, an honest `solve` only queues its launches in that time; work it does on the host, or by
    /// copies on a stream of its own, happens before the start event.
    pub solve_host_s: f64,
    /// Device memory in use after the call beyond what was in use before the first call, less the worker's
    /// own buffers, in bytes: what the submission holds (device-wide: another process's allocations during
    /// the call count too).
    pub memory_bytes: u64,
}

/// What the stream hold did in one call of a CUDA worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldOutcome {
    /// The hold lasted until `solve` returned, so the start event was reached only after every launch was
    /// queued: the events time the device's work (what `solve` did on the host came before the start event).
    Held,
    /// The hold gave way before `solve` returned (`solve` waited for the device while the hold lasted): what
    /// `solve` did before its launches reached the device came before the start event, so the time is short of
    /// the whole `solve`. At most a worker's first call and two more.
    GaveWay,
    /// The call was not held (the worker holds no more once the hold has given way in later calls, or no hold
    /// kernel was available): the events span the whole `solve`, host work and launch latency included.
    Unheld,
}

impl HoldOutcome {
    /// Whether the call's time covers the whole `solve`.
    pub fn timed_whole(self) -> bool {
        self != HoldOutcome::GaveWay
    }
}

/// The step a `failed` answer is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Agreeing on the protocol.
    Hello,
    /// Opening the CUDA device for a device-pointer submission (`prepare`, before the library is loaded).
    Device,
    /// Installing the system-call filter (`prepare`, before the library is loaded).
    Confine,
    /// Loading the library (`dlopen`).
    Load,
    /// Finding `solve` in it.
    Symbol,
    /// Mapping the region or allocating buffers.
    Attach,
    /// Running a call.
    Call,
    /// A request that makes no sense at this point (the judge's mistake).
    Sequence,
}

impl Stage {
    /// A few words for messages.
    pub const fn describe(self) -> &'static str {
        match self {
            Stage::Hello => "starting the worker",
            Stage::Device => "opening the CUDA device",
            Stage::Confine => "confining the worker to its own process",
            Stage::Load => "loading the library",
            Stage::Symbol => "finding `solve` in the library",
            Stage::Attach => "mapping the case's buffers",
            Stage::Call => "running solve",
            Stage::Sequence => "following the protocol",
        }
    }
}

/// Byte offsets, from the start of the region, of one slot's arrays: the seven inputs in the order of the
/// `solve` signature, then the output. Every offset is a multiple of [`SlotLayout::ALIGN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotLayout {
    /// `Q [B, D]` f32.
    pub q: u64,
    /// `K_idx [S, D]` u8.
    pub k_idx: u64,
    /// `qjl_signs [S, D]` i8.
    pub qjl_signs: u64,
    /// `gamma [S]` f32.
    pub gamma: u64,
    /// `Pi [D, D]` f32.
    pub pi: u64,
    /// `S_mat [D, D]` f32.
    pub s_mat: u64,
    /// `codebook [C]` f32.
    pub codebook: u64,
    /// `scores [B, S]` f32, the output.
    pub scores: u64,
}

impl SlotLayout {
    /// Alignment of every array, in bytes (a cache line and a GPU transaction several times over).
    pub const ALIGN: u64 = 256;

    /// Bytes kept free on each side of the output, filled with a known pattern before every call and checked
    /// after it: a write just outside the output is then seen, not lost in padding.
    pub const GUARD: u64 = 256;

    /// Lays out `count` slots for `shape` one after another, with [`Self::GUARD`] free bytes before and after
    /// each output; returns them and the region's total length.
    pub fn plan(shape: Shape, count: usize) -> (Vec<SlotLayout>, u64) {
        let mut at = 0u64;
        let mut place = |field: Field| {
            let guard = if field == Field::Scores {
                Self::GUARD
            } else {
                0
            };
            let start = at + guard;
            at = (start + field_bytes(shape, field) + guard).div_ceil(Self::ALIGN) * Self::ALIGN;
            start
        };
        let slots = (0..count)
            .map(|_| SlotLayout {
                q: place(Field::Q),
                k_idx: place(Field::KIdx),
                qjl_signs: place(Field::QjlSigns),
                gamma: place(Field::Gamma),
                pi: place(Field::Pi),
                s_mat: place(Field::SMat),
                codebook: place(Field::Codebook),
                scores: place(Field::Scores),
            })
            .collect();
        (slots, at.max(Self::ALIGN))
    }

    /// The offset of `field`'s array.
    pub const fn offset(&self, field: Field) -> u64 {
        match field {
            Field::Q => self.q,
            Field::KIdx => self.k_idx,
            Field::QjlSigns => self.qjl_signs,
            Field::Gamma => self.gamma,
            Field::Pi => self.pi,
            Field::SMat => self.s_mat,
            Field::Codebook => self.codebook,
            Field::Scores => self.scores,
        }
    }

    /// Checks that every array of `shape` lies inside a region of `len` bytes.
    pub fn fits(&self, shape: Shape, len: u64) -> bool {
        Field::ALL.into_iter().all(|f| {
            self.offset(f)
                .checked_add(field_bytes(shape, f))
                .is_some_and(|end| end <= len)
        })
    }
}

/// Bytes of one field's array at `shape`.
pub fn field_bytes(shape: Shape, field: Field) -> u64 {
    let elements: u64 = shape.dims(field).iter().map(|&d| d as u64).product();
    match field {
        Field::KIdx | Field::QjlSigns => elements,
        _ => 4 * elements,
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The pipe failed.
    #[error("reading the worker channel: {0}")]
    Io(#[from] io::Error),
    /// The length prefix is larger than [`MAX_FRAME`].
    #[error("a frame of {len} bytes, larger than the limit of {MAX_FRAME}")]
    TooLong {
        /// The announced length.
        len: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("the channel closed in the middle of a frame")]
    Truncated,
    /// The bytes are not a message of this protocol.
    #[error("a frame that is not a message of protocol {PROTOCOL_VERSION}: {0}")]
    Decode(String),
}

/// Writes one message as a frame and flushes.
pub fn write_frame<W: Write, T: Serialize>(out: &mut W, message: &T) -> io::Result<()> {
    let body = serde_json::to_vec(message).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::other(format!("message of {} bytes is too long", body.len())))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&body)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` when the stream ends cleanly before a frame starts.
pub fn read_frame<R: Read, T: DeserializeOwned>(input: &mut R) -> Result<Option<T>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        match input.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_le_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLong { len });
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| FrameError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let messages = [
            Request::Hello {
                protocol: PROTOCOL_VERSION,
            },
            Request::Prepare {
                backend: Backend::Cuda,
            },
            Request::Load {
                library: PathBuf::from("/proc/self/fd/5"),
            },
            Request::Call { slot: 3 },
        ];
        let mut buf = Vec::new();
        for m in &messages {
            write_frame(&mut buf, m).unwrap();
        }
        let mut input = buf.as_slice();
        for m in &messages {
            assert_eq!(
                read_frame::<_, Request>(&mut input).unwrap().as_ref(),
                Some(m)
            );
        }
        assert!(read_frame::<_, Request>(&mut input).unwrap().is_none());
    }

    #[test]
    fn only_prepare_may_fail_before_submitted_code_runs() {
        let prepare = Request::Prepare {
            backend: Backend::Cuda,
        };
        let load = Request::Load {
            library: PathBuf::from("lib.so"),
        };
        let call = Request::Call { slot: 0 };
        for stage in [Stage::Device, Stage::Confine] {
            assert!(prepare.may_fail_at(stage));
            assert!(!load.may_fail_at(stage) && !call.may_fail_at(stage));
        }
        assert!(load.may_fail_at(Stage::Symbol) && !load.may_fail_at(Stage::Call));
        assert!(call.may_fail_at(Stage::Call) && call.may_fail_at(Stage::Sequence));
        assert!(!call.may_fail_at(Stage::Hello) && !call.may_fail_at(Stage::Attach));
        assert_eq!(worker_clock(Backend::Cpu), Clock::Wall);
        assert_eq!(worker_clock(Backend::Cuda), Clock::CudaEvents);
    }

    #[test]
    fn hostile_frames_are_errors() {
        let huge = (MAX_FRAME as u32 + 1).to_le_bytes();
        assert!(matches!(
            read_frame::<_, Response>(&mut huge.as_slice()),
            Err(FrameError::TooLong { .. })
        ));
        let cut = [5u8, 0, 0, 0, b'{'];
        assert!(matches!(
            read_frame::<_, Response>(&mut cut.as_slice()),
            Err(FrameError::Truncated)
        ));
        let mut junk = 4u32.to_le_bytes().to_vec();
        junk.extend_from_slice(b"oops");
        assert!(matches!(
            read_frame::<_, Response>(&mut junk.as_slice()),
            Err(FrameError::Decode(_))
        ));
        assert!(matches!(
            read_frame::<_, Response>(&mut [1u8, 0].as_slice()),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn slots_are_aligned_disjoint_and_inside_the_region() {
        let shape = Shape::new(3, 30, 50, 8);
        let (slots, len) = SlotLayout::plan(shape, 2);
        assert_eq!(slots.len(), 2);
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for slot in &slots {
            assert!(slot.fits(shape, len));
            for f in Field::ALL {
                assert_eq!(slot.offset(f) % SlotLayout::ALIGN, 0);
                spans.push((slot.offset(f), slot.offset(f) + field_bytes(shape, f)));
            }
        }
        spans.sort_unstable();
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "{spans:?}");
        assert!(!slots[0].fits(shape, len / 3));
    }
}
