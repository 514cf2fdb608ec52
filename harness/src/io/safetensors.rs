//! Hugging Face `.safetensors`: a JSON header of named tensors (dtype, shape, byte offsets) and one data block.
//! The case's name, when known, travels in the header's `__metadata__`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype as StDtype, TensorView};

use super::{CaseFile, Dtype, FileError, RawArray, assemble_case, case_arrays};

/// Metadata key holding the case name.
const NAME_KEY: &str = "judge.case_name";

/// Reads a case from a `.safetensors` file.
pub fn read_case(path: &Path) -> Result<CaseFile, FileError> {
    let (arrays, name) = read_arrays(path)?;
    assemble_case(path, arrays, name)
}

/// Most bytes a header may take (the `safetensors` library's own limit).
const MAX_HEADER: usize = 100_000_000;

/// Element sizes of the safetensors dtypes whose data we can check, by the header's name for them.
const DTYPE_SIZES: [(&str, usize); 16] = [
    ("BOOL", 1),
    ("U8", 1),
    ("I8", 1),
    ("F8_E5M2", 1),
    ("F8_E4M3", 1),
    ("I16", 2),
    ("U16", 2),
    ("F16", 2),
    ("BF16", 2),
    ("I32", 4),
    ("U32", 4),
    ("F32", 4),
    ("C64", 8),
    ("F64", 8),
    ("I64", 8),
    ("U64", 8),
];

/// One tensor's entry in the header.
#[derive(serde::Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// Reads every tensor of a `.safetensors` file, and the case name stored in its metadata (if any).
///
/// The header is read here rather than by the `safetensors` library so that every error names the tensor and
/// says what is wrong with it (its dtype and shape against its byte offsets, offsets past the data).
pub fn read_arrays(path: &Path) -> Result<(BTreeMap<String, RawArray>, Option<String>), FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::io(path, e))?;
    let malformed = |reason: String| FileError::Malformed {
        path: path.to_owned(),
        format: "safetensors",
        reason,
    };
    let Some((length, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(malformed(format!(
            "the file has {} bytes, too few for the 8-byte header length",
            bytes.len()
        )));
    };
    let length = u64::from_le_bytes(*length);
    let header_len = usize::try_from(length)
        .ok()
        .filter(|&n| n <= rest.len() && n <= MAX_HEADER)
        .ok_or_else(|| {
            malformed(format!(
                "the header length {length} is more than the {} bytes after it{}",
                rest.len().min(MAX_HEADER),
                if rest.len() > MAX_HEADER {
                    " (the most a header may take)"
                } else {
                    ""
                }
            ))
        })?;
    let (header, data) = rest.split_at(header_len);
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header)
        .map_err(|e| malformed(format!("the header is not a JSON object: {e}")))?;
    let mut name = None;
    let mut arrays = BTreeMap::new();
    for (tensor, value) in header {
        if tensor == "__metadata__" {
            let metadata: HashMap<String, String> = serde_json::from_value(value)
                .map_err(|e| malformed(format!("'__metadata__' is not a map of strings: {e}")))?;
            name = metadata.get(NAME_KEY).cloned();
            continue;
        }
        let info: TensorInfo = serde_json::from_value(value)
            .map_err(|e| malformed(format!("tensor '{tensor}': {e}")))?;
        let bytes = tensor_data(&info, data)
            .map_err(|reason| malformed(format!("tensor '{tensor}': {reason}")))?;
        let dtype = match info.dtype.as_str() {
            "F32" => Dtype::F32,
            "U8" => Dtype::U8,
            "I8" => Dtype::I8,
            other => Dtype::Other(other.to_lowercase()),
        };
        arrays.insert(
            tensor,
            RawArray {
                dtype,
                dims: info.shape,
                bytes: bytes.to_vec(),
            },
        );
    }
    Ok((arrays, name))
}

/// The bytes of one tensor inside the data block, after checking its offsets against its dtype and shape.
fn tensor_data<'d>(info: &TensorInfo, data: &'d [u8]) -> Result<&'d [u8], String> {
    let (begin, end) = info.data_offsets;
    let offsets = format!("data_offsets [{begin}, {end}]");
    if begin > end {
        return Err(format!("its {offsets} run backwards"));
    }
    let shape = match info.shape.as_slice() {
        [] => "shape [] (a scalar)".to_owned(),
        dims => format!("shape {dims:?}"),
    };
    if let Some(&(_, size)) = DTYPE_SIZES.iter().find(|(name, _)| *name == info.dtype) {
        let need = info
            .shape
            .iter()
            .try_fold(size, |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                format!(
                    "dtype {} and {shape} need more bytes than any file can hold",
                    info.dtype
                )
            })?;
        if end - begin != need {
            return Err(format!(
                "dtype {} and {shape} need {need} bytes, but its {offsets} hold {}",
                info.dtype,
                end - begin
            ));
        }
    }
    data.get(begin..end).ok_or_else(|| {
        format!(
            "its {offsets} end past the data, which holds {} bytes",
            data.len()
        )
    })
}

/// Encodes a case as `.safetensors`.
pub fn encode_case(case: &CaseFile) -> Result<Vec<u8>, String> {
    let arrays = case_arrays(case);
    let mut views = Vec::with_capacity(arrays.len());
    for (field, array) in &arrays {
        let dtype = match array.dtype {
            Dtype::F32 => StDtype::F32,
            Dtype::U8 => StDtype::U8,
            Dtype::I8 => StDtype::I8,
            Dtype::Other(ref other) => return Err(format!("cannot store dtype {other}")),
        };
        let view =
            TensorView::new(dtype, array.dims.clone(), &array.bytes).map_err(|e| e.to_string())?;
        views.push((field.name(), view));
    }
    let metadata = case
        .name
        .as_ref()
        .map(|n| HashMap::from([(NAME_KEY.to_owned(), n.clone())]));
    safetensors::serialize(views, metadata).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::generate::{Generator, generate};
    use crate::io::read_case;
    use serde_json::Value;
    use solutions::{Field, Shape};

    /// A valid B=2 S=5 D=4 C=8 case as `.safetensors`, with `edit` applied to its header, written into `dir`.
    fn file_with(dir: &tempfile::TempDir, edit: impl FnOnce(&mut Value)) -> std::path::PathBuf {
        let (mut header, data) = sample();
        edit(&mut header);
        let header = serde_json::to_vec(&header).unwrap();
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&header);
        out.extend_from_slice(&data);
        let path = dir.path().join("case.safetensors");
        std::fs::write(&path, out).unwrap();
        path
    }

    /// The sample case's header and data block.
    fn sample() -> (Value, Vec<u8>) {
        let inputs = generate(Generator::Uniform, Shape::new(2, 5, 4, 8), 3)
            .unwrap()
            .inputs;
        let case = CaseFile {
            name: None,
            inputs,
            scores: Some(vec![0.0; 10]),
            ignored: Vec::new(),
        };
        let bytes = encode_case(&case).unwrap();
        let length = usize::try_from(u64::from_le_bytes(bytes[..8].try_into().unwrap())).unwrap();
        let header: Value = serde_json::from_slice(&bytes[8..8 + length]).unwrap();
        (header, bytes[8 + length..].to_vec())
    }

    /// The sample's `data_offsets` of `tensor`, as text.
    fn offsets(tensor: &str) -> (u64, u64) {
        let (header, _) = sample();
        let at = |i: usize| header[tensor]["data_offsets"][i].as_u64().unwrap();
        (at(0), at(1))
    }

    fn error(edit: impl FnOnce(&mut Value)) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(&dir, edit);
        let text = read_case(&path).unwrap_err().to_string();
        let prefix = format!("{}: ", path.display());
        text.strip_prefix(&prefix).unwrap_or(&text).to_owned()
    }

    #[test]
    fn an_unedited_file_reads() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_case(&file_with(&dir, |_| {})).is_ok());
    }

    #[test]
    fn errors_name_the_tensor_and_the_reason() {
        let (q0, q1) = offsets("Q");
        assert_eq!(
            error(|h| h["Q"]["dtype"] = "F64".into()),
            format!(
                "not a valid safetensors file: tensor 'Q': dtype F64 and shape [2, 4] need 64 bytes, but its \
                 data_offsets [{q0}, {q1}] hold 32"
            )
        );
        assert_eq!(
            error(|h| h["Q"]["shape"] = serde_json::json!([])),
            format!(
                "not a valid safetensors file: tensor 'Q': dtype F32 and shape [] (a scalar) need 4 bytes, but \
                 its data_offsets [{q0}, {q1}] hold 32"
            )
        );
        let (k0, k1) = offsets("K_idx");
        assert_eq!(
            error(|h| h["K_idx"]["dtype"] = "I32".into()),
            format!(
                "not a valid safetensors file: tensor 'K_idx': dtype I32 and shape [5, 4] need 80 bytes, but its \
                 data_offsets [{k0}, {k1}] hold 20"
            )
        );
        assert!(
            error(|h| h["Q"]["data_offsets"] = serde_json::json!([0, 1000])).starts_with(
                "not a valid safetensors file: tensor 'Q': dtype F32 and shape [2, 4] need 32 bytes, but its \
                 data_offsets [0, 1000] hold 1000"
            )
        );
        assert!(
            error(|h| {
                h["scores"]["data_offsets"] = serde_json::json!([900, 940]);
            })
            .starts_with(
                "not a valid safetensors file: tensor 'scores': its data_offsets [900, 940] end past the data, \
                 which holds"
            )
        );
        let (g0, g1) = offsets("gamma");
        assert_eq!(
            error(|h| h["gamma"]["data_offsets"] = serde_json::json!([g1, g0])),
            format!(
                "not a valid safetensors file: tensor 'gamma': its data_offsets [{g1}, {g0}] run backwards"
            )
        );
        assert!(
            error(|h| h["Pi"]["shape"] = serde_json::json!([4, -4])).starts_with(
                "not a valid safetensors file: tensor 'Pi': invalid value: integer `-4`"
            ),
        );
        // A tensor left out of the header is missing, whatever its bytes.
        assert!(
            error(|h| {
                h.as_object_mut().unwrap().remove("gamma");
            })
            .starts_with("missing field 'gamma'")
        );
        // A dtype we do not convert reaches the field check, by name.
        assert_eq!(
            error(|h| {
                h["codebook"]["dtype"] = "F16".into();
                h["codebook"]["shape"] = serde_json::json!([16]);
            }),
            "field 'codebook' has dtype f16, but it must be float32"
        );
    }

    #[test]
    fn dimensions_that_disagree_name_both_arrays() {
        assert_eq!(
            error(|h| h["K_idx"]["shape"] = serde_json::json!([4, 5])),
            "arrays disagree on D: Q is [2, 4] (D = 4) but K_idx is [4, 5] (D = 5); Q is [B, D] and K_idx is \
             [S, D]"
        );
        assert_eq!(
            error(|h| h["qjl_signs"]["shape"] = serde_json::json!([10, 2])),
            "arrays disagree on S: K_idx is [5, 4] (S = 5) but qjl_signs is [10, 2] (S = 10); K_idx is [S, D] \
             and qjl_signs is [S, D]"
        );
        assert_eq!(
            error(|h| h["scores"]["shape"] = serde_json::json!([5, 2])),
            "arrays disagree on B: Q is [2, 4] (B = 2) but scores is [5, 2] (B = 5); Q is [B, D] and scores is \
             [B, S]"
        );
        assert!(Field::from_name("scores").is_some());
    }
}
