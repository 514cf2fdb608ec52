//! `judge kernels`: compiles every CUDA source of `kernels/` with NVRTC for an architecture, without needing a
//! GPU, and prints the compiler's resource report (registers, shared memory, spills) per kernel; optionally
//! writes the images for disassembly (`cuobjdump -sass`).

use solutions::cuda::nvrtc::nvrtc;
use solutions::cuda::{ALL_SOURCES, COMPILE_OPTIONS, gpu};

use crate::cli::KernelsArgs;
use crate::verdict::ExitStatus;

use super::CommandError;

pub(super) fn kernels(args: &KernelsArgs) -> Result<ExitStatus, CommandError> {
    if let Some(arch) = &args.arch
        && !is_arch_name(arch)
    {
        return Err(CommandError::Usage(format!(
            "--arch {arch}: not an architecture name; write sm_XY (real, e.g. sm_90, sm_90a) or compute_XY \
             (virtual, PTX)"
        )));
    }
    let nvrtc = nvrtc().map_err(|e| CommandError::Unavailable(e.to_string()))?;
    let arch = match &args.arch {
        Some(arch) => arch.clone(),
        None => {
            let gpu = gpu().map_err(|e| {
                CommandError::Unavailable(format!(
                    "no --arch given and no GPU to take it from: {e}"
                ))
            })?;
            let (major, minor) = gpu.info.compute_capability;
            nvrtc
                .arch_for(major, minor)
                .map(|(arch, _)| arch)
                .ok_or_else(|| {
                    CommandError::Unavailable(format!(
                        "NVRTC {}.{} cannot compile for compute capability {major}.{minor}",
                        nvrtc.version.0, nvrtc.version.1
                    ))
                })?
        }
    };
    crate::outln!(
        "NVRTC {}.{} ({}), arch {arch}",
        nvrtc.version.0,
        nvrtc.version.1,
        nvrtc.path
    );
    if let Some(dir) = &args.out {
        crate::io::create_dir(dir)
            .map_err(|e| CommandError::Usage(format!("{}: {e}", dir.display())))?;
    }
    let mut options: Vec<String> = COMPILE_OPTIONS.iter().map(|s| (*s).to_owned()).collect();
    options.push("--ptxas-options=-v".to_owned());
    let mut failed = false;
    for source in ALL_SOURCES {
        match nvrtc.compile(source.name, source.text, &arch, &options) {
            Ok(compiled) => {
                crate::outln!(
                    "== {} ({} bytes)\n{}",
                    source.name,
                    compiled.image.len(),
                    compiled.log
                );
                if let Some(dir) = &args.out {
                    let stem = source.name.trim_end_matches(".cu");
                    let ext = if compiled.is_ptx { "ptx" } else { "cubin" };
                    let path = dir.join(format!("{stem}.{arch}.{ext}"));
                    std::fs::write(&path, &compiled.image)
                        .and_then(|()| {
                            std::fs::write(dir.join(format!("{stem}.{arch}.log")), &compiled.log)
                        })
                        .map_err(|e| CommandError::Usage(format!("{}: {e}", path.display())))?;
                }
            }
            Err(e) => {
                failed = true;
                crate::outln!("== {}\n{e}", source.name);
            }
        }
    }
    Ok(if failed {
        ExitStatus::RuntimeError
    } else {
        ExitStatus::Success
    })
}

/// Whether `arch` has the form NVRTC takes: `sm_` or `compute_`, two or three digits, an optional `a` or `f`.
fn is_arch_name(arch: &str) -> bool {
    let Some(rest) = arch
        .strip_prefix("sm_")
        .or_else(|| arch.strip_prefix("compute_"))
    else {
        return false;
    };
    let digits = rest.trim_end_matches(['a', 'f']);
    (2..=3).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && rest.len() - digits.len() <= 1
}

#[cfg(test)]
mod tests {
    use super::is_arch_name;

    #[test]
    fn architecture_names() {
        for good in ["sm_90", "sm_90a", "sm_100f", "compute_80", "sm_120"] {
            assert!(is_arch_name(good), "{good}");
        }
        for bad in [
            "sm_bogus", "sm_", "90", "sm_9", "sm_90ab", "gfx90a", "sm_1000",
        ] {
            assert!(!is_arch_name(bad), "{bad}");
        }
    }
}
