//! Xu et al.'s doubly stochastic attention penalty (`coverage_penalty`): its value against a
//! scalar reference, its gradient against Xu et al.'s own form `Σ_i (1 − s_i)²` (which differs
//! by a constant per item), and its zero at evenly spread attention. Every dimension has its
//! own size: batch 3, steps 9 (the items use 9, 4 and 6 of them), memory 7 rows (the items use
//! 7, 5 and 6).

mod common;

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use common::to_host;
use rnnzoo_models::attention::coverage_penalty;

const BATCH: usize = 3;
const STEPS: usize = 9;
const SOURCES: usize = 7;
const WORDS: [usize; BATCH] = [9, 4, 6];
const LENGTHS: [usize; BATCH] = [7, 5, 6];

/// The flat `[B·T]` positions of the real steps.
fn rows() -> Vec<usize> {
    (0..BATCH)
        .flat_map(|b| (0..WORDS[b]).map(move |t| b * STEPS + t))
        .collect()
}

/// `[B, 1, S]`: 0 at the memory rows in use, a large negative number past them.
fn mask(device: &Device) -> Tensor<3> {
    let values: Vec<f32> = (0..BATCH)
        .flat_map(|b| (0..SOURCES).map(move |i| if i < LENGTHS[b] { 0.0 } else { -1e9 }))
        .collect();
    Tensor::from_data(TensorData::new(values, [BATCH, 1, SOURCES]), device)
}

/// `s_bi = Σ_t α_bti` over the real steps, on the host.
fn received(weights: &[f32]) -> Vec<Vec<f64>> {
    (0..BATCH)
        .map(|b| {
            (0..SOURCES)
                .map(|i| {
                    (0..WORDS[b])
                        .map(|t| weights[(b * STEPS + t) * SOURCES + i] as f64)
                        .sum()
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_penalty_has_xu_et_al_s_gradient_and_differs_from_their_form_by_a_constant() {
    let device = Device::flex().autodiff();
    device.seed(13);
    let random = Tensor::<3>::random(
        [BATCH, STEPS, SOURCES],
        Distribution::Normal(0.0, 2.0),
        &device,
    )
    .into_data();
    // Burn's tape is consumed by a backward pass: one leaf for each of the two losses.
    let leaf = || Tensor::<3>::from_data(random.clone(), &device).require_grad();
    let (scores, xu_scores) = (leaf(), leaf());
    let weights = softmax(scores.clone() + mask(&device), 2);
    let host = to_host(weights.clone()).values;
    let words: usize = WORDS.iter().sum();

    let ours = coverage_penalty(weights, &rows(), &LENGTHS);
    let value = ours.clone().into_scalar::<f32>() as f64;
    let s = received(&host);
    let mut reference = 0.0;
    let mut constant = 0.0;
    for b in 0..BATCH {
        let (t, l) = (WORDS[b] as f64, LENGTHS[b] as f64);
        reference += s[b][..LENGTHS[b]]
            .iter()
            .map(|x| (x - t / l).powi(2))
            .sum::<f64>();
        constant += l * (1.0 - t / l).powi(2);
    }
    reference /= words as f64;
    constant /= words as f64;
    assert!(value > 0.05, "random attention is uneven: {value}");
    assert!((value - reference).abs() < 1e-5, "{value} vs {reference}");

    // Xu et al.'s `Σ_i (1 − s_i)²` over the rows in use, per word.
    let real: Vec<f32> = (0..BATCH * STEPS)
        .map(|r| if rows().contains(&r) { 1.0 } else { 0.0 })
        .collect();
    let real = Tensor::<3>::from_data(TensorData::new(real, [BATCH, STEPS, 1]), &device);
    let in_use: Vec<f32> = (0..BATCH)
        .flat_map(|b| (0..SOURCES).map(move |i| if i < LENGTHS[b] { 1.0 } else { 0.0 }))
        .collect();
    let in_use = Tensor::<2>::from_data(TensorData::new(in_use, [BATCH, SOURCES]), &device);
    let xu_weights = softmax(xu_scores.clone() + mask(&device), 2);
    let s_t = (xu_weights * real).sum_dim(1).reshape([BATCH, SOURCES]);
    let gap = (s_t.neg().add_scalar(1.0)) * in_use;
    let xu = (gap.clone() * gap).sum().div_scalar(words as f64);
    let xu_value = xu.clone().into_scalar::<f32>() as f64;
    assert!(
        (xu_value - value - constant).abs() < 1e-4,
        "Xu {xu_value} = ours {value} + {constant}"
    );

    let g_ours = to_host(scores.grad(&ours.backward()).unwrap()).values;
    let g_xu = to_host(xu_scores.grad(&xu.backward()).unwrap()).values;
    let norm: f32 = g_ours.iter().map(|g| g * g).sum();
    assert!(norm > 1e-6, "the penalty moves the scores");
    for (a, b) in g_ours.iter().zip(&g_xu) {
        assert!((a - b).abs() < 1e-5, "gradient {a} vs Xu's {b}");
    }
}

#[test]
fn evenly_spread_attention_costs_nothing_and_padding_steps_do_not_count() {
    let device = Device::flex();
    // Every real step spreads evenly over the rows in use; the padding steps all look at row 0.
    let values: Vec<f32> = (0..BATCH)
        .flat_map(|b| {
            (0..STEPS).flat_map(move |t| {
                (0..SOURCES).map(move |i| match (t < WORDS[b], i < LENGTHS[b]) {
                    (true, true) => 1.0 / LENGTHS[b] as f32,
                    (true, false) => 0.0,
                    (false, _) => (i == 0) as u8 as f32,
                })
            })
        })
        .collect();
    let weights = Tensor::<3>::from_data(TensorData::new(values, [BATCH, STEPS, SOURCES]), &device);
    let even = coverage_penalty(weights.clone(), &rows(), &LENGTHS).into_scalar::<f32>();
    assert!(even.abs() < 1e-6, "{even}");
    // Counting the padding steps would make it uneven.
    let all: Vec<usize> = (0..BATCH * STEPS).collect();
    let padded = coverage_penalty(weights, &all, &LENGTHS).into_scalar::<f32>();
    assert!(padded > 0.1, "{padded}");
}
