//! An attentional recurrent decoder (Luong et al. 2015), shared by the encoder-decoder of
//! translation and the image captioner: both hand it a [`Memory`] (what to attend over, and the
//! decoder's initial state) and train or decode it the same way.
//!
//! - Input: the target embedding `x_t = E[y_{t-1}]` (`[E[y]; h̃_{t-1}]` with input feeding);
//!   step 0 reads `E[<s>]`, or the memory's `first_input` vector where it has one (the image
//!   as the first word, as in Show and Tell).
//! - Recurrent stack (any cell, unidirectional) from the memory's initial state: `d_t`.
//! - Attention over the memory rows `m_s` (size `C`, padding masked):
//!   `a_t = softmax_s(score(d_t, m_s))`, the context `c_t = Σ_s a_ts m_s`, and the attentional
//!   state `h̃_t = tanh(W_c [c_t; d_t])` (Luong's eq. 5); without attention `h̃_t = d_t`.
//!   Scores: `dot` `d_t · m_s`; `general` `d_t · W_a m_s`; `bahdanau` (additive)
//!   `v · tanh(W_q d_t + W_k m_s + b)`, all on the decoder's current state as in Luong et al.
//!   and OpenNMT (whose `mlp` is the additive one).
//! - Output: `logits_t = W_o h̃_t + b_o` over the vocabulary.
//!
//! Training runs the decoder over the whole target at once when it can (full teacher forcing, no
//! input feeding): one fused recurrent pass, then attention batched over all target steps. With
//! input feeding or scheduled sampling it runs step by step ([`AttentionDecoder::decode_steps`]).
//! Inference runs on host buffers through [`crate::decode`].

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{Recurrent, RecurrentConfig, RecurrentState, linear};

/// How a decoder scores the memory rows against its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttentionKind {
    /// No attention: the decoder sees the memory only through its initial state.
    None,
    /// `d_t · m_s`; needs the memory's size equal to the decoder's hidden size.
    Dot,
    /// `d_t · W_a m_s` (Luong's `general`).
    #[default]
    General,
    /// `v · tanh(W_q d_t + W_k m_s + b)` (additive, Bahdanau et al. 2015).
    Bahdanau,
}

impl AttentionKind {
    /// The name configs write.
    pub fn name(self) -> &'static str {
        match self {
            AttentionKind::None => "none",
            AttentionKind::Dot => "dot",
            AttentionKind::General => "general",
            AttentionKind::Bahdanau => "bahdanau",
        }
    }
}

/// The attention scorer's weights.
#[derive(Module, Debug)]
pub struct Attention {
    /// `general`: `W_a` as a `Linear(H -> C)`, so `score = (W_a d_t) · m_s`.
    pub general: Option<Linear>,
    /// `bahdanau`: `W_q`, `Linear(H -> H)` without bias.
    pub query: Option<Linear>,
    /// `bahdanau`: `W_k` and `b`, `Linear(C -> H)`.
    pub key: Option<Linear>,
    /// `bahdanau`: `v`, `Linear(H -> 1)` without bias.
    pub score: Option<Linear>,
    /// `W_c`: `Linear(C + H -> H)` without bias.
    pub combine: Linear,
}

/// What a decoder reads besides its own words.
#[derive(Clone, Debug)]
pub struct Memory {
    /// `m_s`: `[B, S, C]`, zero at padding (empty, `S = 0`, is allowed without attention).
    pub outputs: Tensor<3>,
    /// `0` at real positions, a large negative number at padding: `[B, 1, S]`.
    pub mask: Tensor<3>,
    /// The decoder's initial state.
    pub initial: RecurrentState,
    /// True memory lengths (rows of `outputs` in use per item).
    pub lengths: Vec<usize>,
    /// `[B, E]`: fed at step 0 in place of the `<s>` embedding, when present.
    pub first_input: Option<Tensor<2>>,
}

/// Added to the scores of padded positions (`exp` of it is 0 in `f32`).
const MASKED: f32 = -1e9;

impl Memory {
    /// A memory of `outputs [B, S, C]` whose item `b` uses its first `lengths[b]` rows.
    pub fn new(outputs: Tensor<3>, lengths: &[usize], initial: RecurrentState) -> Self {
        let [batch, steps, _] = outputs.dims();
        let device = outputs.device();
        let mask: Vec<f32> = lengths
            .iter()
            .flat_map(|&l| (0..steps).map(move |s| if s < l { 0.0 } else { MASKED }))
            .collect();
        let mask = Tensor::from_data(TensorData::new(mask, [batch, 1, steps]), &device);
        Self {
            outputs,
            mask,
            initial,
            lengths: lengths.to_vec(),
            first_input: None,
        }
    }

    /// Items in the batch.
    pub fn batch(&self) -> usize {
        self.outputs.dims()[0]
    }
}

/// The sizes of an [`AttentionDecoder`].
#[derive(Clone, Debug)]
pub struct AttentionDecoderConfig {
    /// The recurrent stack; its input size is set from `embedding` (and input feeding).
    pub recurrent: RecurrentConfig,
    /// Vocabulary size.
    pub vocab: usize,
    /// Embedding size `E`.
    pub embedding: usize,
    /// Memory row size `C`.
    pub memory: usize,
    /// How it attends.
    pub attention: AttentionKind,
    /// Whether `h̃_{t-1}` joins the input (ignored without attention).
    pub input_feeding: bool,
    /// Dropout on the embeddings and on `h̃` before the output layer.
    pub dropout: f64,
}

impl AttentionDecoderConfig {
    /// A fresh decoder.
    ///
    /// # Panics
    /// When `dot` attention is asked for with a memory size other than the hidden size.
    pub fn init(&self, device: &Device) -> AttentionDecoder {
        let hidden = self.recurrent.hidden_size;
        let kind = self.attention;
        assert!(
            kind != AttentionKind::Dot || self.memory == hidden,
            "dot attention needs the memory size ({}) equal to the hidden size ({hidden})",
            self.memory
        );
        let input_feeding = self.input_feeding && kind != AttentionKind::None;
        let mut recurrent = self.recurrent.clone().with_bidirectional(false);
        recurrent.input_size = self.embedding + if input_feeding { hidden } else { 0 };
        let context = self.memory;
        let no_bias = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        let attention = match kind {
            AttentionKind::None => None,
            kind => Some(Attention {
                general: (kind == AttentionKind::General).then(|| no_bias(hidden, context)),
                query: (kind == AttentionKind::Bahdanau).then(|| no_bias(hidden, hidden)),
                key: (kind == AttentionKind::Bahdanau)
                    .then(|| LinearConfig::new(context, hidden).init(device)),
                score: (kind == AttentionKind::Bahdanau).then(|| no_bias(hidden, 1)),
                combine: no_bias(context + hidden, hidden),
            }),
        };
        AttentionDecoder {
            embedding: EmbeddingConfig::new(self.vocab, self.embedding).init(device),
            recurrent: recurrent.init(device),
            attention,
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(hidden, self.vocab).init(device),
            kind,
            input_feeding,
        }
    }
}

/// An attentional recurrent decoder (see the module's equations).
#[derive(Module, Debug)]
pub struct AttentionDecoder {
    /// Word embeddings.
    pub embedding: Embedding,
    /// The recurrent stack (unidirectional).
    pub recurrent: Recurrent,
    /// Attention, unless `none`.
    pub attention: Option<Attention>,
    /// Dropout on embeddings and on `h̃` before the output layer.
    pub dropout: Dropout,
    /// `W_o`, `b_o`.
    pub output: Linear,
    /// How it attends.
    #[module(skip)]
    pub kind: AttentionKind,
    /// Whether `h̃_{t-1}` joins the input.
    pub input_feeding: bool,
}

impl AttentionDecoder {
    /// Size of `h̃` (the hidden size).
    pub fn hidden_size(&self) -> usize {
        self.recurrent.hidden_size()
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Embedding size.
    pub fn embedding_size(&self) -> usize {
        self.embedding.weight.dims()[1]
    }

    /// `h̃` for decoder outputs `d [B, T, H]`, and the attention weights `[B, T, S]`.
    pub fn attend(&self, decoded: Tensor<3>, memory: &Memory) -> (Tensor<3>, Option<Tensor<3>>) {
        let Some(att) = &self.attention else {
            return (decoded, None);
        };
        let keys = memory.outputs.clone(); // [B, S, C]
        let scores = match self.kind {
            AttentionKind::Dot => decoded.clone().matmul(keys.clone().swap_dims(1, 2)),
            AttentionKind::General => {
                let general = att.general.as_ref().expect("general attention has W_a");
                linear(general, decoded.clone()).matmul(keys.clone().swap_dims(1, 2))
            }
            AttentionKind::Bahdanau => {
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
            AttentionKind::None => unreachable!("handled above"),
        };
        let weights = softmax(scores + memory.mask.clone(), 2); // [B, T, S]
        let context = weights.clone().matmul(keys); // [B, T, C]
        let combined = linear(&att.combine, Tensor::cat(vec![context, decoded], 2)).tanh();
        (combined, Some(weights))
    }

    /// Embeddings of `ids [B, T]` after dropout, with step 0 replaced by the memory's
    /// `first_input` where it has one. `[B, T, E]`.
    fn embed(&self, ids: Tensor<2, Int>, memory: &Memory, first_step: bool) -> Tensor<3> {
        let embedded = self.embedding.forward(ids);
        let embedded = match (&memory.first_input, first_step) {
            (Some(first), true) => {
                let [batch, steps, e] = embedded.dims();
                let first = first.clone().reshape([batch, 1, e]);
                if steps == 1 {
                    first
                } else {
                    Tensor::cat(vec![first, embedded.narrow(1, 1, steps - 1)], 1)
                }
            }
            _ => embedded,
        };
        self.dropout.forward(embedded)
    }

    /// `h̃` for every step under full teacher forcing: the decoder reads `<s>` (or the
    /// memory's first input) and the target shifted right (`target_in [B, T]`). `[B, T, H]`.
    pub fn teacher_forced(&self, memory: &Memory, target_in: Tensor<2, Int>) -> Tensor<3> {
        self.teacher_forced_attending(memory, target_in).0
    }

    /// As [`AttentionDecoder::teacher_forced`], with the attention weights `[B, T, S]` of every
    /// step (`None` without attention).
    pub fn teacher_forced_attending(
        &self,
        memory: &Memory,
        target_in: Tensor<2, Int>,
    ) -> (Tensor<3>, Option<Tensor<3>>) {
        if self.input_feeding {
            return self.decode_steps_attending(memory, target_in, None);
        }
        let embedded = self.embed(target_in, memory, true);
        let (decoded, _) = self
            .recurrent
            .forward(embedded, Some(memory.initial.clone()), None);
        self.attend(decoded, memory)
    }

    /// `h̃` for every step, running the decoder one step at a time. With `sample`
    /// (scheduled sampling), the input at step `t > 0` is, per row, the model's own most
    /// probable word at `t - 1` where `sample(t, row)` says so, else the true one.
    pub fn decode_steps(
        &self,
        memory: &Memory,
        target_in: Tensor<2, Int>,
        sample: Option<&mut dyn FnMut(usize, usize) -> bool>,
    ) -> Tensor<3> {
        self.decode_steps_attending(memory, target_in, sample).0
    }

    /// As [`AttentionDecoder::decode_steps`], with the attention weights `[B, T, S]` of every
    /// step (`None` without attention).
    pub fn decode_steps_attending(
        &self,
        memory: &Memory,
        target_in: Tensor<2, Int>,
        mut sample: Option<&mut dyn FnMut(usize, usize) -> bool>,
    ) -> (Tensor<3>, Option<Tensor<3>>) {
        let [batch, steps] = target_in.dims();
        let device = target_in.device();
        let hidden = self.hidden_size();
        let truth: Vec<i64> = target_in
            .clone()
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .expect("int ids");
        let mut state = memory.initial.clone();
        let mut previous: Option<Tensor<2>> = None; // h̃_{t-1}
        let mut predicted: Vec<i64> = Vec::new();
        let mut outputs = Vec::with_capacity(steps);
        let mut weights = Vec::with_capacity(steps);
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
                .embed(ids, memory, t == 0)
                .reshape([batch, self.embedding_size()]);
            let input = match (&previous, self.input_feeding) {
                (Some(p), true) => Tensor::cat(vec![embedded, p.clone()], 1),
                (None, true) => {
                    Tensor::cat(vec![embedded, Tensor::zeros([batch, hidden], &device)], 1)
                }
                (_, false) => embedded,
            };
            let (mut out, next) =
                self.recurrent
                    .forward_steps(vec![input], Some(state), None, &device);
            state = next;
            let decoded = out.pop().expect("one step").unsqueeze_dim::<3>(1);
            let (attended, step_weights) = self.attend(decoded, memory);
            weights.extend(step_weights);
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
        let weights = (!weights.is_empty()).then(|| Tensor::cat(weights, 1));
        (Tensor::stack(outputs, 1), weights)
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

/// Teacher-forcing inputs and targets of a batch of target sequences.
pub struct TargetBatch {
    /// Decoder inputs `[B, T]`: `<s>` (or the row's start token) then the target, right-padded
    /// with `pad`.
    pub target_in: Tensor<2, Int>,
    /// The targets at the real positions (the target then `</s>`), flattened in `[B·T]` order.
    pub targets: Tensor<1, Int>,
    /// Where those targets sit in the flattened `[B·T]` decoder steps.
    pub rows: Vec<usize>,
}

impl TargetBatch {
    /// The batch of `targets` (ids without `<s>`/`</s>`) with these special ids.
    pub fn new(targets: &[&[usize]], bos: usize, eos: usize, pad: usize, device: &Device) -> Self {
        Self::with_starts(targets, &vec![bos; targets.len()], eos, pad, device)
    }

    /// As [`TargetBatch::new`], each target with its own first input `starts[b]` in place of
    /// `<s>` (a start token per caption style or target language).
    pub fn with_starts(
        targets: &[&[usize]],
        starts: &[usize],
        eos: usize,
        pad: usize,
        device: &Device,
    ) -> Self {
        assert_eq!(starts.len(), targets.len(), "one start token per target");
        let batch = targets.len();
        let t_max = targets.iter().map(|t| t.len() + 1).max().unwrap_or(1);
        let mut target_in = vec![pad as i64; batch * t_max];
        let (mut ids, mut rows) = (Vec::new(), Vec::new());
        for (b, t) in targets.iter().enumerate() {
            target_in[b * t_max] = starts[b] as i64;
            for (i, &id) in t.iter().enumerate() {
                target_in[b * t_max + i + 1] = id as i64;
            }
            for (i, &id) in t.iter().chain(std::iter::once(&eos)).enumerate() {
                ids.push(id as i64);
                rows.push(b * t_max + i);
            }
        }
        let n = ids.len();
        Self {
            target_in: Tensor::from_data(TensorData::new(target_in, [batch, t_max]), device),
            targets: Tensor::from_data(TensorData::new(ids, [n]), device),
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
    let nll = crate::cross_entropy(logits.clone(), targets);
    if epsilon == 0.0 {
        return nll;
    }
    let uniform = burn::tensor::activation::log_softmax(logits, 1)
        .mean()
        .neg()
        .reshape([1]);
    nll.mul_scalar(1.0 - epsilon) + uniform.mul_scalar(epsilon)
}

/// Xu et al.'s (2015) doubly stochastic attention penalty, per target word: a decoder should
/// attend to every memory row about equally often over a whole target, so with `s_bi = Σ_t
/// α_bti` the weight row `i` of item `b` receives over its `T_b` real steps (`weights [B, T,
/// S]`, `rows` the flat `[B·T]` positions of the real steps as in [`TargetBatch`]) and `S_b`
/// its memory length,
///
/// `Σ_b Σ_{i < S_b} (s_bi − T_b / S_b)² / Σ_b T_b`.
///
/// Xu et al. write `Σ_i (1 − s_i)²`; since `Σ_i s_i = T_b` the two differ by a constant per
/// item, `S_b (1 − T_b/S_b)²`, so they have the same gradient, and this one is 0 when attention
/// is spread evenly instead of a number that grows with the image. Divided by the words, as
/// the cross-entropy it joins is a mean per word, the ratio of the two is Xu et al.'s (their
/// cost sums both over a caption): a weight `λ = 1` is theirs.
pub fn coverage_penalty(weights: Tensor<3>, rows: &[usize], lengths: &[usize]) -> Tensor<1> {
    let [batch, steps, sources] = weights.dims();
    assert_eq!(lengths.len(), batch, "one memory length per item");
    let device = weights.device();
    let mut real = vec![0.0f32; batch * steps];
    let mut words = vec![0usize; batch];
    for &r in rows {
        real[r] = 1.0;
        words[r / steps] += 1;
    }
    let even: Vec<f32> = (0..batch)
        .flat_map(|b| {
            let (t, l) = (words[b] as f32, lengths[b]);
            (0..sources).map(move |i| if i < l { t / l as f32 } else { 0.0 })
        })
        .collect();
    let real = Tensor::<3>::from_data(TensorData::new(real, [batch, steps, 1]), &device);
    let even = Tensor::<2>::from_data(TensorData::new(even, [batch, sources]), &device);
    let received = (weights * real).sum_dim(1).reshape([batch, sources]);
    let spread = received - even;
    (spread.clone() * spread)
        .sum()
        .reshape([1])
        .div_scalar(rows.len().max(1) as f64)
}
