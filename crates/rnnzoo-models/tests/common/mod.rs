//! Helpers shared by the integration tests: host/device conversion, gradient extraction under
//! PyTorch's names, and a plain scalar reference implementation of every cell.
#![allow(dead_code, clippy::needless_range_loop)]

use std::collections::BTreeMap;

use burn::tensor::{Device, Distribution, Gradients, Tensor, TensorData};
use rnnzoo_models::weights::HostTensor;
use rnnzoo_models::{CellKind, Recurrent, RnnActivation};

pub fn device() -> Device {
    Device::flex().autodiff()
}

pub fn to_tensor<const D: usize>(host: &HostTensor, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = host.shape.clone().try_into().expect("rank");
    Tensor::from_data(TensorData::new(host.values.clone(), shape), device)
}

pub fn to_host<const D: usize>(t: Tensor<D>) -> HostTensor {
    HostTensor {
        shape: t.dims().to_vec(),
        values: t
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap(),
    }
}

/// The captioner tests' batch: 3 RGB images of 12x12, uniform in [0, 1) (seed 9).
pub fn captioner_images() -> Tensor<4> {
    let device = Device::flex();
    device.seed(9);
    Tensor::random([3, 3, 12, 12], Distribution::Uniform(0.0, 1.0), &device)
}

/// Largest absolute difference; panics on a shape mismatch.
pub fn max_abs_diff(a: &HostTensor, b: &HostTensor) -> f32 {
    assert_eq!(a.shape, b.shape, "shapes differ");
    a.values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn assert_close(what: &str, a: &HostTensor, b: &HostTensor, tol: f32) {
    let err = max_abs_diff(a, b);
    assert!(err < tol, "{what}: max abs error {err:e} >= {tol:e}");
}

/// Gradients of every parameter of the layer, under PyTorch's names and layout.
pub fn param_grads(layer: &Recurrent, grads: &Gradients) -> BTreeMap<String, HostTensor> {
    let dirs = layer.num_directions();
    let mut out = BTreeMap::new();
    for (index, cell) in layer.cells.iter().enumerate() {
        let suffix = format!(
            "_l{}{}",
            index / dirs,
            if index % dirs == 1 { "_reverse" } else { "" }
        );
        let g2 = |p: &burn::module::Param<Tensor<2>>| to_host(p.grad(grads).unwrap().transpose());
        out.insert(format!("weight_ih{suffix}"), g2(&cell.weight_ih));
        out.insert(format!("weight_hh{suffix}"), g2(&cell.weight_hh));
        if let Some(b) = &cell.bias_ih {
            out.insert(format!("bias_ih{suffix}"), to_host(b.grad(grads).unwrap()));
        }
        if let Some(b) = &cell.bias_hh {
            out.insert(format!("bias_hh{suffix}"), to_host(b.grad(grads).unwrap()));
        }
        if let Some(p) = &cell.peephole {
            let g = p.grad(grads).unwrap();
            for (row, gate) in ["i", "f", "o"].iter().enumerate() {
                out.insert(
                    format!("weight_peephole_{gate}{suffix}"),
                    to_host(g.clone().narrow(0, row, 1).squeeze_dim::<1>(0)),
                );
            }
        }
    }
    out
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Row-major matrix-vector product with a PyTorch-layout weight `[rows, cols]`.
fn matvec(w: &[f64], rows: usize, cols: usize, x: &[f64]) -> Vec<f64> {
    (0..rows)
        .map(|r| (0..cols).map(|c| w[r * cols + c] * x[c]).sum())
        .collect()
}

/// A deliberately plain f64 implementation of the equations in `CellKind`'s docs, one scalar at
/// a time, over PyTorch-named weights. Inputs `x[b][t][i]`; states `[layer*dirs][b][h]`; lengths
/// per sequence. Returns (outputs `[b][t][dirs*h]`, h_n, c_n).
pub struct ScalarReference<'a> {
    pub cell: CellKind,
    pub layers: usize,
    pub bidirectional: bool,
    pub hidden: usize,
    pub weights: &'a BTreeMap<String, Vec<f64>>,
}

/// Per-step vectors: `[step][feature]` (or `[state][unit]`).
pub type Rows = Vec<Vec<f64>>;

impl ScalarReference<'_> {
    fn w(&self, name: &str) -> &[f64] {
        &self.weights[name]
    }

    fn step(&self, sfx: &str, x: &[f64], h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let hs = self.hidden;
        let g = self.cell.num_gates();
        let wx = matvec(self.w(&format!("weight_ih{sfx}")), g * hs, x.len(), x);
        let wh = matvec(self.w(&format!("weight_hh{sfx}")), g * hs, hs, h);
        let bx = self
            .weights
            .get(&format!("bias_ih{sfx}"))
            .cloned()
            .unwrap_or(vec![0.0; g * hs]);
        let bh = self
            .weights
            .get(&format!("bias_hh{sfx}"))
            .cloned()
            .unwrap_or(vec![0.0; g * hs]);
        let pre =
            |k: usize, j: usize| wx[k * hs + j] + bx[k * hs + j] + wh[k * hs + j] + bh[k * hs + j];
        let peep = |gate: &str, j: usize, cv: &[f64]| -> f64 {
            self.weights
                .get(&format!("weight_peephole_{gate}{sfx}"))
                .map(|p| p[j] * cv[j])
                .unwrap_or(0.0)
        };
        match self.cell {
            CellKind::Rnn(act) => {
                let h2 = (0..hs)
                    .map(|j| match act {
                        RnnActivation::Tanh => pre(0, j).tanh(),
                        RnnActivation::Relu => pre(0, j).max(0.0),
                    })
                    .collect();
                (h2, vec![])
            }
            CellKind::Lstm { coupled, .. } => {
                let (gi, gf, gg, go) = if coupled {
                    (0, usize::MAX, 1, 2)
                } else {
                    (0, 1, 2, 3)
                };
                let mut c2 = vec![0.0; hs];
                let mut h2 = vec![0.0; hs];
                for j in 0..hs {
                    let i = sigmoid(pre(gi, j) + peep("i", j, c));
                    let f = if coupled {
                        1.0 - i
                    } else {
                        sigmoid(pre(gf, j) + peep("f", j, c))
                    };
                    let gv = pre(gg, j).tanh();
                    c2[j] = f * c[j] + i * gv;
                }
                for j in 0..hs {
                    let o = sigmoid(pre(go, j) + peep("o", j, &c2));
                    h2[j] = o * c2[j].tanh();
                }
                (h2, c2)
            }
            CellKind::Gru => {
                let mut h2 = vec![0.0; hs];
                for j in 0..hs {
                    let r = sigmoid(wx[j] + bx[j] + wh[j] + bh[j]);
                    let z = sigmoid(wx[hs + j] + bx[hs + j] + wh[hs + j] + bh[hs + j]);
                    let n =
                        (wx[2 * hs + j] + bx[2 * hs + j] + r * (wh[2 * hs + j] + bh[2 * hs + j]))
                            .tanh();
                    h2[j] = (1.0 - z) * n + z * h[j];
                }
                (h2, vec![])
            }
        }
    }

    /// Runs one sequence of `len` steps (no padding involved: the reference runs each sequence
    /// alone).
    pub fn run(&self, x: &[Vec<f64>], h0: &[Vec<f64>], c0: &[Vec<f64>]) -> (Rows, Rows, Rows) {
        let dirs = if self.bidirectional { 2 } else { 1 };
        let steps = x.len();
        let mut input: Vec<Vec<f64>> = x.to_vec();
        let (mut hn, mut cn) = (vec![], vec![]);
        for layer in 0..self.layers {
            let mut outs = vec![vec![]; steps];
            for d in 0..dirs {
                let k = layer * dirs + d;
                let sfx = format!("_l{layer}{}", if d == 1 { "_reverse" } else { "" });
                let (mut h, mut c) = (h0[k].clone(), c0.get(k).cloned().unwrap_or_default());
                let order: Vec<usize> = if d == 0 {
                    (0..steps).collect()
                } else {
                    (0..steps).rev().collect()
                };
                let mut dir_out = vec![vec![]; steps];
                for t in order {
                    let (h2, c2) = self.step(&sfx, &input[t], &h, &c);
                    h = h2;
                    c = c2;
                    dir_out[t] = h.clone();
                }
                for t in 0..steps {
                    outs[t].extend(dir_out[t].iter().copied());
                }
                hn.push(h);
                cn.push(c);
            }
            input = outs;
        }
        (input, hn, cn)
    }
}

/// The seeded values of `scripts/make_fixtures.py`'s `seeded_uniform`, bit for bit: value `i`
/// (row-major) is `(2 · (mix(seed + (i + 1) · γ) >> 40) / 2²⁴ − 1) · scale` in `f32`, where `mix`
/// is SplitMix64's output function (SplitMix64 is counter-based, so each value is computed
/// directly from its index).
pub fn seeded_uniform(seed: u64, shape: &[usize], scale: f32) -> HostTensor {
    let n: usize = shape.iter().product();
    let values = (0..n as u64)
        .map(|i| {
            let mut z = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 40) as f32 / (1u32 << 24) as f32;
            (2.0 * u - 1.0) * scale
        })
        .collect();
    HostTensor {
        shape: shape.to_vec(),
        values,
    }
}
