//! Fine-tuning a classifier from a trained run (`init_from`).
//!
//! - From a classifier run: the embedding and the encoder always transfer; the attention
//!   scorer transfers when both use `pooling: attention`, and the output layer when the new data
//!   has exactly the run's classes (then in the run's order). Anything that does not transfer
//!   starts fresh.
//! - From a word-level language model: its embedding and recurrent stack become the encoder
//!   (pretraining on unlabelled text, then classifying, as Dai & Le 2015 and Howard & Ruder
//!   2018); pooling and output layer start fresh.
//!
//! The vocabulary is the run's (`vocab: keep`) or the run's with the new training texts' words
//! appended (`vocab: extend`), each new word's embedding row a copy of `<unk>`'s, so that before
//! the first update the model reads every text exactly as the trained model did.

use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::tensor::Device;
use rnnzoo_config::{ExperimentConfig, Pooling, TaskName, VocabMode};
use rnnzoo_data::{TokenizerKind, Vocab};
use rnnzoo_models::Recurrent;
use rnnzoo_train::checkpoint::Checkpoint;
use rnnzoo_train::finetune::{check_architecture, with_unk_copies};
use rnnzoo_train::model::recurrent_config;
use rnnzoo_train::rundir::RunDir;

use crate::SentimentError;
use crate::data::build_vocab;
use crate::model::Classifier;
use crate::training::load_classes;

/// The parts every recurrent model of rnnzoo names alike: loading only these from a checkpoint
/// takes the encoder of a classifier or a language model and ignores the rest.
#[derive(Module, Debug)]
pub struct Encoder {
    /// Token embeddings.
    pub embedding: Embedding,
    /// The recurrent stack.
    pub rnn: Recurrent,
}

/// What a fine-tuning run starts from.
pub enum Source {
    /// A trained classifier with its class names.
    Classifier {
        /// Its best checkpoint's model.
        model: Box<Classifier>,
        /// Its classes, in its order.
        classes: Vec<String>,
    },
    /// The embedding and encoder of a language model.
    Encoder(Encoder),
}

/// The trained run a fine-tuning config starts from.
pub struct Initial {
    /// The run directory.
    pub run: PathBuf,
    /// Its vocabulary.
    pub vocab: Vocab,
    /// Its weights.
    pub source: Source,
}

/// Loads the run named by `init_from`, checking that its architecture fits the config's.
/// `None` when the config does not fine-tune.
pub fn load_initial(
    config: &ExperimentConfig,
    device: &Device,
) -> Result<Option<Initial>, SentimentError> {
    let Some(path) = &config.init_from else {
        return Ok(None);
    };
    let run = RunDir::open(path).map_err(|e| SentimentError::io(path, e))?;
    let trained = rnnzoo_config::load(&run.config(), &[])?;
    let vocab = Vocab::load(&run.vocab()).map_err(SentimentError::Other)?;
    let checkpoint = Checkpoint::to_use(&run.checkpoints())
        .map_err(|e| SentimentError::Other(format!("init_from {}: {e}", path.display())))?;
    let m = &trained.model;
    let source = match trained.task {
        TaskName::Sentiment => {
            check_architecture(path, m, &config.model, &["model.pooling"])
                .map_err(SentimentError::Other)?;
            let classes = load_classes(&run)?;
            let fresh = Classifier::new(m, vocab.len(), classes.len(), device);
            Source::Classifier {
                model: Box::new(Checkpoint::load_model(&checkpoint, fresh)?),
                classes,
            }
        }
        TaskName::Lm => {
            if vocab.kind != TokenizerKind::Word {
                return Err(SentimentError::Other(format!(
                    "init_from {}: a character-level language model; a classifier reads words, \
                     so only a word-level (`data.tokenizer: word`) model can give it an encoder",
                    path.display()
                )));
            }
            check_architecture(
                path,
                m,
                &config.model,
                &["model.pooling", "model.tie_weights"],
            )
            .map_err(SentimentError::Other)?;
            let fresh = Encoder {
                embedding: EmbeddingConfig::new(vocab.len(), m.embedding.size).init(device),
                rnn: recurrent_config(m, m.embedding.size).init(device),
            };
            Source::Encoder(Checkpoint::load_model(&checkpoint, fresh)?)
        }
        TaskName::Memory | TaskName::Translate | TaskName::Speech | TaskName::Caption => {
            return Err(SentimentError::Other(format!(
                "init_from {}: a {} run; a classifier starts from a classifier or a word-level language model",
                path.display(),
                format!("{:?}", trained.task).to_lowercase()
            )));
        }
    };
    Ok(Some(Initial {
        run: path.clone(),
        vocab,
        source,
    }))
}

/// The fine-tuning vocabulary: the run's, extended with the training texts' words when asked
/// (`min_freq` and `max_vocab` apply to the new words).
pub fn vocabulary(config: &ExperimentConfig, initial: &Initial, train_texts: &[&str]) -> Vocab {
    let mut vocab = initial.vocab.clone();
    if config.vocab == VocabMode::Extend {
        let d = &config.data;
        vocab.extend(build_vocab(train_texts, d.lowercase, d.min_freq, d.max_vocab).tokens);
    }
    vocab
}

/// The classes of the fine-tuning run: the trained classifier's, in its order, when the new
/// data has exactly those labels (so its output layer carries over); else the new data's.
pub fn classes(initial: &Initial, found: Vec<String>) -> Vec<String> {
    match &initial.source {
        Source::Classifier { classes, .. } => {
            let mut a = classes.clone();
            let mut b = found.clone();
            a.sort();
            b.sort();
            if a == b { classes.clone() } else { found }
        }
        Source::Encoder(_) => found,
    }
}

/// Moves the trained weights into `fresh` (built for the fine-tuning vocabulary, classes and
/// config). Returns the model and the names of the parts that came from the run.
pub fn transplant(
    mut fresh: Classifier,
    initial: Initial,
    classes: &[String],
) -> (Classifier, Vec<&'static str>) {
    let (embedding, rnn, rest) = match initial.source {
        Source::Classifier {
            model,
            classes: old,
        } => {
            let Classifier {
                embedding,
                rnn,
                attention,
                head,
                ..
            } = *model;
            (embedding, rnn, Some((attention, head, old)))
        }
        Source::Encoder(Encoder { embedding, rnn }) => (embedding, rnn, None),
    };
    let extra = fresh.embedding.weight.dims()[0] - embedding.weight.dims()[0];
    fresh.embedding.weight = Param::from_tensor(with_unk_copies(embedding.weight.val(), extra, 0));
    fresh.rnn.cells = rnn.cells;
    let mut moved = vec!["embedding", "encoder"];
    if let Some((attention, head, old_classes)) = rest {
        if fresh.pooling == Pooling::Attention && attention.is_some() {
            fresh.attention = attention;
            moved.push("attention");
        }
        if old_classes == classes {
            fresh.head = head;
            moved.push("head");
        }
    }
    (fresh, moved)
}
