//! Cases on disk: NumPy `.npz`, `.safetensors` and our JSON golden format, with the field names of DESIGN.md §2
//! (`Q`, `K_idx`, `qjl_signs`, `gamma`, `Pi`, `S_mat`, `codebook`, optional `scores`), so cases move freely
//! between this judge and Python tooling. Every malformed file gets an error naming the file, the field and what
//! is wrong with it; nothing here panics on bad bytes.

pub mod json;
pub mod npy;
pub mod npz;
pub mod safetensors;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use solutions::{Field, InputError, InputParts, Inputs, Shape};

/// A case file's format, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// NumPy's zip of `.npy` arrays (`numpy.savez`).
    Npz,
    /// Hugging Face safetensors.
    Safetensors,
    /// The judge's JSON golden format (flat row-major arrays, scores in f64).
    Json,
}

impl Format {
    /// The file extension, without the dot.
    pub const fn extension(self) -> &'static str {
        match self {
            Format::Npz => "npz",
            Format::Safetensors => "safetensors",
            Format::Json => "json",
        }
    }

    /// The format of `path`, from its extension.
    pub fn from_path(path: &Path) -> Result<Format, FileError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("npz") => Ok(Format::Npz),
            Some("safetensors") => Ok(Format::Safetensors),
            Some("json") => Ok(Format::Json),
            _ => Err(FileError::UnknownFormat {
                path: path.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// Why a case file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The operating system refused.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The extension names no format we know.
    #[error("{path}: unknown case format; use a .npz, .safetensors or .json file")]
    UnknownFormat { path: PathBuf },
    /// The container itself is broken (not a zip, bad header, bad JSON, …).
    #[error("{path}: not a valid {format} file: {reason}")]
    Malformed {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    /// A required array is absent.
    #[error("{path}: missing field '{field}' (fields present: {})", present.join(", "))]
    MissingField {
        path: PathBuf,
        field: Field,
        present: Vec<String>,
    },
    /// An array has the wrong element type.
    #[error("{path}: field '{field}' has dtype {actual}, but it must be {expected}")]
    Dtype {
        path: PathBuf,
        field: Field,
        expected: &'static str,
        actual: String,
    },
    /// An array has the wrong dimensions for the shape it must have.
    #[error(
        "{path}: field '{field}' has dimensions {actual:?}, but it must be {expected:?} ({rule})"
    )]
    Dims {
        path: PathBuf,
        field: Field,
        expected: Vec<usize>,
        actual: Vec<usize>,
        rule: String,
    },
    /// Two arrays give different values for one letter of the shape (`Q` says D = 5, `K_idx` says D = 4).
    #[error(
        "{path}: arrays disagree on {letter}: {source_field} is {source_dims:?} ({letter} = {source_value}) \
         but {field} is {actual:?} ({letter} = {value}); {source_field} is {source_layout} and {field} is \
         {field_layout}",
        source_layout = layout(*.source_field),
        field_layout = layout(*.field),
    )]
    Disagree {
        path: PathBuf,
        /// The shape letter: `B`, `S`, `D` or `C`.
        letter: char,
        /// The array the value was taken from (`Q` for B and D, `K_idx` for S, `codebook` for C).
        source_field: Field,
        source_dims: Vec<usize>,
        source_value: usize,
        /// The array that says otherwise.
        field: Field,
        actual: Vec<usize>,
        value: usize,
    },
    /// An array has the wrong number of dimensions.
    #[error("{path}: field '{field}' has dimensions {actual:?}, but it must be {layout}")]
    Rank {
        path: PathBuf,
        field: Field,
        actual: Vec<usize>,
        layout: String,
    },
    /// An array's data is shorter than its header says.
    #[error(
        "{path}: field '{field}' is truncated: its header promises {expected} bytes, the file holds {actual}"
    )]
    Truncated {
        path: PathBuf,
        field: Field,
        expected: usize,
        actual: usize,
    },
    /// An array's data is longer than its header says.
    #[error(
        "{path}: field '{field}' has {extra} extra bytes: its header promises {expected} data bytes"
    )]
    ExtraBytes {
        path: PathBuf,
        field: Field,
        expected: usize,
        extra: usize,
    },
    /// The case name stored in the file is not one line of text (it would break every line that shows it).
    #[error(
        "{path}: the stored case name {name:?} holds a control character; a case name is one line of text"
    )]
    CaseName { path: PathBuf, name: String },
    /// The file holds more bytes than any case or scores file can.
    #[error("{path}: the file holds more than {limit} bytes, more than any case or scores file")]
    TooLarge { path: PathBuf, limit: u64 },
    /// The scores stored beside the inputs disagree with the oracle's.
    #[error("{path}: the stored scores disagree with the oracle: {reason}")]
    StoredScores { path: PathBuf, reason: String },
    /// The arrays are well-formed but break the challenge's constraints.
    #[error("{path}: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: InputError,
    },
}

impl FileError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        FileError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// One case as stored in a file: the inputs and, optionally, reference scores.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFile {
    /// The case's name: stored in the file, or else the file's stem.
    pub name: Option<String>,
    /// The validated inputs.
    pub inputs: Inputs,
    /// `[B, S]` scores stored beside the inputs (f32 in binary formats, f64 in JSON).
    pub scores: Option<Vec<f64>>,
    /// Arrays in the file that are not fields of the problem (listed so a misspelt name is noticed).
    pub ignored: Vec<String>,
}

impl CaseFile {
    /// The case read from `path`: its arrays validated as [`Inputs`] (an invalid one is [`FileError::Invalid`],
    /// naming the file), beside its stored name, scores and ignored arrays.
    fn validate(
        path: &Path,
        name: Option<String>,
        parts: InputParts,
        scores: Option<Vec<f64>>,
        ignored: Vec<String>,
    ) -> Result<CaseFile, FileError> {
        let inputs = Inputs::new(parts).map_err(|source| FileError::Invalid {
            path: path.to_owned(),
            source,
        })?;
        Ok(CaseFile {
            name,
            inputs,
            scores,
            ignored,
        })
    }
}

/// Reads a case from `path`, choosing the format by extension.
///
/// A file that stores no case name (one written by other tools, such as `numpy.savez`), or an empty one, is named
/// after its stem, with any control character in it escaped (`\n`); a stored name that holds a control character
/// is refused.
pub fn read_case(path: &Path) -> Result<CaseFile, FileError> {
    let mut case = match Format::from_path(path)? {
        Format::Npz => npz::read_case(path),
        Format::Safetensors => safetensors::read_case(path),
        Format::Json => json::read_case(path),
    }?;
    case.name = match case.name.take().filter(|name| !name.is_empty()) {
        Some(name) if name.chars().any(char::is_control) => {
            return Err(FileError::CaseName {
                path: path.to_owned(),
                name,
            });
        }
        Some(name) => Some(name),
        None => path
            .file_stem()
            .map(|stem| crate::escape::one_line_name(&stem.to_string_lossy())),
    };
    Ok(case)
}

/// Most bytes an input file (a case, scores from another tool) may hold: far beyond any of them (a JSON case at the
/// largest shape takes about 200 MB, a binary one 41 MiB), and small enough that a file that never ends
/// (`/dev/zero`, or a link to it) or a huge one is refused instead of filling memory.
pub const FILE_LIMIT: u64 = 1 << 30;

/// The bytes of the input file at `path`, refusing one of more than [`FILE_LIMIT`] bytes.
pub fn read_input(path: &Path) -> Result<Vec<u8>, FileError> {
    read_limited(path, FILE_LIMIT)
}

/// The bytes of the file at `path`, refusing one of more than `limit` bytes: a regular file by its size, before
/// anything is read; anything else (a device, a FIFO) once it has given that many.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    use std::io::Read;
    let fail = |e| FileError::io(path, e);
    let too_large = || FileError::TooLarge {
        path: path.to_owned(),
        limit,
    };
    let file = std::fs::File::open(path).map_err(fail)?;
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > limit)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Writes a case to `path`, choosing the format by extension. The file is written whole to a temporary name
/// beside it and then renamed, so a failure never leaves half a file.
pub fn write_case(path: &Path, case: &CaseFile) -> Result<(), FileError> {
    let format = Format::from_path(path)?;
    let encoded = match format {
        Format::Npz => npz::encode_case(case),
        Format::Safetensors => safetensors::encode_case(case),
        Format::Json => json::encode_case(case),
    };
    let bytes = encoded.map_err(|reason| FileError::Malformed {
        path: path.to_owned(),
        format: format.extension(),
        reason: format!("could not encode: {reason}"),
    })?;
    write_atomically(path, &bytes)
}

/// Creates `dir` and its parents where missing, as `create_dir_all`, with a plain reason where `dir` is already
/// something other than a directory (the system's own is "File exists").
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "it exists and is not a directory",
        ));
    }
    std::fs::create_dir_all(dir)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a reader never
/// sees half a file.
///
/// A symbolic link is followed to its final target, which is written (atomically) while the link stays. A target
/// that exists and is neither a regular file nor a directory (a FIFO, a pipe, a device) cannot be replaced by a
/// rename without losing what it is, nor can an open descriptor (`/dev/stdout`, `/proc/self/fd/N`, whatever it
/// leads to): these are opened, emptied where they can be and written in place, and a failed write (a closed
/// pipe, a full device) is an error naming `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let target = final_target(path).map_err(|e| FileError::io(path, e))?;
    if written_in_place(&target) {
        return write_in_place(&target, bytes).map_err(|e| FileError::io(path, e));
    }
    let dir = parent_dir(&target);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // Errors name `path`, the file the user asked for, and leave no partial temporary file behind.
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &target))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            FileError::io(path, e)
        })
}

/// Checks, before anything is written, that [`write_atomically`] can write `path` as it will: through its
/// symbolic links, an existing special file (a FIFO, a terminal, a device) in place, anything else by a new
/// file in the target's directory, which must take one. A directory is refused. Leaves nothing behind; a
/// special file is not opened (opening a FIFO would wait for a reader).
pub fn check_writable(path: &Path) -> Result<(), FileError> {
    let fail = |e| FileError::io(path, e);
    let target = final_target(path).map_err(fail)?;
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => Err(fail(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory",
        ))),
        Ok(meta) if is_under_proc(&target) || is_special(&meta) => Ok(()),
        _ => {
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let probe = parent_dir(&target).join(format!(".{name}.probe{}", std::process::id()));
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .and_then(|file| {
                    drop(file);
                    std::fs::remove_file(&probe)
                })
                .map_err(fail)
        }
    }
}

/// The directory a file is written into (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Most symbolic links followed before giving up (the kernel's own limit for a path is 40).
const MAX_LINKS: usize = 40;

/// `path` with every symbolic link at its end followed (the target need not exist yet, so a dangling link is
/// written through); directories on the way are left as they are, since a rename inside them works either way.
/// A link under `/proc` (`/proc/self/fd/1`, where `/dev/stdout` leads) is where the following stops: its text
/// may name no file (`pipe:[1234]`) or one that is gone, while opening the link itself reaches what it stands for.
pub fn final_target(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() && !is_under_proc(&current) => {
                let link = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other(format!(
        "more than {MAX_LINKS} symbolic links in a row (a loop?)"
    )))
}

/// Whether `path` (absolute, or relative to a working directory that is not `/proc`) lies under `/proc`.
fn is_under_proc(path: &Path) -> bool {
    path.starts_with("/proc")
}

/// Whether `path` leads to a stream rather than a file: a FIFO, a pipe, a terminal or a device, directly or
/// through a descriptor (`/dev/stdout`). A stream takes one document, at the end: a document rewritten after
/// every entry would reach its reader as many, and a FIFO whose reader has gone would hold the judge at the next
/// open.
pub fn is_stream(path: &Path) -> bool {
    final_target(path)
        .is_ok_and(|target| std::fs::metadata(target).is_ok_and(|meta| is_special(&meta)))
}

/// Whether `path` leads to the file, pipe or terminal that this process's standard output writes to
/// (`/dev/stdout`, `/proc/self/fd/1`, or `out.json` when stdout is redirected to it): the same device and inode.
pub fn is_stdout(path: &Path) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = std::fs::metadata(path) else {
        return false;
    };
    std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| std::fs::File::from(fd).metadata())
        .is_ok_and(|out| out.dev() == target.dev() && out.ino() == target.ino())
}

/// Whether [`write_atomically`] writes the final target `target` in place: an existing special file (a FIFO, a
/// terminal, a device), or anything reached through an open descriptor under `/proc`.
fn written_in_place(target: &Path) -> bool {
    is_under_proc(target) || std::fs::metadata(target).is_ok_and(|meta| is_special(&meta))
}

/// Neither a regular file nor a directory: a FIFO, a pipe, a socket, a terminal, a device.
fn is_special(meta: &std::fs::Metadata) -> bool {
    !meta.is_file() && !meta.is_dir()
}

/// Writes `bytes` to an existing file without creating it: a regular one (reached through a descriptor) is
/// emptied first, a special one (a FIFO, a terminal, a device) is written as it is.
fn write_in_place(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let regular = std::fs::metadata(target)?.is_file();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(regular)
        .open(target)?;
    file.write_all(bytes)?;
    file.flush()
}

/// Checks that no JSON object in `text`, at any depth, gives one key twice. `serde_json` keeps the last of two
/// equal keys and other readers keep the first, so such a file means one case to the judge and another to the
/// tool that wrote or reads it. The error names the key (and, from `serde_json`, the line and column).
pub(crate) fn refuse_repeated_keys(text: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<NoRepeatedKeys>(text).map(drop)
}

/// Any JSON value whose objects each give every key once; it keeps nothing of the value.
struct NoRepeatedKeys;

impl<'de> serde::Deserialize<'de> for NoRepeatedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoRepeatedKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoRepeatedKeys {
    type Value = NoRepeatedKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoRepeatedKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key '{key}' appears twice"
                )));
            }
            map.next_value::<NoRepeatedKeys>()?;
            seen.insert(key);
        }
        Ok(self)
    }
}

/// Element types that occur in case files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float, little-endian in memory here.
    F32,
    /// Unsigned byte.
    U8,
    /// Signed byte.
    I8,
    /// Anything else, by the file's own name for it.
    Other(String),
}

impl Dtype {
    /// Bytes per element, when known.
    pub fn size(&self) -> Option<usize> {
        match self {
            Dtype::F32 => Some(4),
            Dtype::U8 | Dtype::I8 => Some(1),
            Dtype::Other(_) => None,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dtype::F32 => f.write_str("float32"),
            Dtype::U8 => f.write_str("uint8"),
            Dtype::I8 => f.write_str("int8"),
            Dtype::Other(name) => f.write_str(name),
        }
    }
}

/// One array read from a file, its data little-endian.
#[derive(Debug, Clone, PartialEq)]
pub struct RawArray {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Element bytes, little-endian, row-major.
    pub bytes: Vec<u8>,
}

impl RawArray {
    /// An f32 array.
    pub fn f32(dims: Vec<usize>, values: &[f32]) -> Self {
        Self {
            dtype: Dtype::F32,
            dims,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// A u8 array.
    pub fn u8(dims: Vec<usize>, values: &[u8]) -> Self {
        Self {
            dtype: Dtype::U8,
            dims,
            bytes: values.to_vec(),
        }
    }

    /// An i8 array.
    pub fn i8(dims: Vec<usize>, values: &[i8]) -> Self {
        Self {
            dtype: Dtype::I8,
            dims,
            bytes: values.iter().map(|&v| v as u8).collect(),
        }
    }

    /// Number of elements the dimensions promise.
    pub fn element_count(&self) -> usize {
        self.dims.iter().product()
    }
}

/// The arrays of a case in signature order, ready for a binary writer (f32 scores rounded from f64).
pub fn case_arrays(case: &CaseFile) -> Vec<(Field, RawArray)> {
    let x = &case.inputs;
    let shape = x.shape();
    let mut arrays = vec![
        (Field::Q, RawArray::f32(shape.dims(Field::Q), &x.q)),
        (Field::KIdx, RawArray::u8(shape.dims(Field::KIdx), &x.k_idx)),
        (
            Field::QjlSigns,
            RawArray::i8(shape.dims(Field::QjlSigns), &x.qjl_signs),
        ),
        (
            Field::Gamma,
            RawArray::f32(shape.dims(Field::Gamma), &x.gamma),
        ),
        (Field::Pi, RawArray::f32(shape.dims(Field::Pi), &x.pi)),
        (
            Field::SMat,
            RawArray::f32(shape.dims(Field::SMat), &x.s_mat),
        ),
        (
            Field::Codebook,
            RawArray::f32(shape.dims(Field::Codebook), &x.codebook),
        ),
    ];
    if let Some(scores) = &case.scores {
        let rounded: Vec<f32> = scores.iter().map(|&s| s as f32).collect();
        arrays.push((
            Field::Scores,
            RawArray::f32(shape.dims(Field::Scores), &rounded),
        ));
    }
    arrays
}

/// A field's layout as text, such as `[B, D]`.
fn layout(field: Field) -> String {
    let letters: Vec<String> = field.letters().iter().map(char::to_string).collect();
    format!("[{}]", letters.join(", "))
}

/// The array a letter of the shape is read from: B and D from `Q`, S from `K_idx`, C from `codebook`.
fn source(letter: char) -> Field {
    match letter {
        'B' | 'D' => Field::Q,
        'S' => Field::KIdx,
        _ => Field::Codebook,
    }
}

/// Checks that every dimension of `dims` (the dimensions of `field`, of the right rank) agrees with `shape`,
/// which was read from `Q`, `K_idx` and `codebook`; a clash names the array the letter was read from, with its
/// dimensions (which are `shape`'s dimensions of that array, since they gave the shape).
fn check_agrees(path: &Path, shape: &Shape, field: Field, dims: &[usize]) -> Result<(), FileError> {
    let expected = shape.dims(field);
    let letters = field.letters().iter().zip(&expected).zip(dims);
    for ((&letter, &source_value), &value) in letters {
        if value != source_value {
            let source_field = source(letter);
            return Err(FileError::Disagree {
                path: path.to_owned(),
                letter,
                source_field,
                source_dims: shape.dims(source_field),
                source_value,
                field,
                actual: dims.to_vec(),
                value,
            });
        }
    }
    Ok(())
}

/// Builds a case from named arrays read out of `path`: reads the shape from `Q`, `K_idx` and `codebook`, then
/// checks every array's dtype and dimensions (naming the two arrays when they disagree), and finally the
/// challenge's value rules.
///
/// Each array's data must hold exactly the elements its dimensions promise: the readers check that (`.npy`
/// members against their headers, safetensors tensors against their offsets), so it is not checked again here.
pub fn assemble_case(
    path: &Path,
    mut arrays: BTreeMap<String, RawArray>,
    name: Option<String>,
) -> Result<CaseFile, FileError> {
    let present: Vec<String> = arrays.keys().cloned().collect();
    let mut take = |field: Field| -> Result<RawArray, FileError> {
        arrays
            .remove(field.name())
            .ok_or_else(|| FileError::MissingField {
                path: path.to_owned(),
                field,
                present: present.clone(),
            })
    };
    let q = take(Field::Q)?;
    let k_idx = take(Field::KIdx)?;
    let qjl_signs = take(Field::QjlSigns)?;
    let gamma = take(Field::Gamma)?;
    let pi = take(Field::Pi)?;
    let s_mat = take(Field::SMat)?;
    let codebook = take(Field::Codebook)?;
    let scores = arrays.remove(Field::Scores.name());
    let ignored: Vec<String> = arrays.into_keys().collect();

    let rank = |field: Field, a: &RawArray, rule: String| -> Result<(), FileError> {
        if a.dims.len() == field.letters().len() {
            Ok(())
        } else {
            Err(FileError::Rank {
                path: path.to_owned(),
                field,
                actual: a.dims.clone(),
                layout: rule,
            })
        }
    };
    for (field, a) in [
        (Field::Q, &q),
        (Field::KIdx, &k_idx),
        (Field::Codebook, &codebook),
    ] {
        rank(
            field,
            a,
            format!("{}-D {}", field.letters().len(), layout(field)),
        )?;
    }
    let shape = Shape::new(q.dims[0], k_idx.dims[0], q.dims[1], codebook.dims[0]);
    // K_idx gives S, but its D must be Q's.
    check_agrees(path, &shape, Field::KIdx, &k_idx.dims)?;
    shape.validate().map_err(|source| FileError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    let check = |field: Field, a: &RawArray, dtype: Dtype| -> Result<(), FileError> {
        check_dtype(path, field, a, &dtype)?;
        rank(
            field,
            a,
            format!(
                "{}-D {} = {:?} (Q, K_idx and codebook give {shape})",
                field.letters().len(),
                layout(field),
                shape.dims(field)
            ),
        )?;
        check_agrees(path, &shape, field, &a.dims)
    };

    let f32s = |field: Field, a: &RawArray| -> Result<Vec<f32>, FileError> {
        check(field, a, Dtype::F32)?;
        Ok(a.bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let parts = InputParts {
        shape,
        q: f32s(Field::Q, &q)?,
        k_idx: {
            check(Field::KIdx, &k_idx, Dtype::U8)?;
            k_idx.bytes
        },
        qjl_signs: {
            check(Field::QjlSigns, &qjl_signs, Dtype::I8)?;
            qjl_signs.bytes.into_iter().map(|b| b as i8).collect()
        },
        gamma: f32s(Field::Gamma, &gamma)?,
        pi: f32s(Field::Pi, &pi)?,
        s_mat: f32s(Field::SMat, &s_mat)?,
        codebook: f32s(Field::Codebook, &codebook)?,
    };
    let scores = match scores {
        None => None,
        Some(a) => Some(
            f32s(Field::Scores, &a)?
                .into_iter()
                .map(f64::from)
                .collect(),
        ),
    };
    CaseFile::validate(path, name, parts, scores, ignored)
}

fn check_dtype(path: &Path, field: Field, a: &RawArray, dtype: &Dtype) -> Result<(), FileError> {
    if a.dtype == *dtype {
        return Ok(());
    }
    Err(FileError::Dtype {
        path: path.to_owned(),
        field,
        expected: match dtype {
            Dtype::F32 => "float32",
            Dtype::U8 => "uint8",
            _ => "int8",
        },
        actual: a.dtype.to_string(),
    })
}

/// Makes a FIFO at `path` (for tests of writes to streams).
#[cfg(test)]
pub(crate) fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `name` is a valid NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

/// Opens the FIFO at `path` for reading on a thread of its own (the open waits for a writer) and reads it to the
/// end, which the handle returns.
#[cfg(test)]
pub(crate) fn read_fifo_in_background(path: &Path) -> std::thread::JoinHandle<Vec<u8>> {
    use std::io::Read;
    let path = path.to_owned();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        got
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_comes_from_the_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/b.NPZ")).unwrap(),
            Format::Npz
        );
        assert_eq!(
            Format::from_path(Path::new("b.safetensors")).unwrap(),
            Format::Safetensors
        );
        let err = Format::from_path(Path::new("b.npy")).unwrap_err();
        assert!(
            err.to_string()
                .contains("use a .npz, .safetensors or .json file"),
            "{err}"
        );
    }

    #[test]
    fn input_files_are_read_up_to_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.npy");
        std::fs::write(&path, [7u8; 100]).unwrap();
        assert_eq!(read_limited(&path, 100).unwrap(), [7u8; 100]);
        let err = read_limited(&path, 99).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: the file holds more than 99 bytes, more than any case or scores file",
                path.display()
            )
        );
        // A file that never ends, behind a link named as a case: refused once it has given the limit.
        let link = dir.path().join("zero.npz");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = read_limited(&link, 1 << 20).unwrap_err().to_string();
        assert!(err.contains("more than 1048576 bytes"), "{err}");
        // A regular file past the limit is refused by its size, unread (a sparse file, which takes no disk).
        let huge = dir.path().join("huge.safetensors");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(FILE_LIMIT + 1)
            .unwrap();
        assert!(matches!(read_case(&huge), Err(FileError::TooLarge { .. })));
    }

    #[test]
    fn directories_are_created_and_a_file_in_the_way_is_named_as_such() {
        let tmp = tempfile::tempdir().unwrap();
        let nested = tmp.path().join("a").join("b");
        create_dir(&nested).unwrap();
        assert!(nested.is_dir());
        create_dir(&nested).unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let err = create_dir(&file).unwrap_err();
        assert_eq!(err.to_string(), "it exists and is not a directory");
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }

    #[test]
    fn a_symlink_is_followed_and_kept() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/case.json");
        std::fs::write(&target, b"old").unwrap();
        // A relative link to a relative link to the file.
        symlink("real/case.json", dir.path().join("inner.json")).unwrap();
        let link = dir.path().join("link.json");
        symlink("inner.json", &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(
            dir.path()
                .join("inner.json")
                .symlink_metadata()
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"new");

        // A dangling link: its target is created.
        let dangling = dir.path().join("dangling.json");
        symlink("real/fresh.json", &dangling).unwrap();
        write_atomically(&dangling, b"fresh").unwrap();
        assert!(
            dangling
                .symlink_metadata()
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read(dir.path().join("real/fresh.json")).unwrap(),
            b"fresh"
        );

        // A loop is an error naming the path, not a hang.
        let a = dir.path().join("a.json");
        symlink("b.json", &a).unwrap();
        symlink("a.json", dir.path().join("b.json")).unwrap();
        let err = write_atomically(&a, b"x").unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: more than 40 symbolic links", a.display())),
            "{err}"
        );
    }

    /// The check before a run looks where the write will go: through a link to the link's target, and not at
    /// all into a FIFO (which it must not open).
    #[test]
    #[cfg(unix)]
    fn the_writability_check_follows_links_and_leaves_special_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        // A link whose target's directory does not exist: the write would fail, so the check does, naming the
        // path asked for.
        let link = dir.path().join("out.json");
        std::os::unix::fs::symlink(dir.path().join("missing/out.json"), &link).unwrap();
        let err = check_writable(&link).unwrap_err().to_string();
        assert!(err.contains("out.json"), "{err}");
        assert!(write_atomically(&link, b"{}").is_err());
        // A link into a directory that exists: fine, and nothing is left there.
        let target_dir = dir.path().join("elsewhere");
        std::fs::create_dir(&target_dir).unwrap();
        let good = dir.path().join("good.json");
        std::os::unix::fs::symlink(target_dir.join("r.json"), &good).unwrap();
        check_writable(&good).unwrap();
        assert_eq!(std::fs::read_dir(&target_dir).unwrap().count(), 0);
        // A FIFO with no reader: checked without opening it (which would wait forever), and passed.
        let fifo = dir.path().join("pipe");
        make_fifo(&fifo);
        check_writable(&fifo).unwrap();
        // A directory is refused.
        let err = check_writable(dir.path()).unwrap_err().to_string();
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn an_open_descriptor_is_written_through_not_replaced() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        // A regular file behind a descriptor (`--json /dev/stdout > out.json`): emptied and written, the same
        // file, with nothing beside it.
        let dir = tempfile::tempdir().unwrap();
        let file_path = dir.path().join("out.json");
        std::fs::write(&file_path, "an older and longer document").unwrap();
        let file = std::fs::File::options()
            .append(true)
            .open(&file_path)
            .unwrap();
        let through = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        check_writable(&through).unwrap();
        write_atomically(&through, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&file_path).unwrap(), "{}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A pipe (`--json /dev/stdout | jq`): its link reads `pipe:[N]`, which names no file.
        let (mut reader, writer) = std::io::pipe().unwrap();
        let through = PathBuf::from(format!("/proc/self/fd/{}", writer.as_raw_fd()));
        write_atomically(&through, b"[1]").unwrap();
        drop(writer);
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        assert_eq!(got, "[1]");
    }

    #[test]
    fn a_fifo_is_written_in_place_and_a_failed_write_is_an_error() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.json");
        make_fifo(&fifo);
        let reader = read_fifo_in_background(&fifo);
        write_atomically(&fifo, b"{\"a\": 1}").unwrap();
        // Checked before joining: a FIFO replaced by a file would leave the reader waiting forever.
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), b"{\"a\": 1}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);

        // A reader that goes away without reading: more than a pipe holds cannot be written (EPIPE).
        let closer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || drop(std::fs::File::open(&fifo).unwrap()))
        };
        let err = write_atomically(&fifo, &vec![b' '; 1 << 20]).unwrap_err();
        closer.join().unwrap();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: Broken pipe", fifo.display())),
            "{err}"
        );
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_failed_write_names_the_file_asked_for_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The rename fails: a directory stands where the file should go.
        let path = dir.path().join("out.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), b"x").unwrap();
        let err = write_atomically(&path, b"{}").unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", path.display())),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("out.json")]);

        // The temporary file cannot be created: the directory does not exist.
        let missing = dir.path().join("no/such/dir/case.npz");
        let err = write_atomically(&missing, b"x").unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", missing.display())),
            "{err}"
        );
    }
}
