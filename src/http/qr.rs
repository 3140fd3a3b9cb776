//! QR codes as PNG images, for people to scan from a screen.

use std::io::Cursor;

use base64::Engine as _;
use image::{ImageFormat, Luma};
use qrcode::QrCode;

use crate::error::ApiError;

/// A PNG of `text` as a QR code, with a quiet zone, about 300 px wide.
pub fn png(text: &str) -> Result<Vec<u8>, ApiError> {
    let code = QrCode::new(text.as_bytes()).map_err(ApiError::internal)?;
    let image = code.render::<Luma<u8>>().min_dimensions(300, 300).quiet_zone(true).build();
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).map_err(ApiError::internal)?;
    Ok(out.into_inner())
}

/// `data:image/png;base64,...` of [`png`].
pub fn data_url(text: &str) -> Result<String, ApiError> {
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png(text)?)))
}
