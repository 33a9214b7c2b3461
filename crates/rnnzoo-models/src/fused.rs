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
    Autodiff, AutodiffBackend, Backend, Dispatch, DispatchDevice, Flex, TensorMetadata,
    backend_extension, tensor::FloatTensor,
};
use burn::nn::Linear;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};

use rnnzoo_kernels::adam::AdamStep;
use rnnzoo_kernels::sequence;
use rnnzoo_kernels::{SavedActivations, SequenceDims, SequenceSpec, SequenceWeights};

use crate::cell::{CellKind, CellState, CellWeights, RnnActivation};

/// The extension trait: the packed `[T·B + S·B, H]` result of one layer in one direction (see
/// `rnnzoo_kernels::sequence` for the layout). Absent parameters are passed as zeros: biases,
/// the cell state of a cell without one, the peepholes of a cell without them.
#[backend_extension(Flex, Autodiff)]
pub trait SequenceBackend: Backend {
    /// Runs the layer over `x [T, B, I]` (`[B, T, I]` when `spec.batch_first`) from
    /// `h0`/`c0 [B, H]`.
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

    /// A dense layer `x [n, in] · weight [in, out] + bias [out]`.
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Mean softmax cross-entropy of `logits [N, C]` against class indices, as a `[1]` tensor.
    fn cross_entropy(logits: FloatTensor<Self>, targets: Vec<usize>) -> FloatTensor<Self>;

    /// Mean CTC loss of `logits [B, T, C]` as a `[1]` tensor: each utterance's
    /// `-log p(targets[b] | logits[b, ..input_lengths[b]])` divided by its target length
    /// (at least 1), averaged over the batch (PyTorch's `reduction="mean"`); an utterance
    /// with no alignment counts 0 (PyTorch's `zero_infinity=True`).
    fn ctc_loss(
        logits: FloatTensor<Self>,
        input_lengths: Vec<usize>,
        targets: Vec<Vec<usize>>,
        blank: usize,
    ) -> FloatTensor<Self>;

    /// One Adam step: the updated parameter and moments (see `rnnzoo_kernels::adam`).
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The values of a contiguous tensor, writable in place (copied first when shared).
fn host_mut(t: &mut FlexTensor) -> &mut [f32] {
    let (start, end) = t
        .layout()
        .contiguous_offsets()
        .expect("made contiguous first");
    &mut t.storage_mut::<f32>()[start..end]
}

/// `t` as a contiguous tensor whose storage can be read as one slice.
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

fn host(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("rnnzoo's CPU kernels run in f32")
}

/// Forward of [`SequenceBackend::dense`] on contiguous tensors.
fn dense_forward(x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor) -> FlexTensor {
    let n = x.shape()[0];
    let outputs = weight.shape()[1];
    let y = rnnzoo_kernels::dense::forward(host(x), host(weight), Some(host(bias)), n);
    flex(y, vec![n, outputs])
}

/// The inputs of one call, as contiguous host tensors (cheap to clone: shared storage).
#[derive(Clone)]
struct HostInputs {
    dims: SequenceDims,
    tensors: [FlexTensor; 8],
}

impl HostInputs {
    fn new(spec: &SequenceSpec, tensors: [FlexTensor; 8]) -> Self {
        let tensors = tensors.map(contiguous);
        let x = tensors[0].shape();
        let w_hh = tensors[4].shape();
        assert_eq!(
            x.num_dims(),
            3,
            "the sequence input must be [T, B, I] or [B, T, I]"
        );
        let hidden = w_hh[0];
        assert_eq!(
            w_hh[1],
            spec.cell.num_gates() * hidden,
            "W_hh does not match the cell"
        );
        let (steps, batch) = spec.steps_and_batch(x[0], x[1]);
        Self {
            dims: SequenceDims {
                steps,
                batch,
                input: x[2],
                hidden,
            },
            tensors,
        }
    }

    fn slice(&self, index: usize) -> &[f32] {
        host(&self.tensors[index])
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
        let rows = (d.steps + spec.state_rows()) * d.batch;
        (flex(packed, vec![rows, d.hidden]), saved)
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

    fn dense(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        dense_forward(&contiguous(x), &contiguous(weight), &contiguous(bias))
    }

    fn cross_entropy(logits: FlexTensor, targets: Vec<usize>) -> FlexTensor {
        let logits = contiguous(logits);
        let classes = logits.shape()[1];
        let (loss, _) = rnnzoo_kernels::loss::forward(host(&logits), classes, &targets);
        flex(vec![loss], vec![1])
    }

    fn ctc_loss(
        logits: FlexTensor,
        input_lengths: Vec<usize>,
        targets: Vec<Vec<usize>>,
        blank: usize,
    ) -> FlexTensor {
        let logits = contiguous(logits);
        let (loss, _) = ctc_mean(&logits, &input_lengths, &targets, blank, false);
        flex(vec![loss], vec![1])
    }

    fn adam_step(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        step: AdamStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let grad = contiguous(grad);
        let [mut param, mut moment_1, mut moment_2] = [param, moment_1, moment_2].map(contiguous);
        rnnzoo_kernels::adam::adam_step(
            host_mut(&mut param),
            host(&grad),
            host_mut(&mut moment_1),
            host_mut(&mut moment_2),
            &step,
        );
        (param, moment_1, moment_2)
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
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let state = &ops.state;
        let inputs = &state.inputs;
        let g = sequence::backward(
            &state.spec,
            inputs.dims,
            inputs.slice(0),
            &inputs.weights(),
            &state.saved,
            host(&grad),
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

    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let x = contiguous(x.into_primitive());
        let weight = contiguous(weight.into_primitive());
        let bias = contiguous(bias.into_primitive());
        let y = dense_forward(&x, &weight, &bias);
        match DenseBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((x, weight), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn cross_entropy(logits: FloatTensor<Self>, targets: Vec<usize>) -> FloatTensor<Self> {
        let nodes = [logits.node()];
        let logits = contiguous(logits.into_primitive());
        let classes = logits.shape()[1];
        let (loss, lse) = rnnzoo_kernels::loss::forward(host(&logits), classes, &targets);
        let loss = flex(vec![loss], vec![1]);
        match CrossEntropyBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((logits, Arc::new((targets, lse))), loss),
            OpsKind::UnTracked(prep) => prep.finish(loss),
        }
    }

    fn ctc_loss(
        logits: FloatTensor<Self>,
        input_lengths: Vec<usize>,
        targets: Vec<Vec<usize>>,
        blank: usize,
    ) -> FloatTensor<Self> {
        let nodes = [logits.node()];
        let logits = contiguous(logits.into_primitive());
        let (loss, grad) = ctc_mean(&logits, &input_lengths, &targets, blank, true);
        let loss = flex(vec![loss], vec![1]);
        match CtcBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let shape = logits.shape().to_vec();
                prep.finish(Arc::new((grad.expect("asked for"), shape)), loss)
            }
            OpsKind::UnTracked(prep) => prep.finish(loss),
        }
    }

    /// Optimizers update inner tensors; an autodiff caller gets the update untracked.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (param, moment_1, moment_2) = Flex::adam_step(
            Self::inner(param),
            Self::inner(grad),
            Self::inner(moment_1),
            Self::inner(moment_2),
            step,
        );
        (
            Self::from_inner(param),
            Self::from_inner(moment_1),
            Self::from_inner(moment_2),
        )
    }
}

/// One Adam step on tensors on the Flex device (see `rnnzoo_kernels::adam`): the updated
/// parameter and moments, written in place where the tensors are not shared.
pub fn adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    moment_1: Tensor<D>,
    moment_2: Tensor<D>,
    step: AdamStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (param, moment_1, moment_2) = <Dispatch as SequenceBackend>::adam_step(
        param.into_dispatch(),
        grad.into_dispatch(),
        moment_1.into_dispatch(),
        moment_2.into_dispatch(),
        step,
    );
    (
        Tensor::from_dispatch(param),
        Tensor::from_dispatch(moment_1),
        Tensor::from_dispatch(moment_2),
    )
}

/// `linear.forward(x)` for an input of any rank, through rnnzoo's matrix product on the Flex
/// backend (Burn's elsewhere). The output layer over a vocabulary is a language model's largest
/// product, where Burn's flex matmul reaches a third of a core's peak.
pub fn linear<const D: usize>(linear: &Linear, x: Tensor<D>) -> Tensor<D> {
    dense(
        x,
        linear.weight.val(),
        linear.bias.as_ref().map(|b| b.val()),
    )
}

/// `x · weight + bias` over the last dimension of `x`, with `weight [in, out]`, through rnnzoo's
/// matrix product on the Flex backend (Burn's `linear` elsewhere). For layers whose weight is
/// not a [`Linear`]'s, such as an output layer tied to the embedding (`embedding.transpose()`).
pub fn dense<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    if !supports(&x.device()) {
        return burn::tensor::module::linear(x, weight, bias);
    }
    let dims = x.dims();
    let [inputs, outputs] = weight.dims();
    assert_eq!(
        dims[D - 1],
        inputs,
        "input has {} features, the layer expects {inputs}",
        dims[D - 1]
    );
    let rows = dims[..D - 1].iter().product::<usize>();
    let bias = bias.unwrap_or_else(|| Tensor::zeros([outputs], &x.device()));
    let y = Tensor::<2>::from_dispatch(<Dispatch as SequenceBackend>::dense(
        x.reshape([rows, inputs]).into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ));
    let mut out_dims = dims;
    out_dims[D - 1] = outputs;
    y.reshape(out_dims)
}

/// The backward of [`SequenceBackend::dense`] for its three inputs.
#[derive(Debug)]
struct DenseBackward;

impl Backward<Flex, 3> for DenseBackward {
    /// The input and the weight.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, weight) = &ops.state;
        let n = x.shape()[0];
        let (d_x, d_weight, d_bias) =
            rnnzoo_kernels::dense::backward(host(x), host(weight), host(&grad), n);
        let shapes = [
            x.shape().to_vec(),
            weight.shape().to_vec(),
            vec![d_bias.len()],
        ];
        let values = [d_x, d_weight, d_bias];
        for ((parent, values), shape) in ops.parents.into_iter().zip(values).zip(shapes) {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, flex(values, shape));
            }
        }
    }
}

/// The backward of [`SequenceBackend::cross_entropy`].
#[derive(Debug)]
struct CrossEntropyBackward;

impl Backward<Flex, 1> for CrossEntropyBackward {
    /// The logits, the targets and each row's log-sum-exp.
    type State = (FlexTensor, Arc<(Vec<usize>, Vec<f32>)>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (logits, saved) = &ops.state;
        let (targets, lse) = saved.as_ref();
        let [parent] = ops.parents;
        if let Some(node) = parent {
            let shape = logits.shape().to_vec();
            let d = rnnzoo_kernels::loss::backward(
                host(logits),
                shape[1],
                targets,
                lse,
                host(&grad)[0],
            );
            grads.register::<Flex>(node.id, flex(d, shape));
        }
    }
}

/// [`SequenceBackend::ctc_loss`] on host values: the mean loss and, with `gradient`, its
/// gradient with respect to the logits.
fn ctc_mean(
    logits: &FlexTensor,
    input_lengths: &[usize],
    targets: &[Vec<usize>],
    blank: usize,
    gradient: bool,
) -> (f32, Option<Vec<f32>>) {
    let shape = logits.shape();
    let dims = [shape[0], shape[1], shape[2]];
    let batch = dims[0].max(1) as f32;
    let weights: Vec<f32> = targets
        .iter()
        .map(|t| 1.0 / (batch * t.len().max(1) as f32))
        .collect();
    let (losses, grad) = rnnzoo_kernels::ctc::ctc_loss(
        host(logits),
        dims,
        input_lengths,
        targets,
        blank,
        &weights,
        gradient,
    );
    let mean: f64 = losses
        .iter()
        .zip(&weights)
        .filter(|(l, _)| l.is_finite())
        .map(|(l, &w)| l * w as f64)
        .sum();
    (mean as f32, grad)
}

/// The backward of [`SequenceBackend::ctc_loss`]: the forward already computed the gradient.
#[derive(Debug)]
struct CtcBackward;

impl Backward<Flex, 1> for CtcBackward {
    /// The gradient of the mean loss with respect to the logits, and their shape.
    type State = Arc<(Vec<f32>, Vec<usize>)>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let scale = host(&grad)[0];
        let [parent] = ops.parents;
        if let Some(node) = parent {
            let (d, shape) = ops.state.as_ref();
            let d: Vec<f32> = d.iter().map(|&v| v * scale).collect();
            grads.register::<Flex>(node.id, flex(d, shape.clone()));
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
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// Runs one cell over `x` (`[T, B, I]`, or `[B, T, I]` when `spec.batch_first`) from
/// `initial`; returns the outputs in the same layout and the final state.
pub(crate) fn run_sequence(
    weights: &CellWeights,
    spec: SequenceSpec,
    x: Tensor<3>,
    initial: CellState,
) -> (Tensor<3>, CellState) {
    let [first, second, _] = x.dims();
    let (_, batch) = spec.steps_and_batch(first, second);
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
    let packed = Tensor::<2>::from_dispatch(<Dispatch as SequenceBackend>::recurrent_sequence(
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
    let outputs = first * second;
    let outputs_3d = packed
        .clone()
        .slice(0..outputs)
        .reshape([first, second, hidden]);
    let state_rows = |i: usize| {
        let start = outputs + i * batch;
        packed.clone().slice(start..start + batch)
    };
    let state = CellState {
        hidden: state_rows(0),
        cell: has_cell.then(|| state_rows(1)),
    };
    (outputs_3d, state)
}

/// Mean CTC loss of `logits [B, T, C]` (batch first; the softmax is applied here) against
/// label sequences without blanks, utterance `b` using its first `input_lengths[b]` frames:
/// PyTorch's `ctc_loss(log_softmax(x), …, reduction="mean", zero_infinity=True)`. Fused on the
/// Flex backend (`rnnzoo_kernels::ctc`); Burn's `CTCLoss` elsewhere.
pub fn ctc_loss(
    logits: Tensor<3>,
    input_lengths: &[usize],
    targets: &[Vec<usize>],
    blank: usize,
) -> Tensor<1> {
    let device = logits.device();
    if !supports(&device) {
        let [batch, _, _] = logits.dims();
        let longest = targets.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let padded: Vec<i64> = targets
            .iter()
            .flat_map(|t| (0..longest).map(move |i| t.get(i).map_or(0, |&v| v as i64)))
            .collect();
        let ints = |v: Vec<i64>, shape: Vec<usize>| {
            Tensor::<1, Int>::from_data(TensorData::new(v, shape), &device)
        };
        let log_probs = burn::tensor::activation::log_softmax(logits, 2).swap_dims(0, 1);
        let loss = burn::nn::loss::CTCLossConfig::new()
            .with_blank(blank)
            .with_zero_infinity(true)
            .init()
            .forward_with_reduction(
                log_probs,
                ints(padded, vec![batch * longest]).reshape([batch, longest]),
                ints(
                    input_lengths.iter().map(|&l| l as i64).collect(),
                    vec![batch],
                ),
                ints(
                    targets.iter().map(|t| t.len() as i64).collect(),
                    vec![batch],
                ),
                burn::nn::loss::Reduction::Mean,
            );
        return loss;
    }
    Tensor::<1>::from_dispatch(<Dispatch as SequenceBackend>::ctc_loss(
        logits.into_dispatch(),
        input_lengths.to_vec(),
        targets.to_vec(),
        blank,
    ))
}

/// Mean softmax cross-entropy of `logits [N, C]` against the class indices `targets [N]`, as
/// Burn's `CrossEntropyLoss` (no smoothing, no padding index) computes it; fused on the Flex
/// backend (see `rnnzoo_kernels::loss`).
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let device = logits.device();
    if !supports(&device) {
        return CrossEntropyLossConfig::new()
            .init(&device)
            .forward(logits, targets);
    }
    let targets: Vec<usize> = targets
        .into_data()
        .iter::<i64>()
        .map(|t| usize::try_from(t).expect("class indices are non-negative"))
        .collect();
    Tensor::<1>::from_dispatch(<Dispatch as SequenceBackend>::cross_entropy(
        logits.into_dispatch(),
        targets,
    ))
}
