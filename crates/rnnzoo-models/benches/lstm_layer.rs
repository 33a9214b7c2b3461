//! One LSTM layer 512 -> 512, batch 32, 100 steps, input requiring grad, forward + backward of
//! `out.sum()`: config `d` of the PyTorch reference benchmark (`torch_rnn_bench.py`), for
//! rnnzoo's [`Recurrent`] and for Burn's own `nn::Lstm`. Same warm-up (3) and timed steps (15),
//! median reported.
//!
//! `cargo bench -p rnnzoo-models --bench lstm_layer` (add `-- --json` for one JSON line per
//! implementation; `RAYON_NUM_THREADS=1` for one thread).

use std::time::Instant;

use burn::nn::LstmConfig;
use burn::tensor::{Device, Distribution, Tensor};
use rnnzoo_models::{CellKind, RecurrentConfig};

const BATCH: usize = 32;
const STEPS: usize = 100;
const SIZE: usize = 512;
const WARMUP: usize = 3;
const ITERS: usize = 15;

fn median_ms(mut step: impl FnMut()) -> f64 {
    for _ in 0..WARMUP {
        step();
    }
    let mut times: Vec<f64> = (0..ITERS)
        .map(|_| {
            let start = Instant::now();
            step();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[ITERS / 2]
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let device = Device::flex().autodiff();
    device.seed(3);
    let x = Tensor::<3>::random(
        [BATCH, STEPS, SIZE],
        Distribution::Normal(0.0, 1.0),
        &device,
    )
    .require_grad();

    let ours = RecurrentConfig::new(CellKind::LSTM, SIZE, SIZE).init(&device);
    let rnnzoo_ms = median_ms(|| {
        let (out, _) = ours.forward(x.clone(), None, None);
        let grads = out.sum().backward();
        // Reading a gradient forces the whole backward to complete.
        let _ = x.grad(&grads).expect("input gradient");
    });

    let burn_lstm = LstmConfig::new(SIZE, SIZE, true).init(&device);
    let burn_ms = median_ms(|| {
        let (out, _) = burn_lstm.forward(x.clone(), None);
        let grads = out.sum().backward();
        let _ = x.grad(&grads).expect("input gradient");
    });

    let flops = 3.0 * 2.0 * 4.0 * (SIZE * (SIZE + SIZE) * BATCH * STEPS) as f64;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    for (name, ms) in [("rnnzoo Recurrent", rnnzoo_ms), ("burn nn::Lstm", burn_ms)] {
        let tokens_per_s = (BATCH * STEPS) as f64 / (ms / 1e3);
        let gflops = flops / (ms / 1e3) / 1e9;
        if json {
            println!(
                "{{\"impl\":\"{name}\",\"config\":\"lstm_layer_fwd_bwd\",\"threads\":\"{threads}\",\"ms_per_step\":{ms:.3},\"tokens_per_s\":{tokens_per_s:.1},\"gflops\":{gflops:.2}}}"
            );
        } else {
            println!(
                "{name:<18} d lstm_layer_fwd_bwd  {ms:8.1} ms/step  {tokens_per_s:9.0} tok/s  {gflops:6.1} GFLOP/s  (threads: {threads})"
            );
        }
    }
}
