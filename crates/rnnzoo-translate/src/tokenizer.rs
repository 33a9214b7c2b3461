//! One side's tokenizer: words (with a vocabulary cap and `<unk>`), characters, or subword BPE
//! learnt on the training split with Hugging Face `tokenizers`. Every kind shares the special
//! ids [`PAD`], [`UNK`], [`BOS`], [`EOS`] and the same word splitting and detokenisation, so
//! hypotheses come out as plain text that BLEU's 13a tokeniser reads like a human translation.

use std::collections::HashMap;
use std::path::Path;

use rnnzoo_data::TokenizerKind;
use serde::{Deserialize, Serialize};
use tokenizers::decoders::bpe::BPEDecoder;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::{AddedToken, PostProcessorWrapper, TokenizerBuilder, TokenizerImpl};

/// Padding, id 0.
pub const PAD: usize = 0;
/// Unknown token, id 1.
pub const UNK: usize = 1;
/// Start of a target sentence, id 2 (the decoder's first input).
pub const BOS: usize = 2;
/// End of a sentence, id 3.
pub const EOS: usize = 3;
/// The special tokens, by id.
pub const SPECIALS: [&str; 4] = ["<pad>", "<unk>", "<s>", "</s>"];

/// End-of-word marker of BPE pieces.
const END_OF_WORD: &str = "</w>";

type Bpe = TokenizerImpl<BPE, NormalizerWrapper, WhitespaceSplit, PostProcessorWrapper, BPEDecoder>;

/// Words and punctuation of a sentence: letters, digits and word-internal apostrophes and
/// hyphens make words; every other non-space character is a token of its own.
pub fn split_words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let joins = |c: char| c.is_alphanumeric();
        let inner = matches!(c, '\'' | '’' | '-')
            && !word.is_empty()
            && chars.get(i + 1).is_some_and(|&n| joins(n));
        if joins(c) || inner {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Joins words and punctuation back into text: no space before closing punctuation, none
/// after opening punctuation.
pub fn detokenize<S: AsRef<str>>(tokens: &[S]) -> String {
    let mut out = String::new();
    let mut glue_next = true;
    for t in tokens {
        let t = t.as_ref();
        let closing = matches!(t, "," | "." | ";" | ":" | "!" | "?" | ")" | "]" | "»" | "”");
        if !(out.is_empty() || glue_next || closing) {
            out.push(' ');
        }
        out.push_str(t);
        glue_next = matches!(t, "(" | "[" | "¿" | "¡" | "«" | "“");
    }
    out
}

/// How one side of the corpus becomes ids.
pub enum Tokenizer {
    /// Whole words (or characters) with a vocabulary; the rest is `<unk>`.
    Vocabulary {
        /// Words (`Word`) or characters (`Char`).
        kind: TokenizerKind,
        /// Tokens by id, the specials first.
        tokens: Vec<String>,
        /// Ids by token.
        index: HashMap<String, usize>,
        /// Lower-case before tokenising.
        lowercase: bool,
    },
    /// Subword units.
    Bpe {
        /// The trained tokenizer.
        bpe: Box<Bpe>,
        /// Lower-case before tokenising.
        lowercase: bool,
    },
}

#[derive(Serialize, Deserialize)]
struct Saved {
    kind: TokenizerKind,
    lowercase: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tokens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bpe: Option<String>,
}

impl Tokenizer {
    /// Learns a tokenizer from training sentences: the `max_vocab` most frequent words or
    /// characters seen `min_freq` times or more, or a BPE vocabulary of `max_vocab` pieces.
    pub fn train(
        kind: TokenizerKind,
        sentences: &[&str],
        lowercase: bool,
        min_freq: usize,
        max_vocab: Option<usize>,
    ) -> Result<Self, String> {
        let prepare = |s: &str| {
            if lowercase {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        match kind {
            TokenizerKind::Word | TokenizerKind::Char => {
                let mut counts: HashMap<String, usize> = HashMap::new();
                for s in sentences {
                    for t in pieces(kind, &prepare(s)) {
                        *counts.entry(t).or_default() += 1;
                    }
                }
                let mut ranked: Vec<(String, usize)> = counts
                    .into_iter()
                    .filter(|(t, c)| *c >= min_freq.max(1) && !SPECIALS.contains(&t.as_str()))
                    .collect();
                ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
                tokens.extend(ranked.into_iter().map(|(t, _)| t));
                if let Some(max) = max_vocab {
                    tokens.truncate(max.max(SPECIALS.len()));
                }
                Ok(Self::vocabulary(kind, tokens, lowercase))
            }
            TokenizerKind::Bpe => {
                let size = max_vocab.unwrap_or(8000);
                let mut trainer = BpeTrainerBuilder::new()
                    .vocab_size(size)
                    .min_frequency(min_freq.max(1) as u64)
                    .special_tokens(
                        SPECIALS
                            .iter()
                            .map(|s| AddedToken::from(*s, true))
                            .collect(),
                    )
                    .end_of_word_suffix(END_OF_WORD.into())
                    .show_progress(false)
                    .build();
                let model = BPE::builder()
                    .unk_token(SPECIALS[UNK].into())
                    .end_of_word_suffix(END_OF_WORD.into())
                    .build()
                    .map_err(|e| e.to_string())?;
                let mut bpe: Bpe = TokenizerBuilder::new()
                    .with_model(model)
                    .with_pre_tokenizer(Some(WhitespaceSplit))
                    .with_decoder(Some(BPEDecoder::new(END_OF_WORD.into())))
                    .build()
                    .map_err(|e| e.to_string())?;
                // The trainer reads words split as `encode` splits them.
                let words: Vec<String> = sentences
                    .iter()
                    .map(|s| split_words(&prepare(s)).join(" "))
                    .collect();
                bpe.train(&mut trainer, words.iter())
                    .map_err(|e| format!("training the BPE tokenizer: {e}"))?;
                Ok(Self::Bpe {
                    bpe: Box::new(bpe),
                    lowercase,
                })
            }
        }
    }

    fn vocabulary(kind: TokenizerKind, tokens: Vec<String>, lowercase: bool) -> Self {
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Self::Vocabulary {
            kind,
            tokens,
            index,
            lowercase,
        }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        match self {
            Self::Vocabulary { tokens, .. } => tokens.len(),
            Self::Bpe { bpe, .. } => bpe.get_vocab_size(true),
        }
    }

    /// Whether there are no ids (never: the specials are always there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether texts are lower-cased first.
    pub fn lowercase(&self) -> bool {
        match self {
            Self::Vocabulary { lowercase, .. } | Self::Bpe { lowercase, .. } => *lowercase,
        }
    }

    /// The ids of a sentence (no `<s>` or `</s>`), and the text piece each id stands for.
    pub fn encode(&self, text: &str) -> (Vec<usize>, Vec<String>) {
        let text = if self.lowercase() {
            text.to_lowercase()
        } else {
            text.to_string()
        };
        match self {
            Self::Vocabulary { kind, index, .. } => {
                let pieces = pieces(*kind, &text);
                let ids = pieces
                    .iter()
                    .map(|p| index.get(p).copied().unwrap_or(UNK))
                    .collect();
                (ids, pieces)
            }
            Self::Bpe { bpe, .. } => {
                let words = split_words(&text).join(" ");
                match bpe.encode(words.as_str(), false) {
                    Ok(enc) => (
                        enc.get_ids().iter().map(|&i| i as usize).collect(),
                        enc.get_tokens().to_vec(),
                    ),
                    Err(_) => (Vec::new(), Vec::new()),
                }
            }
        }
    }

    /// The token string of an id.
    pub fn token(&self, id: usize) -> String {
        match self {
            Self::Vocabulary { tokens, .. } => tokens
                .get(id)
                .cloned()
                .unwrap_or_else(|| SPECIALS[UNK].into()),
            Self::Bpe { bpe, .. } => bpe
                .id_to_token(id as u32)
                .unwrap_or_else(|| SPECIALS[UNK].into()),
        }
    }

    /// Text of generated ids (specials other than `<unk>` dropped); `replacements[i]`, when
    /// given, stands in for the `i`-th id where it is `<unk>`.
    pub fn decode(&self, ids: &[usize], replacements: Option<&[String]>) -> String {
        let mut words: Vec<String> = Vec::new();
        let mut piece = String::new();
        for (i, &id) in ids.iter().enumerate() {
            if id != UNK && id < SPECIALS.len() {
                continue;
            }
            let token = if id == UNK {
                replacements
                    .and_then(|r| r.get(i).cloned())
                    .map(|w| strip_marker(&w).to_string() + self.word_end())
                    .unwrap_or_else(|| SPECIALS[UNK].to_string() + self.word_end())
            } else {
                self.token(id)
            };
            match self {
                Self::Vocabulary {
                    kind: TokenizerKind::Char,
                    ..
                } => {
                    if token == " " {
                        words.push(std::mem::take(&mut piece));
                    } else {
                        piece.push_str(&token);
                    }
                }
                Self::Vocabulary { .. } => words.push(token),
                Self::Bpe { .. } => match token.strip_suffix(END_OF_WORD) {
                    Some(end) => {
                        piece.push_str(end);
                        words.push(std::mem::take(&mut piece));
                    }
                    None => piece.push_str(&token),
                },
            }
        }
        if !piece.is_empty() {
            words.push(piece);
        }
        words.retain(|w| !w.is_empty());
        detokenize(&words)
    }

    fn word_end(&self) -> &'static str {
        match self {
            Self::Bpe { .. } => END_OF_WORD,
            Self::Vocabulary { .. } => "",
        }
    }

    /// Writes the tokenizer as JSON.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let saved = match self {
            Self::Vocabulary {
                kind,
                tokens,
                lowercase,
                ..
            } => Saved {
                kind: *kind,
                lowercase: *lowercase,
                tokens: tokens.clone(),
                bpe: None,
            },
            Self::Bpe { bpe, lowercase } => Saved {
                kind: TokenizerKind::Bpe,
                lowercase: *lowercase,
                tokens: Vec::new(),
                bpe: Some(bpe.to_string(false).map_err(|e| e.to_string())?),
            },
        };
        let text = serde_json::to_string(&saved).expect("serialisable");
        rnnzoo_models::weights::write_atomic(path, text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads a tokenizer written by [`Tokenizer::save`].
    pub fn load(path: &Path) -> Result<Self, String> {
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
        let saved: Saved = serde_json::from_str(&text).map_err(|e| fail(&e))?;
        match (saved.kind, saved.bpe) {
            (TokenizerKind::Bpe, Some(json)) => {
                let bpe: Bpe = serde_json::from_str(&json).map_err(|e| fail(&e))?;
                Ok(Self::Bpe {
                    bpe: Box::new(bpe),
                    lowercase: saved.lowercase,
                })
            }
            (TokenizerKind::Bpe, None) => Err(fail(&"a BPE tokenizer without its model")),
            (kind, _) => {
                if saved.tokens.len() < SPECIALS.len() || saved.tokens[..SPECIALS.len()] != SPECIALS
                {
                    return Err(fail(
                        &"the vocabulary does not start with the special tokens",
                    ));
                }
                Ok(Self::vocabulary(kind, saved.tokens, saved.lowercase))
            }
        }
    }
}

/// A BPE piece without its end-of-word marker.
fn strip_marker(piece: &str) -> &str {
    piece.strip_suffix(END_OF_WORD).unwrap_or(piece)
}

/// Word-level or character-level pieces (spaces are a character of their own between words).
fn pieces(kind: TokenizerKind, text: &str) -> Vec<String> {
    let words = split_words(text);
    match kind {
        TokenizerKind::Char => {
            let mut out = Vec::new();
            for (i, w) in words.iter().enumerate() {
                if i > 0 {
                    out.push(" ".to_string());
                }
                out.extend(w.chars().map(String::from));
            }
            out
        }
        _ => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_off_punctuation_and_join_back() {
        let text = "And God said, Let there be light: and there was light (the LORD'S day).";
        let words = split_words(text);
        assert_eq!(&words[..4], ["And", "God", "said", ","]);
        assert!(words.contains(&"LORD'S".to_string()));
        assert_eq!(detokenize(&words), text);
        assert_eq!(detokenize(&split_words("¿Dónde está?")), "¿Dónde está?");
    }

    #[test]
    fn every_kind_round_trips_through_save_and_load() {
        let train = [
            "In the beginning God created the heaven and the earth.",
            "And the earth was without form, and void.",
            "And God saw the light, that it was good.",
        ];
        let dir = std::env::temp_dir().join(format!("rnnzoo-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for kind in [TokenizerKind::Word, TokenizerKind::Char, TokenizerKind::Bpe] {
            let tok = Tokenizer::train(kind, &train, false, 1, Some(60)).unwrap();
            let (ids, _) = tok.encode(train[1]);
            assert!(
                ids.iter().all(|&i| i >= SPECIALS.len() || i == UNK),
                "{kind:?}"
            );
            assert_eq!(tok.decode(&ids, None), train[1], "{kind:?}");
            let path = dir.join("tok.json");
            tok.save(&path).unwrap();
            let loaded = Tokenizer::load(&path).unwrap();
            assert_eq!(
                loaded.encode(train[2]).0,
                tok.encode(train[2]).0,
                "{kind:?}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_words_are_unk_and_can_be_replaced() {
        let tok =
            Tokenizer::train(TokenizerKind::Word, &["the cat sat ."], false, 1, None).unwrap();
        let (ids, pieces) = tok.encode("the dog sat.");
        assert_eq!(ids[1], UNK);
        assert_eq!(tok.decode(&ids, None), "the <unk> sat.");
        assert_eq!(tok.decode(&ids, Some(&pieces)), "the dog sat.");
    }
}
