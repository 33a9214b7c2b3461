//! The parallel data of a run: sentence pairs from the config's source, split by whole groups
//! (Bible chapters), tokenizers learnt on the training split, and the encoded pairs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::parallel::{Pair, bible_pairs, read_aligned, read_tsv, split_by_group};
use rnnzoo_train::rundir::RunDir;
use serde::{Deserialize, Serialize};

use crate::TranslateError;
use crate::tokenizer::Tokenizer;

/// One pair as the model reads it: ids of both sides, the source pieces (for `<unk>`
/// replacement) and the untouched target text (the BLEU reference).
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Source ids (no `</s>`).
    pub source: Vec<usize>,
    /// Target ids (no `<s>` or `</s>`).
    pub target: Vec<usize>,
    /// The text piece of each source id.
    pub source_pieces: Vec<String>,
    /// The source sentence.
    pub source_text: String,
    /// The reference translation.
    pub reference: String,
}

/// The split a run trained on, by group names, as `split.json` holds it.
#[derive(Serialize, Deserialize)]
pub struct SplitFile {
    /// Where the pairs came from.
    pub source: String,
    /// Groups of the training pairs.
    pub train: Vec<String>,
    /// Groups of the validation pairs.
    pub valid: Vec<String>,
    /// Groups of the test pairs.
    pub test: Vec<String>,
}

/// The data of a run.
pub struct Prepared {
    /// Source-side tokenizer.
    pub source: Tokenizer,
    /// Target-side tokenizer.
    pub target: Tokenizer,
    /// Encoded pairs: train, valid, test.
    pub splits: [Vec<Encoded>; 3],
    /// Pairs left out for `data.max_length`, per split.
    pub too_long: [usize; 3],
}

/// The source and target module folders of the `bible` corpus for a direction.
fn bible_modules(direction: &str) -> Result<(PathBuf, PathBuf), TranslateError> {
    let dir = rnnzoo_data::corpus::ensure_corpus("bible")?;
    let (es, en) = (dir.join("rv1909"), dir.join("kjv"));
    Ok(match direction {
        "en-es" => (en, es),
        _ => (es, en),
    })
}

/// Reads the pairs a config names, and a description of where they came from.
pub fn read_pairs(config: &ExperimentConfig) -> Result<(Vec<Pair>, String), TranslateError> {
    let d = &config.data;
    if d.corpus.is_some() {
        let direction = d.direction.as_deref().unwrap_or("es-en");
        let (source, target) = bible_modules(direction)?;
        let pairs = bible_pairs(&source, &target)?;
        return Ok((pairs, format!("bible {direction}")));
    }
    let path = d.path.as_ref().ok_or_else(|| {
        TranslateError::Other("data: give `corpus: bible` or `path` (a TSV of pairs)".into())
    })?;
    Ok(match &d.target_path {
        Some(target) => (
            read_aligned(path, target)?,
            format!("{} + {}", path.display(), target.display()),
        ),
        None => (read_tsv(path)?, path.display().to_string()),
    })
}

/// Reads, splits (a new split, or with `reuse` the one saved in `run`), learns or loads the
/// tokenizers and encodes the pairs of a config. New tokenizers and splits are written to the
/// run.
pub fn prepare(
    config: &ExperimentConfig,
    run: &RunDir,
    reuse: bool,
) -> Result<Prepared, TranslateError> {
    let d = &config.data;
    let (pairs, origin) = read_pairs(config)?;
    if pairs.len() < 10 {
        return Err(TranslateError::Other(format!(
            "{origin}: {} sentence pairs are too few to train on",
            pairs.len()
        )));
    }
    let split_path = run.path.join("split.json");
    let [train, valid, test] = if reuse {
        let file: SplitFile = read_json(&split_path)?;
        let side = |groups: &[String]| -> HashSet<String> { groups.iter().cloned().collect() };
        let (v, t) = (side(&file.valid), side(&file.test));
        let mut out: [Vec<Pair>; 3] = Default::default();
        for p in pairs {
            let i = if v.contains(&p.group) {
                1
            } else if t.contains(&p.group) {
                2
            } else {
                0
            };
            out[i].push(p);
        }
        out
    } else {
        let split = split_by_group(
            pairs,
            d.split.valid,
            d.split.test,
            d.split.seed_or(config.seed),
        );
        let groups = |ps: &[Pair]| -> Vec<String> {
            let mut seen = HashSet::new();
            ps.iter()
                .filter(|p| seen.insert(p.group.clone()))
                .map(|p| p.group.clone())
                .collect()
        };
        let file = SplitFile {
            source: origin.clone(),
            train: groups(&split.train),
            valid: groups(&split.valid),
            test: groups(&split.test),
        };
        write_json(&split_path, &file)?;
        [split.train, split.valid, split.test]
    };
    let (source_path, target_path) = (
        run.path.join("source-tokenizer.json"),
        run.path.join("target-tokenizer.json"),
    );
    let (source, target) = if reuse {
        (
            Tokenizer::load(&source_path).map_err(TranslateError::Other)?,
            Tokenizer::load(&target_path).map_err(TranslateError::Other)?,
        )
    } else {
        let learn = |side: Vec<&str>| {
            Tokenizer::train(d.tokenizer, &side, d.lowercase, d.min_freq, d.max_vocab)
                .map_err(TranslateError::Other)
        };
        let source = learn(train.iter().map(|p| p.source.as_str()).collect())?;
        let target = learn(train.iter().map(|p| p.target.as_str()).collect())?;
        source.save(&source_path).map_err(TranslateError::Other)?;
        target.save(&target_path).map_err(TranslateError::Other)?;
        (source, target)
    };
    let mut too_long = [0; 3];
    let mut encode_split = |pairs: &[Pair], i: usize| -> Vec<Encoded> {
        pairs
            .iter()
            .filter_map(|p| {
                let (s, pieces) = source.encode(&p.source);
                let (t, _) = target.encode(&p.target);
                if d.max_length.is_some_and(|m| s.len() > m || t.len() > m) {
                    too_long[i] += 1;
                    return None;
                }
                let reference = if target.lowercase() {
                    p.target.to_lowercase()
                } else {
                    p.target.clone()
                };
                Some(Encoded {
                    source: s,
                    target: t,
                    source_pieces: pieces,
                    source_text: p.source.clone(),
                    reference,
                })
            })
            .collect()
    };
    let splits = [
        encode_split(&train, 0),
        encode_split(&valid, 1),
        encode_split(&test, 2),
    ];
    if splits[0].is_empty() || splits[1].is_empty() {
        return Err(TranslateError::Other(format!(
            "{origin}: no training or validation pairs are left (data.max_length {:?}, data.split {:?})",
            d.max_length, d.split
        )));
    }
    Ok(Prepared {
        source,
        target,
        splits,
        too_long,
    })
}

/// Reads a JSON file of the run, naming it in errors.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TranslateError> {
    let text = std::fs::read_to_string(path).map_err(|e| TranslateError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TranslateError::io(path, e))
}

/// Writes a JSON file of the run atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), TranslateError> {
    let text = serde_json::to_string(value).expect("serialisable");
    rnnzoo_models::weights::write_atomic(path, text.as_bytes())
        .map_err(|e| TranslateError::io(path, e))
}

/// Token counts, for messages.
pub fn token_count(set: &[Encoded]) -> (usize, usize) {
    set.iter()
        .fold((0, 0), |(s, t), e| (s + e.source.len(), t + e.target.len()))
}
