//! Hugging Face `.safetensors`: a JSON header of named tensors (dtype, shape, byte offsets) and one data block.
//! The case's name, when known, travels in the header's `__metadata__`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};

use super::{CaseFile, Dtype, FileError, RawArray, assemble_case, case_arrays};

/// Metadata key holding the case name.
const NAME_KEY: &str = "judge.case_name";

/// Reads a case from a `.safetensors` file.
pub fn read_case(path: &Path) -> Result<CaseFile, FileError> {
    let (arrays, name) = read_arrays(path)?;
    assemble_case(path, arrays, name)
}

/// Reads every tensor of a `.safetensors` file, and the case name stored in its metadata (if any).
pub fn read_arrays(path: &Path) -> Result<(BTreeMap<String, RawArray>, Option<String>), FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError::io(path, e))?;
    let malformed = |reason: String| FileError::Malformed {
        path: path.to_owned(),
        format: "safetensors",
        reason,
    };
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| malformed(e.to_string()))?;
    let name = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(NAME_KEY).cloned());
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| malformed(e.to_string()))?;
    let mut arrays = BTreeMap::new();
    for (tensor_name, view) in tensors.iter() {
        let dtype = match view.dtype() {
            StDtype::F32 => Dtype::F32,
            StDtype::U8 => Dtype::U8,
            StDtype::I8 => Dtype::I8,
            other => Dtype::Other(format!("{other:?}").to_lowercase()),
        };
        arrays.insert(
            tensor_name.to_owned(),
            RawArray {
                dtype,
                dims: view.shape().to_vec(),
                bytes: view.data().to_vec(),
            },
        );
    }
    Ok((arrays, name))
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
