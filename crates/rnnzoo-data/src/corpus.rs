//! Reading text corpora: one UTF-8 file, a folder of `.txt` files, or a named corpus that
//! `scripts/fetch-data.sh` fetches through a package manager into the ignored `data/` folder.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One document of a corpus (a play, a file).
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The document's name: its file name without extension.
    pub name: String,
    /// Its text, with Project Gutenberg headers and licence removed and `\r\n` made `\n`.
    pub text: String,
}

/// Errors reading or fetching a corpus; each names the file or the command involved.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not valid UTF-8.
    #[error("{path}: not valid UTF-8 text (first bad byte at offset {offset})")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// A folder holds no `.txt` file.
    #[error("{path}: no .txt files in this folder")]
    Empty {
        /// The folder.
        path: PathBuf,
    },
    /// A file, or every file of a folder, holds no text but whitespace.
    #[error("{path}: holds no text (empty, or whitespace only)")]
    NoText {
        /// The file or folder.
        path: PathBuf,
    },
    /// A corpus name that no fetch script knows.
    #[error("unknown corpus `{name}`; known corpora: {known}")]
    UnknownCorpus {
        /// The name given.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// The fetch failed or could not run.
    #[error(
        "corpus `{name}` is not in {dir} and fetching it failed: {reason}\nfetch it by hand with: {command}"
    )]
    Fetch {
        /// The corpus.
        name: String,
        /// Where it was expected.
        dir: PathBuf,
        /// Why the fetch failed.
        reason: String,
        /// The command to run.
        command: String,
    },
}

/// Named corpora that `scripts/fetch-data.sh` can fetch.
pub const KNOWN_CORPORA: &[&str] = &[
    "shakespeare",
    "vader",
    "fortunes",
    "bible",
    "speech-en",
    "fillets-nl",
    "openmoji",
];

/// Other data `scripts/fetch-data.sh` can fetch: pretrained word vectors.
pub const KNOWN_VECTORS: &[&str] = &["minilm"];

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CorpusError + '_ {
    move |source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes a Project Gutenberg header (everything up to the `*** START OF ...` line) and footer
/// (from the `*** END OF ...` line), where present, and normalises line endings.
pub fn strip_gutenberg(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut body = text.as_str();
    if let Some(start) = body.find("*** START OF") {
        body = match body[start..].find('\n') {
            Some(eol) => &body[start + eol + 1..],
            None => "",
        };
    }
    if let Some(end) = body.find("*** END OF") {
        body = &body[..end];
    }
    body.trim_matches('\n').to_string() + "\n"
}

/// Reads one UTF-8 text file as a document.
pub fn read_document(path: &Path) -> Result<Document, CorpusError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let text = String::from_utf8(bytes).map_err(|e| CorpusError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Document {
        name,
        text: strip_gutenberg(&text),
    })
}

/// Reads a corpus from a file (one document) or a folder (every `.txt` file in it, sorted by
/// name, each a document).
pub fn read_path(path: &Path) -> Result<Vec<Document>, CorpusError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let with_text = |docs: Vec<Document>| {
        if docs.iter().all(|d| d.text.trim().is_empty()) {
            Err(CorpusError::NoText {
                path: path.to_path_buf(),
            })
        } else {
            Ok(docs)
        }
    };
    if meta.is_file() {
        return with_text(vec![read_document(path)?]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io(path))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CorpusError::Empty {
            path: path.to_path_buf(),
        });
    }
    with_text(
        files
            .iter()
            .map(|f| read_document(f))
            .collect::<Result<_, _>>()?,
    )
}

/// The folder of the data files: `$RNNZOO_DATA`, else `data/` in the current directory.
pub fn data_dir() -> PathBuf {
    std::env::var_os("RNNZOO_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// Finds `scripts/fetch-data.sh` from the current directory or its parents.
fn fetch_script() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|dir| dir.join("scripts/fetch-data.sh"))
        .find(|p| p.is_file())
}

/// The folder of a named corpus, fetching it first (with `scripts/fetch-data.sh`) when it is
/// missing. Without the script or a working `pip`, the error gives the command to run.
pub fn ensure_corpus(name: &str) -> Result<PathBuf, CorpusError> {
    if !KNOWN_CORPORA.contains(&name) {
        return Err(CorpusError::UnknownCorpus {
            name: name.to_string(),
            known: KNOWN_CORPORA.join(", "),
        });
    }
    fetch(name)
}

/// Makes sure a data file a config names exists: a missing file under a folder that
/// `scripts/fetch-data.sh` fills (`data/minilm/word-vectors.txt`) is fetched first; any other
/// missing file is an error naming it.
pub fn ensure_data_file(path: &Path) -> Result<(), CorpusError> {
    if path.is_file() {
        return Ok(());
    }
    let fetchable = path
        .strip_prefix(data_dir())
        .ok()
        .and_then(|rest| rest.components().next())
        .and_then(|c| c.as_os_str().to_str())
        .filter(|name| KNOWN_CORPORA.contains(name) || KNOWN_VECTORS.contains(name));
    if let Some(name) = fetchable {
        fetch(name)?;
    }
    std::fs::metadata(path).map(|_| ()).map_err(io(path))
}

/// Runs `scripts/fetch-data.sh name` unless `data/name` is complete.
fn fetch(name: &str) -> Result<PathBuf, CorpusError> {
    let dir = data_dir().join(name);
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    let command = format!("scripts/fetch-data.sh {name}");
    let fail = |reason: String| CorpusError::Fetch {
        name: name.to_string(),
        dir: dir.clone(),
        reason,
        command: command.clone(),
    };
    let script = fetch_script()
        .ok_or_else(|| fail("scripts/fetch-data.sh not found from the current directory".into()))?;
    eprintln!("`{name}` is missing: running {}", script.display());
    let status = Command::new("bash")
        .arg(&script)
        .arg(name)
        .env("RNNZOO_DATA", data_dir())
        .status()
        .map_err(|e| fail(format!("could not run bash: {e}")))?;
    if !status.success() || !dir.join(".complete").is_file() {
        return Err(fail(format!("the script exited with {status}")));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gutenberg_header_and_footer_are_removed() {
        let text = "The Project Gutenberg EBook\r\nlicence\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\nTo be,\r\nor not.\r\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\r\nmore licence\r\n";
        assert_eq!(strip_gutenberg(text), "To be,\nor not.\n");
        assert_eq!(strip_gutenberg("plain\ntext"), "plain\ntext\n");
    }

    #[test]
    fn folders_read_sorted_txt_files_and_name_bad_files() {
        let dir = std::env::temp_dir().join(format!("rnnzoo-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.txt"), "second é\n").unwrap();
        std::fs::write(dir.join("a.txt"), "first\n").unwrap();
        std::fs::write(dir.join("notes.md"), "ignored").unwrap();
        let docs = read_path(&dir).unwrap();
        assert_eq!(
            docs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(docs[1].text, "second é\n");
        std::fs::write(dir.join("c.txt"), [b'o', b'k', 0xff, b'\n']).unwrap();
        let err = read_path(&dir).unwrap_err().to_string();
        assert!(err.contains("c.txt") && err.contains("offset 2"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        let err = read_path(&dir).unwrap_err().to_string();
        assert!(err.contains("rnnzoo-corpus"), "{err}");
    }

    #[test]
    fn unknown_corpus_lists_known_ones() {
        let err = ensure_corpus("shakespear").unwrap_err().to_string();
        assert!(err.contains("shakespeare"), "{err}");
    }
}
