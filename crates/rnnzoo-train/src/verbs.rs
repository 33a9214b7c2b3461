//! The verbs every task answers, as the `rnnzoo` runner calls them: each task crate implements
//! [`TaskVerbs`] once (train, eval, predict, each printing its own report), and the runner
//! dispatches through the implementation registered for a config's `task:`, with no arm per
//! task. Verbs only some tasks have (`generate`, `score`) stay in the runner, thin.

use std::path::Path;

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;

/// Where a verb reads its input: texts from the command line, or the lines of a file.
pub enum Inputs<'a> {
    /// The texts given.
    Texts(&'a [String]),
    /// Each non-empty line of this file.
    File(&'a Path),
}

impl Inputs<'_> {
    /// The texts, reading the file if that is where they are.
    ///
    /// # Errors
    /// When the file cannot be read, naming it.
    pub fn lines(&self) -> Result<Vec<String>, String> {
        match self {
            Inputs::Texts(texts) => Ok(texts.to_vec()),
            Inputs::File(path) => Ok(std::fs::read_to_string(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect()),
        }
    }
}

/// A task as the runner sees it. Errors are messages for the user, naming the file or key.
pub trait TaskVerbs: Sync {
    /// What the task is, in messages (`language model`, `classifier`).
    fn describe(&self) -> &'static str;

    /// The verbs that fit a run of this task, for messages about the ones that do not.
    fn verbs(&self) -> &'static str;

    /// Trains `config` under `runs_root` (or resumes the run at `resume`) and prints the
    /// summary.
    fn train(
        &self,
        config: &ExperimentConfig,
        runs_root: &Path,
        resume: Option<&Path>,
        device: &Device,
    ) -> Result<(), String>;

    /// Evaluates a trained run on its test split, or on `data`, printing text or JSON.
    fn eval(&self, run: &Path, data: Option<&Path>, json: bool) -> Result<(), String>;

    /// Predicts for each input, printing text or JSON.
    fn predict(&self, run: &Path, _inputs: Inputs, _json: bool) -> Result<(), String> {
        Err(self.unsupported(run, "predict"))
    }

    /// The message for a verb this task does not have.
    fn unsupported(&self, run: &Path, verb: &str) -> String {
        format!(
            "{}: a {} run; `{verb}` does not apply to it (its verbs: {})",
            run.display(),
            self.describe(),
            self.verbs()
        )
    }
}
