//! The `model:` section of a config, mapped onto the shared recurrent layer.

use rnnzoo_config::{ActivationName, AttentionName, CellName, ModelConfig};
use rnnzoo_models::attention::AttentionKind;
use rnnzoo_models::{CellKind, RecurrentConfig, RnnActivation};

/// The cell a config names.
pub fn cell_kind(model: &ModelConfig) -> CellKind {
    match model.cell {
        CellName::Rnn => CellKind::Rnn(match model.activation {
            ActivationName::Tanh => RnnActivation::Tanh,
            ActivationName::Relu => RnnActivation::Relu,
        }),
        CellName::Lstm => CellKind::Lstm {
            peephole: model.peephole,
            coupled: model.coupled,
        },
        CellName::Gru => CellKind::Gru,
    }
}

/// The recurrent stack a config describes, reading `input_size` features per step.
pub fn recurrent_config(model: &ModelConfig, input_size: usize) -> RecurrentConfig {
    RecurrentConfig::new(cell_kind(model), input_size, model.hidden)
        .with_num_layers(model.layers)
        .with_bidirectional(model.bidirectional)
        .with_dropout(model.dropout)
        .with_forget_bias(model.forget_bias)
}

/// The attention a config names.
pub fn attention_kind(name: AttentionName) -> AttentionKind {
    match name {
        AttentionName::None => AttentionKind::None,
        AttentionName::Dot => AttentionKind::Dot,
        AttentionName::General => AttentionKind::General,
        AttentionName::Bahdanau => AttentionKind::Bahdanau,
    }
}
