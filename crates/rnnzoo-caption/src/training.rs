//! Training a captioner on the shared loop (`rnnzoo_train::trainer`): epochs over every
//! (image, reference) pair of the training split in length-bucketed batches, each image shifted
//! at random by up to `images.shift` pixels, teacher-forced cross-entropy (optionally label
//! smoothed, plus Xu et al.'s attention penalty with `train.attention_penalty`); validation
//! loss, greedy BLEU-4 and CIDEr-D every `train.eval_every` steps, the best checkpoint on
//! validation BLEU-4.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::{SplitMix64, bucketed_batches};
use rnnzoo_models::attention::{TargetBatch, coverage_penalty, smoothed_cross_entropy};
use rnnzoo_models::captioner::Captioner;
use rnnzoo_train::optim::build_optimizer;
use rnnzoo_train::rundir::RunDir;
use rnnzoo_train::trainer::{self, Better, Cadence, Metric, Position, StepLoss, Task};
use serde::Serialize;

use crate::CaptionError;
use crate::data::{Example, Prepared, prepare};
use crate::inference::{
    Scores, captioner, evaluate, evaluate_test, image_batch, max_length, options, style_start,
    teacher_forced_loss,
};
use crate::text::{EOS, PAD, UNK};

/// Batches are cut from pools of this many batches' worth of pairs sorted by length.
const BUCKET_POOL: usize = 50;

/// Final numbers of a run, written to `summary.json`.
#[derive(Serialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// Cell name.
    pub cell: String,
    /// Attention over the image grid.
    pub attention: String,
    /// Scalar parameters.
    pub parameters: usize,
    /// Optimizer steps run.
    pub steps: usize,
    /// Best validation BLEU-4 (greedy).
    pub best_valid_bleu4: f64,
    /// Step of the best validation BLEU-4.
    pub best_step: usize,
    /// Test scores of the best checkpoint (greedy, beam) and of the baselines.
    pub test: Vec<Scores>,
    /// Images per split.
    pub images: [usize; 3],
    /// Vocabulary size.
    pub vocab: usize,
    /// Caption tokens per second of training.
    pub tokens_per_s: f64,
    /// Training wall time in seconds (without the final test decoding).
    pub train_s: f64,
    /// Whole wall time in seconds.
    pub wall_s: f64,
}

/// Captioning for the shared loop.
struct CaptionTask<'a> {
    config: &'a ExperimentConfig,
    train: &'a [Example],
    valid: &'a [Example],
    data: &'a Prepared,
    /// (image, reference) pairs of the training split.
    pairs: Vec<(usize, usize)>,
    lengths: Vec<usize>,
    epoch_batches: Vec<Vec<usize>>,
    /// The start token of the style validation decodes in (`decode.style`).
    start: usize,
}

impl Task for CaptionTask<'_> {
    type Model = Captioner;
    type Carry = ();

    fn metrics(&self) -> Vec<Metric> {
        vec![
            Metric::reported("loss", Better::Lower),
            Metric::primary("bleu4", Better::Higher),
            Metric::tie_break("cider", Better::Higher),
        ]
    }

    fn throughput(&self) -> (&'static str, &'static str) {
        ("tokens_per_s", "tokens/s")
    }

    fn cadence(&self) -> Cadence {
        Cadence::Steps
    }

    fn batches_per_epoch(&self) -> Option<usize> {
        Some(self.pairs.len().div_ceil(self.config.train.batch_size))
    }

    fn prepare(&self, mut model: Captioner) -> Result<Captioner, String> {
        for name in &self.config.freeze {
            match name.as_str() {
                "cnn" => model.cnn = model.cnn.no_grad(),
                "embedding" => model.decoder.embedding = model.decoder.embedding.no_grad(),
                "output" => model.decoder.output = model.decoder.output.no_grad(),
                layer => {
                    if let Some(k) = rnnzoo_config::frozen_layer(layer) {
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
        model: &Captioner,
        position: Position,
        _carry: Option<()>,
        device: &Device,
    ) -> StepLoss<()> {
        let chosen: Vec<(usize, usize)> = self.epoch_batches[position.batch]
            .iter()
            .map(|&i| self.pairs[i])
            .collect();
        // Shifts drawn from (seed, step), so that a resumed run draws the same.
        let mut rng = SplitMix64::new(
            self.config.seed ^ (position.step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let s = self.config.images.shift as isize;
        let mut draw = || rng.below(2 * s as usize + 1) as isize - s;
        let shifts: Vec<(isize, isize)> = chosen.iter().map(|_| (draw(), draw())).collect();
        let pixels: Vec<&[u8]> = chosen
            .iter()
            .map(|&(i, _)| self.train[i].pixels.as_slice())
            .collect();
        let targets: Vec<&[usize]> = chosen
            .iter()
            .map(|&(i, r)| self.train[i].targets[r].as_slice())
            .collect();
        let images = image_batch(&pixels, self.config.images.size, Some(&shifts), device);
        let starts: Vec<usize> = chosen
            .iter()
            .map(|&(_, r)| self.data.vocab.start_of_reference(r))
            .collect();
        let batch = TargetBatch::with_starts(&targets, &starts, EOS, PAD, device);
        let p = self.config.train.word_dropout;
        let inputs = if p > 0.0 {
            let read = drop_words(&targets, p, &mut rng);
            let read: Vec<&[usize]> = read.iter().map(Vec::as_slice).collect();
            TargetBatch::with_starts(&read, &starts, EOS, PAD, device).target_in
        } else {
            batch.target_in
        };
        let encoded = model.encode(images);
        let (attended, weights) = model
            .decoder
            .teacher_forced_attending(&encoded.memory, inputs);
        let logits = model.decoder.logits_at(attended, &batch.rows);
        let t = &self.config.train;
        let mut loss = smoothed_cross_entropy(logits, batch.targets, t.label_smoothing);
        if let Some(weights) = weights.filter(|_| t.attention_penalty > 0.0) {
            let penalty = coverage_penalty(weights, &batch.rows, &encoded.memory.lengths);
            loss = loss + penalty.mul_scalar(t.attention_penalty);
        }
        StepLoss {
            loss,
            units: batch.rows.len(),
            carry: None,
        }
    }

    fn validate(&self, model: &Captioner) -> Option<Vec<f64>> {
        if self.valid.is_empty() {
            return None;
        }
        let size = self.config.images.size;
        let loss = teacher_forced_loss(model, &self.data.vocab, self.valid, size);
        let beam = self.config.decode.valid_beam;
        let e = evaluate(
            &[model],
            &self.data.vocab,
            self.valid,
            size,
            options(self.config, beam, self.start),
        );
        Some(vec![loss, e.scores.bleu[3], e.scores.cider])
    }
}

/// Trains a captioner for `config` in a new run directory under `runs_root`, or continues the
/// run at `resume`; then scores the test split with the best checkpoint (greedy, beam, both
/// nearest-neighbour baselines) and writes the captions, references and `summary.json`.
pub fn train(
    config: &ExperimentConfig,
    runs_root: &Path,
    resume: Option<&Path>,
    device: &Device,
) -> Result<(RunDir, Summary), CaptionError> {
    let wall = Instant::now();
    let run = trainer::open_run(config, runs_root, resume)?;
    println!("run: {}", run.path.display());
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let data = prepare(config, &run, resume.is_some(), false)?;
    let vocab = data.vocab.len();
    let start = style_start(&data.vocab, config.decode.style)?;
    let model = captioner(config, vocab, &train_device);
    let m = &config.model;
    let limit = max_length(config);
    let pairs = training_pairs(&data.splits[0], limit, config.data.train_captions)?;
    println!(
        "{}: CNN {:?} on {}x{} images, {} x{} hidden {}, attention {}, image as the {}, {} parameters; images {} / {} / {} ({} training captions), vocabulary {}; {:.0} images/s decoded",
        config.name,
        m.cnn,
        config.images.size,
        config.images.size,
        rnnzoo_train::model::cell_kind(m).name(),
        m.layers,
        m.hidden,
        model.decoder.kind.name(),
        match model.feed {
            rnnzoo_models::captioner::ImageFeed::State => "initial state",
            rnnzoo_models::captioner::ImageFeed::Input => "first input",
        },
        model.num_params(),
        data.splits[0].len(),
        data.splits[1].len(),
        data.splits[2].len(),
        pairs.len(),
        vocab,
        data.images_per_s,
    );
    if data.vocab.styles() > 1 {
        println!(
            "caption styles: {} (a start token per reference position); validation and test decode in style {}",
            data.vocab.styles(),
            config.decode.style
        );
    }
    if pairs.is_empty() {
        return Err(CaptionError::Other(format!(
            "no training caption has at most {limit} words (data.max_length)"
        )));
    }
    let lengths = pairs
        .iter()
        .map(|&(i, r)| data.splits[0][i].targets[r].len())
        .collect();
    let mut task = CaptionTask {
        config,
        train: &data.splits[0],
        valid: &data.splits[1],
        data: &data,
        pairs,
        lengths,
        epoch_batches: Vec::new(),
        start,
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
    let best = outcome.load_best(captioner(config, vocab, device))?;
    let (best_valid, best_step, _) = outcome.best.clone().expect("a best checkpoint has metrics");
    let test = evaluate_test(&[&best], &data, config, &run.path)?;
    let state = &outcome.state;
    let summary = Summary {
        name: config.name.clone(),
        cell: rnnzoo_train::model::cell_kind(m).name().into(),
        attention: best.decoder.kind.name().into(),
        parameters: best.num_params(),
        steps: state.step,
        best_valid_bleu4: best_valid[1],
        best_step,
        test,
        images: [0, 1, 2].map(|s| data.splits[s].len()),
        vocab,
        tokens_per_s: state.tokens as f64 / state.elapsed_s.max(1e-9),
        train_s,
        wall_s: wall.elapsed().as_secs_f64(),
    };
    trainer::write_summary(&run, &summary)?;
    Ok((run, summary))
}

/// The words the decoder reads in place of `targets` under word dropout: each one `<unk>`
/// with probability `p`, drawn in order from `rng`.
fn drop_words(targets: &[&[usize]], p: f64, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    targets
        .iter()
        .map(|t| {
            t.iter()
                .map(|&w| if rng.uniform() < p { UNK } else { w })
                .collect()
        })
        .collect()
}

/// The (image, caption) pairs training reads: each image's first `per_image` captions (all of
/// them when `None`) of at most `limit` words.
fn training_pairs(
    train: &[crate::data::Example],
    limit: usize,
    per_image: Option<usize>,
) -> Result<Vec<(usize, usize)>, CaptionError> {
    if per_image == Some(0) {
        return Err(CaptionError::Other(
            "data.train_captions: give at least 1 (or leave it out for every caption)".into(),
        ));
    }
    Ok(train
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            e.targets
                .iter()
                .take(per_image.unwrap_or(usize::MAX))
                .enumerate()
                .filter(|(_, t)| t.len() <= limit)
                .map(move |(r, _)| (i, r))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Example;

    fn example(lengths: &[usize]) -> Example {
        Example {
            name: String::new(),
            image: Default::default(),
            pixels: Vec::new(),
            references: Vec::new(),
            targets: lengths.iter().map(|&n| vec![4; n]).collect(),
        }
    }

    #[test]
    fn word_dropout_reads_unk_for_about_its_share_of_words_and_keeps_the_rest() {
        // 3 captions of 7, 1 and 12 words (ids 4.. never `<unk>`), dropped with p = 0.3.
        let captions: Vec<Vec<usize>> = [7, 1, 12]
            .iter()
            .enumerate()
            .map(|(c, &n)| (0..n).map(|i| 4 + c * 20 + i).collect())
            .collect();
        let targets: Vec<&[usize]> = captions.iter().map(Vec::as_slice).collect();
        let mut rng = SplitMix64::new(11);
        let (mut dropped, mut words) = (0, 0);
        for _ in 0..400 {
            let read = drop_words(&targets, 0.3, &mut rng);
            for (r, t) in read.iter().zip(&targets) {
                assert_eq!(r.len(), t.len());
                for (&a, &b) in r.iter().zip(t.iter()) {
                    assert!(a == b || a == UNK);
                    dropped += usize::from(a == UNK);
                    words += 1;
                }
            }
        }
        let share = dropped as f64 / words as f64;
        assert!((share - 0.3).abs() < 0.02, "{share}");
        assert_eq!(drop_words(&targets, 0.0, &mut rng), captions);
    }

    #[test]
    fn training_pairs_take_the_first_captions_up_to_the_length_limit() {
        // Image 0: captions of 3, 9 and 2 words; image 1: 7 and 4; limit 5 words.
        let train = [example(&[3, 9, 2]), example(&[7, 4])];
        let all = training_pairs(&train, 5, None).unwrap();
        assert_eq!(all, [(0, 0), (0, 2), (1, 1)]);
        assert_eq!(training_pairs(&train, 5, Some(1)).unwrap(), [(0, 0)]);
        assert_eq!(
            training_pairs(&train, 8, Some(2)).unwrap(),
            [(0, 0), (1, 0), (1, 1)]
        );
        let error = training_pairs(&train, 5, Some(0)).unwrap_err().to_string();
        assert!(error.contains("data.train_captions"), "{error}");
    }
}
