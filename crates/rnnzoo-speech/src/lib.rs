//! Speech recognition: from the acoustic signal straight to characters with a deep
//! bidirectional recurrent network trained with CTC (Graves & Jaitly 2014; Graves et al. 2006).
//!
//! In the order data flows: [`audio`] (WAV, Ogg Vorbis, FLAC; mixed down and resampled),
//! [`features`] (log-mel filterbank, normalisation, SpecAugment), [`text`] (the character
//! alphabet), [`data`] (manifests, speaker-disjoint splits), [`model`] (frame stacking, the
//! recurrent stack, the output layer), [`training`] (the shared loop with the CTC loss),
//! [`decode`] (best path, prefix beam search, character n-gram fusion), [`inference`] (CER and
//! WER, transcribing files with a trained run) and [`runner`] (the `rnnzoo` verbs).

pub use rnnzoo_media::audio;
pub mod data;
pub mod decode;
pub mod features;
pub mod inference;
pub mod model;
pub mod runner;
pub mod text;
pub mod training;

/// Errors of the speech task, each naming what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// An audio file could not be read.
    #[error(transparent)]
    Audio(#[from] audio::AudioError),
    /// Reading a corpus failed.
    #[error(transparent)]
    Corpus(#[from] rnnzoo_data::CorpusError),
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

impl SpeechError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        SpeechError::Other(format!("{}: {e}", path.display()))
    }
}
