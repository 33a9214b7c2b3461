//! Pretrained word vectors (`model.embedding.pretrained`) in word2vec/GloVe text format: one
//! `word v1 v2 ... vD` line per word, an optional word2vec `count dim` header line.
//!
//! A vocabulary word is looked up as it is. When the file also holds WordPiece continuation
//! pieces (`##ing`, as the vocabularies of BERT-style models do; `scripts/fetch-data.sh minilm`
//! writes such a file), a word the file lacks is composed the way a WordPiece tokenizer would cut
//! it: split at punctuation (`it's` -> `it ' s`), each part cut greedily into the longest pieces
//! the file has (`pretentious` -> `pre ##ten ##tious`), and its vector is the mean of the pieces'
//! vectors. Words found neither way keep a random vector drawn with the standard deviation of the
//! loaded ones, so that both kinds of rows start on one scale (Kim 2014 draws his unknown words the
//! same way; a unit-variance draw next to GloVe's ~0.4 would make unknown words the loudest).

use std::collections::HashMap;
use std::path::Path;

use rnnzoo_data::SplitMix64;

use crate::SentimentError;

/// How the rows of a vocabulary were filled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Coverage {
    /// Words found in the file as they are.
    pub exact: usize,
    /// Words composed of WordPiece pieces.
    pub composed: usize,
    /// Words given a random vector.
    pub random: usize,
    /// Standard deviation of the loaded values, used for the random rows.
    pub std: f32,
}

/// The lines of a vector file, indexed by word; values are parsed on lookup.
pub struct VectorFile<'a> {
    path: &'a Path,
    dim: usize,
    /// word -> (0-based line index, the values' text).
    rows: HashMap<&'a str, (usize, &'a str)>,
    has_pieces: bool,
}

impl<'a> VectorFile<'a> {
    /// Indexes the text of a vector file whose vectors must have `dim` values; a line with
    /// another count is an error naming the line.
    pub fn parse(text: &'a str, path: &'a Path, dim: usize) -> Result<Self, SentimentError> {
        let mut rows = HashMap::new();
        let mut has_pieces = false;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end();
            let Some((word, values)) = line.split_once(' ') else {
                if line.is_empty() {
                    continue;
                }
                return Err(bad_line(path, i, "a word without values".into()));
            };
            let count = values.split_whitespace().count();
            if i == 0 && count == 1 {
                continue; // word2vec header: "<count> <dim>"
            }
            if count != dim {
                return Err(bad_line(
                    path,
                    i,
                    format!("{count} values, but model.embedding.size is {dim}"),
                ));
            }
            has_pieces |= word.starts_with("##");
            rows.entry(word).or_insert((i, values));
        }
        Ok(Self {
            path,
            dim,
            rows,
            has_pieces,
        })
    }

    /// The vector of `word` if the file has it as it is.
    pub fn exact(&self, word: &str) -> Result<Option<Vec<f32>>, SentimentError> {
        match self.rows.get(word) {
            None => Ok(None),
            Some(&(line, values)) => {
                let mut v = Vec::with_capacity(self.dim);
                for s in values.split_whitespace() {
                    v.push(s.parse().map_err(|_| {
                        bad_line(self.path, line, format!("`{s}` is not a number"))
                    })?);
                }
                Ok(Some(v))
            }
        }
    }

    /// The mean vector of the WordPiece pieces of `word`, if the file has pieces and every part
    /// of the word can be cut into them.
    pub fn composed(&self, word: &str) -> Result<Option<Vec<f32>>, SentimentError> {
        if !self.has_pieces {
            return Ok(None);
        }
        let Some(pieces) = self.wordpieces(word) else {
            return Ok(None);
        };
        let mut mean = vec![0.0f32; self.dim];
        for piece in &pieces {
            let v = self.exact(piece)?.expect("pieces come from the file");
            for (m, x) in mean.iter_mut().zip(v) {
                *m += x;
            }
        }
        let n = pieces.len() as f32;
        mean.iter_mut().for_each(|m| *m /= n);
        Ok(Some(mean))
    }

    /// Cuts `word` as a WordPiece tokenizer does with this file as its vocabulary: punctuation
    /// characters on their own, each remaining run greedily into its longest known prefix, then
    /// `##`-continuations. `None` when some part cannot be cut.
    pub fn wordpieces(&self, word: &str) -> Option<Vec<String>> {
        let mut parts: Vec<String> = Vec::new();
        let mut run = String::new();
        for c in word.chars() {
            if c.is_alphanumeric() {
                run.push(c);
            } else {
                if !run.is_empty() {
                    parts.push(std::mem::take(&mut run));
                }
                parts.push(c.to_string());
            }
        }
        if !run.is_empty() {
            parts.push(run);
        }
        let mut pieces = Vec::new();
        for part in parts {
            let chars: Vec<char> = part.chars().collect();
            let mut start = 0;
            while start < chars.len() {
                let mut end = chars.len();
                let found = loop {
                    let body: String = chars[start..end].iter().collect();
                    let piece = if start == 0 {
                        body
                    } else {
                        format!("##{body}")
                    };
                    if self.rows.contains_key(piece.as_str()) {
                        break Some(piece);
                    }
                    end -= 1;
                    if end == start {
                        break None;
                    }
                };
                pieces.push(found?);
                start = end;
            }
        }
        (!pieces.is_empty()).then_some(pieces)
    }
}

fn bad_line(path: &Path, index: usize, message: String) -> SentimentError {
    SentimentError::Data {
        path: path.display().to_string(),
        line: index + 1,
        message,
    }
}

/// Embedding rows `[words.len() * dim]` for `words` from the vector file at `path` (fetched
/// first when it is one `scripts/fetch-data.sh` provides): exact matches, then WordPiece
/// compositions, then random vectors on the loaded vectors' scale (drawn from `seed`).
pub fn embedding_rows(
    path: &Path,
    words: &[String],
    dim: usize,
    seed: u64,
) -> Result<(Vec<f32>, Coverage), SentimentError> {
    rnnzoo_data::corpus::ensure_data_file(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| SentimentError::io(path, e))?;
    let file = VectorFile::parse(&text, path, dim)?;
    let mut coverage = Coverage::default();
    let mut found: Vec<Option<Vec<f32>>> = Vec::with_capacity(words.len());
    for word in words {
        let v = match file.exact(word)? {
            Some(v) => {
                coverage.exact += 1;
                Some(v)
            }
            None => {
                let v = file.composed(word)?;
                coverage.composed += v.is_some() as usize;
                v
            }
        };
        found.push(v);
    }
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0usize);
    for v in found.iter().flatten() {
        for &x in v {
            sum += x as f64;
            sum_sq += (x as f64) * (x as f64);
        }
        n += v.len();
    }
    coverage.std = if n > 1 {
        let mean = sum / n as f64;
        ((sum_sq / n as f64 - mean * mean).max(0.0)).sqrt() as f32
    } else {
        1.0
    };
    let mut rng = SplitMix64::new(seed ^ 0x5EC7_0125);
    let mut rows = Vec::with_capacity(words.len() * dim);
    for v in found {
        match v {
            Some(v) => rows.extend(v),
            None => {
                coverage.random += 1;
                rows.extend((0..dim).map(|_| coverage.std * standard_normal(&mut rng)));
            }
        }
    }
    Ok((rows, coverage))
}

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut SplitMix64) -> f32 {
    let u1 = rng.uniform().max(f64::MIN_POSITIVE);
    let u2 = rng.uniform();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "6 2\nit 1 0\n' 0 1\ns 2 2\npre 2 2\n##ten 4 4\n##tious 0 6\ngood 3 -3\n";

    #[test]
    fn words_are_found_exactly_or_composed_of_their_wordpieces() {
        let path = Path::new("v.txt");
        let file = VectorFile::parse(FILE, path, 2).unwrap();
        assert_eq!(
            file.wordpieces("pretentious").unwrap(),
            ["pre", "##ten", "##tious"]
        );
        assert_eq!(file.wordpieces("it's").unwrap(), ["it", "'", "s"]);
        assert_eq!(file.composed("it's").unwrap().unwrap(), [1.0, 1.0]);
        assert!(file.wordpieces("zebra").is_none());
        assert_eq!(file.composed("pretentious").unwrap().unwrap(), [2.0, 4.0]);
        assert_eq!(file.exact("good").unwrap().unwrap(), [3.0, -3.0]);
    }

    #[test]
    fn a_file_without_pieces_composes_nothing() {
        let path = Path::new("v.txt");
        let file = VectorFile::parse("good 1 2\nbad 3 4\n", path, 2).unwrap();
        assert!(file.composed("goodbad").unwrap().is_none());
    }

    #[test]
    fn unknown_words_get_random_rows_on_the_loaded_scale() {
        let dir = std::env::temp_dir().join(format!("rnnzoo-vectors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.txt");
        // 200 loaded words with values ±0.5 (std 0.5), 200 unknown words.
        let mut text = String::new();
        let mut vocab = Vec::new();
        for i in 0..200 {
            let x = if i % 2 == 0 { 0.5 } else { -0.5 };
            text.push_str(&format!("w{i} {x} {}\n", -x));
            vocab.push(format!("w{i}"));
            vocab.push(format!("unknown{i}"));
        }
        std::fs::write(&path, text).unwrap();
        let (rows, coverage) = embedding_rows(&path, &vocab, 2, 3).unwrap();
        assert_eq!(
            (coverage.exact, coverage.composed, coverage.random),
            (200, 0, 200)
        );
        assert!((coverage.std - 0.5).abs() < 1e-6);
        assert_eq!(&rows[..2], [0.5, -0.5]);
        let random: Vec<f32> = rows.chunks(4).flat_map(|c| [c[2], c[3]]).collect();
        let std = (random.iter().map(|x| x * x).sum::<f32>() / random.len() as f32).sqrt();
        assert!((std - 0.5).abs() < 0.1, "random rows' std {std}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_line_with_the_wrong_number_of_values_is_named() {
        let path = Path::new("vectors.txt");
        let err = VectorFile::parse("good 1 2\nbad 3\n", path, 2)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "vectors.txt:2: 1 values, but model.embedding.size is 2"
        );
        let err = VectorFile::parse("good 1 x\n", path, 2)
            .unwrap()
            .exact("good")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "vectors.txt:1: `x` is not a number");
    }
}
