//! The judge's JSON case format, used for the golden cases in `fixtures/`: flat row-major arrays under the
//! field names of DESIGN.md §2, the shape spelt out, and scores in f64 so a golden value is exact.

use std::path::Path;

use serde::{Deserialize, Serialize};
use solutions::{InputParts, Inputs, Shape};

use super::{CaseFile, FileError};

/// The `format` tag of a JSON case.
pub const FORMAT: &str = "judge.case";
/// The version of the JSON case format.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCase {
    format: String,
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    shape: Shape,
    #[serde(rename = "Q")]
    q: Vec<f32>,
    #[serde(rename = "K_idx")]
    k_idx: Vec<u8>,
    qjl_signs: Vec<i8>,
    gamma: Vec<f32>,
    #[serde(rename = "Pi")]
    pi: Vec<f32>,
    #[serde(rename = "S_mat")]
    s_mat: Vec<f32>,
    codebook: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scores: Option<Vec<f64>>,
}

/// Reads a case from a JSON file.
pub fn read_case(path: &Path) -> Result<CaseFile, FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError::io(path, e))?;
    let malformed = |reason: String| FileError::Malformed {
        path: path.to_owned(),
        format: "JSON case",
        reason,
    };
    let raw: JsonCase = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    if raw.format != FORMAT || raw.version != VERSION {
        return Err(malformed(format!(
            "format '{}' version {}; this judge reads '{FORMAT}' version {VERSION}",
            raw.format, raw.version
        )));
    }
    let shape = raw.shape;
    if let Some(scores) = &raw.scores
        && scores.len() != shape.output_len()
    {
        return Err(malformed(format!(
            "scores has {} elements, B·S = {}",
            scores.len(),
            shape.output_len()
        )));
    }
    let inputs = Inputs::new(InputParts {
        shape,
        q: raw.q,
        k_idx: raw.k_idx,
        qjl_signs: raw.qjl_signs,
        gamma: raw.gamma,
        pi: raw.pi,
        s_mat: raw.s_mat,
        codebook: raw.codebook,
    })
    .map_err(|source| FileError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    Ok(CaseFile {
        name: raw.name,
        inputs,
        scores: raw.scores,
        ignored: Vec::new(),
    })
}

/// Encodes a case as pretty-printed JSON.
pub fn encode_case(case: &CaseFile) -> Result<Vec<u8>, String> {
    let x = &case.inputs;
    let raw = JsonCase {
        format: FORMAT.to_owned(),
        version: VERSION,
        name: case.name.clone(),
        shape: x.shape(),
        q: x.q.clone(),
        k_idx: x.k_idx.clone(),
        qjl_signs: x.qjl_signs.clone(),
        gamma: x.gamma.clone(),
        pi: x.pi.clone(),
        s_mat: x.s_mat.clone(),
        codebook: x.codebook.clone(),
        scores: case.scores.clone(),
    };
    // One field per line, each array on its own line: readable, and diffs stay per field.
    let value = serde_json::to_value(&raw).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(fields) = value else {
        return Err("a case encodes to a JSON object".to_owned());
    };
    let mut lines = Vec::with_capacity(fields.len());
    for (key, value) in &fields {
        let key = serde_json::to_string(key).map_err(|e| e.to_string())?;
        let value = serde_json::to_string(value).map_err(|e| e.to_string())?;
        lines.push(format!("  {key}: {value}"));
    }
    Ok(format!("{{\n{}\n}}\n", lines.join(",\n")).into_bytes())
}
