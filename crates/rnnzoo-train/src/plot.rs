//! Learning-curve plots (SVG): named (step, value) curves on one chart.

use std::path::Path;

use plotters::prelude::*;

/// A named curve of (step, value) points.
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// Draws curves on one chart into an SVG file.
pub fn draw(path: &Path, title: &str, y_label: &str, curves: &[Curve]) -> Result<(), String> {
    let points = curves.iter().flat_map(|c| c.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        if y.is_finite() {
            y_min = y_min.min(y);
            y_max = y_max.max(y);
        }
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, (y_min - pad)..(y_max + pad))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(y_label)
        .draw()
        .map_err(|e| err(&e))?;
    for (i, curve) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(curve.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Writes an SVG document to `path`, rasterised to a `width` x `height` PNG through resvg
/// (which finds the system's fonts; plotters' bitmap backend would need a font library at
/// build time) when the file name ends in `.png`. Written atomically.
pub fn write_svg_or_png(path: &Path, svg: &str, width: u32, height: u32) -> Result<(), String> {
    let write = |bytes: &[u8]| {
        rnnzoo_models::weights::write_atomic(path, bytes)
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        let mut options = resvg::usvg::Options::default();
        let fonts = options.fontdb_mut();
        fonts.load_system_fonts();
        // `sans-serif` maps to Arial unless told otherwise: take an installed sans face (or any).
        let families: Vec<String> = fonts
            .faces()
            .filter_map(|f| f.families.first().map(|(name, _)| name.clone()))
            .collect();
        if let Some(family) = families
            .iter()
            .find(|f| f.contains("Sans") && !f.contains("Mono"))
            .or(families.first())
        {
            fonts.set_sans_serif_family(family.clone());
        }
        let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())?;
        let mut pixmap = resvg::tiny_skia::Pixmap::new(width, height)
            .ok_or_else(|| format!("a {width}x{height} image is too large"))?;
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::default(),
            &mut pixmap.as_mut(),
        );
        write(&pixmap.encode_png().map_err(|e| e.to_string())?)
    } else {
        write(svg.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_with_both_curves() {
        let curve = |label: &str, points: Vec<(f64, f64)>| Curve {
            label: label.into(),
            points,
        };
        let curves = [
            curve(
                "train loss",
                (1..=5).map(|s| (s as f64 * 10.0, 3.0 / s as f64)).collect(),
            ),
            curve(
                "valid loss",
                [2, 4]
                    .iter()
                    .map(|&s| (s as f64 * 10.0, 3.5 / s as f64))
                    .collect(),
            ),
        ];
        let path = std::env::temp_dir().join(format!("rnnzoo-plot-{}.svg", std::process::id()));
        draw(&path, "run", "loss (nats/token)", &curves).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("train loss") && svg.contains("valid loss")
        );
        assert!(svg.matches("<polyline").count() >= 2, "one line per curve");
        std::fs::remove_file(path).unwrap();
    }
}
