//! The CTC loss with its gradient, on the shapes of config `h` of the PyTorch reference
//! (`ctc_bilstm_train`: batch 16, 400 frames (lengths 300..400), 29 classes, targets of 40..60
//! labels): rnnzoo's fused `ctc_loss` against Burn's `CTCLoss` after `log_softmax`, forward +
//! backward, median of 5 after one warm-up.
//!
//! `cargo bench -p rnnzoo-models --bench ctc` (`RAYON_NUM_THREADS=1` for one thread).

use std::time::Instant;

use burn::nn::loss::{CTCLossConfig, Reduction};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rnnzoo_models::ctc_loss;

fn median_ms(mut step: impl FnMut()) -> f64 {
    step();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            step();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

fn main() {
    let device = Device::flex().autodiff();
    let (batch, frames, classes) = (16, 400, 29);
    let lengths: Vec<usize> = (0..batch).map(|b| 300 + (b * 37) % 101).collect();
    let targets: Vec<Vec<usize>> = (0..batch)
        .map(|b| {
            (0..40 + (b * 7) % 21)
                .map(|i| 1 + (i * 13 + b) % (classes - 1))
                .collect()
        })
        .collect();
    let logits = || {
        Tensor::<3>::random(
            [batch, frames, classes],
            Distribution::Normal(0.0, 1.0),
            &device,
        )
        .require_grad()
    };
    let fused = median_ms(|| {
        let x = logits();
        let grads = ctc_loss(x.clone(), &lengths, &targets, 0).backward();
        let _ = x.grad(&grads).expect("a gradient").into_data();
    });
    let longest = targets.iter().map(Vec::len).max().unwrap_or(1);
    let padded: Vec<i64> = targets
        .iter()
        .flat_map(|t| (0..longest).map(move |i| t.get(i).map_or(0, |&v| v as i64)))
        .collect();
    let ints =
        |v: Vec<i64>, n: usize| Tensor::<1, Int>::from_data(TensorData::new(v, [n]), &device);
    let burns = median_ms(|| {
        let x = logits();
        let loss = CTCLossConfig::new()
            .with_zero_infinity(true)
            .init()
            .forward_with_reduction(
                log_softmax(x.clone(), 2).swap_dims(0, 1),
                ints(padded.clone(), batch * longest).reshape([batch, longest]),
                ints(lengths.iter().map(|&l| l as i64).collect(), batch),
                ints(targets.iter().map(|t| t.len() as i64).collect(), batch),
                Reduction::Mean,
            );
        let grads = loss.backward();
        let _ = x.grad(&grads).expect("a gradient").into_data();
    });
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!(
        "threads {threads}: rnnzoo fused ctc_loss {fused:.2} ms, Burn CTCLoss {burns:.2} ms (forward + backward, B{batch} T{frames} C{classes})"
    );
}
