//! Caption words: lower-cased runs of letters, digits and apostrophes (`"flag: Côte d'Ivoire"`
//! reads as `flag côte d'ivoire`), and the vocabulary of the training captions.
//!
//! With caption styles (`data.caption_styles`) the vocabulary also holds a start token per
//! style after the specials: `<s>` starts a caption in the style of each image's first
//! reference, `<s2>`, `<s3>`, ... in the style of its second, third, ... No word can collide
//! with them: [`words`] keeps no `<`.

use std::collections::HashMap;
use std::path::Path;

/// `<pad>`.
pub const PAD: usize = 0;
/// `<s>`, the decoder's first input (of a caption in the first reference's style).
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

/// The start token of style `style` (1-based) after the first: `<s2>`, `<s3>`, ...
fn style_token(style: usize) -> String {
    format!("<s{style}>")
}

/// Word ids: the specials, the start tokens of styles 2, 3, ..., then the words.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocabulary {
    words: Vec<String>,
    ids: HashMap<String, usize>,
    /// Caption styles with a start token (1 without styles: `<s>` alone).
    styles: usize,
}

impl Vocabulary {
    /// The words of `captions` seen at least `min_freq` times, the most frequent first (ties
    /// in alphabetical order), at most `max_size` entries with the specials and the start
    /// tokens of `styles` caption styles (1 for none but `<s>`).
    pub fn build<'a>(
        captions: impl IntoIterator<Item = &'a str>,
        min_freq: usize,
        max_size: Option<usize>,
        styles: usize,
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
        let styles = styles.max(1);
        let reserved = SPECIALS.len() + styles - 1;
        let room = max_size.map_or(usize::MAX, |m| m.saturating_sub(reserved));
        let words = SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain((2..=styles).map(style_token))
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
        let styles = 1 + words[SPECIALS.len().min(words.len())..]
            .iter()
            .enumerate()
            .take_while(|(k, w)| **w == style_token(k + 2))
            .count();
        Self { words, ids, styles }
    }

    /// Caption styles with a start token (1 when the vocabulary has only `<s>`).
    pub fn styles(&self) -> usize {
        self.styles
    }

    /// The start token of caption style `style` (1-based): `<s>` for the first, `<s2>`, ...
    /// for the others; `None` past the vocabulary's styles.
    pub fn start(&self, style: usize) -> Option<usize> {
        match style {
            1 => Some(BOS),
            s if s >= 2 && s <= self.styles => Some(SPECIALS.len() + s - 2),
            _ => None,
        }
    }

    /// The decoder's first input for an image's `reference`-th caption (0-based): its style's
    /// start token, the last style's for references past the styles, `<s>` without styles.
    pub fn start_of_reference(&self, reference: usize) -> usize {
        let style = (reference + 1).min(self.styles);
        self.start(style).expect("a style of the vocabulary")
    }

    /// Entries, specials and start tokens included.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether it holds no word (only the specials and start tokens).
    pub fn is_empty(&self) -> bool {
        self.words.len() <= self.first_word()
    }

    /// The id of the first word, after the specials and the start tokens.
    fn first_word(&self) -> usize {
        SPECIALS.len() + self.styles - 1
    }

    /// The ids of a caption's words (`<unk>` for unknown ones).
    pub fn encode(&self, caption: &str) -> Vec<usize> {
        words(caption)
            .iter()
            .map(|w| self.ids.get(w).copied().unwrap_or(UNK))
            .collect()
    }

    /// The words of ids, joined by spaces (specials other than `<unk>`, and start tokens, left
    /// out).
    pub fn decode(&self, ids: &[usize]) -> String {
        let first_word = self.first_word();
        ids.iter()
            .filter(|&&i| i == UNK || i >= first_word)
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
        let v = Vocabulary::build(["red circle", "red square", "blue circle"], 1, Some(6), 1);
        // Specials, then circle and red (twice each, alphabetical); blue and square do not fit.
        assert_eq!(v.len(), 6);
        assert_eq!(v.encode("red circle square"), vec![5, 4, UNK]);
        assert_eq!(v.decode(&[BOS, 4, 5, UNK, EOS]), "circle red <unk>");
        let dir = std::env::temp_dir().join(format!("rnnzoo-caption-vocab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vocab.json");
        v.save(&path).unwrap();
        assert_eq!(Vocabulary::load(&path).unwrap(), v);
        assert_eq!((v.styles(), v.start(1), v.start(2)), (1, Some(BOS), None));
        assert_eq!(v.start_of_reference(1), BOS);
        std::fs::write(&path, "[\"a\"]").unwrap();
        assert!(Vocabulary::load(&path).unwrap_err().contains("starts with"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn style_start_tokens_follow_the_specials_survive_a_reload_and_never_decode() {
        // Three styles, room for 8 entries: 4 specials, <s2>, <s3>, then circle and red.
        let v = Vocabulary::build(["red circle", "red square", "blue circle"], 1, Some(8), 3);
        assert_eq!(v.len(), 8);
        assert_eq!(v.styles(), 3);
        assert_eq!(
            (v.start(1), v.start(2), v.start(3)),
            (Some(BOS), Some(4), Some(5))
        );
        assert_eq!((v.start(0), v.start(4)), (None, None));
        // A fourth reference starts with the last style's token.
        let starts: Vec<usize> = (0..4).map(|r| v.start_of_reference(r)).collect();
        assert_eq!(starts, [BOS, 4, 5, 5]);
        assert_eq!(v.encode("red circle"), vec![7, 6]);
        assert_eq!(v.decode(&[4, 5, 6, UNK, 7, EOS]), "circle <unk> red");
        assert!(!v.is_empty());
        assert!(Vocabulary::build(["x"], 2, None, 3).is_empty());
        let dir =
            std::env::temp_dir().join(format!("rnnzoo-caption-styles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vocab.json");
        v.save(&path).unwrap();
        let loaded = Vocabulary::load(&path).unwrap();
        assert_eq!((loaded.styles(), &loaded), (3, &v));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
