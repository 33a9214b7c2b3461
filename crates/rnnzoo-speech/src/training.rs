//! Training an acoustic model on the shared loop (`rnnzoo_train::trainer`): epochs of
//! length-bucketed batches with SpecAugment, the CTC loss, validation loss plus greedy CER and
//! WER every `train.eval_every` steps, the best checkpoint on validation CER.

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

use crate::SpeechError;
use crate::data::{Prepared, Utterance, prepare};
use crate::features::spec_augment;
use crate::inference::{Scores, ctc_set_loss, evaluate, evaluate_test};
use crate::model::AcousticModel;
use crate::text::BLANK;

/// Batches are cut from pools of this many batches' worth of utterances sorted by length.
const BUCKET_POOL: usize = 50;

/// Final numbers of a run, written to `summary.json`.
#[derive(Serialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// Cell name.
    pub cell: String,
    /// Scalar parameters.
    pub parameters: usize,
    /// Optimizer steps run.
    pub steps: usize,
    /// Best validation CER (greedy).
    pub best_valid_cer: f64,
    /// Step of the best validation CER.
    pub best_step: usize,
    /// Test scores of the best checkpoint: greedy, beam and (with `decode.lm_text`) beam
    /// with the language model.
    pub test: Vec<Scores>,
    /// Training utterances.
    pub train_utterances: usize,
    /// Held-out speakers of the test split.
    pub test_speakers: Vec<String>,
    /// Feature frames per second of training.
    pub frames_per_s: f64,
    /// Feature frames computed per second when preparing the data (all threads).
    pub feature_frames_per_s: f64,
    /// Training wall time in seconds (without the final test decoding).
    pub train_s: f64,
    /// Whole wall time in seconds.
    pub wall_s: f64,
}

/// Speech recognition for the shared loop.
struct SpeechTask<'a> {
    config: &'a ExperimentConfig,
    data: &'a Prepared,
    lengths: Vec<usize>,
    epoch_batches: Vec<Vec<usize>>,
    valid: Vec<&'a Utterance>,
}

impl Task for SpeechTask<'_> {
    type Model = AcousticModel;
    type Carry = ();

    fn metrics(&self) -> Vec<Metric> {
        vec![
            Metric::reported("loss", Better::Lower),
            Metric::primary("cer", Better::Lower),
            Metric::tie_break("wer", Better::Lower),
        ]
    }

    fn throughput(&self) -> (&'static str, &'static str) {
        ("frames_per_s", "frames/s")
    }

    fn cadence(&self) -> Cadence {
        Cadence::Steps
    }

    fn batches_per_epoch(&self) -> Option<usize> {
        Some(self.lengths.len().div_ceil(self.config.train.batch_size))
    }

    fn prepare(&self, mut model: AcousticModel) -> Result<AcousticModel, String> {
        for name in &self.config.freeze {
            if name == "output" {
                model.output = model.output.no_grad();
            } else if let Some(k) = rnnzoo_config::frozen_layer(name) {
                model.encoder.freeze_layer(k);
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
        model: &AcousticModel,
        position: Position,
        _carry: Option<()>,
        device: &Device,
    ) -> StepLoss<()> {
        let train = &self.data.splits[0];
        let chosen: Vec<&Utterance> = self.epoch_batches[position.batch]
            .iter()
            .map(|&i| &train[i])
            .collect();
        // SpecAugment on copies, drawn from (seed, step) so that a resumed run draws the same.
        let mut rng = SplitMix64::new(
            self.config.seed ^ (position.step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mels = self.config.features.mels;
        let augmented: Vec<Vec<f32>> = chosen
            .iter()
            .map(|u| {
                let mut f = u.features.clone();
                spec_augment(&mut f, mels, &self.config.features.spec_augment, &mut rng);
                f
            })
            .collect();
        let views: Vec<&[f32]> = augmented.iter().map(Vec::as_slice).collect();
        let batch = model.batch(&views, device);
        let logits = model.forward(&batch);
        let targets: Vec<Vec<usize>> = chosen.iter().map(|u| u.targets.clone()).collect();
        StepLoss {
            loss: rnnzoo_models::ctc_loss(logits, &batch.lengths, &targets, BLANK),
            units: chosen.iter().map(|u| u.frames).sum(),
            carry: None,
        }
    }

    fn validate(&self, model: &AcousticModel) -> Option<Vec<f64>> {
        if self.valid.is_empty() {
            return None;
        }
        let loss = ctc_set_loss(model, &self.valid);
        let s = evaluate(model, &self.data.alphabet, &self.valid, 1, None);
        Some(vec![loss, s.scores.cer, s.scores.wer])
    }
}

/// Trains an acoustic model for `config` in a new run directory under `runs_root`, or continues
/// the run at `resume`; then decodes the test split with the best checkpoint (greedy, beam
/// and, with `decode.lm_text`, beam with the language model) and writes `test.hyp.txt`,
/// `test.ref.txt` and `summary.json`.
pub fn train(
    config: &ExperimentConfig,
    runs_root: &Path,
    resume: Option<&Path>,
    device: &Device,
) -> Result<(RunDir, Summary), SpeechError> {
    let wall = Instant::now();
    let run = trainer::open_run(config, runs_root, resume)?;
    println!("run: {}", run.path.display());
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let data = prepare(config, &run, resume.is_some(), false)?;
    let classes = data.alphabet.classes();
    let model = AcousticModel::new(&config.model, &config.features, classes, &train_device);
    let m = &config.model;
    let seconds = |s: usize| {
        data.splits[s].iter().map(|u| u.frames).sum::<usize>() as f64 * config.features.hop_ms
            / 1000.0
    };
    println!(
        "{}: {} {} x{} hidden {} over {} mel bins stacked by {}, {} outputs, {} parameters; utterances {} / {} / {} ({:.0} / {:.0} / {:.0} s of audio; {} too short left out), test speakers: {}; features {:.0} frames/s",
        config.name,
        if m.bidirectional {
            "bidirectional"
        } else {
            "unidirectional"
        },
        rnnzoo_train::model::cell_kind(m).name(),
        m.layers,
        m.hidden,
        config.features.mels,
        config.features.stack,
        classes,
        model.num_params(),
        data.splits[0].len(),
        data.splits[1].len(),
        data.splits[2].len(),
        seconds(0),
        seconds(1),
        seconds(2),
        data.too_short,
        if data.speakers[2].is_empty() {
            "(split by utterance)".to_string()
        } else {
            data.speakers[2].join(", ")
        },
        data.frames_per_s,
    );
    if data.splits[0].is_empty() {
        return Err(SpeechError::Other(
            "no training utterance is long enough for its transcript".into(),
        ));
    }
    let valid = validation_subset(config, &data.splits[1]);
    let mut task = SpeechTask {
        config,
        data: &data,
        lengths: data.splits[0].iter().map(|u| u.frames).collect(),
        epoch_batches: Vec::new(),
        valid,
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
    let best = outcome.load_best(AcousticModel::new(
        &config.model,
        &config.features,
        classes,
        device,
    ))?;
    let (best_valid, best_step, _) = outcome.best.clone().expect("a best checkpoint has metrics");
    let test = evaluate_test(&best, &data, config, &run)?;
    let state = &outcome.state;
    let summary = Summary {
        name: config.name.clone(),
        cell: rnnzoo_train::model::cell_kind(m).name().into(),
        parameters: best.num_params(),
        steps: state.step,
        best_valid_cer: best_valid[1],
        best_step,
        test,
        train_utterances: data.splits[0].len(),
        test_speakers: data.speakers[2].clone(),
        frames_per_s: state.tokens as f64 / state.elapsed_s.max(1e-9),
        feature_frames_per_s: data.frames_per_s,
        train_s,
        wall_s: wall.elapsed().as_secs_f64(),
    };
    trainer::write_summary(&run, &summary)?;
    Ok((run, summary))
}

/// The validation utterances used each evaluation: all, or the first ones holding
/// `train.max_eval_tokens` transcript characters.
fn validation_subset<'a>(config: &ExperimentConfig, valid: &'a [Utterance]) -> Vec<&'a Utterance> {
    let Some(max) = config.train.max_eval_tokens else {
        return valid.iter().collect();
    };
    let mut chars = 0;
    valid
        .iter()
        .take_while(|u| {
            let first = chars == 0;
            chars += u.targets.len();
            first || chars <= max
        })
        .collect()
}
