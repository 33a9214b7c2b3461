//! The acoustic model: frame stacking, a deep (usually bidirectional) recurrent stack from
//! `rnnzoo-models`, and a linear layer to the characters and the CTC blank.
//!
//! With features `f_1 … f_T` (`[T, mels]`) and stacking `k`, step `u` reads
//! `x_u = [f_{ku+1}; …; f_{ku+k}]` (zeros past the end), so the network runs `⌈T/k⌉` steps;
//! `h_u = RNN(x_1 … x_u …)` (both directions when bidirectional, lengths respected) and the
//! logits are `z_u = W h_u + b` over `classes` = characters + blank.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rnnzoo_config::{FeaturesConfig, ModelConfig};
use rnnzoo_models::Recurrent;

/// A CTC acoustic model.
#[derive(Module, Debug)]
pub struct AcousticModel {
    /// The recurrent stack over stacked frames.
    pub encoder: Recurrent,
    /// Characters and blank from the top layer's outputs.
    pub output: Linear,
    /// Frames stacked into one step.
    pub stack: usize,
    /// Mel bins per frame.
    pub mels: usize,
}

/// A batch of utterances padded to the longest, stacked.
pub struct Batch {
    /// `[B, U, k·mels]` stacked features.
    pub inputs: Tensor<3>,
    /// Steps of each utterance after stacking.
    pub lengths: Vec<usize>,
}

impl AcousticModel {
    /// A fresh model for `classes` outputs.
    pub fn new(
        model: &ModelConfig,
        features: &FeaturesConfig,
        classes: usize,
        device: &Device,
    ) -> Self {
        let input = features.mels * features.stack;
        let encoder = rnnzoo_train::model::recurrent_config(model, input).init(device);
        let output = LinearConfig::new(encoder.output_size(), classes).init(device);
        Self {
            encoder,
            output,
            stack: features.stack,
            mels: features.mels,
        }
    }

    /// Stacks and pads utterances' `[frames, mels]` features into a batch.
    pub fn batch(&self, features: &[&[f32]], device: &Device) -> Batch {
        let (k, mels) = (self.stack, self.mels);
        let lengths: Vec<usize> = features
            .iter()
            .map(|f| (f.len() / mels).div_ceil(k).max(1))
            .collect();
        let steps = lengths.iter().copied().max().unwrap_or(1);
        let width = k * mels;
        let mut values = vec![0.0f32; features.len() * steps * width];
        for (b, f) in features.iter().enumerate() {
            // Frame t of utterance b lands at step t / k, slot t % k: the frames are already
            // contiguous in that order.
            let start = b * steps * width;
            values[start..start + f.len()].copy_from_slice(f);
        }
        Batch {
            inputs: Tensor::from_data(
                TensorData::new(values, [features.len(), steps, width]),
                device,
            ),
            lengths,
        }
    }

    /// Logits `[B, U, classes]` of a batch.
    pub fn forward(&self, batch: &Batch) -> Tensor<3> {
        let (outputs, _) = self
            .encoder
            .forward(batch.inputs.clone(), None, Some(&batch.lengths));
        let [b, u, h] = outputs.dims();
        let logits = rnnzoo_models::linear(&self.output, outputs.reshape([b * u, h]));
        let classes = logits.dims()[1];
        logits.reshape([b, u, classes])
    }
}
