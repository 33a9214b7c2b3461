//! Training on freshly drawn sequences, on the shared loop (`rnnzoo_train::trainer`): every
//! step is a new batch (there are no epochs), the model is validated every `eval_every` steps
//! on a fixed set, and the checkpoint with the best validation accuracy is scored on a fixed
//! test set.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::SplitMix64;
use rnnzoo_train::checkpoint::Checkpoint;
use rnnzoo_train::optim::build_optimizer;
use rnnzoo_train::rundir::RunDir;
use rnnzoo_train::trainer::{self, Better, Cadence, Metric, Position, StepLoss, Task};
use serde::Serialize;

use crate::MemoryError;
use crate::evaluation::{Evaluation, evaluate};
use crate::model::MemoryModel;
use crate::problems::{Batch, Chance, Problem};

/// Sequences per forward pass when evaluating.
pub const EVAL_BATCH: usize = 250;

/// Final metrics of a run, written to `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// `adding` or `copy`.
    pub problem: String,
    /// The problem's delay.
    pub delay: usize,
    /// Cell name.
    pub cell: String,
    /// Scalar parameters.
    pub parameters: usize,
    /// Optimizer steps run.
    pub steps: usize,
    /// Best validation accuracy.
    pub best_valid_accuracy: f64,
    /// Validation loss at that step.
    pub best_valid_loss: f64,
    /// Step of the best validation accuracy.
    pub best_step: usize,
    /// The best checkpoint on the test set.
    pub test: Evaluation,
    /// What a model without memory scores.
    pub chance: Chance,
    /// Training sequences per second.
    pub sequences_per_s: f64,
    /// Wall time in seconds, evaluation included.
    pub wall_s: f64,
}

/// The problem of a `task: memory` config.
pub fn problem_of(config: &ExperimentConfig) -> Result<Problem, MemoryError> {
    config
        .data
        .synthetic
        .as_ref()
        .map(Problem::from_config)
        .ok_or_else(|| MemoryError::Other("data.synthetic: missing for `task: memory`".into()))
}

/// The memory problems for the shared loop: a fresh batch every step from a seeded generator
/// (no epochs), validation on a fixed set.
struct MemoryTask {
    freeze: Vec<String>,
    problem: Problem,
    valid_set: Vec<Batch>,
    rng: SplitMix64,
    batch_size: usize,
}

impl MemoryTask {
    fn generator(seed: u64) -> SplitMix64 {
        SplitMix64::new(seed ^ 0x6D65_6D6F_7279)
    }
}

impl Task for MemoryTask {
    type Model = MemoryModel;
    type Carry = ();

    fn metrics(&self) -> Vec<Metric> {
        // Equal accuracy (e.g. both solved) goes to the lower loss.
        vec![
            Metric::tie_break("loss", Better::Lower).not_plotted(),
            Metric::primary("accuracy", Better::Higher),
        ]
    }

    fn throughput(&self) -> (&'static str, &'static str) {
        ("sequences_per_s", "seq/s")
    }

    fn cadence(&self) -> Cadence {
        Cadence::Steps
    }

    fn batches_per_epoch(&self) -> Option<usize> {
        None
    }

    fn prepare(&self, mut model: MemoryModel) -> Result<MemoryModel, String> {
        // `freeze` names are checked when the config loads.
        for name in &self.freeze {
            if name == "head" {
                model.head = model.head.no_grad();
            } else if let Some(k) = rnnzoo_config::frozen_layer(name) {
                model.rnn.freeze_layer(k);
            }
        }
        Ok(model)
    }

    fn resume_at(&mut self, position: Position) {
        // Replaying the generator's draws is cheap next to a training step.
        for _ in 0..position.step {
            self.problem.generate(self.batch_size, &mut self.rng);
        }
    }

    fn step_loss(
        &mut self,
        model: &MemoryModel,
        _position: Position,
        _carry: Option<()>,
        _device: &Device,
    ) -> StepLoss<()> {
        let batch = self.problem.generate(self.batch_size, &mut self.rng);
        StepLoss {
            loss: model.loss(&batch, &self.problem),
            units: self.batch_size,
            carry: None,
        }
    }

    fn validate(&self, model: &MemoryModel) -> Option<Vec<f64>> {
        let e = evaluate(model, &self.problem, &self.valid_set);
        Some(vec![e.loss, e.accuracy])
    }
}

/// Trains a model on `config`'s problem in a new run directory under `runs_root`, or continues
/// the run at `resume` from its latest checkpoint.
pub fn train(
    config: &ExperimentConfig,
    runs_root: &Path,
    resume: Option<&Path>,
    device: &Device,
) -> Result<(RunDir, Summary), MemoryError> {
    let wall = Instant::now();
    let problem = problem_of(config)?;
    let synthetic = config.data.synthetic.as_ref().expect("checked above");
    let run = trainer::open_run(config, runs_root, resume)?;
    println!("run: {}", run.path.display());
    let t = &config.train;
    let mut task = MemoryTask {
        freeze: config.freeze.clone(),
        valid_set: problem.fixed_set(1, synthetic.valid_examples, EVAL_BATCH),
        problem,
        rng: MemoryTask::generator(config.seed),
        batch_size: t.batch_size,
    };
    let test_set = task
        .problem
        .fixed_set(2, synthetic.test_examples, EVAL_BATCH);

    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let model = MemoryModel::new(&config.model, &task.problem, &train_device);
    let problem = &task.problem;
    let chance = problem.chance();
    println!(
        "{}: {:?} problem, delay {} ({} steps per sequence), {} x{} hidden {}, {} parameters; chance: loss {:.4}, accuracy {:.4}",
        config.name,
        problem.kind,
        problem.delay,
        problem.steps(),
        rnnzoo_train::model::cell_kind(&config.model).name(),
        config.model.layers,
        config.model.hidden,
        model.num_params(),
        chance.loss,
        chance.accuracy,
    );
    let optim = build_optimizer(&t.optimizer);
    let outcome = trainer::train(
        &mut task,
        model,
        optim,
        config,
        &run,
        resume.is_some(),
        &train_device,
    )?;

    let best_model = outcome.load_best(MemoryModel::new(&config.model, &task.problem, device))?;
    let (best_valid, best_step, _) = outcome.best.expect("a best checkpoint has its metrics");
    let test = evaluate(&best_model, &task.problem, &test_set);
    let state = outcome.state;
    let summary = Summary {
        name: config.name.clone(),
        problem: format!("{:?}", task.problem.kind).to_lowercase(),
        delay: task.problem.delay,
        cell: rnnzoo_train::model::cell_kind(&config.model).name().into(),
        parameters: best_model.num_params(),
        steps: state.step,
        best_valid_accuracy: best_valid[1],
        best_valid_loss: best_valid[0],
        best_step,
        test,
        chance,
        sequences_per_s: state.tokens as f64 / state.elapsed_s.max(1e-9),
        wall_s: wall.elapsed().as_secs_f64(),
    };
    trainer::write_summary(&run, &summary)?;
    Ok((run, summary))
}

/// Scores a trained run's best checkpoint (its latest when none is marked best) on the fixed
/// test set of its problem.
pub fn evaluate_run(run: &Path, device: &Device) -> Result<Evaluation, MemoryError> {
    let run = RunDir::open(run).map_err(|e| MemoryError::io(run, e))?;
    let config = rnnzoo_config::load(&run.config(), &[])?;
    let problem = problem_of(&config)?;
    let synthetic = config.data.synthetic.as_ref().expect("problem_of checked");
    let path = Checkpoint::to_use(&run.checkpoints()).map_err(MemoryError::Other)?;
    let model = Checkpoint::load_model(&path, MemoryModel::new(&config.model, &problem, device))?;
    Ok(evaluate(
        &model,
        &problem,
        &problem.fixed_set(2, synthetic.test_examples, EVAL_BATCH),
    ))
}
