//! The fused CTC loss against PyTorch's `ctc_loss(log_softmax(x), …, reduction="mean")` on the
//! committed fixture (written by `scripts/make_ctc_fixture.py`): per-utterance losses, the mean
//! and the gradient with respect to the logits; and against Burn's own `CTCLoss`.

mod common;

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use common::*;
use rnnzoo_models::ctc_loss;
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn losses_and_gradients_equal_pytorch() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ctc.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let device = device();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let dims = ["batch", "time", "classes"].map(|k| case[k].as_u64().unwrap() as usize);
        let blank = case["blank"].as_u64().unwrap() as usize;
        let lengths = usizes(&case["input_lengths"]);
        let targets: Vec<Vec<usize>> = case["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(usizes)
            .collect();
        let values = floats(&case["logits"]);
        // The kernel's per-utterance losses.
        let (losses, _) = rnnzoo_kernels_losses(&values, dims, &lengths, &targets, blank);
        for (got, want) in losses.iter().zip(floats(&case["losses"])) {
            assert!(
                (*got as f32 - want).abs() < 1e-4 * want.abs().max(1.0),
                "{name}: loss {got} vs {want}"
            );
        }
        let logits = Tensor::<3>::from_data(TensorData::new(values, dims), &device).require_grad();
        let loss = ctc_loss(logits.clone(), &lengths, &targets, blank);
        let mean = loss.clone().into_scalar::<f32>();
        let want = case["mean_loss"].as_f64().unwrap() as f32;
        assert!(
            (mean - want).abs() < 1e-5 * want.abs().max(1.0),
            "{name}: mean {mean} vs {want}"
        );
        let grads = loss.backward();
        let grad = to_host(logits.grad(&grads).unwrap()).values;
        let expected = floats(&case["grad"]);
        let err = grad
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-6, "{name}: gradient error {err:e}");
    }
}

fn rnnzoo_kernels_losses(
    values: &[f32],
    dims: [usize; 3],
    lengths: &[usize],
    targets: &[Vec<usize>],
    blank: usize,
) -> (Vec<f64>, Option<Vec<f32>>) {
    let weights = vec![1.0; dims[0]];
    rnnzoo_kernels::ctc::ctc_loss(values, dims, lengths, targets, blank, &weights, false)
}

#[test]
fn the_fused_loss_equals_burns_ctc_loss() {
    // Burn's CTCLoss runs where the fused op does not (ndarray, wgpu); both must agree.
    let device = Device::flex();
    let (batch, time, classes) = (3, 11, 6);
    let logits = Tensor::<3>::random(
        [batch, time, classes],
        Distribution::Normal(0.0, 2.0),
        &device,
    );
    let lengths = [11, 8, 6];
    let targets = vec![vec![1, 2, 2, 5], vec![3], vec![4, 1]];
    let ours = ctc_loss(logits.clone(), &lengths, &targets, 0).into_scalar::<f32>();
    let longest = 4;
    let padded: Vec<i64> = targets
        .iter()
        .flat_map(|t| (0..longest).map(move |i| t.get(i).map_or(0, |&v| v as i64)))
        .collect();
    let ints = |v: Vec<i64>, shape: Vec<usize>| {
        Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(v, shape), &device)
    };
    let burns = burn::nn::loss::CTCLossConfig::new()
        .init()
        .forward_with_reduction(
            burn::tensor::activation::log_softmax(logits, 2).swap_dims(0, 1),
            ints(padded, vec![batch * longest]).reshape([batch, longest]),
            ints(lengths.iter().map(|&l| l as i64).collect(), vec![batch]),
            ints(
                targets.iter().map(|t| t.len() as i64).collect(),
                vec![batch],
            ),
            burn::nn::loss::Reduction::Mean,
        )
        .into_scalar::<f32>();
    assert!((ours - burns).abs() < 1e-4, "{ours} vs Burn's {burns}");
}
