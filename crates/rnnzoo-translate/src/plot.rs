//! The attention weights of one translation as a heat map: target pieces down the side,
//! source pieces along the top, darker where the decoder attended more. Drawn with plotters
//! as SVG; written as PNG through resvg (which finds the system's fonts) when the file name
//! ends in `.png`.

use std::path::Path;

use plotters::prelude::*;

use crate::inference::Translation;

/// Pixels per cell.
const CELL: u32 = 28;

/// Draws `translation`'s attention to `path` (`.svg`, or `.png`).
///
/// # Errors
/// When the translation has no attention weights or the file cannot be written.
pub fn attention_heat_map(translation: &Translation, path: &Path) -> Result<(), String> {
    let rows = &translation.attention;
    if rows.is_empty() {
        return Err(
            "the model has no attention (`model.attention: none`), so there is no heat map".into(),
        );
    }
    let mut targets = translation.target_tokens.clone();
    targets.push("</s>".into());
    let sources = &translation.source_tokens;
    let label = |s: &str| s.trim_end_matches("</w>").to_string();
    let longest = |v: &[String]| {
        v.iter()
            .map(|s| label(s).chars().count())
            .max()
            .unwrap_or(1) as u32
    };
    let (left, top) = (longest(&targets) * 8 + 20, longest(sources) * 8 + 20);
    let width = left + CELL * sources.len().max(1) as u32 + 20;
    let height = top + CELL * rows.len() as u32 + 20;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let font = ("sans-serif", 13).into_font();
        for (i, t) in targets.iter().enumerate().take(rows.len()) {
            let y = (top + CELL * i as u32 + CELL / 2 - 6) as i32;
            root.draw(&Text::new(label(t), (8, y), font.clone().color(&BLACK)))
                .map_err(|e| e.to_string())?;
        }
        for (j, s) in sources.iter().enumerate() {
            let x = (left + CELL * j as u32 + CELL / 2 + 4) as i32;
            let style = font
                .clone()
                .transform(FontTransform::Rotate270)
                .color(&BLACK);
            root.draw(&Text::new(label(s), (x, (top - 8) as i32), style))
                .map_err(|e| e.to_string())?;
        }
        for (i, row) in rows.iter().enumerate() {
            for (j, &w) in row.iter().enumerate() {
                let shade = (255.0 * (1.0 - w.clamp(0.0, 1.0))) as u8;
                let (x, y) = (
                    (left + CELL * j as u32) as i32,
                    (top + CELL * i as u32) as i32,
                );
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL as i32, y + CELL as i32)],
                    RGBColor(shade, shade, shade).filled(),
                ))
                .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    rnnzoo_train::plot::write_svg_or_png(path, &svg, width, height)
}
