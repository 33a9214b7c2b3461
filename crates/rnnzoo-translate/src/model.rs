//! The encoder-decoder (Sutskever et al. 2014; Luong et al. 2015).
//!
//! - Encoder: source embedding -> recurrent stack (any cell, bidirectional allowed), outputs
//!   `e_s` of size `C = H_enc · directions` with source padding masked.
//! - Bridge: each decoder layer starts from its encoder layer's final state, both directions
//!   concatenated, through `h_0 = tanh(W_h [h→; h←] + b_h)` and `c_0 = W_c [c→; c←] + b_c`
//!   (LSTM); a unidirectional encoder whose size equals the decoder's passes its state as it is.
//! - Decoder: target embedding (`[E; h̃_{t-1}]` with input feeding) -> recurrent stack ->
//!   `d_t`. Attention over the source gives `a_t = softmax_s(score(d_t, e_s))` (padding
//!   masked), the context `c_t = Σ_s a_ts e_s`, and the attentional state
//!   `h̃_t = tanh(W_c [c_t; d_t])` (Luong's eq. 5); without attention `h̃_t = d_t`.
//!   Scores: `dot` `d_t · e_s`; `general` `d_t · W_a e_s`; `bahdanau` (additive)
//!   `v · tanh(W_q d_t + W_k e_s + b)`, all on the decoder's current state as in Luong et al.
//!   and OpenNMT (whose `mlp` is the additive one).
//! - Output: `logits_t = W_o h̃_t + b_o` over the target vocabulary.
//!
//! Training runs the decoder over the whole target at once when it can (full teacher forcing, no
//! input feeding): one fused recurrent pass, then attention batched over all target steps. With
//! input feeding or scheduled sampling (`train.teacher_forcing < 1`), it runs step by step.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::{AttentionName, ModelConfig};
use rnnzoo_models::{Recurrent, RecurrentState, linear};
use rnnzoo_train::model::{cell_kind, recurrent_config};

/// The attention scorer's weights.
#[derive(Module, Debug)]
pub struct Attention {
    /// `general`: `W_a` as a `Linear(H_dec -> C)`, so `score = (W_a d_t) · e_s`.
    pub general: Option<Linear>,
    /// `bahdanau`: `W_q`, `Linear(H_dec -> A)` without bias.
    pub query: Option<Linear>,
    /// `bahdanau`: `W_k` and `b`, `Linear(C -> A)`.
    pub key: Option<Linear>,
    /// `bahdanau`: `v`, `Linear(A -> 1)` without bias.
    pub score: Option<Linear>,
    /// `W_c`: `Linear(C + H_dec -> H_dec)` without bias.
    pub combine: Linear,
}

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
    /// Target embeddings.
    pub target_embedding: Embedding,
    /// The decoder stack (unidirectional).
    pub decoder: Recurrent,
    /// Attention, unless `none`.
    pub attention: Option<Attention>,
    /// Dropout on embeddings and on `h̃` before the output layer.
    pub dropout: Dropout,
    /// `W_o`, `b_o`.
    pub output: Linear,
    /// How the decoder attends.
    #[module(skip)]
    pub attention_kind: AttentionName,
    /// Whether `h̃_{t-1}` joins the decoder's input.
    pub input_feeding: bool,
}

/// The encoder's view of a batch of sources.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// `e_s`: `[B, S, C]`, zero at padding.
    pub outputs: Tensor<3>,
    /// `0` at real source positions, a large negative number at padding: `[B, 1, S]`.
    pub mask: Tensor<3>,
    /// The decoder's initial state.
    pub initial: RecurrentState,
    /// True source lengths.
    pub lengths: Vec<usize>,
}

/// Added to the scores of padded source positions (`exp` of it is 0 in `f32`).
const MASKED: f32 = -1e9;

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
        let attention_kind = config.attention.unwrap_or(AttentionName::General);
        let input_feeding = config.input_feeding && attention_kind != AttentionName::None;
        let decoder_input = embedding + if input_feeding { hidden } else { 0 };
        let mut decoder = recurrent_config(config, decoder_input).with_bidirectional(false);
        decoder.hidden_size = hidden;
        let decoder = decoder.init(device);
        let has_cell = cell_kind(config).has_cell_state();
        let bridge = (config.bidirectional || context != hidden).then(|| Bridge {
            hidden: LinearConfig::new(context, hidden).init(device),
            cell: has_cell.then(|| LinearConfig::new(context, hidden).init(device)),
        });
        let no_bias = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        let attention = match attention_kind {
            AttentionName::None => None,
            kind => Some(Attention {
                general: (kind == AttentionName::General).then(|| no_bias(hidden, context)),
                query: (kind == AttentionName::Bahdanau).then(|| no_bias(hidden, hidden)),
                key: (kind == AttentionName::Bahdanau)
                    .then(|| LinearConfig::new(context, hidden).init(device)),
                score: (kind == AttentionName::Bahdanau).then(|| no_bias(hidden, 1)),
                combine: no_bias(context + hidden, hidden),
            }),
        };
        Self {
            source_embedding: EmbeddingConfig::new(source_vocab, embedding).init(device),
            encoder,
            bridge,
            target_embedding: EmbeddingConfig::new(target_vocab, embedding).init(device),
            decoder,
            attention,
            dropout: DropoutConfig::new(config.dropout).init(),
            output: LinearConfig::new(hidden, target_vocab).init(device),
            attention_kind,
            input_feeding,
        }
    }

    /// Size of `h̃` (the decoder's hidden size).
    pub fn hidden_size(&self) -> usize {
        self.decoder.hidden_size()
    }

    /// Target vocabulary size.
    pub fn target_vocab(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Encodes right-padded source ids `[B, S]` with their true `lengths`.
    pub fn encode(&self, source: Tensor<2, Int>, lengths: &[usize]) -> Encoded {
        let [batch, steps] = source.dims();
        let device = source.device();
        let embedded = self.dropout.forward(self.source_embedding.forward(source));
        let (outputs, state) = self.encoder.forward(embedded, None, Some(lengths));
        let mask: Vec<f32> = lengths
            .iter()
            .flat_map(|&l| (0..steps).map(move |s| if s < l { 0.0 } else { MASKED }))
            .collect();
        let mask = Tensor::from_data(TensorData::new(mask, [batch, 1, steps]), &device);
        Encoded {
            outputs,
            mask,
            initial: self.bridge_state(state),
            lengths: lengths.to_vec(),
        }
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
        let Some(att) = &self.attention else {
            return (decoded, None);
        };
        let keys = encoded.outputs.clone(); // [B, S, C]
        let scores = match self.attention_kind {
            AttentionName::Dot => decoded.clone().matmul(keys.clone().swap_dims(1, 2)),
            AttentionName::General => {
                let general = att.general.as_ref().expect("general attention has W_a");
                linear(general, decoded.clone()).matmul(keys.clone().swap_dims(1, 2))
            }
            AttentionName::Bahdanau => {
                let (query, key, score) = (
                    att.query.as_ref().expect("W_q"),
                    att.key.as_ref().expect("W_k"),
                    att.score.as_ref().expect("v"),
                );
                let [batch, steps, _] = decoded.dims();
                let sources = keys.dims()[1];
                let q = linear(query, decoded.clone()).unsqueeze_dim::<4>(2); // [B, T, 1, A]
                let k = linear(key, keys.clone()).unsqueeze_dim::<4>(1); // [B, 1, S, A]
                linear(score, (q + k).tanh()).reshape([batch, steps, sources])
            }
            AttentionName::None => unreachable!("handled above"),
        };
        let weights = softmax(scores + encoded.mask.clone(), 2); // [B, T, S]
        let context = weights.clone().matmul(keys); // [B, T, C]
        let combined = linear(&att.combine, Tensor::cat(vec![context, decoded], 2)).tanh();
        (combined, Some(weights))
    }

    /// `h̃` for every target step under full teacher forcing: the decoder reads `<s>` and the
    /// target shifted right (`target_in [B, T]`). `[B, T, H]`.
    pub fn decode_teacher_forced(&self, encoded: &Encoded, target_in: Tensor<2, Int>) -> Tensor<3> {
        if self.input_feeding {
            return self.decode_steps(encoded, target_in, None);
        }
        let embedded = self
            .dropout
            .forward(self.target_embedding.forward(target_in));
        let (decoded, _) = self
            .decoder
            .forward(embedded, Some(encoded.initial.clone()), None);
        self.attend(decoded, encoded).0
    }

    /// `h̃` for every target step, running the decoder one step at a time. With `sample`
    /// (scheduled sampling), the input at step `t > 0` is, per row, the model's own most
    /// probable word at `t - 1` where `sample(t, row)` says so, else the true one.
    pub fn decode_steps(
        &self,
        encoded: &Encoded,
        target_in: Tensor<2, Int>,
        mut sample: Option<&mut dyn FnMut(usize, usize) -> bool>,
    ) -> Tensor<3> {
        let [batch, steps] = target_in.dims();
        let device = target_in.device();
        let hidden = self.hidden_size();
        let truth: Vec<i64> = target_in
            .clone()
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .expect("int ids");
        let mut state = encoded.initial.clone();
        let mut previous: Option<Tensor<2>> = None; // h̃_{t-1}
        let mut predicted: Vec<i64> = Vec::new();
        let mut outputs = Vec::with_capacity(steps);
        for t in 0..steps {
            let ids: Vec<i64> = (0..batch)
                .map(|b| {
                    let own = t > 0 && sample.as_mut().is_some_and(|s| s(t, b));
                    if own {
                        predicted[b]
                    } else {
                        truth[b * steps + t]
                    }
                })
                .collect();
            let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, 1]), &device);
            let embedded = self
                .dropout
                .forward(self.target_embedding.forward(ids))
                .reshape([batch, self.target_embedding.weight.dims()[1]]);
            let input = match (&previous, self.input_feeding) {
                (Some(p), true) => Tensor::cat(vec![embedded, p.clone()], 1),
                (None, true) => {
                    Tensor::cat(vec![embedded, Tensor::zeros([batch, hidden], &device)], 1)
                }
                (_, false) => embedded,
            };
            let (mut out, next) =
                self.decoder
                    .forward_steps(vec![input], Some(state), None, &device);
            state = next;
            let decoded = out.pop().expect("one step").unsqueeze_dim::<3>(1);
            let (attended, _) = self.attend(decoded, encoded);
            let attended = attended.reshape([batch, hidden]);
            if sample.is_some() {
                let logits = linear(&self.output, attended.clone().detach());
                predicted = logits
                    .argmax(1)
                    .into_data()
                    .convert::<i64>()
                    .try_into_vec()
                    .expect("int ids");
            }
            previous = Some(attended.clone());
            outputs.push(attended);
        }
        Tensor::stack(outputs, 1)
    }

    /// Logits `[N, V]` of the `h̃` rows at the flat positions `rows` of `[B·T, H]` (the real,
    /// non-padding target positions), after dropout.
    pub fn logits_at(&self, attended: Tensor<3>, rows: &[usize]) -> Tensor<2> {
        let [batch, steps, hidden] = attended.dims();
        let device = attended.device();
        let flat = attended.reshape([batch * steps, hidden]);
        let index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [rows.len()]), &device);
        let picked = flat.select(0, index);
        linear(&self.output, self.dropout.forward(picked))
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
        let batch = pairs.len();
        let sources: Vec<&[usize]> = pairs.iter().map(|(s, _)| *s).collect();
        let (source, source_lengths) = pad_sources(&sources, device);
        let t_max = pairs.iter().map(|(_, t)| t.len() + 1).max().unwrap_or(1);
        let mut target_in = vec![PAD as i64; batch * t_max];
        let (mut targets, mut rows) = (Vec::new(), Vec::new());
        for (b, (_, t)) in pairs.iter().enumerate() {
            target_in[b * t_max] = BOS as i64;
            for (i, &id) in t.iter().enumerate() {
                target_in[b * t_max + i + 1] = id as i64;
            }
            for (i, &id) in t.iter().chain(std::iter::once(&EOS)).enumerate() {
                targets.push(id as i64);
                rows.push(b * t_max + i);
            }
        }
        let n = targets.len();
        Self {
            source,
            source_lengths,
            target_in: Tensor::from_data(TensorData::new(target_in, [batch, t_max]), device),
            targets: Tensor::from_data(TensorData::new(targets, [n]), device),
            rows,
        }
    }
}

/// Mean cross-entropy of `logits [N, V]` against `targets [N]` with label smoothing `ε`
/// (PyTorch's `label_smoothing`: `(1 - ε) · NLL + ε · mean_j(-log p_j)`).
pub fn smoothed_cross_entropy(
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    epsilon: f64,
) -> Tensor<1> {
    let nll = rnnzoo_models::cross_entropy(logits.clone(), targets);
    if epsilon == 0.0 {
        return nll;
    }
    let uniform = burn::tensor::activation::log_softmax(logits, 1)
        .mean()
        .neg()
        .reshape([1]);
    nll.mul_scalar(1.0 - epsilon) + uniform.mul_scalar(epsilon)
}
