//! Cells with no PyTorch equivalent (peephole and coupled LSTMs, in all four combinations) are
//! checked against the plain scalar reference in `common`, and their gradients (and those of the
//! other cells) against central finite differences of that reference in f64.

// Index loops mirror the equations over several arrays at once.
#![allow(clippy::needless_range_loop)]

mod common;

use std::collections::BTreeMap;

use burn::tensor::{Distribution, Tensor};
use common::*;
use rnnzoo_models::weights::pytorch_state;
use rnnzoo_models::{CellKind, RecurrentConfig, RecurrentState, RnnActivation};

const BATCH: usize = 2;
const STEPS: usize = 4;
const INPUT: usize = 3;
const HIDDEN: usize = 4;
const LAYERS: usize = 2;
const LENGTHS: [usize; BATCH] = [4, 2];

struct Problem {
    weights: BTreeMap<String, Vec<f64>>,
    x: Vec<f64>,
    h0: Vec<f64>,
    c0: Vec<f64>,
    w_out: Vec<f64>,
    w_h: Vec<f64>,
    w_c: Vec<f64>,
}

fn idx3(a: usize, b: usize, c: usize, db: usize, dc: usize) -> usize {
    (a * db + b) * dc + c
}

/// The loss `Σ out·w_out + Σ h_n·w_h + Σ c_n·w_c`, each sequence run alone by the reference.
fn reference_loss(cell: CellKind, p: &Problem) -> (f64, Vec<Vec<Vec<f64>>>) {
    let dirs = 2;
    let reference = ScalarReference {
        cell,
        layers: LAYERS,
        bidirectional: true,
        hidden: HIDDEN,
        weights: &p.weights,
    };
    let states = LAYERS * dirs;
    let mut loss = 0.0;
    let mut outputs = vec![];
    for b in 0..BATCH {
        let len = LENGTHS[b];
        let x: Vec<Vec<f64>> = (0..len)
            .map(|t| {
                (0..INPUT)
                    .map(|i| p.x[idx3(b, t, i, STEPS, INPUT)])
                    .collect()
            })
            .collect();
        let pick = |s: &[f64]| -> Vec<Vec<f64>> {
            (0..states)
                .map(|k| {
                    (0..HIDDEN)
                        .map(|j| s[idx3(k, b, j, BATCH, HIDDEN)])
                        .collect()
                })
                .collect()
        };
        let c0 = if cell.has_cell_state() {
            pick(&p.c0)
        } else {
            vec![]
        };
        let (out, hn, cn) = reference.run(&x, &pick(&p.h0), &c0);
        for (t, row) in out.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                loss += v * p.w_out[idx3(b, t, j, STEPS, dirs * HIDDEN)];
            }
        }
        for k in 0..states {
            for j in 0..HIDDEN {
                loss += hn[k][j] * p.w_h[idx3(k, b, j, BATCH, HIDDEN)];
                if cell.has_cell_state() {
                    loss += cn[k][j] * p.w_c[idx3(k, b, j, BATCH, HIDDEN)];
                }
            }
        }
        outputs.push(out);
    }
    (loss, outputs)
}

fn f64s(t: &rnnzoo_models::weights::HostTensor) -> Vec<f64> {
    t.values.iter().map(|&v| v as f64).collect()
}

fn check_cell(cell: CellKind, seed: u64) {
    let dev = device();
    dev.seed(seed);
    let layer = RecurrentConfig::new(cell, INPUT, HIDDEN)
        .with_num_layers(LAYERS)
        .with_bidirectional(true)
        .init(&dev);
    let states = LAYERS * 2;
    let normal = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<3>::random([BATCH, STEPS, INPUT], normal, &dev).require_grad();
    let h0 = Tensor::<3>::random([states, BATCH, HIDDEN], normal, &dev).require_grad();
    let c0 = Tensor::<3>::random([states, BATCH, HIDDEN], normal, &dev).require_grad();
    let w_out = Tensor::<3>::random([BATCH, STEPS, 2 * HIDDEN], normal, &dev);
    let w_h = Tensor::<3>::random([states, BATCH, HIDDEN], normal, &dev);
    let w_c = Tensor::<3>::random([states, BATCH, HIDDEN], normal, &dev);

    let state = RecurrentState {
        hidden: h0.clone(),
        cell: cell.has_cell_state().then(|| c0.clone()),
    };
    let (out, fin) = layer.forward(x.clone(), Some(state), Some(&LENGTHS));
    let mut loss = (out.clone() * w_out.clone()).sum() + (fin.hidden * w_h.clone()).sum();
    if let Some(c) = fin.cell {
        loss = loss + (c * w_c.clone()).sum();
    }
    let ours_loss = loss.clone().into_scalar::<f32>() as f64;
    let grads = loss.backward();

    let mut problem = Problem {
        weights: pytorch_state(&layer, "")
            .iter()
            .map(|(k, v)| (k.clone(), f64s(v)))
            .collect(),
        x: f64s(&to_host(x.clone())),
        h0: f64s(&to_host(h0.clone())),
        c0: f64s(&to_host(c0.clone())),
        w_out: f64s(&to_host(w_out)),
        w_h: f64s(&to_host(w_h)),
        w_c: f64s(&to_host(w_c)),
    };

    // Forward: every valid output step equals the reference; padded steps are zero.
    let (ref_loss, ref_out) = reference_loss(cell, &problem);
    let out = to_host(out);
    for b in 0..BATCH {
        for t in 0..STEPS {
            for j in 0..2 * HIDDEN {
                let ours = out.values[idx3(b, t, j, STEPS, 2 * HIDDEN)] as f64;
                let want = if t < LENGTHS[b] {
                    ref_out[b][t][j]
                } else {
                    0.0
                };
                assert!(
                    (ours - want).abs() < 1e-5,
                    "{cell:?} out[{b},{t},{j}] {ours} vs {want}"
                );
            }
        }
    }
    assert!(
        (ours_loss - ref_loss).abs() < 1e-4,
        "{cell:?} loss {ours_loss} vs {ref_loss}"
    );

    // Gradients: central differences of the f64 reference.
    let eps = 1e-6;
    let check = |what: &str, analytic: &[f32], numeric: &dyn Fn(usize) -> f64| {
        for (i, &a) in analytic.iter().enumerate() {
            let n = numeric(i);
            let tol = 1e-4 * (1.0 + n.abs());
            assert!(
                ((a as f64) - n).abs() < tol,
                "{cell:?} d loss / d {what}[{i}]: autodiff {a}, finite difference {n}"
            );
        }
    };
    let fd = |problem: &mut Problem, get: &dyn Fn(&mut Problem) -> &mut f64| {
        let orig = *get(problem);
        *get(problem) = orig + eps;
        let up = reference_loss(cell, problem).0;
        *get(problem) = orig - eps;
        let down = reference_loss(cell, problem).0;
        *get(problem) = orig;
        (up - down) / (2.0 * eps)
    };
    let cell_problem = std::cell::RefCell::new(&mut problem);
    for (name, analytic) in param_grads(&layer, &grads) {
        check(&name, &analytic.values, &|i| {
            fd(&mut cell_problem.borrow_mut(), &|p| {
                &mut p.weights.get_mut(&name).unwrap()[i]
            })
        });
    }
    check("x", &to_host(x.grad(&grads).unwrap()).values, &|i| {
        fd(&mut cell_problem.borrow_mut(), &|p| &mut p.x[i])
    });
    check("h0", &to_host(h0.grad(&grads).unwrap()).values, &|i| {
        fd(&mut cell_problem.borrow_mut(), &|p| &mut p.h0[i])
    });
    if cell.has_cell_state() {
        check("c0", &to_host(c0.grad(&grads).unwrap()).values, &|i| {
            fd(&mut cell_problem.borrow_mut(), &|p| &mut p.c0[i])
        });
    }
}

#[test]
fn lstm_plain_matches_reference_and_finite_differences() {
    check_cell(CellKind::LSTM, 1);
}

#[test]
fn lstm_peephole_matches_reference_and_finite_differences() {
    check_cell(
        CellKind::Lstm {
            peephole: true,
            coupled: false,
        },
        2,
    );
}

#[test]
fn lstm_coupled_matches_reference_and_finite_differences() {
    check_cell(
        CellKind::Lstm {
            peephole: false,
            coupled: true,
        },
        3,
    );
}

#[test]
fn lstm_peephole_coupled_matches_reference_and_finite_differences() {
    check_cell(
        CellKind::Lstm {
            peephole: true,
            coupled: true,
        },
        4,
    );
}

#[test]
fn gru_matches_reference_and_finite_differences() {
    check_cell(CellKind::Gru, 5);
}

#[test]
fn rnn_matches_reference_and_finite_differences() {
    check_cell(CellKind::Rnn(RnnActivation::Tanh), 6);
    check_cell(CellKind::Rnn(RnnActivation::Relu), 7);
}
