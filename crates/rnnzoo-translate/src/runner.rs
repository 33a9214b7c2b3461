//! The translation task's verbs for the `rnnzoo` runner (see `rnnzoo_train::verbs`), and
//! `translate`.

use std::path::Path;

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_train::verbs::{Inputs, TaskVerbs};

use crate::inference::load_run;

/// Translation, as the runner dispatches to it.
pub struct TranslationTask;

impl TaskVerbs for TranslationTask {
    fn describe(&self) -> &'static str {
        "translation"
    }

    fn verbs(&self) -> &'static str {
        "train, eval, translate (or predict)"
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
            "done: {} steps, best valid BLEU {:.2} (step {}); test BLEU {:.2}, chrF {:.2} (beam {}, {} sentences, {:.1} s); {:.0} tok/s training, {:.0} s",
            s.steps,
            s.best_valid_bleu,
            s.best_step,
            s.test.bleu,
            s.test.chrf,
            s.test.beam,
            s.test.sentences,
            s.test.decode_s,
            s.tokens_per_s,
            s.wall_s
        );
        println!(
            "test translations in {}",
            run.path.join("test.hyp.txt").display()
        );
        println!("run saved in {}", run.path.display());
        Ok(())
    }

    fn eval(&self, run: &Path, data: Option<&Path>, json: bool) -> Result<(), String> {
        let trained = load_run(run, &Device::flex()).map_err(|e| e.to_string())?;
        let scores = trained.evaluate(data).map_err(|e| e.to_string())?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&scores).expect("serialisable")
            );
            return Ok(());
        }
        let label = data.map_or("test split".to_string(), |p| p.display().to_string());
        let b = &scores.bleu_detail;
        println!(
            "{label}: BLEU {:.2} ({:.1}/{:.1}/{:.1}/{:.1}, BP {:.3}, hyp {} ref {}), chrF {:.2}; {} sentences, beam {}, {:.1} s",
            scores.bleu,
            b.precisions[0],
            b.precisions[1],
            b.precisions[2],
            b.precisions[3],
            b.brevity_penalty,
            b.sys_len,
            b.ref_len,
            scores.chrf,
            scores.sentences,
            scores.beam,
            scores.decode_s
        );
        if data.is_none() {
            println!(
                "hypotheses and references: {} and {} (rescore with: sacrebleu {} -i {})",
                run.join("test.hyp.txt").display(),
                run.join("test.ref.txt").display(),
                run.join("test.ref.txt").display(),
                run.join("test.hyp.txt").display()
            );
        }
        Ok(())
    }

    fn predict(&self, run: &Path, inputs: Inputs, json: bool) -> Result<(), String> {
        translate(run, inputs, None, json, None)
    }
}

/// `rnnzoo translate`: translates each input with beam width `beam` (the run's
/// `decode.beam` when `None`), printing text or JSON; draws the first one's attention to
/// `attention_png` when given.
pub fn translate(
    run: &Path,
    inputs: Inputs,
    beam: Option<usize>,
    json: bool,
    attention_png: Option<&Path>,
) -> Result<(), String> {
    if beam == Some(0) {
        return Err("--beam must be at least 1".into());
    }
    let trained = load_run(run, &Device::flex()).map_err(|e| e.to_string())?;
    let texts = inputs.lines()?;
    let translations = trained.translate(&texts, beam);
    if let (Some(path), Some(first)) = (attention_png, translations.first()) {
        crate::plot::attention_heat_map(first, path)?;
        eprintln!(
            "attention of the first sentence drawn to {}",
            path.display()
        );
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&translations).expect("serialisable")
        );
    } else {
        for t in &translations {
            println!("{}", t.translation);
        }
    }
    Ok(())
}
