//! The NumPy `.npy` array format (versions 1.0 to 3.0): one array, a Python-literal header, then raw data.
//! We read float32, uint8 and int8 in either byte order (C order only) and write version 1.0, little-endian.

use std::path::Path;

use super::{Dtype, FileError, RawArray};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Why a `.npy` byte string could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NpyError {
    /// Not an npy file, or a header we cannot read.
    #[error("{0}")]
    Header(String),
    /// The data is shorter or longer than the header promises.
    #[error("header promises {expected} data bytes, found {actual}")]
    Length {
        dims: Vec<usize>,
        expected: usize,
        actual: usize,
    },
}

/// Parses one `.npy` file's bytes.
pub fn parse(bytes: &[u8]) -> Result<RawArray, NpyError> {
    let bad = |m: &str| NpyError::Header(m.to_owned());
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("missing the \\x93NUMPY magic string"));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("header length cut short"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(NpyError::Header(format!("unsupported npy version {v}"))),
    };
    let header_end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("header cut short"))?;
    let header =
        std::str::from_utf8(&bytes[start..header_end]).map_err(|_| bad("header is not text"))?;

    let descr = quoted_value(header, "descr").ok_or_else(|| bad("header has no 'descr'"))?;
    let fortran =
        bare_value(header, "fortran_order").ok_or_else(|| bad("header has no 'fortran_order'"))?;
    if fortran.starts_with("True") {
        return Err(bad(
            "Fortran-order arrays are not supported; save with numpy.ascontiguousarray",
        ));
    }
    let dims = shape_value(header).ok_or_else(|| bad("header has no readable 'shape'"))?;

    let (dtype, swap) = match descr {
        "<f4" | "=f4" => (Dtype::F32, false),
        ">f4" => (Dtype::F32, true),
        "|u1" | "<u1" | ">u1" | "=u1" => (Dtype::U8, false),
        "|i1" | "<i1" | ">i1" | "=i1" => (Dtype::I8, false),
        other => (Dtype::Other(numpy_name(other)), false),
    };
    let data = &bytes[header_end..];
    let count: usize = dims.iter().product();
    let mut out = data.to_vec();
    if let Some(size) = dtype.size() {
        let expected = count * size;
        if data.len() != expected {
            return Err(NpyError::Length {
                dims,
                expected,
                actual: data.len(),
            });
        }
        if swap {
            out.chunks_exact_mut(size).for_each(<[u8]>::reverse);
        }
    }
    Ok(RawArray {
        dtype,
        dims,
        bytes: out,
    })
}

/// NumPy type codes (without byte order) and their names, for messages and for writing other dtypes back.
const NUMPY_NAMES: [(&str, &str); 9] = [
    ("f2", "float16"),
    ("f8", "float64"),
    ("i2", "int16"),
    ("i4", "int32"),
    ("i8", "int64"),
    ("u2", "uint16"),
    ("u4", "uint32"),
    ("u8", "uint64"),
    ("b1", "bool"),
];

/// A readable name for a NumPy type string such as `<f8`.
fn numpy_name(descr: &str) -> String {
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    match NUMPY_NAMES.iter().find(|(c, _)| *c == code) {
        Some((_, name)) => (*name).to_owned(),
        None => format!("'{descr}'"),
    }
}

fn after_key<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = &header[at + key.len() + 2..];
    Some(rest.trim_start().strip_prefix(':')?.trim_start())
}

fn quoted_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let rest = after_key(header, key)?;
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &rest[1..];
    Some(&rest[..rest.find(quote)?])
}

fn bare_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    after_key(header, key)
}

fn shape_value(header: &str) -> Option<Vec<usize>> {
    let rest = after_key(header, "shape")?.strip_prefix('(')?;
    let inner = &rest[..rest.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().ok())
        .collect()
}

/// Encodes an array as a version 1.0 `.npy` file.
pub fn encode(array: &RawArray) -> Vec<u8> {
    let descr = match &array.dtype {
        Dtype::F32 => "<f4".to_owned(),
        Dtype::U8 => "|u1".to_owned(),
        Dtype::I8 => "|i1".to_owned(),
        Dtype::Other(name) => match NUMPY_NAMES.iter().find(|(_, n)| n == name) {
            Some((code, _)) => format!("<{code}"),
            None => format!("|V{}", array.bytes.len() / array.element_count().max(1)),
        },
    };
    let shape = match array.dims.as_slice() {
        [one] => format!("({one},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + array.bytes.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&array.bytes);
    out
}

/// Reads a standalone `.npy` file (for example scores written by another tool).
pub fn read_file(path: &Path) -> Result<RawArray, FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::io(path, e))?;
    parse(&bytes).map_err(|e| FileError::Malformed {
        path: path.to_owned(),
        format: "npy",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype_and_rank() {
        for array in [
            RawArray::f32(vec![2, 3], &[1.0, -2.5, 3.25, f32::MIN_POSITIVE, 0.0, -0.0]),
            RawArray::u8(vec![4], &[0, 1, 128, 255]),
            RawArray::i8(vec![1, 2], &[-1, 1]),
        ] {
            let bytes = encode(&array);
            assert_eq!(
                (bytes.len() - array.bytes.len()) % 64,
                0,
                "header padded to 64 bytes"
            );
            assert_eq!(parse(&bytes).unwrap(), array);
        }
    }

    #[test]
    fn reads_what_numpy_writes() {
        // np.save of np.array([[1, 2]], dtype='>f4'): big-endian data, NumPy's own header layout.
        let header = "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<117}\n");
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(&1.0f32.to_be_bytes());
        bytes.extend_from_slice(&2.0f32.to_be_bytes());
        assert_eq!(
            parse(&bytes).unwrap(),
            RawArray::f32(vec![1, 2], &[1.0, 2.0])
        );
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let good = encode(&RawArray::f32(vec![3], &[1.0, 2.0, 3.0]));
        assert!(parse(b"hello").is_err());
        for cut in [0, 5, 9, 11, 60, good.len() - 1] {
            assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        let replace = |from: &[u8], to: &[u8]| -> Vec<u8> {
            let at = good.windows(from.len()).position(|w| w == from).unwrap();
            [&good[..at], to, &good[at + from.len()..]].concat()
        };
        assert!(
            parse(&replace(b"False", b"True "))
                .unwrap_err()
                .to_string()
                .contains("Fortran")
        );
        let as_f64 = parse(&replace(b"<f4", b"<f8")).unwrap();
        assert_eq!(as_f64.dtype, Dtype::Other("float64".into()));
    }
}
