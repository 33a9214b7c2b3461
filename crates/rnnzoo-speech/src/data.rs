//! The utterances of a run: a manifest of audio files and transcripts, split by whole speakers
//! (seeded), the alphabet of the training transcripts, and every utterance's normalised log-mel
//! features (computed once, on all threads, and cached on disk beside the audio in
//! `.rnnzoo-features/`).
//!
//! A manifest is UTF-8 text, one utterance a line: `path<TAB>transcript`, optionally
//! `<TAB>speaker`; paths are relative to the manifest's folder; blank lines and lines starting
//! with `#` are skipped. LibriSpeech's `*.trans.txt` files and Common Voice's `validated.tsv`
//! are one small conversion away (see the crate README).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::SplitMix64;
use rnnzoo_train::rundir::RunDir;
use serde::{Deserialize, Serialize};

use crate::SpeechError;
use crate::features::{LogMel, normalise};
use crate::text::Alphabet;

/// One manifest line.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The audio file.
    pub path: PathBuf,
    /// What is said.
    pub transcript: String,
    /// Who says it (empty when the manifest has no speaker column).
    pub speaker: String,
}

/// Reads a manifest; a malformed line is an error naming the file and line.
pub fn read_manifest(path: &Path) -> Result<Vec<Entry>, SpeechError> {
    let text = std::fs::read(path).map_err(|e| SpeechError::io(path, e))?;
    let text = String::from_utf8(text).map_err(|e| {
        SpeechError::Other(format!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = |what: &str| {
            SpeechError::Other(format!(
                "{}:{}: {what} (expected `path<TAB>transcript[<TAB>speaker]`)",
                path.display(),
                i + 1
            ))
        };
        if fields.len() < 2 || fields.len() > 3 {
            return Err(bad(&format!("{} tab-separated fields", fields.len())));
        }
        if fields[0].trim().is_empty() {
            return Err(bad("no audio path"));
        }
        if fields[1].trim().is_empty() {
            return Err(bad("empty transcript"));
        }
        entries.push(Entry {
            path: dir.join(fields[0].trim()),
            transcript: fields[1].trim().to_string(),
            speaker: fields
                .get(2)
                .map_or(String::new(), |s| s.trim().to_string()),
        });
    }
    if entries.is_empty() {
        return Err(SpeechError::Other(format!(
            "{}: no utterances",
            path.display()
        )));
    }
    Ok(entries)
}

/// The manifest a config names: `data.path`, or `manifest.tsv` of a named corpus (fetched
/// first when missing).
pub fn manifest_path(config: &ExperimentConfig) -> Result<PathBuf, SpeechError> {
    let d = &config.data;
    match (&d.corpus, &d.path) {
        (Some(name), _) => Ok(rnnzoo_data::corpus::ensure_corpus(name)?.join("manifest.tsv")),
        (None, Some(path)) => Ok(path.clone()),
        (None, None) => Err(SpeechError::Other(
            "data: give `corpus` (speech-en, fillets-nl) or `path` (a manifest)".into(),
        )),
    }
}

/// The split a run used, as `split.json` holds it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SplitFile {
    /// The manifest.
    pub manifest: String,
    /// Whether whole speakers were held out (else single utterances).
    pub by_speaker: bool,
    /// Speakers of each split (empty without a speaker column).
    pub speakers: [Vec<String>; 3],
    /// Manifest indices of each split.
    pub utterances: [Vec<usize>; 3],
}

/// Splits entries into train, valid and test: whole speakers when the manifest names them
/// (at least three), else single utterances; seeded. Each held-out split gets at least one
/// speaker (utterance) and about its fraction of the utterances.
pub fn split(entries: &[Entry], valid: f64, test: f64, seed: u64) -> SplitFile {
    let speakers: BTreeSet<&str> = entries.iter().map(|e| e.speaker.as_str()).collect();
    let by_speaker = speakers.len() >= 3 && !speakers.contains("");
    let mut rng = SplitMix64::new(seed ^ 0x5eec_4b00);
    let mut groups: Vec<Vec<usize>> = if by_speaker {
        speakers
            .iter()
            .map(|s| {
                (0..entries.len())
                    .filter(|&i| entries[i].speaker == *s)
                    .collect()
            })
            .collect()
    } else {
        (0..entries.len()).map(|i| vec![i]).collect()
    };
    let mut names: Vec<String> = if by_speaker {
        speakers.iter().map(|s| s.to_string()).collect()
    } else {
        vec![String::new(); groups.len()]
    };
    // Shuffle groups and names together.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    rng.shuffle(&mut order);
    groups = order
        .iter()
        .map(|&i| std::mem::take(&mut groups[i]))
        .collect();
    names = order
        .iter()
        .map(|&i| std::mem::take(&mut names[i]))
        .collect();
    let total = entries.len() as f64;
    let mut out: [Vec<usize>; 3] = Default::default();
    let mut out_speakers: [Vec<String>; 3] = Default::default();
    let mut g = 0;
    for (split, fraction) in [(2, test), (1, valid)] {
        while g < groups.len() - 1
            && (out[split].is_empty() || (out[split].len() as f64) < fraction * total)
            && fraction > 0.0
        {
            out[split].extend(&groups[g]);
            out_speakers[split].push(names[g].clone());
            g += 1;
        }
    }
    for (group, name) in groups[g..].iter().zip(&names[g..]) {
        out[0].extend(group);
        out_speakers[0].push(name.clone());
    }
    for (s, u) in out_speakers.iter_mut().zip(out.iter_mut()) {
        s.sort();
        u.sort_unstable();
        if !by_speaker {
            s.clear();
        }
    }
    SplitFile {
        manifest: String::new(),
        by_speaker,
        speakers: out_speakers,
        utterances: out,
    }
}

/// An utterance as the model reads it.
#[derive(Clone, Debug)]
pub struct Utterance {
    /// Normalised log-mel features `[frames, mels]`.
    pub features: Vec<f32>,
    /// Frames.
    pub frames: usize,
    /// Character ids (no blank).
    pub targets: Vec<usize>,
    /// The normalised transcript (the reference of CER and WER).
    pub transcript: String,
    /// The audio file.
    pub path: PathBuf,
}

/// The features of one audio file at the config's rate, normalised.
pub fn file_features(bank: &LogMel, path: &Path, rate: u32) -> Result<Vec<f32>, SpeechError> {
    let samples = crate::audio::load(path, rate)?;
    let mut features = bank.compute(&samples);
    normalise(&mut features, bank.mels());
    Ok(features)
}

/// FNV-1a, for cache keys (stable across runs and platforms, unlike `std`'s hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where the features of `path` under `config` are cached: `.rnnzoo-features/` beside the audio
/// file, keyed by the features config and the file's size and modification time, so an edited
/// file or a changed config is computed afresh.
fn cache_path(config: &rnnzoo_config::FeaturesConfig, path: &Path) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let key = format!(
        "{}|{}|{}|{}|{}|{}|{modified}",
        path.file_name()?.to_string_lossy(),
        meta.len(),
        config.sample_rate,
        config.mels,
        config.window_ms,
        config.hop_ms
    );
    let name = format!(
        "{}.{:016x}.f32",
        path.file_stem()?.to_string_lossy(),
        fnv1a(key.as_bytes())
    );
    Some(path.parent()?.join(".rnnzoo-features").join(name))
}

/// [`file_features`] through the on-disk cache: read when present, else computed and written
/// (a cache that cannot be written is skipped, never an error).
fn cached_features(
    config: &rnnzoo_config::FeaturesConfig,
    bank: &LogMel,
    path: &Path,
) -> Result<Vec<f32>, SpeechError> {
    let cache = cache_path(config, path);
    if let Some(bytes) = cache.as_ref().and_then(|c| std::fs::read(c).ok())
        && bytes.len().is_multiple_of(4 * bank.mels())
        && !bytes.is_empty()
    {
        return Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    let features = file_features(bank, path, config.sample_rate)?;
    if let Some(cache) = cache {
        let bytes: Vec<u8> = features.iter().flat_map(|v| v.to_le_bytes()).collect();
        if let Some(dir) = cache.parent()
            && std::fs::create_dir_all(dir).is_ok()
        {
            // Best effort: a read-only data folder only loses the cache.
            let _ = rnnzoo_models::weights::write_atomic(&cache, &bytes);
        }
    }
    Ok(features)
}

/// Features of every entry, on all threads (cached on disk beside the audio); the first file
/// that does not decode is the error.
pub fn featurise(
    config: &ExperimentConfig,
    entries: &[&Entry],
    alphabet: &Alphabet,
) -> Result<Vec<Utterance>, SpeechError> {
    let bank = LogMel::new(&config.features);
    entries
        .par_iter()
        .map(|e| {
            let features = cached_features(&config.features, &bank, &e.path)?;
            let frames = features.len() / bank.mels();
            Ok(Utterance {
                features,
                frames,
                targets: alphabet.encode(&e.transcript).0,
                transcript: alphabet.normalise(&e.transcript),
                path: e.path.clone(),
            })
        })
        .collect()
}

/// The data of a run.
pub struct Prepared {
    /// The output alphabet.
    pub alphabet: Alphabet,
    /// Train, valid and test utterances.
    pub splits: [Vec<Utterance>; 3],
    /// Speakers per split (empty when split by utterance).
    pub speakers: [Vec<String>; 3],
    /// Training utterances left out because they are too short for their transcript (CTC
    /// needs a frame per character, and one between repeats).
    pub too_short: usize,
    /// Seconds the features took.
    pub feature_s: f64,
    /// Feature frames computed per second (all threads).
    pub frames_per_s: f64,
}

/// The run file holding the training transcripts, one a line (the language model of
/// `decode.lm_text: train`).
pub const TRAIN_TRANSCRIPTS: &str = "lm.txt";

/// Frames (after stacking by `stack`) CTC needs for `targets`: one per label, plus one
/// between each pair of equal neighbours.
pub fn ctc_min_frames(targets: &[usize]) -> usize {
    targets.len() + targets.windows(2).filter(|w| w[0] == w[1]).count()
}

/// Reads the manifest, splits it (writing `split.json` and `alphabet.json` to a new run, or
/// reading them back when resuming) and computes the utterances' features: every split's, or
/// with `test_only` (evaluating a trained run) the test split's alone.
pub fn prepare(
    config: &ExperimentConfig,
    run: &RunDir,
    resume: bool,
    test_only: bool,
) -> Result<Prepared, SpeechError> {
    let manifest = manifest_path(config)?;
    let entries = read_manifest(&manifest)?;
    let split_path = run.path.join("split.json");
    let alphabet_path = run.path.join("alphabet.json");
    if resume && !split_path.is_file() {
        return Err(SpeechError::Other(format!(
            "{}: missing; the run's split cannot be recovered (train a new run)",
            split_path.display()
        )));
    }
    let (split, alphabet) = if resume {
        let text =
            std::fs::read_to_string(&split_path).map_err(|e| SpeechError::io(&split_path, e))?;
        let split: SplitFile = serde_json::from_str(&text)
            .map_err(|e| SpeechError::Other(format!("{}: {e}", split_path.display())))?;
        if split
            .utterances
            .iter()
            .flatten()
            .any(|&i| i >= entries.len())
        {
            return Err(SpeechError::Other(format!(
                "{}: names utterances {} no longer has",
                split_path.display(),
                manifest.display()
            )));
        }
        (
            split,
            Alphabet::load(&alphabet_path).map_err(SpeechError::Other)?,
        )
    } else {
        let mut split = split(
            &entries,
            config.data.split.valid,
            config.data.split.test,
            config.data.split.seed_or(config.seed),
        );
        split.manifest = manifest.display().to_string();
        if split.utterances[0].is_empty() {
            return Err(SpeechError::Other(format!(
                "{}: no utterances left to train on after the split",
                manifest.display()
            )));
        }
        let alphabet = Alphabet::from_transcripts(
            split.utterances[0]
                .iter()
                .map(|&i| entries[i].transcript.as_str()),
            config.data.lowercase,
        );
        let json = serde_json::to_string_pretty(&split).expect("serialisable");
        rnnzoo_models::weights::write_atomic(&split_path, json.as_bytes())
            .map_err(|e| SpeechError::io(&split_path, e))?;
        alphabet.save(&alphabet_path).map_err(SpeechError::Other)?;
        let mut lines: Vec<String> = split.utterances[0]
            .iter()
            .map(|&i| alphabet.normalise(&entries[i].transcript))
            .collect();
        lines.push(String::new());
        let lm_path = run.path.join(TRAIN_TRANSCRIPTS);
        rnnzoo_models::weights::write_atomic(&lm_path, lines.join("\n").as_bytes())
            .map_err(|e| SpeechError::io(&lm_path, e))?;
        (split, alphabet)
    };
    let start = Instant::now();
    let mut splits: [Vec<Utterance>; 3] = Default::default();
    for (s, indices) in split.utterances.iter().enumerate() {
        if test_only && s != 2 {
            continue;
        }
        let chosen: Vec<&Entry> = indices.iter().map(|&i| &entries[i]).collect();
        splits[s] = featurise(config, &chosen, &alphabet)?;
    }
    let feature_s = start.elapsed().as_secs_f64();
    let frames: usize = splits.iter().flatten().map(|u| u.frames).sum();
    let stack = config.features.stack;
    let before = splits[0].len();
    splits[0].retain(|u| {
        u.frames.div_ceil(stack) >= ctc_min_frames(&u.targets) && !u.targets.is_empty()
    });
    Ok(Prepared {
        too_short: before - splits[0].len(),
        alphabet,
        speakers: split.speakers,
        splits,
        feature_s,
        frames_per_s: frames as f64 / feature_s.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_name_bad_lines_and_splits_hold_out_whole_speakers() {
        let dir = std::env::temp_dir().join(format!("rnnzoo-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.tsv");
        let mut text = String::from("# comment\n");
        for i in 0..40 {
            text.push_str(&format!("a{i}.wav\tword {i}\tspk{}\n", i % 8));
        }
        std::fs::write(&path, &text).unwrap();
        let entries = read_manifest(&path).unwrap();
        assert_eq!(entries.len(), 40);
        assert_eq!(entries[3].path, dir.join("a3.wav"));
        let s = split(&entries, 0.1, 0.2, 7);
        assert!(s.by_speaker);
        let all: BTreeSet<usize> = s.utterances.iter().flatten().copied().collect();
        assert_eq!(all.len(), 40, "every utterance in exactly one split");
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            for sp in &s.speakers[a] {
                assert!(!s.speakers[b].contains(sp), "{sp} in two splits");
            }
        }
        assert!(s.utterances[2].len() >= 8 && !s.utterances[1].is_empty());
        std::fs::write(&path, "a.wav\thello\nb.wav\n").unwrap();
        let e = read_manifest(&path).unwrap_err().to_string();
        assert!(e.contains("m.tsv:2"), "{e}");
        std::fs::write(&path, "a.wav\t \n").unwrap();
        let e = read_manifest(&path).unwrap_err().to_string();
        assert!(
            e.contains("m.tsv:1") && e.contains("empty transcript"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn cached_features_equal_fresh_ones_and_follow_the_file() {
        let dir = std::env::temp_dir().join(format!("rnnzoo-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tone.wav");
        let write = |freq: f32| {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::create(&path, spec).unwrap();
            for i in 0..4000 {
                let v = (2.0 * std::f32::consts::PI * freq * i as f32 / 8000.0).sin();
                w.write_sample((v * 20_000.0) as i16).unwrap();
            }
            w.finalize().unwrap();
        };
        write(500.0);
        let config = rnnzoo_config::FeaturesConfig {
            sample_rate: 8000,
            mels: 23,
            ..Default::default()
        };
        let bank = LogMel::new(&config);
        let fresh = file_features(&bank, &path, 8000).unwrap();
        let first = cached_features(&config, &bank, &path).unwrap();
        let cache = cache_path(&config, &path).unwrap();
        assert!(cache.is_file(), "the cache is written");
        let again = cached_features(&config, &bank, &path).unwrap();
        assert_eq!(first, fresh);
        assert_eq!(again, fresh);
        // A rewritten file (new size or time) is computed afresh.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(1500.0);
        let changed = cached_features(&config, &bank, &path).unwrap();
        assert_ne!(changed, fresh);
        assert_eq!(changed, file_features(&bank, &path, 8000).unwrap());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn ctc_needs_a_frame_between_repeated_labels() {
        assert_eq!(ctc_min_frames(&[1, 1, 2]), 4);
        assert_eq!(ctc_min_frames(&[1, 2, 3]), 3);
        assert_eq!(ctc_min_frames(&[]), 0);
    }
}
