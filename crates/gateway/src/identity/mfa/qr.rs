//! The enrollment URI as an SVG QR code (the `qrcode` crate's SVG renderer, medium error
//! correction), to be shown as an image: no script, no external reference.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// `text` as a standalone SVG document; empty only if `text` is too long for any QR version,
/// which an `otpauth://` URI never is.
pub(super) fn svg(text: &str) -> String {
    match QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a QR code");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_enrollment_uri_becomes_an_svg_document() {
        let out = super::svg("otpauth://totp/Palisade:ann%40example.com?secret=GEZDGNBVGY3TQOJQ");
        assert!(out.starts_with("<?xml"), "{}", &out[..40]);
        assert!(out.contains("<svg") && out.contains("<path"));
        assert!(!out.contains("<script"));
    }
}
