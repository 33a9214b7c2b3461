//! Caption words: lower-cased runs of letters, digits and apostrophes (`"flag: Côte d'Ivoire"`
//! reads as `flag côte d'ivoire`), and the vocabulary of the training captions.

use std::collections::HashMap;
use std::path::Path;

/// `<pad>`.
pub const PAD: usize = 0;
/// `<s>`, the decoder's first input.
pub const BOS: usize = 1;
/// `</s>`, the end of a caption.
pub const EOS: usize = 2;
/// `<unk>`, any word not in the vocabulary.
pub const UNK: usize = 3;
const SPECIALS: [&str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];

/// The words of a caption.
pub fn words(caption: &str) -> Vec<String> {
    caption
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A caption's words joined by single spaces (the form references and hypotheses are scored in).
pub fn normalise(caption: &str) -> String {
    words(caption).join(" ")
}

/// Word ids, specials first.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocabulary {
    words: Vec<String>,
    ids: HashMap<String, usize>,
}

impl Vocabulary {
    /// The words of `captions` seen at least `min_freq` times, the most frequent first (ties
    /// in alphabetical order), at most `max_size` entries with the specials.
    pub fn build<'a>(
        captions: impl IntoIterator<Item = &'a str>,
        min_freq: usize,
        max_size: Option<usize>,
    ) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for c in captions {
            for w in words(c) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(_, n)| *n >= min_freq.max(1))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let room = max_size.map_or(usize::MAX, |m| m.saturating_sub(SPECIALS.len()));
        let words = SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain(ranked.into_iter().take(room).map(|(w, _)| w))
            .collect();
        Self::from_words(words)
    }

    fn from_words(words: Vec<String>) -> Self {
        let ids = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i))
            .collect();
        Self { words, ids }
    }

    /// Entries, specials included.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it holds only the specials.
    pub fn is_empty(&self) -> bool {
        self.words.len() <= SPECIALS.len()
    }

    /// The ids of a caption's words (`<unk>` for unknown ones).
    pub fn encode(&self, caption: &str) -> Vec<usize> {
        words(caption)
            .iter()
            .map(|w| self.ids.get(w).copied().unwrap_or(UNK))
            .collect()
    }

    /// The words of ids, joined by spaces (specials other than `<unk>` left out).
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .filter(|&&i| i == UNK || i >= SPECIALS.len())
            .map(|&i| self.words.get(i).map_or("<unk>", String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Writes the words as a JSON list.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string(&self.words).expect("strings serialise");
        rnnzoo_models::weights::write_atomic(path, text.as_bytes())
    }

    /// Reads a vocabulary written by [`Vocabulary::save`].
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let words: Vec<String> = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not a vocabulary (a JSON list of words): {e}",
                path.display()
            )
        })?;
        if words.len() < SPECIALS.len() || words[..SPECIALS.len()] != SPECIALS {
            return Err(format!(
                "{}: a caption vocabulary starts with {SPECIALS:?}",
                path.display()
            ));
        }
        Ok(Self::from_words(words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_case_without_punctuation_and_ids_round_trip() {
        assert_eq!(
            words("Flag: Côte d'Ivoire, 'quoted'"),
            ["flag", "côte", "d'ivoire", "quoted"]
        );
        let v = Vocabulary::build(["red circle", "red square", "blue circle"], 1, Some(6));
        // Specials, then circle and red (twice each, alphabetical); blue and square do not fit.
        assert_eq!(v.len(), 6);
        assert_eq!(v.encode("red circle square"), vec![5, 4, UNK]);
        assert_eq!(v.decode(&[BOS, 4, 5, UNK, EOS]), "circle red <unk>");
        let dir = std::env::temp_dir().join(format!("rnnzoo-caption-vocab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vocab.json");
        v.save(&path).unwrap();
        assert_eq!(Vocabulary::load(&path).unwrap(), v);
        std::fs::write(&path, "[\"a\"]").unwrap();
        assert!(Vocabulary::load(&path).unwrap_err().contains("starts with"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
