//! The language model: embedding, recurrent stack, output layer.
//!
//! `logits_t = W_o dropout(h_t) + b_o`, `h_t` from the stack over `dropout(E[x_t])`. With
//! `tie_weights`, `W_o` is the embedding matrix `E` (Press & Wolf 2017; Inan et al. 2017).

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};
use rnnzoo_config::ModelConfig;
use rnnzoo_models::{Recurrent, RecurrentState, TokenDecoder};
use rnnzoo_train::model::recurrent_config;

/// A recurrent language model.
#[derive(Module, Debug)]
pub struct LanguageModel {
    /// Token embeddings `[V, E]`.
    pub embedding: Embedding,
    /// The recurrent stack.
    pub rnn: Recurrent,
    /// Dropout on embeddings and on the last layer's outputs.
    pub dropout: Dropout,
    /// Output layer (absent when tied).
    pub output: Option<Linear>,
    /// Output bias when the output weights are the embedding's.
    pub tied_bias: Option<Param<Tensor<1>>>,
}

impl LanguageModel {
    /// A freshly initialised model for a vocabulary of `vocab_size`.
    pub fn new(config: &ModelConfig, vocab_size: usize, device: &Device) -> Self {
        let embedding = EmbeddingConfig::new(vocab_size, config.embedding.size).init(device);
        let rnn = recurrent_config(config, config.embedding.size).init(device);
        let (output, tied_bias) = if config.tie_weights {
            (
                None,
                Some(Param::from_tensor(Tensor::zeros([vocab_size], device))),
            )
        } else {
            (
                Some(LinearConfig::new(rnn.output_size(), vocab_size).init(device)),
                None,
            )
        };
        Self {
            embedding,
            rnn,
            dropout: DropoutConfig::new(config.dropout).init(),
            output,
            tied_bias,
        }
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.embedding.weight.dims()[0]
    }

    /// Logits `[B, T, V]` for tokens `[B, T]`, and the state after the last step.
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        state: Option<RecurrentState>,
    ) -> (Tensor<3>, RecurrentState) {
        let embedded = self.dropout.forward(self.embedding.forward(tokens));
        let (hidden, state) = self.rnn.forward(embedded, state, None);
        let hidden = self.dropout.forward(hidden);
        let logits = match (&self.output, &self.tied_bias) {
            (Some(linear), _) => rnnzoo_models::linear(linear, hidden),
            // Tied: the embedding [V, E] (E == H) transposed is the output weight.
            (None, Some(bias)) => rnnzoo_models::dense(
                hidden,
                self.embedding.weight.val().transpose(),
                Some(bias.val()),
            ),
            (None, None) => unreachable!("an output layer or a tied bias exists"),
        };
        (logits, state)
    }

    /// The model on host buffers for sampling one token per row and step (see
    /// [`TokenDecoder`]); same logits as [`Self::forward`] without dropout.
    pub fn decoder(&self, batch: usize) -> TokenDecoder {
        match (&self.output, &self.tied_bias) {
            (Some(linear), _) => {
                TokenDecoder::with_linear(&self.embedding, &self.rnn, linear, batch)
            }
            (None, Some(bias)) => TokenDecoder::new(
                &self.embedding,
                &self.rnn,
                self.embedding.weight.val().transpose(),
                Some(bias.val()),
                batch,
            ),
            (None, None) => unreachable!("an output layer or a tied bias exists"),
        }
    }

    /// Number of scalar parameters.
    pub fn num_parameters(&self) -> usize {
        self.num_params()
    }
}
