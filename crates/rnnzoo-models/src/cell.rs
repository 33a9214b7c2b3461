//! Recurrent cells: their kinds, their weights, and one time step of each.
//!
//! Notation follows the seeds: `x_t` is the input at step `t`, `h_{t-1}` the previous hidden
//! state, `c_{t-1}` the previous LSTM cell state, `σ` the logistic sigmoid and `⊙` the
//! element-wise product. Every cell fuses its gates: one `[B, I] x [I, G·H]` product for the input
//! and one `[B, H] x [H, G·H]` product for the hidden state per step, where `G` is the number of
//! gates, instead of one product per gate.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor, activation};

/// Non-linearity of the Elman RNN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RnnActivation {
    /// `tanh`, PyTorch's default (`nonlinearity='tanh'`).
    Tanh,
    /// `max(0, ·)` (`nonlinearity='relu'`).
    Relu,
}

/// Which recurrent cell a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CellKind {
    /// Elman RNN:
    ///
    /// `h_t = act(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh)`, with `act` tanh or ReLU.
    Rnn(RnnActivation),
    /// LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000):
    ///
    /// ```text
    /// i_t = σ(W_xi x_t + W_hi h_{t-1} + p_i ⊙ c_{t-1} + b_i)
    /// f_t = σ(W_xf x_t + W_hf h_{t-1} + p_f ⊙ c_{t-1} + b_f)      (coupled: f_t = 1 - i_t)
    /// g_t = tanh(W_xg x_t + W_hg h_{t-1} + b_g)
    /// c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    /// o_t = σ(W_xo x_t + W_ho h_{t-1} + p_o ⊙ c_t + b_o)
    /// h_t = o_t ⊙ tanh(c_t)
    /// ```
    ///
    /// The peephole terms `p_· ⊙ c` (Gers & Schmidhuber 2000; diagonal weight vectors) are present
    /// only with `peephole`; the output gate looks at the new cell state `c_t`. With `coupled`
    /// there is no forget gate: one gate drives both, `f_t = 1 - i_t` (Greff et al. 2015, "CIFG").
    /// Gate order in the fused weights is PyTorch's `i, f, g, o` (`i, g, o` when coupled).
    Lstm {
        /// Diagonal peephole connections from the cell state into the gates.
        peephole: bool,
        /// Coupled input and forget gates: `f_t = 1 - i_t`.
        coupled: bool,
    },
    /// GRU in PyTorch's (and cuDNN's) formulation, the reset gate applied after the hidden
    /// product:
    ///
    /// ```text
    /// r_t = σ(W_xr x_t + b_xr + W_hr h_{t-1} + b_hr)
    /// z_t = σ(W_xz x_t + b_xz + W_hz h_{t-1} + b_hz)
    /// n_t = tanh(W_xn x_t + b_xn + r_t ⊙ (W_hn h_{t-1} + b_hn))
    /// h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    /// ```
    ///
    /// Gate order in the fused weights is PyTorch's `r, z, n`.
    Gru,
}

impl CellKind {
    /// A plain LSTM (no peepholes, separate forget gate).
    pub const LSTM: CellKind = CellKind::Lstm {
        peephole: false,
        coupled: false,
    };

    /// Number of gate blocks `G` stacked in the fused weight matrices.
    pub fn num_gates(&self) -> usize {
        match self {
            CellKind::Rnn(_) => 1,
            CellKind::Lstm { coupled: true, .. } => 3,
            CellKind::Lstm { coupled: false, .. } => 4,
            CellKind::Gru => 3,
        }
    }

    /// Whether the cell carries a cell state `c` besides `h` (the LSTM).
    pub fn has_cell_state(&self) -> bool {
        matches!(self, CellKind::Lstm { .. })
    }

    /// Whether the cell has peephole weight vectors.
    pub fn has_peepholes(&self) -> bool {
        matches!(self, CellKind::Lstm { peephole: true, .. })
    }

    /// A short name, as used in configs and reports (`rnn`, `rnn-relu`, `lstm`, `lstm-peephole`,
    /// `lstm-coupled`, `lstm-peephole-coupled`, `gru`).
    pub fn name(&self) -> &'static str {
        match self {
            CellKind::Rnn(RnnActivation::Tanh) => "rnn",
            CellKind::Rnn(RnnActivation::Relu) => "rnn-relu",
            CellKind::Lstm {
                peephole: false,
                coupled: false,
            } => "lstm",
            CellKind::Lstm {
                peephole: true,
                coupled: false,
            } => "lstm-peephole",
            CellKind::Lstm {
                peephole: false,
                coupled: true,
            } => "lstm-coupled",
            CellKind::Lstm {
                peephole: true,
                coupled: true,
            } => "lstm-peephole-coupled",
            CellKind::Gru => "gru",
        }
    }
}

/// The parameters of one cell: one layer in one direction.
///
/// Weights are stored as `[in, G·H]` so that a step is `x_t · W` with no transpose; that is the
/// transpose of PyTorch's `[G·H, in]` layout, which [`crate::weights`] converts on import and
/// export. Gate blocks are laid out along the second dimension in PyTorch's order.
#[derive(Module, Debug)]
pub struct CellWeights {
    /// Input-to-hidden weights `[input, G·H]` (PyTorch `weight_ih_l{k}`, transposed).
    pub weight_ih: Param<Tensor<2>>,
    /// Hidden-to-hidden weights `[H, G·H]` (PyTorch `weight_hh_l{k}`, transposed).
    pub weight_hh: Param<Tensor<2>>,
    /// Input bias `[G·H]` (PyTorch `bias_ih_l{k}`).
    pub bias_ih: Option<Param<Tensor<1>>>,
    /// Hidden bias `[G·H]` (PyTorch `bias_hh_l{k}`).
    pub bias_hh: Option<Param<Tensor<1>>>,
    /// Peephole weights `[3, H]`: rows `p_i`, `p_f`, `p_o` (`p_f` unused when coupled).
    pub peephole: Option<Param<Tensor<2>>>,
}

impl CellWeights {
    /// PyTorch's initialisation: every weight and bias drawn from `U(-1/√H, 1/√H)`. The LSTM's
    /// `forget_bias` is then added to the forget-gate part of `bias_ih` (Jozefowicz et al. 2015);
    /// with coupled gates, where `f = 1 - i`, it is subtracted from the input gate instead, which
    /// opens the forget path by the same amount.
    pub fn init(
        cell: CellKind,
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        forget_bias: f64,
        device: &Device,
    ) -> Self {
        let gates = cell.num_gates() * hidden_size;
        let k = 1.0 / (hidden_size as f64).sqrt();
        let uniform = Distribution::Uniform(-k, k);
        let weight =
            |rows: usize| Param::from_tensor(Tensor::random([rows, gates], uniform, device));
        let bias_ih = bias.then(|| {
            let mut b = Tensor::<1>::random([gates], uniform, device);
            if let CellKind::Lstm { coupled, .. } = cell
                && forget_bias != 0.0
            {
                // Forget gate is block 1 (i, f, g, o); coupled cells have block 0 (i) drive it.
                let (block, shift) = if coupled {
                    (0, -forget_bias)
                } else {
                    (1, forget_bias)
                };
                let range = block * hidden_size..(block + 1) * hidden_size;
                let shifted = b.clone().slice(range.clone()).add_scalar(shift);
                b = b.slice_assign(range, shifted);
            }
            Param::from_tensor(b)
        });
        let bias_hh = bias.then(|| Param::from_tensor(Tensor::random([gates], uniform, device)));
        let peephole = cell
            .has_peepholes()
            .then(|| Param::from_tensor(Tensor::random([3, hidden_size], uniform, device)));
        Self {
            weight_ih: weight(input_size),
            weight_hh: weight(hidden_size),
            bias_ih,
            bias_hh,
            peephole,
        }
    }

    /// Size of the hidden state `H`.
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.dims()[0]
    }

    /// Size of the input features.
    pub fn input_size(&self) -> usize {
        self.weight_ih.dims()[0]
    }
}

/// The recurrent state a cell carries between steps: `h`, plus `c` for the LSTM.
#[derive(Clone, Debug)]
pub struct CellState {
    /// Hidden state `h_t`, `[B, H]`.
    pub hidden: Tensor<2>,
    /// Cell state `c_t`, `[B, H]` (LSTM only).
    pub cell: Option<Tensor<2>>,
}

/// A cell's weights prepared once per sequence, so the time loop does no per-step set-up:
/// parameters are read, biases summed where the equations allow it, and peephole vectors broadcast
/// to `[1, H]` once.
pub(crate) struct PreparedCell {
    kind: CellKind,
    hidden: usize,
    weight_ih: Tensor<2>,
    weight_hh: Tensor<2>,
    /// Bias added to `x_t W_ih`: `b_ih + b_hh` for RNN and LSTM (one add per step), `b_ih` for GRU.
    bias_x: Option<Tensor<2>>,
    /// Bias added to `h W_hh` (GRU only: `b_hn` sits inside the reset product).
    bias_h: Option<Tensor<2>>,
    peep_i: Option<Tensor<2>>,
    peep_f: Option<Tensor<2>>,
    peep_o: Option<Tensor<2>>,
}

impl PreparedCell {
    pub(crate) fn new(kind: CellKind, weights: &CellWeights) -> Self {
        let row = |b: &Option<Param<Tensor<1>>>| b.as_ref().map(|b| b.val().unsqueeze::<2>());
        let (bias_x, bias_h) = match kind {
            CellKind::Gru => (row(&weights.bias_ih), row(&weights.bias_hh)),
            _ => {
                let summed = match (row(&weights.bias_ih), row(&weights.bias_hh)) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                (summed, None)
            }
        };
        let (peep_i, peep_f, peep_o) = match &weights.peephole {
            Some(p) => {
                let p = p.val();
                let [i, f, o]: [Tensor<2>; 3] = p
                    .chunk(3, 0)
                    .try_into()
                    .expect("peephole weights have 3 rows");
                let coupled = matches!(kind, CellKind::Lstm { coupled: true, .. });
                (Some(i), (!coupled).then_some(f), Some(o))
            }
            None => (None, None, None),
        };
        Self {
            kind,
            hidden: weights.hidden_size(),
            weight_ih: weights.weight_ih.val(),
            weight_hh: weights.weight_hh.val(),
            bias_x,
            bias_h,
            peep_i,
            peep_f,
            peep_o,
        }
    }

    /// One time step: `(x_t [B, I], state_{t-1}) -> state_t`.
    pub(crate) fn step(&self, x: Tensor<2>, state: &CellState) -> CellState {
        let h = self.hidden;
        let mut gx = x.matmul(self.weight_ih.clone());
        if let Some(b) = &self.bias_x {
            gx = gx + b.clone();
        }
        let mut gh = state.hidden.clone().matmul(self.weight_hh.clone());
        match self.kind {
            CellKind::Rnn(act) => {
                let pre = gx + gh;
                let hidden = match act {
                    RnnActivation::Tanh => pre.tanh(),
                    RnnActivation::Relu => activation::relu(pre),
                };
                CellState { hidden, cell: None }
            }
            CellKind::Lstm { coupled, .. } => {
                let c_prev = state.cell.clone().expect("LSTM state carries a cell state");
                let gates = gx + gh;
                let peep = |pre: Tensor<2>, p: &Option<Tensor<2>>, c: &Tensor<2>| match p {
                    Some(p) => pre + c.clone() * p.clone(),
                    None => pre,
                };
                let mut blocks = gates.split(h, 1).into_iter();
                let mut next = || blocks.next().expect("gate block");
                let i = activation::sigmoid(peep(next(), &self.peep_i, &c_prev));
                let f = if coupled {
                    i.clone().neg().add_scalar(1.0)
                } else {
                    activation::sigmoid(peep(next(), &self.peep_f, &c_prev))
                };
                let g = next().tanh();
                let o_pre = next();
                let c = f * c_prev + i * g;
                let o = activation::sigmoid(peep(o_pre, &self.peep_o, &c));
                CellState {
                    hidden: o * c.clone().tanh(),
                    cell: Some(c),
                }
            }
            CellKind::Gru => {
                if let Some(b) = &self.bias_h {
                    gh = gh + b.clone();
                }
                let [rz_x, n_x]: [Tensor<2>; 2] = gx
                    .split_with_sizes(vec![2 * h, h], 1)
                    .try_into()
                    .expect("two blocks");
                let [rz_h, n_h]: [Tensor<2>; 2] = gh
                    .split_with_sizes(vec![2 * h, h], 1)
                    .try_into()
                    .expect("two blocks");
                let rz = activation::sigmoid(rz_x + rz_h);
                let [r, z]: [Tensor<2>; 2] = rz.chunk(2, 1).try_into().expect("two gates");
                let n = (n_x + r * n_h).tanh();
                // h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n)
                let hidden = n.clone() + z * (state.hidden.clone() - n);
                CellState { hidden, cell: None }
            }
        }
    }
}
