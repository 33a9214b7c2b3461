//! The LSTM variants PyTorch lacks (peepholes, coupled gates, both) at realistic sizes, where
//! the kernels' block and panel splits come into play: the whole-sequence forward and the step
//! path against the scalar f64 reference of `common`, and the gradients as directional
//! derivatives, `⟨∇L, d⟩` against a central difference of the reference along a seeded
//! direction `d`, one direction per parameter and input tensor (a full finite-difference check
//! would take a million reference runs).

// Index loops mirror the layouts of several arrays at once.
#![allow(clippy::needless_range_loop)]

mod common;

use std::collections::BTreeMap;

use common::*;
use rnnzoo_models::weights::pytorch_state;
use rnnzoo_models::{CellKind, RecurrentConfig, RecurrentState};

const BATCH: usize = 5;
const STEPS: usize = 8;
const LAYERS: usize = 2;
const LENGTHS: [usize; BATCH] = [8, 3, 6, 8, 1];
/// float32 over sums of hundreds of terms.
const TOLERANCE: f64 = 1e-4;

/// Everything the reference loss depends on, in f64: weights under PyTorch's names, `x [B, T,
/// I]`, states `[layers, B, H]`, and the loss weights of the outputs and final states.
#[derive(Clone)]
struct Problem {
    tensors: BTreeMap<String, Vec<f64>>,
    input: usize,
    hidden: usize,
}

impl Problem {
    fn get(&self, name: &str) -> &[f64] {
        &self.tensors[name]
    }

    /// Sequence `b` alone: its real steps of `x`, and its initial states per layer.
    fn sequence(&self, b: usize) -> (Rows, Rows, Rows) {
        let (i, h) = (self.input, self.hidden);
        let x = (0..LENGTHS[b])
            .map(|t| self.get("x")[(b * STEPS + t) * i..(b * STEPS + t + 1) * i].to_vec())
            .collect();
        let state = |name: &str| -> Rows {
            (0..LAYERS)
                .map(|l| self.get(name)[(l * BATCH + b) * h..(l * BATCH + b + 1) * h].to_vec())
                .collect()
        };
        (x, state("h0"), state("c0"))
    }

    /// The reference's outputs per sequence and the loss `Σ out·w_out + Σ h_n·w_h + Σ c_n·w_c`.
    fn reference(&self, cell: CellKind) -> (Vec<(Rows, Rows, Rows)>, f64) {
        let reference = ScalarReference {
            cell,
            layers: LAYERS,
            bidirectional: false,
            hidden: self.hidden,
            weights: &self.tensors,
        };
        let h = self.hidden;
        let mut loss = 0.0;
        let mut results = Vec::new();
        for b in 0..BATCH {
            let (x, h0, c0) = self.sequence(b);
            let (out, h_n, c_n) = reference.run(&x, &h0, &c0);
            for (t, row) in out.iter().enumerate() {
                let w = &self.get("w_out")[(b * STEPS + t) * h..(b * STEPS + t + 1) * h];
                loss += row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
            }
            for l in 0..LAYERS {
                let at = (l * BATCH + b) * h..(l * BATCH + b + 1) * h;
                let dot = |v: &[f64], name: &str| -> f64 {
                    v.iter()
                        .zip(&self.get(name)[at.clone()])
                        .map(|(a, b)| a * b)
                        .sum()
                };
                loss += dot(&h_n[l], "w_h") + dot(&c_n[l], "w_c");
            }
            results.push((out, h_n, c_n));
        }
        (results, loss)
    }
}

fn f64s(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

fn close(what: &str, ours: f32, want: f64) {
    assert!(
        (ours as f64 - want).abs() < TOLERANCE,
        "{what}: {ours} vs reference {want}"
    );
}

fn check(cell: CellKind, input: usize, hidden: usize, seed: u64) {
    let name = format!("{} {input}->{hidden}", cell.name());
    let dev = device();
    let layer = RecurrentConfig::new(cell, input, hidden)
        .with_num_layers(LAYERS)
        .init(&dev);
    // Seeded values for every parameter, so the peepholes are as large as the other weights.
    let mut state = pytorch_state(&layer, "");
    let mut k = 0;
    for tensor in state.values_mut() {
        let scale = (1.0 / (hidden as f64).sqrt()) as f32;
        tensor.values = seeded_uniform(seed * 100 + k, &tensor.shape, scale).values;
        k += 1;
    }
    let layer =
        rnnzoo_models::weights::load_pytorch_state(layer, &state.clone().into_iter().collect(), "")
            .unwrap();
    let seeded = |offset: u64, shape: &[usize], scale: f32| {
        seeded_uniform(seed * 100 + k + offset, shape, scale)
    };
    let states = [LAYERS, BATCH, hidden];
    let mut x = seeded(0, &[BATCH, STEPS, input], 1.5);
    for (b, &len) in LENGTHS.iter().enumerate() {
        x.values[(b * STEPS + len) * input..(b + 1) * STEPS * input].fill(100.0);
    }
    let h0 = seeded(1, &states, 0.5);
    let c0 = seeded(2, &states, 0.5);
    let w_out = seeded(3, &[BATCH, STEPS, hidden], 1.0);
    let w_h = seeded(4, &states, 1.0);
    let w_c = seeded(5, &states, 1.0);

    // Ours: the whole-sequence forward and its gradients.
    let xt = to_tensor::<3>(&x, &dev).require_grad();
    let h0t = to_tensor::<3>(&h0, &dev).require_grad();
    let c0t = to_tensor::<3>(&c0, &dev).require_grad();
    let initial = RecurrentState {
        hidden: h0t.clone(),
        cell: Some(c0t.clone()),
    };
    let (out, fin) = layer.forward(xt.clone(), Some(initial), Some(&LENGTHS));
    let c_n = fin.cell.clone().unwrap();
    let loss = (out.clone() * to_tensor::<3>(&w_out, &dev)).sum()
        + (fin.hidden.clone() * to_tensor::<3>(&w_h, &dev)).sum()
        + (c_n.clone() * to_tensor::<3>(&w_c, &dev)).sum();
    let grads = loss.backward();
    let mut gradients = param_grads(&layer, &grads);
    gradients.insert("x".into(), to_host(xt.grad(&grads).unwrap()));
    gradients.insert("h0".into(), to_host(h0t.grad(&grads).unwrap()));
    gradients.insert("c0".into(), to_host(c0t.grad(&grads).unwrap()));

    // The reference, and the forward against it.
    let mut tensors: BTreeMap<String, Vec<f64>> = state
        .iter()
        .map(|(k, v)| (k.clone(), f64s(&v.values)))
        .collect();
    for (key, t) in [
        ("x", &x),
        ("h0", &h0),
        ("c0", &c0),
        ("w_out", &w_out),
        ("w_h", &w_h),
        ("w_c", &w_c),
    ] {
        tensors.insert(key.into(), f64s(&t.values));
    }
    let problem = Problem {
        tensors,
        input,
        hidden,
    };
    let (reference, _) = problem.reference(cell);
    let (out, h_n, c_n) = (to_host(out), to_host(fin.hidden), to_host(c_n));
    let h = hidden;
    for (b, (ref_out, ref_h, ref_c)) in reference.iter().enumerate() {
        for t in 0..STEPS {
            for j in 0..h {
                let want = if t < LENGTHS[b] { ref_out[t][j] } else { 0.0 };
                let ours = out.values[(b * STEPS + t) * h + j];
                close(&format!("{name} out[{b},{t},{j}]"), ours, want);
            }
        }
        for l in 0..LAYERS {
            for j in 0..h {
                let at = (l * BATCH + b) * h + j;
                close(
                    &format!("{name} h_n[{l},{b},{j}]"),
                    h_n.values[at],
                    ref_h[l][j],
                );
                close(
                    &format!("{name} c_n[{l},{b},{j}]"),
                    c_n.values[at],
                    ref_c[l][j],
                );
            }
        }
    }

    // The step path against the same reference, at each sequence's real steps.
    let mut stepper = layer.stepper(BATCH);
    for l in 0..LAYERS {
        let rows = l * BATCH * h..(l + 1) * BATCH * h;
        stepper.set_state(l, &h0.values[rows.clone()], &c0.values[rows]);
    }
    for t in 0..STEPS {
        let x_t: Vec<f32> = (0..BATCH)
            .flat_map(|b| x.values[(b * STEPS + t) * input..(b * STEPS + t + 1) * input].to_vec())
            .collect();
        let top = stepper.step(&x_t).to_vec();
        for (b, (ref_out, ref_h, ref_c)) in reference.iter().enumerate() {
            if t < LENGTHS[b] {
                for j in 0..h {
                    close(
                        &format!("{name} step {t} row {b}"),
                        top[b * h + j],
                        ref_out[t][j],
                    );
                }
            }
            if t + 1 == LENGTHS[b] {
                for l in 0..LAYERS {
                    let (hl, cl) = stepper.state(l);
                    for j in 0..h {
                        close(&format!("{name} stepped h_n"), hl[b * h + j], ref_h[l][j]);
                        close(&format!("{name} stepped c_n"), cl[b * h + j], ref_c[l][j]);
                    }
                }
            }
        }
    }

    // Gradients: one seeded direction per tensor.
    let eps = 1e-4;
    for (n, (key, gradient)) in gradients.iter().enumerate() {
        let direction = seeded_uniform(seed * 100 + 50 + n as u64, &gradient.shape, 1.0).values;
        let analytic: f64 = gradient
            .values
            .iter()
            .zip(&direction)
            .map(|(&g, &d)| g as f64 * d as f64)
            .sum();
        let moved = |sign: f64| {
            let mut p = problem.clone();
            for (v, &d) in p
                .tensors
                .get_mut(key.as_str())
                .unwrap()
                .iter_mut()
                .zip(&direction)
            {
                *v += sign * eps * d as f64;
            }
            p.reference(cell).1
        };
        let numeric = (moved(1.0) - moved(-1.0)) / (2.0 * eps);
        assert!(
            (analytic - numeric).abs() < 1e-3 * (1.0 + numeric.abs()),
            "{name} d loss along a seeded direction of {key}: autodiff {analytic}, finite difference {numeric}"
        );
    }
}

#[test]
fn peephole_lstm_at_realistic_sizes() {
    let cell = CellKind::Lstm {
        peephole: true,
        coupled: false,
    };
    check(cell, 96, 320, 1);
}

#[test]
fn coupled_lstm_at_realistic_sizes() {
    let cell = CellKind::Lstm {
        peephole: false,
        coupled: true,
    };
    check(cell, 400, 160, 2);
}

#[test]
fn peephole_coupled_lstm_at_realistic_sizes() {
    let cell = CellKind::Lstm {
        peephole: true,
        coupled: true,
    };
    check(cell, 160, 384, 3);
}
