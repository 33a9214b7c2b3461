//! The speech task's verbs for the `rnnzoo` runner (see `rnnzoo_train::verbs`), and
//! `transcribe`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_train::verbs::{Inputs, TaskVerbs};

use crate::inference::{Scores, load_run};

/// Speech recognition, as the runner dispatches to it.
pub struct SpeechTask;

fn print_scores(label: &str, scores: &[Scores]) {
    println!("{label}:");
    println!("| decoder | CER | WER | utterances | seconds |");
    println!("|---|---|---|---|---|");
    for s in scores {
        println!(
            "| {} | {:.2}% | {:.2}% | {} | {:.1} |",
            s.decoder,
            100.0 * s.cer,
            100.0 * s.wer,
            s.utterances,
            s.decode_s
        );
    }
}

impl TaskVerbs for SpeechTask {
    fn describe(&self) -> &'static str {
        "speech recognition"
    }

    fn verbs(&self) -> &'static str {
        "train, eval, transcribe (or predict)"
    }

    fn train(
        &self,
        config: &ExperimentConfig,
        runs_root: &Path,
        resume: Option<&Path>,
        device: &Device,
    ) -> Result<(), String> {
        let (run, s) =
            crate::training::train(config, runs_root, resume, device).map_err(|e| e.to_string())?;
        println!(
            "done: {} steps, best valid CER {:.2}% (step {}); {:.0} frames/s training, {:.0} s",
            s.steps,
            100.0 * s.best_valid_cer,
            s.best_step,
            s.frames_per_s,
            s.wall_s
        );
        print_scores("test split", &s.test);
        println!(
            "test transcripts in {}",
            run.path.join("test.hyp.txt").display()
        );
        println!("run saved in {}", run.path.display());
        Ok(())
    }

    fn eval(&self, run: &Path, data: Option<&Path>, json: bool) -> Result<(), String> {
        if data.is_some() {
            return Err(
                "eval --data is not available for speech runs: give the manifest as `data.path` in a config, or transcribe files with `rnnzoo transcribe`".into(),
            );
        }
        let trained = load_run(run, &Device::flex()).map_err(|e| e.to_string())?;
        let scores = trained.evaluate().map_err(|e| e.to_string())?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&scores).expect("serialisable")
            );
            return Ok(());
        }
        print_scores("test split", &scores);
        println!(
            "transcripts and references: {} and {}",
            run.join("test.hyp.txt").display(),
            run.join("test.ref.txt").display()
        );
        Ok(())
    }

    fn predict(&self, run: &Path, inputs: Inputs, json: bool) -> Result<(), String> {
        let files: Vec<PathBuf> = inputs.lines()?.into_iter().map(PathBuf::from).collect();
        transcribe(run, &files, None, None, json)
    }
}

/// `rnnzoo transcribe`: transcribes each audio file (WAV, FLAC, Ogg; any rate and channel
/// count). A file that does not decode is reported by name and the others are still
/// transcribed; the command then fails.
pub fn transcribe(
    run: &Path,
    files: &[PathBuf],
    beam: Option<usize>,
    lm_weight: Option<f64>,
    json: bool,
) -> Result<(), String> {
    if beam == Some(0) {
        return Err("--beam must be at least 1".into());
    }
    if let Some(w) = lm_weight
        && (!w.is_finite() || w < 0.0)
    {
        return Err(format!("--lm-weight must be a finite number >= 0, got {w}"));
    }
    let trained = load_run(run, &Device::flex()).map_err(|e| e.to_string())?;
    let transcripts = trained
        .transcribe(files, beam, lm_weight)
        .map_err(|e| e.to_string())?;
    for e in transcripts.iter().filter_map(|t| t.error.as_ref()) {
        eprintln!("error: {e}");
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&transcripts).expect("serialisable")
        );
    } else {
        for t in &transcripts {
            if let Some(text) = &t.text {
                println!("{}\t{text}", t.file);
            }
        }
    }
    let failed = transcripts.iter().filter(|t| t.error.is_some()).count();
    if failed > 0 {
        return Err(format!(
            "{failed} of {} files could not be read (the others are transcribed above)",
            transcripts.len()
        ));
    }
    Ok(())
}
