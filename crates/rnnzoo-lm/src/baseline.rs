//! The count-based baseline of language-model comparisons: an interpolated modified
//! Kneser-Ney n-gram model (`rnnzoo-ngram`) on exactly the vocabulary and splits a recurrent
//! run of the same config would use, written as a run directory with the same `summary.json`
//! keys, so `rnnzoo compare` tabulates it next to the recurrent variants.

use std::path::Path;
use std::time::Instant;

use rnnzoo_config::ExperimentConfig;
use rnnzoo_ngram::KneserNey;
use rnnzoo_train::metrics::MetricsLog;
use rnnzoo_train::rundir::RunDir;

use crate::LmError;
use crate::inference::block_standard_error;
use crate::training::{Summary, prepare};

/// Counts an order-`order` model on the config's training split and evaluates it on the
/// validation split (its first `train.max_eval_tokens` tokens, as training does) and the test
/// split. The run directory holds `config.yaml`, `vocab.json`, an empty `metrics.csv` and
/// `summary.json`; `parameters` is the number of distinct n-grams.
pub fn train_ngram(
    config: &ExperimentConfig,
    order: usize,
    runs_root: &Path,
) -> Result<(RunDir, Summary), LmError> {
    if !(1..=5).contains(&order) {
        return Err(LmError::Other(format!(
            "n-gram order must be 1..=5, not {order}"
        )));
    }
    let start = Instant::now();
    let run = rnnzoo_train::trainer::open_run(config, runs_root, None)?;
    println!("run: {}", run.path.display());
    let (vocab, streams) = prepare(config, None)?;
    vocab
        .save(&run.vocab())
        .map_err(|e| LmError::io(&run.vocab(), e))?;
    MetricsLog::open(&run.metrics(), None).map_err(|e| LmError::io(&run.metrics(), e))?;
    let model = KneserNey::train(&streams.train, vocab.len(), order);
    let trained_s = start.elapsed().as_secs_f64();
    let valid = match config.train.max_eval_tokens {
        Some(n) => &streams.valid[..(n + 1).min(streams.valid.len())],
        None => &streams.valid[..],
    };
    let loss = |tokens: &[usize]| (tokens.len() > 1).then(|| model.cross_entropy(tokens));
    let (valid_loss, test_loss) = (loss(valid), loss(&streams.test));
    // The recurrent runs' batch means: as many contiguous blocks as they have streams.
    let test_loss_se = {
        let losses = model.token_losses(&streams.test);
        let block = losses.len() / config.train.batch_size.max(1);
        // No blocks (no standard error) for a test split shorter than the batch.
        let means: Vec<f64> = match block {
            0 => Vec::new(),
            _ => losses
                .chunks_exact(block)
                .map(|c| c.iter().sum::<f64>() / block as f64)
                .collect(),
        };
        block_standard_error(&means)
    };
    let summary = Summary {
        name: config.name.clone(),
        cell: format!("ngram-kn{order}"),
        parameters: model.num_ngrams(),
        vocab_size: vocab.len(),
        steps: 0,
        epochs: 1,
        final_train_loss: None,
        best_valid_loss: valid_loss,
        best_valid_perplexity: valid_loss.map(f64::exp),
        best_step: None,
        test_loss,
        test_perplexity: test_loss.map(f64::exp),
        test_loss_se,
        tokens_per_s: streams.train.len() as f64 / trained_s.max(1e-9),
        wall_s: start.elapsed().as_secs_f64(),
        sample: None,
        sample_loss: None,
    };
    rnnzoo_train::trainer::write_summary(&run, &summary)?;
    Ok((run, summary))
}
