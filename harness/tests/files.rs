//! Case files: every format round-trips bit-exactly, and every kind of malformed file gets an error that names
//! the file, the field and the rule, never a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::challenge::generate::{Generator, generate};
use harness::challenge::oracle;
use harness::io::{self, CaseFile, FileError, RawArray, npy, npz};
use proptest::prelude::*;
use solutions::{Field, InputError, Shape};

fn sample_case(shape: Shape, seed: u64, with_scores: bool) -> CaseFile {
    let inputs = generate(Generator::Uniform, shape, seed).unwrap().inputs;
    let scores = with_scores.then(|| {
        oracle::scores(&inputs)
            .iter()
            .map(|&s| f64::from(s as f32))
            .collect()
    });
    CaseFile {
        name: Some("sample".to_owned()),
        inputs,
        scores,
        ignored: Vec::new(),
    }
}

fn tmp(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn every_format_round_trips_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let case = sample_case(Shape::new(3, 17, 9, 200), 4, true);
    for ext in ["npz", "safetensors", "json"] {
        let path = tmp(&dir, &format!("case.{ext}"));
        io::write_case(&path, &case).unwrap();
        let back = io::read_case(&path).unwrap();
        assert_eq!(back.inputs, case.inputs, "{ext}");
        assert_eq!(back.scores, case.scores, "{ext}");
        // Writing what was read gives the same bytes.
        let again = tmp(&dir, &format!("again.{ext}"));
        io::write_case(&again, &back).unwrap();
        if ext == "npz" {
            // Zip members carry a timestamp; compare the arrays' bytes instead.
            assert_eq!(
                npz::read_arrays(&path).unwrap(),
                npz::read_arrays(&again).unwrap()
            );
        } else {
            assert_eq!(
                std::fs::read(&path).unwrap(),
                std::fs::read(&again).unwrap(),
                "{ext}"
            );
        }
    }
}

#[test]
fn binary_formats_keep_the_case_name_and_npz_reads_without_scores() {
    let dir = tempfile::tempdir().unwrap();
    let case = sample_case(Shape::new(1, 2, 3, 4), 1, false);
    let st = tmp(&dir, "a.safetensors");
    io::write_case(&st, &case).unwrap();
    assert_eq!(io::read_case(&st).unwrap().name.as_deref(), Some("sample"));
    let z = tmp(&dir, "a.npz");
    io::write_case(&z, &case).unwrap();
    let back = io::read_case(&z).unwrap();
    assert_eq!(back.scores, None);
    // The name travels in the archive's comment; the members are the fields alone.
    assert_eq!(back.name.as_deref(), Some("sample"));
    assert!(back.ignored.is_empty(), "{:?}", back.ignored);

    // An archive without the comment (as numpy.savez writes it, or this judge did before) is named after its
    // file.
    let old = tmp(&dir, "old-style.npz");
    let arrays = npz::read_arrays(&z).unwrap();
    std::fs::write(&old, npz::encode_arrays(arrays).unwrap()).unwrap();
    assert_eq!(
        io::read_case(&old).unwrap().name.as_deref(),
        Some("old-style")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn random_cases_round_trip(b in 1usize..=32, s in 1usize..=40, d in 1usize..=40, c in 2usize..=256, seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let case = sample_case(Shape::new(b, s, d, c), seed, true);
        for ext in ["npz", "safetensors", "json"] {
            let path = tmp(&dir, &format!("p.{ext}"));
            io::write_case(&path, &case).unwrap();
            let back = io::read_case(&path).unwrap();
            prop_assert_eq!(&back.inputs, &case.inputs);
            prop_assert_eq!(&back.scores, &case.scores);
        }
    }
}

/// Writes an `.npz` with the sample case's arrays, changed by `edit`.
fn npz_with(
    dir: &tempfile::TempDir,
    edit: impl FnOnce(&mut BTreeMap<String, RawArray>),
) -> PathBuf {
    let case = sample_case(Shape::new(2, 5, 4, 8), 9, false);
    let mut arrays: BTreeMap<String, RawArray> = io::case_arrays(&case)
        .into_iter()
        .map(|(f, a)| (f.name().to_owned(), a))
        .collect();
    edit(&mut arrays);
    let path = tmp(dir, "edited.npz");
    std::fs::write(&path, npz::encode_arrays(arrays).unwrap()).unwrap();
    path
}

fn message(path: &Path) -> String {
    io::read_case(path).unwrap_err().to_string()
}

#[test]
fn missing_field_is_named_with_what_is_present() {
    let dir = tempfile::tempdir().unwrap();
    let path = npz_with(&dir, |a| {
        let k = a.remove("K_idx").unwrap();
        a.insert("k_idx".to_owned(), k);
    });
    let err = io::read_case(&path).unwrap_err();
    assert!(matches!(
        err,
        FileError::MissingField {
            field: Field::KIdx,
            ..
        }
    ));
    let text = err.to_string();
    assert!(
        text.contains("missing field 'K_idx'") && text.contains("k_idx"),
        "{text}"
    );
}

#[test]
fn wrong_dtype_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = npz_with(&dir, |a| {
        let g = a.get_mut("gamma").unwrap();
        let values: Vec<f64> = g
            .bytes
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
            .collect();
        g.bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        g.dtype = io::Dtype::Other("float64".to_owned());
    });
    assert_eq!(
        message(&path),
        format!(
            "{}: field 'gamma' has dtype float64, but it must be float32",
            path.display()
        )
    );
    let path = npz_with(&dir, |a| {
        a.get_mut("qjl_signs").unwrap().dtype = io::Dtype::U8
    });
    assert!(message(&path).contains("field 'qjl_signs' has dtype uint8, but it must be int8"));
}

#[test]
fn wrong_dimensions_are_named_with_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = npz_with(&dir, |a| a.get_mut("S_mat").unwrap().dims = vec![16]);
    assert_eq!(
        message(&path),
        format!(
            "{}: field 'S_mat' has dimensions [16], but it must be 2-D [D, D] = [4, 4] (Q, K_idx and codebook \
             give B=2 S=5 D=4 C=8)",
            path.display()
        )
    );

    let path = npz_with(&dir, |a| a.get_mut("Q").unwrap().dims = vec![8]);
    assert!(message(&path).contains("field 'Q' has dimensions [8], but it must be 2-D [B, D]"));
}

#[test]
fn arrays_that_disagree_are_named_with_what_each_says() {
    let dir = tempfile::tempdir().unwrap();
    // Q is [2, 4]; K_idx [4, 5] holds as many bytes as [5, 4] but says D = 5.
    let path = npz_with(&dir, |a| a.get_mut("K_idx").unwrap().dims = vec![4, 5]);
    let err = io::read_case(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: arrays disagree on D: Q is [2, 4] (D = 4) but K_idx is [4, 5] (D = 5); Q is [B, D] and K_idx \
             is [S, D]",
            path.display()
        )
    );
    assert!(matches!(
        err,
        FileError::Disagree {
            letter: 'D',
            source_field: Field::Q,
            field: Field::KIdx,
            ..
        }
    ));
    let path = npz_with(&dir, |a| a.get_mut("Pi").unwrap().dims = vec![2, 8]);
    assert!(
        message(&path).ends_with(
            "arrays disagree on D: Q is [2, 4] (D = 4) but Pi is [2, 8] (D = 2); Q is [B, D] and Pi is [D, D]"
        ),
        "{}",
        message(&path)
    );
    let path = npz_with(&dir, |a| {
        let gamma = a.get_mut("gamma").unwrap();
        gamma.dims = vec![4];
        gamma.bytes.truncate(16);
    });
    let text = message(&path);
    assert!(text.ends_with(
        "arrays disagree on S: K_idx is [5, 4] (S = 5) but gamma is [4] (S = 4); K_idx is [S, D] and gamma is [S]"
    ), "{text}");
}

#[test]
fn extra_bytes_are_not_called_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut members = sample_members();
    members[1].1.extend_from_slice(&[0; 3]);
    let path = tmp(&dir, "long.npz");
    write_members(&path, &members);
    let err = io::read_case(&path).unwrap_err();
    assert!(
        matches!(
            err,
            FileError::ExtraBytes {
                field: Field::KIdx,
                expected: 20,
                extra: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("field 'K_idx' has 3 extra bytes: its header promises 20 data bytes"),
        "{err}"
    );
}

#[test]
fn a_case_whose_scores_overflow_f32_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let scale = |a: &mut RawArray| {
        let values: Vec<f32> = a
            .bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) * 1e30)
            .collect();
        a.bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    };
    let path = npz_with(&dir, |a| {
        scale(a.get_mut("Q").unwrap());
        scale(a.get_mut("codebook").unwrap());
    });
    let err = io::read_case(&path).unwrap_err();
    assert!(
        matches!(
            &err,
            FileError::Invalid {
                source: InputError::ScoresOverflow { value, .. },
                ..
            } if value.abs() > 1e50
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("is beyond float32's range"),
        "{err}"
    );
}

/// The sample case's arrays (as [`npz_with`] starts from) as raw `.npy` members, in signature order: `Q`,
/// `K_idx`, `qjl_signs`, …
fn sample_members() -> Vec<(String, Vec<u8>)> {
    let case = sample_case(Shape::new(2, 5, 4, 8), 9, false);
    io::case_arrays(&case)
        .into_iter()
        .map(|(f, a)| (f.name().to_owned(), npy::encode(&a)))
        .collect()
}

/// Writes an `.npz` of raw `.npy` members.
fn write_members(path: &Path, members: &[(String, Vec<u8>)]) {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        w.start_file(
            format!("{name}.npy"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn truncated_arrays_and_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    // An array member whose data is shorter than its header promises.
    let mut members = sample_members();
    let short = members[1].1.len() - 3;
    members[1].1.truncate(short);
    let path = tmp(&dir, "short.npz");
    write_members(&path, &members);
    let err = io::read_case(&path).unwrap_err();
    assert!(
        matches!(
            err,
            FileError::Truncated {
                field: Field::KIdx,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("field 'K_idx' is truncated"));

    // Whole files cut short, at many points, in every format: errors, never panics.
    let full = sample_case(Shape::new(2, 5, 4, 8), 9, true);
    for ext in ["npz", "safetensors", "json"] {
        let whole = tmp(&dir, &format!("whole.{ext}"));
        io::write_case(&whole, &full).unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        for cut in [
            0,
            1,
            7,
            8,
            9,
            50,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len() - 2,
        ] {
            let part = tmp(&dir, &format!("cut.{ext}"));
            std::fs::write(&part, &bytes[..cut]).unwrap();
            let err = io::read_case(&part);
            assert!(
                err.is_err(),
                "{ext} cut at {cut} of {} was accepted",
                bytes.len()
            );
        }
    }
}

#[test]
fn invalid_values_name_field_position_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = npz_with(&dir, |a| a.get_mut("K_idx").unwrap().bytes[6] = 8);
    let err = io::read_case(&path).unwrap_err();
    assert!(
        matches!(
            &err,
            FileError::Invalid {
                source: InputError::IndexOutOfRange { value: 8, c: 8, .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("K_idx[1, 2] = 8 is not a codebook index: the rule is K_idx < C = 8")
    );

    let path = npz_with(&dir, |a| a.get_mut("qjl_signs").unwrap().bytes[19] = 0);
    assert!(
        message(&path).contains("qjl_signs[4, 3] = 0: the rule is that every sign is -1 or +1")
    );

    let path = npz_with(&dir, |a| {
        let pi = a.get_mut("Pi").unwrap();
        pi.bytes[0..4].copy_from_slice(&2.0f32.to_le_bytes());
    });
    assert!(message(&path).contains("Pi is not orthogonal"));

    let path = npz_with(&dir, |a| {
        let q = a.get_mut("codebook").unwrap();
        q.dims = vec![1];
        q.bytes.truncate(4);
    });
    assert!(message(&path).contains("C = 1 is out of range: the rule is 2 ≤ C ≤ 256"));
}

#[test]
fn not_a_container_and_unknown_extensions() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("x.npz", &b"PK not really"[..]),
        ("x.safetensors", b"\xff\xff\xff\xff\xff\xff\xff\x7f{}"),
        ("x.json", b"{\"format\": 3}"),
    ] {
        let path = tmp(&dir, name);
        std::fs::write(&path, bytes).unwrap();
        let text = message(&path);
        assert!(text.contains("not a valid"), "{name}: {text}");
    }
    assert!(
        io::read_case(Path::new("nope.csv"))
            .unwrap_err()
            .to_string()
            .contains("unknown case format")
    );
    let missing = io::read_case(&tmp(&dir, "absent.npz")).unwrap_err();
    assert!(matches!(missing, FileError::Io { .. }));
}

#[test]
fn safetensors_dtype_errors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let case = sample_case(Shape::new(2, 5, 4, 8), 9, false);
    let arrays = io::case_arrays(&case);
    let mut views = Vec::new();
    let gamma64: Vec<u8> = case
        .inputs
        .gamma
        .iter()
        .flat_map(|&g| f64::from(g).to_le_bytes())
        .collect();
    for (field, array) in &arrays {
        let (dtype, bytes) = match field {
            Field::Gamma => (safetensors::Dtype::F64, gamma64.as_slice()),
            Field::KIdx => (safetensors::Dtype::U8, array.bytes.as_slice()),
            Field::QjlSigns => (safetensors::Dtype::I8, array.bytes.as_slice()),
            _ => (safetensors::Dtype::F32, array.bytes.as_slice()),
        };
        views.push((
            field.name(),
            safetensors::tensor::TensorView::new(dtype, array.dims.clone(), bytes).unwrap(),
        ));
    }
    let path = tmp(&dir, "f64.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    assert!(message(&path).contains("field 'gamma' has dtype f64, but it must be float32"));
}

/// The exit status and the peak resident memory, in KiB, of `judge` run with `args`: the largest of every child
/// this test program has waited for, and `judge` is the only child it starts.
fn judge_peak_kib(args: &[&str]) -> (Option<i32>, i64) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_judge"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    // SAFETY: `rusage` is plain data, which the kernel fills; all zeros is a valid value of it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    (status.code(), usage.ru_maxrss)
}

/// Tensors that overlap are refused before their bytes are copied: 400 tensors over the same MiB of data had
/// taken 400 MiB before the overlap was reported.
#[test]
fn overlapping_tensors_are_refused_before_their_bytes_are_copied() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![0u8; 1 << 20];
    let header: serde_json::Map<String, serde_json::Value> = (0..400)
        .map(|i| {
            let info = serde_json::json!({"dtype": "U8", "shape": [1 << 20], "data_offsets": [0, 1 << 20]});
            (format!("t{i}"), info)
        })
        .collect();
    let header = serde_json::to_vec(&header).unwrap();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&data);
    let path = tmp(&dir, "overlap.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let (code, peak) = judge_peak_kib(&["case", "info", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(peak < 64 << 10, "peak {peak} KiB");
}

#[test]
fn a_stored_case_name_is_one_line_and_an_empty_one_gives_way_to_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut case = sample_case(Shape::new(1, 2, 3, 4), 1, false);
    for ext in ["npz", "safetensors", "json"] {
        case.name = Some(String::new());
        let path = tmp(&dir, &format!("named.{ext}"));
        io::write_case(&path, &case).unwrap();
        assert_eq!(
            io::read_case(&path).unwrap().name.as_deref(),
            Some("named"),
            "{ext}"
        );
        // A name that breaks the line (it would start a line of its own in every table) is refused.
        case.name = Some("x\nverdict: pass\x1b[2K".to_owned());
        io::write_case(&path, &case).unwrap();
        let text = message(&path);
        assert_eq!(
            text,
            format!(
                "{}: the stored case name \"x\\nverdict: pass\\u{{1b}}[2K\" holds a control character; a case \
                 name is one line of text",
                path.display()
            ),
            "{ext}"
        );
    }
    // A file name that breaks the line names its case with the break escaped.
    let arrays = npz::read_arrays(&tmp(&dir, "named.npz")).unwrap();
    let path = tmp(&dir, "two\nlines.npz");
    std::fs::write(&path, npz::encode_arrays(arrays).unwrap()).unwrap();
    assert_eq!(
        io::read_case(&path).unwrap().name.as_deref(),
        Some("two\\nlines")
    );
}

/// One change to a file's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flips the bits of `mask` in one byte.
    Flip(prop::sample::Index, u8),
    /// Removes up to `len` bytes from one place.
    Remove(prop::sample::Index, usize),
    /// Inserts bytes at one place.
    Insert(prop::sample::Index, Vec<u8>),
    /// Replaces one run of decimal digits (a length, a dimension, an offset in a header) with a number that a
    /// careless or hostile writer might put there.
    Number(prop::sample::Index, prop::sample::Index),
}

/// Numbers that break sizes: zero, one, limits of the shape, and the edges of 16, 32 and 64 bits.
const NUMBERS: [&str; 14] = [
    "0",
    "1",
    "2",
    "255",
    "256",
    "257",
    "65536",
    "65537",
    "4294967295",
    "4294967296",
    "4611686018427387904",
    "9223372036854775807",
    "18446744073709551615",
    "99999999999999999999999",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1u8..).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        (any::<prop::sample::Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Remove(at, len)),
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(run, number)| Mutation::Number(run, number)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::Flip(at, mask) => {
            let at = at.index(bytes.len());
            bytes[at] ^= mask;
        }
        Mutation::Remove(at, len) => {
            let start = at.index(bytes.len());
            let end = (start + len).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Insert(at, inserted) => {
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, inserted.iter().copied());
        }
        Mutation::Number(run, number) => {
            let mut runs = Vec::new();
            let mut start = None;
            for (i, b) in bytes.iter().chain([&b' ']).enumerate() {
                match (b.is_ascii_digit(), start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        runs.push(s..i);
                        start = None;
                    }
                    _ => {}
                }
            }
            if runs.is_empty() {
                return;
            }
            let range = runs[run.index(runs.len())].clone();
            let number = NUMBERS[number.index(NUMBERS.len())].as_bytes();
            bytes.splice(range, number.iter().copied());
        }
    }
}

/// The sample case's bytes in `ext`, its `.npy` members changed by `mutations` (for `.npz`, so that the
/// archive's checksums still hold and the members' headers are what is tested) or the whole file (otherwise),
/// then cut to `cut` of its length if given.
fn mutated_file(
    dir: &tempfile::TempDir,
    ext: &str,
    member: prop::sample::Index,
    mutations: &[Mutation],
    cut: Option<prop::sample::Index>,
) -> PathBuf {
    let case = sample_case(Shape::new(2, 5, 4, 8), 9, true);
    let path = tmp(dir, &format!("mutated.{ext}"));
    let mut bytes = if ext == "npz" {
        let mut members = sample_members();
        let scores = io::case_arrays(&case).pop().unwrap().1;
        members.push(("scores".to_owned(), npy::encode(&scores)));
        let at = member.index(members.len());
        for m in mutations {
            mutate(&mut members[at].1, m);
        }
        write_members(&path, &members);
        std::fs::read(&path).unwrap()
    } else {
        io::write_case(&path, &case).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        for m in mutations {
            mutate(&mut bytes, m);
        }
        bytes
    };
    if let Some(cut) = cut {
        bytes.truncate(cut.index(bytes.len() + 1));
    }
    std::fs::write(&path, &bytes).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]
    /// Byte flips, removals, insertions, numbers in headers replaced, and truncation, in every format: the file
    /// reads as a valid case or is refused with an error that names it, and nothing panics.
    #[test]
    fn mutated_files_are_read_or_refused_cleanly(
        ext in prop::sample::select(vec!["npz", "safetensors", "json"]),
        member in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = mutated_file(&dir, ext, member, &mutations, cut);
        if let Err(error) = io::read_case(&path) {
            let text = error.to_string();
            let prefix = format!("{}: ", path.display());
            prop_assert!(text.starts_with(&prefix) && text.len() > prefix.len(), "{}", text);
        }
    }

    /// Scores written by another tool (`judge check --output`), as `.npy`, changed in the same ways.
    #[test]
    fn mutated_npy_files_are_read_or_refused_cleanly(
        mutations in prop::collection::vec(mutation(), 1..4),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let mut bytes = npy::encode(&RawArray::f32(vec![2, 5], &[0.5; 10]));
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        if let Ok(array) = npy::parse(&bytes) {
            // What parses is self-consistent: the data holds what the dimensions promise.
            if let Some(size) = array.dtype.size() {
                prop_assert_eq!(array.bytes.len(), array.element_count() * size);
            }
        }
    }
}
