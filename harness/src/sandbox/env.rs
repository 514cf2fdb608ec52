//! The environment submitted code and its compiler see: a few variables of the judge's, chosen by name, and
//! nothing else.
//!
//! A judge in CI runs with the job's secrets in its environment (tokens, keys). A worker that inherited them
//! could print them to its stderr, whose end the gate shows and writes into its reports. A compiler needs them
//! no more than a worker does (no way was found for a source to read its compiler's environment: `#include`
//! and `.incbin` of `/proc/self/environ` read nothing, the file's size being 0), so it is held to the same rule.
//! Each gets only the variables that configure the machine's libraries and tools ([`Who::keeps`]), plus those
//! named with `--pass-env`.

use std::ffi::OsString;

/// Whose environment is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// A worker: the submission's libraries (the CUDA driver, OpenMP, BLAS) and the dynamic loader.
    Worker,
    /// A compiler: the toolchain's search paths and settings.
    Compiler,
}

/// Variables every environment keeps, by exact name.
const COMMON: &[&str] = &["PATH", "LD_LIBRARY_PATH", "LANG", "LANGUAGE", "TZ"];
/// … and by prefix.
const COMMON_PREFIXES: &[&str] = &["LC_", "CUDA_", "NVIDIA_"];
/// A worker's, beyond the common ones: thread counts and placement of the usual parallel runtimes.
const WORKER_PREFIXES: &[&str] = &["OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_"];
/// A compiler's, beyond the common ones.
const COMPILER: &[&str] = &[
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "LIBRARY_PATH",
    "COMPILER_PATH",
    "GCC_EXEC_PREFIX",
    "SOURCE_DATE_EPOCH",
];
/// … and by prefix (`NVCC_PREPEND_FLAGS`, `NVCC_APPEND_FLAGS`, `NVCC_CCBIN`).
const COMPILER_PREFIXES: &[&str] = &["NVCC_"];

impl Who {
    /// Whether a variable named `name` is kept for this process.
    pub fn keeps(self, name: &str) -> bool {
        let (exact, prefixes) = self.lists();
        COMMON.contains(&name)
            || exact.contains(&name)
            || COMMON_PREFIXES
                .iter()
                .chain(prefixes)
                .any(|p| name.starts_with(p))
    }

    /// The names and the prefixes this process keeps beyond the common ones.
    fn lists(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Who::Worker => (&[], WORKER_PREFIXES),
            Who::Compiler => (COMPILER, COMPILER_PREFIXES),
        }
    }

    /// What this process keeps, as the help says it: the names, then the prefixes as `PREFIX*`.
    pub fn described(self) -> Vec<String> {
        let (exact, prefixes) = self.lists();
        COMMON
            .iter()
            .chain(exact)
            .map(|n| (*n).to_owned())
            .chain(
                COMMON_PREFIXES
                    .iter()
                    .chain(prefixes)
                    .map(|p| format!("{p}*")),
            )
            .collect()
    }

    /// The variables of `from` that this process keeps, and those named in `pass`, in `from`'s order.
    pub fn kept_from(
        self,
        from: impl IntoIterator<Item = (OsString, OsString)>,
        pass: &[String],
    ) -> Vec<(OsString, OsString)> {
        from.into_iter()
            .filter(|(name, _)| {
                name.to_str()
                    .is_some_and(|n| self.keeps(n) || pass.iter().any(|p| p == n))
            })
            .collect()
    }

    /// The variables of the judge's environment that this process keeps, and those named in `pass`.
    pub fn kept(self, pass: &[String]) -> Vec<(OsString, OsString)> {
        self.kept_from(std::env::vars_os(), pass)
    }
}

/// Parses a `--pass-env` name: a variable name as a shell writes one (letters, digits, `_`, not starting with
/// a digit).
pub fn parse_variable_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "'{text}' is not a variable name (letters, digits and _, not starting with a digit)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn names(env: &[(OsString, OsString)]) -> Vec<&OsStr> {
        env.iter().map(|(name, _)| name.as_os_str()).collect()
    }

    fn vars(names: &[&str]) -> Vec<(OsString, OsString)> {
        names
            .iter()
            .map(|n| (OsString::from(n), OsString::from("v")))
            .collect()
    }

    #[test]
    fn only_the_machines_settings_are_kept() {
        let judge = vars(&[
            "PATH",
            "HOME",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "CUDA_VISIBLE_DEVICES",
            "LC_ALL",
            "OMP_NUM_THREADS",
            "NVCC_PREPEND_FLAGS",
            "CPATH",
            "LD_PRELOAD",
            "JUDGE_CACHE_DIR",
        ]);
        let worker = Who::Worker.kept_from(judge.clone(), &[]);
        assert_eq!(
            names(&worker),
            ["PATH", "CUDA_VISIBLE_DEVICES", "LC_ALL", "OMP_NUM_THREADS"]
        );
        let compiler = Who::Compiler.kept_from(judge.clone(), &[]);
        assert_eq!(
            names(&compiler),
            [
                "PATH",
                "CUDA_VISIBLE_DEVICES",
                "LC_ALL",
                "NVCC_PREPEND_FLAGS",
                "CPATH"
            ]
        );
        // A name passed on purpose is kept, whoever the process is.
        let passed = Who::Worker.kept_from(judge, &["HOME".to_owned()]);
        assert!(names(&passed).contains(&OsStr::new("HOME")));
        assert!(!names(&passed).contains(&OsStr::new("GITHUB_TOKEN")));
    }

    #[test]
    fn variable_names_are_checked() {
        assert_eq!(parse_variable_name("MY_VAR2"), Ok("MY_VAR2".to_owned()));
        for bad in ["", "2X", "A-B", "A=B", "A B"] {
            assert!(parse_variable_name(bad).is_err(), "{bad}");
        }
    }
}
