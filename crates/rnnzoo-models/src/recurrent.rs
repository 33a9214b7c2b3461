//! The recurrent layer: any cell, stacked, optionally bidirectional, over padded batches.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor, TensorData};

use crate::cell::{CellKind, CellState, CellWeights, PreparedCell};
use crate::fused;
use rnnzoo_kernels::SequenceSpec;

/// Configuration of a [`Recurrent`] layer; defaults follow PyTorch's `nn.RNN`/`nn.LSTM`/`nn.GRU`
/// except `batch_first` (true here) and the LSTM `forget_bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// The cell every layer and direction runs.
    pub cell: CellKind,
    /// Features per input step.
    pub input_size: usize,
    /// Size `H` of the hidden state of each direction.
    pub hidden_size: usize,
    /// Number of stacked layers; layer `k > 0` reads the (concatenated) outputs of layer `k - 1`.
    pub num_layers: usize,
    /// Run a second, time-reversed cell per layer and concatenate its outputs after the forward
    /// ones (`[.., H]` forward then `[.., H]` backward), as PyTorch does.
    pub bidirectional: bool,
    /// Dropout probability applied to the outputs of every layer but the last, in training only.
    pub dropout: f64,
    /// Whether the cells have biases (`bias_ih`, `bias_hh`).
    pub bias: bool,
    /// Inputs and outputs are `[batch, time, features]` when true, `[time, batch, features]` when
    /// false.
    pub batch_first: bool,
    /// Added to the LSTM forget-gate bias at initialisation (see [`CellWeights::init`]).
    pub forget_bias: f64,
}

impl RecurrentConfig {
    /// A one-layer, unidirectional, batch-first layer with biases, no dropout and a forget bias
    /// of 1.0.
    pub fn new(cell: CellKind, input_size: usize, hidden_size: usize) -> Self {
        Self {
            cell,
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            dropout: 0.0,
            bias: true,
            batch_first: true,
            forget_bias: 1.0,
        }
    }

    /// Sets the number of stacked layers.
    pub fn with_num_layers(mut self, num_layers: usize) -> Self {
        self.num_layers = num_layers;
        self
    }

    /// Sets whether each layer runs in both directions.
    pub fn with_bidirectional(mut self, bidirectional: bool) -> Self {
        self.bidirectional = bidirectional;
        self
    }

    /// Sets the dropout probability between layers.
    pub fn with_dropout(mut self, dropout: f64) -> Self {
        self.dropout = dropout;
        self
    }

    /// Sets whether the cells have biases.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets the input and output layout (see [`RecurrentConfig::batch_first`]).
    pub fn with_batch_first(mut self, batch_first: bool) -> Self {
        self.batch_first = batch_first;
        self
    }

    /// Sets the LSTM forget-gate bias added at initialisation.
    pub fn with_forget_bias(mut self, forget_bias: f64) -> Self {
        self.forget_bias = forget_bias;
        self
    }

    /// Number of directions: 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Builds the layer with freshly initialised weights.
    ///
    /// # Panics
    /// When a size is zero or the dropout probability is outside `[0, 1)`.
    pub fn init(&self, device: &Device) -> Recurrent {
        assert!(
            self.input_size > 0 && self.hidden_size > 0 && self.num_layers > 0,
            "recurrent layer sizes must be positive: {self:?}"
        );
        let dirs = self.num_directions();
        let cells = (0..self.num_layers)
            .flat_map(|layer| {
                let input = if layer == 0 {
                    self.input_size
                } else {
                    self.hidden_size * dirs
                };
                (0..dirs).map(move |_| input)
            })
            .map(|input| {
                CellWeights::init(
                    self.cell,
                    input,
                    self.hidden_size,
                    self.bias,
                    self.forget_bias,
                    device,
                )
            })
            .collect();
        Recurrent {
            cells,
            dropout: DropoutConfig::new(self.dropout).init(),
            cell: self.cell,
            num_layers: self.num_layers,
            bidirectional: self.bidirectional,
            batch_first: self.batch_first,
        }
    }
}

/// Initial or final states of every layer and direction, in PyTorch's layout
/// `[num_layers · num_directions, batch, H]` (index `layer · num_directions + direction`, the
/// backward direction second).
#[derive(Clone, Debug)]
pub struct RecurrentState {
    /// Hidden states `h`.
    pub hidden: Tensor<3>,
    /// Cell states `c` (LSTM only).
    pub cell: Option<Tensor<3>>,
}

impl RecurrentState {
    /// Cuts the state from the autodiff graph, as truncated BPTT does at each segment boundary.
    pub fn detach(self) -> Self {
        Self {
            hidden: self.hidden.detach(),
            cell: self.cell.map(Tensor::detach),
        }
    }

    /// The state with the batch rows in `rows` set to zero (those sequences start afresh);
    /// the other rows are unchanged.
    pub fn zero_rows(self, rows: &[usize]) -> Self {
        if rows.is_empty() {
            return self;
        }
        let [_, batch, _] = self.hidden.dims();
        let mut keep = vec![1.0f32; batch];
        for &r in rows {
            keep[r] = 0.0;
        }
        let keep = Tensor::<3>::from_data(
            burn::tensor::TensorData::new(keep, [1, batch, 1]),
            &self.hidden.device(),
        );
        Self {
            hidden: self.hidden * keep.clone(),
            cell: self.cell.map(|c| c * keep),
        }
    }
}

/// A stack of recurrent layers over any [`CellKind`], optionally bidirectional, with dropout
/// between layers, explicit initial and final states, and variable-length batches.
///
/// With lengths, every sequence is processed exactly as if it were alone in the batch: padded
/// steps produce zero outputs and leave the state untouched, and the backward direction starts at
/// each sequence's last real step.
#[derive(Module, Debug)]
pub struct Recurrent {
    /// Cell weights, index `layer · num_directions + direction`.
    pub cells: Vec<CellWeights>,
    /// Dropout applied between layers.
    pub dropout: Dropout,
    /// The cell every layer runs.
    #[module(skip)]
    pub cell: CellKind,
    /// Number of stacked layers.
    pub num_layers: usize,
    /// Whether each layer runs in both directions.
    pub bidirectional: bool,
    /// Whether inputs and outputs are batch-first.
    pub batch_first: bool,
}

/// Per-step validity masks of a padded batch, built once per forward pass from host lengths.
/// `masks[t]` is `None` where every sequence is still running, so unpadded steps (all steps of an
/// unpadded batch) cost nothing extra.
struct StepMasks {
    masks: Vec<Option<Tensor<2>>>,
}

impl StepMasks {
    fn new(lengths: Option<&[usize]>, batch: usize, steps: usize, device: &Device) -> Self {
        let Some(lengths) = lengths else {
            return Self {
                masks: vec![None; steps],
            };
        };
        check_lengths(lengths, batch, steps);
        let masks = (0..steps)
            .map(|t| {
                lengths.iter().any(|&l| l <= t).then(|| {
                    let valid: Vec<f32> = lengths.iter().map(|&l| (t < l) as u8 as f32).collect();
                    Tensor::from_data(TensorData::new(valid, [batch, 1]), device)
                })
            })
            .collect();
        Self { masks }
    }
}

/// Panics unless there is one length per sequence, each in `1..=steps`.
fn check_lengths(lengths: &[usize], batch: usize, steps: usize) {
    assert_eq!(
        lengths.len(),
        batch,
        "one length per sequence: {} lengths for a batch of {batch}",
        lengths.len()
    );
    assert!(
        lengths.iter().all(|&l| (1..=steps).contains(&l)),
        "every length must be in 1..={steps}: {lengths:?}"
    );
}

/// Runs one cell over a whole sequence (forwards, or backwards when `reverse`), freezing the
/// state and zeroing the output at padded steps. Returns the per-step outputs in time order and
/// the final state.
///
/// This is the per-step path, for backends without the whole-sequence operation of
/// [`crate::fused`] (ndarray, wgpu) and for [`Recurrent::forward_steps`]; its inputs and outputs
/// are per-step tensors so that stacked layers pass them on without slicing a grad-requiring
/// `[B, T, ·]` tensor once per step (whose backward is O(T²) under Burn's autodiff).
fn run_direction(
    cell: &PreparedCell,
    inputs: &[Tensor<2>],
    initial: CellState,
    masks: &StepMasks,
    reverse: bool,
) -> (Vec<Tensor<2>>, CellState) {
    let steps = inputs.len();
    let mut outputs: Vec<Option<Tensor<2>>> = vec![None; steps];
    let mut state = initial;
    for s in 0..steps {
        let t = if reverse { steps - 1 - s } else { s };
        let next = cell.step(inputs[t].clone(), &state);
        match &masks.masks[t] {
            None => {
                outputs[t] = Some(next.hidden.clone());
                state = next;
            }
            Some(valid) => {
                // state_t = state_{t-1} + valid (next - state_{t-1}); output is zero when padded.
                let blend =
                    |new: Tensor<2>, old: Tensor<2>| old.clone() + (new - old) * valid.clone();
                outputs[t] = Some(next.hidden.clone() * valid.clone());
                state = CellState {
                    hidden: blend(next.hidden, state.hidden),
                    cell: match (next.cell, state.cell) {
                        (Some(new), Some(old)) => Some(blend(new, old)),
                        _ => None,
                    },
                };
            }
        }
    }
    let outputs = outputs
        .into_iter()
        .map(|o| o.expect("every step ran"))
        .collect();
    (outputs, state)
}

impl Recurrent {
    /// Number of directions: 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Stops gradients to every direction of layer `layer` (fine-tuning's `freeze: [layers.k]`).
    ///
    /// # Panics
    /// When `layer >= num_layers`.
    pub fn freeze_layer(&mut self, layer: usize) {
        assert!(
            layer < self.num_layers,
            "layer {layer} of a {}-layer stack",
            self.num_layers
        );
        let dirs = self.num_directions();
        for cell in &mut self.cells[layer * dirs..(layer + 1) * dirs] {
            *cell = cell.clone().no_grad();
        }
    }

    /// Size `H` of each direction's hidden state.
    pub fn hidden_size(&self) -> usize {
        self.cells[0].hidden_size()
    }

    /// Features per input step.
    pub fn input_size(&self) -> usize {
        self.cells[0].input_size()
    }

    /// Features per output step: `H · num_directions`.
    pub fn output_size(&self) -> usize {
        self.hidden_size() * self.num_directions()
    }

    /// A zero state for a batch of `batch` sequences.
    pub fn zero_state(&self, batch: usize, device: &Device) -> RecurrentState {
        let shape = [self.cells.len(), batch, self.hidden_size()];
        RecurrentState {
            hidden: Tensor::zeros(shape, device),
            cell: self
                .cell
                .has_cell_state()
                .then(|| Tensor::zeros(shape, device)),
        }
    }

    /// Runs the stack over a batch.
    ///
    /// - `input`: `[B, T, input_size]` (or `[T, B, ·]` when not batch-first).
    /// - `state`: initial states, `[layers · directions, B, H]`; zeros when `None`.
    /// - `lengths`: true length of each sequence (`1..=T`) when the batch is right-padded.
    ///
    /// Returns the last layer's outputs `[B, T, H · directions]` (zero at padded steps) and the
    /// final state of every layer and direction (the state after each sequence's last real step;
    /// for the backward direction, after step 0).
    pub fn forward(
        &self,
        input: Tensor<3>,
        state: Option<RecurrentState>,
        lengths: Option<&[usize]>,
    ) -> (Tensor<3>, RecurrentState) {
        let features = input.dims()[2];
        assert_eq!(
            features,
            self.input_size(),
            "input has {features} features per step, the layer expects {}",
            self.input_size()
        );
        let device = input.device();
        if fused::supports(&device) {
            // The whole-sequence operation reads and writes either layout in place.
            return self.forward_whole_sequences(input, state, lengths);
        }
        let input = if self.batch_first {
            input.swap_dims(0, 1)
        } else {
            input
        };
        let steps = input.dims()[0];
        let (outputs, final_state) = self.forward_steps(
            input
                .chunk(steps, 0)
                .into_iter()
                .map(|x| x.squeeze_dim::<2>(0))
                .collect(),
            state,
            lengths,
            &device,
        );
        let output = Tensor::stack::<3>(outputs, 0);
        let output = if self.batch_first {
            output.swap_dims(0, 1)
        } else {
            output
        };
        (output, final_state)
    }

    /// [`Recurrent::forward`] with one whole-sequence operation per layer and direction (see
    /// [`crate::fused`]), in the layer's layout.
    fn forward_whole_sequences(
        &self,
        mut x: Tensor<3>,
        state: Option<RecurrentState>,
        lengths: Option<&[usize]>,
    ) -> (Tensor<3>, RecurrentState) {
        let [first, second, _] = x.dims();
        let (steps, batch) = if self.batch_first {
            (second, first)
        } else {
            (first, second)
        };
        assert!(steps > 0, "a sequence needs at least one step");
        let device = x.device();
        if let Some(lengths) = lengths {
            check_lengths(lengths, batch, steps);
        }
        // Unpadded batches skip the per-row length test.
        let lengths = lengths
            .filter(|l| l.iter().any(|&l| l < steps))
            .map(<[usize]>::to_vec);
        let state = state.unwrap_or_else(|| self.zero_state(batch, &device));
        let initial = self.split_state(state);
        let dirs = self.num_directions();
        let mut finals = Vec::with_capacity(self.cells.len());
        for layer in 0..self.num_layers {
            if layer > 0 {
                x = self.dropout.forward(x);
            }
            let mut outputs = Vec::with_capacity(dirs);
            for direction in 0..dirs {
                let index = layer * dirs + direction;
                let spec = SequenceSpec {
                    cell: fused::kernel_cell(self.cell),
                    reverse: direction == 1,
                    lengths: lengths.clone(),
                    batch_first: self.batch_first,
                };
                let (output, last) = fused::run_sequence(
                    &self.cells[index],
                    spec,
                    x.clone(),
                    initial[index].clone(),
                );
                outputs.push(output);
                finals.push(last);
            }
            x = if dirs == 1 {
                outputs.pop().expect("one direction")
            } else {
                Tensor::cat(outputs, 2)
            };
        }
        (x, self.join_state(finals))
    }

    /// Runs the stack over a sequence given as one `[B, input_size]` tensor per step, returning
    /// one `[B, H · directions]` output per step. Same semantics as [`Recurrent::forward`]; useful
    /// when the caller already holds per-step tensors (decoders, generation).
    pub fn forward_steps(
        &self,
        mut inputs: Vec<Tensor<2>>,
        state: Option<RecurrentState>,
        lengths: Option<&[usize]>,
        device: &Device,
    ) -> (Vec<Tensor<2>>, RecurrentState) {
        assert!(!inputs.is_empty(), "a sequence needs at least one step");
        let batch = inputs[0].dims()[0];
        let steps = inputs.len();
        let masks = StepMasks::new(lengths, batch, steps, device);
        let state = state.unwrap_or_else(|| self.zero_state(batch, device));
        let initial = self.split_state(state);
        let dirs = self.num_directions();
        let mut finals = Vec::with_capacity(self.cells.len());
        for layer in 0..self.num_layers {
            if layer > 0 {
                inputs = inputs
                    .into_iter()
                    .map(|x| self.dropout.forward(x))
                    .collect();
            }
            let mut per_direction = Vec::with_capacity(dirs);
            for direction in 0..dirs {
                let index = layer * dirs + direction;
                let cell = PreparedCell::new(self.cell, &self.cells[index]);
                let (outputs, last) = run_direction(
                    &cell,
                    &inputs,
                    initial[index].clone(),
                    &masks,
                    direction == 1,
                );
                per_direction.push(outputs);
                finals.push(last);
            }
            inputs = if dirs == 1 {
                per_direction.pop().expect("one direction")
            } else {
                let backward = per_direction.pop().expect("backward direction");
                let forward = per_direction.pop().expect("forward direction");
                forward
                    .into_iter()
                    .zip(backward)
                    .map(|(f, b)| Tensor::cat(vec![f, b], 1))
                    .collect()
            };
        }
        (inputs, self.join_state(finals))
    }

    fn split_state(&self, state: RecurrentState) -> Vec<CellState> {
        let n = self.cells.len();
        let [layers, _, hidden] = state.hidden.dims();
        assert!(
            layers == n && hidden == self.hidden_size(),
            "initial state has shape {:?}, expected [{n}, batch, {}]",
            state.hidden.dims(),
            self.hidden_size()
        );
        assert_eq!(
            state.cell.is_some(),
            self.cell.has_cell_state(),
            "an LSTM state needs a cell state and other cells have none"
        );
        let unstack = |t: Tensor<3>| -> Vec<Tensor<2>> {
            t.chunk(n, 0)
                .into_iter()
                .map(|s| s.squeeze_dim::<2>(0))
                .collect()
        };
        let hidden = unstack(state.hidden);
        let mut cell = state.cell.map(unstack).map(Vec::into_iter);
        hidden
            .into_iter()
            .map(|hidden| CellState {
                hidden,
                cell: cell.as_mut().and_then(Iterator::next),
            })
            .collect()
    }

    fn join_state(&self, finals: Vec<CellState>) -> RecurrentState {
        let (hidden, cell): (Vec<_>, Vec<_>) =
            finals.into_iter().map(|s| (s.hidden, s.cell)).unzip();
        let cell: Option<Vec<Tensor<2>>> = cell.into_iter().collect();
        RecurrentState {
            hidden: Tensor::stack(hidden, 0),
            cell: cell.map(|c| Tensor::stack(c, 0)),
        }
    }
}
