//! Image captioning: a convolutional network reads an image and a recurrent network writes its
//! description (Vinyals et al. 2015, Show and Tell; Xu et al. 2015, Show, Attend and Tell, with
//! attention over the CNN's grid). The model is `rnnzoo_models::captioner::Captioner`.
//!
//! In the order data flows: [`images`] (SVG, PNG and JPEG to RGB at the configured size,
//! cached; the training shifts), [`text`] (caption words and the vocabulary), [`data`]
//! (OpenMoji and `image,caption` files, splits that keep image families together),
//! [`training`] (the shared loop), [`inference`] (greedy and beam captions, BLEU-1..4,
//! CIDEr-D, nearest-neighbour baselines, a trained run), [`plot`] (attention over the image)
//! and [`runner`] (the `rnnzoo` verbs).

pub mod data;
pub use rnnzoo_media::images;
pub mod inference;
pub mod plot;
pub mod runner;
pub mod text;
pub mod training;

/// Errors of the captioning task, each naming what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CaptionError {
    /// An image could not be read.
    #[error(transparent)]
    Image(#[from] images::ImageError),
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

impl CaptionError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        CaptionError::Other(format!("{}: {e}", path.display()))
    }
}
