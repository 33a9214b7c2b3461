//! Labelled texts: where a config's examples come from (the readers of VADER ground truth, CSV, TSV and
//! JSONL are `rnnzoo_data::labelled`), splitting, tokenising.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rnnzoo_config::{DataConfig, DataFormat};
use rnnzoo_data::corpus::ensure_corpus;
use rnnzoo_data::labelled::format_from_extension;
pub use rnnzoo_data::labelled::{Example, read_examples};
use rnnzoo_data::vocab::{EOS, tokenize};
use rnnzoo_data::{SplitMix64, TokenizerKind, Vocab};

use crate::SentimentError;

/// Named corpora: the VADER ground-truth files (labelled by the sign of the mean rating).
pub const VADER_CORPORA: &[(&str, &str)] = &[
    ("vader-movies", "movieReviewSnippets_GroundTruth.txt"),
    ("vader-tweets", "tweets_GroundTruth.txt"),
    ("vader-amazon", "amazonReviewSnippets_GroundTruth.txt"),
    ("vader-nyt", "nytEditorialSnippets_GroundTruth.txt"),
];

/// Where a config's examples come from: a file and its format.
pub fn source(data: &DataConfig) -> Result<(PathBuf, DataFormat), SentimentError> {
    if let Some(name) = &data.corpus {
        let file = VADER_CORPORA
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let known: Vec<&str> = VADER_CORPORA.iter().map(|(n, _)| *n).collect();
                SentimentError::Other(format!(
                    "data.corpus: unknown corpus `{name}` for classification; known: {}",
                    known.join(", ")
                ))
            })?;
        return Ok((ensure_corpus("vader")?.join(file), DataFormat::Vader));
    }
    let path = data
        .path
        .clone()
        .ok_or_else(|| SentimentError::Other("data: no `corpus` or `path`".into()))?;
    Ok((path.clone(), format_of(&path, data.format)?))
}

/// A file's format: as configured, else from its extension.
pub fn format_of(
    path: &Path,
    configured: Option<DataFormat>,
) -> Result<DataFormat, SentimentError> {
    if let Some(f) = configured {
        return Ok(f);
    }
    format_from_extension(path).ok_or_else(|| {
        SentimentError::Other(format!(
            "{}: cannot tell the format from the extension; set data.format to csv, tsv, jsonl or vader",
            path.display()
        ))
    })
}

/// The class names of a set of examples, sorted.
pub fn classes(examples: &[Example]) -> Vec<String> {
    examples
        .iter()
        .map(|e| e.label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Indices of the train, valid and test examples: a seeded shuffle, then `valid` and `test`
/// fractions taken from its end.
pub fn split_indices(n: usize, valid: f64, test: f64, seed: u64) -> [Vec<usize>; 3] {
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64::new(seed ^ 0xC1A5).shuffle(&mut order);
    let n_test = (n as f64 * test).round() as usize;
    let n_valid = (n as f64 * valid).round() as usize;
    let test_set = order.split_off(n - n_test);
    let valid_set = order.split_off(n - n_test - n_valid);
    [order, valid_set, test_set]
}

/// Separates punctuation from words (`"it's good!"` -> `it's good !`), optionally lower-cased.
pub fn normalize(text: &str, lowercase: bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' || c.is_whitespace() {
            out.push(c);
        } else {
            out.push(' ');
            out.push(c);
            out.push(' ');
        }
    }
    if lowercase { out.to_lowercase() } else { out }
}

/// The word tokens of a text.
pub fn words(text: &str, lowercase: bool) -> Vec<String> {
    tokenize(TokenizerKind::Word, &normalize(text, lowercase))
        .into_iter()
        .filter(|t| t != EOS)
        .collect()
}

/// Token ids of a text (at least one: `<unk>` for an empty text).
pub fn encode(vocab: &Vocab, text: &str, lowercase: bool) -> Vec<usize> {
    let ids: Vec<usize> = words(text, lowercase).iter().map(|w| vocab.id(w)).collect();
    if ids.is_empty() { vec![0] } else { ids }
}

/// A word vocabulary from training texts.
pub fn build_vocab(
    texts: &[&str],
    lowercase: bool,
    min_freq: usize,
    max_vocab: Option<usize>,
) -> Vocab {
    let joined: Vec<String> = texts
        .iter()
        .map(|t| words(t, lowercase).join(" "))
        .collect();
    Vocab::build(
        TokenizerKind::Word,
        joined.iter().map(String::as_str),
        min_freq,
        max_vocab,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_disjoint_seeded_and_sized() {
        let [train, valid, test] = split_indices(100, 0.1, 0.1, 3);
        assert_eq!((train.len(), valid.len(), test.len()), (80, 10, 10));
        let mut all: Vec<usize> = train.iter().chain(&valid).chain(&test).copied().collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split_indices(100, 0.1, 0.1, 3)[1], valid);
    }

    #[test]
    fn punctuation_is_split_from_words() {
        assert_eq!(
            words("It's GOOD, really!", true),
            ["it's", "good", ",", "really", "!"]
        );
    }
}
