//! Translation: the seeds' many-to-many case, where the whole source sentence is read before
//! the first target word is written (Sutskever et al. 2014), with attention over the source
//! (Bahdanau et al. 2015; Luong et al. 2015).
//!
//! In the order data flows: [`tokenizer`] (words, characters or BPE per side), [`data`] (pairs,
//! split by chapter, encoded), [`model`] (encoder, bridge, attentional decoder), [`training`]
//! (the shared loop), [`decode`] (greedy and batched beam search on the step path),
//! [`inference`] (BLEU/chrF evaluation, translating with a trained run), [`plot`] (attention
//! heat maps) and [`runner`] (the `rnnzoo` verbs).

pub mod data;
pub mod decode;
pub mod inference;
pub mod model;
pub mod plot;
pub mod runner;
pub mod tokenizer;
pub mod training;

/// Errors of the translation task, each naming what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// Reading a corpus failed.
    #[error(transparent)]
    Corpus(#[from] rnnzoo_data::CorpusError),
    /// Reading parallel data failed.
    #[error(transparent)]
    Parallel(#[from] rnnzoo_data::parallel::ParallelError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] rnnzoo_train::CheckpointError),
    /// The training loop stopped.
    #[error(transparent)]
    Train(#[from] rnnzoo_train::trainer::TrainError),
    /// A config problem.
    #[error(transparent)]
    Config(#[from] rnnzoo_config::ConfigError),
    /// Anything else, with its context.
    #[error("{0}")]
    Other(String),
}

impl TranslateError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        TranslateError::Other(format!("{}: {e}", path.display()))
    }
}
