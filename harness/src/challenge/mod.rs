//! Everything specific to the TurboQuant attention-scores challenge: how inputs are generated, the f64 oracle,
//! the default tolerance, the named suites, and how good the compressed estimate is. A second challenge would be
//! a sibling of this module.

pub mod generate;
pub mod linalg;
pub mod lloyd_max;
pub mod oracle;
pub mod quality;
pub mod rng;
pub mod suites;

use crate::check::Tolerance;

/// The public challenge's tolerance: |x − ref| ≤ 1e-3 + 1e-3·|ref|.
pub const DEFAULT_TOLERANCE: Tolerance = Tolerance {
    atol: 1e-3,
    rtol: 1e-3,
};

/// The precision our own f32 variants must reach in their tests (relative Frobenius error against the
/// oracle), far tighter than the default tolerance, so a precision regression cannot hide behind it.
pub const OWN_VARIANT_REL_FROBENIUS: f64 = 1e-5;
