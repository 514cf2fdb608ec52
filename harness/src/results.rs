//! The versioned results document that every run and bench writes (DESIGN.md §4): `meta` (how and where it was
//! made), then one entry per solution × case × mode, with the check report and raw timing samples. Tables and
//! reports are rendered from it, so a result can be re-rendered or compared later.
//!
//! [`ResultsFile`] rewrites the whole document after every entry (atomically), so an interrupted run loses
//! nothing that was already measured.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use solutions::{Backend, Shape};

use crate::challenge::suites::{Case, CaseSource};
use crate::check::{CheckReport, Tolerance};
use crate::io::{FileError, write_atomically};
use crate::meta::{GpuInfo, Host, JUDGE_VERSION, git_commit, unix_time};
use crate::stats::Summary;
use crate::verdict::Verdict;

/// The `schema` tag of a results document.
pub const SCHEMA: &str = "judge.results";
/// The version of the results schema; bump it on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole results document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsDoc {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Always [`SCHEMA_VERSION`] when written by this judge.
    pub schema_version: u32,
    /// How and where it was made.
    pub meta: Meta,
    /// One per solution × case × mode, in the order measured.
    pub entries: Vec<Entry>,
}

/// How and where a document was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The judge's version.
    pub judge_version: String,
    /// The git commit the judge was built from, when known.
    pub git_commit: Option<String>,
    /// The command line.
    pub argv: Vec<String>,
    /// When the command started, in seconds since the Unix epoch.
    pub started_at_unix: f64,
    /// The run's seed (each case derives its own from it).
    pub seed: u64,
    /// The tolerance applied by the checker.
    pub tolerance: Tolerance,
    /// The host machine.
    pub host: Host,
    /// The GPU, when one was used.
    pub gpu: Option<GpuInfo>,
}

impl Meta {
    /// Meta for a command starting now on this machine.
    pub fn now(seed: u64, tolerance: Tolerance) -> Self {
        Self {
            judge_version: JUDGE_VERSION.to_owned(),
            git_commit: git_commit(),
            argv: std::env::args().collect(),
            started_at_unix: unix_time(),
            seed,
            tolerance,
            host: Host::detect(),
            gpu: None,
        }
    }
}

/// Which measurement an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A correctness run (`judge run`): one checked call, timed once by the wall clock.
    Check,
    /// Repeated timed calls with caches warm.
    Warm,
    /// Repeated timed calls with the input bytes flushed from the caches before each.
    Cold,
}

/// The case an entry is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseInfo {
    /// Its name.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// Where it came from.
    pub source: CaseSource,
}

impl From<&Case> for CaseInfo {
    fn from(case: &Case) -> Self {
        Self {
            name: case.name.clone(),
            shape: case.inputs.shape(),
            source: case.source.clone(),
        }
    }
}

/// Timing of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// What measured the samples.
    pub clock: Clock,
    /// Every sample, in seconds, in the order taken.
    pub samples_s: Vec<f64>,
    /// Their summary.
    pub summary: Summary,
    /// The same measurement of a reference (a device copy of the same byte count), when one was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// What a timing is compared with: the "speed of light" for its byte count, measured the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// What the reference is.
    pub kind: ReferenceKind,
    /// Bytes it copies per call (it reads and writes each once).
    pub bytes: u64,
    /// Its samples, in seconds.
    pub samples_s: Vec<f64>,
    /// Their summary.
    pub summary: Summary,
}

/// Kinds of reference measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceKind {
    /// `cuMemcpyDtoDAsync` of `bytes` bytes under the same cache regime.
    DeviceCopy,
}

impl Timing {
    /// Timing from raw samples; `None` when there are none.
    pub fn from_samples(clock: Clock, samples_s: Vec<f64>) -> Option<Self> {
        let summary = Summary::of(&samples_s)?;
        Some(Self {
            clock,
            samples_s,
            summary,
            reference: None,
        })
    }
}

/// What took a timing sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// The host's monotonic clock around the call (and its synchronisation, for GPU variants).
    Wall,
    /// CUDA events recorded on the solution's stream.
    CudaEvents,
}

/// One solution × case × mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The solution's name.
    pub solution: String,
    /// Its backend.
    pub backend: Backend,
    /// The case.
    pub case: CaseInfo,
    /// The measurement.
    pub mode: Mode,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, for anything but a pass.
    pub reason: Option<String>,
    /// The checker's report, when the output was checked.
    pub check: Option<CheckReport>,
    /// Timing, when the call was timed.
    pub timing: Option<Timing>,
}

impl ResultsDoc {
    /// An empty document.
    pub fn new(meta: Meta) -> Self {
        Self {
            schema: SCHEMA.to_owned(),
            schema_version: SCHEMA_VERSION,
            meta,
            entries: Vec::new(),
        }
    }

    /// Reads a document, refusing other schemas and newer versions.
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::io(path, e))?;
        let malformed = |reason: String| FileError::Malformed {
            path: path.to_owned(),
            format: "results",
            reason,
        };
        let doc: ResultsDoc = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        if doc.schema != SCHEMA || doc.schema_version > SCHEMA_VERSION {
            return Err(malformed(format!(
                "schema '{}' version {}; this judge reads '{SCHEMA}' up to version {SCHEMA_VERSION}",
                doc.schema, doc.schema_version
            )));
        }
        Ok(doc)
    }

    /// Writes the document as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| FileError::Malformed {
            path: path.to_owned(),
            format: "results",
            reason: format!("could not encode: {e}"),
        })?;
        text.push(b'\n');
        write_atomically(path, &text)
    }
}

/// A document being filled, rewritten to its file (if any) after every entry.
pub struct ResultsFile {
    doc: ResultsDoc,
    path: Option<PathBuf>,
}

impl ResultsFile {
    /// A document written to `path` (when given) as entries arrive. Writes the empty document at once, so a bad
    /// path is reported before any work is done.
    pub fn create(meta: Meta, path: Option<PathBuf>) -> Result<Self, FileError> {
        let file = Self {
            doc: ResultsDoc::new(meta),
            path,
        };
        file.flush()?;
        Ok(file)
    }

    /// Adds an entry and rewrites the file.
    pub fn push(&mut self, entry: Entry) -> Result<(), FileError> {
        self.doc.entries.push(entry);
        self.flush()
    }

    /// The document so far.
    pub fn doc(&self) -> &ResultsDoc {
        &self.doc
    }

    /// Mutable access to the meta block (for example to record the GPU once it is known).
    pub fn meta_mut(&mut self) -> &mut Meta {
        &mut self.doc.meta
    }

    /// Rewrites the file, if any.
    pub fn flush(&self) -> Result<(), FileError> {
        match &self.path {
            Some(path) => self.doc.write(path),
            None => Ok(()),
        }
    }
}
