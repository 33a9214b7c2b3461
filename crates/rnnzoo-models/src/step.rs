//! Step-by-step inference for generation and decoding, without autodiff and without Burn
//! operations per step: a trained model's weights are copied to host buffers once
//! ([`Recurrent::stepper`], [`TokenDecoder`]) and every step then runs
//! `rnnzoo_kernels::step`, which reuses its buffers (see there). Works from any device's
//! tensors (the weights are read once); the stepping itself runs on the CPU.

use burn::nn::{Embedding, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use rnnzoo_kernels::step::{LayerParameters, StackStepper, StepProjection};

use crate::fused::kernel_cell;
use crate::recurrent::{Recurrent, RecurrentState};

/// A tensor's values, row-major.
fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

impl Recurrent {
    /// The stack's weights on the host, ready to run one step at a time for `batch` rows from
    /// zero states. Dropout between layers is off (inference).
    ///
    /// # Panics
    /// When the stack is bidirectional: a backward direction needs the whole sequence.
    pub fn stepper(&self, batch: usize) -> StackStepper {
        assert!(
            !self.bidirectional,
            "a bidirectional stack cannot run step by step"
        );
        let hidden = self.hidden_size();
        let layers = self
            .cells
            .iter()
            .map(|w| LayerParameters {
                cell: kernel_cell(self.cell),
                input: w.input_size(),
                hidden,
                weight_ih: host_values(w.weight_ih.val()),
                weight_hh: host_values(w.weight_hh.val()),
                bias_ih: w
                    .bias_ih
                    .as_ref()
                    .map_or(Vec::new(), |b| host_values(b.val())),
                bias_hh: w
                    .bias_hh
                    .as_ref()
                    .map_or(Vec::new(), |b| host_values(b.val())),
                peephole: w
                    .peephole
                    .as_ref()
                    .map_or(Vec::new(), |p| host_values(p.val())),
            })
            .collect();
        StackStepper::new(layers, batch)
    }
}

/// Embedding lookup, a unidirectional recurrent stack and an output layer, one token per row
/// and step: what sampling from a language model or a decoder runs per token. A step
/// allocates nothing.
#[derive(Debug)]
pub struct TokenDecoder {
    /// `[V, E]` embedding rows.
    embedding: Vec<f32>,
    embedding_size: usize,
    stack: StackStepper,
    output: StepProjection,
    /// `[B, E]` the step's embedded tokens.
    input: Vec<f32>,
}

impl TokenDecoder {
    /// A decoder for `batch` rows from `embedding`, `rnn` and the output layer
    /// `logits = h · output_weight + output_bias` (`output_weight [H, V]`: a `Linear`'s weight,
    /// see [`TokenDecoder::with_linear`], or the transposed embedding for tied weights).
    ///
    /// # Panics
    /// When the sizes disagree or `rnn` is bidirectional.
    pub fn new(
        embedding: &Embedding,
        rnn: &Recurrent,
        output_weight: Tensor<2>,
        output_bias: Option<Tensor<1>>,
        batch: usize,
    ) -> Self {
        let [_, embedding_size] = embedding.weight.dims();
        let stack = rnn.stepper(batch);
        assert_eq!(
            stack.input_size(),
            embedding_size,
            "the stack's input size must be the embedding size"
        );
        let [hidden, _] = output_weight.dims();
        assert_eq!(
            hidden,
            rnn.output_size(),
            "the output layer's input size must be the stack's hidden size"
        );
        Self {
            embedding: host_values(embedding.weight.val()),
            embedding_size,
            stack,
            output: StepProjection::new(
                host_values(output_weight),
                hidden,
                output_bias.map_or(Vec::new(), host_values),
                batch,
            ),
            input: vec![0.0; batch * embedding_size],
        }
    }

    /// A decoder whose output layer is `output`.
    pub fn with_linear(
        embedding: &Embedding,
        rnn: &Recurrent,
        output: &Linear,
        batch: usize,
    ) -> Self {
        Self::new(
            embedding,
            rnn,
            output.weight.val(),
            output.bias.as_ref().map(|b| b.val()),
            batch,
        )
    }

    /// Rows per step.
    pub fn batch(&self) -> usize {
        self.stack.batch()
    }

    /// Vocabulary size (logits per row).
    pub fn vocab_size(&self) -> usize {
        self.output.outputs()
    }

    /// Sets every state to zero.
    pub fn reset(&mut self) {
        self.stack.reset();
    }

    /// Starts from `state` (`[layers, B, H]`, as [`Recurrent::forward`] returns it).
    ///
    /// # Panics
    /// When the state's shape does not match.
    pub fn set_state(&mut self, state: &RecurrentState) {
        let layers = self.stack.num_layers();
        let [l, b, h] = state.hidden.dims();
        assert_eq!(
            [l, b, h],
            [layers, self.batch(), self.stack.hidden_size(0)],
            "the state is not [layers, batch, H]"
        );
        let hidden = host_values(state.hidden.clone());
        let cell = state.cell.clone().map(host_values);
        let per_layer = b * h;
        for layer in 0..layers {
            let rows = layer * per_layer..(layer + 1) * per_layer;
            let c = cell.as_ref().map_or(&[][..], |c| &c[rows.clone()]);
            self.stack.set_state(layer, &hidden[rows], c);
        }
    }

    /// The current state, `[layers, B, H]` on `device`.
    pub fn state(&self, device: &Device) -> RecurrentState {
        let layers = self.stack.num_layers();
        let (b, h) = (self.batch(), self.stack.hidden_size(0));
        let (mut hidden, mut cell) = (Vec::new(), Vec::new());
        for l in 0..layers {
            let (hl, cl) = self.stack.state(l);
            hidden.extend_from_slice(hl);
            cell.extend_from_slice(cl);
        }
        let tensor = |values: Vec<f32>| {
            Tensor::<3>::from_data(TensorData::new(values, [layers, b, h]), device)
        };
        RecurrentState {
            hidden: tensor(hidden),
            cell: (!cell.is_empty()).then(|| tensor(cell)),
        }
    }

    /// Feeds one token per row and returns the logits of the next token, `[B, V]`.
    ///
    /// # Panics
    /// When `tokens` does not hold one id per row, or an id is outside the vocabulary.
    pub fn step(&mut self, tokens: &[usize]) -> &[f32] {
        assert_eq!(tokens.len(), self.batch(), "one token per row");
        let e = self.embedding_size;
        for (row, &token) in self.input.chunks_exact_mut(e).zip(tokens) {
            row.copy_from_slice(&self.embedding[token * e..(token + 1) * e]);
        }
        let hidden = self.stack.step(&self.input);
        self.output.apply(hidden)
    }
}
