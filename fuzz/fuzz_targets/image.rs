//! The image reader: PNG, JPEG or SVG bytes decoded to a square of side 1..=32 (the first
//! byte) as captioning reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnnzoo_media::images;

fuzz_target!(|data: &[u8]| {
    let Some((&side, rest)) = data.split_first() else {
        return;
    };
    let size = 1 + side as usize % 32;
    if let Ok(rgb) = images::decode_rgb(rest, size) {
        assert_eq!(rgb.len(), size * size * 3);
    }
});
