//! Images as the CNN reads them: square RGB bytes (`[size, size, 3]`, row-major) on a white
//! background, from SVG (rasterised by resvg, scaled to fit and centred), PNG or JPEG (decoded
//! by `image`, transparency composited on white, resized to the square). The format is
//! recognised from the file's first bytes, not its name.
//!
//! Rasterising thousands of SVGs takes a while, so each image is cached beside its folder in
//! `.rnnzoo-images/<size>/` and reused while the cached file is newer than the image.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

/// An image that could not be used, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The file is not an image this reader understands, or is damaged.
    #[error("{path}: not a readable image ({message}); PNG, JPEG and SVG are supported")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
}

/// The formats, from the first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
    Svg,
}

fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Format::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Format::Jpeg);
    }
    // SVG is XML: a BOM, whitespace, an XML declaration or comments may come before `<svg`.
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    head.contains("<svg").then_some(Format::Svg)
}

/// Decodes an image file to `size` x `size` RGB bytes on white.
pub fn load_rgb(path: &Path, size: usize) -> Result<Vec<u8>, ImageError> {
    let bytes = std::fs::read(path).map_err(|e| ImageError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    decode_rgb(&bytes, size).map_err(|message| ImageError::Decode {
        path: path.to_path_buf(),
        message,
    })
}

/// Decodes image bytes (PNG, JPEG or SVG) to `size` x `size` RGB bytes on white.
pub fn decode_rgb(bytes: &[u8], size: usize) -> Result<Vec<u8>, String> {
    match sniff(bytes) {
        Some(Format::Svg) => rasterise_svg(bytes, size),
        Some(format) => {
            let format = match format {
                Format::Png => image::ImageFormat::Png,
                _ => image::ImageFormat::Jpeg,
            };
            let decoded =
                image::load_from_memory_with_format(bytes, format).map_err(|e| e.to_string())?;
            let resized = decoded
                .resize_exact(size as u32, size as u32, FilterType::Triangle)
                .to_rgba8();
            Ok(resized
                .pixels()
                .flat_map(|p| {
                    let a = p[3] as u32;
                    // Straight alpha over white.
                    [0, 1, 2].map(|c| ((p[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8)
                })
                .collect())
        }
        None => Err("the first bytes are not PNG, JPEG or SVG".into()),
    }
}

fn rasterise_svg(bytes: &[u8], size: usize) -> Result<Vec<u8>, String> {
    let tree = resvg::usvg::Tree::from_data(bytes, &resvg::usvg::Options::default())
        .map_err(|e| e.to_string())?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size as u32, size as u32)
        .ok_or("the image size must be positive")?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    let s = tree.size();
    let scale = size as f32 / s.width().max(s.height());
    let (dx, dy) = (
        (size as f32 - s.width() * scale) / 2.0,
        (size as f32 - s.height() * scale) / 2.0,
    );
    let transform = resvg::tiny_skia::Transform::from_scale(scale, scale).post_translate(dx, dy);
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    // On an opaque white background the premultiplied pixels are the colours.
    Ok(pixmap
        .pixels()
        .iter()
        .flat_map(|p| [p.red(), p.green(), p.blue()])
        .collect())
}

fn cache_path(path: &Path, size: usize) -> Option<PathBuf> {
    let name = path.file_name()?;
    let mut file = name.to_os_string();
    file.push(".rgb");
    Some(
        path.parent()?
            .join(".rnnzoo-images")
            .join(size.to_string())
            .join(file),
    )
}

/// [`load_rgb`] through the cache: a cached copy newer than the image is read back; otherwise
/// the image is decoded and its copy written (atomically; a folder that cannot be written to is
/// simply not cached).
pub fn load_cached(path: &Path, size: usize) -> Result<Vec<u8>, ImageError> {
    let cache = cache_path(path, size);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(cache), Some(source)) = (&cache, modified(path))
        && modified(cache).is_some_and(|c| c >= source)
        && let Ok(bytes) = std::fs::read(cache)
        && bytes.len() == size * size * 3
    {
        return Ok(bytes);
    }
    let rgb = load_rgb(path, size)?;
    if let Some(cache) = cache
        && cache
            .parent()
            .is_some_and(|dir| std::fs::create_dir_all(dir).is_ok())
    {
        let _ = rnnzoo_data::write_atomic(&cache, &rgb);
    }
    Ok(rgb)
}

/// The pixels of `rgb` (`[size, size, 3]` bytes) as the CNN's `[3, size, size]` values in
/// `[0, 1]`, shifted by `(dx, dy)` pixels (right and down; the uncovered border is white),
/// appended to `out`.
pub fn push_chw(rgb: &[u8], size: usize, (dx, dy): (isize, isize), out: &mut Vec<f32>) {
    for c in 0..3 {
        for y in 0..size as isize {
            for x in 0..size as isize {
                let (sx, sy) = (x - dx, y - dy);
                let inside = (0..size as isize).contains(&sx) && (0..size as isize).contains(&sy);
                let v = if inside {
                    rgb[(sy as usize * size + sx as usize) * 3 + c]
                } else {
                    255
                };
                out.push(v as f32 / 255.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect x="0" y="0" width="5" height="10" fill="rgb(255,0,0)"/></svg>"#;

    #[test]
    fn svg_png_and_jpeg_decode_to_the_square_on_white() {
        let size = 6;
        let svg = decode_rgb(SQUARE.as_bytes(), size).unwrap();
        assert_eq!(svg.len(), size * size * 3);
        // Left half red, right half white.
        assert_eq!(&svg[..3], &[255, 0, 0]);
        assert_eq!(&svg[(size - 1) * 3..size * 3], &[255, 255, 255]);
        // A 4x2 PNG, half transparent on the right: resized to 6x6, composited on white.
        let mut png = image::RgbaImage::new(4, 2);
        for (x, _, p) in png.enumerate_pixels_mut() {
            *p = if x < 2 {
                image::Rgba([0, 0, 255, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            };
        }
        let mut bytes = Vec::new();
        png.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
        let rgb = decode_rgb(&bytes, size).unwrap();
        assert_eq!(&rgb[..3], &[0, 0, 255]);
        assert_eq!(&rgb[(size - 1) * 3..size * 3], &[255, 255, 255]);
        let mut jpeg = Vec::new();
        image::RgbImage::from_pixel(8, 8, image::Rgb([0, 200, 0]))
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        let rgb = decode_rgb(&jpeg, size).unwrap();
        assert!(
            rgb[1] > 180 && rgb[0] < 40 && rgb[2] < 40,
            "{:?}",
            &rgb[..3]
        );
        assert!(decode_rgb(b"GIF89a....", size).is_err());
        assert!(decode_rgb(b"\x89PNG\r\n\x1a\n truncated", size).is_err());
    }

    #[test]
    fn shifts_move_the_pixels_and_fill_with_white() {
        let size = 3;
        let rgb: Vec<u8> = (0..27).map(|i| i as u8).collect();
        let mut out = Vec::new();
        push_chw(&rgb, size, (1, 0), &mut out);
        // Channel 0, row 0: white, then pixels 0 and 1 of the row.
        assert_eq!(&out[..3], &[1.0, 0.0, 3.0 / 255.0]);
        assert_eq!(out.len(), 27);
    }
}
