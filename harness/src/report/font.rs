//! The font the charts are drawn with: DejaVu Sans, embedded in the binary (its licence is in
//! `harness/assets/fonts/`), so PNG text looks the same everywhere and no system font library is needed.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

/// The family name charts ask for; SVG text names it too, so browsers use their own sans-serif.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters (once); `false` if the font data was rejected.
pub fn ensure_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_font_loads() {
        assert!(super::ensure_registered());
    }
}
