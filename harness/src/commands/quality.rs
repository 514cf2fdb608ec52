//! `judge quality`: how close the compressed estimate is to the true scores, for several codebook sizes, with
//! and without the QJL correction.

use serde::Serialize;
use solutions::{InputError, Shape};

use crate::challenge::generate::GenerateError;
use crate::challenge::lloyd_max::LloydMaxError;
use crate::challenge::quality::{Quality, quality as measure};
use crate::challenge::suites::CaseSpec;
use crate::cli::QualityArgs;
use crate::io::write_atomically;
use crate::table::{Align, Table};
use crate::verdict::ExitStatus;

use super::CommandError;

#[derive(Serialize)]
struct Row {
    shape: Shape,
    generator: String,
    quality: Quality,
}

pub(super) fn quality(args: &QualityArgs) -> Result<ExitStatus, CommandError> {
    if let Some(path) = &args.json {
        super::run::check_writable("--json", path)?;
    }
    let mut table = Table::new(&[
        ("C", Align::Right),
        ("index bits", Align::Right),
        ("estimate", Align::Left),
        ("slope", Align::Right),
        ("bias", Align::Right),
        ("rel RMSE", Align::Right),
        ("correlation", Align::Right),
    ]);
    let mut rows = Vec::new();
    if !args.generator.keeps_true_keys() {
        return Err(CommandError::Usage(format!(
            "--generator: generator {} does not keep the true keys; use turboquant or challenge",
            args.generator
        )));
    }
    // A size named twice is measured once.
    let levels = super::once_each(args.levels.iter().copied(), |a, b| a == b);
    // Every shape is checked before the first is measured, and an error names the option that set it.
    for &c in &levels {
        if let Err(e) = Shape::new(args.b, args.s, args.d, c).validate() {
            let option = match &e {
                InputError::ShapeOutOfRange { field: "B", .. } => "--b",
                InputError::ShapeOutOfRange { field: "S", .. } => "--s",
                InputError::ShapeOutOfRange { field: "D", .. } => "--d",
                _ => "--levels",
            };
            return Err(CommandError::Usage(format!("{option}: {e}")));
        }
    }
    for c in levels {
        let spec = CaseSpec {
            name: "quality",
            shape: Shape::new(args.b, args.s, args.d, c),
            generator: args.generator,
            tweak: None,
        };
        let case = spec.build(None, args.seed).map_err(|source| match source {
            // The same D for every size: the first size reaches it before anything is generated.
            GenerateError::Codebook(e @ LloydMaxError::DimensionTooSmall { .. }) => {
                CommandError::Usage(format!("--d: generator {}: {e}", args.generator))
            }
            source => CommandError::Generate {
                case: format!("C={c}"),
                source,
            },
        })?;
        let q = measure(&case).ok_or_else(|| {
            CommandError::Usage(format!(
                "generator {} kept no true keys for C={c}",
                args.generator
            ))
        })?;
        let bits = format!("{:.2}", (c as f64).log2());
        for (label, stats) in [("MSE only", q.mse_only), ("MSE + QJL", q.mse_qjl)] {
            table.push(vec![
                c.to_string(),
                bits.clone(),
                label.to_owned(),
                format!("{:.4}", stats.slope),
                format!("{:+.2e}", stats.bias),
                format!("{:.4}", stats.relative_rmse),
                format!("{:.4}", stats.correlation),
            ]);
        }
        rows.push(Row {
            shape: spec.shape,
            generator: args.generator.to_string(),
            quality: q,
        });
    }
    crate::outln!(
        "estimate vs true scores Q·Kᵀ ({} keys, B={} S={} D={}, seed {})",
        args.generator,
        args.b,
        args.s,
        args.d,
        args.seed
    );
    crate::out!("{}", table.render_text());
    crate::outln!(
        "slope: least-squares fit estimate = slope·truth (1 = unbiased scale); bias: mean of (estimate − truth)·sign(truth), in score units (negative: pulled toward 0); rel RMSE: RMSE / RMS of true scores.\nMSE + QJL stores, per coordinate, the index bits plus one sign bit, and one norm (gamma) per key."
    );
    if let Some(path) = &args.json {
        let text =
            serde_json::to_vec_pretty(&rows).map_err(|e| CommandError::Usage(e.to_string()))?;
        write_atomically(path, &text).map_err(CommandError::Output)?;
        crate::outln!("statistics written to {}", path.display());
    }
    Ok(ExitStatus::Success)
}
