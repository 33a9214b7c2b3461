//! Parity with PyTorch at realistic sizes, where the kernels' block, panel and thread splits
//! come into play (hidden 320, 384 and 512, hidden smaller than the input, batches the forward
//! splits over threads) and at the shapes of the quick start and of the benchmark configs a, c,
//! d and e. For each fixture of `tests/fixtures/large/` (see `scripts/make_fixtures.py`):
//!
//! - the whole-sequence path: outputs, final states and the gradients of the input, the initial
//!   states and every weight, against `nn.RNN`/`nn.LSTM`/`nn.GRU` in float64;
//! - the step-by-step path ([`Recurrent::stepper`], unidirectional fixtures): each real step's
//!   output, and the state after each sequence's last real step, against the same reference.
//!
//! The fixtures hold no weights or inputs: both sides generate them from the seed
//! ([`common::seeded_uniform`]); results are stored at seeded sample positions.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use burn::tensor::Tensor;
use common::*;
use rnnzoo_models::weights::{HostTensor, load_pytorch_state, read_safetensors};
use rnnzoo_models::{CellKind, Recurrent, RecurrentConfig, RecurrentState, RnnActivation};

/// float32 over sums of hundreds of terms, forty steps deep.
const TOLERANCE: f32 = 1e-4;

struct Case {
    name: String,
    cell: CellKind,
    batch: usize,
    steps: usize,
    input: usize,
    hidden: usize,
    layers: usize,
    bidirectional: bool,
    lengths: Option<Vec<usize>>,
    seed: u64,
    /// `NAME` and `idx.NAME`: sampled reference values and their flat positions.
    expected: HashMap<String, HostTensor>,
}

impl Case {
    fn load(name: &str) -> Self {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/large")
            .join(format!("{name}.safetensors"));
        let expected = read_safetensors(&path).expect("fixture reads");
        let bytes = std::fs::read(&path).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().expect("fixture metadata");
        let number = |key: &str| -> usize { meta[key].parse().unwrap() };
        let cell = match meta["mode"].as_str() {
            "rnn_tanh" => CellKind::Rnn(RnnActivation::Tanh),
            "rnn_relu" => CellKind::Rnn(RnnActivation::Relu),
            "lstm" => CellKind::LSTM,
            "gru" => CellKind::Gru,
            other => panic!("unknown mode {other}"),
        };
        Self {
            name: name.to_string(),
            cell,
            batch: number("batch"),
            steps: number("steps"),
            input: number("input"),
            hidden: number("hidden"),
            layers: number("num_layers"),
            bidirectional: meta["bidirectional"] == "true",
            lengths: (!meta["lengths"].is_empty()).then(|| {
                meta["lengths"]
                    .split(',')
                    .map(|s| s.parse().unwrap())
                    .collect()
            }),
            seed: meta["seed"].parse().unwrap(),
            expected,
        }
    }

    fn dirs(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    fn tensor_seed(&self, index: u64) -> u64 {
        self.seed.wrapping_mul(1000).wrapping_add(index)
    }

    /// The parameters in PyTorch's `named_parameters()` order, with their shapes.
    fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let gh = self.cell.num_gates() * self.hidden;
        let mut out = Vec::new();
        for layer in 0..self.layers {
            for direction in 0..self.dirs() {
                let suffix = format!("_l{layer}{}", if direction == 1 { "_reverse" } else { "" });
                let input = if layer == 0 {
                    self.input
                } else {
                    self.hidden * self.dirs()
                };
                out.push((format!("weight_ih{suffix}"), vec![gh, input]));
                out.push((format!("weight_hh{suffix}"), vec![gh, self.hidden]));
                out.push((format!("bias_ih{suffix}"), vec![gh]));
                out.push((format!("bias_hh{suffix}"), vec![gh]));
            }
        }
        out
    }

    /// The seeded layer, input and initial states.
    fn inputs(&self) -> (Recurrent, HostTensor, HostTensor, HostTensor) {
        let scale = (1.0 / (self.hidden as f64).sqrt()) as f32;
        let shapes = self.parameter_shapes();
        let params: HashMap<String, HostTensor> = shapes
            .iter()
            .enumerate()
            .map(|(k, (name, shape))| {
                (
                    name.clone(),
                    seeded_uniform(self.tensor_seed(k as u64), shape, scale),
                )
            })
            .collect();
        let k = shapes.len() as u64;
        let layer = RecurrentConfig::new(self.cell, self.input, self.hidden)
            .with_num_layers(self.layers)
            .with_bidirectional(self.bidirectional)
            .init(&device());
        let layer = load_pytorch_state(layer, &params, "").expect("weights load");
        let (b, t, i) = (self.batch, self.steps, self.input);
        let mut x = seeded_uniform(self.tensor_seed(k), &[b, t, i], 1.5);
        if let Some(lengths) = &self.lengths {
            for (row, &n) in lengths.iter().enumerate() {
                x.values[(row * t + n) * i..(row + 1) * t * i].fill(100.0);
            }
        }
        let state = [self.layers * self.dirs(), b, self.hidden];
        let h0 = seeded_uniform(self.tensor_seed(k + 1), &state, 0.5);
        let c0 = seeded_uniform(self.tensor_seed(k + 2), &state, 0.5);
        (layer, x, h0, c0)
    }

    fn loss_weights(&self, offset: u64, shape: &[usize]) -> HostTensor {
        let k = self.parameter_shapes().len() as u64;
        seeded_uniform(self.tensor_seed(k + offset), shape, 1.0)
    }

    /// Positions of the sampled reference values of `key`.
    fn positions(&self, key: &str) -> Vec<usize> {
        self.expected[&format!("idx.{key}")]
            .values
            .iter()
            .map(|&v| v as usize)
            .collect()
    }

    /// Checks `ours` (all values of `key`, flat) at the sampled positions.
    fn check(&self, key: &str, ours: &[f32]) {
        let reference = &self.expected[key].values;
        let mut worst = (0.0f32, 0);
        for (&position, &want) in self.positions(key).iter().zip(reference) {
            let err = (ours[position] - want).abs();
            if err > worst.0 {
                worst = (err, position);
            }
        }
        assert!(
            worst.0 < TOLERANCE,
            "{} {key}: max abs error {:e} >= {TOLERANCE:e} at flat position {}",
            self.name,
            worst.0,
            worst.1
        );
    }

    fn length(&self, row: usize) -> usize {
        self.lengths.as_ref().map_or(self.steps, |l| l[row])
    }
}

fn whole_sequence(case: &Case) {
    let dev = device();
    let (layer, x, h0, c0) = case.inputs();
    let x: Tensor<3> = to_tensor::<3>(&x, &dev).require_grad();
    let h0: Tensor<3> = to_tensor::<3>(&h0, &dev).require_grad();
    let lstm = case.cell.has_cell_state();
    let c0 = lstm.then(|| to_tensor::<3>(&c0, &dev).require_grad());
    let state = RecurrentState {
        hidden: h0.clone(),
        cell: c0.clone(),
    };
    let (out, fin) = layer.forward(x.clone(), Some(state), case.lengths.as_deref());
    case.check("out", &to_host(out.clone()).values);
    case.check("h_n", &to_host(fin.hidden.clone()).values);
    let w =
        |offset: u64, t: &Tensor<3>| to_tensor::<3>(&case.loss_weights(offset, &t.dims()), &dev);
    let mut loss =
        (out.clone() * w(3, &out)).sum() + (fin.hidden.clone() * w(4, &fin.hidden)).sum();
    if let Some(c_n) = fin.cell {
        case.check("c_n", &to_host(c_n.clone()).values);
        loss = loss + (c_n.clone() * w(5, &c_n)).sum();
    }
    let grads = loss.backward();
    case.check("grad.x", &to_host(x.grad(&grads).unwrap()).values);
    case.check("grad.h0", &to_host(h0.grad(&grads).unwrap()).values);
    if let Some(c0) = c0 {
        case.check("grad.c0", &to_host(c0.grad(&grads).unwrap()).values);
    }
    let ours = param_grads(&layer, &grads);
    assert_eq!(ours.len(), case.parameter_shapes().len());
    for (name, _) in case.parameter_shapes() {
        case.check(&format!("grad.{name}"), &ours[&name].values);
    }
}

/// The stepper from the fixture's initial states, fed one step of `x` at a time. Rows run past
/// their length (the stepper knows no lengths), so only real steps are compared: the output at
/// every `t < length`, and the state after step `length - 1`.
fn step_by_step(case: &Case) {
    assert!(!case.bidirectional);
    let (layer, x, h0, c0) = case.inputs();
    let (b, t, i, h, layers) = (case.batch, case.steps, case.input, case.hidden, case.layers);
    let mut stepper = layer.stepper(b);
    let lstm = case.cell.has_cell_state();
    for l in 0..layers {
        let rows = l * b * h..(l + 1) * b * h;
        let c = if lstm {
            &c0.values[rows.clone()]
        } else {
            &[][..]
        };
        stepper.set_state(l, &h0.values[rows], c);
    }
    // Step results in the fixture's layouts: out [B, T, H]; h_n, c_n [layers, B, H].
    let mut out = vec![f32::NAN; b * t * h];
    let mut h_n = vec![f32::NAN; layers * b * h];
    let mut c_n = vec![f32::NAN; layers * b * h];
    for step in 0..t {
        let x_t: Vec<f32> = (0..b)
            .flat_map(|row| x.values[(row * t + step) * i..(row * t + step + 1) * i].to_vec())
            .collect();
        let top = stepper.step(&x_t).to_vec();
        for row in 0..b {
            let length = case.length(row);
            if step < length {
                out[(row * t + step) * h..(row * t + step + 1) * h]
                    .copy_from_slice(&top[row * h..(row + 1) * h]);
            } else {
                out[(row * t + step) * h..(row * t + step + 1) * h].fill(0.0);
            }
            if step + 1 == length {
                for l in 0..layers {
                    let (hl, cl) = stepper.state(l);
                    let at = (l * b + row) * h..(l * b + row + 1) * h;
                    h_n[at.clone()].copy_from_slice(&hl[row * h..(row + 1) * h]);
                    if lstm {
                        c_n[at].copy_from_slice(&cl[row * h..(row + 1) * h]);
                    }
                }
            }
        }
    }
    case.check("out", &out);
    case.check("h_n", &h_n);
    if lstm {
        case.check("c_n", &c_n);
    }
}

macro_rules! parity {
    ($($name:ident: $($path:ident),+;)*) => {
        $(
            mod $name {
                $( #[test] fn $path() { super::$path(&super::Case::load(stringify!($name))); } )+
            }
        )*
    };
}

parity! {
    lstm_96_320: whole_sequence, step_by_step;
    rnn_tanh_96_320: whole_sequence, step_by_step;
    gru_160_384: whole_sequence, step_by_step;
    lstm_400_160_bi: whole_sequence;
    rnn_relu_400_160: whole_sequence, step_by_step;
    quickstart_lstm_64_256: whole_sequence, step_by_step;
    config_a_lstm_256_256: whole_sequence, step_by_step;
    config_c_bilstm_128_128: whole_sequence;
    config_d_lstm_512_512: whole_sequence, step_by_step;
    config_e_lstm_128_512: whole_sequence, step_by_step;
}
