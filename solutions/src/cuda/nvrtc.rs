//! NVRTC, the CUDA run-time compiler, loaded from its shared library when first needed.
//!
//! We load it ourselves (rather than through cudarc) so that one binary finds the NVRTC of CUDA 12.x or 13.x,
//! whichever is installed: the library's file name carries its major version (`libnvrtc.so.13`), and runtime-only
//! installs have no unversioned `libnvrtc.so`. Only the handful of entry points the judge uses are bound.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable naming the NVRTC library to load (a path), before the usual search.
pub const NVRTC_ENV: &str = "JUDGE_NVRTC";

type NvrtcResult = c_int;
type Program = *mut c_void;

/// Why NVRTC could not be loaded or could not compile.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NvrtcError {
    /// No NVRTC library was found.
    #[error(
        "NVRTC (the CUDA run-time compiler) was not found; searched {searched}. Install the CUDA NVRTC \
         library (12.x or 13.x) or set {NVRTC_ENV} to its path"
    )]
    NotFound { searched: String },
    /// The library was found but lacks an entry point.
    #[error("{path}: not a usable NVRTC library: {reason}")]
    Unusable { path: String, reason: String },
    /// An NVRTC call failed outside compilation.
    #[error("NVRTC {call} failed: {message}")]
    Call { call: &'static str, message: String },
    /// The kernel source did not compile; `log` is the compiler's output.
    #[error("NVRTC could not compile {source_name} for {arch} ({message}); compiler log:\n{log}")]
    Compile {
        source_name: String,
        arch: String,
        message: String,
        log: String,
    },
}

struct Api {
    version: unsafe extern "C" fn(*mut c_int, *mut c_int) -> NvrtcResult,
    error_string: unsafe extern "C" fn(NvrtcResult) -> *const c_char,
    create: unsafe extern "C" fn(
        *mut Program,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> NvrtcResult,
    compile: unsafe extern "C" fn(Program, c_int, *const *const c_char) -> NvrtcResult,
    log_size: unsafe extern "C" fn(Program, *mut usize) -> NvrtcResult,
    log: unsafe extern "C" fn(Program, *mut c_char) -> NvrtcResult,
    cubin_size: unsafe extern "C" fn(Program, *mut usize) -> NvrtcResult,
    cubin: unsafe extern "C" fn(Program, *mut c_char) -> NvrtcResult,
    ptx_size: unsafe extern "C" fn(Program, *mut usize) -> NvrtcResult,
    ptx: unsafe extern "C" fn(Program, *mut c_char) -> NvrtcResult,
    destroy: unsafe extern "C" fn(*mut Program) -> NvrtcResult,
    num_archs: unsafe extern "C" fn(*mut c_int) -> NvrtcResult,
    archs: unsafe extern "C" fn(*mut c_int) -> NvrtcResult,
}

/// A loaded NVRTC library.
pub struct Nvrtc {
    api: Api,
    /// Where it was loaded from (as given to the dynamic loader).
    pub path: String,
    /// Its version, `(major, minor)`.
    pub version: (i32, i32),
    /// The real architectures it can compile for, as compute capabilities ×10 (`90` for sm_90).
    pub archs: Vec<i32>,
    // Keep the symbols above valid; never unloaded.
    _lib: libloading::Library,
    _builtins: Vec<libloading::Library>,
}

/// What a compilation produced.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The image for the driver: a cubin for a real architecture, or NUL-terminated PTX text.
    pub image: Vec<u8>,
    /// Whether `image` is PTX (compiled for a virtual architecture, to be finished by the driver).
    pub is_ptx: bool,
    /// The compiler's log (warnings; resource usage when asked for).
    pub log: String,
}

/// NVRTC's file names on this operating system, newest first.
#[cfg(windows)]
const NAMES: [&str; 2] = ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll"];
#[cfg(not(windows))]
const NAMES: [&str; 3] = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"];

/// Where NVRTC is looked for, in order (without the path in [`NVRTC_ENV`], which is tried alone).
fn candidates() -> Vec<PathBuf> {
    let names = NAMES;
    let mut out: Vec<PathBuf> = Vec::new();
    out.extend(names.iter().map(PathBuf::from));
    let mut dirs: Vec<PathBuf> = ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"]
        .iter()
        .filter_map(std::env::var_os)
        .flat_map(|root| {
            let root = PathBuf::from(root);
            [root.join("lib64"), root.join("lib"), root.join("bin")]
        })
        .collect();
    dirs.push(PathBuf::from("/usr/local/cuda/lib64"));
    dirs.push(PathBuf::from("/usr/local/cuda/targets/x86_64-linux/lib"));
    for dir in dirs {
        out.extend(names.iter().map(|n| dir.join(n)));
    }
    out
}

static NVRTC: OnceLock<Result<Nvrtc, NvrtcError>> = OnceLock::new();

/// The process's NVRTC, loaded on first use.
pub fn nvrtc() -> Result<&'static Nvrtc, NvrtcError> {
    NVRTC
        .get_or_init(|| {
            // A path the user named is the only one tried: loading another library instead would hide
            // why theirs failed.
            if let Some(path) = std::env::var_os(NVRTC_ENV) {
                let path = PathBuf::from(path);
                return load(&path).map_err(|e| NvrtcError::Unusable {
                    path: format!("{} (from {NVRTC_ENV})", path.display()),
                    reason: format!("the dynamic loader refused it: {}", loader_message(&e)),
                })?;
            }
            let tried = candidates();
            // Files that exist but would not load, with the loader's reason: the likeliest explanation.
            let mut refused = Vec::new();
            for path in &tried {
                match load(path) {
                    Ok(bound) => return bound,
                    Err(e) if path.is_file() => {
                        refused.push(format!("{} ({})", path.display(), loader_message(&e)))
                    }
                    Err(_) => {}
                }
            }
            let mut searched = tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            if !refused.is_empty() {
                searched.push_str(&format!(
                    "; found but could not load {}",
                    refused.join(", ")
                ));
            }
            Err(NvrtcError::NotFound { searched })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The loader's error with its cause (libloading keeps `dlerror`'s text in the source).
fn loader_message(e: &libloading::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Loads NVRTC from `path` (`Err` with the loader's message when it will not load) and binds it.
fn load(path: &Path) -> Result<Result<Nvrtc, NvrtcError>, libloading::Error> {
    // NVRTC opens its builtins library by file name; when NVRTC comes from a directory that is not on the
    // loader's path, load the builtins from there first so that name is already resolved.
    let builtins = path.parent().map(preload_builtins).unwrap_or_default();
    // SAFETY: loading NVRTC runs its initialisers, which have no preconditions.
    let lib = unsafe { libloading::Library::new(path) }?;
    Ok(Nvrtc::bind(lib, builtins, path))
}

/// Loads `libnvrtc-builtins.so*` found in `dir` (none when `dir` is empty or holds none).
fn preload_builtins(dir: &Path) -> Vec<libloading::Library> {
    if dir.as_os_str().is_empty() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libnvrtc-builtins.so"))
        })
        .collect();
    found.sort();
    found
        .iter()
        // SAFETY: the builtins library only registers data when loaded.
        .filter_map(|p| unsafe { libloading::Library::new(p) }.ok())
        .collect()
}

macro_rules! symbol {
    ($lib:expr, $path:expr, $name:literal) => {{
        // SAFETY: the symbol is declared with the signature of NVRTC's public header (nvrtc.h), which has been
        // stable since CUDA 11.
        let s = unsafe { $lib.get(concat!($name, "\0").as_bytes()) }.map_err(|e| {
            NvrtcError::Unusable {
                path: $path.display().to_string(),
                reason: format!("missing {}: {e}", $name),
            }
        })?;
        *s
    }};
}

impl Nvrtc {
    fn bind(
        lib: libloading::Library,
        builtins: Vec<libloading::Library>,
        path: &Path,
    ) -> Result<Nvrtc, NvrtcError> {
        let api = Api {
            version: symbol!(lib, path, "nvrtcVersion"),
            error_string: symbol!(lib, path, "nvrtcGetErrorString"),
            create: symbol!(lib, path, "nvrtcCreateProgram"),
            compile: symbol!(lib, path, "nvrtcCompileProgram"),
            log_size: symbol!(lib, path, "nvrtcGetProgramLogSize"),
            log: symbol!(lib, path, "nvrtcGetProgramLog"),
            cubin_size: symbol!(lib, path, "nvrtcGetCUBINSize"),
            cubin: symbol!(lib, path, "nvrtcGetCUBIN"),
            ptx_size: symbol!(lib, path, "nvrtcGetPTXSize"),
            ptx: symbol!(lib, path, "nvrtcGetPTX"),
            destroy: symbol!(lib, path, "nvrtcDestroyProgram"),
            num_archs: symbol!(lib, path, "nvrtcGetNumSupportedArchs"),
            archs: symbol!(lib, path, "nvrtcGetSupportedArchs"),
        };
        let mut nvrtc = Nvrtc {
            api,
            path: path.display().to_string(),
            version: (0, 0),
            archs: Vec::new(),
            _lib: lib,
            _builtins: builtins,
        };
        let (mut major, mut minor) = (0, 0);
        // SAFETY: both pointers are valid for writes of one int.
        nvrtc.check("nvrtcVersion", unsafe {
            (nvrtc.api.version)(&mut major, &mut minor)
        })?;
        nvrtc.version = (major, minor);
        let mut count = 0;
        // SAFETY: valid pointer to one int.
        nvrtc.check("nvrtcGetNumSupportedArchs", unsafe {
            (nvrtc.api.num_archs)(&mut count)
        })?;
        let mut archs = vec![0; usize::try_from(count).unwrap_or(0)];
        // SAFETY: `archs` has room for the `count` ints NVRTC writes.
        nvrtc.check("nvrtcGetSupportedArchs", unsafe {
            (nvrtc.api.archs)(archs.as_mut_ptr())
        })?;
        nvrtc.archs = archs;
        Ok(nvrtc)
    }

    fn message(&self, code: NvrtcResult) -> String {
        // SAFETY: nvrtcGetErrorString returns a static NUL-terminated string for any code.
        let text = unsafe { (self.api.error_string)(code) };
        if text.is_null() {
            format!("error {code}")
        } else {
            // SAFETY: non-null, NUL-terminated, static.
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        }
    }

    fn check(&self, call: &'static str, code: NvrtcResult) -> Result<(), NvrtcError> {
        if code == 0 {
            Ok(())
        } else {
            Err(NvrtcError::Call {
                call,
                message: self.message(code),
            })
        }
    }

    /// The `--gpu-architecture` value for a device of compute capability `major.minor`: its own real
    /// architecture when this NVRTC knows it (a cubin), else the newest virtual one it knows (PTX, which the
    /// driver compiles for the device). `None` when the device is older than every architecture it knows.
    pub fn arch_for(&self, major: i32, minor: i32) -> Option<(String, bool)> {
        let cc = major * 10 + minor;
        if self.archs.contains(&cc) {
            return Some((format!("sm_{cc}"), false));
        }
        self.archs
            .iter()
            .copied()
            .filter(|&a| a <= cc)
            .max()
            .map(|a| (format!("compute_{a}"), true))
    }

    /// Compiles `source` (named `source_name` in messages) with `options` for `arch` (`sm_90` gives a cubin,
    /// `compute_90` PTX).
    pub fn compile(
        &self,
        source_name: &str,
        source: &str,
        arch: &str,
        options: &[String],
    ) -> Result<Compiled, NvrtcError> {
        let call = |call: &'static str, message: String| NvrtcError::Call { call, message };
        let c_source = CString::new(source)
            .map_err(|_| call("nvrtcCreateProgram", "the source holds a NUL byte".into()))?;
        let c_name = CString::new(source_name)
            .map_err(|_| call("nvrtcCreateProgram", "the name holds a NUL byte".into()))?;
        let mut all: Vec<String> = vec![format!("--gpu-architecture={arch}")];
        all.extend(options.iter().cloned());
        let c_options = all
            .iter()
            .map(|o| CString::new(o.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| call("nvrtcCompileProgram", "an option holds a NUL byte".into()))?;
        let option_ptrs: Vec<*const c_char> = c_options.iter().map(|o| o.as_ptr()).collect();
        let mut program: Program = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings; no headers (0 and null arrays).
        self.check("nvrtcCreateProgram", unsafe {
            (self.api.create)(
                &mut program,
                c_source.as_ptr(),
                c_name.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        })?;
        let guard = ProgramGuard {
            nvrtc: self,
            program,
        };
        let count = c_int::try_from(option_ptrs.len()).unwrap_or(c_int::MAX);
        // SAFETY: `program` is live; `option_ptrs` holds `count` valid strings that outlive the call.
        let status = unsafe { (self.api.compile)(guard.program, count, option_ptrs.as_ptr()) };
        let log = guard.log()?;
        if status != 0 {
            return Err(NvrtcError::Compile {
                source_name: source_name.to_owned(),
                arch: arch.to_owned(),
                message: self.message(status),
                log,
            });
        }
        let is_ptx = arch.starts_with("compute_");
        let (size_fn, get_fn, what) = if is_ptx {
            (self.api.ptx_size, self.api.ptx, "nvrtcGetPTX")
        } else {
            (self.api.cubin_size, self.api.cubin, "nvrtcGetCUBIN")
        };
        let mut size = 0usize;
        // SAFETY: live program, valid pointer.
        self.check(what, unsafe { size_fn(guard.program, &mut size) })?;
        let mut image = vec![0u8; size];
        // SAFETY: `image` has the `size` bytes NVRTC writes.
        self.check(what, unsafe {
            get_fn(guard.program, image.as_mut_ptr().cast())
        })?;
        Ok(Compiled { image, is_ptx, log })
    }
}

struct ProgramGuard<'a> {
    nvrtc: &'a Nvrtc,
    program: Program,
}

impl ProgramGuard<'_> {
    fn log(&self) -> Result<String, NvrtcError> {
        let mut size = 0usize;
        // SAFETY: live program, valid pointer.
        self.nvrtc.check("nvrtcGetProgramLogSize", unsafe {
            (self.nvrtc.api.log_size)(self.program, &mut size)
        })?;
        let mut buf = vec![0u8; size.max(1)];
        // SAFETY: `buf` has the `size` bytes (NUL included) NVRTC writes.
        self.nvrtc.check("nvrtcGetProgramLog", unsafe {
            (self.nvrtc.api.log)(self.program, buf.as_mut_ptr().cast())
        })?;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Ok(String::from_utf8_lossy(&buf[..end]).trim_end().to_owned())
    }
}

impl Drop for ProgramGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the program was created by nvrtcCreateProgram and is destroyed once. A failure to free it
        // cannot be acted on.
        let _ = unsafe { (self.nvrtc.api.destroy)(&mut self.program) };
    }
}
