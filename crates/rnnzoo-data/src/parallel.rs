//! Parallel text for translation: sentence pairs from two verse-aligned Bibles, from a TSV of
//! `source<TAB>target` lines (the Tatoeba/Anki layout), or from two aligned text files; and a
//! seeded split that keeps whole groups (Bible chapters) on one side.

use std::path::{Path, PathBuf};

use crate::rng::SplitMix64;
use crate::sword::{SwordError, read_ztext};

/// One source sentence and its translation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The sentence to translate.
    pub source: String,
    /// Its translation.
    pub target: String,
    /// What the split keeps together: `Gen.1` for a Bible chapter; the pair's own index for
    /// files without groups.
    pub group: String,
}

/// A parallel file that cannot be read, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum ParallelError {
    /// A Bible module could not be read.
    #[error(transparent)]
    Sword(#[from] SwordError),
    /// A file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A malformed line.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Two modules or files that do not line up.
    #[error("{0}")]
    Misaligned(String),
}

fn read_text(path: &Path) -> Result<String, ParallelError> {
    let bytes = std::fs::read(path).map_err(|e| ParallelError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| ParallelError::Io {
        path: path.to_path_buf(),
        message: format!(
            "not UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// The verse pairs of two zText modules of one versification (`source` and `target` are
/// module folders), grouped by chapter. Verses either module lacks are left out.
///
/// # Errors
/// When a module does not read, or the two do not have the same verses in the same order.
pub fn bible_pairs(source: &Path, target: &Path) -> Result<Vec<Pair>, ParallelError> {
    let (from, to) = (read_ztext(source)?, read_ztext(target)?);
    if from.len() != to.len() {
        return Err(ParallelError::Misaligned(format!(
            "{} has {} verses and {} has {}: not one versification",
            source.display(),
            from.len(),
            target.display(),
            to.len()
        )));
    }
    let mut pairs = Vec::new();
    for (a, b) in from.into_iter().zip(to) {
        if (&a.book, a.chapter, a.verse) != (&b.book, b.chapter, b.verse) {
            return Err(ParallelError::Misaligned(format!(
                "{} {} {}:{} stands where {} has {} {}:{}",
                source.display(),
                a.book,
                a.chapter,
                a.verse,
                target.display(),
                b.book,
                b.chapter,
                b.verse
            )));
        }
        if !a.text.is_empty() && !b.text.is_empty() {
            pairs.push(Pair {
                group: format!("{}.{}", a.book, a.chapter),
                source: a.text,
                target: b.text,
            });
        }
    }
    Ok(pairs)
}

/// The pairs of a TSV file of `source<TAB>target` lines (further columns, as Anki exports
/// have, are ignored; blank lines are skipped).
///
/// # Errors
/// When the file does not read or is not UTF-8, or a line has no tab or an empty side (naming
/// the line).
pub fn read_tsv(path: &Path) -> Result<Vec<Pair>, ParallelError> {
    let text = read_text(path)?;
    let mut pairs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: &str| ParallelError::Line {
            path: path.to_path_buf(),
            line: n + 1,
            message: message.into(),
        };
        let mut cells = line.split('\t');
        let source = cells.next().unwrap_or("").trim();
        let target = cells
            .next()
            .ok_or_else(|| bad("no tab: expected `source<TAB>target`"))?
            .trim();
        if source.is_empty() || target.is_empty() {
            return Err(bad(
                "an empty side: both the source and the target need text",
            ));
        }
        pairs.push(Pair {
            source: source.into(),
            target: target.into(),
            group: n.to_string(),
        });
    }
    Ok(pairs)
}

/// The pairs of two aligned files, line `k` of one translating line `k` of the other.
///
/// # Errors
/// When a file does not read, the two have different numbers of lines, or exactly one side of
/// a line is empty (naming the file and line).
pub fn read_aligned(source: &Path, target: &Path) -> Result<Vec<Pair>, ParallelError> {
    let (a, b) = (read_text(source)?, read_text(target)?);
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    if a.len() != b.len() {
        return Err(ParallelError::Misaligned(format!(
            "{} has {} lines and {} has {}: they must line up one to one",
            source.display(),
            a.len(),
            target.display(),
            b.len()
        )));
    }
    let mut pairs = Vec::new();
    for (n, (s, t)) in a.iter().zip(&b).enumerate() {
        let (s, t) = (s.trim(), t.trim());
        match (s.is_empty(), t.is_empty()) {
            (true, true) => continue,
            (false, false) => pairs.push(Pair {
                source: s.into(),
                target: t.into(),
                group: n.to_string(),
            }),
            (empty_source, _) => {
                return Err(ParallelError::Line {
                    path: if empty_source { source } else { target }.to_path_buf(),
                    line: n + 1,
                    message: "empty, while the other file's line has text".into(),
                });
            }
        }
    }
    Ok(pairs)
}

/// Train, validation and test pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairSplit {
    /// Training pairs.
    pub train: Vec<Pair>,
    /// Validation pairs.
    pub valid: Vec<Pair>,
    /// Test pairs.
    pub test: Vec<Pair>,
}

/// Splits pairs by whole groups: the groups (in order of first appearance) are shuffled with
/// `seed`, then taken for the test set until it holds `test` of the pairs, then for the
/// validation set likewise; the rest trains. Pairs keep their order within each set.
pub fn split_by_group(pairs: Vec<Pair>, valid: f64, test: f64, seed: u64) -> PairSplit {
    let mut groups: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &pairs {
        if seen.insert(p.group.as_str()) {
            groups.push(p.group.as_str());
        }
    }
    let mut size = std::collections::HashMap::new();
    for p in &pairs {
        *size.entry(p.group.as_str()).or_insert(0usize) += 1;
    }
    let mut order: Vec<&str> = groups.clone();
    SplitMix64::new(seed).shuffle(&mut order);
    let total = pairs.len() as f64;
    let mut side = std::collections::HashMap::new();
    let mut take = |fraction: f64, which: u8, order: &mut Vec<&str>| {
        let mut taken = 0usize;
        while fraction > 0.0 && order.len() > 1 && (taken as f64) < fraction * total {
            let g = order.pop().expect("non-empty");
            taken += size[g];
            side.insert(g.to_string(), which);
        }
    };
    take(test, 2, &mut order);
    take(valid, 1, &mut order);
    let mut split = PairSplit::default();
    for p in pairs {
        match side.get(&p.group) {
            Some(2) => split.test.push(p),
            Some(1) => split.valid.push(p),
            _ => split.train.push(p),
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rnnzoo-parallel-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn tsv_and_aligned_files_read_and_bad_lines_are_named() {
        let dir = temp("files");
        let tsv = dir.join("pairs.tsv");
        std::fs::write(&tsv, "Go.\tVe.\tCC-BY 2.0 (France)\n\nHi.\tHola.\n").unwrap();
        let pairs = read_tsv(&tsv).unwrap();
        assert_eq!(
            pairs
                .iter()
                .map(|p| (p.source.as_str(), p.target.as_str()))
                .collect::<Vec<_>>(),
            [("Go.", "Ve."), ("Hi.", "Hola.")]
        );
        std::fs::write(&tsv, "Go.\tVe.\nno tab here\n").unwrap();
        let err = read_tsv(&tsv).unwrap_err().to_string();
        assert!(
            err.contains("pairs.tsv:2:") && err.contains("no tab"),
            "{err}"
        );
        std::fs::write(&tsv, "Go.\t \n").unwrap();
        assert!(
            read_tsv(&tsv)
                .unwrap_err()
                .to_string()
                .contains(":1: an empty side")
        );
        std::fs::write(&tsv, b"Go.\tV\xffe.\n").unwrap();
        let err = read_tsv(&tsv).unwrap_err().to_string();
        assert!(
            err.contains("not UTF-8") && err.contains("offset 5"),
            "{err}"
        );

        let (src, tgt) = (dir.join("src.txt"), dir.join("tgt.txt"));
        std::fs::write(&src, "one\n\ntwo\n").unwrap();
        std::fs::write(&tgt, "uno\n\ndos\n").unwrap();
        let pairs = read_aligned(&src, &tgt).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            (pairs[1].source.as_str(), pairs[1].target.as_str()),
            ("two", "dos")
        );
        std::fs::write(&tgt, "uno\n").unwrap();
        assert!(
            read_aligned(&src, &tgt)
                .unwrap_err()
                .to_string()
                .contains("line up")
        );
        std::fs::write(&tgt, "uno\n\n\n").unwrap();
        let err = read_aligned(&src, &tgt).unwrap_err().to_string();
        assert!(err.contains("tgt.txt:3:"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_split_keeps_each_group_on_one_side_and_is_seeded() {
        let pairs: Vec<Pair> = (0..200)
            .map(|i| Pair {
                source: format!("s{i}"),
                target: format!("t{i}"),
                group: format!("Book.{}", i / 10),
            })
            .collect();
        let split = split_by_group(pairs.clone(), 0.1, 0.2, 7);
        assert_eq!(
            split.train.len() + split.valid.len() + split.test.len(),
            200
        );
        assert_eq!((split.valid.len(), split.test.len()), (20, 40));
        let groups = |set: &[Pair]| -> std::collections::HashSet<String> {
            set.iter().map(|p| p.group.clone()).collect()
        };
        let (tr, va, te) = (
            groups(&split.train),
            groups(&split.valid),
            groups(&split.test),
        );
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
        assert_eq!(split, split_by_group(pairs.clone(), 0.1, 0.2, 7));
        assert_ne!(split.test, split_by_group(pairs, 0.1, 0.2, 8).test);
    }
}
