//! The captioning task's verbs for the `rnnzoo` runner (see `rnnzoo_train::verbs`), and
//! `caption`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_train::verbs::{Inputs, TaskVerbs};

use crate::inference::{Scores, TrainedRun, caption_ensemble, evaluate_ensemble, load_run};

/// Image captioning, as the runner dispatches to it.
pub struct CaptionTask;

/// Prints scores as a Markdown table.
pub fn print_scores(label: &str, scores: &[Scores]) {
    println!("{label}:");
    println!("| captions | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | images | seconds |");
    println!("|---|---|---|---|---|---|---|---|");
    for s in scores {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} | {} | {:.1} |",
            s.system, s.bleu[0], s.bleu[1], s.bleu[2], s.bleu[3], s.cider, s.images, s.seconds
        );
    }
}

impl TaskVerbs for CaptionTask {
    fn describe(&self) -> &'static str {
        "captioning"
    }

    fn verbs(&self) -> &'static str {
        "train, eval, caption (or predict)"
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
            "done: {} steps, best valid BLEU-4 {:.2} (step {}); {:.0} tokens/s training, {:.0} s",
            s.steps, s.best_valid_bleu4, s.best_step, s.tokens_per_s, s.wall_s
        );
        print_scores("test split", &s.test);
        println!(
            "test captions in {}",
            run.path.join("test.hyp.txt").display()
        );
        println!("run saved in {}", run.path.display());
        Ok(())
    }

    fn eval(&self, run: &Path, data: Option<&Path>, json: bool) -> Result<(), String> {
        if data.is_some() {
            return Err(
                "eval --data is not available for captioning runs: give the captions file as `data.path` in a config, or caption images with `rnnzoo caption`".into(),
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
            "captions and references: {} and {}",
            run.join("test.hyp.txt").display(),
            run.join("test.ref1.txt").display()
        );
        Ok(())
    }

    fn predict(&self, run: &Path, inputs: Inputs, json: bool) -> Result<(), String> {
        let files: Vec<PathBuf> = inputs.lines()?.into_iter().map(PathBuf::from).collect();
        caption(run, &[], &files, None, None, json, None)
    }
}

/// Loads a run and the other members of its ensemble.
fn load_members(run: &Path, ensemble: &[PathBuf]) -> Result<Vec<TrainedRun>, String> {
    std::iter::once(run)
        .chain(ensemble.iter().map(PathBuf::as_path))
        .map(|r| load_run(r, &Device::flex()).map_err(|e| e.to_string()))
        .collect()
}

/// `rnnzoo eval RUN --ensemble OTHER...`: the runs caption RUN's test split together (see
/// `rnnzoo_models::decode::EnsembleDecoder`); the captions, references and baselines go to
/// `RUN/ensemble/`, with the members' folders in `members.txt`.
pub fn eval_ensemble(run: &Path, ensemble: &[PathBuf], json: bool) -> Result<(), String> {
    let runs = load_members(run, ensemble)?;
    let out = run.join("ensemble");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut members: String = runs
        .iter()
        .map(|r| r.run.path.display().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    members.push('\n');
    let scores = evaluate_ensemble(&runs, &out).map_err(|e| e.to_string())?;
    let listed = out.join("members.txt");
    rnnzoo_models::weights::write_atomic(&listed, members.as_bytes())
        .map_err(|e| format!("{}: {e}", listed.display()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&scores).expect("serialisable")
        );
        return Ok(());
    }
    print_scores(
        &format!("test split, an ensemble of {} runs", runs.len()),
        &scores,
    );
    println!(
        "captions and references: {} and {}",
        out.join("test.hyp.txt").display(),
        out.join("test.ref1.txt").display()
    );
    Ok(())
}

/// `rnnzoo caption`: captions each image (PNG, JPEG or SVG), by the run alone or with the
/// runs of `ensemble` as an ensemble. A file that does not decode is reported by name and the
/// others are still captioned; the command then fails. `beam` and `style` override the run's
/// `decode.beam` and `decode.style`. With `attention_png`, the first image's attention (the
/// members' mean) is drawn there.
pub fn caption(
    run: &Path,
    ensemble: &[PathBuf],
    files: &[PathBuf],
    beam: Option<usize>,
    style: Option<usize>,
    json: bool,
    attention_png: Option<&Path>,
) -> Result<(), String> {
    if beam == Some(0) {
        return Err("--beam must be at least 1".into());
    }
    if files.is_empty() {
        return Err("give at least one image file".into());
    }
    let runs = load_members(run, ensemble)?;
    let trained = &runs[0];
    let captioned = caption_ensemble(&runs, files, beam, style).map_err(|e| e.to_string())?;
    for e in captioned.iter().filter_map(|c| c.error.as_ref()) {
        eprintln!("error: {e}");
    }
    if let Some(path) = attention_png
        && let Some(first) = captioned.iter().find(|c| c.caption.is_some())
    {
        let size = trained.config.images.size;
        let grid = size >> trained.config.model.cnn.len();
        crate::plot::attention_over_image(first, size, grid, path)?;
        eprintln!("attention of {} drawn to {}", first.file, path.display());
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&captioned).expect("serialisable")
        );
    } else {
        for c in &captioned {
            if let Some(text) = &c.caption {
                println!("{}\t{text}", c.file);
            }
        }
    }
    let failed = captioned.iter().filter(|c| c.error.is_some()).count();
    if failed > 0 {
        return Err(format!(
            "{failed} of {} files could not be read (the others are captioned above)",
            captioned.len()
        ));
    }
    Ok(())
}
