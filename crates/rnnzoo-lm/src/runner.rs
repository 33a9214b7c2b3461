//! The language model's verbs for the `rnnzoo` runner (see `rnnzoo_train::verbs`).

use std::path::Path;

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_train::verbs::TaskVerbs;

use crate::inference::{evaluate, load_run};

/// The language model, as the runner dispatches to it.
pub struct LanguageModelTask;

impl TaskVerbs for LanguageModelTask {
    fn describe(&self) -> &'static str {
        "language-model"
    }

    fn verbs(&self) -> &'static str {
        "train, eval, generate, score, finetune"
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
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let se = summary
            .test_loss_se
            .map_or(String::new(), |se| format!(" ± {se:.4}"));
        println!(
            "done: {} steps, best valid loss {} (ppl {}), test loss {}{se} (ppl {}), {:.0} tok/s, {:.0} s",
            summary.steps,
            fmt(summary.best_valid_loss),
            fmt(summary.best_valid_perplexity),
            fmt(summary.test_loss),
            fmt(summary.test_perplexity),
            summary.tokens_per_s,
            summary.wall_s
        );
        if let Some(sample) = &summary.sample {
            let likelihood = summary.sample_loss.map_or(String::new(), |l| {
                format!(" ({l:.3} nats/token under the model)")
            });
            println!("--- sample{likelihood} ---\n{sample}\n--------------");
            if let Some(warning) = summary.sample_warning(config.train.state_reset_prob) {
                println!("warning: {warning}");
            }
        }
        println!("run saved in {}", run.path.display());
        Ok(())
    }

    fn eval(&self, run: &Path, data: Option<&Path>, json: bool) -> Result<(), String> {
        let device = Device::flex();
        let trained = load_run(run, &device).map_err(|e| e.to_string())?;
        let (label, tokens) = match data {
            Some(path) => {
                let text = crate::data::read_text(path).map_err(|e| e.to_string())?;
                (path.display().to_string(), trained.vocab.encode(&text))
            }
            None => {
                let (_, streams) =
                    crate::training::prepare(&trained.config, Some(trained.vocab.clone()))
                        .map_err(|e| e.to_string())?;
                ("test split".to_string(), streams.test)
            }
        };
        if tokens.len() < 4 {
            return Err(format!(
                "{label}: too little text to evaluate ({} tokens)",
                tokens.len()
            ));
        }
        let t = &trained.config.train;
        let result = evaluate(&trained.model, &tokens, t.batch_size, t.bptt);
        if json {
            println!("{}", serde_json::to_string(&result).expect("serialisable"));
        } else {
            println!(
                "{label}: loss {:.4} nats/token, perplexity {:.3}, {} tokens (checkpoint {})",
                result.loss,
                result.perplexity,
                result.tokens,
                trained.checkpoint.display()
            );
        }
        Ok(())
    }
}
