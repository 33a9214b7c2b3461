//! Recurrent layers for rnnzoo, on Burn 0.22, exact against PyTorch.
//!
//! - [`CellKind`]: Elman RNN (tanh or ReLU), LSTM (optional peepholes and coupled input/forget
//!   gates), GRU (PyTorch's formulation). Each cell's equations are in its variant's doc.
//! - [`Recurrent`]: any cell, stacked (`num_layers`), optionally bidirectional, with dropout
//!   between layers, explicit initial and final states, and variable-length batches.
//! - [`linear`], [`dense`], [`cross_entropy`], [`ctc_loss`]: a dense layer, the softmax cross-entropy and CTC,
//!   through the same CPU kernels as the layers on the Flex backend.
//! - [`Recurrent::stepper`], [`TokenDecoder`]: step-by-step inference (sampling, decoding) on
//!   host buffers that a step reuses.
//! - [`attention::AttentionDecoder`]: an attentional recurrent decoder (Luong et al. 2015) over
//!   a [`attention::Memory`], decoded greedily or by beam search in [`decode`]; the encoder of
//!   translation and the CNN of [`captioner::Captioner`] both feed it.
//! - [`FusedAdam`]: Burn's Adam with a single-pass, multi-threaded update on the Flex backend.
//! - [`clip_grad_norm`]: global gradient-norm clipping, as PyTorch's `clip_grad_norm_`.
//! - [`weights`]: import and export of a layer under PyTorch's parameter names (safetensors).
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use rnnzoo_models::{CellKind, RecurrentConfig};
//!
//! let device = Device::flex();
//! let lstm = RecurrentConfig::new(CellKind::LSTM, 8, 16)
//!     .with_num_layers(2)
//!     .with_bidirectional(true)
//!     .init(&device);
//! let x = Tensor::<3>::random([4, 10, 8], Distribution::Default, &device);
//! // Right-padded batch: the true lengths of the 4 sequences.
//! let (out, state) = lstm.forward(x, None, Some(&[10, 7, 3, 1]));
//! assert_eq!(out.dims(), [4, 10, 32]);
//! assert_eq!(state.hidden.dims(), [4, 4, 16]); // [layers * directions, batch, H]
//! ```

mod adam;
pub mod attention;
pub mod captioner;
mod cell;
mod clip;
pub mod decode;
mod fused;
mod recurrent;
mod step;
pub mod weights;

pub use adam::FusedAdam;
pub use cell::{CellKind, CellState, CellWeights, RnnActivation};
pub use clip::{clip_grad_norm, grad_norm};
pub use fused::{cross_entropy, ctc_loss, dense, linear};
pub use recurrent::{Recurrent, RecurrentConfig, RecurrentState};
pub use rnnzoo_kernels::step::StackStepper;
pub use step::TokenDecoder;
