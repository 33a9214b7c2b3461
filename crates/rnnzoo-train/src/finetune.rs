//! Pieces every task's fine-tuning (`init_from: RUN_DIR`) shares: the architecture check and
//! growing embedding-like matrices for an extended vocabulary.

use std::path::Path;

use burn::tensor::Tensor;
use rnnzoo_config::ModelConfig;

/// Checks that a run's model and a config's agree on every architecture key except those in
/// `ignored` (e.g. `model.pooling` when only the encoder transfers). The error names the run
/// and each differing key with both values.
pub fn check_architecture(
    run: &Path,
    trained: &ModelConfig,
    config: &ModelConfig,
    ignored: &[&str],
) -> Result<(), String> {
    let differences: Vec<String> = trained
        .architecture_differences(config)
        .into_iter()
        .filter(|d| !ignored.iter().any(|key| d.starts_with(&format!("{key}:"))))
        .collect();
    if differences.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "init_from {}: the config's model differs from the run's ({}); drop the `model` \
             section to use the run's",
            run.display(),
            differences.join(", ")
        ))
    }
}

/// `rows` followed by `extra` copies of its first row (`<unk>`'s) along `dim`, as a new leaf
/// (a parameter must not hang off the old one's autodiff graph): a new token starts as what
/// the trained model saw for an unknown one.
pub fn with_unk_copies(rows: Tensor<2>, extra: usize, dim: usize) -> Tensor<2> {
    let rows = rows.detach();
    if extra == 0 {
        return rows;
    }
    let unk = if dim == 0 {
        rows.clone().narrow(0, 0, 1).repeat_dim(0, extra)
    } else {
        rows.clone().narrow(1, 0, 1).repeat_dim(1, extra)
    };
    Tensor::cat(vec![rows, unk], dim).detach()
}
