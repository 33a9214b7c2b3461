//! The training loop, written once for every task.
//!
//! A task crate implements [`Task`]: the batches of an epoch (or an endless stream), one
//! training step's loss (with any state carried from one batch to the next), and validation
//! returning named metrics. [`train`] does everything else, top to bottom in one function:
//! the budget (steps, epochs, minutes), the learning-rate schedule, global gradient clipping,
//! the optimizer step, the NaN guard, evaluation cadence, early stopping and the best checkpoint
//! on the primary metric, checkpoints (atomic, the last few kept plus the best), `metrics.csv`,
//! the progress display, the learning-curve plot, the weights' moving average
//! (`train.ema_decay`: validated, kept and used in place of the weights) and `--resume`.
//!
//! Results depend only on the config and the seed: Burn's generator is reseeded from (seed,
//! step) before every step, so a resumed run draws what the uninterrupted one would.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rnnzoo_config::{ExperimentConfig, OnNan};
use rnnzoo_models::{clip_grad_norm, grad_norm};

use crate::average::WeightAverage;
use crate::checkpoint::{Checkpoint, CheckpointError, LoopState};
use crate::metrics::CsvLog;
use crate::plot::{self, Curve};
use crate::progress::Progress;
use crate::rundir::RunDir;
use crate::schedule::lr_within_budget;

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Lower is better (losses, error rates).
    Lower,
    /// Higher is better (accuracy, BLEU).
    Higher,
}

/// What a validation metric decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Chooses the best checkpoint and drives early stopping. Exactly one metric has it.
    Primary,
    /// Breaks ties of the primary metric (in order).
    TieBreak,
    /// Only reported.
    Reported,
}

/// A validation metric: its column (`valid_NAME` in `metrics.csv`), direction and role.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// Name, e.g. `loss` or `accuracy`.
    pub name: &'static str,
    /// Which way it improves.
    pub better: Better,
    /// What it decides.
    pub role: Role,
    /// Drawn in the learning-curve plot.
    pub plotted: bool,
}

impl Metric {
    /// The metric that chooses the best checkpoint, drawn in the plot.
    pub const fn primary(name: &'static str, better: Better) -> Self {
        Self {
            name,
            better,
            role: Role::Primary,
            plotted: true,
        }
    }

    /// A metric that breaks ties of the primary one, drawn in the plot.
    pub const fn tie_break(name: &'static str, better: Better) -> Self {
        Self {
            role: Role::TieBreak,
            ..Self::primary(name, better)
        }
    }

    /// A metric that is only reported, drawn in the plot.
    pub const fn reported(name: &'static str, better: Better) -> Self {
        Self {
            role: Role::Reported,
            ..Self::primary(name, better)
        }
    }

    /// The same metric, left out of the plot.
    pub const fn not_plotted(self) -> Self {
        Self {
            plotted: false,
            ..self
        }
    }
}

/// When a task is validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// Every `train.eval_every` steps, and after the last.
    Steps,
    /// After every epoch, and after the last step.
    Epochs,
}

/// Where a training step stands: its step, its epoch and its batch within the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Steps done before this one.
    pub step: usize,
    /// Epoch of this step (0-based).
    pub epoch: usize,
    /// Batch of this step within its epoch.
    pub batch: usize,
}

/// One training step's result.
pub struct StepLoss<C> {
    /// The mean loss of the batch (a `[1]` tensor on the autodiff device).
    pub loss: Tensor<1>,
    /// Units the batch trained on (tokens, examples, sequences), for the throughput.
    pub units: usize,
    /// The state to carry into the next batch, if the task carries one.
    pub carry: Option<C>,
}

/// What a task gives the shared loop.
pub trait Task {
    /// The model.
    type Model: Module;
    /// State carried from one batch to the next (the LM's recurrent state); `()` for none.
    type Carry;

    /// The validation metrics, in `metrics.csv` order; one has [`Role::Primary`].
    fn metrics(&self) -> Vec<Metric>;

    /// The throughput's `metrics.csv` column (`tokens_per_s`) and display unit (`tok/s`).
    fn throughput(&self) -> (&'static str, &'static str);

    /// When to validate.
    fn cadence(&self) -> Cadence;

    /// Batches in one epoch; `None` for an endless stream of fresh batches.
    fn batches_per_epoch(&self) -> Option<usize>;

    /// Applies to a model what its checkpoint does not hold (frozen parameters): called on the
    /// fresh model and again on one loaded to resume.
    fn prepare(&self, model: Self::Model) -> Result<Self::Model, String> {
        Ok(model)
    }

    /// Prepares the batches of `epoch` (called before its first step, also when resuming
    /// inside it).
    fn start_epoch(&mut self, _epoch: usize) {}

    /// Brings the task's batch source to `position` when resuming a run there (a stream that
    /// draws batches from a generator replays its draws).
    fn resume_at(&mut self, _position: Position) {}

    /// The loss of the batch at `position`, from the carried state `carry` (`None` at the
    /// start of an epoch or after a resume without one).
    fn step_loss(
        &mut self,
        model: &Self::Model,
        position: Position,
        carry: Option<Self::Carry>,
        device: &Device,
    ) -> StepLoss<Self::Carry>;

    /// The carried state after the optimizer step (the LM detaches it and resets some rows).
    fn after_step(&mut self, carry: Self::Carry, _position: Position) -> Self::Carry {
        carry
    }

    /// Validates the inference copy of the model; one value per [`Task::metrics`] entry, or
    /// `None` when there is nothing to validate on.
    fn validate(&self, model: &Self::Model) -> Option<Vec<f64>>;

    /// The carried state as bytes for a checkpoint, so a resumed run continues exactly.
    fn save_carry(&self, _carry: &Self::Carry) -> Option<Vec<u8>> {
        None
    }

    /// Reads a state written by [`Task::save_carry`]; `path` names the checkpoint for errors.
    fn load_carry(
        &self,
        _bytes: &[u8],
        _path: &std::path::Path,
        _device: &Device,
    ) -> Result<Option<Self::Carry>, String> {
        Ok(None)
    }
}

/// Errors of the loop, naming the file or step concerned.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A file could not be written or read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The loss or the gradient norm is not finite (and `train.on_nan` says stop, or its
    /// skips are used up).
    #[error(
        "training diverged at step {step}: {what} is {value}; {}; lower train.optimizer.lr, set train.clip_norm, or set train.on_nan: skip",
        last_checkpoint.as_ref().map_or("no checkpoint was written yet".to_string(), |p| format!("the last good checkpoint is kept: {}", p.display()))
    )]
    Diverged {
        /// The step (1-based).
        step: usize,
        /// `the loss` or `the gradient norm`.
        what: &'static str,
        /// The value.
        value: f64,
        /// The newest checkpoint, written before the step.
        last_checkpoint: Option<PathBuf>,
    },
    /// Interrupted (SIGINT, Ctrl-C) after writing a checkpoint.
    #[error(
        "interrupted at step {step}; checkpoint written. Continue with: rnnzoo train --resume {}",
        run.display()
    )]
    Interrupted {
        /// Steps done.
        step: usize,
        /// The run folder.
        run: PathBuf,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

fn io_error(path: &std::path::Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |e| TrainError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Checkpoints kept besides the best.
pub const KEEP_CHECKPOINTS: usize = 3;

/// Where the loop ended.
pub struct Outcome<M> {
    /// The model after the last step.
    pub model: M,
    /// The moving average of its weights after the last step (`train.ema_decay`).
    pub averaged: Option<M>,
    /// The loop position after the last step.
    pub state: LoopState,
    /// The best validation metrics, the step and the epoch (1-based count) they came at.
    pub best: Option<(Vec<f64>, usize, usize)>,
    /// The checkpoint of the best validation, if any validation ran.
    pub best_checkpoint: Option<PathBuf>,
    /// Why the loop stopped before its step budget, if it did.
    pub stopped_early: Option<String>,
}

impl<M: Module> Outcome<M> {
    /// The best checkpoint's weights in `fresh`, a new model of the same architecture (on the
    /// device to evaluate on).
    ///
    /// # Errors
    /// When no validation ran, or the checkpoint does not load.
    pub fn load_best(&self, fresh: M) -> Result<M, TrainError> {
        let path = self.best_checkpoint.as_ref().ok_or_else(|| {
            TrainError::Other("no validation ran, so there is no best checkpoint".into())
        })?;
        Ok(Checkpoint::load_model(path, fresh)?)
    }

    /// The model to use after the last step: the weights' moving average where the run kept
    /// one, else an inference copy of the weights.
    pub fn final_model(&self) -> M {
        self.averaged.clone().unwrap_or_else(|| self.model.valid())
    }
}

/// Bytes written and removed in a new run folder before training, so that a full or read-only
/// disk is found before the first step rather than at the first checkpoint.
const WRITE_PROBE_BYTES: usize = 1 << 20;

/// The run folder of a training: a new one under `runs_root` holding the resolved
/// `config.yaml`, or (`resume`) the existing one. Either way the folder is checked to take a
/// megabyte first.
///
/// # Errors
/// When the folder cannot be made or written (read-only, full, a file in the way), naming it.
pub fn open_run(
    config: &ExperimentConfig,
    runs_root: &std::path::Path,
    resume: Option<&std::path::Path>,
) -> Result<RunDir, TrainError> {
    let run = match resume {
        Some(path) => RunDir::open(path).map_err(io_error(path))?,
        None => {
            let run = RunDir::create(runs_root, &config.name).map_err(|e| TrainError::Io {
                path: runs_root.join(&config.name),
                message: format!("cannot create a run folder here: {e}"),
            })?;
            std::fs::write(run.config(), rnnzoo_config::to_yaml(config))
                .map_err(io_error(&run.config()))?;
            run
        }
    };
    let probe = run.path.join(".write-probe");
    let written = std::fs::write(&probe, vec![0u8; WRITE_PROBE_BYTES])
        .and_then(|()| std::fs::File::open(&probe)?.sync_all());
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| TrainError::Io {
        path: run.path.clone(),
        message: format!(
            "cannot write checkpoints here ({e}); free some space or choose another --runs folder"
        ),
    })?;
    Ok(run)
}

/// Writes a task's `summary.json` atomically.
pub fn write_summary(run: &RunDir, summary: &impl serde::Serialize) -> Result<(), TrainError> {
    let text = serde_json::to_string_pretty(summary).expect("summaries serialise");
    rnnzoo_models::weights::write_atomic(&run.summary(), text.as_bytes())
        .map_err(io_error(&run.summary()))
}

/// Whether `new` beats `best` under `metrics`: the primary metric, then the tie-breakers in
/// order; equal on all of them is not better.
pub fn is_better(metrics: &[Metric], new: &[f64], best: &[f64]) -> bool {
    let decisive = metrics
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::Primary)
        .chain(
            metrics
                .iter()
                .enumerate()
                .filter(|(_, m)| m.role == Role::TieBreak),
        );
    for (i, m) in decisive {
        let (a, b) = (new[i], best[i]);
        if a != b {
            return match m.better {
                Better::Lower => a < b,
                Better::Higher => a > b,
            };
        }
    }
    false
}

/// The step budget of a config: `train.steps`, else `train.epochs` (default 1) epochs.
///
/// # Errors
/// When the task streams endless batches and the config gives no `train.steps`.
pub fn total_steps(
    config: &ExperimentConfig,
    batches_per_epoch: Option<usize>,
) -> Result<usize, TrainError> {
    let t = &config.train;
    match (t.steps, batches_per_epoch) {
        (Some(steps), _) => Ok(steps),
        (None, Some(per_epoch)) => Ok(t.epochs.unwrap_or(1) * per_epoch),
        (None, None) => Err(TrainError::Other(
            "train.steps: required for a task that draws fresh batches every step".into(),
        )),
    }
}

/// Trains `model` on `task` under `config` in `run`, from the start or (`resume`) from the
/// run's latest checkpoint. `device` is the autodiff device the model lives on.
pub fn train<T: Task>(
    task: &mut T,
    mut model: T::Model,
    mut optim: ModuleOptimizer,
    config: &ExperimentConfig,
    run: &RunDir,
    resume: bool,
    device: &Device,
) -> Result<Outcome<T::Model>, TrainError> {
    let t = &config.train;
    let metrics = task.metrics();
    let per_epoch = task.batches_per_epoch();
    let total = total_steps(config, per_epoch)?;
    let (throughput_column, unit) = task.throughput();

    // Where to start: a fresh run, or the latest checkpoint and what it carried.
    let mut state = LoopState::default();
    let mut carry: Option<T::Carry> = None;
    model = task.prepare(model).map_err(TrainError::Other)?;
    let mut resumed_from = None;
    if resume {
        let latest = Checkpoint::latest(&run.checkpoints()).ok_or_else(|| {
            TrainError::Other(format!(
                "{}: no checkpoint to resume from",
                run.checkpoints().display()
            ))
        })?;
        (model, optim, state) = Checkpoint::load(&latest, model, optim)?;
        model = task.prepare(model).map_err(TrainError::Other)?;
        if let Some(bytes) = Checkpoint::read_extra(&latest, CARRY_FILE) {
            carry = task
                .load_carry(&bytes, &latest, device)
                .map_err(TrainError::Other)?;
        }
        println!(
            "resumed from {} (step {}, epoch {})",
            latest.display(),
            state.step,
            state.epoch + 1
        );
        task.resume_at(Position {
            step: state.step,
            epoch: state.epoch,
            batch: state.position,
        });
        resumed_from = Some(latest);
    }
    // The weights' moving average, continued from the checkpoint where it holds one; else it
    // starts in the first step (see there).
    let mut average = match (t.ema_decay, &resumed_from) {
        (Some(decay), Some(latest)) => Checkpoint::load_average(latest, model.valid())?
            .map(|saved| WeightAverage::new(&saved, decay)),
        _ => None,
    };
    let mut best: Option<(Vec<f64>, usize, usize)> = state
        .best_metrics
        .clone()
        .map(|m| (m, state.best_step, state.best_epoch));

    let mut header = vec!["step".to_string(), "epoch".into(), "train_loss".into()];
    header.extend(metrics.iter().map(|m| format!("valid_{}", m.name)));
    header.extend([throughput_column.into(), "lr".into(), "elapsed_s".into()]);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut log = CsvLog::open(&run.metrics(), &header, resume.then_some(state.step))
        .map_err(io_error(&run.metrics()))?;

    let progress = Progress::new(total, state.step, t.log_every).with_unit(unit);
    watch_for_interrupt();
    let deadline = t.max_minutes.map(|m| m * 60.0);
    let elapsed_before = state.elapsed_s;
    let started = Instant::now();
    let mut window_units = 0usize;
    let mut window_start = Instant::now();
    let mut stopped_early = None;
    if per_epoch.is_some() && state.step < total {
        task.start_epoch(state.epoch);
    }

    while state.step < total {
        let position = Position {
            step: state.step,
            epoch: state.epoch,
            batch: state.position,
        };
        // Dropout masks depend only on (seed, step): a resumed run draws what the original would.
        device.seed(
            config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(state.step as u64),
        );
        let step = task.step_loss(&model, position, carry.take(), device);
        // A new average starts at the weights this step has read. Not before its forward pass:
        // Burn draws a parameter's initial values when it is first read, so reading them earlier
        // would change the initialisation, and a run with an average would train differently
        // from the same run without.
        if let (Some(decay), None) = (t.ema_decay, &average) {
            average = Some(WeightAverage::new(&model, decay));
        }
        let mut loss_value = step.loss.clone().into_scalar::<f32>() as f64;
        if injected_nan_steps().contains(&(state.step + 1)) {
            loss_value = f64::NAN;
        }
        let time_used = deadline.map(|d| state.elapsed_s / d);
        // Each batch skipped for a NaN halves the rate from then on.
        let lr = lr_within_budget(&t.schedule, t.optimizer.lr, state.step, total, time_used)
            * 0.5f64.powi(state.nan_skips as i32);
        let mut bad = (!loss_value.is_finite()).then_some(("the loss", loss_value));
        let mut next_carry = None;
        if bad.is_none() {
            let mut grads = GradientsParams::from_grads(step.loss.backward(), &model);
            let norm = match t.clip_norm {
                Some(max) => clip_grad_norm(&model, &mut grads, max),
                None => grad_norm(&model, &grads),
            };
            if norm.is_finite() {
                model = optim.step(lr, model, grads);
                if let Some(average) = &mut average {
                    average.update(&model, state.step + 1);
                }
                next_carry = step.carry;
            } else {
                bad = Some(("the gradient norm", norm));
            }
        }
        if let Some((what, value)) = bad {
            let diverged = TrainError::Diverged {
                step: state.step + 1,
                what,
                value,
                last_checkpoint: Checkpoint::latest(&run.checkpoints()),
            };
            match t.on_nan {
                OnNan::Skip if state.nan_skips < t.max_nan_skips => {
                    state.nan_skips += 1;
                    progress.message(&format!(
                        "step {}: {what} is {value}; batch skipped, learning rate halved ({} of at most {} skips)",
                        state.step + 1,
                        state.nan_skips,
                        t.max_nan_skips
                    ));
                }
                _ => return Err(diverged),
            }
        }
        // A skipped batch's carried state is dropped: its streams start afresh.
        carry = next_carry.map(|c| task.after_step(c, position));

        state.step += 1;
        state.tokens += step.units as u64;
        state.position += 1;
        let epoch_done = per_epoch.is_some_and(|n| state.position >= n);
        state.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
        state.window_loss += loss_value;
        state.window_steps += 1;
        window_units += step.units;
        let per_s = window_units as f64 / window_start.elapsed().as_secs_f64().max(1e-9);
        let train_loss = state.window_loss / state.window_steps as f64;
        progress.update(state.step, train_loss, per_s);

        let out_of_time = deadline.is_some_and(|d| state.elapsed_s >= d);
        let last = state.step == total || out_of_time;
        let validate_now = match task.cadence() {
            Cadence::Steps => state.step.is_multiple_of(t.eval_every) || last,
            Cadence::Epochs => epoch_done || last,
        };
        let validation = if validate_now {
            match &average {
                Some(average) => task.validate(average.model()),
                None => task.validate(&model.valid()),
            }
        } else {
            None
        };
        let mut is_best = false;
        if let Some(values) = &validation {
            if best
                .as_ref()
                .is_none_or(|(b, _, _)| is_better(&metrics, values, b))
            {
                best = Some((values.clone(), state.step, state.epoch + 1));
                state.evals_since_best = 0;
                is_best = true;
            } else {
                state.evals_since_best += 1;
            }
            if let Some((values, step, epoch)) = &best {
                state.best_metrics = Some(values.clone());
                (state.best_step, state.best_epoch) = (*step, *epoch);
            }
            progress.message(&validation_line(&metrics, values, &position, state.step));
        }
        // Rows: every `log_every` steps and at each validation; a task validated per epoch
        // gets one row per epoch (its training loss is the epoch's mean).
        let row_now = match task.cadence() {
            Cadence::Steps => state.step.is_multiple_of(t.log_every) || validate_now || last,
            Cadence::Epochs => validate_now,
        };
        if row_now {
            let mut row = vec![
                Some(state.step as f64),
                Some(state.epoch as f64 + 1.0),
                Some(train_loss),
            ];
            match &validation {
                Some(values) => row.extend(values.iter().map(|&v| Some(v))),
                None => row.extend(metrics.iter().map(|_| None)),
            }
            row.extend([Some(per_s), Some(lr), Some(state.elapsed_s)]);
            log.row(&row).map_err(io_error(&run.metrics()))?;
            (state.window_loss, state.window_steps, window_units) = (0.0, 0, 0);
            window_start = Instant::now();
        }

        if let Some(es) = &t.early_stopping
            && validation.is_some()
            && state.evals_since_best >= es.patience
        {
            stopped_early = Some(format!(
                "early stopping: no validation improvement in {} evaluations",
                es.patience
            ));
        }
        if out_of_time && state.step < total {
            stopped_early = Some(format!(
                "time budget of {} minutes reached",
                t.max_minutes.unwrap_or(0.0)
            ));
        }
        if epoch_done {
            state.epoch += 1;
            state.position = 0;
            carry = None; // each epoch starts every stream afresh
        }
        let interrupted =
            INTERRUPTED.load(Ordering::SeqCst) || injected_interrupt_step() == Some(state.step);
        if validation.is_some()
            || state.step.is_multiple_of(t.checkpoint_every)
            || last
            || stopped_early.is_some()
            || interrupted
        {
            // What is carried into the next batch goes with the checkpoint.
            let extras: Vec<(&str, Vec<u8>)> = carry
                .as_ref()
                .and_then(|c| task.save_carry(c))
                .map(|bytes| vec![(CARRY_FILE, bytes)])
                .unwrap_or_default();
            Checkpoint::save(
                &run.checkpoints(),
                &model,
                average.as_ref().map(WeightAverage::model),
                &optim,
                &state,
                is_best,
                KEEP_CHECKPOINTS,
                &extras,
            )?;
        }
        if interrupted {
            progress.finish();
            return Err(TrainError::Interrupted {
                step: state.step,
                run: run.path.clone(),
            });
        }
        if let Some(reason) = &stopped_early {
            progress.message(reason);
            break;
        }
        if epoch_done && state.step < total {
            task.start_epoch(state.epoch);
        }
    }
    progress.finish();
    draw_curves(run, config, &metrics)?;
    Ok(Outcome {
        model,
        averaged: average.map(WeightAverage::into_model),
        state,
        best,
        best_checkpoint: Checkpoint::best(&run.checkpoints()),
        stopped_early,
    })
}

/// Steps (1-based) whose loss the loop takes for NaN, from `RNNZOO_INJECT_NAN_STEPS` (`5,9`):
/// fault injection, so that tests and users can see what the NaN guard does.
fn injected_nan_steps() -> &'static [usize] {
    static STEPS: OnceLock<Vec<usize>> = OnceLock::new();
    STEPS.get_or_init(|| {
        std::env::var("RNNZOO_INJECT_NAN_STEPS")
            .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
            .unwrap_or_default()
    })
}

/// The step after which the loop acts as if Ctrl-C had been pressed, from
/// `RNNZOO_INJECT_INTERRUPT_STEP`: fault injection, for tests that need the interruption at a
/// known step.
fn injected_interrupt_step() -> Option<usize> {
    static STEP: OnceLock<Option<usize>> = OnceLock::new();
    *STEP.get_or_init(|| {
        std::env::var("RNNZOO_INJECT_INTERRUPT_STEP")
            .ok()
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Set by the SIGINT handler: the loop writes a checkpoint after the current step and stops.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGINT (Ctrl-C) handler once per process. A second Ctrl-C leaves at once.
fn watch_for_interrupt() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        if let Err(e) = installed {
            eprintln!("warning: Ctrl-C will not write a checkpoint: {e}");
        }
    });
}

/// File in a checkpoint holding the state carried into the next batch.
pub const CARRY_FILE: &str = "carried-state.safetensors";

fn validation_line(metrics: &[Metric], values: &[f64], at: &Position, step: usize) -> String {
    let shown: Vec<String> = metrics
        .iter()
        .zip(values)
        .map(|(m, v)| format!("{} {v:.4}", m.name))
        .collect();
    format!(
        "step {step:>6} (epoch {}): valid {}",
        at.epoch + 1,
        shown.join("  ")
    )
}

/// The learning curves of `metrics.csv`: the training loss and every plotted validation metric.
fn draw_curves(
    run: &RunDir,
    config: &ExperimentConfig,
    metrics: &[Metric],
) -> Result<(), TrainError> {
    let path = run.metrics();
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let curve = |label: String, index: Option<usize>| Curve {
        label,
        points: index
            .map(|i| {
                rows.iter()
                    .filter_map(|r| Some((r.first()?.parse().ok()?, r.get(i)?.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut curves = vec![curve("train loss".into(), column("train_loss"))];
    for m in metrics.iter().filter(|m| m.plotted) {
        let name = format!("valid_{}", m.name);
        curves.push(curve(name.replace('_', " "), column(&name)));
    }
    let y_label = if metrics
        .iter()
        .any(|m| m.plotted && m.better == Better::Higher)
    {
        "loss / metric"
    } else {
        "loss"
    };
    plot::draw(&run.plot(), &config.name, y_label, &curves).map_err(TrainError::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCURACY_THEN_LOSS: [Metric; 2] = [
        Metric::primary("accuracy", Better::Higher),
        Metric::tie_break("loss", Better::Lower),
    ];

    #[test]
    fn the_primary_metric_decides_and_tie_breakers_settle_equal_ones() {
        let m = &ACCURACY_THEN_LOSS;
        assert!(is_better(m, &[0.9, 0.5], &[0.8, 0.1]));
        assert!(!is_better(m, &[0.8, 0.1], &[0.9, 0.5]));
        assert!(is_better(m, &[0.9, 0.4], &[0.9, 0.5]));
        assert!(
            !is_better(m, &[0.9, 0.5], &[0.9, 0.5]),
            "equal is not better"
        );
        let reported = [
            ACCURACY_THEN_LOSS[0],
            Metric::reported("loss", Better::Lower),
        ];
        assert!(!is_better(&reported, &[0.9, 0.4], &[0.9, 0.5]));
        let lower = [Metric::primary("loss", Better::Lower)];
        assert!(is_better(&lower, &[1.2], &[1.3]));
    }
}
