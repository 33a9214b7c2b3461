//! Labelled texts for classification: VADER ground truth, CSV and TSV with a header row, and
//! JSON lines, each row one text and its class. Every malformed row is an error naming the file
//! and line; labels are trimmed and must be non-empty scalars.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Format of a labelled data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// Comma-separated with a header row (RFC 4180 quoting).
    Csv,
    /// Tab-separated with a header row.
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// VADER ground truth: `id<TAB>mean rating<TAB>text`, no header; labelled by the sign.
    Vader,
}

/// One labelled text.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The text.
    pub text: String,
    /// Its class name.
    pub label: String,
}

/// Why labelled examples could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LabelledError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A row is malformed: the file, the line and what is wrong.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A file's format from its extension: `.csv`, `.tsv`, `.jsonl` or `.json` (`None` otherwise).
pub fn format_from_extension(path: &Path) -> Option<DataFormat> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => Some(DataFormat::Csv),
        Some("tsv") => Some(DataFormat::Tsv),
        Some("jsonl") | Some("json") => Some(DataFormat::Jsonl),
        _ => None,
    }
}

fn data_err(path: &Path, line: usize, message: impl Into<String>) -> LabelledError {
    LabelledError::Data {
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
) -> Result<Vec<Example>, LabelledError> {
    let bytes = std::fs::read(path).map_err(|e| LabelledError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_examples(path, bytes, format, text_column, label_column)
}

/// Parses labelled examples from a file's bytes; `path` only names the file in errors.
pub fn parse_examples(
    path: &Path,
    bytes: Vec<u8>,
    format: DataFormat,
    text_column: &str,
    label_column: &str,
) -> Result<Vec<Example>, LabelledError> {
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

fn read_vader(path: &Path, content: &str) -> Result<Vec<Example>, LabelledError> {
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
) -> Result<Vec<Example>, LabelledError> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| data_err(path, i + 1, format!("invalid JSON: {e}")))?;
        let field = |key: &str| -> Result<String, LabelledError> {
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
) -> Result<String, LabelledError> {
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
) -> Result<Vec<Example>, LabelledError> {
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn write(name: &str, content: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("rnnzoo-labelled-{}-{name}", std::process::id()));
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
        let ex = read_examples(
            &csv,
            format_from_extension(&csv).unwrap(),
            "review",
            "stars",
        )
        .unwrap();
        assert_eq!(ex[0].text, "Loved it, truly");
        assert_eq!(
            ex.iter().map(|e| e.label.as_str()).collect::<Vec<_>>(),
            ["5", "3", "1"]
        );
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
}
