//! The NumPy `.npy` array format (versions 1.0 to 3.0): one array, a Python-literal header, then raw data.
//! We read every numeric type in either byte order and in either memory order, converting the data to
//! little-endian C order (a transposed NumPy array is saved in Fortran order), and write version 1.0,
//! little-endian, C order.

use std::path::Path;

use super::{Dtype, FileError, RawArray};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Why a `.npy` byte string could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NpyError {
    /// Not an npy file, or a header we cannot read.
    #[error("{0}")]
    Header(String),
    /// The data is shorter than the header promises.
    #[error("truncated: the header promises {expected} data bytes, found {actual}")]
    Truncated { expected: usize, actual: usize },
    /// The data is longer than the header promises.
    #[error("{extra} extra bytes after the {expected} data bytes its header promises")]
    ExtraBytes { expected: usize, extra: usize },
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

    let element = element_type(header)?;
    let fortran = match bare_value(header, "fortran_order").map(value_token) {
        None => return Err(bad("header has no 'fortran_order'")),
        Some("False") => false,
        Some("True") => true,
        Some(other) => {
            return Err(NpyError::Header(format!(
                "'fortran_order' is {other}, but it must be True or False"
            )));
        }
    };
    let dims = shape_value(header).ok_or_else(|| bad("header has no readable 'shape'"))?;

    let data = &bytes[header_end..];
    let mut out = data.to_vec();
    if let Some(size) = element.size {
        let expected = dims
            .iter()
            .try_fold(size, |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                NpyError::Header(format!(
                    "shape {dims:?} of {size}-byte elements needs more than {} bytes: no array can be \
                     that large",
                    usize::MAX
                ))
            })?;
        if data.len() < expected {
            return Err(NpyError::Truncated {
                expected,
                actual: data.len(),
            });
        }
        if data.len() > expected {
            return Err(NpyError::ExtraBytes {
                expected,
                extra: data.len() - expected,
            });
        }
        if element.swap && element.swap_unit > 1 {
            out.chunks_exact_mut(element.swap_unit)
                .for_each(<[u8]>::reverse);
        }
        if fortran {
            out = fortran_to_c_order(&out, &dims, size);
        }
    } else if fortran && dims.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(NpyError::Header(format!(
            "Fortran-order arrays of {} are not supported; save with numpy.ascontiguousarray",
            element.dtype
        )));
    }
    Ok(RawArray {
        dtype: element.dtype,
        dims,
        bytes: out,
    })
}

/// The elements of `data`, laid out in Fortran order (first index fastest) for an array of shape `dims`, in C
/// order (last index fastest). `data` holds exactly the product of `dims` elements of `size` bytes.
fn fortran_to_c_order(data: &[u8], dims: &[usize], size: usize) -> Vec<u8> {
    // Fortran strides, in elements: the first axis is contiguous.
    let mut strides = Vec::with_capacity(dims.len());
    let mut stride = 1usize;
    for &d in dims {
        strides.push(stride);
        stride *= d;
    }
    let mut out = Vec::with_capacity(data.len());
    let mut index = vec![0usize; dims.len()];
    for _ in 0..data.len() / size.max(1) {
        let at: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
        out.extend_from_slice(&data[at * size..(at + 1) * size]);
        // The next C-order index: the last axis moves fastest.
        for axis in (0..dims.len()).rev() {
            index[axis] += 1;
            if index[axis] < dims[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

/// NumPy type codes (without byte order), their names and sizes in bytes: the types we convert to
/// little-endian (the case fields use the first three; `judge check` also reads the floats).
const NUMPY_TYPES: [(&str, &str, usize); 14] = [
    ("f4", "float32", 4),
    ("u1", "uint8", 1),
    ("i1", "int8", 1),
    ("f2", "float16", 2),
    ("f8", "float64", 8),
    ("i2", "int16", 2),
    ("i4", "int32", 4),
    ("i8", "int64", 8),
    ("u2", "uint16", 2),
    ("u4", "uint32", 4),
    ("u8", "uint64", 8),
    ("b1", "bool", 1),
    ("c8", "complex64", 8),
    ("c16", "complex128", 16),
];

/// Every NumPy kind letter (the first letter of a type code) with its name: a type code must start with one,
/// and the name describes, in messages, the types outside `NUMPY_TYPES`, which we do not convert.
const OTHER_KINDS: [(char, &str); 11] = [
    ('b', "bool"),
    ('i', "integer"),
    ('u', "unsigned integer"),
    ('f', "float"),
    ('c', "complex"),
    ('m', "timedelta"),
    ('M', "datetime"),
    ('O', "object"),
    ('S', "bytes"),
    ('U', "unicode string"),
    ('V', "void"),
];

/// An array's element type as its header describes it.
struct Element {
    dtype: Dtype,
    /// Bytes per element, for the types whose data we check and convert.
    size: Option<usize>,
    /// Whether the data is big-endian here and must be swapped to little-endian.
    swap: bool,
    /// The bytes one swap reverses: the element, or each of its two parts for a complex number.
    swap_unit: usize,
}

/// Reads the header's `descr`: a byte order (`<` little, `>` big, `=` or `|` this machine's) and a type code
/// such as `f4`.
fn element_type(header: &str) -> Result<Element, NpyError> {
    let value = bare_value(header, "descr")
        .ok_or_else(|| NpyError::Header("header has no 'descr'".to_owned()))?;
    if value.starts_with('[') {
        return Err(NpyError::Header(
            "structured dtypes (a list of named fields) are not supported; save a plain array"
                .to_owned(),
        ));
    }
    let descr = quoted_value(header, "descr").ok_or_else(|| {
        NpyError::Header(format!(
            "'descr' is {}, not a quoted type string",
            value_token(value)
        ))
    })?;
    let not_a_type = || {
        NpyError::Header(format!(
            "'descr' is '{descr}', which is not a NumPy type string (such as '<f4' for little-endian float32)"
        ))
    };
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '=' | '|')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let kind = code.chars().next().ok_or_else(not_a_type)?;
    let width = &code[kind.len_utf8()..];
    let Some((_, kind_name)) = OTHER_KINDS.iter().find(|(k, _)| *k == kind) else {
        return Err(not_a_type());
    };
    // A width is digits (objects have none); datetimes add a unit, as in `<M8[ns]`.
    let width = match width.split_once('[') {
        Some((digits, unit)) if matches!(kind, 'M' | 'm') && unit.ends_with(']') => digits,
        _ => width,
    };
    if !width.chars().all(|c| c.is_ascii_digit()) || (width.is_empty() && kind != 'O') {
        return Err(not_a_type());
    }
    let big = match order {
        '>' => true,
        '<' => false,
        _ => cfg!(target_endian = "big"),
    };
    Ok(match NUMPY_TYPES.iter().find(|(c, ..)| *c == code) {
        Some(&(_, name, size)) => Element {
            dtype: match name {
                "float32" => Dtype::F32,
                "uint8" => Dtype::U8,
                "int8" => Dtype::I8,
                _ => Dtype::Other(name.to_owned()),
            },
            size: Some(size),
            swap: big,
            swap_unit: if kind == 'c' { size / 2 } else { size },
        },
        None => Element {
            dtype: Dtype::Other(format!("{kind_name} ('{descr}')")),
            size: None,
            swap: false,
            swap_unit: 1,
        },
    })
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

/// A bare value up to the next `,` or `}`.
fn value_token(rest: &str) -> &str {
    rest[..rest.find([',', '}']).unwrap_or(rest.len())].trim()
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
        Dtype::Other(name) => match NUMPY_TYPES.iter().find(|(_, n, _)| n == name) {
            Some((code, ..)) => format!("<{code}"),
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
    let bytes = super::read_input(path)?;
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

    /// A version 1.0 file with `header` (a Python dict literal) and `data`.
    fn npy_with(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<117}\n");
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn header(descr: &str, shape: &str) -> String {
        format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}")
    }

    fn parse_err(header: &str, data: &[u8]) -> String {
        parse(&npy_with(header, data)).unwrap_err().to_string()
    }

    #[test]
    fn every_dtype_honours_its_byte_order() {
        let f64s = [1.5f64, -2.25];
        let f16s = [0x3c00u16, 0xc000]; // 1.0, -2.0
        let i32s = [7i32, -9];
        let little64: Vec<u8> = f64s.iter().flat_map(|v| v.to_le_bytes()).collect();
        let big64: Vec<u8> = f64s.iter().flat_map(|v| v.to_be_bytes()).collect();
        let little16: Vec<u8> = f16s.iter().flat_map(|v| v.to_le_bytes()).collect();
        let big16: Vec<u8> = f16s.iter().flat_map(|v| v.to_be_bytes()).collect();
        let little32: Vec<u8> = i32s.iter().flat_map(|v| v.to_le_bytes()).collect();
        let big32: Vec<u8> = i32s.iter().flat_map(|v| v.to_be_bytes()).collect();
        let native64: Vec<u8> = f64s.iter().flat_map(|v| v.to_ne_bytes()).collect();
        // complex64 1.5 − 2.25i: its real and imaginary parts are swapped one by one, not as one 8-byte unit.
        let big_c8: Vec<u8> = [1.5f32, -2.25]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let little_c8: Vec<u8> = [1.5f32, -2.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        for (descr, data, want, name) in [
            ("'<f8'", &little64, &little64, "float64"),
            ("'>f8'", &big64, &little64, "float64"),
            ("'=f8'", &native64, &little64, "float64"),
            ("'<f2'", &little16, &little16, "float16"),
            ("'>f2'", &big16, &little16, "float16"),
            ("'>i4'", &big32, &little32, "int32"),
        ] {
            let array = parse(&npy_with(&header(descr, "(2,)"), data)).unwrap();
            assert_eq!(array.dtype, Dtype::Other(name.to_owned()), "{descr}");
            assert_eq!(&array.bytes, want, "{descr}");
        }
        for (descr, data, want, name) in [
            ("'>c8'", &big_c8, &little_c8, "complex64"),
            ("'<c8'", &little_c8, &little_c8, "complex64"),
        ] {
            let array = parse(&npy_with(&header(descr, "(1,)"), data)).unwrap();
            assert_eq!(array.dtype, Dtype::Other(name.to_owned()), "{descr}");
            assert_eq!(&array.bytes, want, "{descr}");
        }
        for descr in ["'|u1'", "'>u1'", "'u1'"] {
            let array = parse(&npy_with(&header(descr, "(2,)"), &[1, 200])).unwrap();
            assert_eq!(array, RawArray::u8(vec![2], &[1, 200]), "{descr}");
        }
    }

    #[test]
    fn descr_errors_say_what_is_wrong() {
        assert_eq!(
            parse_err(&header("'float32'", "(1,)"), &[0; 4]),
            "'descr' is 'float32', which is not a NumPy type string (such as '<f4' for little-endian float32)"
        );
        assert_eq!(
            parse_err(&header("[('a', '<f4'), ('b', '<f4')]", "(1,)"), &[0; 8]),
            "structured dtypes (a list of named fields) are not supported; save a plain array"
        );
        // Types we do not convert are named, and reach the field check with that name.
        let complex = parse(&npy_with(&header("'<U3'", "(1,)"), &[0; 12])).unwrap();
        assert_eq!(
            complex.dtype,
            Dtype::Other("unicode string ('<U3')".to_owned())
        );
        let object = parse(&npy_with(&header("'|O'", "(1,)"), &[0; 12])).unwrap();
        assert_eq!(object.dtype.to_string(), "object ('|O')");
    }

    #[test]
    fn fortran_order_must_be_true_or_false() {
        for value in ["1", "'True'", "true", "None"] {
            let text = format!("{{'descr': '<f4', 'fortran_order': {value}, 'shape': (1,), }}");
            assert_eq!(
                parse_err(&text, &[0; 4]),
                format!("'fortran_order' is {value}, but it must be True or False")
            );
        }
        // Objects cannot be reordered; a single row or column needs no reordering.
        let text = "{'descr': '|O', 'fortran_order': True, 'shape': (2, 2), }";
        assert!(
            parse_err(text, &[0; 4])
                .contains("Fortran-order arrays of object ('|O') are not supported")
        );
        let text = "{'descr': '|O', 'fortran_order': True, 'shape': (1, 2), }";
        assert!(parse(&npy_with(text, &[0; 4])).is_ok());
    }

    #[test]
    fn fortran_order_arrays_are_read_in_c_order() {
        // np.save of np.array([[1, 2, 3], [4, 5, 6]], dtype='>f4', order='F'): the columns are contiguous.
        let header = "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }";
        let data: Vec<u8> = [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(
            parse(&npy_with(header, &data)).unwrap(),
            RawArray::f32(vec![2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        // Three axes: element [i, j, k] sits at i + 2·j + 2·2·k.
        let header = "{'descr': '<u1', 'fortran_order': True, 'shape': (2, 2, 3), }";
        let logical: Vec<u8> = (0..12).collect(); // [i, j, k] = 6·i + 3·j + k
        let mut fortran = vec![0u8; 12];
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..3 {
                    fortran[i + 2 * j + 4 * k] = logical[6 * i + 3 * j + k];
                }
            }
        }
        let array = parse(&npy_with(header, &fortran)).unwrap();
        assert_eq!((array.dims, array.bytes), (vec![2, 2, 3], logical));
        // A Fortran-order one-dimensional array is the same bytes as a C-order one.
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }";
        let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            parse(&npy_with(header, &data)).unwrap(),
            RawArray::f32(vec![2], &[1.0, 2.0])
        );
    }

    #[test]
    fn sizes_are_checked_without_overflow_and_extra_bytes_are_named() {
        // (2^62, 4) float32 elements: 2^66 bytes, which wraps to 0 in unchecked 64-bit arithmetic.
        let text = parse_err(&header("'<f4'", "(4611686018427387904, 4)"), &[]);
        assert!(
            text.starts_with("shape [4611686018427387904, 4] of 4-byte elements needs more than"),
            "{text}"
        );
        assert_eq!(
            parse(&npy_with(&header("'<f4'", "(2,)"), &[0; 12])).unwrap_err(),
            NpyError::ExtraBytes {
                expected: 8,
                extra: 4
            }
        );
        assert_eq!(
            parse_err(&header("'<f4'", "(2,)"), &[0; 12]),
            "4 extra bytes after the 8 data bytes its header promises"
        );
        assert_eq!(
            parse_err(&header("'<f4'", "(2,)"), &[0; 5]),
            "truncated: the header promises 8 data bytes, found 5"
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
        // One axis reads the same in either order.
        assert_eq!(
            parse(&replace(b"False", b"True ")).unwrap(),
            parse(&good).unwrap()
        );
        // Other types are sized by their own element size: three float32 values are half of three float64.
        assert_eq!(
            parse(&replace(b"<f4", b"<f8")).unwrap_err(),
            NpyError::Truncated {
                expected: 24,
                actual: 12
            }
        );
    }
}
