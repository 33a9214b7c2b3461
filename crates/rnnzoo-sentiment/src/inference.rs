//! Using a trained classifier: evaluation on labelled data and prediction on new texts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::Vocab;
use rnnzoo_train::checkpoint::Checkpoint;
use rnnzoo_train::rundir::RunDir;
use serde::Serialize;

use crate::SentimentError;
use crate::data::{encode, format_of, read_examples};
use crate::metrics::{Report, report};
use crate::model::{Classifier, pad_batch};
use crate::training::load_classes;

/// Loss and metrics on a labelled set.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Accuracy, macro-F1, confusion matrix, per-class scores.
    pub report: Report,
}

/// Evaluates on encoded `(token ids, class id)` examples, in batches of `batch`.
pub fn evaluate(
    model: &Classifier,
    set: &[(Vec<usize>, usize)],
    classes: &[String],
    batch: usize,
) -> Evaluation {
    let device = model.embedding.weight.device();
    let (mut gold, mut predicted, mut nll) = (Vec::new(), Vec::new(), 0.0);
    for chunk in set.chunks(batch.max(1)) {
        let seqs: Vec<&[usize]> = chunk.iter().map(|(ids, _)| ids.as_slice()).collect();
        let (tokens, lengths) = pad_batch(&seqs, &device);
        let logp = log_softmax(model.forward(tokens, &lengths), 1);
        let labels: Vec<i64> = chunk.iter().map(|(_, c)| *c as i64).collect();
        let labels =
            Tensor::<2, Int>::from_data(TensorData::new(labels, [chunk.len(), 1]), &device);
        nll -= logp.clone().gather(1, labels).sum().into_scalar::<f32>() as f64;
        let best: Vec<i64> = logp
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .expect("int ids");
        predicted.extend(best.iter().map(|&p| p as usize));
        gold.extend(chunk.iter().map(|(_, c)| *c));
    }
    Evaluation {
        loss: nll / set.len().max(1) as f64,
        report: report(&gold, &predicted, classes),
    }
}

/// A predicted label with the probability of every class.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Prediction {
    /// The text.
    pub text: String,
    /// The most probable class.
    pub label: String,
    /// Probability per class.
    pub probabilities: BTreeMap<String, f64>,
}

/// A trained classifier run, loaded for inference.
pub struct TrainedRun {
    /// Its resolved config.
    pub config: ExperimentConfig,
    /// Its vocabulary.
    pub vocab: Vocab,
    /// Its class names.
    pub classes: Vec<String>,
    /// The model of its best checkpoint.
    pub model: Classifier,
    /// The checkpoint the weights come from.
    pub checkpoint: PathBuf,
}

impl TrainedRun {
    /// Predicts the label of each text.
    pub fn predict(&self, texts: &[String]) -> Vec<Prediction> {
        let device = self.model.embedding.weight.device();
        let ids: Vec<Vec<usize>> = texts
            .iter()
            .map(|t| encode(&self.vocab, t, self.config.data.lowercase))
            .collect();
        let seqs: Vec<&[usize]> = ids.iter().map(Vec::as_slice).collect();
        let (tokens, lengths) = pad_batch(&seqs, &device);
        let probs: Vec<f32> = self
            .model
            .probabilities(tokens, &lengths)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("f32");
        let c = self.classes.len();
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let row = &probs[i * c..(i + 1) * c];
                let best = (0..c)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                Prediction {
                    text: text.clone(),
                    label: self.classes[best].clone(),
                    probabilities: self
                        .classes
                        .iter()
                        .cloned()
                        .zip(row.iter().map(|&p| p as f64))
                        .collect(),
                }
            })
            .collect()
    }

    /// Evaluates on a labelled file (format from the run's config or the file's extension), or on
    /// the run's own test split when `file` is `None`.
    pub fn evaluate_file(
        &self,
        file: Option<&Path>,
        run: &Path,
    ) -> Result<Evaluation, SentimentError> {
        let d = &self.config.data;
        let set: Vec<(Vec<usize>, usize)> = match file {
            Some(path) => {
                let format = format_of(path, d.format.filter(|_| d.path.is_some()))?;
                read_examples(path, format, &d.text_column, &d.label_column)?
                    .into_iter()
                    .map(|e| {
                        let class =
                            self.classes
                                .iter()
                                .position(|c| *c == e.label)
                                .ok_or_else(|| {
                                    SentimentError::Other(format!(
                                        "{}: label `{}` is not one of the run's classes {:?}",
                                        path.display(),
                                        e.label,
                                        self.classes
                                    ))
                                })?;
                        Ok((encode(&self.vocab, &e.text, d.lowercase), class))
                    })
                    .collect::<Result<_, SentimentError>>()?
            }
            None => {
                let run = RunDir::open(run).map_err(|e| SentimentError::Other(e.to_string()))?;
                let prepared = crate::training::prepare(&self.config, &run, true, None)?;
                prepared.splits[2].clone()
            }
        };
        Ok(evaluate(
            &self.model,
            &set,
            &self.classes,
            self.config.train.batch_size,
        ))
    }
}

/// Loads a run directory: config, vocabulary, classes and best checkpoint.
pub fn load_run(path: &Path, device: &Device) -> Result<TrainedRun, SentimentError> {
    let run = RunDir::open(path).map_err(|e| SentimentError::Other(e.to_string()))?;
    let config = rnnzoo_config::load(&run.config(), &[])?;
    let vocab = Vocab::load(&run.vocab()).map_err(SentimentError::Other)?;
    let classes = load_classes(&run)?;
    let checkpoint = Checkpoint::to_use(&run.checkpoints()).map_err(SentimentError::Other)?;
    let model = Checkpoint::load_model(
        &checkpoint,
        Classifier::new(&config.model, vocab.len(), classes.len(), device),
    )?;
    Ok(TrainedRun {
        config,
        vocab,
        classes,
        model,
        checkpoint,
    })
}
