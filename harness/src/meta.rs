//! What a results document says about where and how it was made: the judge's version and commit, the command
//! line, the host's CPU and cores, and (when a GPU backend fills it in) the GPU and driver.

use serde::{Deserialize, Serialize};

/// The judge's version (from Cargo).
pub const JUDGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the judge was built from, when known.
pub fn git_commit() -> Option<String> {
    Some(env!("JUDGE_GIT_COMMIT"))
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// The host machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Operating system (`linux`, `macos`, …).
    pub os: String,
    /// Architecture (`x86_64`, `aarch64`, …).
    pub arch: String,
    /// CPU model name, when the OS tells it.
    pub cpu: String,
    /// Logical cores available to this process.
    pub logical_cores: usize,
    /// SIMD features detected at run time that matter to the CPU variants.
    pub cpu_features: Vec<String>,
}

impl Host {
    /// Reads the current machine.
    pub fn detect() -> Self {
        Self {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            cpu: cpu_model().unwrap_or_else(|| "unknown".to_owned()),
            logical_cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_features: cpu_features(),
        }
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

#[cfg(target_arch = "x86_64")]
fn cpu_features() -> Vec<String> {
    let mut found = Vec::new();
    macro_rules! probe {
        ($($f:tt),*) => { $( if std::arch::is_x86_feature_detected!($f) { found.push($f.to_owned()); } )* };
    }
    probe!(
        "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"
    );
    found
}

#[cfg(target_arch = "aarch64")]
fn cpu_features() -> Vec<String> {
    let mut found = Vec::new();
    if std::arch::is_aarch64_feature_detected!("neon") {
        found.push("neon".to_owned());
    }
    found
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_features() -> Vec<String> {
    Vec::new()
}

/// A GPU the results were measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Device name as the driver reports it.
    pub name: String,
    /// Compute capability, such as `9.0`.
    pub compute_capability: String,
    /// Driver release and the CUDA version it supports, such as `580.65.06 (CUDA 13.0)`.
    pub driver: String,
    /// Global memory, in bytes.
    pub memory_bytes: u64,
    /// Multiprocessors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiprocessors: Option<u32>,
    /// L2 cache size, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2_bytes: Option<u64>,
    /// Version of NVRTC that compiled the kernels, such as `13.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvrtc: Option<String>,
}

/// Seconds since the Unix epoch, now.
pub fn unix_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
