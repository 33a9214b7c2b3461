//! Training a language model on the shared loop (`rnnzoo_train::trainer`): stateful truncated
//! BPTT (Zaremba et al. 2014). The hidden state is carried from one segment to the next along
//! each of `batch_size` parallel streams and detached at every segment boundary.

use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::bptt::Segment;
use rnnzoo_data::{BpttBatches, Vocab};
use rnnzoo_models::RecurrentState;
use rnnzoo_models::weights::{HostTensor, from_safetensors_bytes, to_safetensors_bytes};
use rnnzoo_train::checkpoint::Checkpoint;
use rnnzoo_train::metrics::MetricsLog;
use rnnzoo_train::optim::build_optimizer;
use rnnzoo_train::rundir::RunDir;
use rnnzoo_train::trainer::{self, Better, Cadence, Metric, Position, StepLoss, Task};
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
    let label = ckpt.join(trainer::CARRY_FILE).display().to_string();
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
    /// Standard error of `test_loss` (batch means over contiguous stretches of the test text):
    /// gaps between models much larger than it are not evaluation noise.
    pub test_loss_se: Option<f64>,
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
    let split = load_split(&config.data, config.data.split.seed_or(config.seed))?;
    let train_text = joined_text(&split.train, config.data.max_train_chars);
    let vocab = vocab(&train_text);
    let streams = Streams {
        train: vocab.encode(&train_text),
        valid: vocab.encode(&joined_text(&split.valid, None)),
        test: vocab.encode(&joined_text(&split.test, None)),
    };
    Ok((vocab, streams))
}

/// Language modelling for the shared loop: stateful truncated BPTT, the state carried along each
/// stream from one segment to the next (detached, and zeroed for a few streams: see
/// [`streams_to_reset`]), validation on the validation stream's loss.
struct LmTask<'a> {
    batches: BpttBatches,
    valid: &'a [usize],
    config: &'a ExperimentConfig,
}

impl Task for LmTask<'_> {
    type Model = LanguageModel;
    type Carry = RecurrentState;

    fn metrics(&self) -> Vec<Metric> {
        vec![
            Metric::primary("loss", Better::Lower),
            Metric::reported("perplexity", Better::Lower).not_plotted(),
        ]
    }

    fn throughput(&self) -> (&'static str, &'static str) {
        ("tokens_per_s", "tok/s")
    }

    fn cadence(&self) -> Cadence {
        Cadence::Steps
    }

    fn batches_per_epoch(&self) -> Option<usize> {
        Some(self.batches.num_segments())
    }

    fn prepare(&self, model: LanguageModel) -> Result<LanguageModel, String> {
        finetune::freeze(model, &self.config.freeze).map_err(|e| e.to_string())
    }

    fn step_loss(
        &mut self,
        model: &LanguageModel,
        position: Position,
        carry: Option<RecurrentState>,
        device: &Device,
    ) -> StepLoss<RecurrentState> {
        let seg = self.batches.segment(position.batch);
        let (inputs, targets) = segment_tensors(&seg, device);
        let (logits, next) = model.forward(inputs, carry);
        let [b, s, v] = logits.dims();
        StepLoss {
            loss: rnnzoo_models::cross_entropy(
                logits.reshape([b * s, v]),
                targets.reshape([b * s]),
            ),
            units: b * s,
            carry: Some(next),
        }
    }

    fn after_step(&mut self, carry: RecurrentState, position: Position) -> RecurrentState {
        let [_, streams, _] = carry.hidden.dims();
        carry.detach().zero_rows(&streams_to_reset(
            self.config.seed,
            position.step,
            streams,
            self.config.train.state_reset_prob,
        ))
    }

    fn validate(&self, model: &LanguageModel) -> Option<Vec<f64>> {
        let t = &self.config.train;
        (self.valid.len() >= MIN_EVAL_TOKENS).then(|| {
            let e = evaluate(model, self.valid, t.batch_size, t.bptt);
            vec![e.loss, e.perplexity]
        })
    }

    fn save_carry(&self, carry: &RecurrentState) -> Option<Vec<u8>> {
        Some(encode_carry(carry))
    }

    fn load_carry(
        &self,
        bytes: &[u8],
        path: &Path,
        device: &Device,
    ) -> Result<Option<RecurrentState>, String> {
        decode_carry(bytes, path, device)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}

/// The training loss of the last row of a run's `metrics.csv`.
fn last_train_loss(run: &RunDir) -> Result<Option<f64>, LmError> {
    let rows = MetricsLog::read(&run.metrics()).map_err(|e| LmError::io(&run.metrics(), e))?;
    Ok(rows.iter().rev().find_map(|r| r.train_loss))
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
    let run = trainer::open_run(config, runs_root, resume)?;
    let vocab = match resume {
        Some(_) => Some(Vocab::load(&run.vocab()).map_err(LmError::Other)?),
        None => None,
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
        vocab
            .save(&run.vocab())
            .map_err(|e| LmError::io(&run.vocab(), e))?;
    }
    let t = &config.train;
    let source = match (&config.data.corpus, &config.data.path) {
        (Some(name), _) => format!("corpus `{name}`"),
        (None, Some(path)) => path.display().to_string(),
        (None, None) => "the data".into(),
    };
    // Beside `<unk>` (never predicted) the model needs two tokens at least, or it learns a
    // certainty that says nothing (loss 0 from the first step).
    if vocab.len() < 3 {
        return Err(LmError::Other(format!(
            "{source}: the vocabulary has {} token(s) besides `<unk>`; data.min_freq ({}) or \
             data.max_vocab ({}) leave nothing to learn: lower min_freq or raise max_vocab",
            vocab.len().saturating_sub(1),
            config.data.min_freq,
            config
                .data
                .max_vocab
                .map_or("none".into(), |v| v.to_string())
        )));
    }
    if streams.train.len() < 2 * t.batch_size {
        return Err(LmError::Other(format!(
            "{source}: the training split has {} tokens, too few for train.batch_size {} \
             (at least {} are needed)",
            streams.train.len(),
            t.batch_size,
            2 * t.batch_size
        )));
    }
    for (split, tokens, fraction) in [
        ("validation", streams.valid.len(), config.data.split.valid),
        ("test", streams.test.len(), config.data.split.test),
    ] {
        if fraction > 0.0 && tokens < MIN_EVAL_TOKENS {
            eprintln!(
                "warning: {source}: the {split} split has {tokens} tokens (fewer than \
                 {MIN_EVAL_TOKENS}): too few documents or lines to split off {fraction}; \
                 it is not evaluated{}",
                if split == "validation" {
                    ", and the last checkpoint stands for the best"
                } else {
                    ""
                }
            );
        }
    }
    let batches = BpttBatches::new(&streams.train, t.batch_size, t.bptt);

    train_device.seed(config.seed);
    let mut model = LanguageModel::new(&config.model, vocab.len(), &train_device);
    if let Some(initial) = initial {
        model = finetune::transplant(model, initial);
    }
    let cell = rnnzoo_train::model::cell_kind(&config.model)
        .name()
        .to_string();
    let total = trainer::total_steps(config, Some(batches.num_segments()))?;
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
    let valid_tokens = match t.max_eval_tokens {
        Some(n) => &streams.valid[..streams.valid.len().min(n + 1)],
        None => &streams.valid[..],
    };
    let mut task = LmTask {
        batches,
        valid: valid_tokens,
        config,
    };
    let outcome = trainer::train(
        &mut task,
        model,
        build_optimizer(&t.optimizer),
        config,
        &run,
        resume.is_some(),
        &train_device,
    )?;

    // Test and sample with the best checkpoint, as early stopping promises.
    let best_model = match &outcome.best_checkpoint {
        Some(p) => {
            Checkpoint::load_model(p, LanguageModel::new(&config.model, vocab.len(), device))?
        }
        None => outcome.final_model(),
    };
    let test = (streams.test.len() >= MIN_EVAL_TOKENS)
        .then(|| evaluate(&best_model, &streams.test, t.batch_size, t.bptt));
    // `sample.length: 0` asks for no sample (the shipped sweeps use it).
    let sample = config.sample.as_ref().filter(|s| s.length > 0).map(|s| {
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
    let state = outcome.state;
    let summary = Summary {
        name: config.name.clone(),
        cell,
        parameters: best_model.num_parameters(),
        vocab_size: vocab.len(),
        steps: state.step,
        epochs: state.epoch + usize::from(state.position > 0),
        final_train_loss: last_train_loss(&run)?,
        best_valid_loss: outcome.best.as_ref().map(|(m, _, _)| m[0]),
        best_valid_perplexity: outcome.best.as_ref().map(|(m, _, _)| m[0].exp()),
        best_step: outcome.best.as_ref().map(|(_, step, _)| *step),
        test_loss: test.as_ref().map(|e| e.loss),
        test_perplexity: test.as_ref().map(|e| e.perplexity),
        test_loss_se: test.as_ref().and_then(|e| e.standard_error),
        tokens_per_s: state.tokens as f64 / state.elapsed_s.max(1e-9),
        wall_s: wall.elapsed().as_secs_f64(),
        sample_loss: sample
            .as_ref()
            .filter(|g| !g.tokens.is_empty())
            .map(|g| -g.log_prob / g.tokens.len() as f64),
        sample: sample.map(|g| g.text),
    };
    trainer::write_summary(&run, &summary)?;
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
