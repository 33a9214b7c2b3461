//! Step-by-step inference of a stack of unidirectional recurrent layers: generation and
//! decoding, where each token's input depends on the previous step's output.
//!
//! The whole-sequence [`crate::sequence::forward`] allocates its buffers and prepares its
//! weights per call, which is right for a sequence and wasteful for one token. A
//! [`StackStepper`] owns the weights (packed once when the batch is large enough to use packed
//! panels) and every buffer, so a step allocates nothing: per layer one pass over `W_ih` and one
//! over `W_hh` accumulating into a single gate buffer (the product `[x, h] · [W_ih; W_hh]`; the
//! GRU keeps the hidden part apart because its reset gate multiplies it), then one fused
//! element-wise pass per row that updates the state in place. With few rows the products are
//! memory-bound matrix-vector products and split their columns over the threads.
//!
//! The equations and gate layouts are those of [`crate::sequence`], whose row functions this
//! module shares, so a step gives what the whole-sequence forward gives for that step (up to the
//! summation order of the product).

use crate::sequence::{Cell, gru_forward_row, lstm_forward_row};
use crate::sgemm::{
    MatRef, PackedRhs, RightHandSide, SMALL_ROWS, gemm_crate, large_for_gemm_crate, sgemm_packed,
};
use crate::simd;

/// The parameters of one layer (one direction), owned, in the layout of
/// [`crate::SequenceWeights`]: `W_ih [I, G·H]`, `W_hh [H, G·H]`, biases `[G·H]` (empty: zeros),
/// peepholes `[3, H]` (empty unless the cell has them).
#[derive(Clone, Debug)]
pub struct LayerParameters {
    /// The cell.
    pub cell: Cell,
    /// Input features `I`.
    pub input: usize,
    /// Hidden size `H`.
    pub hidden: usize,
    /// `W_ih [I, G·H]`.
    pub weight_ih: Vec<f32>,
    /// `W_hh [H, G·H]`.
    pub weight_hh: Vec<f32>,
    /// `b_ih [G·H]`, or empty for none.
    pub bias_ih: Vec<f32>,
    /// `b_hh [G·H]`, or empty for none.
    pub bias_hh: Vec<f32>,
    /// `[3, H]` peephole weights (rows `p_i`, `p_f`, `p_o`), or empty.
    pub peephole: Vec<f32>,
}

/// A weight matrix ready for the step's product: read in place for a few rows, packed once for
/// more.
#[derive(Debug)]
enum StepWeight {
    Rows {
        data: Vec<f32>,
        rows: usize,
        cols: usize,
    },
    /// Packed panels for this module's kernel, and the matrix itself for the `gemm` crate
    /// when the batch can reach [`GEMM_CRATE_MIN_ROWS`].
    Packed {
        packed: PackedRhs,
        data: Option<Vec<f32>>,
    },
}

/// Rows from which a step's product goes to the `gemm` crate when it is also large enough for
/// [`large_for_gemm_crate`]: beam search's output layer (`[320, 384] · [384, 8000]` at beam
/// 5). Below it, the panels packed once win over the crate's per-call packing.
const GEMM_CRATE_MIN_ROWS: usize = 128;

impl StepWeight {
    fn new(data: Vec<f32>, rows: usize, cols: usize, batch: usize) -> Self {
        if batch <= SMALL_ROWS {
            Self::Rows { data, rows, cols }
        } else {
            Self::Packed {
                packed: PackedRhs::pack(MatRef::row_major(&data, rows, cols)),
                data: (batch >= GEMM_CRATE_MIN_ROWS).then_some(data),
            }
        }
    }

    /// `C (+)= A · W`, with `C` row-major of stride `cols`.
    fn multiply(&self, a: MatRef, c: &mut [f32], accumulate: bool) {
        match self {
            Self::Rows { data, rows, cols } => {
                RightHandSide::InPlace(MatRef::row_major(data, *rows, *cols))
                    .multiply(a, c, *cols, accumulate)
            }
            Self::Packed { packed, data } => {
                let (k, n) = (packed.rows(), packed.cols());
                match data {
                    Some(data)
                        if a.rows() >= GEMM_CRATE_MIN_ROWS
                            && large_for_gemm_crate(a.rows(), k, n) =>
                    {
                        let b = MatRef::row_major(data, k, n);
                        gemm_crate(a, b, c, n, accumulate, rayon::current_num_threads())
                    }
                    _ => sgemm_packed(a, packed, c, n, accumulate),
                }
            }
        }
    }
}

/// One layer's weights, state and scratch buffers.
#[derive(Debug)]
struct StepLayer {
    cell: Cell,
    input: usize,
    hidden: usize,
    weight_ih: StepWeight,
    weight_hh: StepWeight,
    /// Bias added to `x · W_ih`: `b_ih + b_hh` (GRU: only the `r`, `z` blocks of `b_hh`).
    bias_x: Vec<f32>,
    /// GRU: `b_hn`, which sits inside the reset product.
    bias_hn: Vec<f32>,
    /// `[3, H]` peepholes (zeros for cells without).
    peephole: Vec<f32>,
    /// `[B, G·H]` pre-activations, then gate activations.
    gates: Vec<f32>,
    /// GRU: `[B, G·H]` `h · W_hh`.
    hidden_product: Vec<f32>,
    /// `[B, H]` hidden state.
    h: Vec<f32>,
    /// `[B, H]` cell state (LSTM).
    c: Vec<f32>,
    /// Receives the values only the backward would need.
    scratch: Vec<f32>,
}

impl StepLayer {
    fn new(p: LayerParameters, batch: usize) -> Self {
        let (h, cell) = (p.hidden, p.cell);
        let gh = cell.num_gates() * h;
        let or_zeros = |v: Vec<f32>, len: usize, what: &str| {
            if v.is_empty() {
                vec![0.0; len]
            } else {
                assert_eq!(
                    v.len(),
                    len,
                    "{what} has {} values, expected {len}",
                    v.len()
                );
                v
            }
        };
        assert_eq!(p.weight_ih.len(), p.input * gh, "W_ih is not [I, G·H]");
        assert_eq!(p.weight_hh.len(), h * gh, "W_hh is not [H, G·H]");
        let bias_ih = or_zeros(p.bias_ih, gh, "b_ih");
        let bias_hh = or_zeros(p.bias_hh, gh, "b_hh");
        let gru = matches!(cell, Cell::Gru);
        let bias_x = (0..gh)
            .map(|j| bias_ih[j] + if gru && j >= 2 * h { 0.0 } else { bias_hh[j] })
            .collect();
        let peephole = if cell.has_peepholes() {
            or_zeros(p.peephole, 3 * h, "peepholes")
        } else {
            vec![0.0; 3 * h]
        };
        Self {
            cell,
            input: p.input,
            hidden: h,
            weight_ih: StepWeight::new(p.weight_ih, p.input, gh, batch),
            weight_hh: StepWeight::new(p.weight_hh, h, gh, batch),
            bias_x,
            bias_hn: if gru {
                bias_hh[2 * h..].to_vec()
            } else {
                Vec::new()
            },
            peephole,
            gates: vec![0.0; batch * gh],
            hidden_product: if gru {
                vec![0.0; batch * gh]
            } else {
                Vec::new()
            },
            h: vec![0.0; batch * h],
            c: if cell.has_cell_state() {
                vec![0.0; batch * h]
            } else {
                Vec::new()
            },
            scratch: vec![0.0; 2 * h],
        }
    }

    /// One step from `x [B, I]`; the new hidden state is left in `self.h`.
    fn step(&mut self, x: &[f32], batch: usize) {
        let h = self.hidden;
        let gh = self.cell.num_gates() * h;
        self.weight_ih.multiply(
            MatRef::row_major(x, batch, self.input),
            &mut self.gates,
            false,
        );
        let state = MatRef::row_major(&self.h, batch, h);
        match self.cell {
            Cell::Gru => self
                .weight_hh
                .multiply(state, &mut self.hidden_product, false),
            _ => self.weight_hh.multiply(state, &mut self.gates, true),
        }
        let Self {
            cell,
            bias_x,
            bias_hn,
            peephole,
            gates,
            hidden_product,
            h: hidden,
            c,
            scratch,
            ..
        } = self;
        simd(
            #[inline(always)]
            || {
                for b in 0..batch {
                    let row = b * h..(b + 1) * h;
                    let pre = &mut gates[b * gh..(b + 1) * gh];
                    for (p, bias) in pre.iter_mut().zip(bias_x.iter()) {
                        *p += bias;
                    }
                    let hb = &mut hidden[row.clone()];
                    match *cell {
                        Cell::Rnn { relu } => {
                            for (out, &p) in hb.iter_mut().zip(pre.iter()) {
                                *out = if relu {
                                    p.max(0.0)
                                } else {
                                    crate::math::tanh(p)
                                };
                            }
                        }
                        Cell::Lstm { coupled, .. } => {
                            let (c_out, tc_out) = scratch.split_at_mut(h);
                            let cb = &mut c[row];
                            lstm_forward_row(pre, cb, hb, peephole, coupled, h, c_out, tc_out);
                        }
                        Cell::Gru => {
                            let hp = &hidden_product[b * gh..(b + 1) * gh];
                            gru_forward_row(pre, hp, bias_hn, hb, h, &mut scratch[..h]);
                        }
                    }
                }
            },
        );
    }
}

/// A stack of unidirectional layers run one step at a time for up to `batch` rows (1 for
/// sampling one text). Layer `l + 1` reads layer `l`'s new hidden state; no dropout
/// (inference). The rows in use can shrink and grow again within the batch
/// ([`StackStepper::set_rows`]), so that a decoder stops computing rows that have finished.
#[derive(Debug)]
pub struct StackStepper {
    batch: usize,
    rows: usize,
    layers: Vec<StepLayer>,
}

impl StackStepper {
    /// A stepper over `layers` (bottom first) for `batch` rows, from zero states.
    ///
    /// # Panics
    /// When there are no layers, a layer's input size is not the previous layer's hidden size,
    /// or a parameter has the wrong size.
    pub fn new(layers: Vec<LayerParameters>, batch: usize) -> Self {
        assert!(!layers.is_empty(), "a stack needs at least one layer");
        assert!(batch > 0, "a stepper needs at least one row");
        for pair in layers.windows(2) {
            assert_eq!(
                pair[1].input, pair[0].hidden,
                "a layer's input size must be the previous layer's hidden size"
            );
        }
        Self {
            batch,
            rows: batch,
            layers: layers
                .into_iter()
                .map(|p| StepLayer::new(p, batch))
                .collect(),
        }
    }

    /// The most rows a step can have (the buffers' size).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Rows of the next step (`batch` unless [`StackStepper::set_rows`] changed it).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Steps from now on run `rows` rows: the first `rows` of each state, which keep their
    /// values (set the states after shrinking or growing).
    ///
    /// # Panics
    /// When `rows` is 0 or more than the batch.
    pub fn set_rows(&mut self, rows: usize) {
        assert!(
            rows > 0 && rows <= self.batch,
            "{rows} rows do not fit a stepper of {} rows",
            self.batch
        );
        self.rows = rows;
    }

    /// Number of layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Input features of the bottom layer.
    pub fn input_size(&self) -> usize {
        self.layers[0].input
    }

    /// Hidden size of layer `layer`.
    pub fn hidden_size(&self, layer: usize) -> usize {
        self.layers[layer].hidden
    }

    /// Sets every state to zero.
    pub fn reset(&mut self) {
        for layer in &mut self.layers {
            layer.h.fill(0.0);
            layer.c.fill(0.0);
        }
    }

    /// Layer `layer`'s `[rows, H]` hidden state and (LSTM; empty otherwise) cell state.
    pub fn state(&self, layer: usize) -> (&[f32], &[f32]) {
        let l = &self.layers[layer];
        let n = self.rows * l.hidden;
        (&l.h[..n], if l.c.is_empty() { &l.c } else { &l.c[..n] })
    }

    /// Sets layer `layer`'s state; `cell` is ignored for cells without a cell state.
    ///
    /// # Panics
    /// When a state is not `[rows, H]`.
    pub fn set_state(&mut self, layer: usize, hidden: &[f32], cell: &[f32]) {
        let l = &mut self.layers[layer];
        let n = self.rows * l.hidden;
        l.h[..n].copy_from_slice(hidden);
        if l.cell.has_cell_state() {
            l.c[..n].copy_from_slice(cell);
        }
    }

    /// Row `r` of every state takes the values of row `from[r]`, and the steps from now on run
    /// `from.len()` rows: beam search's back-pointers, and finished rows dropped.
    ///
    /// # Panics
    /// When `from` is empty, longer than the batch, or names a row not in use.
    pub fn gather_rows(&mut self, from: &[usize]) {
        assert!(
            from.iter().all(|&f| f < self.rows),
            "a row to gather is not in use"
        );
        let in_use = self.rows;
        self.set_rows(from.len());
        for l in &mut self.layers {
            let h = l.hidden;
            for v in [&mut l.h, &mut l.c] {
                if v.is_empty() {
                    continue;
                }
                // Only the rows in use, not the whole batch's buffer.
                let old: Vec<f32> = v[..in_use * h].to_vec();
                for (r, &f) in from.iter().enumerate() {
                    v[r * h..(r + 1) * h].copy_from_slice(&old[f * h..(f + 1) * h]);
                }
            }
        }
    }

    /// Runs every layer one step on `x [rows, I]` and returns the top layer's new hidden state
    /// `[rows, H]`.
    ///
    /// # Panics
    /// When `x` is not `[rows, I]`.
    pub fn step(&mut self, x: &[f32]) -> &[f32] {
        assert_eq!(
            x.len(),
            self.rows * self.layers[0].input,
            "the step input is not [rows, I]"
        );
        let rows = self.rows;
        self.layers[0].step(x, rows);
        for l in 1..self.layers.len() {
            let (below, rest) = self.layers.split_at_mut(l);
            rest[0].step(&below[l - 1].h[..rows * below[l - 1].hidden], rows);
        }
        let top = &self.layers[self.layers.len() - 1];
        &top.h[..rows * top.hidden]
    }
}

/// A dense layer `y = x · W + b` applied one step at a time into a reused buffer (the output
/// layer over a vocabulary when sampling).
#[derive(Debug)]
pub struct StepProjection {
    inputs: usize,
    weight: StepWeight,
    bias: Vec<f32>,
    out: Vec<f32>,
    batch: usize,
    /// Rows of the last [`StepProjection::apply`].
    last_rows: usize,
}

impl StepProjection {
    /// `weight [in, out]` row-major, `bias [out]` (empty: none), for `batch` rows per call.
    ///
    /// # Panics
    /// When the sizes disagree.
    pub fn new(weight: Vec<f32>, inputs: usize, bias: Vec<f32>, batch: usize) -> Self {
        assert!(
            inputs > 0 && weight.len().is_multiple_of(inputs),
            "weight is not [in, out]"
        );
        let outputs = weight.len() / inputs;
        let bias = if bias.is_empty() {
            vec![0.0; outputs]
        } else {
            assert_eq!(bias.len(), outputs, "bias is not [out]");
            bias
        };
        Self {
            inputs,
            weight: StepWeight::new(weight, inputs, outputs, batch),
            bias,
            out: vec![0.0; batch * outputs],
            batch,
            last_rows: 0,
        }
    }

    /// Output features.
    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// What the last [`StepProjection::apply`] returned (empty before the first).
    pub fn last_output(&self) -> &[f32] {
        &self.out[..self.last_rows * self.bias.len()]
    }

    /// `x [rows, in] -> [rows, out]`, for any `rows` up to the batch.
    ///
    /// # Panics
    /// When `x` is not `[rows, in]` or has more rows than the batch.
    pub fn apply(&mut self, x: &[f32]) -> &[f32] {
        assert!(
            x.len().is_multiple_of(self.inputs),
            "the input is not [rows, in]"
        );
        let rows = x.len() / self.inputs;
        assert!(
            rows <= self.batch,
            "{rows} rows exceed the batch {}",
            self.batch
        );
        self.last_rows = rows;
        let out = &mut self.out[..rows * self.bias.len()];
        for row in out.chunks_exact_mut(self.bias.len()) {
            row.copy_from_slice(&self.bias);
        }
        self.weight
            .multiply(MatRef::row_major(x, rows, self.inputs), out, true);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values as values;

    /// A projection sized for beam search takes every row count through one of three
    /// products (in place for a few rows, packed panels, the `gemm` crate from
    /// `GEMM_CRATE_MIN_ROWS`); each must give `x · W + b`.
    #[test]
    fn projection_is_x_w_plus_b_at_every_row_count() {
        // 97 inputs, 101 outputs: 130 rows make 1.27M multiply-adds, past sgemm's threshold.
        let (inputs, outputs, batch) = (97, 101, 130);
        let weight = values(inputs * outputs, 1);
        let bias = values(outputs, 2);
        let x = values(batch * inputs, 3);
        let mut large = StepProjection::new(weight.clone(), inputs, bias.clone(), batch);
        let mut small = StepProjection::new(weight.clone(), inputs, bias.clone(), 3);
        let check = |got: &[f32], rows: usize, what: &str| {
            for r in 0..rows {
                for o in 0..outputs {
                    let want = bias[o] as f64
                        + (0..inputs)
                            .map(|i| x[r * inputs + i] as f64 * weight[i * outputs + o] as f64)
                            .sum::<f64>();
                    let g = got[r * outputs + o] as f64;
                    assert!(
                        (g - want).abs() < 1e-4,
                        "{what}, {rows} rows, [{r}, {o}]: {g} vs {want}"
                    );
                }
            }
        };
        for rows in [
            1,
            3,
            64,
            GEMM_CRATE_MIN_ROWS - 1,
            GEMM_CRATE_MIN_ROWS,
            batch,
        ] {
            check(large.apply(&x[..rows * inputs]), rows, "packed or gemm");
            if rows <= 3 {
                check(small.apply(&x[..rows * inputs]), rows, "in place");
            }
        }
    }
}
