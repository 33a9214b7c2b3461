//! Character and word vocabularies.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How text is cut into tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// One token per Unicode character (not per byte); newlines are characters too.
    #[default]
    Char,
    /// Whitespace-separated words, with an end-of-line token `<eos>` after every line (as the
    /// word-level Penn Treebank setup).
    Word,
    /// Subword units (byte-pair encoding) learnt on the training split: translation only,
    /// through `rnnzoo-translate`'s tokenizer. Here, as for `Word`, whitespace-separated words.
    Bpe,
}

/// The unknown token, id 0 in every vocabulary.
pub const UNK: &str = "<unk>";
/// The end-of-line token of word vocabularies, id 1 there.
pub const EOS: &str = "<eos>";

/// A token <-> id mapping. Ids are dense, `<unk>` is 0, then (word level) `<eos>`, then tokens
/// by decreasing corpus frequency (ties by token), so a vocabulary is a deterministic function of
/// its corpus and settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    /// Tokenisation the vocabulary was built for.
    pub kind: TokenizerKind,
    /// Tokens by id.
    pub tokens: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Vocab {
    fn specials(kind: TokenizerKind) -> Vec<String> {
        match kind {
            TokenizerKind::Char => vec![UNK.into()],
            TokenizerKind::Word | TokenizerKind::Bpe => vec![UNK.into(), EOS.into()],
        }
    }

    /// Builds a vocabulary from texts: tokens seen at least `min_freq` times, the most frequent
    /// first, at most `max_vocab` entries in all (specials included) when given.
    pub fn build<'a>(
        kind: TokenizerKind,
        texts: impl IntoIterator<Item = &'a str>,
        min_freq: usize,
        max_vocab: Option<usize>,
    ) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for token in tokenize(kind, text) {
                *counts.entry(token).or_default() += 1;
            }
        }
        let specials = Self::specials(kind);
        let mut ranked: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(t, c)| *c >= min_freq.max(1) && !specials.contains(t))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut tokens = specials;
        tokens.extend(ranked.into_iter().map(|(t, _)| t));
        if let Some(max) = max_vocab {
            tokens.truncate(max.max(Self::specials(kind).len()));
        }
        Self::from_tokens(kind, tokens)
    }

    /// A vocabulary with exactly these tokens, in this order.
    pub fn from_tokens(kind: TokenizerKind, tokens: Vec<String>) -> Self {
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Self {
            kind,
            tokens,
            index,
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of a token; `<unk>` (0) when unknown.
    pub fn id(&self, token: &str) -> usize {
        self.index.get(token).copied().unwrap_or(0)
    }

    /// Whether the vocabulary holds this token.
    pub fn contains(&self, token: &str) -> bool {
        self.index.contains_key(token)
    }

    /// Appends tokens not yet present, keeping every existing id; returns how many were added.
    pub fn extend(&mut self, tokens: impl IntoIterator<Item = String>) -> usize {
        let before = self.len();
        for t in tokens {
            if !self.index.contains_key(&t) {
                self.index.insert(t.clone(), self.tokens.len());
                self.tokens.push(t);
            }
        }
        self.len() - before
    }

    /// Token ids of a text.
    pub fn encode(&self, text: &str) -> Vec<usize> {
        tokenize(self.kind, text)
            .iter()
            .map(|t| self.id(t))
            .collect()
    }

    /// The id that separates lines or sentences: `\n` for characters, `<eos>` for words.
    pub fn boundary_id(&self) -> usize {
        match self.kind {
            TokenizerKind::Char => self.id("\n"),
            TokenizerKind::Word | TokenizerKind::Bpe => self.id(EOS),
        }
    }

    /// The text of token ids: characters concatenated, or words joined by spaces with `<eos>`
    /// as a line break.
    pub fn decode(&self, ids: &[usize]) -> String {
        let token = |&i: &usize| self.tokens.get(i).map(String::as_str).unwrap_or(UNK);
        match self.kind {
            TokenizerKind::Char => ids.iter().map(token).collect(),
            TokenizerKind::Word | TokenizerKind::Bpe => {
                let mut out = String::new();
                for t in ids.iter().map(token) {
                    if t == EOS {
                        out.push('\n');
                    } else {
                        if !(out.is_empty() || out.ends_with('\n')) {
                            out.push(' ');
                        }
                        out.push_str(t);
                    }
                }
                out
            }
        }
    }

    /// Writes the vocabulary as JSON.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }

    /// Reads a vocabulary written by [`Vocab::save`].
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let vocab: Vocab =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self::from_tokens(vocab.kind, vocab.tokens))
    }
}

/// Cuts a text into tokens.
pub fn tokenize(kind: TokenizerKind, text: &str) -> Vec<String> {
    match kind {
        TokenizerKind::Char => text.chars().map(String::from).collect(),
        TokenizerKind::Word | TokenizerKind::Bpe => {
            let mut out = Vec::new();
            for line in text.lines() {
                out.extend(line.split_whitespace().map(String::from));
                out.push(EOS.to_string());
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_vocab_counts_characters_not_bytes() {
        let v = Vocab::build(TokenizerKind::Char, ["ééa\nb", "é"], 1, None);
        assert_eq!(v.tokens, ["<unk>", "é", "\n", "a", "b"]);
        assert_eq!(v.encode("éb?"), [1, 4, 0]);
        assert_eq!(v.decode(&[1, 3, 2]), "éa\n");
    }

    #[test]
    fn word_vocab_applies_min_freq_and_max_vocab() {
        let text = "the cat sat\nthe dog sat\nthe end";
        let v = Vocab::build(TokenizerKind::Word, [text], 2, None);
        assert_eq!(v.tokens, ["<unk>", "<eos>", "the", "sat"]);
        assert_eq!(v.encode("the cat"), [2, 0, 1]);
        assert_eq!(v.decode(&[2, 3, 1, 2]), "the sat\nthe");
        let capped = Vocab::build(TokenizerKind::Word, [text], 1, Some(3));
        assert_eq!(capped.tokens, ["<unk>", "<eos>", "the"]);
    }

    #[test]
    fn extend_keeps_ids_and_save_load_round_trips() {
        let mut v = Vocab::build(TokenizerKind::Char, ["abc"], 1, None);
        let before: Vec<usize> = v.encode("abc");
        assert_eq!(v.extend(["z".to_string(), "a".to_string()]), 1);
        assert_eq!(v.encode("abc"), before);
        assert_eq!(v.id("z"), 4);
        let path = std::env::temp_dir().join(format!("rnnzoo-vocab-{}.json", std::process::id()));
        v.save(&path).unwrap();
        let loaded = Vocab::load(&path).unwrap();
        assert_eq!(loaded, v);
        assert_eq!(loaded.id("z"), 4);
        std::fs::remove_file(path).unwrap();
    }
}
