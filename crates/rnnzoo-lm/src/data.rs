//! From a config's `data:` section to token streams.

use std::path::Path;

use rnnzoo_config::DataConfig;
use rnnzoo_data::corpus::{ensure_corpus, read_path};
use rnnzoo_data::{Document, Split, Vocab, split_documents};

use crate::LmError;

/// A corpus split into documents.
pub fn load_split(data: &DataConfig, seed: u64) -> Result<Split, LmError> {
    let docs = match (&data.corpus, &data.path) {
        (Some(name), _) => read_path(&ensure_corpus(name)?)?,
        (None, Some(path)) => read_path(path)?,
        (None, None) => return Err(LmError::Other("data: no `corpus` or `path`".into())),
    };
    Ok(split_documents(
        docs,
        data.split.valid,
        data.split.test,
        seed,
    ))
}

/// The concatenated text of documents, at most `max_chars` characters when given.
pub fn joined_text(docs: &[Document], max_chars: Option<usize>) -> String {
    let text: String = docs.iter().map(|d| d.text.as_str()).collect();
    match max_chars {
        Some(n) => text.chars().take(n).collect(),
        None => text,
    }
}

/// The vocabulary of a training text.
pub fn build_vocab(data: &DataConfig, train_text: &str) -> Vocab {
    Vocab::build(data.tokenizer, [train_text], data.min_freq, data.max_vocab)
}

/// The text of a file or folder given on the command line (`eval --data`).
pub fn read_text(path: &Path) -> Result<String, LmError> {
    Ok(joined_text(&read_path(path)?, None))
}
