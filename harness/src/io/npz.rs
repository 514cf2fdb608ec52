//! NumPy `.npz` archives: a zip of `NAME.npy` members (stored or deflated, as `numpy.savez` and
//! `numpy.savez_compressed` write them). We write stored members, as `numpy.savez` does. The case's name, when
//! known, travels in the archive's comment as `judge.case_name=NAME` (NumPy ignores the comment, and a file
//! without it is named after its stem).

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::Path;

use solutions::Field;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::npy::{self, NpyError};
use super::{CaseFile, FileError, RawArray, assemble_case, case_arrays};

/// Prefix of the archive comment that holds the case name.
const NAME_PREFIX: &str = "judge.case_name=";

/// Most bytes the `.npy` members of an archive may hold uncompressed, all together: far beyond a whole case
/// (its arrays at the largest shape take 41 MiB, `scores` as float64 16 MiB of them), and small enough that
/// deflated members of a few kilobytes that claim gigabytes (a "zip bomb", in one member or spread over many)
/// are refused instead of filling memory.
const ARCHIVE_LIMIT: u64 = 256 << 20;

/// Reads every `.npy` member of the archive at `path`.
pub fn read_arrays(path: &Path) -> Result<BTreeMap<String, RawArray>, FileError> {
    read_archive(path, ARCHIVE_LIMIT).map(|(arrays, _)| arrays)
}

/// Reads every `.npy` member of the archive at `path` (refusing members that hold more than `limit` bytes
/// uncompressed, all together, or two members of one name), and the case name its comment holds (if any).
fn read_archive(
    path: &Path,
    limit: u64,
) -> Result<(BTreeMap<String, RawArray>, Option<String>), FileError> {
    let bytes = super::read_input(path)?;
    let malformed = |reason: String| FileError::Malformed {
        path: path.to_owned(),
        format: "npz",
        reason,
    };
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| malformed(format!("not a zip archive: {e}")))?;
    let case_name = std::str::from_utf8(archive.comment())
        .ok()
        .and_then(|c| c.strip_prefix(NAME_PREFIX))
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if archive.has_duplicate_names() {
        // NumPy reads the last of them, other readers the first: the file means different cases to each.
        return Err(malformed(
            "two members have the same name, so which one holds the array is not defined"
                .to_owned(),
        ));
    }
    let mut arrays = BTreeMap::new();
    let mut budget = limit;
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
        (&mut member)
            .take(budget + 1)
            .read_to_end(&mut data)
            .map_err(|e| malformed(format!("member {member_name}: {e}")))?;
        budget = budget.checked_sub(data.len() as u64).ok_or_else(|| {
            malformed(format!(
                "member {member_name} takes the arrays past {limit} bytes uncompressed, more than any case \
                 holds"
            ))
        })?;
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
    Ok((arrays, case_name))
}

/// Reads a case from an `.npz` file.
pub fn read_case(path: &Path) -> Result<CaseFile, FileError> {
    let (arrays, name) = read_archive(path, ARCHIVE_LIMIT)?;
    assemble_case(path, arrays, name)
}

/// Encodes a case as an `.npz` archive, one stored `.npy` member per field, its name in the comment.
pub fn encode_case(case: &CaseFile) -> Result<Vec<u8>, String> {
    encode_members(
        case_arrays(case)
            .into_iter()
            .map(|(f, a)| (f.name().to_owned(), a)),
        case.name.as_ref().map(|n| format!("{NAME_PREFIX}{n}")),
    )
}

/// Encodes named arrays as an `.npz` archive.
pub fn encode_arrays(
    arrays: impl IntoIterator<Item = (String, RawArray)>,
) -> Result<Vec<u8>, String> {
    encode_members(arrays, None)
}

fn encode_members(
    arrays: impl IntoIterator<Item = (String, RawArray)>,
    comment: Option<String>,
) -> Result<Vec<u8>, String> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    if let Some(comment) = comment {
        writer.set_comment(comment).map_err(|e| e.to_string())?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_larger_than_the_limit_is_refused_unread() {
        // 64 KiB of zeros deflate to a few hundred bytes: a small file that claims much more.
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        zip.start_file("extra.npy", deflated).unwrap();
        zip.write_all(&vec![0u8; 64 << 10]).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(bytes.len() < 4096, "{}", bytes.len());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.npz");
        std::fs::write(&path, bytes).unwrap();
        let error = read_archive(&path, 32 << 10).unwrap_err().to_string();
        assert!(
            error.contains("extra.npy takes the arrays past 32768 bytes uncompressed"),
            "{error}"
        );
        // Under the limit, the member is read (and here refused as the NumPy file it is not).
        let error = read_archive(&path, 1 << 20).unwrap_err().to_string();
        assert!(!error.contains("uncompressed"), "{error}");
    }

    /// Writes a zip of `members` (name, bytes), deflated, to `name` in `dir`.
    fn zip_of(
        dir: &tempfile::TempDir,
        name: &str,
        members: &[(&str, Vec<u8>)],
    ) -> std::path::PathBuf {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (member, bytes) in members {
            zip.start_file(*member, deflated).unwrap();
            zip.write_all(bytes).unwrap();
        }
        let path = dir.path().join(name);
        std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
        path
    }

    #[test]
    fn the_limit_holds_for_all_members_together() {
        // Three members of 20 KiB, each under a limit of 32 KiB, together over it: many small bombs are one.
        let dir = tempfile::tempdir().unwrap();
        let members: Vec<(&str, Vec<u8>)> = ["a.npy", "b.npy", "c.npy"]
            .into_iter()
            .map(|name| {
                (
                    name,
                    npy::encode(&RawArray::u8(vec![20 << 10], &[0; 20 << 10])),
                )
            })
            .collect();
        let path = zip_of(&dir, "many.npz", &members);
        let error = read_archive(&path, 32 << 10).unwrap_err().to_string();
        assert!(
            error.ends_with(
                "member b.npy takes the arrays past 32768 bytes uncompressed, more than any case holds"
            ),
            "{error}"
        );
    }

    #[test]
    fn two_members_of_one_name_are_refused() {
        // The writer refuses a second member of a name, so the archive's two names are made equal afterwards
        // (in the local headers and the central directory alike; the checksums cover the data alone).
        let dir = tempfile::tempdir().unwrap();
        let array = npy::encode(&RawArray::f32(vec![2], &[1.0, 2.0]));
        let other = npy::encode(&RawArray::f32(vec![2], &[9.0, 9.0]));
        let path = zip_of(&dir, "dup.npz", &[("Q.npy", other), ("R.npy", array)]);
        let mut bytes = std::fs::read(&path).unwrap();
        let mut renamed = 0;
        for at in 0..bytes.len() - 5 {
            if &bytes[at..at + 5] == b"R.npy" {
                bytes[at] = b'Q';
                renamed += 1;
            }
        }
        assert_eq!(renamed, 2);
        std::fs::write(&path, bytes).unwrap();
        let error = read_archive(&path, 1 << 20).unwrap_err().to_string();
        assert!(
            error.ends_with(
                "not a valid npz file: two members have the same name, so which one holds the array is not \
                 defined"
            ),
            "{error}"
        );
    }
}
