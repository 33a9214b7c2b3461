//! Reading audio files into mono samples at the features' rate: WAV (`hound`), Ogg Vorbis
//! (`lewton`) and FLAC (`claxon`), any sample rate and channel count (channels averaged),
//! resampled with `rubato`'s FFT resampler.

use std::fs::File;
use std::io::BufReader;
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

/// Reads a WAV, Ogg Vorbis or FLAC file (chosen by its first bytes, not its name) as mono.
pub fn read(path: &Path) -> Result<Audio, AudioError> {
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut f = File::open(path).map_err(|e| error(path, e))?;
        f.read_exact(&mut magic)
            .map_err(|_| error(path, "too short to be an audio file"))?;
    }
    let audio = match &magic {
        b"RIFF" => read_wav(path)?,
        b"OggS" => read_ogg(path)?,
        b"fLaC" => read_flac(path)?,
        _ => {
            return Err(error(
                path,
                "not a WAV, Ogg Vorbis or FLAC file (unknown header)",
            ));
        }
    };
    if audio.rate == 0 {
        return Err(error(path, "sample rate 0"));
    }
    Ok(audio)
}

fn read_wav(path: &Path) -> Result<Audio, AudioError> {
    let reader = hound::WavReader::open(path).map_err(|e| error(path, e))?;
    let spec = reader.spec();
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| error(path, e))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.max(1) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| error(path, e))?
        }
    };
    Ok(Audio {
        samples: mix_down(&interleaved, spec.channels as usize),
        rate: spec.sample_rate,
    })
}

fn read_ogg(path: &Path) -> Result<Audio, AudioError> {
    let file = File::open(path).map_err(|e| error(path, e))?;
    let mut reader = lewton::inside_ogg::OggStreamReader::new(BufReader::new(file))
        .map_err(|e| error(path, e))?;
    let channels = reader.ident_hdr.audio_channels as usize;
    let rate = reader.ident_hdr.audio_sample_rate;
    let mut interleaved = Vec::new();
    while let Some(packet) = reader.read_dec_packet_itl().map_err(|e| error(path, e))? {
        interleaved.extend(packet.iter().map(|&s| s as f32 / 32768.0));
    }
    Ok(Audio {
        samples: mix_down(&interleaved, channels),
        rate,
    })
}

fn read_flac(path: &Path) -> Result<Audio, AudioError> {
    let mut reader = claxon::FlacReader::open(path).map_err(|e| error(path, e))?;
    let info = reader.streaminfo();
    let scale = 1.0 / (1u64 << (info.bits_per_sample.max(1) - 1)) as f32;
    let interleaved: Vec<f32> = reader
        .samples()
        .map(|s| s.map(|v| v as f32 * scale))
        .collect::<Result<_, _>>()
        .map_err(|e| error(path, e))?;
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
}
