//! Sentiment (text) classification: the seeds' many-to-one case, where only the final output of
//! the sequence matters.
//!
//! In the order data flows: [`data`] (files to labelled examples and token ids), [`model`]
//! (embedding, recurrent encoder, pooling, classifier), [`metrics`], [`training`] (the loop),
//! [`inference`] (evaluation and prediction on a trained run), [`vectors`] (pretrained word
//! vectors); [`finetune`] starts a classifier
//! from a trained classifier or word-level language model.

pub mod data;
pub mod finetune;
pub mod inference;
pub mod metrics;
pub mod model;
pub mod runner;
pub mod training;
pub mod vectors;

/// Errors of the classification task, each naming what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum SentimentError {
    /// Reading a corpus failed.
    #[error(transparent)]
    Corpus(#[from] rnnzoo_data::CorpusError),
    /// A labelled data file could not be read or has a malformed row.
    #[error(transparent)]
    Labelled(#[from] rnnzoo_data::labelled::LabelledError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] rnnzoo_train::CheckpointError),
    /// The training loop stopped.
    #[error(transparent)]
    Train(#[from] rnnzoo_train::trainer::TrainError),
    /// A config problem found while running.
    #[error(transparent)]
    Config(#[from] rnnzoo_config::ConfigError),
    /// A data file is malformed: the file, the line and what is wrong.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Anything else, with its context.
    #[error("{0}")]
    Other(String),
}

impl SentimentError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        SentimentError::Other(format!("{}: {e}", path.display()))
    }
}
