//! The worker: what `judge worker` (a hidden subcommand) runs, and the only process that executes submitted
//! code. It loads the submission's library, maps the case's shared region, and runs one `solve` per `call`
//! request, timing it; it never sees an expected output and never judges anything.
//!
//! Before anything else it moves its protocol channel off stdin/stdout onto private descriptors and points
//! stdout at stderr, so a submission that prints cannot corrupt the channel (its output lands in the stderr
//! tail the judge keeps). After answering a call it stops itself (`SIGSTOP`) until the judge has copied the
//! output and the inputs out, so what the judge checks is what `solve` left when it returned.
//!
//! What differs between backends lives behind [`Executor`]: where the pointers handed to `solve` point and
//! how a call is staged and timed. [`HostExecutor`] passes pointers into the shared region and times with the
//! monotonic clock; [`CudaExecutor`] hands `solve` device buffers (one set per slot), times it with CUDA events
//! and synchronises the whole device before copying the output and the inputs back into the slot.

use std::ffi::c_int;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
use solutions::cuda::CudaError;
use solutions::{Backend, Field, Shape};

use super::cuda::CudaExecutor;
use super::privileges;
use super::protocol::{
    DeviceCall, FrameError, PROTOCOL_VERSION, Request, Response, SlotLayout, Stage, field_bytes,
    read_frame, worker_clock, write_frame,
};
use super::region::Region;
use super::seccomp;

/// The C signature of `solve` in the challenge's contract:
/// `void solve(const float* Q, const unsigned char* K_idx, const signed char* qjl_signs, const float* gamma,
/// const float* Pi, const float* S_mat, const float* codebook, float* scores, int B, int S, int D, int C)`.
pub type SolveFn = unsafe extern "C" fn(
    *const f32,
    *const u8,
    *const i8,
    *const f32,
    *const f32,
    *const f32,
    *const f32,
    *mut f32,
    c_int,
    c_int,
    c_int,
    c_int,
);

/// The name of the exported function.
pub const SOLVE_SYMBOL: &str = "solve";

/// Why the worker stopped serving (it then exits with a failure status; the judge sees a dead worker).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The channel to the judge could not be set up.
    #[error("setting up the channel to the judge: {0}")]
    Channel(#[source] io::Error),
    /// The worker could not give up its privileges, so it runs no submitted code.
    #[error("dropping privileges before running submitted code: {0}")]
    Privileges(#[source] io::Error),
    /// A request could not be read.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// An answer could not be written.
    #[error("writing to the judge: {0}")]
    Reply(#[source] io::Error),
}

/// Serves requests until the judge closes the channel (or, as it does, kills the worker).
pub fn serve() -> Result<(), WorkerError> {
    // The judge already dropped them before `exec`; again here for a worker started some other way, before
    // any thread exists (capabilities are per thread) and long before a submission is loaded.
    privileges::drop_all(privileges::WorkerUser::Judge).map_err(WorkerError::Privileges)?;
    if privileges::any_held().map_err(WorkerError::Privileges)? {
        return Err(WorkerError::Privileges(io::Error::other(
            "capabilities remain after dropping them all",
        )));
    }
    // Not dumpable: another process of this user (a worker of a judge running beside this one) cannot open this
    // one's memory through /proc, nor attach to it. The judge reads only what /proc shows everyone.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_DUMPABLE takes an integer flag; no pointers are involved.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) } != 0 {
        return Err(WorkerError::Privileges(io::Error::last_os_error()));
    }
    let (mut from_judge, mut to_judge) = take_channel().map_err(WorkerError::Channel)?;
    let mut state = State::default();
    while let Some(request) = read_frame::<_, Request>(&mut from_judge)? {
        let response = state.handle(request);
        write_frame(&mut to_judge, &response).map_err(WorkerError::Reply)?;
        if matches!(response, Response::Done { .. }) {
            freeze();
        }
    }
    Ok(())
}

/// Stops this whole process (every thread of it) until the judge has copied the slot out and sends
/// `SIGCONT`: nothing the submission left running can finish the output, or put an input back, after `solve`
/// returned.
fn freeze() {
    // SAFETY: raising a signal at ourselves; SIGSTOP cannot be caught, so no handler runs.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}

/// An error and its causes, on one line (`dlopen failed: libfoo.so: cannot open shared object file`), each cause
/// once.
fn chain(error: &dyn std::error::Error) -> String {
    crate::commands::error_lines(error).join(": ")
}

/// Moves the protocol channel from fds 0/1 to private close-on-exec descriptors, then points fd 0 at
/// `/dev/null` and fd 1 at stderr.
fn take_channel() -> io::Result<(File, File)> {
    let dup = |fd: c_int| -> io::Result<File> {
        // SAFETY: F_DUPFD_CLOEXEC on an fd this process was started with; the result is checked.
        let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if new < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `new` is a freshly duplicated descriptor that nothing else owns.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(new) }))
    };
    let input = dup(0)?;
    let output = dup(1)?;
    let null = File::open("/dev/null")?;
    // SAFETY: dup2 onto the standard descriptors, which this process owns; both sources are open.
    let ok = unsafe { libc::dup2(null.as_raw_fd(), 0) >= 0 && libc::dup2(2, 1) >= 0 };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    Ok((input, output))
}

/// What the symbol at `address` (found by `dlsym`) is, when it is data rather than code: `a variable`, `a
/// thread-local variable`; `None` for a function, for a symbol of no type (a label of hand-written assembly) and
/// when the dynamic linker cannot say.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn data_symbol(address: *const std::ffi::c_void) -> Option<&'static str> {
    /// `RTLD_DL_SYMENT` of `<dlfcn.h>`: `dladdr1` also gives the symbol's ELF entry.
    const RTLD_DL_SYMENT: c_int = 1;
    #[cfg(target_pointer_width = "64")]
    type Sym = libc::Elf64_Sym;
    #[cfg(target_pointer_width = "32")]
    type Sym = libc::Elf32_Sym;
    // SAFETY: `Dl_info` is plain data, for `dladdr1` to fill.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut entry: *mut std::ffi::c_void = std::ptr::null_mut();
    // SAFETY: `dladdr1` only reads the dynamic linker's tables for `address` and writes the two out-parameters.
    let found = unsafe { libc::dladdr1(address, &mut info, &mut entry, RTLD_DL_SYMENT) };
    if found == 0 || entry.is_null() {
        return None;
    }
    // SAFETY: with RTLD_DL_SYMENT, a non-null `entry` points to the symbol's entry in the loaded library's
    // dynamic symbol table, which stays mapped while the library is loaded.
    let kind = unsafe { (*entry.cast::<Sym>()).st_info } & 0xf;
    match kind {
        // STT_OBJECT, STT_COMMON
        1 | 5 => Some("a variable"),
        // STT_TLS
        6 => Some("a thread-local variable"),
        _ => None,
    }
}

/// Elsewhere the worker cannot tell, and calls the symbol.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn data_symbol(_: *const std::ffi::c_void) -> Option<&'static str> {
    None
}

/// What to add to the message of a library at `path` that exports no `solve`: a hint when it holds the name of
/// a C++ `solve` (`_Z5solve…`, mangled because it was not declared `extern "C"`), else nothing.
/// Reads at most the first 64 MiB, far beyond the symbol tables of any library of one source file.
fn mangled_hint(path: &Path) -> &'static str {
    use std::io::Read;
    const MANGLED: &[u8] = b"_Z5solve";
    let mut bytes = Vec::new();
    let holds = File::open(path)
        .and_then(|file| file.take(64 << 20).read_to_end(&mut bytes))
        .is_ok_and(|_| bytes.windows(MANGLED.len()).any(|w| w == MANGLED));
    if holds {
        "; it exports a C++ `solve`, whose name is mangled: declare it `extern \"C\"`"
    } else {
        ""
    }
}

/// What one call measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Call {
    /// Its duration by the executor's clock, in seconds.
    pub seconds: f64,
    /// What a device executor saw of the device around it.
    pub device: Option<DeviceCall>,
}

/// Why an executor could not stage, run or read back a call (or get ready for a case).
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The judge asked for a slot the case does not have.
    #[error("no slot {index}")]
    NoSlot {
        /// The slot asked for.
        index: usize,
    },
    /// A slot's array does not fit in the region.
    #[error("slot {index}: {field} lies outside the region")]
    OutsideRegion {
        /// The slot.
        index: usize,
        /// The array.
        field: Field,
    },
    /// A dimension does not fit the contract's `int`.
    #[error("dimension {value} overflows int")]
    Dimension {
        /// The dimension.
        value: usize,
    },
    /// A CUDA driver call failed (after `solve`, usually an error of the submission's kernels).
    #[error(transparent)]
    Cuda(#[from] CudaError),
}

/// How one backend hands buffers to `solve` and times a call (with the clock [`worker_clock`] gives for it).
pub trait Executor {
    /// Gets ready for a newly mapped region (a device backend allocates its buffers here).
    fn attach(
        &mut self,
        region: &Region,
        shape: Shape,
        slots: &[SlotLayout],
    ) -> Result<(), ExecutorError>;

    /// Runs `solve` once on slot `index` and says how long it took. When it returns, the slot's output (and
    /// its inputs, as the call left them) must be in the region for the judge to read.
    fn call(
        &mut self,
        solve: SolveFn,
        region: &Region,
        shape: Shape,
        slots: &[SlotLayout],
        index: usize,
    ) -> Result<Call, ExecutorError>;
}

/// Host pointers straight into the shared region, timed by the monotonic clock.
#[derive(Debug, Default)]
pub struct HostExecutor;

impl Executor for HostExecutor {
    fn attach(&mut self, _: &Region, _: Shape, _: &[SlotLayout]) -> Result<(), ExecutorError> {
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
        let slot = slots.get(index).ok_or(ExecutorError::NoSlot { index })?;
        let at = |field: Field| {
            region
                .address(slot.offset(field), field_bytes(shape, field))
                .ok_or(ExecutorError::OutsideRegion { index, field })
        };
        let (q, k_idx, signs, gamma) = (
            at(Field::Q)?,
            at(Field::KIdx)?,
            at(Field::QjlSigns)?,
            at(Field::Gamma)?,
        );
        let (pi, s_mat, codebook, scores) = (
            at(Field::Pi)?,
            at(Field::SMat)?,
            at(Field::Codebook)?,
            at(Field::Scores)?,
        );
        let dim = |v: usize| c_int::try_from(v).map_err(|_| ExecutorError::Dimension { value: v });
        let (b, s, d, c) = (dim(shape.b)?, dim(shape.s)?, dim(shape.d)?, dim(shape.c)?);
        let start = Instant::now();
        // SAFETY: `solve` has the contract's signature (it was looked up by that name in a library built for
        // it). Every pointer points into the mapped region, at an offset aligned to 256 bytes, with room for
        // the array the contract says it is (checked by `address`). What the submission does beyond the
        // contract is the reason it runs in this process and not in the judge.
        unsafe {
            solve(
                q.cast(),
                k_idx.cast(),
                signs.cast(),
                gamma.cast(),
                pi.cast(),
                s_mat.cast(),
                codebook.cast(),
                scores.cast(),
                b,
                s,
                d,
                c,
            );
        }
        Ok(Call {
            seconds: start.elapsed().as_secs_f64(),
            device: None,
        })
    }
}

/// The backend a worker was prepared for, before its library is loaded.
struct Prepared {
    executor: Box<dyn Executor>,
    backend: Backend,
}

struct Loaded {
    solve: SolveFn,
    executor: Box<dyn Executor>,
    backend: Backend,
    _library: Library,
}

struct Attached {
    region: Region,
    shape: Shape,
    slots: Vec<SlotLayout>,
}

#[derive(Default)]
struct State {
    prepared: Option<Prepared>,
    loaded: Option<Loaded>,
    attached: Option<Attached>,
    /// Earlier regions stay mapped until exit: a submission's stray thread may still be touching them.
    retired: Vec<Region>,
}

fn failed(stage: Stage, message: impl Into<String>) -> Response {
    Response::Failed {
        stage,
        message: message.into(),
    }
}

impl State {
    fn handle(&mut self, request: Request) -> Response {
        match request {
            Request::Hello { protocol } if protocol == PROTOCOL_VERSION => Response::Ready {
                protocol,
                pid: std::process::id(),
            },
            Request::Hello { protocol } => failed(
                Stage::Hello,
                format!("the judge speaks protocol {protocol}, this worker {PROTOCOL_VERSION}"),
            ),
            Request::Prepare { backend } => match self.prepare(backend) {
                Ok(()) => Response::Prepared,
                Err(response) => response,
            },
            Request::Load { library } => match self.load(&library) {
                Ok(()) => Response::Loaded,
                Err(response) => response,
            },
            Request::Attach {
                region,
                len,
                shape,
                slots,
            } => match self.attach(&region, len, shape, slots) {
                Ok(()) => Response::Attached,
                Err(message) => failed(Stage::Attach, message),
            },
            Request::Call { slot } => self.call(slot as usize),
        }
    }

    /// Opens the device and confines the process, before any submitted code runs: a failure here is the
    /// machine's, which the judge may report as a case it could not run, so it is answered before the library
    /// is loaded (from then on, submitted code could write answers of its own).
    fn prepare(&mut self, backend: Backend) -> Result<(), Response> {
        if self.prepared.is_some() || self.loaded.is_some() {
            return Err(failed(Stage::Sequence, "the worker is already prepared"));
        }
        let executor: Box<dyn Executor> = match backend {
            Backend::Cpu => Box::new(HostExecutor),
            Backend::Cuda => {
                Box::new(CudaExecutor::new().map_err(|e| failed(Stage::Device, chain(&e)))?)
            }
        };
        // From here on no thread of this process may start a process or signal another (module `seccomp`).
        if seccomp::SUPPORTED {
            seccomp::Filter::new().install().map_err(|e| {
                failed(
                    Stage::Confine,
                    format!(
                        "this kernel refused the system-call filter, so no submitted code runs: {e}"
                    ),
                )
            })?;
        }
        self.prepared = Some(Prepared { executor, backend });
        Ok(())
    }

    fn load(&mut self, path: &Path) -> Result<(), Response> {
        if self.loaded.is_some() {
            return Err(failed(Stage::Sequence, "a library is already loaded"));
        }
        let Some(Prepared { executor, backend }) = self.prepared.take() else {
            return Err(failed(Stage::Sequence, "load before prepare"));
        };
        // SAFETY: loading runs the library's initialisers, which are submitted code; containing submitted
        // code is what this process is for. RTLD_NOW makes a missing symbol fail here rather than mid-call.
        let library = unsafe { Library::open(Some(path.as_os_str()), RTLD_NOW | RTLD_LOCAL) }
            .map_err(|e| failed(Stage::Load, chain(&e)))?;
        // SAFETY: the contract fixes `solve`'s C signature, which `SolveFn` spells out; the pointer is copied
        // out while `library` (kept alongside it in `Loaded`) stays loaded.
        let solve: SolveFn = unsafe {
            *library
                .get::<SolveFn>(SOLVE_SYMBOL.as_bytes())
                .map_err(|e| {
                    failed(
                        Stage::Symbol,
                        format!(
                            "the library does not export `{SOLVE_SYMBOL}` ({}){}",
                            chain(&e),
                            mangled_hint(path)
                        ),
                    )
                })?
        };
        // A variable of that name is found too; calling it would jump into data.
        if let Some(what) = data_symbol(solve as *const std::ffi::c_void) {
            return Err(failed(
                Stage::Symbol,
                format!("the library's `{SOLVE_SYMBOL}` is {what}, not a function"),
            ));
        }
        self.loaded = Some(Loaded {
            solve,
            executor,
            backend,
            _library: library,
        });
        Ok(())
    }

    fn attach(
        &mut self,
        path: &Path,
        len: u64,
        shape: Shape,
        slots: Vec<SlotLayout>,
    ) -> Result<(), String> {
        shape.validate().map_err(|e| e.to_string())?;
        if slots.is_empty() || slots.iter().any(|s| !s.fits(shape, len)) {
            return Err(format!("a slot does not fit a region of {len} bytes"));
        }
        let loaded = self
            .loaded
            .as_mut()
            .ok_or_else(|| "attach before load".to_owned())?;
        let region = Region::open(path, len).map_err(|e| format!("{}: {e}", path.display()))?;
        loaded
            .executor
            .attach(&region, shape, &slots)
            .map_err(|e| chain(&e))?;
        if let Some(old) = self.attached.take() {
            self.retired.push(old.region);
        }
        self.attached = Some(Attached {
            region,
            shape,
            slots,
        });
        Ok(())
    }

    fn call(&mut self, index: usize) -> Response {
        let (Some(loaded), Some(attached)) = (self.loaded.as_mut(), self.attached.as_ref()) else {
            return failed(Stage::Sequence, "call before load and attach");
        };
        match loaded.executor.call(
            loaded.solve,
            &attached.region,
            attached.shape,
            &attached.slots,
            index,
        ) {
            Ok(call) => Response::Done {
                seconds: call.seconds,
                clock: worker_clock(loaded.backend),
                device: call.device,
            },
            Err(error) => failed(Stage::Call, chain(&error)),
        }
    }
}
