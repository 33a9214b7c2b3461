//! Language modelling: a recurrent network that scores how likely a text is and generates new
//! text by sampling, trained with stateful truncated backpropagation through time.
//!
//! One concept per file, in the order data flows: [`data`] (corpus to token streams),
//! [`model`] (embedding, recurrent stack, output layer), [`training`] (the task on the shared training loop),
//! [`inference`] (evaluation, scoring, generation on a trained run).

pub mod baseline;
pub mod data;
pub mod finetune;
pub mod inference;
pub mod model;
pub mod runner;
pub mod training;

/// Errors of the language-model task, each naming what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// Reading the corpus failed.
    #[error(transparent)]
    Corpus(#[from] rnnzoo_data::CorpusError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] rnnzoo_train::CheckpointError),
    /// The training loop stopped.
    #[error(transparent)]
    Train(#[from] rnnzoo_train::trainer::TrainError),
    /// A config problem found while running.
    #[error(transparent)]
    Config(#[from] rnnzoo_config::ConfigError),
    /// Anything else, with its context.
    #[error("{0}")]
    Other(String),
}

impl LmError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        LmError::Other(format!("{}: {e}", path.display()))
    }
}
