//! Using an acoustic model: per-frame log-probabilities in length-sorted batches, CTC loss of
//! a set, greedy / beam / beam-with-LM transcripts with CER and WER, and a trained run loaded
//! for `eval` and `transcribe`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_metrics::{ErrorRate, character_error_rate, word_error_rate};
use rnnzoo_train::checkpoint::Checkpoint;
use rnnzoo_train::rundir::RunDir;
use serde::Serialize;

use crate::SpeechError;
use crate::data::{Prepared, Utterance, file_features, prepare};
use crate::decode::{CharLm, Fusion, greedy, log_softmax, prefix_beam_search};
use crate::features::LogMel;
use crate::model::AcousticModel;
use crate::text::{Alphabet, BLANK};

/// Utterances run through the network together.
const BATCH: usize = 16;

/// Per-frame log-probabilities `[frames, classes]` of each utterance, in the input order.
pub fn log_probs(model: &AcousticModel, set: &[&[f32]]) -> Vec<Vec<f64>> {
    let device = model.output.weight.device();
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.sort_by_key(|&i| set[i].len());
    let mut out = vec![Vec::new(); set.len()];
    for chunk in order.chunks(BATCH) {
        let views: Vec<&[f32]> = chunk.iter().map(|&i| set[i]).collect();
        let batch = model.batch(&views, &device);
        let logits = model.forward(&batch);
        let [_, steps, classes] = logits.dims();
        let values: Vec<f32> = logits
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 logits");
        for (j, &i) in chunk.iter().enumerate() {
            let rows = &values[j * steps * classes..(j + 1) * steps * classes];
            out[i] = log_softmax(rows, batch.lengths[j], classes);
        }
    }
    out
}

/// Mean CTC loss (per target character, PyTorch's `mean`) of a set.
pub fn ctc_set_loss(model: &AcousticModel, set: &[&Utterance]) -> f64 {
    let device = model.output.weight.device();
    let (mut total, mut count) = (0.0, 0);
    for chunk in set.chunks(BATCH) {
        let views: Vec<&[f32]> = chunk.iter().map(|u| u.features.as_slice()).collect();
        let batch = model.batch(&views, &device);
        let logits = model.forward(&batch);
        let targets: Vec<Vec<usize>> = chunk.iter().map(|u| u.targets.clone()).collect();
        let loss = rnnzoo_models::ctc_loss(logits, &batch.lengths, &targets, BLANK)
            .into_scalar::<f32>() as f64;
        total += loss * chunk.len() as f64;
        count += chunk.len();
    }
    total / count.max(1) as f64
}

/// How transcripts are decoded: best path at beam 1, else prefix beam search, with the
/// language model when `fusion` is given.
fn transcribe_scores(
    alphabet: &Alphabet,
    scores: &[Vec<f64>],
    beam: usize,
    fusion: Option<&Fusion>,
) -> Vec<String> {
    use rayon::prelude::*;
    let classes = alphabet.classes();
    scores
        .par_iter()
        .map(|lp| {
            let ids = if beam <= 1 && fusion.is_none() {
                greedy(lp, classes)
            } else {
                prefix_beam_search(lp, classes, beam, fusion)
            };
            alphabet.decode(&ids)
        })
        .collect()
}

/// Corpus scores of one decoding of a set.
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    /// How it was decoded (`greedy`, `beam 16`, `beam 16 + 5-gram LM (α 0.5, β 1)`).
    pub decoder: String,
    /// Character error rate, as jiwer computes it.
    pub cer: f64,
    /// Word error rate, as jiwer computes it.
    pub wer: f64,
    /// CER's counts.
    pub cer_detail: ErrorRate,
    /// WER's counts.
    pub wer_detail: ErrorRate,
    /// Utterances decoded.
    pub utterances: usize,
    /// Seconds the network and the decoding took.
    pub decode_s: f64,
}

/// Transcripts of a set with their scores.
pub struct Evaluation {
    /// The scores.
    pub scores: Scores,
    /// The transcripts, in the set's order.
    pub hypotheses: Vec<String>,
}

/// Decodes a set and scores it against its transcripts.
pub fn evaluate(
    model: &AcousticModel,
    alphabet: &Alphabet,
    set: &[&Utterance],
    beam: usize,
    fusion: Option<&Fusion>,
) -> Evaluation {
    let start = Instant::now();
    let views: Vec<&[f32]> = set.iter().map(|u| u.features.as_slice()).collect();
    let scores = log_probs(model, &views);
    let hypotheses = transcribe_scores(alphabet, &scores, beam, fusion);
    let references: Vec<&str> = set.iter().map(|u| u.transcript.as_str()).collect();
    let hyps: Vec<&str> = hypotheses.iter().map(String::as_str).collect();
    let cer = character_error_rate(&references, &hyps);
    let wer = word_error_rate(&references, &hyps);
    let decoder = match (beam, fusion) {
        (b, None) if b <= 1 => "greedy".to_string(),
        (b, None) => format!("beam {b}"),
        (b, Some(f)) => format!(
            "beam {b} + {}-gram LM (α {}, β {})",
            f.lm.order(),
            f.weight,
            f.bonus
        ),
    };
    Evaluation {
        scores: Scores {
            decoder,
            cer: cer.rate,
            wer: wer.rate,
            cer_detail: cer,
            wer_detail: wer,
            utterances: set.len(),
            decode_s: start.elapsed().as_secs_f64(),
        },
        hypotheses,
    }
}

/// The character language model of `decode.lm_text`, if the config names one: a text file,
/// or `train` for the training split's transcripts (the run's `lm.txt`).
pub fn language_model(
    config: &ExperimentConfig,
    alphabet: &Alphabet,
    run: &RunDir,
) -> Result<Option<CharLm>, SpeechError> {
    let Some(path) = &config.decode.lm_text else {
        return Ok(None);
    };
    let path = if path.as_os_str() == "train" {
        run.path.join(crate::data::TRAIN_TRANSCRIPTS)
    } else {
        path.clone()
    };
    let text = std::fs::read_to_string(&path).map_err(|e| SpeechError::io(&path, e))?;
    Ok(Some(CharLm::train(
        alphabet,
        text.lines(),
        config.decode.lm_order,
    )))
}

/// Decodes the test split greedily, with `decode.beam` and (with `decode.lm_text`) with the
/// language model; writes the last decoding's transcripts to `test.hyp.txt` and the
/// references to `test.ref.txt`, one utterance a line in the same order.
pub fn evaluate_test(
    model: &AcousticModel,
    data: &Prepared,
    config: &ExperimentConfig,
    run: &RunDir,
) -> Result<Vec<Scores>, SpeechError> {
    let test: Vec<&Utterance> = data.splits[2].iter().collect();
    let lm = language_model(config, &data.alphabet, run)?;
    let d = &config.decode;
    let mut runs = vec![evaluate(model, &data.alphabet, &test, 1, None)];
    if d.beam > 1 {
        runs.push(evaluate(model, &data.alphabet, &test, d.beam, None));
    }
    if let Some(lm) = &lm {
        let fusion = Fusion {
            lm,
            weight: d.lm_weight,
            bonus: d.lm_bonus,
        };
        runs.push(evaluate(
            model,
            &data.alphabet,
            &test,
            d.beam,
            Some(&fusion),
        ));
    }
    let last = runs.last().expect("greedy at least");
    let lines = |v: Vec<&str>| {
        let mut s = v.join("\n");
        s.push('\n');
        s
    };
    for (name, text) in [
        (
            "test.hyp.txt",
            lines(last.hypotheses.iter().map(String::as_str).collect()),
        ),
        (
            "test.ref.txt",
            lines(test.iter().map(|u| u.transcript.as_str()).collect()),
        ),
    ] {
        let path = run.path.join(name);
        rnnzoo_models::weights::write_atomic(&path, text.as_bytes())
            .map_err(|e| SpeechError::io(&path, e))?;
    }
    Ok(runs.into_iter().map(|e| e.scores).collect())
}

/// One file transcribed by a trained run.
#[derive(Clone, Debug, Serialize)]
pub struct Transcript {
    /// The audio file.
    pub file: String,
    /// What the model heard (absent when the file did not decode).
    pub text: Option<String>,
    /// Why the file could not be read.
    pub error: Option<String>,
    /// Seconds of audio.
    pub seconds: f64,
}

/// A trained speech run, loaded for inference.
pub struct TrainedRun {
    /// Its resolved config.
    pub config: ExperimentConfig,
    /// The model of its best checkpoint.
    pub model: AcousticModel,
    /// The output alphabet.
    pub alphabet: Alphabet,
    /// The checkpoint the weights come from.
    pub checkpoint: PathBuf,
    /// The run.
    pub run: RunDir,
}

/// Loads a run's config, alphabet and best (else latest) checkpoint.
pub fn load_run(run: &Path, device: &Device) -> Result<TrainedRun, SpeechError> {
    let dir = RunDir::open(run).map_err(|e| SpeechError::io(run, e))?;
    let config = rnnzoo_config::load(&dir.config(), &[])?;
    let alphabet = Alphabet::load(&dir.path.join("alphabet.json")).map_err(SpeechError::Other)?;
    let checkpoint = Checkpoint::to_use(&dir.checkpoints()).map_err(SpeechError::Other)?;
    let fresh = AcousticModel::new(&config.model, &config.features, alphabet.classes(), device);
    let model = Checkpoint::load_model(&checkpoint, fresh)?;
    Ok(TrainedRun {
        config,
        model,
        alphabet,
        checkpoint,
        run: dir,
    })
}

impl TrainedRun {
    /// Transcribes audio files with beam width `beam` (the config's `decode.beam` when `None`)
    /// and language-model weight `lm_weight` (the config's when `None`; 0 turns the model
    /// off). A file that does not decode gets its error; the others are still transcribed.
    pub fn transcribe(
        &self,
        files: &[PathBuf],
        beam: Option<usize>,
        lm_weight: Option<f64>,
    ) -> Result<Vec<Transcript>, SpeechError> {
        let bank = LogMel::new(&self.config.features);
        let rate = self.config.features.sample_rate;
        let read: Vec<Result<Vec<f32>, SpeechError>> = files
            .iter()
            .map(|f| file_features(&bank, f, rate))
            .collect();
        let ok: Vec<&[f32]> = read
            .iter()
            .filter_map(|r| r.as_ref().ok().map(Vec::as_slice))
            .collect();
        let scores = log_probs(&self.model, &ok);
        let d = &self.config.decode;
        let lm = language_model(&self.config, &self.alphabet, &self.run)?;
        let weight = lm_weight.unwrap_or(d.lm_weight);
        let fusion = lm.as_ref().filter(|_| weight > 0.0).map(|lm| Fusion {
            lm,
            weight,
            bonus: d.lm_bonus,
        });
        let texts = transcribe_scores(
            &self.alphabet,
            &scores,
            beam.unwrap_or(d.beam),
            fusion.as_ref(),
        );
        let mut texts = texts.into_iter();
        let hop = self.config.features.hop_ms / 1000.0;
        Ok(files
            .iter()
            .zip(read)
            .map(|(f, r)| match r {
                Ok(features) => Transcript {
                    file: f.display().to_string(),
                    text: texts.next(),
                    error: None,
                    seconds: (features.len() / bank.mels()) as f64 * hop,
                },
                Err(e) => Transcript {
                    file: f.display().to_string(),
                    text: None,
                    error: Some(e.to_string()),
                    seconds: 0.0,
                },
            })
            .collect())
    }

    /// Decodes the run's test split (greedy, beam, beam with LM), rewriting `test.hyp.txt`
    /// and `test.ref.txt`.
    pub fn evaluate(&self) -> Result<Vec<Scores>, SpeechError> {
        let prepared = prepare(&self.config, &self.run, true, true)?;
        evaluate_test(&self.model, &prepared, &self.config, &self.run)
    }
}
