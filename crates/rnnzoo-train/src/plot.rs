//! Figures as SVG (and PNG through resvg): learning curves with reference levels, and the
//! final metric per variant with error bars. Legends sit beside the plotting area, never on
//! the curves.

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::element::ErrorBar;
use plotters::prelude::*;

/// A named curve of (step, value) points.
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// A reference value drawn as a dashed horizontal line across the curves (a baseline's score,
/// or chance level).
pub struct Level {
    /// Legend label.
    pub label: String,
    /// Its value on the y axis.
    pub value: f64,
}

/// One row of an error-bar figure: a mean and, over more than one seed, its ± spread.
pub struct Bar {
    /// Row label.
    pub label: String,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation, when there is more than one seed.
    pub sd: Option<f64>,
}

/// An SVG document and its size in pixels (the size its PNG is rendered at).
pub struct Figure {
    /// The document.
    pub svg: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 500;
/// Width of the legend column right of the curves (the least: it widens to its labels).
const LEGEND: u32 = 230;
/// Where the legend's first entry sits, and the height of each entry.
const LEGEND_TOP: u32 = 50;
const LEGEND_ROW: u32 = 22;
/// Where a legend label starts in its column, and the widest character of its 14 px font.
const LEGEND_TEXT_X: u32 = 38;
const LEGEND_CHAR: u32 = 8;

/// The range `values` span, padded by 5 % (or a little when they are all equal).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3 * hi.abs().max(1.0));
    (lo - pad, hi + pad)
}

/// Curves over steps, with each level as a dashed line inside the plotted range, as an SVG
/// document; the legend is a column to the right of the plotting area.
pub fn curves_svg(
    title: &str,
    y_label: &str,
    curves: &[Curve],
    levels: &[Level],
) -> Result<Figure, String> {
    let x_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let (y_lo, y_hi) = padded_range(
        curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.1))
            .chain(levels.iter().map(|l| l.value)),
    );
    // The legend column widens to its longest label and the figure grows down to its last
    // entry, so a sweep of many variants keeps every label whole.
    let labels: Vec<String> = curves
        .iter()
        .map(|c| c.label.clone())
        .chain(
            levels
                .iter()
                .map(|l| format!("{} ({:.3})", l.label, l.value)),
        )
        .collect();
    let legend_width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .map_or(LEGEND, |chars| {
            LEGEND.max(LEGEND_TEXT_X + LEGEND_CHAR * chars as u32 + 10)
        });
    let width = WIDTH - LEGEND + legend_width;
    let height = HEIGHT.max(LEGEND_TOP + LEGEND_ROW * (curves.len() + levels.len()) as u32 + 10);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, y_lo..y_hi)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(y_label)
            .draw()
            .map_err(|x| e(&x))?;
        let mut entries = Vec::new();
        for (i, curve) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|x| e(&x))?;
            entries.push((color, false));
        }
        for (i, level) in levels.iter().enumerate() {
            let color = Palette99::pick(curves.len() + i).to_rgba();
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, level.value), (x_max, level.value)],
                    8,
                    5,
                    color.stroke_width(2),
                ))
                .map_err(|x| e(&x))?;
            entries.push((color, true));
        }
        let font = ("sans-serif", 14).into_font().color(&BLACK);
        for (i, ((color, dashed), label)) in entries.iter().zip(&labels).enumerate() {
            let y = (LEGEND_TOP + LEGEND_ROW * i as u32) as i32;
            let style = color.stroke_width(2);
            if *dashed {
                for x in [5, 17] {
                    legend
                        .draw(&PathElement::new(vec![(x, y), (x + 8, y)], style))
                        .map_err(|x| e(&x))?;
                }
            } else {
                legend
                    .draw(&PathElement::new(vec![(5, y), (30, y)], style))
                    .map_err(|x| e(&x))?;
            }
            legend
                .draw(&Text::new(
                    label.clone(),
                    (LEGEND_TEXT_X as i32, y - 7),
                    font.clone(),
                ))
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok(Figure { svg, width, height })
}

/// Draws curves on one chart into an SVG file (a run's learning curves).
pub fn draw(path: &Path, title: &str, y_label: &str, curves: &[Curve]) -> Result<(), String> {
    let figure = curves_svg(title, y_label, curves, &[])?;
    write_svg_or_png(path, &figure.svg, figure.width, figure.height)
}

/// One row per bar, top to bottom: a dot at the mean and a bar of ± one standard deviation
/// (rows without a spread get only the dot), as an SVG document.
pub fn error_bars_svg(title: &str, x_label: &str, bars: &[Bar]) -> Result<Figure, String> {
    let (x_lo, x_hi) = padded_range(bars.iter().flat_map(|b| {
        let sd = b.sd.unwrap_or(0.0);
        [b.mean - sd, b.mean + sd]
    }));
    let n = bars.len().max(1) as i32;
    let longest = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(4);
    let height = (120 + 36 * n as u32).max(260);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(20 + 8 * longest as u32)
            // An i32 range includes its end: 0..n - 1 is n rows (0..n drew an empty top row).
            .build_cartesian_2d(x_lo..x_hi, (0..n - 1).into_segmented())
            .map_err(|x| e(&x))?;
        // Row i of the figure is bar i counted from the top.
        let label_of = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => bars
                .get((n - 1 - i) as usize)
                .map_or(String::new(), |b| b.label.clone()),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_max_light_lines(2)
            .y_labels(n as usize)
            .y_label_formatter(&label_of)
            .x_desc(x_label)
            .draw()
            .map_err(|x| e(&x))?;
        for (i, bar) in bars.iter().enumerate() {
            let row = SegmentValue::CenterOf(n - 1 - i as i32);
            let color = Palette99::pick(i).to_rgba();
            let sd = bar.sd.unwrap_or(0.0);
            // The error bar draws its own dot at the mean (of half its cap width).
            chart
                .draw_series(std::iter::once(ErrorBar::new_horizontal(
                    row,
                    bar.mean - sd,
                    bar.mean,
                    bar.mean + sd,
                    color.filled().stroke_width(2),
                    12,
                )))
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok(Figure {
        svg,
        width: WIDTH,
        height,
    })
}

/// Writes a figure to `<stem>.svg` and its rendering to `<stem>.png`, both atomically.
pub fn write_figure(stem: &Path, figure: &Figure) -> Result<(), String> {
    for extension in ["svg", "png"] {
        let path = stem.with_extension(extension);
        write_svg_or_png(&path, &figure.svg, figure.width, figure.height)?;
    }
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
    fn curves_levels_and_error_bars_draw_with_the_legend_outside() {
        let curve = |label: &str, points: Vec<(f64, f64)>| Curve {
            label: label.into(),
            points,
        };
        let curves = [
            curve(
                "lstm",
                (1..=5).map(|s| (s as f64 * 10.0, 3.0 / s as f64)).collect(),
            ),
            curve(
                "gru",
                [2, 4]
                    .iter()
                    .map(|&s| (s as f64 * 10.0, 3.5 / s as f64))
                    .collect(),
            ),
        ];
        // A level far below every curve still lies inside the plotted range.
        let levels = [Level {
            label: "KN-5".into(),
            value: 0.1,
        }];
        let svg = curves_svg("run", "loss (nats/token)", &curves, &levels)
            .unwrap()
            .svg;
        assert!(svg.contains("lstm") && svg.contains("gru") && svg.contains("KN-5 (0.100)"));
        assert!(
            svg.matches("<polyline").count() >= 3,
            "two curves and a level"
        );
        assert!(svg.contains("0.1"), "the y axis reaches the level");
        // Legend text starts right of the plotting area.
        let legend_x: Vec<u32> = svg
            .split("<text")
            .filter_map(|t| t.split("</text>").next())
            .filter(|t| {
                let content = t.rsplit('>').next().unwrap_or_default().trim();
                content == "lstm" || content == "gru"
            })
            .filter_map(|t| t.split("x=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(legend_x.len(), 2, "{svg}");
        assert!(legend_x.iter().all(|&x| x > WIDTH - LEGEND), "{legend_x:?}");

        let bars = [
            Bar {
                label: "lstm".into(),
                mean: 1.5,
                sd: Some(0.1),
            },
            Bar {
                label: "n-gram KN-5 (baseline)".into(),
                mean: 1.7,
                sd: None,
            },
        ];
        let figure = error_bars_svg("final", "test loss", &bars).unwrap();
        let svg = &figure.svg;
        assert!(svg.contains("lstm") && svg.contains("KN-5 (baseline)"));
        assert_eq!(figure.width, WIDTH);
        assert!(svg.contains(&format!("width=\"{WIDTH}\" height=\"{}\"", figure.height)));
        let stem = std::env::temp_dir().join(format!("rnnzoo-plot-{}", std::process::id()));
        write_figure(&stem, &figure).unwrap();
        let png = std::fs::read(stem.with_extension("png")).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        assert!(std::fs::read_to_string(stem.with_extension("svg")).unwrap() == *svg);
        std::fs::remove_file(stem.with_extension("png")).unwrap();
        std::fs::remove_file(stem.with_extension("svg")).unwrap();
    }

    #[test]
    fn a_long_legend_widens_and_lengthens_the_figure_to_keep_every_label() {
        let label = |i: usize| format!("problem=adding,delay={i},cell=lstm");
        let curves: Vec<Curve> = (0..30)
            .map(|i| Curve {
                label: label(i),
                points: vec![(0.0, 0.1), (100.0, i as f64 / 30.0)],
            })
            .collect();
        let levels = [Level {
            label: "chance".into(),
            value: 0.125,
        }];
        let figure = curves_svg("memory", "accuracy", &curves, &levels).unwrap();
        let rows = attribute(&figure.svg, "text", "font-size", "y");
        let last = label(29);
        let text = figure
            .svg
            .split("<text ")
            .find(|t| t.split(['>', '<']).nth(1).map(str::trim) == Some(last.as_str()))
            .expect("the last curve is in the legend");
        let number = |name: &str| attribute(&format!("<text {text}"), "text", "", name)[0];
        let (x, y) = (number("x") as u32, number("y"));
        assert!(
            x + LEGEND_CHAR * last.len() as u32 <= figure.width,
            "{x} {}",
            figure.width
        );
        assert!(y + 14.0 <= figure.height as f64, "{y} {}", figure.height);
        assert!(figure.height > HEIGHT && figure.width > WIDTH);
        assert!(rows.iter().all(|&r| r <= figure.height as f64));
        assert!(figure.svg.contains(&format!(
            "width=\"{}\" height=\"{}\"",
            figure.width, figure.height
        )));
    }

    /// The numbers of attribute `name` over the SVG elements `<tag ...>` that carry `filter`.
    fn attribute(svg: &str, tag: &str, filter: &str, name: &str) -> Vec<f64> {
        svg.split(&format!("<{tag} "))
            .skip(1)
            .filter_map(|t| t.split('>').next())
            .filter(|t| t.contains(filter))
            .filter_map(|t| {
                // A space before every attribute, the first one included.
                format!(" {t}")
                    .split(&format!(" {name}=\""))
                    .nth(1)?
                    .split('"')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }

    #[test]
    fn error_bar_rows_fill_the_plot_evenly_with_no_empty_row() {
        let bars: Vec<Bar> = ["rnn", "lstm", "gru"]
            .iter()
            .enumerate()
            .map(|(i, label)| Bar {
                label: (*label).into(),
                mean: 0.2 + 0.3 * i as f64,
                sd: Some(0.05),
            })
            .collect();
        let svg = error_bars_svg("final", "accuracy", &bars).unwrap().svg;
        // The dots at the means, top to bottom; the first bar is on top.
        let rows = attribute(&svg, "circle", "r=", "cy");
        let columns = attribute(&svg, "circle", "r=", "cx");
        assert_eq!(rows.len(), 3, "{svg}");
        assert_eq!(columns.len(), 3, "{svg}");
        assert!(columns.windows(2).all(|w| w[0] < w[1]), "{columns:?}");
        assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
        let spacing = rows[1] - rows[0];
        assert!((rows[2] - rows[1] - spacing).abs() <= 1.5, "{rows:?}");
        // The vertical grid lines span the plotting area: half a row above the first dot and
        // half a row below the last one.
        let top = attribute(&svg, "line", "opacity=\"0.1\"", "y2")
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        let bottom = attribute(&svg, "line", "opacity=\"0.1\"", "y1")
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(top.is_finite() && bottom.is_finite(), "{svg}");
        assert!(
            (rows[0] - top - spacing / 2.0).abs() <= 1.5,
            "top {top}, rows {rows:?}"
        );
        assert!(
            (bottom - rows[2] - spacing / 2.0).abs() <= 1.5,
            "bottom {bottom}, rows {rows:?}"
        );
    }
}
