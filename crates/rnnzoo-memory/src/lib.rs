//! Synthetic long-range memory problems: where the seeds' claim that a plain RNN "can only look
//! back a few steps" while LSTM and GRU hold information for long is measured.
//!
//! In the order data flows: [`problems`] (the adding problem and delayed recall/copy, their
//! generators and chance levels), [`model`] (recurrent stack and read-out), [`evaluation`],
//! [`training`] (fresh sequences every step, fixed validation and test sets).

pub mod evaluation;
pub mod model;
pub mod problems;
pub mod runner;
pub mod training;

/// Errors of the memory task, each naming what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
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

impl MemoryError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        MemoryError::Other(format!("{}: {e}", path.display()))
    }
}
