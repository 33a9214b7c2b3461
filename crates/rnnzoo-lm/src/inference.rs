//! Using a trained language model: evaluation (loss and perplexity), sentence scoring and text
//! generation. Everything here runs without autodiff.

use std::path::{Path, PathBuf};

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::ExperimentConfig;
use rnnzoo_data::vocab::UNK;
use rnnzoo_data::{BpttBatches, SplitMix64, Vocab};
use rnnzoo_models::RecurrentState;
use rnnzoo_train::checkpoint::Checkpoint;
use rnnzoo_train::rundir::RunDir;
use serde::Serialize;

use crate::LmError;
use crate::model::LanguageModel;
use crate::training::segment_tensors;

/// Loss and perplexity of a model on a token stream.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Evaluation {
    /// Mean negative log-likelihood per target token (nats).
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Target tokens scored.
    pub tokens: usize,
    /// Standard error of `loss` by batch means: the spread of the per-stream mean losses (each
    /// stream a contiguous stretch of text) over the square root of their number. Neighbouring
    /// tokens' losses are correlated, so this is wider and more honest than the per-token
    /// standard error; `None` with fewer than two streams.
    pub standard_error: Option<f64>,
}

/// The standard error of the mean of equally sized blocks' means: their sample standard
/// deviation over `sqrt(blocks)` (`None` for fewer than two blocks).
pub fn block_standard_error(block_means: &[f64]) -> Option<f64> {
    let k = block_means.len();
    if k < 2 {
        return None;
    }
    let mean = block_means.iter().sum::<f64>() / k as f64;
    let variance = block_means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    Some((variance / k as f64).sqrt())
}

/// Sum of `-log p(target)` over a batch: logits `[B, T, V]`, targets `[B, T]`.
fn nll_sum(logits: Tensor<3>, targets: Tensor<2, Int>) -> f64 {
    nll_per_row(logits, targets).iter().sum()
}

/// `-Σ_t log p(target)` of each of the `B` rows: logits `[B, T, V]`, targets `[B, T]`.
fn nll_per_row(logits: Tensor<3>, targets: Tensor<2, Int>) -> Vec<f64> {
    let logp = log_softmax(logits, 2);
    let picked = logp.gather(2, targets.unsqueeze_dim::<3>(2));
    let rows = picked.sum_dim(1).into_data();
    rows.iter::<f32>().map(|v| -(v as f64)).collect()
}

/// Evaluates on `tokens` laid out as `batch` streams, carrying the state through `bptt`-step
/// segments exactly as in training.
pub fn evaluate(model: &LanguageModel, tokens: &[usize], batch: usize, bptt: usize) -> Evaluation {
    let batch = batch.min(tokens.len() / 2).max(1);
    let batches = BpttBatches::new(tokens, batch, bptt);
    let device = model.embedding.weight.device();
    let mut state: Option<RecurrentState> = None;
    // Each stream's summed loss: every stream has the same number of targets.
    let mut per_stream = vec![0.0f64; batch];
    for i in 0..batches.num_segments() {
        let (inputs, targets) = segment_tensors(&batches.segment(i), &device);
        let (logits, next) = model.forward(inputs, state);
        for (sum, row) in per_stream.iter_mut().zip(nll_per_row(logits, targets)) {
            *sum += row;
        }
        state = Some(next);
    }
    let n = batches.num_targets();
    let loss = per_stream.iter().sum::<f64>() / n as f64;
    let per_token = (n / batch) as f64;
    let means: Vec<f64> = per_stream.iter().map(|s| s / per_token).collect();
    Evaluation {
        loss,
        perplexity: loss.exp(),
        tokens: n,
        standard_error: block_standard_error(&means),
    }
}

/// A batch of one sequence, `[1, len]`.
fn one_sequence(ids: &[usize], device: &Device) -> Tensor<2, Int> {
    let values: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(values, [1, ids.len()]), device)
}

/// How likely a text is under the model.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SentenceScore {
    /// The text.
    pub text: String,
    /// Tokens scored.
    pub tokens: usize,
    /// `Σ log p(token | preceding tokens)`, natural log.
    pub log_prob: f64,
    /// `log_prob / tokens`.
    pub mean_log_prob: f64,
    /// `exp(-mean_log_prob)`.
    pub perplexity: f64,
}

/// Scores a text: every token conditioned on those before it, the first on a line boundary
/// (`\n` for characters, `<eos>` for words; word texts also score their closing `<eos>`).
pub fn score(model: &LanguageModel, vocab: &Vocab, text: &str) -> SentenceScore {
    let mut ids = vec![vocab.boundary_id()];
    ids.extend(vocab.encode(text));
    let n = ids.len() - 1;
    if n == 0 {
        return SentenceScore {
            text: text.into(),
            tokens: 0,
            log_prob: 0.0,
            mean_log_prob: 0.0,
            perplexity: 1.0,
        };
    }
    let device = model.embedding.weight.device();
    let (logits, _) = model.forward(one_sequence(&ids[..n], &device), None);
    let log_prob = -nll_sum(logits, one_sequence(&ids[1..], &device));
    let mean = log_prob / n as f64;
    SentenceScore {
        text: text.into(),
        tokens: n,
        log_prob,
        mean_log_prob: mean,
        perplexity: (-mean).exp(),
    }
}

/// Options of text generation.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    /// Text to continue (a line boundary when empty).
    pub prompt: String,
    /// Tokens to generate.
    pub length: usize,
    /// Softmax temperature (lower is more conservative).
    pub temperature: f64,
    /// Sample among the `k` most likely tokens only.
    pub top_k: Option<usize>,
    /// Seed of the sampler.
    pub seed: u64,
}

/// Draws tokens from logits, seeded so samples are reproducible from `--seed`.
struct Sampler(SplitMix64);

impl Sampler {
    /// Draws an index from logits with temperature and top-k; `<unk>` (0) is never drawn.
    fn draw(&mut self, logits: &[f32], temperature: f64, top_k: Option<usize>) -> usize {
        let mut order: Vec<usize> = (1..logits.len()).collect();
        if order.is_empty() {
            return 0; // a vocabulary of `<unk>` alone (training refuses those now)
        }
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        if let Some(k) = top_k {
            order.truncate(k.max(1));
        }
        let t = temperature.max(1e-6);
        let max = logits[order[0]] as f64;
        let weights: Vec<f64> = order
            .iter()
            .map(|&i| ((logits[i] as f64 - max) / t).exp())
            .collect();
        let mut r = self.0.uniform() * weights.iter().sum::<f64>();
        for (&i, w) in order.iter().zip(&weights) {
            r -= w;
            if r <= 0.0 {
                return i;
            }
        }
        order[order.len() - 1]
    }
}

/// A generated text and how likely the model finds it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Generated {
    /// The prompt and its continuation, as text.
    pub text: String,
    /// The continuation's token ids.
    pub tokens: Vec<usize>,
    /// `Σ log p(token | preceding tokens)` of the prompt's tokens (natural log), conditioned as
    /// [`score`] conditions them: the first on a line boundary.
    pub prompt_log_prob: f64,
    /// `Σ log p(token | prompt, preceding tokens)` of the continuation, under the model itself
    /// (temperature 1, no top-k), accumulated from the logits each token was drawn from.
    pub log_prob: f64,
    /// Prompt tokens outside the vocabulary, read as `<unk>`.
    pub prompt_unknown: usize,
}

/// `log softmax(logits)[index]`, in `f64`.
fn log_prob_of(logits: &[f32], index: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    logits[index] as f64 - max - sum.ln()
}

/// Generates `length` tokens after the prompt and returns prompt and continuation as text, with
/// the log-probabilities the model gave them.
///
/// The model reads a line boundary first (`\n` for characters, `<eos>` for words), then the
/// prompt, as [`score`] does: a text starts after a boundary in training too, and so `score` of
/// the returned text equals `prompt_log_prob + log_prob`. Runs on [`LanguageModel::decoder`]:
/// the prompt and every sampled token go through the model one step at a time on host buffers,
/// with no tensor operations per token.
pub fn generate(model: &LanguageModel, vocab: &Vocab, options: &SampleOptions) -> Generated {
    generate_streaming(model, vocab, options, |_| {})
}

/// [`generate`], handing each piece of text to `emit` as soon as it exists: the prompt first,
/// exactly as the user wrote it (characters outside the vocabulary included; the model reads
/// them as `<unk>`), then each token's text (for words, with the space or line break before it).
pub fn generate_streaming(
    model: &LanguageModel,
    vocab: &Vocab,
    options: &SampleOptions,
    mut emit: impl FnMut(&str),
) -> Generated {
    let mut ids = vocab.encode(&options.prompt);
    if vocab.kind == rnnzoo_data::TokenizerKind::Word && !options.prompt.ends_with('\n') {
        ids.pop(); // the prompt's line goes on: drop its closing <eos>
    }
    let prompt_unknown = ids.iter().filter(|&&id| id == vocab.id(UNK)).count();
    let mut text = options.prompt.clone();
    emit(&text);
    let mut sampler = Sampler(SplitMix64::new(options.seed ^ 0x5EED));
    let mut decoder = model.decoder(1);
    let mut logits = decoder.step(&[vocab.boundary_id()]);
    let mut prompt_log_prob = 0.0;
    for &token in &ids {
        prompt_log_prob += log_prob_of(logits, token);
        logits = decoder.step(&[token]);
    }
    let mut tokens = Vec::with_capacity(options.length);
    let mut log_prob = 0.0;
    for _ in 0..options.length {
        let next = sampler.draw(logits, options.temperature, options.top_k);
        log_prob += log_prob_of(logits, next);
        tokens.push(next);
        let piece = continuation_piece(vocab, &text, next);
        emit(&piece);
        text.push_str(&piece);
        logits = decoder.step(&[next]);
    }
    Generated {
        text,
        tokens,
        prompt_log_prob,
        log_prob,
        prompt_unknown,
    }
}

/// The text token `id` adds after `so_far`: the character itself, or for words and subwords a
/// line break for `<eos>` and the word after a space (none at the start of a line or after
/// whitespace), as [`Vocab::decode`] joins them.
fn continuation_piece(vocab: &Vocab, so_far: &str, id: usize) -> String {
    let token = vocab.decode(&[id]);
    match vocab.kind {
        rnnzoo_data::TokenizerKind::Char => token,
        _ if token == "\n" || so_far.is_empty() || so_far.ends_with(char::is_whitespace) => token,
        _ => format!(" {token}"),
    }
}

/// A trained run, loaded for inference.
pub struct TrainedRun {
    /// Its resolved config.
    pub config: ExperimentConfig,
    /// Its vocabulary.
    pub vocab: Vocab,
    /// The model of its best checkpoint (latest when it never validated).
    pub model: LanguageModel,
    /// The checkpoint the weights come from.
    pub checkpoint: PathBuf,
}

/// Loads a run directory: config, vocabulary and best (else latest) checkpoint.
pub fn load_run(path: &Path, device: &Device) -> Result<TrainedRun, LmError> {
    let run = RunDir::open(path).map_err(|e| LmError::Other(e.to_string()))?;
    let config = rnnzoo_config::load(&run.config(), &[])?;
    let vocab = Vocab::load(&run.vocab()).map_err(LmError::Other)?;
    let checkpoint = Checkpoint::to_use(&run.checkpoints()).map_err(LmError::Other)?;
    let model = Checkpoint::load_model(
        &checkpoint,
        LanguageModel::new(&config.model, vocab.len(), device),
    )?;
    Ok(TrainedRun {
        config,
        vocab,
        model,
        checkpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::block_standard_error;

    #[test]
    fn the_standard_error_of_block_means_is_their_sd_over_root_k() {
        // Means 1, 2, 3, 4: sample sd sqrt(5/3), over sqrt(4).
        let se = block_standard_error(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((se - (5.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-12, "{se}");
        assert_eq!(block_standard_error(&[2.5]), None);
        assert_eq!(block_standard_error(&[3.0, 3.0, 3.0]), Some(0.0));
    }
}
