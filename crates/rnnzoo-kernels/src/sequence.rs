//! The time loops of one recurrent layer in one direction, forward and backward, on host `f32`
//! buffers.
//!
//! Layout: row-major throughout. `x` is `[T, B, I]` (time-major) or `[B, T, I]` when
//! [`SequenceSpec::batch_first`]; the outputs, their gradients and every buffer indexed by step
//! and batch row follow the same order. The fused weights are stored as in
//! `rnnzoo_models::CellWeights` (`W_ih [I, G·H]`, `W_hh [H, G·H]`, gate blocks in PyTorch's
//! order), states are `[B, H]`. The forward returns one packed buffer of `T·B + S·B` rows of `H`:
//! the outputs of the `T` steps (`[T, B, H]` or `[B, T, H]`, zero at padded steps), then the
//! final `h` `[B, H]`, then (LSTM only, `S = 2`) the final `c`.
//!
//! Forward: `X · W_ih` for all steps as one product, then per step one `h · W_hh` product into
//! the same buffer and one fused element-wise pass, which overwrites the pre-activations with the
//! gate activations the backward needs. Backward: one pass backwards through time computing the
//! pre-activation gradients and `dh_{t-1} = dpre_t · W_hhᵀ`, then the weight and input
//! gradients as three large products over all steps at once.
//!
//! Padded steps (`t >= length`) freeze the state and output zero, in both directions, so the
//! backward direction starts at each sequence's last real step.

use std::ops::Range;

use rayon::prelude::*;

use crate::buffers;
use crate::math::{sigmoid, tanh};
use crate::sgemm::{MatRef, RightHandSide, sgemm};
use crate::simd;

/// The recurrent cells, with the equations of `rnnzoo_models::CellKind`. Gate blocks in the
/// fused weights follow PyTorch's order: LSTM `i, f, g, o` (`i, g, o` when coupled), GRU
/// `r, z, n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cell {
    /// Elman RNN, `h_t = tanh(pre)` or `max(0, pre)` when `relu`.
    Rnn {
        /// ReLU instead of tanh.
        relu: bool,
    },
    /// LSTM, optionally with diagonal peepholes and coupled gates (`f = 1 - i`).
    Lstm {
        /// Peephole connections.
        peephole: bool,
        /// Coupled input and forget gates.
        coupled: bool,
    },
    /// GRU, PyTorch's formulation (reset gate applied after the hidden product).
    Gru,
}

impl Cell {
    /// Gate blocks `G` in the fused weights.
    pub fn num_gates(&self) -> usize {
        match self {
            Cell::Rnn { .. } => 1,
            Cell::Lstm { coupled: true, .. } => 3,
            Cell::Lstm { coupled: false, .. } => 4,
            Cell::Gru => 3,
        }
    }

    /// Whether the cell carries a cell state (the LSTM).
    pub fn has_cell_state(&self) -> bool {
        matches!(self, Cell::Lstm { .. })
    }

    /// Whether the cell has peephole weights.
    pub fn has_peepholes(&self) -> bool {
        matches!(self, Cell::Lstm { peephole: true, .. })
    }
}

/// What one call runs: the cell, the direction and the true lengths of a padded batch.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceSpec {
    /// The cell.
    pub cell: Cell,
    /// Run from the last step to the first.
    pub reverse: bool,
    /// True length of each sequence (`1..=T`), `None` when no sequence is padded.
    pub lengths: Option<Vec<usize>>,
    /// `x` and the outputs are `[B, T, ·]` rather than `[T, B, ·]`. The order of the rows is
    /// all that changes (the time loop reads and writes each step's rows with a stride), so a
    /// batch-first layer needs no transposes of its input, its output or their gradients.
    pub batch_first: bool,
}

impl SequenceSpec {
    /// Rows after the `T` outputs in the packed result: `h_n`, and `c_n` for the LSTM.
    pub fn state_rows(&self) -> usize {
        if self.cell.has_cell_state() { 2 } else { 1 }
    }

    fn valid(&self, t: usize, b: usize) -> bool {
        self.lengths.as_ref().is_none_or(|l| t < l[b])
    }

    /// Time index of the `s`-th step processed.
    fn time(&self, s: usize, steps: usize) -> usize {
        if self.reverse { steps - 1 - s } else { s }
    }

    /// `(T, B)` of an input whose first two dimensions are `first, second`.
    pub fn steps_and_batch(&self, first: usize, second: usize) -> (usize, usize) {
        if self.batch_first {
            (second, first)
        } else {
            (first, second)
        }
    }

    fn rows(&self, d: &SequenceDims) -> RowOrder {
        if self.batch_first {
            RowOrder {
                time: 1,
                batch: d.steps,
            }
        } else {
            RowOrder {
                time: d.batch,
                batch: 1,
            }
        }
    }
}

/// Where the row of step `t`, batch row `b` lies in the `T·B`-row buffers: `t·time + b·batch`.
#[derive(Clone, Copy, Debug)]
struct RowOrder {
    time: usize,
    batch: usize,
}

impl RowOrder {
    fn at(&self, t: usize, b: usize) -> usize {
        t * self.time + b * self.batch
    }

    /// The rows of step `t` for batch rows `rows` (first row, and one past the last, of the
    /// span holding them; in batch-first order the span also holds the part's other steps).
    fn span(&self, t: usize, rows: &Range<usize>) -> Range<usize> {
        self.at(t, rows.start)..self.at(t, rows.end - 1) + 1
    }
}

/// Sizes of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceDims {
    /// Steps `T`.
    pub steps: usize,
    /// Batch `B`.
    pub batch: usize,
    /// Input features `I`.
    pub input: usize,
    /// Hidden size `H`.
    pub hidden: usize,
}

/// Borrowed cell parameters. Absent biases are zeros; `peephole` is `[3, H]` (rows `p_i`, `p_f`,
/// `p_o`) for peephole LSTMs and ignored otherwise.
#[derive(Clone, Copy, Debug)]
pub struct SequenceWeights<'a> {
    /// `W_ih [I, G·H]`.
    pub weight_ih: &'a [f32],
    /// `W_hh [H, G·H]`.
    pub weight_hh: &'a [f32],
    /// `b_ih [G·H]`.
    pub bias_ih: &'a [f32],
    /// `b_hh [G·H]`.
    pub bias_hh: &'a [f32],
    /// `[3, H]` peephole weights (peephole LSTM only).
    pub peephole: &'a [f32],
}

/// What the forward keeps for the backward.
#[derive(Clone, Debug, Default)]
pub struct SavedActivations {
    /// `[T, B, G·H]` gate activations (LSTM `i, f, g, o` or `i, g, o`; GRU `r, z, n`; RNN `h_t`).
    gates: Vec<f32>,
    /// `[T, B, H]` the state `h` each step started from.
    hidden_prev: Vec<f32>,
    /// `[T, B, H]` LSTM: the cell state each step started from.
    cell_prev: Vec<f32>,
    /// `[T, B, H]` LSTM: `c_t`.
    cell: Vec<f32>,
    /// `[T, B, H]` LSTM: `tanh(c_t)`.
    tanh_cell: Vec<f32>,
    /// `[T, B, H]` GRU: `W_hn h_{t-1} + b_hn`.
    hidden_n: Vec<f32>,
}

impl Drop for SavedActivations {
    fn drop(&mut self) {
        for buffer in [
            &mut self.gates,
            &mut self.hidden_prev,
            &mut self.cell_prev,
            &mut self.cell,
            &mut self.tanh_cell,
            &mut self.hidden_n,
        ] {
            buffers::give_back(std::mem::take(buffer));
        }
    }
}

/// Gradients of every input of [`forward`].
#[derive(Clone, Debug)]
pub struct SequenceGradients {
    /// `[T, B, I]`.
    pub x: Vec<f32>,
    /// `[B, H]`.
    pub h0: Vec<f32>,
    /// `[B, H]` (zeros for cells without a cell state).
    pub c0: Vec<f32>,
    /// `[I, G·H]`.
    pub weight_ih: Vec<f32>,
    /// `[H, G·H]`.
    pub weight_hh: Vec<f32>,
    /// `[G·H]`.
    pub bias_ih: Vec<f32>,
    /// `[G·H]`.
    pub bias_hh: Vec<f32>,
    /// `[3, H]` (zeros without peepholes).
    pub peephole: Vec<f32>,
}

fn check(spec: &SequenceSpec, d: &SequenceDims, x: &[f32], h0: &[f32], w: &SequenceWeights) {
    let gh = spec.cell.num_gates() * d.hidden;
    assert!(d.steps > 0 && d.batch > 0, "empty sequence batch: {d:?}");
    assert_eq!(x.len(), d.steps * d.batch * d.input, "x is not [T, B, I]");
    assert_eq!(h0.len(), d.batch * d.hidden, "h0 is not [B, H]");
    assert_eq!(w.weight_ih.len(), d.input * gh, "W_ih is not [I, G·H]");
    assert_eq!(w.weight_hh.len(), d.hidden * gh, "W_hh is not [H, G·H]");
    assert_eq!(w.bias_ih.len(), gh, "b_ih is not [G·H]");
    assert_eq!(w.bias_hh.len(), gh, "b_hh is not [G·H]");
    if spec.cell.has_peepholes() {
        assert_eq!(w.peephole.len(), 3 * d.hidden, "peepholes are not [3, H]");
    }
    if let Some(lengths) = &spec.lengths {
        assert_eq!(lengths.len(), d.batch, "one length per sequence");
        assert!(
            lengths.iter().all(|&l| (1..=d.steps).contains(&l)),
            "every length must be in 1..={}: {lengths:?}",
            d.steps
        );
    }
}

/// A buffer that the parts of a batch (see [`batch_parts`]) fill concurrently, each only at its
/// own batch rows of every step.
#[derive(Clone, Copy)]
struct Shared {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: parts only ever form slices of disjoint ranges (their own batch rows), and the
// buffer outlives the parallel section that uses it.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    fn new(buffer: &mut [f32]) -> Self {
        Self {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
        }
    }

    /// The elements `range`.
    ///
    /// # Safety
    /// No other part may touch `range` while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn range<'a>(&self, range: Range<usize>) -> &'a mut [f32] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
}

/// The batch rows split into parts that run the time loop on separate threads. The recurrence
/// never mixes batch rows, so the parts need no synchronisation inside the loop: one part per
/// thread beats splitting every step's small product over the threads (a fork and join per
/// step, and the element-wise pass left on one thread). Small batches stay in one part, whose
/// products may still split over the threads.
fn batch_parts(batch: usize) -> Vec<Range<usize>> {
    let threads = rayon::current_num_threads();
    let parts = if threads > 1 && batch >= 8 * threads {
        threads
    } else {
        1
    };
    (0..parts)
        .map(|p| p * batch / parts..(p + 1) * batch / parts)
        .collect()
}

/// Runs `part` for every part of the batch, in parallel when there are several; the `bool`
/// tells a part whether it runs alone (and may split its own products over the threads).
fn for_each_part<R: Send>(batch: usize, part: impl Fn(Range<usize>, bool) -> R + Sync) -> Vec<R> {
    let parts = batch_parts(batch);
    if parts.len() == 1 {
        vec![part(0..batch, true)]
    } else {
        parts
            .into_par_iter()
            .map(|rows| part(rows, false))
            .collect()
    }
}

/// Everything the forward's parts share.
struct ForwardBuffers {
    gates: Shared,
    packed: Shared,
    hidden_prev: Shared,
    cell_prev: Shared,
    cell: Shared,
    tanh_cell: Shared,
    hidden_n: Shared,
}

/// Runs the layer over the sequence. Returns the packed `[T + S, B, H]` result and, when
/// `keep_for_backward`, what [`backward`] needs.
pub fn forward(
    spec: &SequenceSpec,
    d: SequenceDims,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    w: &SequenceWeights,
    keep_for_backward: bool,
) -> (Vec<f32>, Option<SavedActivations>) {
    check(spec, &d, x, h0, w);
    let SequenceDims {
        steps,
        batch,
        input,
        hidden: h,
    } = d;
    let gh = spec.cell.num_gates() * h;
    let lstm = spec.cell.has_cell_state();
    let gru = matches!(spec.cell, Cell::Gru);
    if lstm {
        assert_eq!(c0.len(), batch * h, "c0 is not [B, H]");
    }

    // Input projection of every step at once; the biases join in the element-wise pass.
    // Recycled buffers (see `buffers`): every value below is written before it is read.
    let mut gates = buffers::take(steps * batch * gh);
    sgemm(
        MatRef::row_major(x, steps * batch, input),
        MatRef::row_major(w.weight_ih, input, gh),
        &mut gates,
        gh,
        false,
    );
    let bias_x: Vec<f32> = if gru {
        // b_hn stays inside the reset product; b_hr and b_hz join b_ih.
        (0..gh)
            .map(|j| w.bias_ih[j] + if j < 2 * h { w.bias_hh[j] } else { 0.0 })
            .collect()
    } else {
        w.bias_ih
            .iter()
            .zip(w.bias_hh)
            .map(|(a, b)| a + b)
            .collect()
    };
    let part_rows = batch_parts(batch)
        .iter()
        .map(Range::len)
        .max()
        .unwrap_or(batch);
    let weight_hh = RightHandSide::prepare(MatRef::row_major(w.weight_hh, h, gh), part_rows);
    let zeros = vec![0.0f32; 3 * h];
    let peep = if spec.cell.has_peepholes() {
        w.peephole
    } else {
        &zeros
    };
    let mut packed = buffers::take((steps + spec.state_rows()) * batch * h);
    // `hidden_prev` and `cell_prev` are written at every row; the others at the real steps
    // only, which are all the backward reads of them.
    let keep = |wanted: bool| {
        if keep_for_backward && wanted {
            buffers::take(steps * batch * h)
        } else {
            Vec::new()
        }
    };
    let mut saved = SavedActivations {
        gates: Vec::new(),
        hidden_prev: keep(true),
        cell_prev: keep(lstm),
        cell: keep(lstm),
        tanh_cell: keep(lstm),
        hidden_n: keep(gru),
    };
    let buffers = ForwardBuffers {
        gates: Shared::new(&mut gates),
        packed: Shared::new(&mut packed),
        hidden_prev: Shared::new(&mut saved.hidden_prev),
        cell_prev: Shared::new(&mut saved.cell_prev),
        cell: Shared::new(&mut saved.cell),
        tanh_cell: Shared::new(&mut saved.tanh_cell),
        hidden_n: Shared::new(&mut saved.hidden_n),
    };
    let order = spec.rows(&d);
    let (row_h, row_g) = (order.batch * h, order.batch * gh);
    for_each_part(batch, |rows, alone| {
        let nb = rows.len();
        let mut state_h = h0[rows.start * h..rows.end * h].to_vec();
        let mut state_c = if lstm {
            c0[rows.start * h..rows.end * h].to_vec()
        } else {
            Vec::new()
        };
        // Where a row's c_t, tanh c_t (or GRU W_hn h) go when nothing is kept: writing them
        // unconditionally keeps the element-wise loops branch-free, so they vectorise.
        let mut scratch = vec![0.0f32; 2 * h];
        let mut hidden_product = if gru {
            vec![0.0f32; nb * gh]
        } else {
            Vec::new()
        };
        for s in 0..steps {
            let t = spec.time(s, steps);
            // This part's rows of step t in the `T·B`-row buffers: local row `lb` is at
            // `lb · order.batch` rows into the span.
            let span = order.span(t, &rows);
            let bh = span.start * h..span.end * h;
            // SAFETY (every `range` below): the spans hold this part's rows only.
            if keep_for_backward {
                let hidden_prev = unsafe { buffers.hidden_prev.range(bh.clone()) };
                copy_rows(&state_h, h, hidden_prev, row_h);
                if lstm {
                    let cell_prev = unsafe { buffers.cell_prev.range(bh.clone()) };
                    copy_rows(&state_c, h, cell_prev, row_h);
                }
            }
            let step_gates = unsafe { buffers.gates.range(span.start * gh..span.end * gh) };
            let hmat = MatRef::row_major(&state_h, nb, h);
            let (target, ldc, accumulate) = if gru {
                (&mut hidden_product[..], gh, false)
            } else {
                (&mut step_gates[..], row_g, true)
            };
            if alone {
                weight_hh.multiply(hmat, target, ldc, accumulate);
            } else {
                weight_hh.multiply_on_this_thread(hmat, target, ldc, accumulate);
            }
            let out = unsafe { buffers.packed.range(bh.clone()) };
            simd(
                #[inline(always)]
                || {
                    for lb in 0..nb {
                        let out_row = lb * row_h..lb * row_h + h;
                        if !spec.valid(t, rows.start + lb) {
                            out[out_row].fill(0.0);
                            continue;
                        }
                        let row = lb * h..(lb + 1) * h;
                        // This row in the saved `T·B`-row buffers and in the output.
                        let saved_row = bh.start + lb * row_h..bh.start + lb * row_h + h;
                        let pre = &mut step_gates[lb * row_g..lb * row_g + gh];
                        for (p, bias) in pre.iter_mut().zip(&bias_x) {
                            *p += bias;
                        }
                        let hb = &mut state_h[row.clone()];
                        match spec.cell {
                            Cell::Rnn { relu } => {
                                for j in 0..h {
                                    let v = if relu { pre[j].max(0.0) } else { tanh(pre[j]) };
                                    pre[j] = v;
                                    hb[j] = v;
                                }
                            }
                            Cell::Lstm { coupled, .. } => {
                                let cb = &mut state_c[row.clone()];
                                let (c_out, tc_out) = if keep_for_backward {
                                    unsafe {
                                        (
                                            buffers.cell.range(saved_row.clone()),
                                            buffers.tanh_cell.range(saved_row),
                                        )
                                    }
                                } else {
                                    scratch.split_at_mut(h)
                                };
                                lstm_forward_row(pre, cb, hb, peep, coupled, h, c_out, tc_out);
                            }
                            Cell::Gru => {
                                let hp = &hidden_product[lb * gh..(lb + 1) * gh];
                                let hn_out = if keep_for_backward {
                                    unsafe { buffers.hidden_n.range(saved_row) }
                                } else {
                                    &mut scratch[..h]
                                };
                                gru_forward_row(pre, hp, &w.bias_hh[2 * h..], hb, h, hn_out);
                            }
                        }
                        out[out_row].copy_from_slice(hb);
                    }
                },
            );
        }
        // The final states after the T outputs: h_n, then c_n.
        let tail = steps * batch * h;
        unsafe {
            buffers
                .packed
                .range(tail + rows.start * h..tail + rows.end * h)
        }
        .copy_from_slice(&state_h);
        if lstm {
            let c_tail = tail + batch * h;
            unsafe {
                buffers
                    .packed
                    .range(c_tail + rows.start * h..c_tail + rows.end * h)
            }
            .copy_from_slice(&state_c);
        }
    });
    saved.gates = gates;
    (packed, keep_for_backward.then_some(saved))
}

/// Copies the `h`-wide rows of `src` into `dst`, where consecutive rows lie `dst_stride` apart.
fn copy_rows(src: &[f32], h: usize, dst: &mut [f32], dst_stride: usize) {
    for (lb, row) in src.chunks_exact(h).enumerate() {
        dst[lb * dst_stride..lb * dst_stride + h].copy_from_slice(row);
    }
}

/// One LSTM row: `pre` holds the pre-activations and receives the gate activations; `c` and `h`
/// are updated in place. `c_out`/`tc_out` receive `c_t` and `tanh c_t`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn lstm_forward_row(
    pre: &mut [f32],
    c: &mut [f32],
    hid: &mut [f32],
    peep: &[f32],
    coupled: bool,
    h: usize,
    c_out: &mut [f32],
    tc_out: &mut [f32],
) {
    let (pi, pf, po) = (&peep[..h], &peep[h..2 * h], &peep[2 * h..3 * h]);
    let (c, hid, c_out, tc_out) = (
        &mut c[..h],
        &mut hid[..h],
        &mut c_out[..h],
        &mut tc_out[..h],
    );
    if coupled {
        let (gi, rest) = pre.split_at_mut(h);
        let (gg, go) = rest.split_at_mut(h);
        let go = &mut go[..h];
        for j in 0..h {
            let cp = c[j];
            let i = sigmoid(gi[j] + pi[j] * cp);
            let g = tanh(gg[j]);
            let cn = (1.0 - i) * cp + i * g;
            let o = sigmoid(go[j] + po[j] * cn);
            let tc = tanh(cn);
            gi[j] = i;
            gg[j] = g;
            go[j] = o;
            c[j] = cn;
            hid[j] = o * tc;
            c_out[j] = cn;
            tc_out[j] = tc;
        }
    } else {
        let (gi, rest) = pre.split_at_mut(h);
        let (gf, rest) = rest.split_at_mut(h);
        let (gg, go) = rest.split_at_mut(h);
        let go = &mut go[..h];
        for j in 0..h {
            let cp = c[j];
            let i = sigmoid(gi[j] + pi[j] * cp);
            let f = sigmoid(gf[j] + pf[j] * cp);
            let g = tanh(gg[j]);
            let cn = f * cp + i * g;
            let o = sigmoid(go[j] + po[j] * cn);
            let tc = tanh(cn);
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            c[j] = cn;
            hid[j] = o * tc;
            c_out[j] = cn;
            tc_out[j] = tc;
        }
    }
}

/// One GRU row: `pre` holds `W_ih x + b_ih (+ b_hr, b_hz)` and receives `r, z, n`; `hp` is
/// `W_hh h` without bias; `h` is updated in place; `hn_out` receives `W_hn h + b_hn`.
#[inline(always)]
pub(crate) fn gru_forward_row(
    pre: &mut [f32],
    hp: &[f32],
    bias_hn: &[f32],
    hid: &mut [f32],
    h: usize,
    hn_out: &mut [f32],
) {
    let hn_out = &mut hn_out[..h];
    let (gr, rest) = pre.split_at_mut(h);
    let (gz, gn) = rest.split_at_mut(h);
    let gn = &mut gn[..h];
    let (hr, hz, hn) = (&hp[..h], &hp[h..2 * h], &hp[2 * h..3 * h]);
    let (bias_hn, hid) = (&bias_hn[..h], &mut hid[..h]);
    for j in 0..h {
        let r = sigmoid(gr[j] + hr[j]);
        let z = sigmoid(gz[j] + hz[j]);
        let hnj = hn[j] + bias_hn[j];
        let n = tanh(gn[j] + r * hnj);
        gr[j] = r;
        gz[j] = z;
        gn[j] = n;
        hid[j] = n + z * (hid[j] - n);
        hn_out[j] = hnj;
    }
}

/// What one part of the batch contributes to the backward's results.
struct PartGradients {
    /// `[rows, H]` gradient of the part's `h0`.
    h0: Vec<f32>,
    /// `[rows, H]` gradient of the part's `c0` (LSTM).
    c0: Vec<f32>,
    /// The part's share of the bias and peephole gradients.
    bias_ih: Vec<f32>,
    bias_hh: Vec<f32>,
    peephole: Vec<f32>,
}

/// Gradients of [`forward`]'s inputs given the gradient of its packed result `[T + S, B, H]`.
///
/// The bias and peephole gradients are summed per part of the batch and then over the parts,
/// so their last bits depend on the number of threads (never on timing).
pub fn backward(
    spec: &SequenceSpec,
    d: SequenceDims,
    x: &[f32],
    w: &SequenceWeights,
    saved: &SavedActivations,
    d_packed: &[f32],
) -> SequenceGradients {
    let SequenceDims {
        steps,
        batch,
        input,
        hidden: h,
    } = d;
    let gh = spec.cell.num_gates() * h;
    let lstm = spec.cell.has_cell_state();
    let gru = matches!(spec.cell, Cell::Gru);
    assert_eq!(
        d_packed.len(),
        (steps + spec.state_rows()) * batch * h,
        "gradient is not [T + S, B, H]"
    );
    let tail = steps * batch * h;
    let zeros = vec![0.0f32; 3 * h];
    let peep = if spec.cell.has_peepholes() {
        w.peephole
    } else {
        &zeros
    };
    // Gradient of the input pre-activations; the GRU also needs that of `W_hh h + b_hh`.
    // Recycled buffers, written at every row (zeros at padded steps).
    let mut d_pre = buffers::take(steps * batch * gh);
    let mut d_hidden_pre = if gru {
        buffers::take(steps * batch * gh)
    } else {
        Vec::new()
    };
    let part_rows = batch_parts(batch)
        .iter()
        .map(Range::len)
        .max()
        .unwrap_or(batch);
    let weight_hh_t = RightHandSide::prepare(MatRef::row_major(w.weight_hh, h, gh).t(), part_rows);
    let shared_pre = Shared::new(&mut d_pre);
    let shared_hidden_pre = Shared::new(&mut d_hidden_pre);
    let order = spec.rows(&d);
    let (row_h, row_g) = (order.batch * h, order.batch * gh);

    let parts = for_each_part(batch, |rows, alone| {
        let nb = rows.len();
        let mut dh = d_packed[tail + rows.start * h..tail + rows.end * h].to_vec();
        let c_tail = tail + batch * h;
        let mut dc = if lstm {
            d_packed[c_tail + rows.start * h..c_tail + rows.end * h].to_vec()
        } else {
            Vec::new()
        };
        let mut dh_next = vec![0.0f32; nb * h];
        let mut d_peep = vec![0.0f32; 3 * h];
        let mut d_bias_ih = vec![0.0f32; gh];
        let mut d_bias_hh = if gru { vec![0.0f32; gh] } else { Vec::new() };
        for s in (0..steps).rev() {
            let t = spec.time(s, steps);
            // This part's rows of step t in the `T·B`-row buffers: local row `lb` is at
            // `lb · order.batch` rows into the span (see `forward`).
            let span = order.span(t, &rows);
            let bh = span.start * h;
            let bg = span.start * gh..span.end * gh;
            let dy = &d_packed[bh..span.end * h];
            let gates = &saved.gates[bg.clone()];
            // SAFETY (both): the ranges are this part's rows only.
            let dp = unsafe { shared_pre.range(bg.clone()) };
            let dhp = if gru {
                unsafe { shared_hidden_pre.range(bg) }
            } else {
                &mut []
            };
            simd(
                #[inline(always)]
                || {
                    for lb in 0..nb {
                        let row = lb * h..(lb + 1) * h;
                        if !spec.valid(t, rows.start + lb) {
                            // Frozen state: the gradient passes through untouched.
                            dh_next[row.clone()].copy_from_slice(&dh[row]);
                            dp[lb * row_g..lb * row_g + gh].fill(0.0);
                            if gru {
                                dhp[lb * row_g..lb * row_g + gh].fill(0.0);
                            }
                            continue;
                        }
                        let g = &gates[lb * row_g..lb * row_g + gh];
                        let dpb = &mut dp[lb * row_g..lb * row_g + gh];
                        let dhb = &dh[row.clone()];
                        let dyb = &dy[lb * row_h..lb * row_h + h];
                        // This row in the saved `T·B`-row buffers.
                        let saved_row = bh + lb * row_h..bh + lb * row_h + h;
                        match spec.cell {
                            Cell::Rnn { relu } => {
                                let dpb = &mut dpb[..h];
                                for j in 0..h {
                                    let dtot = dhb[j] + dyb[j];
                                    let hv = g[j];
                                    dpb[j] = if relu {
                                        if hv > 0.0 { dtot } else { 0.0 }
                                    } else {
                                        dtot * (1.0 - hv * hv)
                                    };
                                }
                                dh_next[row].fill(0.0);
                            }
                            Cell::Lstm { coupled, .. } => {
                                let r = saved_row;
                                lstm_backward_row(
                                    g,
                                    dpb,
                                    &saved.cell_prev[r.clone()],
                                    &saved.cell[r.clone()],
                                    &saved.tanh_cell[r],
                                    dhb,
                                    dyb,
                                    &mut dc[row.clone()],
                                    peep,
                                    &mut d_peep,
                                    coupled,
                                    h,
                                );
                                dh_next[row].fill(0.0);
                            }
                            Cell::Gru => {
                                let r = saved_row;
                                let dhpb = &mut dhp[lb * row_g..lb * row_g + gh];
                                gru_backward_row(
                                    g,
                                    dpb,
                                    dhpb,
                                    &saved.hidden_prev[r.clone()],
                                    &saved.hidden_n[r],
                                    dhb,
                                    dyb,
                                    &mut dh_next[row],
                                    h,
                                );
                                for (acc, v) in d_bias_hh.iter_mut().zip(dhpb.iter()) {
                                    *acc += v;
                                }
                            }
                        }
                        for (acc, v) in d_bias_ih.iter_mut().zip(dpb.iter()) {
                            *acc += v;
                        }
                    }
                },
            );
            // dh_{t-1} += d(W_hh h)_t · W_hhᵀ
            let d_hidden_rows = MatRef::strided_rows(if gru { dhp } else { dp }, nb, gh, row_g);
            if alone {
                weight_hh_t.multiply(d_hidden_rows, &mut dh_next, h, true);
            } else {
                weight_hh_t.multiply_on_this_thread(d_hidden_rows, &mut dh_next, h, true);
            }
            std::mem::swap(&mut dh, &mut dh_next);
        }
        PartGradients {
            h0: dh,
            c0: dc,
            bias_ih: d_bias_ih,
            bias_hh: d_bias_hh,
            peephole: d_peep,
        }
    });

    let mut d_h0 = Vec::with_capacity(batch * h);
    let mut d_c0 = Vec::with_capacity(if lstm { batch * h } else { 0 });
    let mut d_bias_ih = vec![0.0f32; gh];
    let mut d_bias_hh = vec![0.0f32; if gru { gh } else { 0 }];
    let mut d_peep = vec![0.0f32; 3 * h];
    for part in &parts {
        d_h0.extend_from_slice(&part.h0);
        d_c0.extend_from_slice(&part.c0);
        for (sum, partial) in [
            (&mut d_bias_ih, &part.bias_ih),
            (&mut d_bias_hh, &part.bias_hh),
            (&mut d_peep, &part.peephole),
        ] {
            for (acc, v) in sum.iter_mut().zip(partial) {
                *acc += v;
            }
        }
    }

    let rows = steps * batch;
    let d_hidden_all = if gru { &d_hidden_pre } else { &d_pre };
    let mut dx = buffers::take(rows * input);
    sgemm(
        MatRef::row_major(&d_pre, rows, gh),
        MatRef::row_major(w.weight_ih, input, gh).t(),
        &mut dx,
        input,
        false,
    );
    // `dpre` is the right-hand side of both weight gradients (LSTM, RNN): packed once. (Writing
    // each row into the packed layout inside the time loop instead cost more than this
    // sequential pass: its 64-byte stores land 16 KiB apart.)
    let d_pre_rhs = RightHandSide::prepare(MatRef::row_major(&d_pre, rows, gh), input.min(h));
    let mut d_weight_ih = buffers::take(input * gh);
    d_pre_rhs.multiply(
        MatRef::row_major(x, rows, input).t(),
        &mut d_weight_ih,
        gh,
        false,
    );
    let mut d_weight_hh = buffers::take(h * gh);
    let hidden_prev = MatRef::row_major(&saved.hidden_prev, rows, h).t();
    if gru {
        sgemm(
            hidden_prev,
            MatRef::row_major(d_hidden_all, rows, gh),
            &mut d_weight_hh,
            gh,
            false,
        );
    } else {
        d_pre_rhs.multiply(hidden_prev, &mut d_weight_hh, gh, false);
    }
    drop(d_pre_rhs);
    buffers::give_back(d_pre);
    buffers::give_back(d_hidden_pre);
    let bias_hh = if gru { d_bias_hh } else { d_bias_ih.clone() };
    SequenceGradients {
        x: dx,
        h0: d_h0,
        c0: if lstm { d_c0 } else { vec![0.0; batch * h] },
        weight_ih: d_weight_ih,
        weight_hh: d_weight_hh,
        bias_ih: d_bias_ih,
        bias_hh,
        peephole: if spec.cell.has_peepholes() {
            d_peep
        } else {
            vec![0.0; 3 * h]
        },
    }
}

/// One LSTM row backwards: fills `dp` (pre-activation gradients) and updates `dc` from `dc_t`
/// to `dc_{t-1}`, accumulating the peephole gradients.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lstm_backward_row(
    gates: &[f32],
    dp: &mut [f32],
    c_prev: &[f32],
    c: &[f32],
    tanh_c: &[f32],
    dh: &[f32],
    dy: &[f32],
    dc: &mut [f32],
    peep: &[f32],
    d_peep: &mut [f32],
    coupled: bool,
    h: usize,
) {
    let (pi, pf, po) = (&peep[..h], &peep[h..2 * h], &peep[2 * h..3 * h]);
    let (dpi_acc, rest) = d_peep.split_at_mut(h);
    let (dpf_acc, dpo_acc) = rest.split_at_mut(h);
    let (c_prev, c, tanh_c, dh, dy, dc) = (
        &c_prev[..h],
        &c[..h],
        &tanh_c[..h],
        &dh[..h],
        &dy[..h],
        &mut dc[..h],
    );
    let dpo_acc = &mut dpo_acc[..h];
    if coupled {
        let (gi, gg, go) = (&gates[..h], &gates[h..2 * h], &gates[2 * h..3 * h]);
        let (di_out, rest) = dp.split_at_mut(h);
        let (dg_out, do_out) = rest.split_at_mut(h);
        let do_out = &mut do_out[..h];
        for j in 0..h {
            let (i, g, o, tc, cp) = (gi[j], gg[j], go[j], tanh_c[j], c_prev[j]);
            let f = 1.0 - i;
            let dtot = dh[j] + dy[j];
            let dpo = dtot * tc * o * (1.0 - o);
            let dct = dc[j] + dtot * o * (1.0 - tc * tc) + dpo * po[j];
            // f = 1 - i: the forget path's gradient flows into i with a minus sign.
            let dpi = (dct * g - dct * cp) * i * (1.0 - i);
            let dpg = dct * i * (1.0 - g * g);
            dc[j] = dct * f + dpi * pi[j];
            di_out[j] = dpi;
            dg_out[j] = dpg;
            do_out[j] = dpo;
            dpi_acc[j] += dpi * cp;
            dpo_acc[j] += dpo * c[j];
        }
    } else {
        let (gi, gf, gg, go) = (
            &gates[..h],
            &gates[h..2 * h],
            &gates[2 * h..3 * h],
            &gates[3 * h..4 * h],
        );
        let (di_out, rest) = dp.split_at_mut(h);
        let (df_out, rest) = rest.split_at_mut(h);
        let (dg_out, do_out) = rest.split_at_mut(h);
        let do_out = &mut do_out[..h];
        let dpf_acc = &mut dpf_acc[..h];
        for j in 0..h {
            let (i, f, g, o, tc, cp) = (gi[j], gf[j], gg[j], go[j], tanh_c[j], c_prev[j]);
            let dtot = dh[j] + dy[j];
            let dpo = dtot * tc * o * (1.0 - o);
            let dct = dc[j] + dtot * o * (1.0 - tc * tc) + dpo * po[j];
            let dpi = dct * g * i * (1.0 - i);
            let dpf = dct * cp * f * (1.0 - f);
            let dpg = dct * i * (1.0 - g * g);
            dc[j] = dct * f + dpi * pi[j] + dpf * pf[j];
            di_out[j] = dpi;
            df_out[j] = dpf;
            dg_out[j] = dpg;
            do_out[j] = dpo;
            dpi_acc[j] += dpi * cp;
            dpf_acc[j] += dpf * cp;
            dpo_acc[j] += dpo * c[j];
        }
    }
}

/// One GRU row backwards: fills the gradients of the input pre-activations `dp` and of
/// `W_hh h + b_hh` (`dhp`), and writes the direct part `dh_{t-1} = dh_t ⊙ z` into `dh_prev`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gru_backward_row(
    gates: &[f32],
    dp: &mut [f32],
    dhp: &mut [f32],
    h_prev: &[f32],
    hidden_n: &[f32],
    dh: &[f32],
    dy: &[f32],
    dh_prev: &mut [f32],
    h: usize,
) {
    let (gr, gz, gn) = (&gates[..h], &gates[h..2 * h], &gates[2 * h..3 * h]);
    let (dr_out, rest) = dp.split_at_mut(h);
    let (dz_out, dn_out) = rest.split_at_mut(h);
    let dn_out = &mut dn_out[..h];
    let (dhr_out, rest) = dhp.split_at_mut(h);
    let (dhz_out, dhn_out) = rest.split_at_mut(h);
    let dhn_out = &mut dhn_out[..h];
    let (h_prev, hidden_n, dh, dy, dh_prev) = (
        &h_prev[..h],
        &hidden_n[..h],
        &dh[..h],
        &dy[..h],
        &mut dh_prev[..h],
    );
    for j in 0..h {
        let (r, z, n) = (gr[j], gz[j], gn[j]);
        let dtot = dh[j] + dy[j];
        let dpn = dtot * (1.0 - z) * (1.0 - n * n);
        let dpz = dtot * (h_prev[j] - n) * z * (1.0 - z);
        let dpr = dpn * hidden_n[j] * r * (1.0 - r);
        dr_out[j] = dpr;
        dz_out[j] = dpz;
        dn_out[j] = dpn;
        dhr_out[j] = dpr;
        dhz_out[j] = dpz;
        dhn_out[j] = dpn * r;
        dh_prev[j] = dtot * z;
    }
}
