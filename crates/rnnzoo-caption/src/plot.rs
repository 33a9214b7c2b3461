//! Where the decoder looked: one panel per generated word (and the final `</s>`), the image
//! with the cells of the CNN's grid it attended to least darkened, the word beneath. Written as
//! SVG, or as PNG through resvg when the file name ends in `.png`.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use crate::inference::Captioned;

/// Pixels per image pixel in the panels.
const SCALE: usize = 2;
/// Height of a panel's label.
const LABEL: usize = 22;

/// Draws the attention of `captioned` (an image of `size` pixels, a `grid` x `grid` memory) to
/// `path`.
///
/// # Errors
/// When the caption has no attention weights or the file cannot be written.
pub fn attention_over_image(
    captioned: &Captioned,
    size: usize,
    grid: usize,
    path: &Path,
) -> Result<(), String> {
    if captioned.attention.is_empty() {
        return Err(
            "the model has no attention (`model.attention: none`), so there is nothing to draw"
                .into(),
        );
    }
    let mut png = Vec::new();
    image::RgbImage::from_raw(size as u32, size as u32, captioned.pixels.clone())
        .ok_or("the image has the wrong number of pixels")?
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    let data = base64::engine::general_purpose::STANDARD.encode(&png);
    let side = size * SCALE;
    let cell = side as f64 / grid as f64;
    let panels = captioned.attention.len();
    let (width, height) = (panels * (side + 8) + 8, side + LABEL + 16);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"><rect width="100%" height="100%" fill="white"/>"#
    );
    for (p, weights) in captioned.attention.iter().enumerate() {
        let x0 = 8 + p * (side + 8);
        let _ = write!(
            svg,
            r#"<image x="{x0}" y="8" width="{side}" height="{side}" style="image-rendering:pixelated" href="data:image/png;base64,{data}"/>"#
        );
        let max = weights.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
        for (i, &w) in weights.iter().enumerate().take(grid * grid) {
            let (gy, gx) = (i / grid, i % grid);
            let shade = 0.75 * (1.0 - w / max);
            let _ = write!(
                svg,
                r#"<rect x="{:.2}" y="{:.2}" width="{cell:.2}" height="{cell:.2}" fill="black" fill-opacity="{shade:.3}"/>"#,
                x0 as f64 + gx as f64 * cell,
                8.0 + gy as f64 * cell
            );
        }
        let word = captioned.words.get(p).map_or("</s>", String::as_str);
        let word = word
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" font-family="sans-serif" font-size="14" text-anchor="middle">{word}</text>"#,
            x0 + side / 2,
            side + LABEL + 6
        );
    }
    svg.push_str("</svg>");
    rnnzoo_train::plot::write_svg_or_png(path, &svg, width as u32, height as u32)
}
