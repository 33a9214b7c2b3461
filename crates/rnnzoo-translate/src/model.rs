//! The encoder-decoder (Sutskever et al. 2014; Luong et al. 2015).
//!
//! - Encoder: source embedding -> recurrent stack (any cell, bidirectional allowed), outputs
//!   `e_s` of size `C = H_enc · directions` with source padding masked.
//! - Bridge: each decoder layer starts from its encoder layer's final state, both directions
//!   concatenated, through `h_0 = tanh(W_h [h→; h←] + b_h)` and `c_0 = W_c [c→; c←] + b_c`
//!   (LSTM); a unidirectional encoder whose size equals the decoder's passes its state as it is.
//! - Decoder: `rnnzoo_models::attention::AttentionDecoder` over the encoder outputs as its
//!   memory (target embedding, recurrent stack, `none`/`dot`/`general`/`bahdanau` attention,
//!   optional input feeding, output layer; the equations are in its module).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::{AttentionName, ModelConfig};
use rnnzoo_models::attention::{AttentionDecoder, AttentionDecoderConfig, Memory, TargetBatch};
use rnnzoo_models::{Recurrent, RecurrentState, linear};
use rnnzoo_train::model::{attention_kind, cell_kind, recurrent_config};

/// The bridge from the encoder's final states to the decoder's initial ones.
#[derive(Module, Debug)]
pub struct Bridge {
    /// `W_h`, `b_h` (followed by tanh).
    pub hidden: Linear,
    /// `W_c`, `b_c` (LSTM cell state).
    pub cell: Option<Linear>,
}

/// An attentional encoder-decoder.
#[derive(Module, Debug)]
pub struct Seq2Seq {
    /// Source embeddings.
    pub source_embedding: Embedding,
    /// The encoder stack.
    pub encoder: Recurrent,
    /// The bridge, where the decoder cannot take the encoder's states as they are.
    pub bridge: Option<Bridge>,
    /// The attentional decoder (target embedding, recurrent stack, attention, output).
    pub decoder: AttentionDecoder,
    /// Dropout on the source embeddings.
    pub dropout: Dropout,
}

/// The encoder's view of a batch of sources: the decoder's memory.
pub type Encoded = Memory;

impl Seq2Seq {
    /// A fresh model for `config` with these vocabulary sizes.
    pub fn new(
        config: &ModelConfig,
        source_vocab: usize,
        target_vocab: usize,
        device: &Device,
    ) -> Self {
        let embedding = config.embedding.size;
        let encoder = recurrent_config(config, embedding).init(device);
        let context = encoder.output_size();
        let hidden = config.decoder_hidden.unwrap_or(context);
        let mut recurrent = recurrent_config(config, embedding);
        recurrent.hidden_size = hidden;
        let decoder = AttentionDecoderConfig {
            recurrent,
            vocab: target_vocab,
            embedding,
            memory: context,
            attention: attention_kind(config.attention.unwrap_or(AttentionName::General)),
            input_feeding: config.input_feeding,
            dropout: config.dropout,
        }
        .init(device);
        let has_cell = cell_kind(config).has_cell_state();
        let bridge = (config.bidirectional || context != hidden).then(|| Bridge {
            hidden: LinearConfig::new(context, hidden).init(device),
            cell: has_cell.then(|| LinearConfig::new(context, hidden).init(device)),
        });
        Self {
            source_embedding: EmbeddingConfig::new(source_vocab, embedding).init(device),
            encoder,
            bridge,
            decoder,
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// Size of `h̃` (the decoder's hidden size).
    pub fn hidden_size(&self) -> usize {
        self.decoder.hidden_size()
    }

    /// Target vocabulary size.
    pub fn target_vocab(&self) -> usize {
        self.decoder.vocab_size()
    }

    /// Encodes right-padded source ids `[B, S]` with their true `lengths`.
    pub fn encode(&self, source: Tensor<2, Int>, lengths: &[usize]) -> Encoded {
        let embedded = self.dropout.forward(self.source_embedding.forward(source));
        let (outputs, state) = self.encoder.forward(embedded, None, Some(lengths));
        Memory::new(outputs, lengths, self.bridge_state(state))
    }

    /// The decoder's initial state from the encoder's final one.
    fn bridge_state(&self, state: RecurrentState) -> RecurrentState {
        let Some(bridge) = &self.bridge else {
            return state;
        };
        let dirs = self.encoder.num_directions();
        let layers = self.encoder.num_layers;
        // [L·D, B, H] -> [L, B, D·H]: each layer's directions side by side.
        let join = |t: Tensor<3>| -> Tensor<3> {
            let [_, batch, h] = t.dims();
            let per_layer: Vec<Tensor<3>> = (0..layers)
                .map(|l| {
                    let parts: Vec<Tensor<3>> = (0..dirs)
                        .map(|d| t.clone().narrow(0, l * dirs + d, 1))
                        .collect();
                    Tensor::cat(parts, 2)
                })
                .collect();
            let joined = Tensor::cat(per_layer, 0);
            debug_assert_eq!(joined.dims(), [layers, batch, dirs * h]);
            joined
        };
        RecurrentState {
            hidden: linear(&bridge.hidden, join(state.hidden)).tanh(),
            cell: match (&bridge.cell, state.cell) {
                (Some(w), Some(c)) => Some(linear(w, join(c))),
                _ => None,
            },
        }
    }

    /// `h̃` for decoder outputs `d [B, T, H]`, and the attention weights `[B, T, S]`.
    pub fn attend(&self, decoded: Tensor<3>, encoded: &Encoded) -> (Tensor<3>, Option<Tensor<3>>) {
        self.decoder.attend(decoded, encoded)
    }

    /// `h̃` for every target step under full teacher forcing (see
    /// [`AttentionDecoder::teacher_forced`]). `[B, T, H]`.
    pub fn decode_teacher_forced(&self, encoded: &Encoded, target_in: Tensor<2, Int>) -> Tensor<3> {
        self.decoder.teacher_forced(encoded, target_in)
    }

    /// `h̃` for every target step, one step at a time, with optional scheduled sampling (see
    /// [`AttentionDecoder::decode_steps`]).
    pub fn decode_steps(
        &self,
        encoded: &Encoded,
        target_in: Tensor<2, Int>,
        sample: Option<&mut dyn FnMut(usize, usize) -> bool>,
    ) -> Tensor<3> {
        self.decoder.decode_steps(encoded, target_in, sample)
    }

    /// Logits `[N, V]` of the `h̃` rows at the flat positions `rows` of `[B·T, H]`, after
    /// dropout.
    pub fn logits_at(&self, attended: Tensor<3>, rows: &[usize]) -> Tensor<2> {
        self.decoder.logits_at(attended, rows)
    }
}

/// A batch of pairs as the model reads them.
pub struct Batch {
    /// Source ids `[B, S]`, right-padded with `<pad>`.
    pub source: Tensor<2, Int>,
    /// True source lengths.
    pub source_lengths: Vec<usize>,
    /// Decoder inputs `[B, T]`: `<s>` then the target, padded.
    pub target_in: Tensor<2, Int>,
    /// The targets at the real positions (the target then `</s>`), flattened in `[B·T]` order.
    pub targets: Tensor<1, Int>,
    /// Where those targets sit in the flattened `[B·T]` decoder steps.
    pub rows: Vec<usize>,
}

/// Right-pads source id sequences (without `</s>`) into `[B, S]` with `<pad>`, and their
/// lengths; an empty source reads as one `</s>`.
pub fn pad_sources(sources: &[&[usize]], device: &Device) -> (Tensor<2, Int>, Vec<usize>) {
    use crate::tokenizer::{EOS, PAD};
    let lengths: Vec<usize> = sources.iter().map(|s| s.len().max(1)).collect();
    let steps = lengths.iter().copied().max().unwrap_or(1);
    let mut ids = vec![PAD as i64; sources.len() * steps];
    for (b, s) in sources.iter().enumerate() {
        if s.is_empty() {
            ids[b * steps] = EOS as i64;
        }
        for (i, &id) in s.iter().enumerate() {
            ids[b * steps + i] = id as i64;
        }
    }
    (
        Tensor::from_data(TensorData::new(ids, [sources.len(), steps]), device),
        lengths,
    )
}

impl Batch {
    /// Pads source and target id sequences (without `<s>`/`</s>`) into a batch.
    pub fn new(pairs: &[(&[usize], &[usize])], device: &Device) -> Self {
        use crate::tokenizer::{BOS, EOS, PAD};
        let sources: Vec<&[usize]> = pairs.iter().map(|(s, _)| *s).collect();
        let targets: Vec<&[usize]> = pairs.iter().map(|(_, t)| *t).collect();
        let (source, source_lengths) = pad_sources(&sources, device);
        let t = TargetBatch::new(&targets, BOS, EOS, PAD, device);
        Self {
            source,
            source_lengths,
            target_in: t.target_in,
            targets: t.targets,
            rows: t.rows,
        }
    }
}

pub use rnnzoo_models::attention::smoothed_cross_entropy;
