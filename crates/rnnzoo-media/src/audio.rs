//! Reading audio files into mono samples at the features' rate: WAV (`hound`), Ogg Vorbis
//! (`lewton`) and FLAC (`claxon`), any sample rate from 1 to 768 kHz and any channel count (channels averaged),
//! resampled with `rubato`'s FFT resampler.

use std::io::Cursor;
use std::path::Path;

use rubato::{FftFixedIn, Resampler};

/// Mono samples in `[-1, 1]` and their rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// The samples.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub rate: u32,
}

/// Why an audio file could not be read; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct AudioError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

fn error(path: &Path, message: impl std::fmt::Display) -> AudioError {
    AudioError {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Averages interleaved channels into one.
fn mix_down(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// The sample rates accepted: a header outside them is damaged (and the resampler's filters
/// would grow without bound for absurd ratios).
pub const RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// Reads a WAV, Ogg Vorbis or FLAC file (chosen by its first bytes, not its name) as mono.
pub fn read(path: &Path) -> Result<Audio, AudioError> {
    let bytes = std::fs::read(path).map_err(|e| error(path, e))?;
    decode(&bytes).map_err(|message| error(path, message))
}

/// Decodes WAV, Ogg Vorbis or FLAC bytes (chosen by their first bytes) as mono; the error says
/// what is wrong, without a file name.
pub fn decode(bytes: &[u8]) -> Result<Audio, String> {
    let audio = match bytes.get(..4) {
        Some(b"RIFF") => decode_wav(bytes),
        Some(b"OggS") => decode_ogg(bytes),
        Some(b"fLaC") => decode_flac(bytes),
        None => return Err("too short to be an audio file".into()),
        Some(_) => return Err("not a WAV, Ogg Vorbis or FLAC file (unknown header)".into()),
    }?;
    if !RATES.contains(&audio.rate) {
        return Err(format!(
            "sample rate {} Hz (expected {} to {} Hz)",
            audio.rate,
            RATES.start(),
            RATES.end()
        ));
    }
    Ok(audio)
}

/// The scale that maps `bits`-bit integer samples into `[-1, 1]`; a bit depth outside 1..=32
/// (which only a damaged header declares) is an error rather than an overflowing shift.
fn int_scale(bits: u32) -> Result<f32, String> {
    if !(1..=32).contains(&bits) {
        return Err(format!("{bits} bits per sample"));
    }
    Ok(1.0 / (1u64 << (bits - 1)) as f32)
}

fn decode_wav(bytes: &[u8]) -> Result<Audio, String> {
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err("0 channels".into());
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?,
        hound::SampleFormat::Int => {
            let scale = int_scale(spec.bits_per_sample as u32)?;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?
        }
    };
    Ok(Audio {
        samples: mix_down(&interleaved, spec.channels as usize),
        rate: spec.sample_rate,
    })
}

fn decode_ogg(bytes: &[u8]) -> Result<Audio, String> {
    let mut reader =
        lewton::inside_ogg::OggStreamReader::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let channels = reader.ident_hdr.audio_channels as usize;
    let rate = reader.ident_hdr.audio_sample_rate;
    let mut interleaved = Vec::new();
    while let Some(packet) = reader.read_dec_packet_itl().map_err(|e| e.to_string())? {
        interleaved.extend(packet.iter().map(|&s| s as f32 / 32768.0));
    }
    Ok(Audio {
        samples: mix_down(&interleaved, channels),
        rate,
    })
}

fn decode_flac(bytes: &[u8]) -> Result<Audio, String> {
    let mut reader = claxon::FlacReader::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let info = reader.streaminfo();
    let scale = int_scale(info.bits_per_sample)?;
    let interleaved: Vec<f32> = reader
        .samples()
        .map(|s| s.map(|v| v as f32 * scale))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    Ok(Audio {
        samples: mix_down(&interleaved, info.channels as usize),
        rate: info.sample_rate,
    })
}

/// Resamples to `rate` (unchanged when equal): `round(n · rate / from)` samples.
pub fn resample(audio: &Audio, rate: u32) -> Vec<f32> {
    if audio.rate == rate || audio.samples.is_empty() {
        return audio.samples.clone();
    }
    const CHUNK: usize = 1024;
    let mut resampler = FftFixedIn::<f32>::new(audio.rate as usize, rate as usize, CHUNK, 2, 1)
        .expect("positive sample rates");
    let wanted = (audio.samples.len() as f64 * rate as f64 / audio.rate as f64).round() as usize;
    let delay = resampler.output_delay();
    let mut out: Vec<f32> = Vec::with_capacity(wanted + delay + CHUNK);
    let mut rest: &[f32] = &audio.samples;
    while rest.len() >= resampler.input_frames_next() {
        let (chunk, tail) = rest.split_at(resampler.input_frames_next());
        let produced = resampler.process(&[chunk], None).expect("mono chunk");
        out.extend_from_slice(&produced[0]);
        rest = tail;
    }
    if !rest.is_empty() {
        let produced = resampler
            .process_partial(Some(&[rest]), None)
            .expect("mono chunk");
        out.extend_from_slice(&produced[0]);
    }
    // Flush the filter's delay.
    while out.len() < wanted + delay {
        let produced = resampler
            .process_partial::<&[f32]>(None, None)
            .expect("flush");
        if produced[0].is_empty() {
            break;
        }
        out.extend_from_slice(&produced[0]);
    }
    out.drain(..delay.min(out.len()));
    out.resize(wanted, 0.0);
    out
}

/// Reads `path` and resamples it to `rate`.
pub fn load(path: &Path, rate: u32) -> Result<Vec<f32>, AudioError> {
    let audio = read(path)?;
    if audio.samples.is_empty() {
        return Err(error(path, "no samples"));
    }
    Ok(resample(&audio, rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f32, seconds: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn a_stereo_wav_reads_as_mono_and_resamples_to_the_length_and_pitch() {
        let dir = std::env::temp_dir().join(format!("rnnzoo-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tone.wav");
        let (rate, freq) = (22_050u32, 440.0f32);
        let mono = sine(rate, freq, 0.5);
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for &s in &mono {
            // Left the tone, right silence: the mix is half the tone.
            w.write_sample((s * 32767.0) as i16).unwrap();
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        let audio = read(&path).unwrap();
        assert_eq!(audio.rate, rate);
        assert_eq!(audio.samples.len(), mono.len());
        assert!((audio.samples[100] - mono[100] / 2.0).abs() < 1e-3);
        let resampled = load(&path, 16_000).unwrap();
        assert_eq!(resampled.len(), 8_000);
        // The resampled tone still matches a 440 Hz sine at 16 kHz (away from the edges).
        let expected = sine(16_000, freq, 0.5);
        let err = (1000..7000)
            .map(|i| (resampled[i] - expected[i] / 2.0).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 0.02, "resampling error {err}");
        std::fs::write(dir.join("bad.wav"), b"RIFF0000garbage").unwrap();
        let e = read(&dir.join("bad.wav")).unwrap_err().to_string();
        assert!(e.contains("bad.wav"), "{e}");
        std::fs::write(dir.join("text.ogg"), b"hello world").unwrap();
        let e = read(&dir.join("text.ogg")).unwrap_err().to_string();
        assert!(e.contains("text.ogg") && e.contains("not a WAV"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn damaged_or_foreign_bytes_are_errors_not_panics() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = Vec::new();
        {
            let mut w = hound::WavWriter::new(Cursor::new(&mut wav), spec).unwrap();
            for i in 0..100 {
                w.write_sample(i as i16).unwrap();
            }
            w.finalize().unwrap();
        }
        assert_eq!(decode(&wav).unwrap().samples.len(), 100);
        // The sample rate (bytes 24..28) set to 10 Hz, and the byte rate (28..32) to match.
        let mut slow = wav.clone();
        slow[24..28].copy_from_slice(&10u32.to_le_bytes());
        slow[28..32].copy_from_slice(&20u32.to_le_bytes());
        let err = decode(&slow).unwrap_err();
        assert!(err.contains("sample rate 10 Hz"), "{err}");
        for bad in [
            &wav[..30],
            b"RIF".as_slice(),
            b"OggS\0\0\0\0",
            b"fLaC",
            b"ID3\x03....",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let missing = Path::new("no-such-dir/clip.wav");
        assert!(
            read(missing)
                .unwrap_err()
                .to_string()
                .starts_with("no-such-dir/clip.wav: ")
        );
    }
}
