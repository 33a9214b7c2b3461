//! Speech recognition through the real binary, on utterances the test synthesises: each letter
//! is a tone of its own pitch, a space is a pause, and six "speakers" differ in pitch and
//! loudness. A tiny bidirectional LSTM learns them with CTC; `eval` rewrites transcripts that
//! score as reported; `transcribe` reads WAV files of other rates and channel counts, names a
//! file that does not decode and still transcribes the rest.

mod common;

use std::path::{Path, PathBuf};

use common::{empty_dir, rnnzoo, text};

const RATE: u32 = 8_000;

/// Letters and their tones (Hz).
const TONES: [(char, f32); 4] = [('a', 450.0), ('b', 900.0), ('c', 1500.0), ('d', 2300.0)];

fn next(state: &mut u64, bound: u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % bound
}

/// The samples of `text` at `rate`, a speaker's pitch factor and loudness.
fn speak(text: &str, rate: u32, pitch: f32, loudness: f32) -> Vec<f32> {
    let n = |seconds: f32| (seconds * rate as f32) as usize;
    let mut out = vec![0.0; n(0.05)];
    for c in text.chars() {
        match TONES.iter().find(|(l, _)| *l == c) {
            Some(&(_, f)) => {
                let start = out.len();
                out.extend((0..n(0.09)).map(|i| {
                    let t = (start + i) as f32 / rate as f32;
                    loudness * (2.0 * std::f32::consts::PI * f * pitch * t).sin()
                }));
                out.extend(std::iter::repeat_n(0.0, n(0.03)));
            }
            None => out.extend(std::iter::repeat_n(0.0, n(0.08))),
        }
    }
    out.extend(std::iter::repeat_n(0.0, n(0.05)));
    out
}

fn write_wav(path: &Path, samples: &[f32], rate: u32, channels: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        for _ in 0..channels {
            w.write_sample((s * 30_000.0) as i16).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// Two or three words of one to three letters.
fn sentence(state: &mut u64) -> String {
    let words: Vec<String> = (0..2 + next(state, 2))
        .map(|_| {
            (0..1 + next(state, 3))
                .map(|_| TONES[next(state, 4) as usize].0)
                .collect()
        })
        .collect();
    words.join(" ")
}

fn setup(tag: &str) -> PathBuf {
    let dir = empty_dir("speech", tag);
    std::fs::create_dir_all(dir.join("wav")).unwrap();
    let mut state = 11;
    let mut manifest = String::new();
    for i in 0..180 {
        let speaker = i % 6;
        let text = sentence(&mut state);
        let samples = speak(
            &text,
            RATE,
            1.0 + 0.02 * speaker as f32,
            0.3 + 0.1 * speaker as f32,
        );
        write_wav(&dir.join(format!("wav/{i}.wav")), &samples, RATE, 1);
        manifest.push_str(&format!("wav/{i}.wav\t{text}\tspeaker{speaker}\n"));
    }
    std::fs::write(dir.join("manifest.tsv"), manifest).unwrap();
    std::fs::write(
        dir.join("tones.yaml"),
        "name: tones\ntask: speech\nseed: 5\ndata:\n  path: manifest.tsv\n  split: { valid: 0.15, test: 0.15 }\n\
         features:\n  sample_rate: 8000\n  mels: 24\n  stack: 2\n  spec_augment: { freq_masks: 1, freq_width: 3, time_masks: 1, time_width: 4 }\n\
         model:\n  cell: lstm\n  hidden: 24\n  layers: 1\n  bidirectional: true\n\
         train:\n  steps: 400\n  batch_size: 12\n  optimizer: { name: adam, lr: 0.01 }\n  clip_norm: 5.0\n  eval_every: 200\n  checkpoint_every: 200\n\
         decode:\n  beam: 4\n  lm_text: train\n  lm_order: 3\n  lm_weight: 0.3\n",
    )
    .unwrap();
    dir
}

fn run_dir(dir: &Path) -> PathBuf {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir.join("runs/tones"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all.pop().expect("a run")
}

#[test]
fn a_tiny_model_learns_tones_and_eval_and_transcribe_work() {
    let dir = setup("learn");
    let out = rnnzoo(&dir, &["train", "tones.yaml"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let run = run_dir(&dir);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let tests = summary["test"].as_array().unwrap();
    assert_eq!(tests.len(), 3, "greedy, beam, beam with LM:\n{log}");
    let greedy_cer = tests[0]["cer"].as_f64().unwrap();
    assert!(
        greedy_cer < 0.08,
        "test CER {greedy_cer} after 400 steps:\n{log}"
    );
    // The test speakers are held out whole.
    let speakers = summary["test_speakers"].as_array().unwrap();
    assert!(!speakers.is_empty() && speakers.len() < 6, "{speakers:?}");

    // `eval` rewrites the transcripts; the files rescore to the last decoder's rates.
    let out = rnnzoo(&dir, &["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let scores: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = scores.as_array().unwrap().last().unwrap().clone();
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(run.join(name))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    let (hyp, reference) = (lines("test.hyp.txt"), lines("test.ref.txt"));
    assert_eq!(hyp.len(), reference.len());
    let cer = rnnzoo_metrics::character_error_rate(&reference, &hyp).rate;
    assert!((cer - last["cer"].as_f64().unwrap()).abs() < 1e-12);
    let wer = rnnzoo_metrics::word_error_rate(&reference, &hyp).rate;
    assert!((wer - last["wer"].as_f64().unwrap()).abs() < 1e-12);

    // `transcribe`: a 16 kHz stereo file and an 8 kHz one are heard; a broken file is named
    // and the others are still transcribed.
    let said = ["bad cab", "dab a"];
    write_wav(
        &dir.join("stereo.wav"),
        &speak(said[0], 16_000, 1.03, 0.5),
        16_000,
        2,
    );
    write_wav(
        &dir.join("mono.wav"),
        &speak(said[1], RATE, 1.0, 0.4),
        RATE,
        1,
    );
    std::fs::write(dir.join("broken.wav"), b"RIFF\x10\0\0\0WAVEjunk").unwrap();
    let run_arg = run.to_str().unwrap();
    let out = rnnzoo(
        &dir,
        &[
            "transcribe",
            run_arg,
            "stereo.wav",
            "mono.wav",
            "--beam",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let heard: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or("").to_string())
        .collect();
    let cer = rnnzoo_metrics::character_error_rate(&said, &[heard[0].as_str(), heard[1].as_str()]);
    assert!(cer.rate < 0.25, "heard {heard:?} for {said:?}");
    let out = rnnzoo(
        &dir,
        &[
            "transcribe",
            run_arg,
            "stereo.wav",
            "broken.wav",
            "mono.wav",
            "--json",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.wav") && err.contains("1 of 3 files"),
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = json.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items[0]["text"].is_string() && items[2]["text"].is_string());
    assert!(items[1]["error"].as_str().unwrap().contains("broken.wav"));
    let out = rnnzoo(&dir, &["transcribe", run_arg, "mono.wav", "--beam", "0"]);
    assert!(
        !out.status.success()
            && text(&out).contains("invalid value '0' for '--beam <BEAM>': must be at least 1")
    );
    let out = rnnzoo(&dir, &["generate", run_arg]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("speech recognition run"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_manifests_and_audio_are_named() {
    let dir = empty_dir("speech", "bad");
    std::fs::write(dir.join("manifest.tsv"), "a.wav\tab\nb.wav\n").unwrap();
    let config = "name: bad\ntask: speech\ndata:\n  path: manifest.tsv\nmodel:\n  cell: gru\n  hidden: 8\ntrain:\n  steps: 5\n";
    std::fs::write(dir.join("bad.yaml"), config).unwrap();
    let out = rnnzoo(&dir, &["train", "bad.yaml"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("manifest.tsv:2"), "{}", text(&out));
    let lines: String = (0..12)
        .map(|i| format!("w{i}.wav\tab\tspk{}\n", i % 4))
        .collect();
    std::fs::write(dir.join("manifest.tsv"), lines).unwrap();
    std::fs::write(dir.join("w0.wav"), b"not audio at all").unwrap();
    let out = rnnzoo(&dir, &["train", "bad.yaml"]);
    assert!(!out.status.success());
    assert!(text(&out).contains(".wav"), "{}", text(&out));
    std::fs::write(
        dir.join("bad.yaml"),
        format!("{config}features:\n  mels: 0\n"),
    )
    .unwrap();
    let out = rnnzoo(&dir, &["train", "bad.yaml"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("features"), "{}", text(&out));
    std::fs::remove_dir_all(&dir).ok();
}
