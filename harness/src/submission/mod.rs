//! Submitted solutions in the public challenge's contract: a C, C++ or CUDA source file, or a prebuilt shared
//! library, exporting
//!
//! ```c
//! void solve(const float* Q, const unsigned char* K_idx, const signed char* qjl_signs, const float* gamma,
//!            const float* Pi, const float* S_mat, const float* codebook, float* scores,
//!            int B, int S, int D, int C);
//! ```
//!
//! `.c` and `.cpp` files take host pointers and are compiled with the system compiler
//! (`-O3 -march=native -shared -fPIC`); `.cu` files take device pointers and are compiled with
//! `nvcc -O3 -shared -Xcompiler -fPIC -arch=sm_XY` for the device found ([`nvcc`]); a `.so` says which with
//! `--backend`. This module knows the kinds and builds them; running them belongs to
//! [`crate::sandbox`], judging them to [`crate::gate`].

pub mod compile;
pub mod nvcc;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use solutions::Backend;

use crate::sandbox::env::Who;
use crate::sandbox::{SandboxConfig, WorkerUser};
use crate::verdict::Verdict;
use compile::{Confinement, Finished, Invocation};

/// What kind of file a submission is, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// `.c`: C, host pointers.
    C,
    /// `.cpp`, `.cc`, `.cxx`: C++, host pointers (`solve` must be `extern "C"`).
    Cpp,
    /// `.cu`: CUDA C++, device pointers.
    Cuda,
    /// `.so`: a prebuilt shared library; `--backend` says which pointers it takes.
    Library,
}

impl SourceKind {
    /// The kind of `path`, from its extension.
    pub fn from_path(path: &Path) -> Option<SourceKind> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "c" => Some(SourceKind::C),
            "cpp" | "cc" | "cxx" => Some(SourceKind::Cpp),
            "cu" => Some(SourceKind::Cuda),
            "so" => Some(SourceKind::Library),
            _ => None,
        }
    }

    /// The environment variable that names the compiler of this kind (`None` for a library).
    pub const fn compiler_variable(self) -> Option<&'static str> {
        match self {
            SourceKind::C => Some("CC"),
            SourceKind::Cpp => Some("CXX"),
            SourceKind::Cuda => Some(nvcc::NVCC_ENV),
            SourceKind::Library => None,
        }
    }

    /// The backend a source file of this kind implies (`None` for a library).
    pub const fn implied_backend(self) -> Option<Backend> {
        match self {
            SourceKind::C | SourceKind::Cpp => Some(Backend::Cpu),
            SourceKind::Cuda => Some(Backend::Cuda),
            SourceKind::Library => None,
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::C => "C",
            SourceKind::Cpp => "C++",
            SourceKind::Cuda => "CUDA",
            SourceKind::Library => "shared library",
        })
    }
}

/// A submission named on the command line, not yet built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The file as given.
    pub path: PathBuf,
    /// Its kind.
    pub kind: SourceKind,
    /// Which pointers its `solve` takes.
    pub backend: Backend,
}

/// Why a submission cannot even be considered (a usage error: exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    /// The file does not exist.
    #[error("{path}: no such submission file")]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The path exists but is no regular file (a directory, a FIFO, a device).
    #[error("{path}: {what}, not a submission file")]
    NotAFile {
        /// The path given.
        path: PathBuf,
        /// What it is, in words (`a directory`).
        what: &'static str,
    },
    /// The file's metadata could not be read (a directory on the way that may not be searched).
    #[error("{path}: cannot read the submission file: {source}")]
    Unreadable {
        /// The path given.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The extension names no kind we know.
    #[error("{path}: unknown submission type; use a .c, .cpp (.cc, .cxx), .cu or .so file")]
    UnknownKind {
        /// The path given.
        path: PathBuf,
    },
    /// A `.so` without `--backend`.
    #[error(
        "{path}: a prebuilt library needs --backend cpu (host pointers) or --backend cuda (device pointers)"
    )]
    NeedsBackend {
        /// The path given.
        path: PathBuf,
    },
    /// `--backend` contradicts the source's kind.
    #[error("{path}: a {kind} source takes {implied} pointers; --backend {given} contradicts it")]
    BackendMismatch {
        /// The path given.
        path: PathBuf,
        /// Its kind.
        kind: SourceKind,
        /// The backend its kind implies.
        implied: Backend,
        /// The backend given.
        given: Backend,
    },
}

impl Submission {
    /// Classifies `path`; `backend` is required for a `.so` and must agree with a source file's kind.
    pub fn new(path: &Path, backend: Option<Backend>) -> Result<Submission, SubmissionError> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(meta) => {
                return Err(SubmissionError::NotAFile {
                    path: path.to_owned(),
                    what: file_type_words(meta.file_type()),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SubmissionError::Missing {
                    path: path.to_owned(),
                });
            }
            Err(source) => {
                return Err(SubmissionError::Unreadable {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let kind = SourceKind::from_path(path).ok_or_else(|| SubmissionError::UnknownKind {
            path: path.to_owned(),
        })?;
        let backend = match (kind.implied_backend(), backend) {
            (Some(implied), Some(given)) if implied != given => {
                return Err(SubmissionError::BackendMismatch {
                    path: path.to_owned(),
                    kind,
                    implied,
                    given,
                });
            }
            (Some(implied), _) => implied,
            (None, Some(given)) => given,
            (None, None) => {
                return Err(SubmissionError::NeedsBackend {
                    path: path.to_owned(),
                });
            }
        };
        Ok(Submission {
            path: path.to_owned(),
            kind,
            backend,
        })
    }

    /// The name shown in tables and results: the file name, on one line (a line break or another control
    /// character in it escaped, `\n`, as in a case file's name).
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| crate::escape::one_line_name(&n.to_string_lossy()))
            .unwrap_or_else(|| self.path.display().to_string())
    }

    /// What a CUDA submission needs on this machine: the device's architecture (`sm_XY`) and, for a `.cu` source,
    /// the nvcc that builds it (`None` for a prebuilt library); else why it cannot run here (no device, no nvcc).
    /// Host submissions need neither (`Ok` with no nvcc).
    pub fn cuda_tools(
        &self,
        options: &CompileOptions,
    ) -> Result<(String, Option<OsString>), String> {
        if self.backend != Backend::Cuda && self.kind != SourceKind::Cuda {
            return Ok((String::new(), None));
        }
        let arch = nvcc::device_arch().map_err(|cause| format!("no CUDA device ({cause})"))?;
        if self.kind != SourceKind::Cuda {
            return Ok((arch, None));
        }
        let program = nvcc::resolve(options.nvcc.as_ref()).ok_or_else(|| {
            format!(
                "nvcc was not found on PATH, in $CUDA_HOME/bin or in /usr/local/cuda/bin (set ${} to its path)",
                nvcc::NVCC_ENV
            )
        })?;
        Ok((arch, Some(program)))
    }

    /// Builds the submission into a shared library in the sandbox's working directory (or takes a `.so` as it
    /// is). The compiler runs as the sandbox's workers run (their user, no privileges), under the limits of
    /// `options`, in a directory of its own ([`compile::Confinement`]).
    pub fn build(
        &self,
        sandbox: &SandboxConfig,
        options: &CompileOptions,
    ) -> Result<Built, BuildError> {
        let absolute = std::path::absolute(&self.path).map_err(|source| BuildError::Io {
            path: self.path.clone(),
            source,
        })?;
        let built = |library: PathBuf, compile: Option<CompileRecord>| Built {
            name: self.name(),
            library,
            backend: self.backend,
            kind: self.kind,
            compile,
        };
        let (compiler, flags, extra): (OsString, Vec<String>, &[&str]) =
            match (self.kind, self.backend) {
                (SourceKind::Library, Backend::Cpu) => return Ok(built(absolute, None)),
                (SourceKind::Library, Backend::Cuda) => {
                    // Nothing to compile, but nothing to run it on either without a device.
                    self.cuda_tools(options)
                        .map_err(|reason| BuildError::Unsupported {
                            reason: format!("cannot run a CUDA submission here: {reason}"),
                        })?;
                    return Ok(built(absolute, None));
                }
                (SourceKind::Cuda, _) => {
                    let (arch, program) =
                        self.cuda_tools(options)
                            .map_err(|reason| BuildError::Unsupported {
                                reason: format!("cannot build a CUDA submission here: {reason}"),
                            })?;
                    let program = program.expect("a CUDA source gets its nvcc from cuda_tools");
                    let flags = ["-O3", "-shared", "-Xcompiler", "-fPIC"]
                        .into_iter()
                        .map(str::to_owned)
                        .chain([format!("-arch={arch}")])
                        .collect();
                    (program, flags, &[])
                }
                (SourceKind::C, _) => (options.cc.clone(), host_flags(), &["-lm"]),
                (SourceKind::Cpp, _) => (options.cxx.clone(), host_flags(), &["-lm"]),
            };
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "submission".to_owned());
        let stage =
            Stage::create(&absolute, &stem, sandbox.user).map_err(|source| BuildError::Io {
                path: absolute.clone(),
                source,
            })?;
        let mut args: Vec<OsString> = flags.into_iter().map(OsString::from).collect();
        // Headers beside the source are found as before, where the compiler's user may read them.
        args.extend([
            "-I".into(),
            stage.origin.clone().into_os_string(),
            "-o".into(),
            stage.output.clone().into_os_string(),
            stage.source.clone(),
        ]);
        args.extend(extra.iter().map(OsString::from));
        let invocation = Invocation {
            program: compiler.clone(),
            args,
            dir: Some(stage.source_dir.clone()),
            // The toolchain's settings, not the judge's secrets (see `sandbox::env`); the compiler's temporary
            // files stay in its directory, where no one else may reach them (set last, so it wins).
            env: Some(
                Who::Compiler
                    .kept(&sandbox.pass_env)
                    .into_iter()
                    .chain([("TMPDIR".into(), stage.dir.path().as_os_str().to_owned())])
                    .collect(),
            ),
            confinement: Some(Confinement {
                user: sandbox.user,
                writes_in: stage.dir.path().to_owned(),
                address_space: options.memory_bytes,
                file_size: COMPILE_FILE_BYTES,
            }),
        };
        let command = invocation.display();
        match compile::run(&invocation, options.limit).map_err(|source| {
            BuildError::CompilerMissing {
                compiler: compiler.to_string_lossy().into_owned(),
                source,
            }
        })? {
            Finished::Exited {
                success: true,
                log,
                seconds,
                ..
            } => {
                let library = stage.take(&sandbox.workdir, &stem)?;
                Ok(built(
                    library,
                    Some(CompileRecord {
                        command,
                        log,
                        seconds,
                    }),
                ))
            }
            Finished::Exited { status, log, .. } => Err(BuildError::Failed {
                limit: limit_reached(&log, options),
                command,
                status,
                log,
            }),
            Finished::TimedOut { log, limit_s } => Err(BuildError::TimedOut {
                command,
                limit_s,
                log,
            }),
        }
    }
}

/// A file type in a few words, for [`SubmissionError::NotAFile`].
fn file_type_words(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Largest file a compiler may write, in bytes (`RLIMIT_FSIZE`): 1 GiB, far beyond any library a single source
/// file builds into.
pub const COMPILE_FILE_BYTES: u64 = 1 << 30;

/// Default `RLIMIT_AS` of each compiler process, in MiB.
pub const COMPILE_MEMORY_MIB: u64 = 8192;

/// The prefix of every compile directory's name ([`Stage`]).
const STAGE_PREFIX: &str = "judge-compile-";

/// Removes the compile directories that judges killed before they could remove them (`SIGKILL`, a CI job's
/// timeout) left to the worker user `uid`, wherever [`stage_base`] may have put them. The judge calls it once it
/// holds `uid` alone: no living judge compiles as that user then, so whatever of that user's is there is left
/// over, and this judge's submissions, running as the same user, could otherwise read a source compiled before.
/// Returns how many were removed; one that cannot be removed is left as it is.
pub fn remove_compiles_left_by(uid: u32) -> usize {
    let mut bases = vec![
        std::env::temp_dir(),
        PathBuf::from("/tmp"),
        PathBuf::from("/var/tmp"),
    ];
    // `TMPDIR` may be either of the others: each directory is searched once.
    bases.sort();
    bases.dedup();
    remove_compiles_left_in(&bases, uid)
}

/// [`remove_compiles_left_by`] over the directories `bases`.
fn remove_compiles_left_in(bases: &[PathBuf], uid: u32) -> usize {
    use std::os::unix::fs::MetadataExt;
    let mut removed = 0;
    for base in bases {
        let Ok(entries) = std::fs::read_dir(base) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let ours = entry
                .file_name()
                .to_string_lossy()
                .starts_with(STAGE_PREFIX)
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
            if ours && std::fs::remove_dir_all(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Where to make the compile directory for a compiler running as `ids`: the judge's temporary directory `temp`
/// when that user can reach it, else the first of `/tmp` and `/var/tmp` it can reach (a `TMPDIR` under `/root`
/// is the judge's alone), else `temp` anyway (the compile then fails, naming the path).
fn stage_base(temp: &Path, ids: crate::sandbox::UserIds) -> PathBuf {
    [temp, Path::new("/tmp"), Path::new("/var/tmp")]
        .into_iter()
        .find(|dir| reachable_by(dir, ids))
        .unwrap_or(temp)
        .to_owned()
}

/// Whether a process of `ids` (and no supplementary groups) may search `dir` and every directory above it, by
/// their mode bits. Any error reads as no.
fn reachable_by(dir: &Path, ids: crate::sandbox::UserIds) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return false;
    };
    dir.ancestors().all(|level| {
        std::fs::metadata(level).is_ok_and(|m| {
            let bit = if m.uid() == ids.uid {
                0o100
            } else if m.gid() == ids.gid {
                0o010
            } else {
                0o001
            };
            ids.uid == 0 || m.mode() & bit != 0
        })
    })
}

/// The directory a submission is compiled in: the compiler's user's alone, holding a copy of the source (so that
/// a user the judge switches to need not reach the author's directory), removed when dropped.
///
/// The copy sits at its directory's own absolute path below `src/`, so that an `#include "../x.h"`, which the
/// compiler looks for beside the file first, finds nothing there that anyone else could have placed (as it
/// would beside a copy in `/tmp`), and goes on to `-I`, the source's real directory.
struct Stage {
    dir: tempfile::TempDir,
    /// The source's directory as the kernel finds it (absolute, no `..`, no links).
    origin: PathBuf,
    /// Where the copy is: the compiler's working directory.
    source_dir: PathBuf,
    /// The source's file name, as the compiler is given it (its messages name it so): as it is, or as
    /// `./NAME` when it starts with `-`, which the compiler would read as an option (`-o.c` as `-o .c`).
    source: OsString,
    /// Where the compiler writes the library (`lib<stem>.so` at the top).
    output: PathBuf,
    /// Who the compiler runs as.
    owner: crate::sandbox::UserIds,
}

impl Stage {
    /// Stages the source at `source` (absolute) for a compiler running as `user`, to build `lib<stem>.so`.
    fn create(source: &Path, stem: &str, user: WorkerUser) -> std::io::Result<Stage> {
        use std::os::unix::fs::PermissionsExt;
        let owner = user.ids();
        // Mode 0700 (the default would be 0755): once it is the compiler's user's (below), that user alone may
        // list it or reach the copy of the source inside, so no other user's process, a submission of another
        // judge among them, can read a compile while it runs.
        let dir = tempfile::Builder::new()
            .prefix(STAGE_PREFIX)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(stage_base(&std::env::temp_dir(), owner))?;
        let name = source
            .file_name()
            .ok_or_else(|| std::io::Error::other("the path names no file"))?
            .to_owned();
        // The directory as the kernel finds it (no `..`, no links), as an `#include "../x.h"` resolves from it.
        let origin = std::fs::canonicalize(source.parent().unwrap_or(Path::new("/")))?;
        let mut source_dir = dir.path().join("src");
        // Every level readable and searchable by the compiler's user, whatever the judge's umask.
        let open_to_all = || std::fs::Permissions::from_mode(0o755);
        std::fs::create_dir(&source_dir)?;
        std::fs::set_permissions(&source_dir, open_to_all())?;
        for part in origin.components() {
            let std::path::Component::Normal(part) = part else {
                continue;
            };
            source_dir.push(part);
            std::fs::create_dir(&source_dir)?;
            std::fs::set_permissions(&source_dir, open_to_all())?;
        }
        let copy = source_dir.join(&name);
        std::fs::copy(source, &copy)?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644))?;
        // Only the top is the compiler's: it writes its output and temporary files there, and nowhere below it.
        if let WorkerUser::Switch { uid, gid } = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        Ok(Stage {
            output: dir.path().join(format!("lib{stem}.so")),
            dir,
            origin,
            source_dir,
            source: as_operand(name),
            owner,
        })
    }

    /// Copies the compiler's `output` into the judge's `workdir` (as `lib<stem>…so`, a name no other submission of
    /// the run has), once it is sure it is the compiler's: a regular file, not a link, of the compiler's user.
    /// Past this copy, nothing the compiler's user runs can change the library the workers load.
    fn take(&self, workdir: &Path, stem: &str) -> Result<PathBuf, BuildError> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        let path = &self.output;
        let untrusted = |reason: String| BuildError::Output {
            path: path.clone(),
            reason,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| untrusted(format!("could not open it: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| untrusted(format!("could not read its metadata: {e}")))?;
        if !meta.is_file() {
            return Err(untrusted("it is not a regular file".to_owned()));
        }
        if meta.uid() != self.owner.uid {
            return Err(untrusted(format!(
                "it belongs to user {}, not to the compiler's user {}",
                meta.uid(),
                self.owner.uid
            )));
        }
        let copy_failed = |source| BuildError::Io {
            path: workdir.to_owned(),
            source,
        };
        let (mut copy, library) = tempfile::Builder::new()
            .prefix(&format!("lib{stem}-"))
            .suffix(".so")
            .tempfile_in(workdir)
            .and_then(|f| f.keep().map_err(|e| e.error))
            .map_err(copy_failed)?;
        // As a linker leaves it: workers of another user reopen it through its descriptor, which needs the
        // permission to read it.
        copy.set_permissions(std::fs::Permissions::from_mode(0o755))
            .and_then(|()| std::io::copy(&mut file, &mut copy))
            .map_err(copy_failed)?;
        Ok(library)
    }
}

/// A file `name` in the working directory as a compiler's operand: `./NAME` when it starts with `-` (so that no
/// compiler reads `-o.c` as `-o .c`), else as it is, so the compiler's messages name the file as its author did.
fn as_operand(name: OsString) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    if name.as_bytes().starts_with(b"-") {
        Path::new(".").join(name).into_os_string()
    } else {
        name
    }
}

/// The flags of a host-pointer (C or C++) build, before `-o`.
fn host_flags() -> Vec<String> {
    ["-O3", "-march=native", "-shared", "-fPIC"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Which compilers to use and how long and how much memory they may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileOptions {
    /// Wall-clock limit of one compile.
    pub limit: Duration,
    /// Address-space limit (`RLIMIT_AS`) of each compiler process, in bytes.
    pub memory_bytes: u64,
    /// The C compiler (`$CC`, else `cc`).
    pub cc: OsString,
    /// The C++ compiler (`$CXX`, else `c++`).
    pub cxx: OsString,
    /// The CUDA compiler (`$NVCC`; when unset, looked for where [`nvcc::find`] looks).
    pub nvcc: Option<OsString>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            limit: Duration::from_secs(120),
            memory_bytes: COMPILE_MEMORY_MIB * crate::sandbox::limits::MIB,
            cc: compiler_from_env(SourceKind::C).unwrap_or_else(|| "cc".into()),
            cxx: compiler_from_env(SourceKind::Cpp).unwrap_or_else(|| "c++".into()),
            nvcc: compiler_from_env(SourceKind::Cuda),
        }
    }
}

/// The compiler of `kind` that its environment variable names, when set and not empty (`CC=` counts as unset,
/// as it does for `make`).
pub(crate) fn compiler_from_env(kind: SourceKind) -> Option<OsString> {
    kind.compiler_variable()
        .and_then(std::env::var_os)
        .filter(|value| !value.is_empty())
}

/// A successful compile: the command and what the compiler said (warnings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompileRecord {
    /// The command line.
    pub command: String,
    /// Its output.
    pub log: String,
    /// How long it took, in seconds.
    pub seconds: f64,
}

/// A submission ready to load.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The name shown in results.
    pub name: String,
    /// The shared library to load (absolute).
    pub library: PathBuf,
    /// Which pointers its `solve` takes.
    pub backend: Backend,
    /// The kind it was built from.
    pub kind: SourceKind,
    /// The compile, when there was one.
    pub compile: Option<CompileRecord>,
}

/// Why a submission could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The compiler could not be started (not installed?).
    #[error("could not run the compiler '{compiler}': {source}")]
    CompilerMissing {
        /// The compiler.
        compiler: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The compiler failed.
    #[error("compile error: `{command}` failed with {status}{}", note(.limit))]
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// Its output.
        log: String,
        /// The judge's limit that its output says it reached, in words with the option that sets it.
        limit: Option<String>,
    },
    /// The compiler ran past its limit.
    #[error("compile error: `{command}` ran past the limit of {limit_s} s and was killed")]
    TimedOut {
        /// The command line.
        command: String,
        /// The limit, in seconds.
        limit_s: f64,
        /// Its output so far.
        log: String,
    },
    /// The compiler's output is not a file the judge can take as the library (a link, another user's file).
    #[error("compile error: the compiler's output {path} cannot be used: {reason}")]
    Output {
        /// The output.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// This judge cannot run submissions of this kind here.
    #[error("{reason}")]
    Unsupported {
        /// Why.
        reason: String,
    },
    /// The judge could not prepare the compile or take its output (resolve or copy the source, make the compile
    /// directory, copy the library out): its own machine's fault, not the submission's.
    #[error("the judge could not prepare the build: {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    /// The verdict every case of the submission gets.
    pub fn verdict(&self) -> Verdict {
        match self {
            BuildError::Failed { .. } | BuildError::TimedOut { .. } => Verdict::CompileError,
            BuildError::CompilerMissing { .. }
            | BuildError::Unsupported { .. }
            | BuildError::Io { .. } => Verdict::Skipped,
            BuildError::Output { .. } => Verdict::CompileError,
        }
    }

    /// The compiler's output, when there is any.
    pub fn log(&self) -> Option<&str> {
        match self {
            BuildError::Failed { log, .. } | BuildError::TimedOut { log, .. } => Some(log),
            _ => None,
        }
    }

    /// A one-line reason: the status and the first error line of the compiler's output.
    pub fn reason(&self) -> String {
        match (self, self.log().and_then(first_error_line)) {
            (BuildError::Failed { status, limit, .. }, Some(line)) => {
                format!("compile error ({status}): {line}{}", note(limit))
            }
            (_, Some(line)) => format!("{self}: {line}"),
            (_, None) => self.to_string(),
        }
    }
}

/// The judge's limit that a failed compiler's `log` says it reached, if any: its processes' address space
/// (`out of memory`, `bad_alloc`), the size of the files it writes (`SIGXFSZ`) or its CPU time (`SIGXCPU`).
fn limit_reached(log: &str, options: &CompileOptions) -> Option<String> {
    let said = |phrases: &[&str]| phrases.iter().any(|p| log.contains(p));
    if said(&[
        "out of memory",
        "memory exhausted",
        "Cannot allocate memory",
        "bad_alloc",
    ]) {
        Some(format!(
            "each compiler process may map at most {} MiB, set by --compile-memory-limit",
            options.memory_bytes / crate::sandbox::limits::MIB
        ))
    } else if said(&["File size limit exceeded"]) {
        Some(format!(
            "files the compiler writes are limited to {} MiB",
            COMPILE_FILE_BYTES / crate::sandbox::limits::MIB
        ))
    } else if said(&["CPU time limit exceeded"]) {
        Some(format!(
            "each compiler process may use {} s of CPU time, set by --compile-time-limit",
            compile::cpu_seconds(options.limit)
        ))
    } else {
        None
    }
}

/// `limit` as the end of a message: ` (LIMIT)`, or nothing.
fn note(limit: &Option<String>) -> String {
    limit
        .as_ref()
        .map_or_else(String::new, |l| format!(" (the judge's limit: {l})"))
}

/// The first line of a compiler log that reports an error (`file:line:col: error: …`), else its first
/// non-empty line.
pub fn first_error_line(log: &str) -> Option<&str> {
    let lines = || log.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find(|l| l.contains("error:") || l.contains("Error:"))
        .or_else(|| lines().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compile directory that a killed judge left to a worker user is removed by the next judge that takes that
    /// user; other users' directories and other names stay.
    #[test]
    fn compiles_left_by_a_killed_judge_are_removed_for_their_user_alone() {
        use std::os::unix::fs::MetadataExt;
        let base = tempfile::tempdir().unwrap();
        let me = std::fs::metadata(base.path()).unwrap().uid();
        let left = base.path().join(format!("{STAGE_PREFIX}AbC123"));
        std::fs::create_dir_all(left.join("src/tmp/w")).unwrap();
        std::fs::write(left.join("src/tmp/w/mine.c"), "void solve(void) {}").unwrap();
        let other_name = base.path().join("judge-work-AbC123");
        std::fs::create_dir(&other_name).unwrap();
        let file = base.path().join(format!("{STAGE_PREFIX}file"));
        std::fs::write(&file, "").unwrap();
        // Another user's: nothing of it is touched.
        assert_eq!(
            remove_compiles_left_in(&[base.path().to_owned()], me + 1),
            0
        );
        assert!(left.exists());
        assert_eq!(remove_compiles_left_in(&[base.path().to_owned()], me), 1);
        assert!(!left.exists() && other_name.exists() && file.exists());
    }

    #[test]
    fn kinds_come_from_extensions_and_backends_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, "").unwrap();
            p
        };
        let c = Submission::new(&file("a.c"), None).unwrap();
        assert_eq!((c.kind, c.backend), (SourceKind::C, Backend::Cpu));
        assert_eq!(
            Submission::new(&file("a.CC"), None).unwrap().kind,
            SourceKind::Cpp
        );
        let cu = Submission::new(&file("k.cu"), None).unwrap();
        assert_eq!(cu.backend, Backend::Cuda);
        assert!(matches!(
            Submission::new(&file("k.cu"), Some(Backend::Cpu)),
            Err(SubmissionError::BackendMismatch { .. })
        ));
        assert!(matches!(
            Submission::new(&file("lib.so"), None),
            Err(SubmissionError::NeedsBackend { .. })
        ));
        assert_eq!(
            Submission::new(&file("lib.so"), Some(Backend::Cuda))
                .unwrap()
                .backend,
            Backend::Cuda
        );
        assert!(matches!(
            Submission::new(&file("x.py"), None),
            Err(SubmissionError::UnknownKind { .. })
        ));
        assert!(matches!(
            Submission::new(&dir.path().join("none.c"), None),
            Err(SubmissionError::Missing { .. })
        ));
    }

    /// A file name with a line break or another control character in it is named on one line, with the character
    /// escaped (`\n`), as a case file's is: tables and progress lines name a submission by its file name.
    #[test]
    fn a_name_is_one_line_of_text() {
        let dir = tempfile::tempdir().unwrap();
        for (name, shown) in [
            ("a\nb.c", "a\\nb.c"),
            ("tab\there.c", "tab\\there.c"),
            ("esc\u{1b}[2J.c", "esc\\x1b[2J.c"),
            ("a b;rm -rf.c", "a b;rm -rf.c"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, "").unwrap();
            assert_eq!(Submission::new(&path, None).unwrap().name(), shown);
        }
    }

    /// A path that exists but is no file says what it is, not that there is no such file.
    #[test]
    fn a_path_that_is_not_a_file_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("folder.c");
        std::fs::create_dir(&folder).unwrap();
        let error = Submission::new(&folder, None).unwrap_err();
        assert!(
            matches!(error, SubmissionError::NotAFile { .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("{}: a directory, not a submission file", folder.display())
        );
        let fifo = dir.path().join("pipe.c");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(
            Submission::new(&fifo, None).unwrap_err().to_string(),
            format!("{}: a FIFO, not a submission file", fifo.display())
        );
        let error = Submission::new(&dir.path().join("none.c"), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: no such submission file",
                dir.path().join("none.c").display()
            )
        );
        // Through a link, the file it leads to.
        let link = dir.path().join("link.c");
        std::os::unix::fs::symlink(&folder, &link).unwrap();
        assert!(matches!(
            Submission::new(&link, None),
            Err(SubmissionError::NotAFile { .. })
        ));
    }

    /// A header beside the source (`#include "../common/h.h"`) is found where its author put it, not beside the
    /// copy the compiler works on, where anyone could have placed one of that name (in `/tmp`, say).
    #[test]
    fn relative_headers_are_found_beside_the_source_only() {
        use std::os::unix::fs::PermissionsExt;
        let workspace = crate::sandbox::Workspace::create().unwrap();
        let (user, _) = WorkerUser::automatic();
        let sandbox = workspace.config(
            crate::sandbox::WorkerCommand::judge_at("/nonexistent/judge"),
            crate::sandbox::Limits::default(),
            user,
        );
        let sources = tempfile::tempdir().unwrap();
        std::fs::set_permissions(sources.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let common = format!("judge-common-{}", std::process::id());
        for dir in ["sub", common.as_str()] {
            std::fs::create_dir(sources.path().join(dir)).unwrap();
        }
        std::fs::write(
            sources.path().join(&common).join("h.h"),
            "#define FROM_THE_AUTHOR 1\n",
        )
        .unwrap();
        // Where `../common/h.h` would lead from a copy of the source made in the temporary directory.
        let planted = std::env::temp_dir().join(&common);
        std::fs::create_dir_all(&planted).unwrap();
        std::fs::write(planted.join("h.h"), "#error the planted header was used\n").unwrap();
        let source = sources.path().join("sub/x.c");
        std::fs::write(
            &source,
            format!(
                "#include \"../{common}/h.h\"\n#if !FROM_THE_AUTHOR\n#error no header\n#endif\n\
                 void solve(void) {{}}\n"
            ),
        )
        .unwrap();
        // Named through `..`, as the tests name the fixtures (`harness/../fixtures`).
        let named = sources.path().join("sub/../sub/x.c");
        let built = Submission::new(&named, None)
            .unwrap()
            .build(&sandbox, &CompileOptions::default());
        std::fs::remove_dir_all(&planted).unwrap();
        let built = built.unwrap_or_else(|e| panic!("{e}: {:?}", e.log()));
        // The library is the judge's copy, in the working directory, readable by the workers.
        assert!(built.library.starts_with(&sandbox.workdir), "{built:?}");
        let meta = std::fs::metadata(&built.library).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    }

    /// A sandbox for the builds of these tests: workers as they would run from the command line.
    fn test_sandbox(workspace: &crate::sandbox::Workspace) -> SandboxConfig {
        let (user, _) = WorkerUser::automatic();
        workspace.config(
            crate::sandbox::WorkerCommand::judge_at("/nonexistent/judge"),
            crate::sandbox::Limits::default(),
            user,
        )
    }

    /// A source in a directory every user may read, as a submission's would be.
    fn source_named(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A file name that reads as an option (`-o.c`, which `cc` took as `-o .c`, with no source left to compile)
    /// is compiled as the source it is.
    #[test]
    fn a_source_named_like_an_option_is_compiled_as_a_source() {
        let workspace = crate::sandbox::Workspace::create().unwrap();
        let sandbox = test_sandbox(&workspace);
        let dir = tempfile::tempdir().unwrap();
        for name in ["-o.c", "-shared.c", "--help.c"] {
            let source = source_named(&dir, name, "void solve(void) {}\n");
            let built = Submission::new(&source, None)
                .unwrap()
                .build(&sandbox, &CompileOptions::default())
                .unwrap_or_else(|e| panic!("{name}: {e}: {:?}", e.log()));
            assert!(built.library.is_file(), "{name}: {built:?}");
            assert_eq!(built.name, name);
        }
    }

    /// A compile's directory is its compiler's user's alone: no other user (a submission of another judge, whose
    /// workers run as another user) may list it or read the copy of the source inside while it compiles.
    #[test]
    fn a_compile_directory_is_the_compilers_user_s_alone() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (user, _) = WorkerUser::automatic();
        let sources = tempfile::tempdir().unwrap();
        let source = sources.path().join("x.c");
        std::fs::write(&source, "void solve(void) {}\n").unwrap();
        let stage = Stage::create(&source, "x", user).unwrap();
        let meta = std::fs::metadata(stage.dir.path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o700);
        assert_eq!((meta.uid(), meta.gid()), (user.ids().uid, user.ids().gid));
        assert!(stage.source_dir.join("x.c").is_file());
        assert!(stage.source_dir.starts_with(stage.dir.path()));
    }

    #[test]
    fn a_temporary_directory_the_compiler_cannot_reach_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let private = tempfile::tempdir().unwrap();
        std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let inner = private.path().join("tmp");
        std::fs::create_dir(&inner).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let judge = WorkerUser::Judge.ids();
        let other = crate::sandbox::UserIds {
            uid: judge.uid.wrapping_add(4321),
            gid: judge.gid.wrapping_add(4321),
        };
        // The judge's own user reaches its own private directory; another user does not, and gets /tmp.
        assert_eq!(stage_base(&inner, judge), inner);
        assert!(!reachable_by(&inner, other));
        assert!(reachable_by(Path::new("/tmp"), other));
        assert_eq!(stage_base(&inner, other), Path::new("/tmp"));
        assert!(!reachable_by(Path::new("/nonexistent/dir"), judge));
    }

    /// A build the judge cannot prepare says so and is not run: it is not the submission's compile error.
    #[test]
    fn a_build_the_judge_cannot_prepare_is_skipped() {
        let workspace = crate::sandbox::Workspace::create().unwrap();
        let sandbox = workspace.config(
            crate::sandbox::WorkerCommand::judge_at("/nonexistent/judge"),
            crate::sandbox::Limits::default(),
            WorkerUser::Judge,
        );
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("gone.c");
        std::fs::write(&source, "void solve(void) {}\n").unwrap();
        let submission = Submission::new(&source, None).unwrap();
        std::fs::remove_file(&source).unwrap();
        let error = submission
            .build(&sandbox, &CompileOptions::default())
            .unwrap_err();
        assert!(matches!(error, BuildError::Io { .. }), "{error:?}");
        assert_eq!(error.verdict(), Verdict::Skipped);
        assert!(
            error
                .to_string()
                .starts_with("the judge could not prepare the build: "),
            "{error}"
        );
    }

    #[test]
    fn a_compile_that_reached_a_limit_says_which() {
        let options = CompileOptions::default();
        let failed = |log: &str| BuildError::Failed {
            command: "cc x.c".to_owned(),
            status: "exit status 1".to_owned(),
            log: log.to_owned(),
            limit: limit_reached(log, &options),
        };
        let memory = failed(
            "\ncc1: out of memory allocating 8589934608 bytes after a total of 602112 bytes\n",
        );
        assert_eq!(
            memory.reason(),
            "compile error (exit status 1): cc1: out of memory allocating 8589934608 bytes after a total of \
             602112 bytes (the judge's limit: each compiler process may map at most 8192 MiB, set by \
             --compile-memory-limit)"
        );
        assert!(
            memory
                .to_string()
                .ends_with("set by --compile-memory-limit)"),
            "{memory}"
        );
        let file = failed(
            "cc: internal compiler error: File size limit exceeded signal terminated program as\n",
        );
        assert!(
            file.reason()
                .ends_with("files the compiler writes are limited to 1024 MiB)"),
            "{}",
            file.reason()
        );
        let cpu =
            failed("cc: fatal error: CPU time limit exceeded signal terminated program cc1\n");
        assert!(
            cpu.reason()
                .ends_with("120 s of CPU time, set by --compile-time-limit)"),
            "{}",
            cpu.reason()
        );
        let plain = failed("x.c:3:5: error: expected ';' before '}' token\n");
        assert_eq!(
            plain.reason(),
            "compile error (exit status 1): x.c:3:5: error: expected ';' before '}' token"
        );
    }

    #[test]
    fn first_error_line_prefers_errors() {
        let log =
            "error.c: In function 'solve':\nerror.c:3:5: error: expected ';' before '}' token\n";
        assert_eq!(
            first_error_line(log),
            Some("error.c:3:5: error: expected ';' before '}' token")
        );
        assert_eq!(first_error_line("\n  \n"), None);
    }
}
