//! What compiling a CUDA submission needs from the machine: the `nvcc` to run and the architecture of the
//! device the submission will run on (`sm_90` on an H100).
//!
//! The architecture is read from the driver without creating a context (`cuInit`, then two device
//! attributes), so building a submission leaves the device untouched. `nvcc` is `$NVCC` when set, else the
//! first of `nvcc` on `PATH`, `$CUDA_HOME/bin/nvcc` and `/usr/local/cuda/bin/nvcc` that exists.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use solutions::cuda::cudarc::driver::{result, sys};
use solutions::cuda::describe;

/// Environment variable naming the `nvcc` to use.
pub const NVCC_ENV: &str = "NVCC";

/// `nvcc` from `PATH`, `$CUDA_HOME/bin` or `/usr/local/cuda/bin`, whichever has it first.
pub fn find() -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let cuda_home = std::env::var_os("CUDA_HOME").map(|h| PathBuf::from(h).join("bin"));
    path_dirs
        .into_iter()
        .chain(cuda_home)
        .chain([PathBuf::from("/usr/local/cuda/bin")])
        .map(|dir| dir.join("nvcc"))
        .find(|candidate| is_executable(candidate))
}

/// The `nvcc` to run: `explicit` (from `$NVCC` or the caller) when given, else [`find`].
pub fn resolve(explicit: Option<&OsString>) -> Option<OsString> {
    explicit
        .cloned()
        .or_else(|| find().map(PathBuf::into_os_string))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The architecture of CUDA device 0 (the first of `CUDA_VISIBLE_DEVICES`) as `nvcc -arch` takes it
/// (`sm_90`), or why there is no device (`cuInit returned CUDA_ERROR_NO_DEVICE: …`).
pub fn device_arch() -> Result<String, String> {
    // SAFETY: probing for the driver library runs its initialisers only.
    if !unsafe { sys::is_culib_present() } {
        return Err("the CUDA driver library (libcuda.so) could not be loaded".to_owned());
    }
    let no_device = |call: &str, e| format!("{call} returned {}", describe(e));
    result::init().map_err(|e| no_device("cuInit", e))?;
    let device = result::device::get(0).map_err(|e| no_device("cuDeviceGet", e))?;
    let attribute = |attr| {
        // SAFETY: `device` is a valid device handle from cuDeviceGet; the attribute is a plain integer query.
        unsafe { result::device::get_attribute(device, attr) }
            .map_err(|e| no_device("cuDeviceGetAttribute", e))
    };
    use sys::CUdevice_attribute_enum as A;
    let major = attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
    let minor = attribute(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
    Ok(format!("sm_{major}{minor}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_nvcc_wins() {
        let given = OsString::from("/opt/cuda-99/bin/nvcc");
        assert_eq!(resolve(Some(&given)), Some(given));
    }

    #[test]
    fn only_executables_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nvcc");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        assert!(!is_executable(&file));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(is_executable(&file));
        assert!(!is_executable(dir.path()));
    }
}
