//! Using a translation model: teacher-forced loss, decoding sets of sentences (greedy or beam,
//! batched by length), BLEU and chrF, and a trained run loaded for `translate` and `eval`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use rnnzoo_config::{DecodeConfig, ExperimentConfig};
use rnnzoo_metrics::{Bleu, corpus_bleu, corpus_chrf};
use rnnzoo_train::checkpoint::Checkpoint;
use rnnzoo_train::rundir::RunDir;
use serde::Serialize;

use crate::TranslateError;
use crate::data::{Encoded, Prepared, prepare};
use crate::decode::{Hypothesis, StepDecoder, beam_search_with, greedy_with};
use crate::model::{Batch, Seq2Seq};
use crate::tokenizer::{Tokenizer, UNK};

/// Sentences decoded together (times the beam width in rows).
const DECODE_BATCH: usize = 64;

/// Corpus scores of a decoded set.
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    /// sacreBLEU-equal corpus BLEU.
    pub bleu: f64,
    /// sacreBLEU-equal chrF.
    pub chrf: f64,
    /// BLEU's precisions, brevity penalty and lengths.
    pub bleu_detail: Bleu,
    /// Sentences decoded.
    pub sentences: usize,
    /// Beam width (1 is greedy).
    pub beam: usize,
    /// Seconds the decoding took.
    pub decode_s: f64,
    /// Target tokens generated per second.
    pub tokens_per_s: f64,
}

/// Hypotheses of a set with their scores.
pub struct Evaluation {
    /// The scores.
    pub scores: Scores,
    /// Detokenised hypotheses, in the set's order.
    pub hypotheses: Vec<String>,
}

/// Mean cross-entropy per target token (with `</s>`) under teacher forcing, no smoothing.
pub fn teacher_forced_loss(model: &Seq2Seq, set: &[Encoded], batch: usize) -> f64 {
    let device = model.decoder.output.weight.device();
    let (mut total, mut count) = (0.0f64, 0usize);
    for chunk in set.chunks(batch.max(1)) {
        let pairs: Vec<(&[usize], &[usize])> = chunk
            .iter()
            .map(|e| (e.source.as_slice(), e.target.as_slice()))
            .collect();
        let b = Batch::new(&pairs, &device);
        let encoded = model.encode(b.source.clone(), &b.source_lengths);
        let attended = model.decode_teacher_forced(&encoded, b.target_in.clone());
        let logits = model.logits_at(attended, &b.rows);
        let loss = rnnzoo_models::cross_entropy(logits, b.targets).into_scalar::<f32>() as f64;
        total += loss * b.rows.len() as f64;
        count += b.rows.len();
    }
    total / count.max(1) as f64
}

/// The longest translation decoding may produce for a source of `length` ids.
pub fn max_target_length(decode: &DecodeConfig, length: usize) -> usize {
    (decode.max_length_ratio * length as f64).ceil() as usize + 10
}

/// Decodes source id sequences with beam width `beam` (greedy at 1), batched by length;
/// hypotheses come back in the input order.
pub fn decode_all(
    model: &Seq2Seq,
    sources: &[&[usize]],
    decode: &DecodeConfig,
    beam: usize,
) -> Vec<Hypothesis> {
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources[i].len());
    let mut out: Vec<Option<Hypothesis>> = vec![None; sources.len()];
    let mut decoder = StepDecoder::with_capacity(&model.decoder, DECODE_BATCH * beam.max(1));
    for chunk in order.chunks(DECODE_BATCH) {
        let batch: Vec<&[usize]> = chunk.iter().map(|&i| sources[i]).collect();
        let lengths: Vec<usize> = batch
            .iter()
            .map(|s| max_target_length(decode, s.len()))
            .collect();
        let hyps = if beam <= 1 {
            greedy_with(&mut decoder, model, &batch, &lengths)
        } else {
            let penalty = decode.length_penalty;
            beam_search_with(&mut decoder, model, &batch, &lengths, beam, penalty)
        };
        for (&i, h) in chunk.iter().zip(hyps) {
            out[i] = Some(h);
        }
    }
    out.into_iter()
        .map(|h| h.expect("every sentence decoded"))
        .collect()
}

/// The text of a hypothesis, with each `<unk>` replaced by its most-attended source piece
/// when `replace_unk` (and the model attends).
pub fn hypothesis_text(
    target: &Tokenizer,
    hyp: &Hypothesis,
    source_pieces: &[String],
    replace_unk: bool,
) -> String {
    let replacements: Option<Vec<String>> = (replace_unk && !hyp.alignment.is_empty()).then(|| {
        hyp.tokens
            .iter()
            .zip(&hyp.alignment)
            .map(|(&id, &s)| {
                if id == UNK {
                    source_pieces.get(s).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .collect()
    });
    target.decode(&hyp.tokens, replacements.as_deref())
}

/// Decodes a set and scores it against its references.
pub fn evaluate(
    model: &Seq2Seq,
    target: &Tokenizer,
    set: &[Encoded],
    decode: &DecodeConfig,
    beam: usize,
) -> Evaluation {
    let start = Instant::now();
    let sources: Vec<&[usize]> = set.iter().map(|e| e.source.as_slice()).collect();
    let hyps = decode_all(model, &sources, decode, beam);
    let decode_s = start.elapsed().as_secs_f64();
    let generated: usize = hyps.iter().map(|h| h.tokens.len() + 1).sum();
    let hypotheses: Vec<String> = hyps
        .iter()
        .zip(set)
        .map(|(h, e)| hypothesis_text(target, h, &e.source_pieces, decode.replace_unk))
        .collect();
    let references: Vec<&str> = set.iter().map(|e| e.reference.as_str()).collect();
    let bleu = corpus_bleu(&hypotheses, &references);
    Evaluation {
        scores: Scores {
            bleu: bleu.score,
            chrf: corpus_chrf(&hypotheses, &references),
            bleu_detail: bleu,
            sentences: set.len(),
            beam,
            decode_s,
            tokens_per_s: generated as f64 / decode_s.max(1e-9),
        },
        hypotheses,
    }
}

/// Translates the test split with `decode.beam`, writes `test.hyp.txt`, `test.ref.txt` and
/// `test.src.txt` (one sentence a line, same order) to the run, and returns the scores.
pub fn evaluate_test(
    model: &Seq2Seq,
    data: &Prepared,
    config: &ExperimentConfig,
    run: &RunDir,
) -> Result<Scores, TranslateError> {
    let test = &data.splits[2];
    let evaluation = evaluate(
        model,
        &data.target,
        test,
        &config.decode,
        config.decode.beam,
    );
    let lines = |v: Vec<&str>| v.iter().map(|l| format!("{l}\n")).collect::<String>();
    let hyp = run.path.join("test.hyp.txt");
    let reference = run.path.join("test.ref.txt");
    let write = |path: &Path, text: String| {
        rnnzoo_models::weights::write_atomic(path, text.as_bytes())
            .map_err(|e| TranslateError::io(path, e))
    };
    write(
        &hyp,
        lines(evaluation.hypotheses.iter().map(String::as_str).collect()),
    )?;
    write(
        &reference,
        lines(test.iter().map(|e| e.reference.as_str()).collect()),
    )?;
    let source = run.path.join("test.src.txt");
    write(
        &source,
        lines(test.iter().map(|e| e.source_text.as_str()).collect()),
    )?;
    Ok(evaluation.scores)
}

/// A sentence translated by a trained run.
#[derive(Clone, Debug, Serialize)]
pub struct Translation {
    /// The input.
    pub source: String,
    /// The translation.
    pub translation: String,
    /// `log p` of the translation (with `</s>`).
    pub log_prob: f64,
    /// The source pieces the model read.
    pub source_tokens: Vec<String>,
    /// The target pieces it produced.
    pub target_tokens: Vec<String>,
    /// Attention over the source pieces for each target piece and `</s>` (empty without
    /// attention).
    pub attention: Vec<Vec<f32>>,
}

/// A trained translation run, loaded for inference.
pub struct TrainedRun {
    /// Its resolved config.
    pub config: ExperimentConfig,
    /// The model of its best checkpoint.
    pub model: Seq2Seq,
    /// Source tokenizer.
    pub source: Tokenizer,
    /// Target tokenizer.
    pub target: Tokenizer,
    /// The checkpoint the weights come from.
    pub checkpoint: PathBuf,
    /// The run.
    pub run: RunDir,
}

/// Loads a run's config, tokenizers and best (else latest) checkpoint.
pub fn load_run(run: &Path, device: &Device) -> Result<TrainedRun, TranslateError> {
    let dir = RunDir::open(run).map_err(|e| TranslateError::io(run, e))?;
    let config = rnnzoo_config::load(&dir.config(), &[])?;
    let source =
        Tokenizer::load(&dir.path.join("source-tokenizer.json")).map_err(TranslateError::Other)?;
    let target =
        Tokenizer::load(&dir.path.join("target-tokenizer.json")).map_err(TranslateError::Other)?;
    let checkpoint = Checkpoint::to_use(&dir.checkpoints()).map_err(TranslateError::Other)?;
    let fresh = Seq2Seq::new(&config.model, source.len(), target.len(), device);
    let model = Checkpoint::load_model(&checkpoint, fresh)?;
    Ok(TrainedRun {
        config,
        model,
        source,
        target,
        checkpoint,
        run: dir,
    })
}

impl TrainedRun {
    /// Translates sentences with beam width `beam` (the config's `decode.beam` when `None`).
    pub fn translate(&self, texts: &[String], beam: Option<usize>) -> Vec<Translation> {
        let decode = &self.config.decode;
        let encoded: Vec<(Vec<usize>, Vec<String>)> =
            texts.iter().map(|t| self.source.encode(t)).collect();
        let sources: Vec<&[usize]> = encoded.iter().map(|(ids, _)| ids.as_slice()).collect();
        let hyps = decode_all(&self.model, &sources, decode, beam.unwrap_or(decode.beam));
        texts
            .iter()
            .zip(hyps)
            .zip(encoded)
            .map(|((text, hyp), (_, pieces))| Translation {
                source: text.clone(),
                translation: hypothesis_text(&self.target, &hyp, &pieces, decode.replace_unk),
                log_prob: hyp.log_prob,
                target_tokens: hyp.tokens.iter().map(|&i| self.target.token(i)).collect(),
                source_tokens: pieces,
                attention: hyp.attention,
            })
            .collect()
    }

    /// Decodes the run's test split (or the pairs of `data`, a TSV) with `decode.beam`, writes
    /// `test.hyp.txt` and `test.ref.txt` for the test split, and returns the scores.
    pub fn evaluate(&self, data: Option<&Path>) -> Result<Scores, TranslateError> {
        match data {
            None => {
                let prepared = prepare(&self.config, &self.run, true)?;
                evaluate_test(&self.model, &prepared, &self.config, &self.run)
            }
            Some(path) => {
                let pairs = rnnzoo_data::parallel::read_tsv(path)?;
                let set: Vec<Encoded> = pairs
                    .iter()
                    .map(|p| {
                        let (source, source_pieces) = self.source.encode(&p.source);
                        Encoded {
                            source,
                            target: self.target.encode(&p.target).0,
                            source_pieces,
                            source_text: p.source.clone(),
                            reference: if self.target.lowercase() {
                                p.target.to_lowercase()
                            } else {
                                p.target.clone()
                            },
                        }
                    })
                    .collect();
                let d = &self.config.decode;
                Ok(evaluate(&self.model, &self.target, &set, d, d.beam).scores)
            }
        }
    }
}
