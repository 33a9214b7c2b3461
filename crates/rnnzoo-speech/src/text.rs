//! Transcripts as character ids for CTC: id 0 is the blank, then every character of the
//! training transcripts in sorted order. Characters a model never saw are left out of its
//! targets (CTC has no `<unk>`), and counted.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The CTC blank's id.
pub const BLANK: usize = 0;

/// The output alphabet of a speech model, saved in its run as `alphabet.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alphabet {
    /// The characters of ids 1, 2, ….
    pub chars: Vec<char>,
    /// Whether transcripts are lower-cased first.
    pub lowercase: bool,
}

impl Alphabet {
    /// The characters of `transcripts` (normalised as [`Alphabet::normalise`] does).
    pub fn from_transcripts<'a>(
        transcripts: impl IntoIterator<Item = &'a str>,
        lowercase: bool,
    ) -> Self {
        let mut set = BTreeSet::new();
        for t in transcripts {
            set.extend(normalise(t, lowercase).chars());
        }
        Self {
            chars: set.into_iter().collect(),
            lowercase,
        }
    }

    /// Output classes: the characters and the blank.
    pub fn classes(&self) -> usize {
        self.chars.len() + 1
    }

    /// A transcript as the model writes it: spaces collapsed and trimmed, lower-cased when
    /// the alphabet is.
    pub fn normalise(&self, text: &str) -> String {
        normalise(text, self.lowercase)
    }

    /// The ids of a transcript's characters, and how many characters had none.
    pub fn encode(&self, text: &str) -> (Vec<usize>, usize) {
        let mut unknown = 0;
        let ids = self
            .normalise(text)
            .chars()
            .filter_map(|c| match self.chars.binary_search(&c) {
                Ok(i) => Some(i + 1),
                Err(_) => {
                    unknown += 1;
                    None
                }
            })
            .collect();
        (ids, unknown)
    }

    /// The text of character ids (the blank and unknown ids skipped).
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .filter_map(|&i| i.checked_sub(1).and_then(|i| self.chars.get(i)))
            .collect()
    }

    /// Writes `alphabet.json`.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let json = serde_json::to_string_pretty(self).expect("serialisable");
        rnnzoo_models::weights::write_atomic(path, json.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads `alphabet.json`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut alphabet: Alphabet = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not an alphabet file ({e})", path.display()))?;
        alphabet.chars.sort_unstable();
        alphabet.chars.dedup();
        Ok(alphabet)
    }
}

fn normalise(text: &str, lowercase: bool) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if lowercase {
        joined.to_lowercase()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_round_trip_through_ids_and_unknown_characters_are_counted() {
        let a = Alphabet::from_transcripts(["Hello  world", "old owl"], true);
        assert_eq!(a.classes(), a.chars.len() + 1);
        let (ids, unknown) = a.encode(" Hello, World ");
        assert_eq!(unknown, 1, "the comma");
        assert!(!ids.contains(&BLANK));
        assert_eq!(a.decode(&ids), "hello world");
    }
}
