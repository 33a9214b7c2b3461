//! Training on freshly drawn sequences: every step is a new batch (there are no epochs), the
//! model is validated every `eval_every` steps on a fixed set, and the checkpoint with the best
//! validation accuracy is scored on a fixed test set.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::SplitMix64;
use rnnzoo_models::clip_grad_norm;
use rnnzoo_train::checkpoint::{Checkpoint, LoopState};
use rnnzoo_train::metrics::CsvLog;
use rnnzoo_train::optim::build_optimizer;
use rnnzoo_train::plot::{self, Curve};
use rnnzoo_train::progress::Progress;
use rnnzoo_train::rundir::RunDir;
use rnnzoo_train::schedule::lr_at;
use serde::Serialize;

use crate::MemoryError;
use crate::evaluation::{Evaluation, evaluate};
use crate::model::MemoryModel;
use crate::problems::{Chance, Problem};

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

/// Trains a model on `config`'s problem in a new run directory under `runs_root`.
pub fn train(
    config: &ExperimentConfig,
    runs_root: &Path,
    device: &Device,
) -> Result<(RunDir, Summary), MemoryError> {
    let wall = Instant::now();
    let problem = problem_of(config)?;
    let synthetic = config.data.synthetic.as_ref().expect("checked above");
    let run = RunDir::create(runs_root, &config.name).map_err(|e| MemoryError::io(runs_root, e))?;
    println!("run: {}", run.path.display());
    std::fs::write(run.config(), rnnzoo_config::to_yaml(config))
        .map_err(|e| MemoryError::io(&run.config(), e))?;
    let valid_set = problem.fixed_set(1, synthetic.valid_examples, EVAL_BATCH);
    let test_set = problem.fixed_set(2, synthetic.test_examples, EVAL_BATCH);

    let t = &config.train;
    let total = t.steps.expect("validated: memory runs give steps");
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let mut model = MemoryModel::new(&config.model, &problem, &train_device);
    // `freeze` names are checked when the config loads.
    for name in &config.freeze {
        if name == "head" {
            model.head = model.head.no_grad();
        } else if let Some(k) = name
            .strip_prefix("layers.")
            .and_then(|k| k.parse::<usize>().ok())
        {
            model.rnn.freeze_layer(k);
        }
    }
    let mut optim = build_optimizer(&t.optimizer);
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

    let mut log = CsvLog::create(
        &run.metrics(),
        &[
            "step",
            "train_loss",
            "valid_loss",
            "valid_accuracy",
            "lr",
            "sequences_per_s",
            "elapsed_s",
        ],
    )
    .map_err(|e| MemoryError::io(&run.metrics(), e))?;
    let progress = Progress::new(total, 0, t.log_every).with_unit("seq/s");
    let mut rng = SplitMix64::new(config.seed ^ 0x6D65_6D6F_7279);
    let mut state = LoopState::default();
    let mut best: Option<(Evaluation, usize)> = None;
    let (mut train_curve, mut accuracy_curve) = (Vec::new(), Vec::new());
    let (mut window_loss, mut window_steps) = (0.0, 0usize);
    let start = Instant::now();
    while state.step < total {
        train_device.seed(
            config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(state.step as u64),
        );
        let batch = problem.generate(t.batch_size, &mut rng);
        let loss = model.loss(&batch, &problem);
        let value = loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            return Err(MemoryError::Other(format!(
                "step {}: the training loss is {value}; lower train.optimizer.lr or set train.clip_norm",
                state.step + 1
            )));
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if let Some(max) = t.clip_norm {
            clip_grad_norm(&model, &mut grads, max);
        }
        let lr = lr_at(&t.schedule, t.optimizer.lr, state.step, total);
        model = optim.step(lr, model, grads);
        state.step += 1;
        window_loss += value;
        window_steps += 1;
        let elapsed = start.elapsed().as_secs_f64();
        let per_s = (state.step * t.batch_size) as f64 / elapsed.max(1e-9);
        progress.update(state.step, window_loss / window_steps as f64, per_s);
        if !(state.step.is_multiple_of(t.eval_every) || state.step == total) {
            continue;
        }
        let train_loss = window_loss / window_steps as f64;
        (window_loss, window_steps) = (0.0, 0);
        let valid = evaluate(&model.valid(), &problem, &valid_set);
        state.elapsed_s = start.elapsed().as_secs_f64();
        log.row(&[
            Some(state.step as f64),
            Some(train_loss),
            Some(valid.loss),
            Some(valid.accuracy),
            Some(lr),
            Some(per_s),
            Some(state.elapsed_s),
        ])
        .map_err(|e| MemoryError::io(&run.metrics(), e))?;
        progress.message(&format!(
            "step {:>6}: train loss {train_loss:.4}  valid loss {:.4}  accuracy {:.4}",
            state.step, valid.loss, valid.accuracy
        ));
        train_curve.push((state.step as f64, train_loss));
        accuracy_curve.push((state.step as f64, valid.accuracy));
        // Higher accuracy wins; equal accuracy (e.g. both solved) goes to the lower loss.
        let is_best = best.is_none_or(|(b, _)| {
            valid.accuracy > b.accuracy || (valid.accuracy == b.accuracy && valid.loss < b.loss)
        });
        if is_best {
            best = Some((valid, state.step));
            state.evals_since_best = 0;
        } else {
            state.evals_since_best += 1;
        }
        state.best_valid = best.map(|(b, _)| -b.accuracy);
        Checkpoint::save(&run.checkpoints(), &model, &optim, &state, is_best, 1, &[])?;
        if let Some(es) = &t.early_stopping
            && state.evals_since_best >= es.patience
        {
            progress.message(&format!(
                "early stopping: no validation gain in {} evaluations",
                es.patience
            ));
            break;
        }
    }
    progress.finish();
    let curves = [
        Curve {
            label: "train loss".into(),
            points: train_curve,
        },
        Curve {
            label: "valid accuracy".into(),
            points: accuracy_curve,
        },
    ];
    plot::draw(&run.plot(), &config.name, "loss / accuracy", &curves)
        .map_err(MemoryError::Other)?;

    let (best_valid, best_step) =
        best.ok_or_else(|| MemoryError::Other("no evaluation ran".into()))?;
    let best_path = Checkpoint::best(&run.checkpoints())
        .ok_or_else(|| MemoryError::Other("no checkpoint written".into()))?;
    let best_model = Checkpoint::load_model(
        &best_path,
        MemoryModel::new(&config.model, &problem, device),
    )?;
    let test = evaluate(&best_model, &problem, &test_set);
    let summary = Summary {
        name: config.name.clone(),
        problem: format!("{:?}", problem.kind).to_lowercase(),
        delay: problem.delay,
        cell: rnnzoo_train::model::cell_kind(&config.model).name().into(),
        parameters: best_model.num_params(),
        steps: state.step,
        best_valid_accuracy: best_valid.accuracy,
        best_valid_loss: best_valid.loss,
        best_step,
        test,
        chance,
        sequences_per_s: (state.step * t.batch_size) as f64 / state.elapsed_s.max(1e-9),
        wall_s: wall.elapsed().as_secs_f64(),
    };
    let text = serde_json::to_string_pretty(&summary).expect("serialisable");
    rnnzoo_models::weights::write_atomic(&run.summary(), text.as_bytes())
        .map_err(|e| MemoryError::io(&run.summary(), e))?;
    Ok((run, summary))
}

/// Scores a trained run's best checkpoint (its latest when none is marked best) on the fixed
/// test set of its problem.
pub fn evaluate_run(run: &Path, device: &Device) -> Result<Evaluation, MemoryError> {
    let run = RunDir::open(run).map_err(|e| MemoryError::io(run, e))?;
    let config = rnnzoo_config::load(&run.config(), &[])?;
    let problem = problem_of(&config)?;
    let synthetic = config.data.synthetic.as_ref().expect("problem_of checked");
    let path = Checkpoint::best_or_latest(&run.checkpoints()).ok_or_else(|| {
        MemoryError::Other(format!("{}: no checkpoint", run.checkpoints().display()))
    })?;
    let model = Checkpoint::load_model(&path, MemoryModel::new(&config.model, &problem, device))?;
    Ok(evaluate(
        &model,
        &problem,
        &problem.fixed_set(2, synthetic.test_examples, EVAL_BATCH),
    ))
}
