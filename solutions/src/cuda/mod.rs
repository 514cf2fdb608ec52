//! The CUDA backend: finds the driver and a device at run time, compiles the kernels of `kernels/` with NVRTC
//! for that device (once per process, with a disk cache), and holds the process's one context and stream.
//!
//! Nothing here needs a CUDA toolkit to build: the driver (`libcuda`) is loaded through cudarc's dynamic
//! loading with the CUDA 12.0 ABI, which every driver from 12.0 (525.60) on, 13.x included, provides; NVRTC
//! is loaded by [`nvrtc`]. On a machine with no driver or no device, [`availability`] says why and the CUDA
//! variants are skipped.
//!
//! * [`nvrtc`]: the run-time compiler;
//! * [`Gpu`] (through [`gpu`]): device facts, the context, the stream, compiled modules;
//! * [`Module`] and [`Kernel`]: a loaded module and one of its `extern "C"` kernels, launched with raw
//!   parameters;
//! * [`smem`] and [`warpspec`]: the two CUDA variants; [`onelaunch`]: their one-launch kernels (v5), selected
//!   with `JUDGE_CUDA_ONE_LAUNCH`.

pub mod buffers;
mod cache;
pub mod nvrtc;
pub mod onelaunch;
pub mod smem;
pub mod trace;
pub mod warpspec;

use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::sync::{Arc, Mutex, OnceLock};

pub use cudarc;
use cudarc::driver::sys;
use cudarc::driver::{CudaContext, CudaStream, DriverError};

use crate::problem::Shape;
use crate::solution::Availability;
use nvrtc::NvrtcError;

/// A CUDA C source of `kernels/`, embedded in the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelSource {
    /// Its file name (`cuda_smem.cu`), used in messages and as the cache key's name.
    pub name: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// The timing kernels of the harness: the stream hold and the L2 flush.
pub const HARNESS_CU: KernelSource = KernelSource {
    name: "harness.cu",
    text: include_str!("../../../kernels/harness.cu"),
};
/// The f32 query projections (`Qp`, `Qs`) both CUDA variants start from.
pub const QPROJ_CU: KernelSource = KernelSource {
    name: "qproj.cu",
    text: include_str!("../../../kernels/qproj.cu"),
};
/// The kernels of `cuda-smem`.
pub const SMEM_CU: KernelSource = KernelSource {
    name: "cuda_smem.cu",
    text: include_str!("../../../kernels/cuda_smem.cu"),
};
/// The kernels of `cuda-warpspec` (with `kernels/trace.cuh` and `kernels/sm90.cuh` prepended).
pub const WARPSPEC_CU: KernelSource = KernelSource {
    name: "cuda_warpspec.cu",
    text: concat!(
        include_str!("../../../kernels/trace.cuh"),
        include_str!("../../../kernels/sm90.cuh"),
        include_str!("../../../kernels/cuda_warpspec.cu")
    ),
};
/// The one-launch kernel of `cuda-smem` (v5, [`onelaunch`]), after the fused projection and grid barrier
/// (`kernels/trace.cuh` and `kernels/onelaunch_proj.cu`, prepended).
pub const SMEM_1L_CU: KernelSource = KernelSource {
    name: "cuda_smem_1l.cu",
    text: concat!(
        include_str!("../../../kernels/trace.cuh"),
        include_str!("../../../kernels/onelaunch_proj.cu"),
        include_str!("../../../kernels/cuda_smem_1l.cu")
    ),
};
/// The one-launch kernel of `cuda-warpspec` (v5, [`onelaunch`]), after the fused projection (`kernels/trace.cuh`,
/// `kernels/sm90.cuh` and `kernels/onelaunch_proj.cu`, prepended).
pub const WARPSPEC_1L_CU: KernelSource = KernelSource {
    name: "cuda_warpspec_1l.cu",
    text: concat!(
        include_str!("../../../kernels/trace.cuh"),
        include_str!("../../../kernels/sm90.cuh"),
        include_str!("../../../kernels/onelaunch_proj.cu"),
        include_str!("../../../kernels/cuda_warpspec_1l.cu")
    ),
};
/// Every kernel source, for tools that compile them all.
pub const ALL_SOURCES: [KernelSource; 6] = [
    HARNESS_CU,
    QPROJ_CU,
    SMEM_CU,
    WARPSPEC_CU,
    SMEM_1L_CU,
    WARPSPEC_1L_CU,
];

/// Options every kernel is compiled with.
pub const COMPILE_OPTIONS: [&str; 2] = ["--std=c++17", "-lineinfo"];

/// A failure of the CUDA backend, with what it was doing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CudaError {
    /// The driver library is not there.
    #[error(
        "no NVIDIA driver: the CUDA driver library (libcuda.so) could not be loaded; CUDA 12.0 or newer \
         (driver 525.60+) is needed"
    )]
    NoDriver,
    /// The driver is there but has no device for us.
    #[error("no CUDA device: {call} returned {message}")]
    NoDevice { call: &'static str, message: String },
    /// A driver call failed.
    #[error("{context}: {call} failed: {message}")]
    Driver {
        context: String,
        call: &'static str,
        message: String,
    },
    /// NVRTC could not be loaded or could not compile.
    #[error(transparent)]
    Nvrtc(#[from] NvrtcError),
    /// The driver rejected a compiled module.
    #[error(
        "{source_name} compiled for {arch} by NVRTC {nvrtc} could not be loaded by the driver (CUDA {driver}): \
         {message}"
    )]
    ModuleLoad {
        source_name: String,
        arch: String,
        nvrtc: String,
        driver: String,
        message: String,
    },
    /// This device cannot run a kernel.
    #[error("{what} needs {needs}; this GPU ({device}) is compute capability {found}")]
    Unsupported {
        what: String,
        needs: String,
        device: String,
        found: String,
    },
}

/// `CUDA_ERROR_NAME: description` for a driver error.
pub fn describe(e: DriverError) -> String {
    let name = e
        .error_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("CUresult {}", e.0 as i32));
    match e.error_string() {
        Ok(text) => format!("{name}: {}", text.to_string_lossy()),
        Err(_) => name,
    }
}

/// Turns a raw driver status into a [`CudaError::Driver`] naming `context` and `call`.
pub fn check(status: sys::CUresult, context: &str, call: &'static str) -> Result<(), CudaError> {
    status.result().map_err(|e| driver_error(e, context, call))
}

/// A [`CudaError::Driver`] from a cudarc error.
pub fn driver_error(e: DriverError, context: &str, call: &'static str) -> CudaError {
    CudaError::Driver {
        context: context.to_owned(),
        call,
        message: describe(e),
    }
}

/// What the judge knows of the device it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// Device ordinal.
    pub ordinal: usize,
    /// Name as the driver reports it.
    pub name: String,
    /// Compute capability `(major, minor)`.
    pub compute_capability: (i32, i32),
    /// Number of multiprocessors.
    pub multiprocessors: u32,
    /// L2 cache size, in bytes.
    pub l2_bytes: u64,
    /// Largest shared memory a block can opt in to, in bytes.
    pub smem_per_block_optin: u32,
    /// Global memory, in bytes.
    pub memory_bytes: u64,
    /// CUDA version the driver supports, as `major·1000 + minor·10` (13000 for 13.0).
    pub driver_cuda_version: i32,
}

impl DeviceInfo {
    /// `sm_90`-style name of the architecture.
    pub fn sm(&self) -> String {
        format!(
            "sm_{}{}",
            self.compute_capability.0, self.compute_capability.1
        )
    }

    /// The driver's CUDA version as `13.0`.
    pub fn driver_cuda(&self) -> String {
        format!(
            "{}.{}",
            self.driver_cuda_version / 1000,
            (self.driver_cuda_version % 1000) / 10
        )
    }
}

/// The process's GPU: context, stream, device facts and compiled modules.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    /// Facts about the device.
    pub info: DeviceInfo,
    /// Loaded modules by source name and whether they were built for the architecture-specific target.
    modules: Mutex<HashMap<(&'static str, bool), Arc<Module>>>,
}

static GPU: OnceLock<Result<Gpu, CudaError>> = OnceLock::new();

/// The process's GPU (device 0, or `CUDA_VISIBLE_DEVICES`' first), initialised on first use.
pub fn gpu() -> Result<&'static Gpu, CudaError> {
    GPU.get_or_init(Gpu::open).as_ref().map_err(Clone::clone)
}

/// Whether CUDA variants can run here: a driver, a device of compute capability at least `min_cc`, and NVRTC.
pub fn availability(min_cc: (i32, i32), what: &str) -> Availability {
    let check = || -> Result<(), CudaError> {
        let gpu = gpu()?;
        nvrtc::nvrtc()?;
        gpu.require(min_cc, what)
    };
    match check() {
        Ok(()) => Availability::Available,
        Err(e) => Availability::Unavailable(e.to_string()),
    }
}

impl Gpu {
    fn open() -> Result<Gpu, CudaError> {
        // SAFETY: probing for the library runs its initialisers only.
        if !unsafe { sys::is_culib_present() } {
            return Err(CudaError::NoDriver);
        }
        let no_device = |call, e: DriverError| CudaError::NoDevice {
            call,
            message: describe(e),
        };
        cudarc::driver::result::init().map_err(|e| no_device("cuInit", e))?;
        let count = CudaContext::device_count().map_err(|e| no_device("cuDeviceGetCount", e))?;
        if count < 1 {
            return Err(CudaError::NoDevice {
                call: "cuDeviceGetCount",
                message: "0 devices".to_owned(),
            });
        }
        let ctx = CudaContext::new(0)
            .map_err(|e| driver_error(e, "opening device 0", "cuDevicePrimaryCtxRetain"))?;
        // SAFETY: every allocation of the judge is used on the one stream below, so cudarc's cross-stream
        // tracking events are not needed (they would add work to the timed stream).
        unsafe { ctx.disable_event_tracking() };
        let attr = |a, what: &'static str| -> Result<i32, CudaError> {
            ctx.attribute(a)
                .map_err(|e| driver_error(e, what, "cuDeviceGetAttribute"))
        };
        use sys::CUdevice_attribute_enum as A;
        let info = DeviceInfo {
            ordinal: 0,
            name: ctx
                .name()
                .map_err(|e| driver_error(e, "device name", "cuDeviceGetName"))?,
            compute_capability: ctx
                .compute_capability()
                .map_err(|e| driver_error(e, "compute capability", "cuDeviceGetAttribute"))?,
            multiprocessors: u32::try_from(attr(
                A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
                "SM count",
            )?)
            .unwrap_or(1),
            l2_bytes: u64::try_from(attr(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, "L2 size")?)
                .unwrap_or(0),
            smem_per_block_optin: u32::try_from(attr(
                A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                "shared memory per block",
            )?)
            .unwrap_or(48 * 1024),
            memory_bytes: ctx
                .total_mem()
                .map_err(|e| driver_error(e, "memory size", "cuDeviceTotalMem"))?
                as u64,
            driver_cuda_version: {
                let mut v = 0;
                // SAFETY: valid pointer to one int.
                check(
                    unsafe { sys::cuDriverGetVersion(&mut v) },
                    "driver version",
                    "cuDriverGetVersion",
                )?;
                v
            },
        };
        let stream = ctx
            .new_stream()
            .map_err(|e| driver_error(e, "creating the judge's stream", "cuStreamCreate"))?;
        Ok(Gpu {
            ctx,
            stream,
            info,
            modules: Mutex::new(HashMap::new()),
        })
    }

    /// The context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The stream every CUDA variant and the GPU timer use.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Makes the context current on the calling thread.
    pub fn bind(&self) -> Result<(), CudaError> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| driver_error(e, "making the context current", "cuCtxSetCurrent"))
    }

    /// Waits for all work on the device (every stream of the context).
    pub fn synchronize_device(&self, context: &str) -> Result<(), CudaError> {
        self.bind()?;
        // SAFETY: the context is current.
        check(
            unsafe { sys::cuCtxSynchronize() },
            context,
            "cuCtxSynchronize",
        )
    }

    /// Fails with [`CudaError::Unsupported`] unless the device is at least compute capability `min_cc`.
    pub fn require(&self, min_cc: (i32, i32), what: &str) -> Result<(), CudaError> {
        if self.info.compute_capability >= min_cc {
            Ok(())
        } else {
            Err(CudaError::Unsupported {
                what: what.to_owned(),
                needs: format!("compute capability {}.{} or newer", min_cc.0, min_cc.1),
                device: self.info.name.clone(),
                found: format!(
                    "{}.{}",
                    self.info.compute_capability.0, self.info.compute_capability.1
                ),
            })
        }
    }

    /// The launch plan that `plan` makes for this device's multiprocessors and shared memory per block (opt-in),
    /// in that order; where it makes none (the shared memory does not fit), a [`CudaError::Unsupported`] for
    /// `what`, which `needs` more.
    pub fn plan<P>(
        &self,
        plan: impl FnOnce(usize, usize) -> Option<P>,
        what: String,
        needs: &str,
    ) -> Result<P, CudaError> {
        let info = &self.info;
        plan(
            info.multiprocessors as usize,
            info.smem_per_block_optin as usize,
        )
        .ok_or_else(|| CudaError::Unsupported {
            what,
            needs: needs.to_owned(),
            device: info.name.clone(),
            found: format!(
                "{}.{} with {} bytes per block",
                info.compute_capability.0, info.compute_capability.1, info.smem_per_block_optin
            ),
        })
    }

    /// The module of `source`, compiled for this device on first use (or read from the disk cache).
    pub fn module(&self, source: &KernelSource) -> Result<Arc<Module>, CudaError> {
        self.load_module(source, false)
    }

    /// As [`Gpu::module`], compiled for the architecture-specific target of this device where there is one
    /// (`sm_90a` on compute capability 9.0, which has `wgmma` and `setmaxnreg`); the plain target elsewhere.
    /// [`Module::arch`] says which.
    pub fn module_arch_specific(&self, source: &KernelSource) -> Result<Arc<Module>, CudaError> {
        self.load_module(source, true)
    }

    fn load_module(&self, source: &KernelSource, specific: bool) -> Result<Arc<Module>, CudaError> {
        let mut modules = self
            .modules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(m) = modules.get(&(source.name, specific)) {
            return Ok(m.clone());
        }
        let nvrtc = nvrtc::nvrtc()?;
        let (major, minor) = self.info.compute_capability;
        let (mut arch, is_ptx) =
            nvrtc
                .arch_for(major, minor)
                .ok_or_else(|| CudaError::Unsupported {
                    what: format!("NVRTC {}.{}", nvrtc.version.0, nvrtc.version.1),
                    needs: format!("an architecture it can compile for ({:?})", nvrtc.archs),
                    device: self.info.name.clone(),
                    found: format!("{major}.{minor}"),
                })?;
        if specific && !is_ptx && (major, minor) == (9, 0) {
            arch.push('a');
        }
        let options: Vec<String> = COMPILE_OPTIONS.iter().map(|s| (*s).to_owned()).collect();
        let compiled = cache::compile_cached(nvrtc, source, &arch, &options)?;
        self.bind()?;
        let mut raw: sys::CUmodule = std::ptr::null_mut();
        let mut image = compiled.image;
        if compiled.is_ptx && image.last() != Some(&0) {
            image.push(0);
        }
        // SAFETY: `image` is a complete cubin or NUL-terminated PTX produced by NVRTC; the context is current.
        let status = unsafe { sys::cuModuleLoadData(&mut raw, image.as_ptr().cast()) };
        status.result().map_err(|e| CudaError::ModuleLoad {
            source_name: source.name.to_owned(),
            arch: arch.clone(),
            nvrtc: format!("{}.{}", nvrtc.version.0, nvrtc.version.1),
            driver: self.info.driver_cuda(),
            message: describe(e),
        })?;
        let module = Arc::new(Module {
            raw,
            source: source.name,
            arch,
            ctx: self.ctx.clone(),
        });
        modules.insert((source.name, specific), module.clone());
        Ok(module)
    }
}

/// A module loaded into the context.
pub struct Module {
    raw: sys::CUmodule,
    source: &'static str,
    /// The architecture it was compiled for (`sm_90`).
    pub arch: String,
    ctx: Arc<CudaContext>,
}

// SAFETY: a CUmodule handle may be used from any thread of the process (the driver API is thread-safe); the
// context it belongs to is kept alive by `ctx`.
unsafe impl Send for Module {}
// SAFETY: as above; the handle is only read.
unsafe impl Sync for Module {}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: the module was loaded by cuModuleLoadData and is unloaded once. A failure here cannot be acted on.
        let _ = self.ctx.bind_to_thread();
        let _ = unsafe { sys::cuModuleUnload(self.raw) };
    }
}

impl Module {
    /// The `extern "C"` kernel `name` of this module.
    pub fn kernel(self: &Arc<Self>, name: &'static str) -> Result<Kernel, CudaError> {
        let c_name = CString::new(name).map_err(|_| CudaError::Driver {
            context: format!("kernel name '{name}'"),
            call: "cuModuleGetFunction",
            message: "holds a NUL byte".to_owned(),
        })?;
        let mut raw: sys::CUfunction = std::ptr::null_mut();
        // SAFETY: live module, valid NUL-terminated name, valid out pointer.
        check(
            unsafe { sys::cuModuleGetFunction(&mut raw, self.raw, c_name.as_ptr()) },
            &format!("{} kernel {name}", self.source),
            "cuModuleGetFunction",
        )?;
        let kernel = Kernel {
            raw,
            name,
            _module: self.clone(),
        };
        kernel.prefer_max_shared()?;
        Ok(kernel)
    }
}

/// One kernel of a loaded module.
#[derive(Clone)]
pub struct Kernel {
    raw: sys::CUfunction,
    /// Its `extern "C"` name.
    pub name: &'static str,
    _module: Arc<Module>,
}

// SAFETY: a CUfunction handle may be used from any thread; its module is kept alive.
unsafe impl Send for Kernel {}
// SAFETY: as above.
unsafe impl Sync for Kernel {}

/// Grid, block and dynamic shared memory of a launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launch {
    /// Blocks in x and y.
    pub grid: (u32, u32),
    /// Threads per block in x.
    pub block: u32,
    /// Dynamic shared memory per block, in bytes.
    pub smem: u32,
    /// Launch with programmatic stream serialisation (Hopper's programmatic dependent launch): the kernel may
    /// start while the previous kernel on the stream runs, and waits for it with `griddepcontrol.wait`.
    pub pdl: bool,
}

/// Resources the compiler gave a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelResources {
    /// Registers per thread.
    pub registers: i32,
    /// Local memory per thread (spills and stack), in bytes.
    pub local_bytes: i32,
    /// Static shared memory per block, in bytes.
    pub static_smem_bytes: i32,
    /// Largest block size it can be launched with.
    pub max_threads: i32,
}

impl Kernel {
    fn attribute(&self, a: sys::CUfunction_attribute) -> Result<i32, CudaError> {
        let mut v = 0;
        // SAFETY: live function, valid out pointer.
        check(
            unsafe { sys::cuFuncGetAttribute(&mut v, a, self.raw) },
            &format!("kernel {}", self.name),
            "cuFuncGetAttribute",
        )?;
        Ok(v)
    }

    /// Registers, local memory and static shared memory of this kernel.
    pub fn resources(&self) -> Result<KernelResources, CudaError> {
        use sys::CUfunction_attribute_enum as F;
        Ok(KernelResources {
            registers: self.attribute(F::CU_FUNC_ATTRIBUTE_NUM_REGS)?,
            local_bytes: self.attribute(F::CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES)?,
            static_smem_bytes: self.attribute(F::CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES)?,
            max_threads: self.attribute(F::CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)?,
        })
    }

    /// Asks for the largest shared-memory carve-out of the L1. Every kernel of the judge gets the same carve-out,
    /// so consecutive kernels of a solve (and the timer's) never wait for the multiprocessors to reconfigure
    /// their L1/shared split between them.
    pub fn prefer_max_shared(&self) -> Result<(), CudaError> {
        // SAFETY: live function; the attribute takes a percentage.
        check(
            unsafe {
                sys::cuFuncSetAttribute(
                    self.raw,
                    sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT,
                    100,
                )
            },
            &format!(
                "kernel {}: preferring the largest shared-memory carve-out",
                self.name
            ),
            "cuFuncSetAttribute",
        )
    }

    /// Allows launches with up to `bytes` of dynamic shared memory.
    pub fn allow_dynamic_smem(&self, bytes: u32) -> Result<(), CudaError> {
        let value = i32::try_from(bytes).unwrap_or(i32::MAX);
        // SAFETY: live function; the attribute takes a byte count.
        check(
            unsafe {
                sys::cuFuncSetAttribute(
                    self.raw,
                    sys::CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    value,
                )
            },
            &format!(
                "kernel {}: allowing {bytes} bytes of shared memory",
                self.name
            ),
            "cuFuncSetAttribute",
        )
    }

    /// Enqueues the kernel on `stream` as a cooperative launch: every block is resident at once (the driver
    /// fails the launch otherwise), so blocks may wait for each other (a grid-wide barrier). `launch.pdl` is
    /// ignored.
    ///
    /// # Safety
    /// As [`Kernel::launch`].
    pub unsafe fn launch_cooperative(
        &self,
        stream: &CudaStream,
        launch: Launch,
        params: &mut [*mut c_void],
    ) -> Result<(), CudaError> {
        let mut attr: sys::CUlaunchAttribute =
            // SAFETY: an all-zero launch attribute is a valid value of this plain C struct.
            unsafe { std::mem::zeroed() };
        attr.id = sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
        attr.value.cooperative = 1;
        // SAFETY: as the caller guarantees.
        unsafe { self.launch_with(stream, launch, params, Some(attr), "cooperatively ") }
    }

    /// Enqueues the kernel on `stream`; with `launch.pdl`, allowed to start before the previous kernel on the
    /// stream ends (programmatic dependent launch).
    ///
    /// # Safety
    /// `params` must hold one pointer per kernel parameter, in order, each pointing to a value of exactly that
    /// parameter's type and size; every device pointer among them must stay valid until the kernel has run, and
    /// the kernel must stay within the buffers it is given.
    pub unsafe fn launch(
        &self,
        stream: &CudaStream,
        launch: Launch,
        params: &mut [*mut c_void],
    ) -> Result<(), CudaError> {
        let attr = launch.pdl.then(|| {
            let mut attr: sys::CUlaunchAttribute =
                // SAFETY: an all-zero launch attribute is a valid value of this plain C struct.
                unsafe { std::mem::zeroed() };
            attr.id =
                sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
            attr.value.programmaticStreamSerializationAllowed = 1;
            attr
        });
        // SAFETY: as the caller guarantees.
        unsafe { self.launch_with(stream, launch, params, attr, "") }
    }

    /// Enqueues the kernel on `stream` with at most one launch attribute; `how` ("cooperatively ", or empty)
    /// goes into the error's context.
    ///
    /// # Safety
    /// As [`Kernel::launch`].
    unsafe fn launch_with(
        &self,
        stream: &CudaStream,
        launch: Launch,
        params: &mut [*mut c_void],
        mut attr: Option<sys::CUlaunchAttribute>,
        how: &str,
    ) -> Result<(), CudaError> {
        let context = || {
            format!(
                "launching {} {how}(grid {}×{}, block {}, {} B shared)",
                self.name, launch.grid.0, launch.grid.1, launch.block, launch.smem
            )
        };
        self._module
            .ctx
            .bind_to_thread()
            .map_err(|e| driver_error(e, &context(), "cuCtxSetCurrent"))?;
        let config = sys::CUlaunchConfig {
            gridDimX: launch.grid.0,
            gridDimY: launch.grid.1,
            gridDimZ: 1,
            blockDimX: launch.block,
            blockDimY: 1,
            blockDimZ: 1,
            sharedMemBytes: launch.smem,
            hStream: stream.cu_stream(),
            attrs: attr
                .as_mut()
                .map_or(std::ptr::null_mut(), |a| a as *mut sys::CUlaunchAttribute),
            numAttrs: u32::from(attr.is_some()),
        };
        // SAFETY: the caller guarantees `params`; `config` and `attr` outlive the call.
        let status = unsafe {
            sys::cuLaunchKernelEx(&config, self.raw, params.as_mut_ptr(), std::ptr::null_mut())
        };
        check(status, &context(), "cuLaunchKernelEx")
    }
}

/// Matrix rows per block of `qproj_f32` (one per warp; `QPROJ_ROWS` in `kernels/qproj.cu`).
const QPROJ_ROWS: usize = 4;

/// Order of the projections that `qproj_f32` writes (both hold `2 · rows · 32` floats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QtLayout {
    /// `[2][rows][32]`: Qp then Qs, transposed (query fastest).
    Rows,
    /// The order in which `cuda-warpspec` builds its mma fragments (`frag_index` in `kernels/qproj.cu`).
    Fragments,
}

/// Launches `qproj_f32` (`kernels/qproj.cu`) on `case`: `Qp = Q·Piᵀ` and `Qs = Q·S_matᵀ` into `qt` (device
/// address of `2·rows·32` f32 in `layout`, zero where d ≥ D), and with a non-zero `rowmax` the largest |value| of
/// each of the 64 rows by `atomicMax` (the 64 words must be zero before).
///
/// # Safety
/// `case` must be the addresses of an input set of `shape` on the device, `qt` of `2·rows·32` f32 with
/// `rows ≥ D`, and `rowmax` zero or of 64 u32 words, all valid until the kernel has run.
pub unsafe fn launch_qproj(
    kernel: &Kernel,
    stream: &CudaStream,
    (shape, case): (Shape, &buffers::CasePtrs),
    (qt, rows, layout): (u64, usize, QtLayout),
    rowmax: u64,
) -> Result<(), CudaError> {
    let (b_i, d_i, rows_i) = (shape.b as i32, shape.d as i32, rows as i32);
    let frag = i32::from(layout == QtLayout::Fragments);
    let mut params = [
        param(&case.q),
        param(&case.pi),
        param(&case.s_mat),
        param(&b_i),
        param(&d_i),
        param(&rows_i),
        param(&qt),
        param(&rowmax),
        param(&frag),
    ];
    // SAFETY: matches qproj_f32(const float* ×3, int, int, int, float*, unsigned*, int); the caller guarantees
    // the buffers.
    unsafe {
        kernel.launch(
            stream,
            Launch {
                grid: (shape.d.div_ceil(QPROJ_ROWS) as u32, 2),
                block: 32 * QPROJ_ROWS as u32,
                smem: 0,
                pdl: false,
            },
            &mut params,
        )
    }
}

/// A kernel parameter: a pointer to `value`, as `cuLaunchKernelEx` takes it.
pub fn param<T>(value: &T) -> *mut c_void {
    (value as *const T).cast_mut().cast()
}
