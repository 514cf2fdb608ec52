//! The judge's JSON case format, used for the golden cases in `fixtures/`: flat row-major arrays under the
//! field names of DESIGN.md §2, the shape spelt out, and scores in f64 so a golden value is exact.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use solutions::problem::Position;
use solutions::{Field, InputParts, Shape};

use super::{CaseFile, FileError};

/// The `format` tag of a JSON case.
pub const FORMAT: &str = "judge.case";
/// The version of the JSON case format.
pub const VERSION: u32 = 1;

/// A JSON case as written. Reading goes through [`serde_json::Value`] instead, so that an error names the field
/// and the element (`K_idx[0, 1] = 300 does not fit uint8`) rather than a line and column.
#[derive(Serialize)]
struct JsonCase {
    format: String,
    version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    scores: Option<Vec<f64>>,
}

/// The keys a JSON case may have.
const KEYS: [&str; 12] = [
    "format",
    "version",
    "name",
    "shape",
    "Q",
    "K_idx",
    "qjl_signs",
    "gamma",
    "Pi",
    "S_mat",
    "codebook",
    "scores",
];

/// Reads a case from a JSON file.
pub fn read_case(path: &Path) -> Result<CaseFile, FileError> {
    let malformed = |reason| FileError::Malformed {
        path: path.to_owned(),
        format: "JSON case",
        reason,
    };
    let text = String::from_utf8(super::read_input(path)?)
        .map_err(|e| malformed(format!("the file is not UTF-8 text: {}", e.utf8_error())))?;
    let (name, parts, scores) = parse(&text).map_err(malformed)?;
    // The shape is checked with the inputs first: B·S of a shape out of range can overflow.
    let case = CaseFile::validate(path, name, parts, scores, Vec::new())?;
    let expected = case.inputs.shape().output_len();
    match &case.scores {
        Some(scores) if scores.len() != expected => Err(malformed(format!(
            "scores has {} elements, B·S = {expected}",
            scores.len()
        ))),
        _ => Ok(case),
    }
}

/// A JSON case's name, arrays and scores, unvalidated; the error says what is malformed.
type Parsed = (Option<String>, InputParts, Option<Vec<f64>>);

fn parse(text: &str) -> Result<Parsed, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    super::refuse_repeated_keys(text.as_bytes()).map_err(|e| e.to_string())?;
    let Value::Object(fields) = value else {
        return Err(format!("the file holds {}, not an object", kind(&value)));
    };
    let raw = Fields(&fields);
    let format: String = raw.required("format")?;
    let version: u32 = raw.required("version")?;
    if format != FORMAT || version != VERSION {
        return Err(format!(
            "format '{format}' version {version}; this judge reads '{FORMAT}' version {VERSION}"
        ));
    }
    if let Some(key) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field '{key}'; the fields are {}",
            KEYS.join(", ")
        ));
    }
    let name: Option<String> = raw.typed("name")?;
    let shape: Shape = raw.required("shape")?;
    let parts = InputParts {
        shape,
        q: raw.array(Field::Q, shape, f32_element)?,
        k_idx: raw.array(Field::KIdx, shape, |v| integer(v, "uint8", "0 to 255"))?,
        qjl_signs: raw.array(Field::QjlSigns, shape, |v| {
            integer(v, "int8", "-128 to 127")
        })?,
        gamma: raw.array(Field::Gamma, shape, f32_element)?,
        pi: raw.array(Field::Pi, shape, f32_element)?,
        s_mat: raw.array(Field::SMat, shape, f32_element)?,
        codebook: raw.array(Field::Codebook, shape, f32_element)?,
    };
    let scores = match fields.get(Field::Scores.name()) {
        None => None,
        Some(_) => Some(raw.array(Field::Scores, shape, |v| {
            v.as_f64()
                .ok_or_else(|| format!("is {}, not a number", kind(v)))
        })?),
    };
    Ok((name, parts, scores))
}

/// The top-level object of a JSON case.
struct Fields<'a>(&'a serde_json::Map<String, Value>);

impl Fields<'_> {
    /// The value under `key`, if present, as a `T`.
    fn typed<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        self.0
            .get(key)
            .map(|v| T::deserialize(v).map_err(|e| format!("field '{key}': {e}")))
            .transpose()
    }

    /// The value under `key` as a `T`; its absence is an error.
    fn required<T: DeserializeOwned>(&self, key: &str) -> Result<T, String> {
        self.typed(key)?
            .ok_or_else(|| format!("missing field '{key}'"))
    }

    /// The flat array under `field`'s name, each element converted by `element` (whose error says what is wrong
    /// with the element; it is prefixed here with the element's position).
    fn array<T>(
        &self,
        field: Field,
        shape: Shape,
        element: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let value = self
            .0
            .get(field.name())
            .ok_or_else(|| format!("missing field '{field}'"))?;
        let Value::Array(items) = value else {
            return Err(format!(
                "field '{field}' is {}, not an array of numbers",
                kind(value)
            ));
        };
        let dims = shape.dims(field);
        // Positions are given in the field's dimensions when the length fits them, else as a flat index.
        let fits = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) == Some(items.len());
        items
            .iter()
            .enumerate()
            .map(|(flat, v)| {
                element(v).map_err(|reason| {
                    let at = match dims.len() {
                        1 => format!("{field}[{flat}]"),
                        _ if fits => format!(
                            "{field}{} (element {flat} of the flat list)",
                            Position::from_flat(flat, &dims)
                        ),
                        _ => format!("element {flat} of {field}"),
                    };
                    format!("{at} = {v} {reason}")
                })
            })
            .collect()
    }
}

/// A float32 element: a number within float32's range.
fn f32_element(v: &Value) -> Result<f32, String> {
    let x = v
        .as_f64()
        .ok_or_else(|| format!("is {}, not a number", kind(v)))?;
    let single = x as f32;
    if single.is_infinite() {
        return Err(format!("is beyond float32's range (±{:e})", f32::MAX));
    }
    Ok(single)
}

/// An element of the integer type `name`, whose values are `range`.
fn integer<T: TryFrom<i64>>(v: &Value, name: &str, range: &str) -> Result<T, String> {
    let out_of_range = || format!("does not fit {name} ({range})");
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => n
            .as_i64()
            .and_then(|x| T::try_from(x).ok())
            .ok_or_else(out_of_range),
        Value::Number(_) => Err(format!("is not an integer, as {name} requires")),
        other => Err(format!("is {}, not a number", kind(other))),
    }
}

/// What kind of JSON value `v` is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example as a JSON case, with `edit` applied to its text.
    fn case_with(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut fields = serde_json::json!({
            "format": FORMAT, "version": VERSION, "name": "worked-example",
            "shape": {"b": 2, "s": 3, "d": 2, "c": 4},
            "Q": [1.0, 0.0, 0.0, 1.0], "K_idx": [0, 3, 1, 2, 3, 0], "qjl_signs": [1, 1, 1, 1, 1, 1],
            "gamma": [0.0, 0.0, 0.0], "Pi": [1.0, 0.0, 0.0, 1.0], "S_mat": [1.0, 0.0, 0.0, 1.0],
            "codebook": [-0.75, -0.25, 0.25, 0.75], "scores": [-0.75, -0.25, 0.75, 0.75, 0.25, -0.75],
        });
        edit(fields.as_object_mut().unwrap());
        fields.to_string()
    }

    fn error(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        parse(&case_with(edit)).unwrap_err()
    }

    fn set(
        field: &str,
        flat: usize,
        value: Value,
    ) -> impl FnOnce(&mut serde_json::Map<String, Value>) {
        let field = field.to_owned();
        move |f| f[&field][flat] = value
    }

    #[test]
    fn the_example_parses() {
        let (name, parts, scores) = parse(&case_with(|_| {})).unwrap();
        assert_eq!(name.as_deref(), Some("worked-example"));
        assert_eq!(parts.k_idx, [0, 3, 1, 2, 3, 0]);
        assert_eq!(scores.map(|s| s.len()), Some(6));
    }

    #[test]
    fn element_errors_name_the_field_and_the_position() {
        assert_eq!(
            error(set("K_idx", 1, 300.into())),
            "K_idx[0, 1] (element 1 of the flat list) = 300 does not fit uint8 (0 to 255)"
        );
        assert_eq!(
            error(set("K_idx", 5, (-1).into())),
            "K_idx[2, 1] (element 5 of the flat list) = -1 does not fit uint8 (0 to 255)"
        );
        assert_eq!(
            error(set("qjl_signs", 2, 200.into())),
            "qjl_signs[1, 0] (element 2 of the flat list) = 200 does not fit int8 (-128 to 127)"
        );
        assert_eq!(
            error(set("K_idx", 0, 1.5.into())),
            "K_idx[0, 0] (element 0 of the flat list) = 1.5 is not an integer, as uint8 requires"
        );
        assert_eq!(
            error(set("Q", 3, "x".into())),
            "Q[1, 1] (element 3 of the flat list) = \"x\" is a string, not a number"
        );
        assert_eq!(
            error(set("gamma", 2, Value::Null)),
            "gamma[2] = null is null, not a number"
        );
        assert_eq!(
            error(set("codebook", 1, 1e40.into())),
            "codebook[1] = 1e+40 is beyond float32's range (±3.4028235e38)"
        );
        assert_eq!(
            error(set("scores", 4, true.into())),
            "scores[1, 1] (element 4 of the flat list) = true is a boolean, not a number"
        );
        // A list of the wrong length gives flat indices only.
        assert_eq!(
            error(|f| f["Pi"] = serde_json::json!([1.0, 0.0, 0.0, 1.0, "y"])),
            "element 4 of Pi = \"y\" is a string, not a number"
        );
    }

    #[test]
    fn a_shape_beyond_any_size_is_out_of_range_not_an_overflow() {
        // B·S overflows usize: the scores' length was compared with it before the shape was checked.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.json");
        std::fs::write(&path, case_with(|f| f["shape"]["b"] = (1u64 << 62).into())).unwrap();
        let error = read_case(&path).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}: B = 4611686018427387904 is out of range: the rule is 1 ≤ B ≤ 32",
                path.display()
            )
        );
        // A shape in range whose scores are too few is still named as such.
        std::fs::write(&path, case_with(|f| f["scores"] = serde_json::json!([1.0]))).unwrap();
        let error = read_case(&path).unwrap_err().to_string();
        assert!(
            error.ends_with("not a valid JSON case file: scores has 1 elements, B·S = 6"),
            "{error}"
        );
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        // serde_json keeps the last of two equal keys; another reader may keep the first.
        let text = case_with(|_| {}).replacen("\"Q\":", "\"Q\":[9,9,9,9],\"Q\":", 1);
        let error = parse(&text).unwrap_err();
        assert!(error.starts_with("the key 'Q' appears twice"), "{error}");
        let text = case_with(|_| {}).replacen("\"b\":2", "\"b\":5,\"b\":2", 1);
        let error = parse(&text).unwrap_err();
        assert!(error.starts_with("the key 'b' appears twice"), "{error}");
    }

    #[test]
    fn structural_errors_name_the_field() {
        assert_eq!(
            error(|f| f["S_mat"] = 3.into()),
            "field 'S_mat' is a number, not an array of numbers"
        );
        assert_eq!(
            error(|f| {
                f.remove("codebook");
            }),
            "missing field 'codebook'"
        );
        assert!(
            error(|f| {
                f.insert("k_idx".to_owned(), Value::Null);
            })
            .starts_with("unknown field 'k_idx'; the fields are format, version, name, shape, Q,")
        );
        assert_eq!(
            error(|f| f["shape"]["d"] = (-2).into()),
            "field 'shape': invalid value: integer `-2`, expected usize"
        );
        assert_eq!(
            error(|f| f["version"] = 2.into()),
            "format 'judge.case' version 2; this judge reads 'judge.case' version 1"
        );
    }
}
