//! Fine-tuning: a language model that starts from a trained run (`init_from`).
//!
//! The vocabulary is the run's (`vocab: keep`) or the run's with the new corpus's tokens
//! appended (`vocab: extend`). The recurrent stack is the run's; embedding and output rows of
//! old tokens are the run's too, and each new token starts as a copy of `<unk>`'s rows (what the
//! model saw and predicted for it before), its output bias lowered by `ln(new tokens)` so that
//! they share `<unk>`'s probability. The old tokens' logits are unchanged before the first
//! update. Parts named in `freeze` never change.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use rnnzoo_config::{ExperimentConfig, TaskName, VocabMode};
use rnnzoo_data::Vocab;
use rnnzoo_train::finetune::with_unk_copies;

use crate::LmError;
use crate::data::build_vocab;
use crate::inference::load_run;
use crate::model::LanguageModel;

/// The trained run a fine-tuning config starts from.
pub struct Initial {
    /// The run's vocabulary.
    pub vocab: Vocab,
    /// Its trained model (best checkpoint, else latest).
    pub model: LanguageModel,
}

/// Loads the run named by `init_from`, checking that it is a language model whose architecture
/// matches the config's. `None` when the config does not fine-tune.
pub fn load_initial(
    config: &ExperimentConfig,
    device: &Device,
) -> Result<Option<Initial>, LmError> {
    let Some(run) = &config.init_from else {
        return Ok(None);
    };
    // The task first: another task's checkpoint does not load as a language model.
    let task = rnnzoo_config::load(&run.join("config.yaml"), &[])
        .map_err(|e| LmError::Other(format!("init_from {}: {e}", run.display())))?
        .task;
    if task != TaskName::Lm {
        return Err(LmError::Other(format!(
            "init_from {}: a {} run, not a language model; a language model fine-tunes from a \
             language-model run",
            run.display(),
            format!("{task:?}").to_lowercase()
        )));
    }
    let trained = load_run(run, device)?;
    rnnzoo_train::finetune::check_architecture(run, &trained.config.model, &config.model, &[])
        .map_err(LmError::Other)?;
    if trained.vocab.kind != config.data.tokenizer {
        return Err(LmError::Other(format!(
            "init_from {}: the run tokenises by {:?}, the config by {:?}",
            run.display(),
            trained.vocab.kind,
            config.data.tokenizer
        )));
    }
    Ok(Some(Initial {
        vocab: trained.vocab,
        model: trained.model,
    }))
}

/// The fine-tuning vocabulary: the run's, extended with the training text's tokens when asked.
pub fn vocabulary(config: &ExperimentConfig, initial: &Initial, train_text: &str) -> Vocab {
    let mut vocab = initial.vocab.clone();
    if config.vocab == VocabMode::Extend {
        vocab.extend(build_vocab(&config.data, train_text).tokens);
    }
    vocab
}

/// A bias with `extra` entries appended, each `<unk>`'s minus `ln(extra)` (a new leaf).
fn bias_with_unk_share(bias: Tensor<1>, extra: usize) -> Tensor<1> {
    let bias = bias.detach();
    if extra == 0 {
        return bias;
    }
    let share = bias
        .clone()
        .narrow(0, 0, 1)
        .sub_scalar((extra as f64).ln())
        .repeat_dim(0, extra);
    Tensor::cat(vec![bias, share], 0).detach()
}

/// The model to fine-tune: `fresh` (built for the new vocabulary and the config's dropout)
/// with the trained weights moved in.
pub fn transplant(mut fresh: LanguageModel, initial: Initial) -> LanguageModel {
    let old = initial.model;
    let extra = fresh.vocab_size() - old.vocab_size();
    fresh.rnn.cells = old.rnn.cells;
    fresh.embedding.weight =
        Param::from_tensor(with_unk_copies(old.embedding.weight.val(), extra, 0));
    if let (Some(new), Some(old)) = (fresh.output.as_mut(), old.output) {
        new.weight = Param::from_tensor(with_unk_copies(old.weight.val(), extra, 1));
        new.bias = old
            .bias
            .map(|b| Param::from_tensor(bias_with_unk_share(b.val(), extra)));
    }
    if let Some(old) = old.tied_bias {
        fresh.tied_bias = Some(Param::from_tensor(bias_with_unk_share(old.val(), extra)));
    }
    fresh
}

/// Stops gradients to the parts named in `freeze` (`embedding`, `layers.<k>`, `output`).
pub fn freeze(mut model: LanguageModel, names: &[String]) -> Result<LanguageModel, LmError> {
    for name in names {
        match name.as_str() {
            "embedding" => model.embedding = model.embedding.no_grad(),
            "output" => {
                model.output = model.output.map(Module::no_grad);
                model.tied_bias = model.tied_bias.map(|p| p.set_require_grad(false));
            }
            other => {
                let layer = rnnzoo_config::frozen_layer(other)
                    .filter(|&k| k < model.rnn.num_layers)
                    .ok_or_else(|| {
                        LmError::Other(format!(
                            "freeze: `{other}` is not `embedding`, `output` or `layers.<k>` \
                             with k < {}",
                            model.rnn.num_layers
                        ))
                    })?;
                model.rnn.freeze_layer(layer);
            }
        }
    }
    Ok(model)
}
