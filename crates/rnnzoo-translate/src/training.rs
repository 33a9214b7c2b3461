//! Training a translation model on the shared loop (`rnnzoo_train::trainer`): epochs of
//! length-bucketed batches, teacher forcing (or scheduled sampling), label smoothing,
//! validation loss plus greedy BLEU and chrF every `train.eval_every` steps, the best
//! checkpoint on validation BLEU.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::{SplitMix64, bucketed_batches};
use rnnzoo_train::optim::build_optimizer;
use rnnzoo_train::rundir::RunDir;
use rnnzoo_train::trainer::{self, Better, Cadence, Metric, Position, StepLoss, Task};
use serde::Serialize;

use crate::TranslateError;
use crate::data::{Encoded, Prepared, prepare, token_count};
use crate::inference::{Scores, evaluate, teacher_forced_loss};
use crate::model::{Batch, Seq2Seq, smoothed_cross_entropy};

/// Batches are cut from pools of this many batches' worth of pairs sorted by source length.
const BUCKET_POOL: usize = 50;

/// Final numbers of a run, written to `summary.json`.
#[derive(Serialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// Cell name.
    pub cell: String,
    /// Attention kind.
    pub attention: String,
    /// Scalar parameters.
    pub parameters: usize,
    /// Optimizer steps run.
    pub steps: usize,
    /// Best validation BLEU (greedy, `decode.valid_beam`).
    pub best_valid_bleu: f64,
    /// Step of the best validation BLEU.
    pub best_step: usize,
    /// Test scores of the best checkpoint with `decode.beam`.
    pub test: Scores,
    /// Training pairs.
    pub train_pairs: usize,
    /// Target tokens per second of training.
    pub tokens_per_s: f64,
    /// Training wall time in seconds (without the final test decoding).
    pub train_s: f64,
    /// Whole wall time in seconds.
    pub wall_s: f64,
}

/// Translation for the shared loop.
struct TranslationTask<'a> {
    config: &'a ExperimentConfig,
    data: &'a Prepared,
    lengths: Vec<usize>,
    epoch_batches: Vec<Vec<usize>>,
    valid: Vec<Encoded>,
}

impl Task for TranslationTask<'_> {
    type Model = Seq2Seq;
    type Carry = ();

    fn metrics(&self) -> Vec<Metric> {
        vec![
            Metric::reported("loss", Better::Lower),
            Metric::primary("bleu", Better::Higher),
            Metric::tie_break("chrf", Better::Higher).not_plotted(),
        ]
    }

    fn throughput(&self) -> (&'static str, &'static str) {
        ("tokens_per_s", "tok/s")
    }

    fn cadence(&self) -> Cadence {
        Cadence::Steps
    }

    fn batches_per_epoch(&self) -> Option<usize> {
        Some(self.lengths.len().div_ceil(self.config.train.batch_size))
    }

    fn prepare(&self, mut model: Seq2Seq) -> Result<Seq2Seq, String> {
        for name in &self.config.freeze {
            match name.as_str() {
                "embedding" => {
                    model.source_embedding = model.source_embedding.no_grad();
                    model.decoder.embedding = model.decoder.embedding.no_grad();
                }
                "output" => model.decoder.output = model.decoder.output.no_grad(),
                layer => {
                    if let Some(k) = rnnzoo_config::frozen_layer(layer) {
                        model.encoder.freeze_layer(k);
                        model.decoder.recurrent.freeze_layer(k);
                    }
                }
            }
        }
        Ok(model)
    }

    fn start_epoch(&mut self, epoch: usize) {
        self.epoch_batches = bucketed_batches(
            &self.lengths,
            self.config.train.batch_size,
            BUCKET_POOL,
            self.config.seed.wrapping_add(epoch as u64),
        );
    }

    fn step_loss(
        &mut self,
        model: &Seq2Seq,
        position: Position,
        _carry: Option<()>,
        device: &Device,
    ) -> StepLoss<()> {
        let train = &self.data.splits[0];
        let indices = &self.epoch_batches[position.batch];
        let pairs: Vec<(&[usize], &[usize])> = indices
            .iter()
            .map(|&i| (train[i].source.as_slice(), train[i].target.as_slice()))
            .collect();
        let batch = Batch::new(&pairs, device);
        let t = &self.config.train;
        let encoded = model.encode(batch.source.clone(), &batch.source_lengths);
        let attended = if t.teacher_forcing < 1.0 {
            // Scheduled sampling: per row and step, the model's own word with probability
            // 1 - teacher_forcing, drawn from (seed, step) so a resumed run draws the same.
            let mut rng = SplitMix64::new(
                self.config.seed ^ (position.step as u64).wrapping_mul(0x9E37_79B9),
            );
            let p = t.teacher_forcing;
            let mut own = |_: usize, _: usize| rng.uniform() >= p;
            model.decode_steps(&encoded, batch.target_in.clone(), Some(&mut own))
        } else {
            model.decode_teacher_forced(&encoded, batch.target_in.clone())
        };
        let logits = model.logits_at(attended, &batch.rows);
        StepLoss {
            loss: smoothed_cross_entropy(logits, batch.targets, t.label_smoothing),
            units: batch.rows.len(),
            carry: None,
        }
    }

    fn validate(&self, model: &Seq2Seq) -> Option<Vec<f64>> {
        let c = self.config;
        let loss = teacher_forced_loss(model, &self.valid, c.train.batch_size);
        let scores = evaluate(
            model,
            &self.data.target,
            &self.valid,
            &c.decode,
            c.decode.valid_beam,
        );
        Some(vec![loss, scores.scores.bleu, scores.scores.chrf])
    }
}

/// The validation pairs used each evaluation: all of them, or the first ones holding
/// `train.max_eval_tokens` target tokens.
fn validation_subset(config: &ExperimentConfig, valid: &[Encoded]) -> Vec<Encoded> {
    let Some(max) = config.train.max_eval_tokens else {
        return valid.to_vec();
    };
    let mut tokens = 0;
    valid
        .iter()
        .take_while(|e| {
            tokens += e.target.len() + 1;
            tokens <= max.max(1) || tokens == e.target.len() + 1
        })
        .cloned()
        .collect()
}

/// Trains a translation model for `config` in a new run directory under `runs_root`, or
/// continues the run at `resume` from its latest checkpoint; then translates the test split
/// with the best checkpoint and writes `test.hyp.txt`, `test.ref.txt` and `summary.json`.
pub fn train(
    config: &ExperimentConfig,
    runs_root: &Path,
    resume: Option<&Path>,
    device: &Device,
) -> Result<(RunDir, Summary), TranslateError> {
    let wall = Instant::now();
    let run = trainer::open_run(config, runs_root, resume)?;
    println!("run: {}", run.path.display());
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let data = prepare(config, &run, resume.is_some())?;
    let model = Seq2Seq::new(
        &config.model,
        data.source.len(),
        data.target.len(),
        &train_device,
    );
    let (src_tokens, tgt_tokens) = token_count(&data.splits[0]);
    let m = &config.model;
    println!(
        "{}: {} {} x{} hidden {} -> decoder {}, attention {}{}, {} parameters; vocabularies {} / {}; pairs {} / {} / {} ({} / {} / {} longer than data.max_length left out); {} source and {} target training tokens",
        config.name,
        if m.bidirectional {
            "bidirectional"
        } else {
            "unidirectional"
        },
        rnnzoo_train::model::cell_kind(m).name(),
        m.layers,
        m.hidden,
        model.hidden_size(),
        model.decoder.kind.name(),
        if model.decoder.input_feeding {
            " with input feeding"
        } else {
            ""
        },
        model.num_params(),
        data.source.len(),
        data.target.len(),
        data.splits[0].len(),
        data.splits[1].len(),
        data.splits[2].len(),
        data.too_long[0],
        data.too_long[1],
        data.too_long[2],
        src_tokens,
        tgt_tokens,
    );
    let mut task = TranslationTask {
        config,
        data: &data,
        lengths: data.splits[0].iter().map(|e| e.source.len()).collect(),
        epoch_batches: Vec::new(),
        valid: validation_subset(config, &data.splits[1]),
    };
    let optim = build_optimizer(&config.train.optimizer);
    let outcome = trainer::train(
        &mut task,
        model,
        optim,
        config,
        &run,
        resume.is_some(),
        &train_device,
    )?;
    let train_s = wall.elapsed().as_secs_f64();
    let best = outcome.load_best(Seq2Seq::new(
        &config.model,
        data.source.len(),
        data.target.len(),
        device,
    ))?;
    let (best_valid, best_step, _) = outcome.best.clone().expect("a best checkpoint has metrics");
    let test = crate::inference::evaluate_test(&best, &data, config, &run)?;
    let state = &outcome.state;
    let summary = Summary {
        name: config.name.clone(),
        cell: rnnzoo_train::model::cell_kind(m).name().into(),
        attention: best.decoder.kind.name().into(),
        parameters: best.num_params(),
        steps: state.step,
        best_valid_bleu: best_valid[1],
        best_step,
        test,
        train_pairs: data.splits[0].len(),
        tokens_per_s: state.tokens as f64 / state.elapsed_s.max(1e-9),
        train_s,
        wall_s: wall.elapsed().as_secs_f64(),
    };
    trainer::write_summary(&run, &summary)?;
    Ok((run, summary))
}
