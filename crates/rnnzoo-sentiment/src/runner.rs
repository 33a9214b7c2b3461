//! The classifier's verbs for the `rnnzoo` runner (see `rnnzoo_train::verbs`).

use std::path::Path;

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_train::verbs::{Inputs, TaskVerbs};

use crate::inference::load_run;

/// Text classification, as the runner dispatches to it.
pub struct ClassifierTask;

impl TaskVerbs for ClassifierTask {
    fn describe(&self) -> &'static str {
        "classifier"
    }

    fn verbs(&self) -> &'static str {
        "train, eval, predict, finetune"
    }

    fn train(
        &self,
        config: &ExperimentConfig,
        runs_root: &Path,
        resume: Option<&Path>,
        device: &Device,
    ) -> Result<(), String> {
        let (run, summary) =
            crate::training::train(config, runs_root, resume, device).map_err(|e| e.to_string())?;
        println!(
            "done: {} epochs, best valid accuracy {:.4} (epoch {}), test accuracy {:.4}, macro-F1 {:.4}, {:.0} s",
            summary.epochs,
            summary.best_valid_accuracy,
            summary.best_epoch,
            summary.test.accuracy,
            summary.test.macro_f1,
            summary.wall_s
        );
        println!("run saved in {}", run.path.display());
        Ok(())
    }

    fn eval(&self, run: &Path, data: Option<&Path>, json: bool) -> Result<(), String> {
        let trained = load_run(run, &Device::flex()).map_err(|e| e.to_string())?;
        let result = trained
            .evaluate_file(data, run)
            .map_err(|e| e.to_string())?;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&result).expect("serialisable")
            );
            return Ok(());
        }
        let label = data.map_or("test split".to_string(), |p| p.display().to_string());
        let r = &result.report;
        println!(
            "{label}: loss {:.4}, accuracy {:.4}, macro-F1 {:.4}",
            result.loss, r.accuracy, r.macro_f1
        );
        println!(
            "{:<16} {:>9} {:>9} {:>9} {:>8}",
            "class", "precision", "recall", "f1", "support"
        );
        for c in &r.classes {
            println!(
                "{:<16} {:>9.4} {:>9.4} {:>9.4} {:>8}",
                c.class, c.precision, c.recall, c.f1, c.support
            );
        }
        println!(
            "confusion (rows: gold, columns: predicted): {:?}",
            r.confusion
        );
        Ok(())
    }

    fn predict(&self, run: &Path, inputs: Inputs, json: bool) -> Result<(), String> {
        let trained = load_run(run, &Device::flex()).map_err(|e| e.to_string())?;
        let predictions = trained.predict(&inputs.lines()?);
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&predictions).expect("serialisable")
            );
        } else {
            for p in &predictions {
                let probs: Vec<String> = p
                    .probabilities
                    .iter()
                    .map(|(c, v)| format!("{c} {v:.3}"))
                    .collect();
                println!("{:<10} [{}]  {}", p.label, probs.join(", "), p.text);
            }
        }
        Ok(())
    }
}
