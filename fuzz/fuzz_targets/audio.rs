//! The audio reader: WAV, Ogg Vorbis or FLAC bytes, then resampled to 16 kHz as speech reads
//! them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnnzoo_media::audio;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = audio::decode(data) {
        assert!(audio::RATES.contains(&decoded.rate));
        let resampled = audio::resample(&decoded, 16_000);
        let wanted =
            (decoded.samples.len() as f64 * 16_000.0 / decoded.rate as f64).round() as usize;
        assert_eq!(resampled.len(), wanted);
    }
});
