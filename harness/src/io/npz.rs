//! NumPy `.npz` archives: a zip of `NAME.npy` members (stored or deflated, as `numpy.savez` and
//! `numpy.savez_compressed` write them). We write stored members, as `numpy.savez` does.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::Path;

use solutions::Field;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::npy::{self, NpyError};
use super::{CaseFile, FileError, RawArray, assemble_case, case_arrays};

/// Reads every `.npy` member of the archive at `path`.
pub fn read_arrays(path: &Path) -> Result<BTreeMap<String, RawArray>, FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::io(path, e))?;
    let malformed = |reason: String| FileError::Malformed {
        path: path.to_owned(),
        format: "npz",
        reason,
    };
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| malformed(format!("not a zip archive: {e}")))?;
    let mut arrays = BTreeMap::new();
    for index in 0..archive.len() {
        let mut member = archive
            .by_index(index)
            .map_err(|e| malformed(format!("member {index}: {e}")))?;
        let member_name = member
            .name()
            .map_err(|e| malformed(format!("member {index}: {e}")))?
            .into_owned();
        let Some(name) = member_name.strip_suffix(".npy") else {
            continue;
        };
        let mut data = Vec::new();
        member
            .read_to_end(&mut data)
            .map_err(|e| malformed(format!("member {member_name}: {e}")))?;
        let array = npy::parse(&data).map_err(|e| match (e, Field::from_name(name)) {
            (NpyError::Truncated { expected, actual }, Some(field)) => FileError::Truncated {
                path: path.to_owned(),
                field,
                expected,
                actual,
            },
            (NpyError::ExtraBytes { expected, extra }, Some(field)) => FileError::ExtraBytes {
                path: path.to_owned(),
                field,
                expected,
                extra,
            },
            (e, _) => malformed(format!("member {member_name}: {e}")),
        })?;
        arrays.insert(name.to_owned(), array);
    }
    Ok(arrays)
}

/// Reads a case from an `.npz` file.
pub fn read_case(path: &Path) -> Result<CaseFile, FileError> {
    assemble_case(path, read_arrays(path)?, None)
}

/// Encodes a case as an `.npz` archive, one stored `.npy` member per field.
pub fn encode_case(case: &CaseFile) -> Result<Vec<u8>, String> {
    encode_arrays(
        case_arrays(case)
            .into_iter()
            .map(|(f, a)| (f.name().to_owned(), a)),
    )
}

/// Encodes named arrays as an `.npz` archive.
pub fn encode_arrays(
    arrays: impl IntoIterator<Item = (String, RawArray)>,
) -> Result<Vec<u8>, String> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(false);
    for (name, array) in arrays {
        writer
            .start_file(format!("{name}.npy"), options)
            .map_err(|e| e.to_string())?;
        writer
            .write_all(&npy::encode(&array))
            .map_err(|e| e.to_string())?;
    }
    Ok(writer.finish().map_err(|e| e.to_string())?.into_inner())
}
