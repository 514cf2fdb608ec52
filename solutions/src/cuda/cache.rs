//! The disk cache of compiled kernels, keyed by the source's hash, the architecture, the options and the NVRTC
//! version, so that a second run of the judge skips NVRTC (hundreds of milliseconds per source).
//!
//! The directory is `$JUDGE_CACHE_DIR`, else `$XDG_CACHE_HOME/judge/kernels`, else `~/.cache/judge/kernels`;
//! `JUDGE_CACHE_DIR=off` disables it. Each file stores its full key, checked on reading, so a hash collision can
//! only cost a recompilation. The cache is an optimisation: when it cannot be read or written, the kernel is
//! compiled as if it were absent.

use std::path::PathBuf;

use super::nvrtc::{Compiled, Nvrtc};
use super::{CudaError, KernelSource};

/// Environment variable that sets (or with `off`, disables) the cache directory.
pub const CACHE_ENV: &str = "JUDGE_CACHE_DIR";

const MAGIC: &[u8] = b"judge-kernel-cache 1\n";

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os(CACHE_ENV) {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("judge").join("kernels")),
    }
}

fn key(nvrtc: &Nvrtc, source: &KernelSource, arch: &str, options: &[String]) -> String {
    format!(
        "{}\nsource fnv1a {:016x} len {}\narch {arch}\nnvrtc {}.{}\noptions {}\n",
        source.name,
        fnv1a(source.text.as_bytes()),
        source.text.len(),
        nvrtc.version.0,
        nvrtc.version.1,
        options.join(" ")
    )
}

fn read(path: &std::path::Path, key: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let rest = rest.strip_prefix(key.as_bytes())?;
    (!rest.is_empty()).then(|| rest.to_vec())
}

fn write(path: &std::path::Path, key: &str, image: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut data = Vec::with_capacity(MAGIC.len() + key.len() + image.len());
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(key.as_bytes());
    data.extend_from_slice(image);
    std::fs::write(&tmp, &data)?;
    std::fs::rename(&tmp, path)
}

/// Compiles `source` for `arch`, or reads the result of an identical earlier compilation from the cache.
pub fn compile_cached(
    nvrtc: &Nvrtc,
    source: &KernelSource,
    arch: &str,
    options: &[String],
) -> Result<Compiled, CudaError> {
    let key = key(nvrtc, source, arch, options);
    let is_ptx = arch.starts_with("compute_");
    let path = cache_dir().map(|d| {
        d.join(format!(
            "{}-{:016x}.{}",
            source.name.trim_end_matches(".cu"),
            fnv1a(key.as_bytes()),
            if is_ptx { "ptx" } else { "cubin" }
        ))
    });
    if let Some(image) = path.as_deref().and_then(|p| read(p, &key)) {
        return Ok(Compiled {
            image,
            is_ptx,
            log: String::new(),
        });
    }
    let compiled = nvrtc.compile(source.name, source.text, arch, options)?;
    if let Some(path) = &path
        && let Err(e) = write(path, &key, &compiled.image)
    {
        // Not fatal: the next run compiles again. Say so once, so a read-only home is not a mystery.
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            eprintln!(
                "note: kernel cache not written ({}: {e}); set {CACHE_ENV} to a writable directory or to 'off'",
                path.display()
            );
        });
    }
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn cache_files_round_trip_and_reject_other_keys() {
        let dir = std::env::temp_dir().join(format!("judge-cache-test-{}", std::process::id()));
        let path = dir.join("k.cubin");
        write(&path, "key one\n", b"IMAGE").unwrap();
        assert_eq!(read(&path, "key one\n").as_deref(), Some(&b"IMAGE"[..]));
        assert_eq!(read(&path, "key two\n"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
