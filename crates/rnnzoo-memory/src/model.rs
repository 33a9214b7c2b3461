//! The network for the memory problems: the inputs go straight into a recurrent stack (no
//! embedding: they are already vectors), and a linear head reads either the final state (adding)
//! or every step's output (copy).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::{ModelConfig, ProblemName};
use rnnzoo_models::Recurrent;
use rnnzoo_train::model::recurrent_config;

use crate::problems::{Batch, Problem, Targets};

/// A recurrent stack with a linear read-out.
#[derive(Module, Debug)]
pub struct MemoryModel {
    /// The recurrent stack, reading the problem's input features.
    pub rnn: Recurrent,
    /// Final state (adding) or per-step outputs (copy) to predictions.
    pub head: Linear,
    /// Which problem the head answers.
    #[module(skip)]
    pub problem: ProblemName,
}

impl MemoryModel {
    /// A freshly initialised model for `problem`.
    pub fn new(config: &ModelConfig, problem: &Problem, device: &Device) -> Self {
        let rnn = recurrent_config(config, problem.features()).init(device);
        let head = LinearConfig::new(rnn.output_size(), problem.outputs()).init(device);
        Self {
            rnn,
            head,
            problem: problem.kind,
        }
    }

    /// Predictions for inputs `[B, T, F]`: `[B, 1, 1]` sums (adding) or `[B, T, C]` logits
    /// (copy).
    pub fn forward(&self, inputs: Tensor<3>) -> Tensor<3> {
        let [batch, _, _] = inputs.dims();
        let (outputs, state) = self.rnn.forward(inputs, None, None);
        match self.problem {
            ProblemName::Adding => {
                // The final states of the last layer's directions (both ends when bidirectional).
                let dirs = self.rnn.num_directions();
                let total = state.hidden.dims()[0];
                let last = state.hidden.narrow(0, total - dirs, dirs);
                let last = last
                    .swap_dims(0, 1)
                    .reshape([batch, 1, self.rnn.output_size()]);
                rnnzoo_models::linear(&self.head, last)
            }
            ProblemName::Copy => rnnzoo_models::linear(&self.head, outputs),
        }
    }

    /// The training loss on a batch: mean squared error (adding) or cross-entropy per step over
    /// every step (copy, as Arjovsky et al. 2016), returned as a one-element tensor.
    pub fn loss(&self, batch: &Batch, problem: &Problem) -> Tensor<1> {
        let device = self.head.weight.device();
        let (inputs, targets) = tensors(batch, problem, &device);
        let predictions = self.forward(inputs);
        match targets {
            TargetTensor::Sums(sums) => {
                let error = predictions.reshape([batch.size]) - sums;
                (error.clone() * error).mean()
            }
            TargetTensor::Symbols(classes) => {
                let [b, t, c] = predictions.dims();
                rnnzoo_models::cross_entropy(predictions.reshape([b * t, c]), classes)
            }
        }
    }
}

/// Targets as tensors.
pub enum TargetTensor {
    /// `[B]` sums.
    Sums(Tensor<1>),
    /// `[B · T]` classes.
    Symbols(Tensor<1, Int>),
}

/// A batch's inputs `[B, T, F]` and targets on `device`.
pub fn tensors(batch: &Batch, problem: &Problem, device: &Device) -> (Tensor<3>, TargetTensor) {
    let shape = [batch.size, problem.steps(), problem.features()];
    let inputs = Tensor::from_data(TensorData::new(batch.inputs.clone(), shape), device);
    let targets = match &batch.targets {
        Targets::Sums(sums) => TargetTensor::Sums(Tensor::from_data(
            TensorData::new(sums.clone(), [batch.size]),
            device,
        )),
        Targets::Symbols(classes) => TargetTensor::Symbols(Tensor::from_data(
            TensorData::new(classes.clone(), [classes.len()]),
            device,
        )),
    };
    (inputs, targets)
}
