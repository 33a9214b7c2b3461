//! Training a classifier on the shared loop (`rnnzoo_train::trainer`): epochs over
//! length-bucketed batches, validation after each epoch, early stopping on validation accuracy
//! with the best checkpoint kept.

use std::path::Path;
use std::time::Instant;

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::Vocab;
use rnnzoo_train::optim::build_optimizer;
use rnnzoo_train::rundir::RunDir;
use rnnzoo_train::trainer::{self, Better, Cadence, Metric, Position, StepLoss, Task};
use serde::{Deserialize, Serialize};

use crate::SentimentError;
use crate::data::{Example, build_vocab, classes, encode, read_examples, source, split_indices};
use crate::finetune::{self, Initial};
use crate::inference::evaluate;
use crate::metrics::Report;
use crate::model::{Classifier, pad_batch};
use crate::vectors::{Coverage, embedding_rows};

/// Batches are drawn from pools of this many batches' worth of examples sorted by length, so
/// a batch holds texts of similar length (little padding) while the order stays random.
const BUCKET_POOL: usize = 50;

/// The encoded data of a run.
pub struct Prepared {
    /// Vocabulary of the training texts.
    pub vocab: Vocab,
    /// Class names; a label's id is its index.
    pub classes: Vec<String>,
    /// (token ids, class id) per split: train, valid, test.
    pub splits: [Vec<(Vec<usize>, usize)>; 3],
}

/// The split written to a run directory: example indices into the source file's examples.
#[derive(Serialize, Deserialize)]
pub struct SplitFile {
    /// The data file.
    pub source: String,
    /// Training example indices.
    pub train: Vec<usize>,
    /// Validation example indices.
    pub valid: Vec<usize>,
    /// Test example indices.
    pub test: Vec<usize>,
}

/// Final metrics of a run, written to `summary.json`.
#[derive(Serialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// Cell name.
    pub cell: String,
    /// Scalar parameters.
    pub parameters: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Best validation accuracy.
    pub best_valid_accuracy: f64,
    /// Epoch of the best validation accuracy.
    pub best_epoch: usize,
    /// Test metrics of the best checkpoint.
    pub test: Report,
    /// Training wall time in seconds.
    pub wall_s: f64,
}

/// Reads, splits and encodes the examples of a config: a new split, vocabulary and class list
/// (the vocabulary and classes starting from `initial`'s when fine-tuning), or with `reuse` the
/// ones saved in `run`.
pub fn prepare(
    config: &ExperimentConfig,
    run: &RunDir,
    reuse: bool,
    initial: Option<&Initial>,
) -> Result<Prepared, SentimentError> {
    let d = &config.data;
    let (path, format) = source(d)?;
    let examples = read_examples(&path, format, &d.text_column, &d.label_column)?;
    if examples.len() < 10 {
        return Err(SentimentError::Other(format!(
            "{}: {} examples are too few",
            path.display(),
            examples.len()
        )));
    }
    let found = classes(&examples);
    if found.len() < 2 {
        return Err(SentimentError::Other(format!(
            "{}: column `{}` has {} class{} ({}); a classifier needs at least two",
            path.display(),
            d.label_column,
            found.len(),
            if found.len() == 1 { "" } else { "es" },
            found.join(", ")
        )));
    }
    let split_path = run.path.join("split.json");
    let [train, valid, test] = if reuse {
        let text =
            std::fs::read_to_string(&split_path).map_err(|e| SentimentError::io(&split_path, e))?;
        let f: SplitFile =
            serde_json::from_str(&text).map_err(|e| SentimentError::io(&split_path, e))?;
        [f.train, f.valid, f.test]
    } else {
        let split = split_indices(
            examples.len(),
            d.split.valid,
            d.split.test,
            d.split.seed_or(config.seed),
        );
        let file = SplitFile {
            source: path.display().to_string(),
            train: split[0].clone(),
            valid: split[1].clone(),
            test: split[2].clone(),
        };
        std::fs::write(
            &split_path,
            serde_json::to_string(&file).expect("serialisable"),
        )
        .map_err(|e| SentimentError::io(&split_path, e))?;
        split
    };
    let classes = match (reuse, initial) {
        (true, _) => load_classes(run)?,
        (false, None) => found,
        (false, Some(initial)) => finetune::classes(initial, found),
    };
    let vocab = if reuse {
        Vocab::load(&run.vocab()).map_err(SentimentError::Other)?
    } else {
        let texts: Vec<&str> = train.iter().map(|&i| examples[i].text.as_str()).collect();
        match initial {
            Some(initial) => finetune::vocabulary(config, initial, &texts),
            None => build_vocab(&texts, d.lowercase, d.min_freq, d.max_vocab),
        }
    };
    let encode_set = |idx: &[usize]| -> Vec<(Vec<usize>, usize)> {
        idx.iter()
            .map(|&i| {
                let e: &Example = &examples[i];
                let class = classes.iter().position(|c| *c == e.label).unwrap_or(0);
                (encode(&vocab, &e.text, d.lowercase), class)
            })
            .collect()
    };
    let splits = [encode_set(&train), encode_set(&valid), encode_set(&test)];
    Ok(Prepared {
        vocab,
        classes,
        splits,
    })
}

/// The class names saved in a run.
pub fn load_classes(run: &RunDir) -> Result<Vec<String>, SentimentError> {
    let path = run.path.join("labels.json");
    let text = std::fs::read_to_string(&path).map_err(|e| SentimentError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| SentimentError::io(&path, e))
}

/// Fills the embedding rows of `vocab` from word vectors in word2vec/GloVe text format (see
/// [`crate::vectors`]: exact matches, WordPiece compositions, random rows on the vectors' scale).
pub fn load_pretrained(
    model: &mut Classifier,
    vocab: &Vocab,
    path: &Path,
    seed: u64,
) -> Result<Coverage, SentimentError> {
    let [v, dim] = model.embedding.weight.dims();
    let (rows, coverage) = embedding_rows(path, &vocab.tokens, dim, seed)?;
    let device = model.embedding.weight.device();
    let weight = std::mem::replace(
        &mut model.embedding.weight,
        Param::from_tensor(Tensor::zeros([1, 1], &device)),
    );
    model.embedding.weight = weight.map(|old| {
        let new = Tensor::from_data(TensorData::new(rows, [v, dim]), &old.device());
        if old.is_require_grad() {
            new.require_grad()
        } else {
            new
        }
    });
    Ok(coverage)
}

/// Text classification for the shared loop: epochs of length-bucketed batches, validation
/// after each epoch on accuracy (loss and macro-F1 reported beside it).
struct ClassifierTask<'a> {
    config: &'a ExperimentConfig,
    train_set: &'a [(Vec<usize>, usize)],
    lengths: Vec<usize>,
    data: &'a Prepared,
    batch_size: usize,
    seed: u64,
    /// The example indices of the current epoch's batches.
    epoch_batches: Vec<Vec<usize>>,
}

impl Task for ClassifierTask<'_> {
    type Model = Classifier;
    type Carry = ();

    fn metrics(&self) -> Vec<Metric> {
        vec![
            Metric::reported("loss", Better::Lower),
            Metric::primary("accuracy", Better::Higher),
            Metric::reported("macro_f1", Better::Higher).not_plotted(),
        ]
    }

    fn throughput(&self) -> (&'static str, &'static str) {
        ("examples_per_s", "ex/s")
    }

    fn cadence(&self) -> Cadence {
        Cadence::Epochs
    }

    fn batches_per_epoch(&self) -> Option<usize> {
        Some(self.train_set.len().div_ceil(self.batch_size))
    }

    fn prepare(&self, mut model: Classifier) -> Result<Classifier, String> {
        if self.config.model.embedding.freeze {
            model.embedding = model.embedding.no_grad();
        }
        // `freeze` names are checked when the config loads.
        for name in &self.config.freeze {
            match name.as_str() {
                "embedding" => model.embedding = model.embedding.no_grad(),
                "head" => model.head = model.head.no_grad(),
                "attention" => model.attention = model.attention.map(Module::no_grad),
                layer => {
                    if let Some(k) = rnnzoo_config::frozen_layer(layer) {
                        model.rnn.freeze_layer(k);
                    }
                }
            }
        }
        Ok(model)
    }

    fn start_epoch(&mut self, epoch: usize) {
        self.epoch_batches = rnnzoo_data::bucketed_batches(
            &self.lengths,
            self.batch_size,
            BUCKET_POOL,
            self.seed.wrapping_add(epoch as u64),
        );
    }

    fn step_loss(
        &mut self,
        model: &Classifier,
        position: Position,
        _carry: Option<()>,
        device: &Device,
    ) -> StepLoss<()> {
        let batch = &self.epoch_batches[position.batch];
        let seqs: Vec<&[usize]> = batch
            .iter()
            .map(|&i| self.train_set[i].0.as_slice())
            .collect();
        let (tokens, lens) = pad_batch(&seqs, device);
        let labels: Vec<i64> = batch.iter().map(|&i| self.train_set[i].1 as i64).collect();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch.len()]), device);
        StepLoss {
            loss: rnnzoo_models::cross_entropy(model.forward(tokens, &lens), labels),
            units: batch.len(),
            carry: None,
        }
    }

    fn validate(&self, model: &Classifier) -> Option<Vec<f64>> {
        let valid = evaluate(
            model,
            &self.data.splits[1],
            &self.data.classes,
            self.batch_size,
        );
        Some(vec![
            valid.loss,
            valid.report.accuracy,
            valid.report.macro_f1,
        ])
    }
}

/// Trains a classifier for `config` in a new run directory under `runs_root`, or continues the
/// run at `resume` from its latest checkpoint.
pub fn train(
    config: &ExperimentConfig,
    runs_root: &Path,
    resume: Option<&Path>,
    device: &Device,
) -> Result<(RunDir, Summary), SentimentError> {
    let wall = Instant::now();
    let run = trainer::open_run(config, runs_root, resume)?;
    println!("run: {}", run.path.display());
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    // A resumed run reads its split, vocabulary and classes back, and its weights (fine-tuned
    // or pretrained ones included) from the checkpoint.
    let initial = match resume {
        Some(_) => None,
        None => finetune::load_initial(config, &train_device)?,
    };
    let data = prepare(config, &run, resume.is_some(), initial.as_ref())?;
    if resume.is_none() {
        data.vocab
            .save(&run.vocab())
            .map_err(|e| SentimentError::io(&run.vocab(), e))?;
        let labels = run.path.join("labels.json");
        std::fs::write(
            &labels,
            serde_json::to_string(&data.classes).expect("serialisable"),
        )
        .map_err(|e| SentimentError::io(&labels, e))?;
    }

    let t = &config.train;
    let train_set = &data.splits[0];
    let mut model = Classifier::new(
        &config.model,
        data.vocab.len(),
        data.classes.len(),
        &train_device,
    );
    if let Some(initial) = initial {
        let from = initial.run.display().to_string();
        let (transplanted, moved) = finetune::transplant(model, initial, &data.classes);
        model = transplanted;
        println!(
            "fine-tuning from {from}: {} from the run, the rest fresh",
            moved.join(", ")
        );
        if config.model.embedding.pretrained.is_some() {
            println!("model.embedding.pretrained: not read, the run's trained embedding is used");
        }
    } else if let (Some(path), None) = (&config.model.embedding.pretrained, resume) {
        let c = load_pretrained(&mut model, &data.vocab, path, config.seed)?;
        println!(
            "pretrained vectors from {}: {} of {} vocabulary words found, {} composed of \
             WordPiece pieces, {} random (std {:.3})",
            path.display(),
            c.exact,
            data.vocab.len(),
            c.composed,
            c.random,
            c.std
        );
    }
    let optim = build_optimizer(&t.optimizer);
    println!(
        "{}: {} {} x{} hidden {} ({} pooling), {} parameters, vocabulary {}, classes {:?}, {} / {} / {} examples",
        config.name,
        if config.model.bidirectional {
            "bidirectional"
        } else {
            "unidirectional"
        },
        rnnzoo_train::model::cell_kind(&config.model).name(),
        config.model.layers,
        config.model.hidden,
        format!("{:?}", config.model.pooling).to_lowercase(),
        model.num_params(),
        data.vocab.len(),
        data.classes,
        train_set.len(),
        data.splits[1].len(),
        data.splits[2].len()
    );

    let mut task = ClassifierTask {
        config,
        train_set,
        lengths: train_set.iter().map(|(ids, _)| ids.len()).collect(),
        data: &data,
        batch_size: t.batch_size,
        seed: config.seed,
        epoch_batches: Vec::new(),
    };
    let outcome = trainer::train(
        &mut task,
        model,
        optim,
        config,
        &run,
        resume.is_some(),
        &train_device,
    )?;

    let best_model = outcome.load_best(Classifier::new(
        &config.model,
        data.vocab.len(),
        data.classes.len(),
        device,
    ))?;
    let (best_valid, _, best_epoch) = outcome.best.expect("a best checkpoint has its metrics");
    let test = evaluate(&best_model, &data.splits[2], &data.classes, t.batch_size);
    let state = outcome.state;
    let summary = Summary {
        name: config.name.clone(),
        cell: rnnzoo_train::model::cell_kind(&config.model).name().into(),
        parameters: best_model.num_params(),
        epochs: state.epoch + usize::from(state.position > 0),
        best_valid_accuracy: best_valid[1],
        best_epoch,
        test: test.report,
        wall_s: wall.elapsed().as_secs_f64(),
    };
    trainer::write_summary(&run, &summary)?;
    Ok((run, summary))
}
