//! The whole-sequence recurrent operation: one Burn operation per layer and direction, with its
//! own backward, instead of several autodiff nodes per time step.
//!
//! It is a Burn backend extension routed to the Flex backend (Burn 0.22's CPU backend, our
//! default device) and to `Autodiff<Flex>`, where [`SequenceBackward`] replays the time loop once
//! backwards (see `rnnzoo_kernels::sequence`). Other backends (ndarray, wgpu) keep the
//! per-step loop in [`crate::recurrent`], which gives the same results.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{
    Autodiff, Backend, Dispatch, DispatchDevice, Flex, TensorMetadata, backend_extension,
    tensor::FloatTensor,
};
use burn::tensor::{Device, Tensor, TensorData};

use rnnzoo_kernels::sequence;
use rnnzoo_kernels::{SavedActivations, SequenceDims, SequenceSpec, SequenceWeights};

use crate::cell::{CellKind, CellState, CellWeights, RnnActivation};

/// The extension trait: the packed `[T + S, B, H]` result of one layer in one direction (see
/// `rnnzoo_kernels::sequence` for the layout). Absent parameters are passed as zeros: biases,
/// the cell state of a cell without one, the peepholes of a cell without them.
#[backend_extension(Flex, Autodiff)]
pub trait SequenceBackend: Backend {
    /// Runs the layer over `x [T, B, I]` from `h0`/`c0 [B, H]`.
    #[allow(clippy::too_many_arguments)]
    fn recurrent_sequence(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        weight_ih: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        bias_ih: FloatTensor<Self>,
        bias_hh: FloatTensor<Self>,
        peephole: FloatTensor<Self>,
        spec: SequenceSpec,
    ) -> FloatTensor<Self>;
}

/// The inputs of one call, as contiguous host tensors (cheap to clone: shared storage).
#[derive(Clone)]
struct HostInputs {
    dims: SequenceDims,
    tensors: [FlexTensor; 8],
}

impl HostInputs {
    fn new(spec: &SequenceSpec, tensors: [FlexTensor; 8]) -> Self {
        let tensors = tensors.map(|t| {
            if t.as_slice::<f32>().is_some() {
                t
            } else {
                t.to_contiguous()
            }
        });
        let x = tensors[0].shape();
        let w_hh = tensors[4].shape();
        assert_eq!(x.num_dims(), 3, "the sequence input must be [T, B, I]");
        let hidden = w_hh[0];
        assert_eq!(
            w_hh[1],
            spec.cell.num_gates() * hidden,
            "W_hh does not match the cell"
        );
        Self {
            dims: SequenceDims {
                steps: x[0],
                batch: x[1],
                input: x[2],
                hidden,
            },
            tensors,
        }
    }

    fn slice(&self, index: usize) -> &[f32] {
        self.tensors[index]
            .as_slice::<f32>()
            .expect("the whole-sequence kernel runs in f32")
    }

    fn weights(&self) -> SequenceWeights<'_> {
        SequenceWeights {
            weight_ih: self.slice(3),
            weight_hh: self.slice(4),
            bias_ih: self.slice(5),
            bias_hh: self.slice(6),
            peephole: self.slice(7),
        }
    }

    fn forward(&self, spec: &SequenceSpec, keep: bool) -> (FlexTensor, Option<SavedActivations>) {
        let d = self.dims;
        let (packed, saved) = sequence::forward(
            spec,
            d,
            self.slice(0),
            self.slice(1),
            self.slice(2),
            &self.weights(),
            keep,
        );
        let rows = d.steps + spec.state_rows();
        (flex(packed, vec![rows, d.batch, d.hidden]), saved)
    }
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl SequenceBackend for Flex {
    fn recurrent_sequence(
        x: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
        weight_ih: FlexTensor,
        weight_hh: FlexTensor,
        bias_ih: FlexTensor,
        bias_hh: FlexTensor,
        peephole: FlexTensor,
        spec: SequenceSpec,
    ) -> FlexTensor {
        let inputs = HostInputs::new(
            &spec,
            [x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, peephole],
        );
        inputs.forward(&spec, false).0
    }
}

/// What the backward of one call needs: its inputs and the saved activations.
struct SequenceState {
    spec: SequenceSpec,
    inputs: HostInputs,
    saved: SavedActivations,
}

impl std::fmt::Debug for SequenceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequenceState")
            .field("spec", &self.spec)
            .field("dims", &self.inputs.dims)
            .finish_non_exhaustive()
    }
}

/// The backward of [`SequenceBackend::recurrent_sequence`] for its eight inputs.
#[derive(Debug)]
struct SequenceBackward;

impl Backward<Flex, 8> for SequenceBackward {
    type State = Arc<SequenceState>;

    fn backward(self, ops: Ops<Self::State, 8>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let grad = if grad.as_slice::<f32>().is_some() {
            grad
        } else {
            grad.to_contiguous()
        };
        let state = &ops.state;
        let inputs = &state.inputs;
        let g = sequence::backward(
            &state.spec,
            inputs.dims,
            inputs.slice(0),
            &inputs.weights(),
            &state.saved,
            grad.as_slice::<f32>().expect("f32 gradient"),
        );
        let values = [
            g.x,
            g.h0,
            g.c0,
            g.weight_ih,
            g.weight_hh,
            g.bias_ih,
            g.bias_hh,
            g.peephole,
        ];
        for ((parent, values), input) in ops.parents.into_iter().zip(values).zip(&inputs.tensors) {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, flex(values, input.shape().to_vec()));
            }
        }
    }
}

impl<C: CheckpointStrategy> SequenceBackend for Autodiff<Flex, C> {
    fn recurrent_sequence(
        x: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        weight_ih: FloatTensor<Self>,
        weight_hh: FloatTensor<Self>,
        bias_ih: FloatTensor<Self>,
        bias_hh: FloatTensor<Self>,
        peephole: FloatTensor<Self>,
        spec: SequenceSpec,
    ) -> FloatTensor<Self> {
        let nodes = [
            x.node(),
            h0.node(),
            c0.node(),
            weight_ih.node(),
            weight_hh.node(),
            bias_ih.node(),
            bias_hh.node(),
            peephole.node(),
        ];
        let inputs = HostInputs::new(
            &spec,
            [
                x.into_primitive(),
                h0.into_primitive(),
                c0.into_primitive(),
                weight_ih.into_primitive(),
                weight_hh.into_primitive(),
                bias_ih.into_primitive(),
                bias_hh.into_primitive(),
                peephole.into_primitive(),
            ],
        );
        match SequenceBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, saved) = inputs.forward(&spec, true);
                let saved = saved.expect("kept for backward");
                prep.finish(
                    Arc::new(SequenceState {
                        spec,
                        inputs,
                        saved,
                    }),
                    out,
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(inputs.forward(&spec, false).0),
        }
    }
}

/// The kernels' name for a cell.
pub(crate) fn kernel_cell(cell: CellKind) -> rnnzoo_kernels::Cell {
    match cell {
        CellKind::Rnn(act) => rnnzoo_kernels::Cell::Rnn {
            relu: act == RnnActivation::Relu,
        },
        CellKind::Lstm { peephole, coupled } => rnnzoo_kernels::Cell::Lstm { peephole, coupled },
        CellKind::Gru => rnnzoo_kernels::Cell::Gru,
    }
}

/// Whether tensors on `device` run the whole-sequence operation (Flex, with or without
/// autodiff); other devices use the per-step loop.
pub(crate) fn supports(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// Runs one cell over `x [T, B, I]` (time-major) from `initial`; returns the outputs
/// `[T, B, H]` and the final state.
pub(crate) fn run_sequence(
    weights: &CellWeights,
    spec: SequenceSpec,
    x: Tensor<3>,
    initial: CellState,
) -> (Tensor<3>, CellState) {
    let [steps, batch, _] = x.dims();
    let hidden = weights.hidden_size();
    let gates = spec.cell.num_gates() * hidden;
    let device = x.device();
    let zeros_state = || Tensor::<2>::zeros([batch, hidden], &device);
    let bias = |b: &Option<burn::module::Param<Tensor<1>>>| match b {
        Some(b) => b.val(),
        None => Tensor::zeros([gates], &device),
    };
    let peephole = match &weights.peephole {
        Some(p) => p.val(),
        None => Tensor::zeros([3, hidden], &device),
    };
    let has_cell = spec.cell.has_cell_state();
    let c0 = initial.cell.unwrap_or_else(zeros_state);
    let packed = Tensor::<3>::from_dispatch(<Dispatch as SequenceBackend>::recurrent_sequence(
        x.into_dispatch(),
        initial.hidden.into_dispatch(),
        c0.into_dispatch(),
        weights.weight_ih.val().into_dispatch(),
        weights.weight_hh.val().into_dispatch(),
        bias(&weights.bias_ih).into_dispatch(),
        bias(&weights.bias_hh).into_dispatch(),
        peephole.into_dispatch(),
        spec,
    ));
    let outputs = packed.clone().slice(0..steps);
    let row = |i: usize| packed.clone().slice(i..i + 1).squeeze_dim::<2>(0);
    let state = CellState {
        hidden: row(steps),
        cell: has_cell.then(|| row(steps + 1)),
    };
    (outputs, state)
}
