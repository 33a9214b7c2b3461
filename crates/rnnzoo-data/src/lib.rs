//! Data for rnnzoo tasks, independent of models and of Burn: reading corpora (a user's file or
//! folder, or a named corpus fetched by `scripts/fetch-data.sh`), character and word
//! vocabularies, held-out splits by whole document, the stream batching of truncated
//! backpropagation through time, the verses of SWORD Bible modules ([`sword`]) and parallel
//! text for translation ([`parallel`]) and labelled texts for classification ([`labelled`]).

pub mod bptt;
pub mod corpus;
pub mod files;
pub mod labelled;
pub mod parallel;
pub mod rng;
pub mod split;
pub mod sword;
pub mod vocab;

pub use bptt::BpttBatches;
pub use corpus::{CorpusError, Document};
pub use files::write_atomic;
pub use rng::SplitMix64;
pub use split::{Split, bucketed_batches, split_documents};
pub use vocab::{TokenizerKind, Vocab};
