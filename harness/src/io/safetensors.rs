//! Hugging Face `.safetensors`: a JSON header of named tensors (dtype, shape, byte offsets) and one data block.
//! The case's name, when known, travels in the header's `__metadata__`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype as StDtype, TensorView};
use serde::Deserialize;

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

/// One tensor's entry in the header.
#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// Reads every tensor of a `.safetensors` file, and the case name stored in its metadata (if any).
///
/// The header is read here rather than by the `safetensors` library so that every error names the tensor and
/// says what is wrong with it (its dtype and shape against its byte offsets, offsets past the data, tensors that
/// overlap or leave bytes of the data unused). The offsets are checked as strictly as the library checks them:
/// each tensor's byte count must match its dtype and shape, and the tensors must tile the data block exactly.
pub fn read_arrays(path: &Path) -> Result<(BTreeMap<String, RawArray>, Option<String>), FileError> {
    let bytes = super::read_input(path)?;
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
    let (text, data) = rest.split_at(header_len);
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(text)
        .map_err(|e| malformed(format!("the header is not a JSON object: {e}")))?;
    super::refuse_repeated_keys(text).map_err(|e| malformed(format!("in the header, {e}")))?;
    let mut name = None;
    // Each tensor's bytes are copied only once the tensors are known to tile the data: tensors that overlap
    // could otherwise claim the same bytes many times over.
    let mut tensors = Vec::with_capacity(header.len());
    let mut spans = Vec::with_capacity(header.len());
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
        spans.push((info.data_offsets, tensor.clone()));
        tensors.push((tensor, dtype, info.shape, bytes));
    }
    check_tiling(spans, data.len()).map_err(malformed)?;
    let arrays = tensors
        .into_iter()
        .map(|(tensor, dtype, dims, bytes)| {
            let array = RawArray {
                dtype,
                dims,
                bytes: bytes.to_vec(),
            };
            (tensor, array)
        })
        .collect();
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
    if let Some(bits) = element_bits(&info.dtype) {
        let bits = info
            .shape
            .iter()
            .try_fold(bits, |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                format!(
                    "dtype {} and {shape} need more bytes than any file can hold",
                    info.dtype
                )
            })?;
        if bits % 8 != 0 {
            return Err(format!(
                "dtype {} and {shape} need {bits} bits, which is not a whole number of bytes",
                info.dtype
            ));
        }
        let need = bits / 8;
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

/// Bits per element of `dtype` (the header's name for it) where the `safetensors` library knows the type, so
/// that its data can be checked; other types are passed on by name, for the field check to report.
fn element_bits(dtype: &str) -> Option<usize> {
    StDtype::deserialize(serde_json::Value::from(dtype))
        .ok()
        .map(|d| d.bitsize())
}

/// Checks that the tensors' byte ranges (`data_offsets` and tensor name, in any order) tile the data block of
/// `data_len` bytes, as the `safetensors` library requires: in offset order, the first begins at 0, each begins
/// where the one before it ends (no overlap, no gap), and the last ends at the end of the data (no bytes left
/// over). Each range already lies inside the data.
fn check_tiling(mut spans: Vec<((usize, usize), String)>, data_len: usize) -> Result<(), String> {
    spans.sort_unstable();
    let mut previous: Option<(&str, usize)> = None;
    for ((begin, end), tensor) in &spans {
        let (begin, end) = (*begin, *end);
        let offsets = format!("data_offsets [{begin}, {end}]");
        match previous {
            None if begin > 0 => {
                return Err(format!(
                    "tensor '{tensor}': its {offsets} leave {begin} bytes unused at the start of the data"
                ));
            }
            Some((before, ends)) if begin < ends => {
                return Err(format!(
                    "tensor '{tensor}': its {offsets} overlap tensor '{before}', which ends at {ends}"
                ));
            }
            Some((before, ends)) if begin > ends => {
                return Err(format!(
                    "tensor '{tensor}': its {offsets} leave {} bytes unused after tensor '{before}', which \
                     ends at {ends}",
                    begin - ends
                ));
            }
            _ => {}
        }
        previous = Some((tensor, end));
    }
    match previous {
        Some((last, end)) if end < data_len => Err(format!(
            "tensor '{last}': it ends last, at {end}, and leaves {} bytes unused at the end of the data, which \
             holds {data_len}",
            data_len - end
        )),
        None if data_len > 0 => Err(format!(
            "the header lists no tensor, but the data holds {data_len} bytes"
        )),
        _ => Ok(()),
    }
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
    use solutions::Shape;

    /// A valid B=2 S=5 D=4 C=8 case as `.safetensors`, with `edit` applied to its header, written into `dir`.
    fn file_with(dir: &tempfile::TempDir, edit: impl FnOnce(&mut Value)) -> std::path::PathBuf {
        file_with_data(dir, edit, |_| {})
    }

    /// As [`file_with`], with `edit_data` applied to the data block too.
    fn file_with_data(
        dir: &tempfile::TempDir,
        edit: impl FnOnce(&mut Value),
        edit_data: impl FnOnce(&mut Vec<u8>),
    ) -> std::path::PathBuf {
        let (mut header, mut data) = sample();
        edit(&mut header);
        edit_data(&mut data);
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

    /// The sample's `data_offsets` of `tensor`.
    fn offsets(tensor: &str) -> (u64, u64) {
        let (header, _) = sample();
        let at = |i: usize| header[tensor]["data_offsets"][i].as_u64().unwrap();
        (at(0), at(1))
    }

    fn error(edit: impl FnOnce(&mut Value)) -> String {
        error_with_data(edit, |_| {})
    }

    /// The error reading the sample with `edit` applied to its header and `edit_data` to its data block, without
    /// the file's path.
    fn error_with_data(
        edit: impl FnOnce(&mut Value),
        edit_data: impl FnOnce(&mut Vec<u8>),
    ) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with_data(&dir, edit, edit_data);
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
        let (g0, g1) = offsets("gamma");
        assert_eq!(
            error(|h| h["gamma"]["dtype"] = "F4".into()),
            format!(
                "not a valid safetensors file: tensor 'gamma': dtype F4 and shape [5] need 20 bits, which is not \
                 a whole number of bytes"
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
        // A tensor under another name is missing, whatever its bytes.
        assert!(
            error(|h| {
                let gamma = h.as_object_mut().unwrap().remove("gamma").unwrap();
                h["Gamma"] = gamma;
            })
            .starts_with("missing field 'gamma' (fields present: Gamma, ")
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
    fn a_tensor_given_twice_is_refused() {
        // serde_json keeps the last of two equal keys, so the first entry (here one that does not even fit
        // its offsets) was dropped unseen.
        let dir = tempfile::tempdir().unwrap();
        let (header, data) = sample();
        let header = serde_json::to_string(&header).unwrap().replacen(
            "{",
            r#"{"Q":{"dtype":"F32","shape":[2,4],"data_offsets":[0,4]},"#,
            1,
        );
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        let path = dir.path().join("dup.safetensors");
        std::fs::write(&path, bytes).unwrap();
        let error = read_case(&path).unwrap_err().to_string();
        assert!(
            error
                .contains("not a valid safetensors file: in the header, the key 'Q' appears twice"),
            "{error}"
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
    }

    // The sample's data block holds, in this order: Pi [0, 64], Q [64, 96], S_mat [96, 160], codebook
    // [160, 192], gamma [192, 212], scores [212, 252], qjl_signs [252, 272], K_idx [272, 292] (float32 first,
    // then by name, as the `safetensors` library writes them). The tests check the offsets they rely on.

    #[test]
    fn overlapping_tensors_are_named() {
        let (_, pi1) = offsets("Pi");
        let (q0, q1) = offsets("Q");
        assert_eq!(pi1, q0, "Q follows Pi");
        // Q moved 4 bytes back: its own size is right, but it starts inside Pi.
        assert_eq!(
            error(|h| h["Q"]["data_offsets"] = serde_json::json!([q0 - 4, q1 - 4])),
            format!(
                "not a valid safetensors file: tensor 'Q': its data_offsets [{}, {}] overlap tensor 'Pi', which \
                 ends at {q0}",
                q0 - 4,
                q1 - 4
            )
        );
        // Two tensors of one size on the same bytes.
        let (p0, p1) = offsets("Pi");
        assert_eq!(
            error(|h| h["S_mat"]["data_offsets"] = serde_json::json!([p0, p1])),
            format!(
                "not a valid safetensors file: tensor 'S_mat': its data_offsets [{p0}, {p1}] overlap tensor \
                 'Pi', which ends at {p1}"
            )
        );
    }

    #[test]
    fn gaps_between_tensors_are_named() {
        let (_, c1) = offsets("codebook");
        let (g0, g1) = offsets("gamma");
        let (s0, s1) = offsets("scores");
        assert_eq!((c1, g1), (g0, s0), "gamma lies between codebook and scores");
        // A tensor left out of the header leaves its bytes unused.
        assert_eq!(
            error(|h| {
                h.as_object_mut().unwrap().remove("gamma");
            }),
            format!(
                "not a valid safetensors file: tensor 'scores': its data_offsets [{s0}, {s1}] leave {} bytes \
                 unused after tensor 'codebook', which ends at {c1}",
                g1 - g0
            )
        );
        // Four unused bytes before the first tensor.
        let (p0, p1) = offsets("Pi");
        assert_eq!(p0, 0, "Pi is first");
        assert_eq!(
            error_with_data(
                |h| {
                    for (tensor, info) in h.as_object_mut().unwrap() {
                        if tensor != "__metadata__" {
                            let at = |i: usize| info["data_offsets"][i].as_u64().unwrap() + 4;
                            info["data_offsets"] = serde_json::json!([at(0), at(1)]);
                        }
                    }
                },
                |data| data.splice(0..0, [0; 4]).for_each(drop),
            ),
            format!(
                "not a valid safetensors file: tensor 'Pi': its data_offsets [4, {}] leave 4 bytes unused at the \
                 start of the data",
                p1 + 4
            )
        );
    }

    #[test]
    fn bytes_left_after_the_last_tensor_are_named() {
        let (k0, k1) = offsets("K_idx");
        let (_, data) = sample();
        assert_eq!(k1, data.len() as u64, "K_idx is last");
        assert_eq!(
            error_with_data(|_| {}, |data| data.extend_from_slice(&[0; 4])),
            format!(
                "not a valid safetensors file: tensor 'K_idx': it ends last, at {k1}, and leaves 4 bytes unused \
                 at the end of the data, which holds {}",
                k1 + 4
            )
        );
        // Leaving the last tensor out of the header leaves its bytes over.
        let (_, s1) = offsets("qjl_signs");
        assert_eq!(s1, k0, "qjl_signs comes before K_idx");
        assert_eq!(
            error(|h| {
                h.as_object_mut().unwrap().remove("K_idx");
            }),
            format!(
                "not a valid safetensors file: tensor 'qjl_signs': it ends last, at {s1}, and leaves {} bytes \
                 unused at the end of the data, which holds {k1}",
                k1 - k0
            )
        );
        // A header without tensors leaves every byte over.
        assert_eq!(
            error(|h| h
                .as_object_mut()
                .unwrap()
                .retain(|k, _| k == "__metadata__")),
            format!(
                "not a valid safetensors file: the header lists no tensor, but the data holds {k1} bytes"
            )
        );
    }
}
