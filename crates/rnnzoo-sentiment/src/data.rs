//! Labelled texts: reading files (VADER ground truth, CSV, TSV, JSONL), splitting, tokenising.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rnnzoo_config::{DataConfig, DataFormat};
use rnnzoo_data::corpus::ensure_corpus;
use rnnzoo_data::vocab::{EOS, tokenize};
use rnnzoo_data::{SplitMix64, TokenizerKind, Vocab};

use crate::SentimentError;

/// One labelled text.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The text.
    pub text: String,
    /// Its class name.
    pub label: String,
}

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
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => Ok(DataFormat::Csv),
        Some("tsv") => Ok(DataFormat::Tsv),
        Some("jsonl") | Some("json") => Ok(DataFormat::Jsonl),
        _ => Err(SentimentError::Other(format!(
            "{}: cannot tell the format from the extension; set data.format to csv, tsv, jsonl or vader",
            path.display()
        ))),
    }
}

fn data_err(path: &Path, line: usize, message: impl Into<String>) -> SentimentError {
    SentimentError::Data {
        path: path.display().to_string(),
        line,
        message: message.into(),
    }
}

/// Reads labelled examples from a file.
pub fn read_examples(
    path: &Path,
    format: DataFormat,
    text_column: &str,
    label_column: &str,
) -> Result<Vec<Example>, SentimentError> {
    let bytes = std::fs::read(path).map_err(|e| SentimentError::io(path, e))?;
    let content = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        data_err(
            path,
            line,
            format!("not valid UTF-8 (first bad byte at offset {offset})"),
        )
    })?;
    match format {
        DataFormat::Vader => read_vader(path, &content),
        DataFormat::Jsonl => read_jsonl(path, &content, text_column, label_column),
        DataFormat::Csv => read_delimited(path, &content, b',', text_column, label_column),
        DataFormat::Tsv => read_delimited(path, &content, b'\t', text_column, label_column),
    }
}

fn read_vader(path: &Path, content: &str) -> Result<Vec<Example>, SentimentError> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.splitn(3, '\t');
        let (_, score, text) = match (fields.next(), fields.next(), fields.next()) {
            (Some(id), Some(score), Some(text)) => (id, score, text),
            _ => return Err(data_err(path, i + 1, "expected `id<TAB>rating<TAB>text`")),
        };
        let score: f64 = score
            .trim()
            .parse()
            .map_err(|_| data_err(path, i + 1, format!("rating `{score}` is not a number")))?;
        // Texts rated exactly 0 are neither positive nor negative: left out.
        if score != 0.0 {
            let label = if score > 0.0 { "positive" } else { "negative" };
            out.push(Example {
                text: text.to_string(),
                label: label.into(),
            });
        }
    }
    Ok(out)
}

fn read_jsonl(
    path: &Path,
    content: &str,
    text_key: &str,
    label_key: &str,
) -> Result<Vec<Example>, SentimentError> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| data_err(path, i + 1, format!("invalid JSON: {e}")))?;
        let field = |key: &str| -> Result<String, SentimentError> {
            match value.get(key) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Null) | None => {
                    Err(data_err(path, i + 1, format!("no `{key}` field")))
                }
                Some(other) => Ok(other.to_string()),
            }
        };
        let label = match value.get(label_key) {
            Some(serde_json::Value::Array(_) | serde_json::Value::Object(_)) => {
                return Err(data_err(
                    path,
                    i + 1,
                    format!(
                        "`{label_key}` is a list or object; a label is one string, number or boolean"
                    ),
                ));
            }
            _ => field(label_key)?,
        };
        out.push(Example {
            text: field(text_key)?,
            label: checked_label(path, i + 1, label_key, label)?,
        });
    }
    Ok(out)
}

/// A label with its surrounding whitespace trimmed; an empty one is an error naming the line
/// (it would otherwise become a class `""`).
fn checked_label(
    path: &Path,
    line: usize,
    key: &str,
    label: String,
) -> Result<String, SentimentError> {
    let trimmed = label.trim();
    if trimmed.is_empty() {
        return Err(data_err(path, line, format!("empty `{key}`")));
    }
    Ok(trimmed.to_string())
}

fn read_delimited(
    path: &Path,
    content: &str,
    delimiter: u8,
    text_col: &str,
    label_col: &str,
) -> Result<Vec<Example>, SentimentError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(content.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| data_err(path, 1, e.to_string()))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            let have: Vec<&str> = headers.iter().collect();
            data_err(
                path,
                1,
                format!(
                    "no column `{name}` in the header (columns: {})",
                    have.join(", ")
                ),
            )
        })
    };
    let (t, l) = (column(text_col)?, column(label_col)?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            data_err(path, line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let get = |i: usize, name: &str| {
            record
                .get(i)
                .map(str::to_string)
                .ok_or_else(|| data_err(path, line, format!("missing `{name}` field")))
        };
        out.push(Example {
            text: get(t, text_col)?,
            label: checked_label(path, line, label_col, get(l, label_col)?)?,
        });
    }
    Ok(out)
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

    fn write(name: &str, content: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("rnnzoo-sent-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn vader_files_label_by_sign_and_drop_zero() {
        let p = write(
            "v.txt",
            b"1\t2.5\tGreat fun.\r\n2\t-1.2\tDull.\r\n3\t0\tA film.\r\n",
        );
        let ex = read_examples(&p, DataFormat::Vader, "text", "label").unwrap();
        assert_eq!(
            ex,
            vec![
                Example {
                    text: "Great fun.".into(),
                    label: "positive".into()
                },
                Example {
                    text: "Dull.".into(),
                    label: "negative".into()
                },
            ]
        );
        let bad = write("vbad.txt", b"1\t2.5\tok\n2\tgood\tbad rating\n");
        let err = read_examples(&bad, DataFormat::Vader, "text", "label")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with(":2: rating `good` is not a number"), "{err}");
    }

    #[test]
    fn csv_tsv_and_jsonl_with_named_columns_and_any_classes() {
        let csv = write(
            "d.csv",
            b"id,review,stars\n1,\"Loved it, truly\",5\n2,Meh,3\n3,Awful,1\n",
        );
        let ex = read_examples(&csv, format_of(&csv, None).unwrap(), "review", "stars").unwrap();
        assert_eq!(ex[0].text, "Loved it, truly");
        assert_eq!(classes(&ex), ["1", "3", "5"]);
        let tsv = write("d.tsv", b"text\tlabel\nhi\tpos\n");
        assert_eq!(
            read_examples(&tsv, DataFormat::Tsv, "text", "label").unwrap()[0].label,
            "pos"
        );
        let jsonl = write(
            "d.jsonl",
            b"{\"text\": \"fine\", \"label\": 1}\n\n{\"text\": \"bad\", \"label\": 0}\n",
        );
        let ex = read_examples(&jsonl, DataFormat::Jsonl, "text", "label").unwrap();
        assert_eq!((ex[0].label.as_str(), ex[1].text.as_str()), ("1", "bad"));
    }

    #[test]
    fn malformed_rows_name_the_file_and_line() {
        let csv = write("bad.csv", b"text,label\nok,1\nmissing-label\n");
        let err = read_examples(&csv, DataFormat::Csv, "text", "label")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.csv:3:"), "{err}");
        let err = read_examples(&csv, DataFormat::Csv, "review", "label")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.csv:1: no column `review`") && err.contains("text, label"),
            "{err}"
        );
        let jsonl = write(
            "bad.jsonl",
            b"{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"}\n{oops\n",
        );
        let err = read_examples(&jsonl, DataFormat::Jsonl, "text", "label")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.jsonl:2: no `label` field"), "{err}");
    }

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
