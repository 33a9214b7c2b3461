//! Training a language model: stateful truncated BPTT (Zaremba et al. 2014). The hidden state
//! is carried from one segment to the next along each of `batch_size` parallel streams and
//! detached at every segment boundary; gradients are clipped by their global norm.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::bptt::Segment;
use rnnzoo_data::{BpttBatches, Vocab};
use rnnzoo_models::weights::{HostTensor, from_safetensors_bytes, to_safetensors_bytes};
use rnnzoo_models::{RecurrentState, clip_grad_norm};
use rnnzoo_train::checkpoint::{Checkpoint, LoopState};
use rnnzoo_train::metrics::{MetricsLog, MetricsRow};
use rnnzoo_train::optim::build_optimizer;
use rnnzoo_train::plot;
use rnnzoo_train::progress::Progress;
use rnnzoo_train::rundir::RunDir;
use rnnzoo_train::schedule::lr_within_budget;
use serde::Serialize;

use crate::LmError;
use crate::data::{build_vocab, joined_text, load_split};
use crate::finetune;
use crate::inference::{SampleOptions, evaluate, generate};
use crate::model::LanguageModel;

/// Validation and test evaluation lay the text out as the training batch does (`batch_size`
/// streams). Measured on the Shakespeare LM: 8 streams and 64 gave losses 0.001 apart, and 64
/// evaluates several times faster.
const MIN_EVAL_TOKENS: usize = 16;
/// Checkpoints kept besides the best one.
const KEEP_CHECKPOINTS: usize = 2;

/// File in a checkpoint holding the recurrent state carried into the next segment.
const CARRY_FILE: &str = "carried-state.safetensors";

fn encode_carry(state: &RecurrentState) -> Vec<u8> {
    let host = |t: &Tensor<3>| HostTensor {
        shape: t.dims().to_vec(),
        values: t
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("f32 state"),
    };
    let mut map = std::collections::BTreeMap::new();
    map.insert("hidden".to_string(), host(&state.hidden));
    if let Some(c) = &state.cell {
        map.insert("cell".to_string(), host(c));
    }
    to_safetensors_bytes(&map)
}

fn decode_carry(bytes: &[u8], ckpt: &Path, device: &Device) -> Result<RecurrentState, LmError> {
    let label = ckpt.join(CARRY_FILE).display().to_string();
    let map = from_safetensors_bytes(bytes, &label).map_err(|e| LmError::Other(e.to_string()))?;
    let tensor = |h: &HostTensor| -> Result<Tensor<3>, LmError> {
        let shape: [usize; 3] = h
            .shape
            .clone()
            .try_into()
            .map_err(|_| LmError::Other(format!("{label}: state is not 3-d")))?;
        Ok(Tensor::from_data(
            TensorData::new(h.values.clone(), shape),
            device,
        ))
    };
    let hidden = map
        .get("hidden")
        .ok_or_else(|| LmError::Other(format!("{label}: no `hidden`")))?;
    Ok(RecurrentState {
        hidden: tensor(hidden)?,
        cell: map.get("cell").map(tensor).transpose()?,
    })
}

/// Final metrics of a run, written to `summary.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// Cell name (`lstm-peephole`, ...).
    pub cell: String,
    /// Scalar parameters.
    pub parameters: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Optimizer steps done.
    pub steps: usize,
    /// Epochs started.
    pub epochs: usize,
    /// Mean training loss over the last logged interval (nats per token).
    pub final_train_loss: Option<f64>,
    /// Best validation loss (nats per token).
    pub best_valid_loss: Option<f64>,
    /// Perplexity at the best validation loss.
    pub best_valid_perplexity: Option<f64>,
    /// Step of the best validation loss.
    pub best_step: Option<usize>,
    /// Test loss of the best checkpoint (nats per token).
    pub test_loss: Option<f64>,
    /// Test perplexity of the best checkpoint.
    pub test_perplexity: Option<f64>,
    /// Mean training throughput (target tokens per second).
    pub tokens_per_s: f64,
    /// Training wall time in seconds (evaluation included).
    pub wall_s: f64,
    /// A sample from the best checkpoint, when the config asks for one.
    pub sample: Option<String>,
    /// The sample's continuation's mean `-log p` per token under the model (temperature 1):
    /// below the test loss for a sample at a temperature under 1, far above it when the model
    /// babbles (see `train.state_reset_prob`).
    pub sample_loss: Option<f64>,
}

/// How far (nats per token) the sample's loss under the model may exceed the test loss before
/// [`Summary::sample_warning`] warns. A sample drawn at a temperature below 1 scores better than
/// held-out text; one from a model stuck babbling (its probability spread over rare characters)
/// scored 3.7 against a test loss of 2.09 on the quick start.
pub const SAMPLE_LOSS_MARGIN: f64 = 0.5;

impl Summary {
    /// A warning when the model finds its own sample much less likely than held-out text, the
    /// sign of a model that babbles from the zero state generation starts from.
    pub fn sample_warning(&self, state_reset_prob: f64) -> Option<String> {
        let (sample, test) = (self.sample_loss?, self.test_loss?);
        (sample > test + SAMPLE_LOSS_MARGIN).then(|| {
            format!(
                "the model finds its own sample less likely than held-out text ({sample:.3} \
                 against a test loss of {test:.3} nats/token): it babbles from a fresh state; \
                 train longer or raise train.state_reset_prob (now {state_reset_prob})"
            )
        })
    }
}

/// The streams whose carried state is zeroed after `step`: each with probability `p`, drawn
/// from (seed, step) alone so a resumed run resets the same ones.
///
/// Without resets a stream's state is zero only at the start of an epoch, and a model trained
/// that way can fail badly from a zero state: measured on the Shakespeare LM at step 983 (first
/// epoch), a held-out play scored from a zero state fell into a collapsed regime (mean |c| 0.4
/// instead of ~10) and stayed there at ~9 nats/char, while the same text after a warm state
/// scored 1.6. Rare resets are not enough either: at `p = 0.01`, 2 of 8 seeds of the quick start
/// scored held-out lines from a zero state as well as warm ones (2.15 against 2.11 nats/char)
/// yet, prompted with an all-capitals `ROMEO:`, fell into a regime spreading its probability over
/// rare characters (`{`, `5`, `&`, ...) and generated only those; at 0.05 none of the 8 did.
pub fn streams_to_reset(seed: u64, step: usize, streams: usize, p: f64) -> Vec<usize> {
    if p <= 0.0 {
        return Vec::new();
    }
    let mut rng = rnnzoo_data::SplitMix64::new(
        seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
            .wrapping_add(step as u64),
    );
    (0..streams).filter(|_| rng.uniform() < p).collect()
}

/// Token tensors of a segment on a device.
pub(crate) fn segment_tensors(seg: &Segment, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let shape = [seg.batch, seg.steps];
    (
        Tensor::from_data(TensorData::new(seg.inputs.clone(), shape), device),
        Tensor::from_data(TensorData::new(seg.targets.clone(), shape), device),
    )
}

/// The encoded splits of an experiment.
pub struct Streams {
    /// Training tokens.
    pub train: Vec<usize>,
    /// Validation tokens.
    pub valid: Vec<usize>,
    /// Test tokens.
    pub test: Vec<usize>,
}

/// Reads the corpus, builds (or reuses) the vocabulary and encodes the three splits.
pub fn prepare(
    config: &ExperimentConfig,
    vocab: Option<Vocab>,
) -> Result<(Vocab, Streams), LmError> {
    prepare_with(config, |train_text| {
        vocab.unwrap_or_else(|| build_vocab(&config.data, train_text))
    })
}

/// [`prepare`] with the vocabulary chosen from the training text by `vocab`.
pub fn prepare_with(
    config: &ExperimentConfig,
    vocab: impl FnOnce(&str) -> Vocab,
) -> Result<(Vocab, Streams), LmError> {
    let split = load_split(&config.data, config.seed)?;
    let train_text = joined_text(&split.train, config.data.max_train_chars);
    let vocab = vocab(&train_text);
    let streams = Streams {
        train: vocab.encode(&train_text),
        valid: vocab.encode(&joined_text(&split.valid, None)),
        test: vocab.encode(&joined_text(&split.test, None)),
    };
    Ok((vocab, streams))
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), LmError> {
    let text = serde_json::to_string_pretty(value).expect("serialisable");
    rnnzoo_models::weights::write_atomic(path, text.as_bytes()).map_err(|e| LmError::io(path, e))
}

/// Trains the experiment `config` in a new run directory under `runs_root`, or continues the run
/// at `resume` from its last checkpoint. Returns the run directory and its summary.
pub fn train(
    config: &ExperimentConfig,
    runs_root: &Path,
    resume: Option<&Path>,
    device: &Device,
) -> Result<(RunDir, Summary), LmError> {
    let wall = Instant::now();
    let (run, vocab) = match resume {
        Some(path) => {
            let run = RunDir::open(path).map_err(|e| LmError::Other(e.to_string()))?;
            let vocab = Vocab::load(&run.vocab()).map_err(LmError::Other)?;
            (run, Some(vocab))
        }
        None => {
            let run =
                RunDir::create(runs_root, &config.name).map_err(|e| LmError::io(runs_root, e))?;
            (run, None)
        }
    };
    println!("run: {}", run.path.display());
    let train_device = device.clone().autodiff();
    let initial = match resume {
        Some(_) => None, // the checkpoint holds the fine-tuned weights already
        None => finetune::load_initial(config, &train_device)?,
    };
    let (vocab, streams) = match (&initial, vocab) {
        (Some(initial), _) => {
            prepare_with(config, |text| finetune::vocabulary(config, initial, text))?
        }
        (None, vocab) => prepare(config, vocab)?,
    };
    if let (Some(initial), Some(run)) = (&initial, &config.init_from) {
        println!(
            "fine-tuning from {}: vocabulary {} -> {} ({:?})",
            run.display(),
            initial.vocab.len(),
            vocab.len(),
            config.vocab
        );
    }
    if resume.is_none() {
        std::fs::write(run.config(), rnnzoo_config::to_yaml(config))
            .map_err(|e| LmError::io(&run.config(), e))?;
        vocab
            .save(&run.vocab())
            .map_err(|e| LmError::io(&run.vocab(), e))?;
    }
    let t = &config.train;
    if streams.train.len() < 2 * t.batch_size {
        return Err(LmError::Other(format!(
            "the training text has {} tokens, too few for batch_size {}",
            streams.train.len(),
            t.batch_size
        )));
    }
    let batches = BpttBatches::new(&streams.train, t.batch_size, t.bptt);
    let total = t
        .steps
        .unwrap_or_else(|| t.epochs.unwrap_or(1) * batches.num_segments());

    train_device.seed(config.seed);
    let mut model = LanguageModel::new(&config.model, vocab.len(), &train_device);
    if let Some(initial) = initial {
        model = finetune::transplant(model, initial);
    }
    let mut optim = build_optimizer(&t.optimizer);
    let mut state = LoopState::default();
    let mut carried: Option<RecurrentState> = None;
    if resume.is_some() {
        let ckpt = Checkpoint::latest(&run.checkpoints()).ok_or_else(|| {
            LmError::Other(format!(
                "{}: no checkpoint to resume from",
                run.checkpoints().display()
            ))
        })?;
        (model, optim, state) = Checkpoint::load(&ckpt, model, optim)?;
        carried = Checkpoint::read_extra(&ckpt, CARRY_FILE)
            .map(|bytes| decode_carry(&bytes, &ckpt, &train_device))
            .transpose()?;
        println!(
            "resumed from {} (step {}, epoch {})",
            ckpt.display(),
            state.step,
            state.epoch
        );
    }
    let mut model = finetune::freeze(model, &config.freeze)?;
    let mut log = MetricsLog::open(&run.metrics(), resume.map(|_| state.step))
        .map_err(|e| LmError::io(&run.metrics(), e))?;

    let cell = rnnzoo_train::model::cell_kind(&config.model)
        .name()
        .to_string();
    println!(
        "{} {cell} x{} hidden {}: {} parameters, vocabulary {}, {} training tokens ({} segments of {} x {} per epoch), {total} steps",
        config.name,
        config.model.layers,
        config.model.hidden,
        model.num_parameters(),
        vocab.len(),
        streams.train.len(),
        batches.num_segments(),
        t.batch_size,
        t.bptt
    );

    let mut progress = Progress::new(total, state.step, t.log_every);
    let mut hidden: Option<RecurrentState> = carried;
    let (mut interval_loss, mut interval_tokens, mut interval_steps) = (0.0f64, 0u64, 0usize);
    let mut interval_start = Instant::now();
    let mut last_train_loss = None;
    let run_start = Instant::now();
    let elapsed_before = state.elapsed_s;
    let deadline = t.max_minutes.map(|m| m * 60.0);
    let mut stop_reason = None;

    while state.step < total {
        if state.position == 0 {
            hidden = None; // each epoch starts every stream afresh
        }
        let seg = batches.segment(state.position);
        // Dropout masks depend only on (seed, step): a resumed run draws what the original would.
        train_device.seed(
            config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(state.step as u64),
        );
        let (inputs, targets) = segment_tensors(&seg, &train_device);
        let (logits, next_hidden) = model.forward(inputs, hidden);
        let [b, s, v] = logits.dims();
        let loss =
            rnnzoo_models::cross_entropy(logits.reshape([b * s, v]), targets.reshape([b * s]));
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            return Err(LmError::Other(format!(
                "training diverged at step {}: loss is {loss_value}; lower train.optimizer.lr or set train.clip_norm",
                state.step + 1
            )));
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if let Some(max) = t.clip_norm {
            clip_grad_norm(&model, &mut grads, max);
        }
        let time_used = deadline.map(|d| state.elapsed_s / d);
        let lr = lr_within_budget(&t.schedule, t.optimizer.lr, state.step, total, time_used);
        model = optim.step(lr, model, grads);
        hidden = Some(next_hidden.detach().zero_rows(&streams_to_reset(
            config.seed,
            state.step,
            b,
            t.state_reset_prob,
        )));

        state.step += 1;
        state.tokens += (b * s) as u64;
        state.position += 1;
        if state.position == batches.num_segments() {
            state.position = 0;
            state.epoch += 1;
        }
        state.elapsed_s = elapsed_before + run_start.elapsed().as_secs_f64();
        interval_loss += loss_value;
        interval_tokens += (b * s) as u64;
        interval_steps += 1;
        let tokens_per_s =
            interval_tokens as f64 / interval_start.elapsed().as_secs_f64().max(1e-9);
        progress.update(
            state.step,
            interval_loss / interval_steps as f64,
            tokens_per_s,
        );

        let evaluate_now = state.step.is_multiple_of(t.eval_every) || state.step == total;
        let out_of_time = deadline.is_some_and(|d| state.elapsed_s >= d);
        let mut row = None;
        if state.step.is_multiple_of(t.log_every) || evaluate_now || out_of_time {
            let train_loss = interval_loss / interval_steps as f64;
            last_train_loss = Some(train_loss);
            row = Some(MetricsRow {
                step: state.step,
                epoch: state.epoch,
                train_loss: Some(train_loss),
                tokens_per_s: Some(tokens_per_s),
                lr,
                elapsed_s: state.elapsed_s,
                ..Default::default()
            });
            (interval_loss, interval_tokens, interval_steps) = (0.0, 0, 0);
            interval_start = Instant::now();
        }
        let mut checkpoint_now = state.step.is_multiple_of(t.checkpoint_every);
        let mut is_best = false;
        if evaluate_now || out_of_time {
            let valid_tokens = match t.max_eval_tokens {
                Some(n) => &streams.valid[..streams.valid.len().min(n + 1)],
                None => &streams.valid[..],
            };
            if valid_tokens.len() >= MIN_EVAL_TOKENS {
                let eval = evaluate(&model.valid(), valid_tokens, t.batch_size, t.bptt);
                progress.set_valid(eval.loss, eval.perplexity);
                if let Some(r) = row.as_mut() {
                    r.valid_loss = Some(eval.loss);
                    r.perplexity = Some(eval.perplexity);
                }
                if state.best_valid.is_none_or(|best| eval.loss < best) {
                    state.best_valid = Some(eval.loss);
                    state.evals_since_best = 0;
                    is_best = true;
                } else {
                    state.evals_since_best += 1;
                }
                checkpoint_now = true;
            }
        }
        if let Some(r) = &row {
            log.append(r).map_err(|e| LmError::io(&run.metrics(), e))?;
        }
        if let Some(es) = &t.early_stopping
            && state.evals_since_best >= es.patience
        {
            stop_reason = Some(format!(
                "early stopping: no validation improvement in {} evaluations",
                es.patience
            ));
        }
        if out_of_time {
            stop_reason = Some(format!(
                "time budget of {} minutes reached",
                t.max_minutes.unwrap_or(0.0)
            ));
        }
        if checkpoint_now || state.step == total || stop_reason.is_some() {
            // The carried state goes with the checkpoint, so a resumed run continues exactly.
            let carry = match (&hidden, state.position) {
                (Some(h), p) if p > 0 => vec![(CARRY_FILE, encode_carry(h))],
                _ => vec![],
            };
            Checkpoint::save(
                &run.checkpoints(),
                &model,
                &optim,
                &state,
                is_best,
                KEEP_CHECKPOINTS,
                &carry,
            )?;
        }
        if let Some(reason) = &stop_reason {
            progress.message(reason);
            break;
        }
    }
    progress.finish();

    let rows = MetricsLog::read(&run.metrics()).map_err(|e| LmError::io(&run.metrics(), e))?;
    plot::draw(
        &run.plot(),
        &config.name,
        "loss (nats/token)",
        &plot::loss_curves(&rows),
    )
    .map_err(LmError::Other)?;

    // Test and sample with the best checkpoint, as early stopping promises.
    let best_path: Option<PathBuf> = Checkpoint::best(&run.checkpoints());
    let best_model = match &best_path {
        Some(p) => {
            Checkpoint::load_model(p, LanguageModel::new(&config.model, vocab.len(), device))?
        }
        None => model.valid(),
    };
    let best_step = rows
        .iter()
        .filter(|r| r.valid_loss.is_some())
        .min_by(|a, b| a.valid_loss.partial_cmp(&b.valid_loss).expect("finite"))
        .map(|r| r.step);
    let test = (streams.test.len() >= MIN_EVAL_TOKENS)
        .then(|| evaluate(&best_model, &streams.test, t.batch_size, t.bptt));
    let sample = config.sample.as_ref().map(|s| {
        generate(
            &best_model,
            &vocab,
            &SampleOptions {
                prompt: s.prompt.clone(),
                length: s.length,
                temperature: s.temperature,
                top_k: s.top_k,
                seed: config.seed,
            },
        )
    });
    let summary = Summary {
        name: config.name.clone(),
        cell,
        parameters: model.num_parameters(),
        vocab_size: vocab.len(),
        steps: state.step,
        epochs: state.epoch + usize::from(state.position > 0),
        final_train_loss: last_train_loss,
        best_valid_loss: state.best_valid,
        best_valid_perplexity: state.best_valid.map(f64::exp),
        best_step,
        test_loss: test.as_ref().map(|e| e.loss),
        test_perplexity: test.as_ref().map(|e| e.perplexity),
        tokens_per_s: state.tokens as f64 / state.elapsed_s.max(1e-9),
        wall_s: wall.elapsed().as_secs_f64(),
        sample_loss: sample
            .as_ref()
            .filter(|g| !g.tokens.is_empty())
            .map(|g| -g.log_prob / g.tokens.len() as f64),
        sample: sample.map(|g| g.text),
    };
    write_json(&run.summary(), &summary)?;
    Ok((run, summary))
}

#[cfg(test)]
mod tests {
    use super::{Summary, streams_to_reset};

    #[test]
    fn a_sample_far_less_likely_than_held_out_text_warns() {
        let summary = |sample_loss, test_loss| Summary {
            sample_loss,
            test_loss,
            ..Summary::default()
        };
        // The quick start's babbling model, and a healthy one.
        let warning = summary(Some(3.702), Some(2.090))
            .sample_warning(0.01)
            .unwrap();
        assert!(warning.contains("3.702") && warning.contains("state_reset_prob (now 0.01)"));
        assert!(
            summary(Some(1.799), Some(2.088))
                .sample_warning(0.05)
                .is_none()
        );
        assert!(
            summary(Some(2.5), Some(2.088))
                .sample_warning(0.05)
                .is_none()
        );
        assert!(summary(None, Some(2.0)).sample_warning(0.05).is_none());
        assert!(summary(Some(9.0), None).sample_warning(0.05).is_none());
    }

    #[test]
    fn state_resets_are_reproducible_and_at_the_asked_rate() {
        assert_eq!(
            streams_to_reset(3, 10, 64, 0.5),
            streams_to_reset(3, 10, 64, 0.5)
        );
        assert_ne!(
            streams_to_reset(3, 10, 64, 0.5),
            streams_to_reset(3, 11, 64, 0.5)
        );
        assert!(streams_to_reset(3, 10, 64, 0.0).is_empty());
        assert_eq!(
            streams_to_reset(3, 10, 64, 1.0),
            (0..64).collect::<Vec<_>>()
        );
        let total: usize = (0..2000)
            .map(|step| streams_to_reset(7, step, 64, 0.01).len())
            .sum();
        let rate = total as f64 / (2000.0 * 64.0);
        assert!((rate - 0.01).abs() < 0.002, "{rate}");
    }
}
