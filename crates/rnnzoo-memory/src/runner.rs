//! The memory problems' verbs for the `rnnzoo` runner (see `rnnzoo_train::verbs`).

use std::path::Path;

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_train::verbs::TaskVerbs;

/// The memory problems, as the runner dispatches to them.
pub struct MemoryTask;

impl TaskVerbs for MemoryTask {
    fn describe(&self) -> &'static str {
        "memory-problem"
    }

    fn verbs(&self) -> &'static str {
        "train, eval"
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
            "done: {} steps, best valid accuracy {:.4} (step {}), test accuracy {:.4}, test loss {:.4} (chance: accuracy {:.4}, loss {:.4}), {:.0} s",
            summary.steps,
            summary.best_valid_accuracy,
            summary.best_step,
            summary.test.accuracy,
            summary.test.loss,
            summary.chance.accuracy,
            summary.chance.loss,
            summary.wall_s
        );
        println!("run saved in {}", run.path.display());
        Ok(())
    }

    fn eval(&self, run: &Path, data: Option<&Path>, json: bool) -> Result<(), String> {
        if let Some(path) = data {
            return Err(format!(
                "--data {}: a memory run is scored on its problem's generated test set; leave out --data",
                path.display()
            ));
        }
        let result =
            crate::training::evaluate_run(run, &Device::flex()).map_err(|e| e.to_string())?;
        if json {
            println!("{}", serde_json::to_string(&result).expect("serialisable"));
        } else {
            println!(
                "test set: loss {:.4}, accuracy {:.4}, {} sequences",
                result.loss, result.accuracy, result.sequences
            );
        }
        Ok(())
    }
}
