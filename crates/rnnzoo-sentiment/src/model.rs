//! The classifier: embedding -> recurrent encoder -> pooling over the true lengths -> dropout ->
//! linear layer to class logits.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::{ModelConfig, Pooling};
use rnnzoo_models::Recurrent;
use rnnzoo_train::model::recurrent_config;

/// Attention pooling (Bahdanau-style scorer): `a = softmax_t(v · tanh(W o_t + b))` over the
/// valid steps, pooled vector `Σ_t a_t o_t`.
#[derive(Module, Debug)]
pub struct AttentionPool {
    /// `W`, `b`.
    pub projection: Linear,
    /// `v`.
    pub score: Linear,
}

/// A recurrent text classifier.
#[derive(Module, Debug)]
pub struct Classifier {
    /// Token embeddings.
    pub embedding: Embedding,
    /// The encoder.
    pub rnn: Recurrent,
    /// The attention scorer, for `pooling: attention`.
    pub attention: Option<AttentionPool>,
    /// Dropout on the pooled vector.
    pub dropout: Dropout,
    /// Pooled vector to class logits.
    pub head: Linear,
    /// How outputs are pooled.
    #[module(skip)]
    pub pooling: Pooling,
}

impl Classifier {
    /// A freshly initialised classifier.
    pub fn new(config: &ModelConfig, vocab_size: usize, classes: usize, device: &Device) -> Self {
        let rnn = recurrent_config(config, config.embedding.size).init(device);
        let width = rnn.output_size();
        let attention = (config.pooling == Pooling::Attention).then(|| AttentionPool {
            projection: LinearConfig::new(width, width).init(device),
            score: LinearConfig::new(width, 1).with_bias(false).init(device),
        });
        Self {
            embedding: EmbeddingConfig::new(vocab_size, config.embedding.size).init(device),
            rnn,
            attention,
            dropout: DropoutConfig::new(config.dropout).init(),
            head: LinearConfig::new(width, classes).init(device),
            pooling: config.pooling,
        }
    }

    /// Class logits `[B, C]` for right-padded tokens `[B, T]` with true `lengths`.
    pub fn forward(&self, tokens: Tensor<2, Int>, lengths: &[usize]) -> Tensor<2> {
        let [batch, steps] = tokens.dims();
        let device = tokens.device();
        let (outputs, state) =
            self.rnn
                .forward(self.embedding.forward(tokens), None, Some(lengths));
        let width = self.rnn.output_size();
        // valid[b, t] = 1 for real steps, 0 for padding.
        let valid: Vec<f32> = lengths
            .iter()
            .flat_map(|&l| (0..steps).map(move |t| (t < l) as u8 as f32))
            .collect();
        let valid = Tensor::<3>::from_data(TensorData::new(valid, [batch, steps, 1]), &device);
        let pooled = match self.pooling {
            Pooling::Last => {
                // The final states of the last layer's directions: each at its sequence's end.
                let dirs = self.rnn.num_directions();
                let total = state.hidden.dims()[0];
                let last = state.hidden.narrow(0, total - dirs, dirs); // [D, B, H]
                last.swap_dims(0, 1).reshape([batch, width])
            }
            Pooling::Mean => {
                let len: Vec<f32> = lengths.iter().map(|&l| l as f32).collect();
                let len = Tensor::<2>::from_data(TensorData::new(len, [batch, 1]), &device);
                outputs.sum_dim(1).reshape([batch, width]) / len
            }
            Pooling::Max => {
                // Padded steps get a large negative value so they never win the maximum.
                let masked = outputs + valid.sub_scalar(1.0).mul_scalar(1e9);
                masked.max_dim(1).reshape([batch, width])
            }
            Pooling::Attention => {
                let attention = self
                    .attention
                    .as_ref()
                    .expect("attention pooling has a scorer");
                let scores = attention
                    .score
                    .forward(rnnzoo_models::linear(&attention.projection, outputs.clone()).tanh());
                let scores = scores + valid.sub_scalar(1.0).mul_scalar(1e9);
                let weights = softmax(scores, 1); // [B, T, 1]
                (outputs * weights).sum_dim(1).reshape([batch, width])
            }
        };
        rnnzoo_models::linear(&self.head, self.dropout.forward(pooled))
    }

    /// Class probabilities `[B, C]`.
    pub fn probabilities(&self, tokens: Tensor<2, Int>, lengths: &[usize]) -> Tensor<2> {
        softmax(self.forward(tokens, lengths), 1)
    }
}

/// Right-pads token id sequences into a `[B, T]` tensor; returns it and the lengths.
pub fn pad_batch(sequences: &[&[usize]], device: &Device) -> (Tensor<2, Int>, Vec<usize>) {
    let lengths: Vec<usize> = sequences.iter().map(|s| s.len().max(1)).collect();
    let steps = lengths.iter().copied().max().unwrap_or(1);
    let mut ids = vec![0i64; sequences.len() * steps];
    for (b, s) in sequences.iter().enumerate() {
        for (t, &id) in s.iter().enumerate() {
            ids[b * steps + t] = id as i64;
        }
    }
    (
        Tensor::from_data(TensorData::new(ids, [sequences.len(), steps]), device),
        lengths,
    )
}
