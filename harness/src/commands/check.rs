//! `judge check`: scores computed by another tool (a PyTorch, Triton or JAX implementation) checked against
//! the oracle of their case file, with the same verdicts, report and exit statuses as `judge run`.

use std::collections::BTreeMap;
use std::path::Path;

use solutions::{Backend, Field, Shape};

use crate::challenge::oracle;
use crate::challenge::suites::CaseSource;
use crate::check::{FIRST_MISMATCHES, Tolerance, check, format_expected, format_got};
use crate::cli::CheckFileArgs;
use crate::io::{Dtype, FileError, RawArray, npy, npz, read_case, safetensors};
use crate::results::{CaseInfo, Entry, Mode};
use crate::verdict::{ExitStatus, Verdict};

use super::run::results_text;
use super::{CommandError, format_error};

/// Reads `[B, S]` scores for a case of `shape` from a `.npy` file, or from the array named `scores` (or the
/// only array) of a `.npz` or `.safetensors` file. float32 is read as is; float64, float16 and bfloat16 are
/// converted (exactly, except float64, which is rounded to the nearest float32). bfloat16 comes from a
/// `.safetensors` file (`BF16`): NumPy's untyped 2-byte records (`'<V2'`) are refused.
pub fn read_scores(path: &Path, shape: Shape) -> Result<Vec<f32>, CommandError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let array = match ext.as_str() {
        "npy" => npy::read_file(path),
        "npz" => npz::read_arrays(path).and_then(|a| pick(path, a)),
        "safetensors" => safetensors::read_arrays(path).and_then(|(a, _)| pick(path, a)),
        _ => {
            return Err(CommandError::Usage(format!(
                "{}: unknown scores format; use a .npy, .npz or .safetensors file",
                path.display()
            )));
        }
    }
    .map_err(CommandError::Input)?;
    decode(path, &array, shape).map_err(CommandError::Input)
}

fn pick(path: &Path, mut arrays: BTreeMap<String, RawArray>) -> Result<RawArray, FileError> {
    if let Some(scores) = arrays.remove(Field::Scores.name()) {
        return Ok(scores);
    }
    if arrays.len() == 1
        && let Some((_, only)) = arrays.pop_first()
    {
        return Ok(only);
    }
    Err(FileError::MissingField {
        path: path.to_owned(),
        field: Field::Scores,
        present: arrays.into_keys().collect(),
    })
}

fn squeeze(dims: &[usize]) -> Vec<usize> {
    dims.iter().copied().filter(|&d| d != 1).collect()
}

fn decode(path: &Path, array: &RawArray, shape: Shape) -> Result<Vec<f32>, FileError> {
    let expected = shape.dims(Field::Scores);
    if squeeze(&array.dims) != squeeze(&expected) {
        return Err(FileError::Dims {
            path: path.to_owned(),
            field: Field::Scores,
            expected,
            actual: array.dims.clone(),
            rule: format!("the case is {shape}"),
        });
    }
    let size = match &array.dtype {
        Dtype::F32 => 4,
        Dtype::Other(name) if matches!(name.as_str(), "float64" | "f64") => 8,
        Dtype::Other(name) if matches!(name.as_str(), "float16" | "f16" | "bf16" | "bfloat16") => 2,
        other => {
            return Err(FileError::Dtype {
                path: path.to_owned(),
                field: Field::Scores,
                expected: if is_two_byte_void(other) {
                    "float32, float64 or float16, or BF16 in a .safetensors file (NumPy saves bfloat16 as untyped \
                     2-byte records, which say nothing of what they hold: save scores.astype(numpy.float32))"
                } else {
                    "float32 (or float64, float16, bfloat16)"
                },
                actual: other.to_string(),
            });
        }
    };
    let want = shape.output_len() * size;
    if array.bytes.len() != want {
        return Err(FileError::Truncated {
            path: path.to_owned(),
            field: Field::Scores,
            expected: want,
            actual: array.bytes.len(),
        });
    }
    let bytes = &array.bytes;
    Ok(match (&array.dtype, size) {
        (Dtype::F32, _) => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (_, 8) => bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b) as f32
            })
            .collect(),
        (Dtype::Other(name), _) if name.starts_with('b') => bytes
            .chunks_exact(2)
            .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
            .collect(),
        _ => bytes
            .chunks_exact(2)
            .map(|c| half_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
    })
}

/// Whether `dtype` is NumPy's 2-byte void (`'<V2'`, `'|V2'`): what `numpy.save` writes for a bfloat16 array of
/// ml_dtypes (JAX's bfloat16), since NumPy has no type code for it. Nothing in the file says the records are
/// bfloat16, so they are not read as such.
fn is_two_byte_void(dtype: &Dtype) -> bool {
    matches!(dtype, Dtype::Other(name) if name.starts_with("void (") && name.ends_with("V2')"))
}

/// IEEE binary16 to f32, exactly.
fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let mantissa = f32::from(h & 0x3ff);
    match exponent {
        0 => sign * mantissa * 2f32.powi(-24),
        31 if mantissa == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + mantissa / 1024.0) * 2f32.powi(e - 15),
    }
}

pub(super) fn check_file(args: &CheckFileArgs) -> Result<ExitStatus, CommandError> {
    let case = read_case(&args.case).map_err(CommandError::Input)?;
    let shape = case.inputs.shape();
    let expected = oracle::scores(&case.inputs);
    super::case::refuse_wrong_stored_scores(&args.case, &case, &expected)?;
    let scores = read_scores(&args.output, shape)?;
    let tolerance = Tolerance {
        atol: args.atol,
        rtol: args.rtol,
    };
    let report = check(&scores, &expected, shape, tolerance);
    let verdict = if report.passed {
        Verdict::Pass
    } else {
        Verdict::WrongAnswer
    };
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let entry = Entry {
        solution: name(&args.output),
        backend: Backend::Cpu,
        case: CaseInfo {
            name: case.name.clone().unwrap_or_else(|| name(&args.case)),
            shape,
            source: CaseSource::File {
                path: args.case.clone(),
            },
        },
        mode: Mode::Check,
        verdict,
        reason: report.reason(),
        check: Some(report.clone()),
        timing: None,
        derived: None,
        errors: None,
    };
    crate::out!("{}", results_text(std::slice::from_ref(&entry)));
    if !report.first_failures.is_empty() {
        crate::outln!(
            "\nfirst {} failing element(s):",
            report.first_failures.len().min(FIRST_MISMATCHES)
        );
        for m in &report.first_failures {
            crate::outln!(
                "  scores[{}, {}] = {}, expected {} (error {})",
                m.b,
                m.s,
                format_got(m.got),
                format_expected(m.expected),
                format_error((f64::from(m.got) - m.expected).abs())
            );
        }
    }
    crate::outln!(
        "\n{}: {} vs the oracle of {} ({tolerance})",
        verdict,
        args.output.display(),
        args.case.display()
    );
    Ok(verdict.exit_status())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes `numpy.save` writes for a `[1, 2]` array of `descr` whose data is `data`.
    fn npy_file(descr: &str, data: &[u8]) -> Vec<u8> {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1, 2), }}");
        let padded = format!("{header:<117}\n");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    /// NumPy has no bfloat16 of its own: `numpy.save` of an ml_dtypes (JAX) bfloat16 array writes `'<V2'`,
    /// untyped 2-byte records. The refusal says so and how to save the scores instead, rather than list
    /// bfloat16 among the types the file should have had.
    #[test]
    fn bfloat16_saved_by_numpy_is_refused_with_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bf16.npy");
        std::fs::write(&path, npy_file("<V2", &[0x80, 0x3f, 0x00, 0x40])).unwrap();
        let err = read_scores(&path, Shape::new(1, 2, 4, 4)).unwrap_err();
        assert!(
            matches!(err, CommandError::Input(FileError::Dtype { .. })),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: field 'scores' has dtype void ('<V2')",
                path.display()
            )),
            "{message}"
        );
        assert!(
            message.contains("NumPy saves bfloat16 as untyped 2-byte records")
                && message.contains("scores.astype(numpy.float32)")
                && message.contains(".safetensors"),
            "{message}"
        );
        // The same data typed as BF16 in a .safetensors file is read.
        let bf16 = RawArray {
            dtype: Dtype::Other("bf16".into()),
            dims: vec![1, 2],
            bytes: vec![0x80, 0x3f, 0x00, 0x40],
        };
        assert_eq!(
            decode(&path, &bf16, Shape::new(1, 2, 4, 4)).unwrap(),
            vec![1.0, 2.0]
        );
    }

    #[test]
    fn half_precision_decodes_exactly() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(half_to_f32(0x7c00), f32::INFINITY);
        assert!(half_to_f32(0x7e00).is_nan());
        assert_eq!(half_to_f32(0x3555), 0.333_251_95);
    }

    #[test]
    fn scores_must_have_the_case_shape_and_a_float_type() {
        let shape = Shape::new(2, 3, 4, 4);
        let p = Path::new("s.npy");
        let ok = RawArray::f32(vec![1, 2, 3], &[1.0; 6]);
        assert_eq!(decode(p, &ok, shape).unwrap(), vec![1.0; 6]);
        let wrong = RawArray::f32(vec![3, 2], &[1.0; 6]);
        assert!(matches!(
            decode(p, &wrong, shape),
            Err(FileError::Dims { .. })
        ));
        let ints = RawArray::u8(vec![2, 3], &[0; 6]);
        assert!(matches!(
            decode(p, &ints, shape),
            Err(FileError::Dtype { .. })
        ));
        let f64s = RawArray {
            dtype: Dtype::Other("float64".into()),
            dims: vec![2, 3],
            bytes: (0..6).flat_map(|i| f64::from(i).to_le_bytes()).collect(),
        };
        assert_eq!(
            decode(p, &f64s, shape).unwrap(),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        let bf16 = RawArray {
            dtype: Dtype::Other("bf16".into()),
            dims: vec![6],
            bytes: [0x3f80u16; 6]
                .iter()
                .flat_map(|h| h.to_le_bytes())
                .collect(),
        };
        assert_eq!(
            decode(p, &bf16, Shape::new(1, 6, 4, 4)).unwrap(),
            vec![1.0; 6]
        );
    }
}
