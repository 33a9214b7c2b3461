//! The Flex backend's fused operations against Burn's own: the whole-sequence recurrent op
//! against the per-step loop (`forward_steps`), and `linear`, `dense` and `cross_entropy`
//! against `nn::Linear`, `tensor::module::linear` and `CrossEntropyLoss`: values and every
//! gradient.

mod common;

use burn::nn::LinearConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use common::*;
use rnnzoo_models::{CellKind, RecurrentConfig, RnnActivation, cross_entropy, dense, linear};

const TOLERANCE: f32 = 2e-5;

fn randn<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

#[test]
fn whole_sequence_op_equals_the_per_step_loop_with_gradients() {
    let device = device();
    for cell in [
        CellKind::Rnn(RnnActivation::Relu),
        CellKind::Lstm {
            peephole: true,
            coupled: false,
        },
        CellKind::Lstm {
            peephole: true,
            coupled: true,
        },
        CellKind::Gru,
    ] {
        let layer = RecurrentConfig::new(cell, 5, 7)
            .with_num_layers(2)
            .with_bidirectional(true)
            .init(&device);
        let x = randn([3, 6, 5], &device).require_grad();
        let lengths = [6, 2, 4];
        let (fused_out, fused_state) = layer.forward(x.clone(), None, Some(&lengths));
        let steps = x
            .clone()
            .chunk(6, 1)
            .into_iter()
            .map(|s| s.squeeze_dim::<2>(1))
            .collect();
        let (loop_out, loop_state) = layer.forward_steps(steps, None, Some(&lengths), &device);
        let loop_out = Tensor::stack::<3>(loop_out, 1);
        assert_close(
            cell.name(),
            &to_host(fused_out.clone()),
            &to_host(loop_out.clone()),
            TOLERANCE,
        );
        assert_close(
            "h_n",
            &to_host(fused_state.hidden.clone()),
            &to_host(loop_state.hidden.clone()),
            TOLERANCE,
        );
        // A loss touching outputs and final states, so every gradient path is exercised.
        let weights = randn([3, 6, 14], &device);
        let loss =
            |out: Tensor<3>, h: Tensor<3>| (out * weights.clone()).sum() + h.powf_scalar(2.0).sum();
        let fused_grads = loss(fused_out, fused_state.hidden).backward();
        let fused_x = to_host(x.grad(&fused_grads).unwrap());
        let fused_params = param_grads(&layer, &fused_grads);
        let loop_grads = loss(loop_out, loop_state.hidden).backward();
        assert_close(
            "dx",
            &fused_x,
            &to_host(x.grad(&loop_grads).unwrap()),
            TOLERANCE,
        );
        for (name, loop_grad) in param_grads(&layer, &loop_grads) {
            assert_close(&name, &fused_params[&name], &loop_grad, TOLERANCE);
        }
    }
}

#[test]
fn linear_and_dense_equal_burns_linear_with_gradients() {
    let device = device();
    let layer = LinearConfig::new(6, 9).init(&device);
    let x = randn([2, 3, 6], &device).require_grad();
    let weights = randn([2, 3, 9], &device);
    let ours = linear(&layer, x.clone());
    let burns = layer.forward(x.clone());
    assert_close(
        "linear",
        &to_host(ours.clone()),
        &to_host(burns.clone()),
        TOLERANCE,
    );
    let g_ours = (ours * weights.clone()).sum().backward();
    let g_burn = (burns * weights).sum().backward();
    assert_close(
        "dx",
        &to_host(x.grad(&g_ours).unwrap()),
        &to_host(x.grad(&g_burn).unwrap()),
        TOLERANCE,
    );
    assert_close(
        "dW",
        &to_host(layer.weight.grad(&g_ours).unwrap()),
        &to_host(layer.weight.grad(&g_burn).unwrap()),
        TOLERANCE,
    );
    let bias = layer.bias.as_ref().unwrap();
    assert_close(
        "db",
        &to_host(bias.grad(&g_ours).unwrap()),
        &to_host(bias.grad(&g_burn).unwrap()),
        TOLERANCE,
    );

    // A transposed (tied) weight and no bias.
    let embedding = randn([9, 6], &device).require_grad();
    let ours = dense(x.clone(), embedding.clone().transpose(), None);
    let burns = x
        .clone()
        .matmul(embedding.clone().transpose().unsqueeze::<3>());
    assert_close(
        "tied",
        &to_host(ours.clone()),
        &to_host(burns.clone()),
        TOLERANCE,
    );
    let g_ours = ours.powf_scalar(2.0).sum().backward();
    let g_burn = burns.powf_scalar(2.0).sum().backward();
    assert_close(
        "d embedding",
        &to_host(embedding.grad(&g_ours).unwrap()),
        &to_host(embedding.grad(&g_burn).unwrap()),
        1e-4,
    );
}

#[test]
fn cross_entropy_equals_burns_loss_with_gradients() {
    let device = device();
    let logits = randn([5, 11], &device).mul_scalar(3.0).require_grad();
    let targets = Tensor::<1, Int>::from_data(TensorData::from([0i64, 10, 3, 3, 7]), &device);
    let ours = cross_entropy(logits.clone(), targets.clone());
    let burns = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits.clone(), targets);
    assert_close(
        "loss",
        &to_host(ours.clone()),
        &to_host(burns.clone()),
        1e-5,
    );
    let g_ours = ours.mul_scalar(3.0).backward();
    let g_burn = burns.mul_scalar(3.0).backward();
    assert_close(
        "d logits",
        &to_host(logits.grad(&g_ours).unwrap()),
        &to_host(logits.grad(&g_burn).unwrap()),
        1e-6,
    );
}
