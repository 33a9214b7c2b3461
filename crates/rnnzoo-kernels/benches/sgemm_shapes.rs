//! GFLOP/s of the kernels' matrix product on the shapes of the benchmark's LSTM 512 layer and
//! output layers, beside the `gemm` crate's on the same operands (`cargo bench -p
//! rnnzoo-kernels --bench sgemm_shapes`; `RAYON_NUM_THREADS=1` for one core). Where the crate
//! wins on a one-off product, `sgemm` sends that product to it.

use std::time::Instant;

use rnnzoo_kernels::sgemm::{MatRef, PackedRhs, RightHandSide, gemm_crate, sgemm_packed};

fn gflops(m: usize, k: usize, n: usize, run: impl FnMut()) -> f64 {
    let iters = ((2e9 / (2.0 * (m * n * k) as f64)) as usize).max(3);
    2.0 * (m * n * k) as f64 / best_seconds(iters, run) / 1e9
}

fn main() {
    println!("threads: {}", rayon::current_num_threads());
    for &(m, k, n, what) in &[
        (32, 512, 2048, "step h·W_hh (packed once)"),
        (32, 2048, 512, "step dpre·W_hhᵀ (packed once)"),
        (3200, 512, 2048, "X·W_ih"),
        (3200, 2048, 512, "dpre·W_ihᵀ"),
        (512, 3200, 2048, "Xᵀ·dpre"),
        (512, 3200, 2048, "Xᵀ·dpre (packed once)"),
        (256, 1120, 10000, "Xᵀ·dlogits, word LM output layer"),
        (256, 1120, 10000, "Xᵀ·dlogits (packed once)"),
        (1120, 10000, 256, "dlogits·W_outᵀ, word LM output layer"),
        (
            960,
            512,
            8000,
            "X·W_out, translation output layer (bench g)",
        ),
        (
            960,
            8000,
            512,
            "dlogits·W_outᵀ, translation output layer (bench g)",
        ),
        (
            512,
            960,
            8000,
            "Xᵀ·dlogits, translation output layer (bench g)",
        ),
        (
            64,
            384,
            8000,
            "greedy decoding step, output layer (packed once)",
        ),
        (
            160,
            384,
            8000,
            "beam-5 decoding step, sentences finishing (packed once)",
        ),
        (
            320,
            384,
            8000,
            "beam-5 decoding step, output layer (packed once)",
        ),
        (
            320,
            192,
            1536,
            "beam-5 decoding step, LSTM x·W_ih (packed once)",
        ),
        (
            320,
            768,
            384,
            "beam-5 decoding step, attention W_c (packed once)",
        ),
    ] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let packed = PackedRhs::pack(MatRef::row_major(&b, k, n));
        // The products of weight gradients read a transposed left-hand side (`Xᵀ`).
        let lhs = if what.starts_with("Xᵀ") {
            MatRef::row_major(&a, k, m).t()
        } else {
            MatRef::row_major(&a, m, k)
        };
        let rhs = MatRef::row_major(&b, k, n);
        let g = if what.contains("packed once") {
            gflops(m, k, n, || sgemm_packed(lhs, &packed, &mut c, n, false))
        } else {
            // This module's kernel packing B for the one product (what `sgemm` ran before it
            // sent large one-off products to the `gemm` crate).
            gflops(m, k, n, || {
                RightHandSide::prepare(rhs, m).multiply(lhs, &mut c, n, false)
            })
        };
        // The `gemm` crate (Burn's flex matmul) on the same operands and layout.
        let threads = rayon::current_num_threads();
        let theirs = gflops(m, k, n, || gemm_crate(lhs, rhs, &mut c, n, false, threads));
        println!("{m:>5} x {k:>5} x {n:>5}  {g:7.1} GFLOP/s  (gemm {theirs:6.1})  {what}");
    }
    // Packing alone: the backward packs `W_hhᵀ`, `W_ihᵀ` (transposed views) once per call.
    for &(rows, cols, transposed, what) in &[
        (512, 2048, true, "pack W_hhᵀ [2048, 512] (transposed view)"),
        (2048, 512, false, "pack [2048, 512] (row-major)"),
    ] {
        let b = vec![0.25f32; rows * cols];
        let view = if transposed {
            MatRef::row_major(&b, rows, cols).t()
        } else {
            MatRef::row_major(&b, rows, cols)
        };
        let ms = best_seconds(50, || drop(PackedRhs::pack(view))) * 1e3;
        println!(
            "{:>21}  {ms:7.3} ms  {what}",
            format!("{} values", rows * cols)
        );
    }
}

/// Seconds per call of `run`: the best of 5 timings of `iters` calls, after one warm-up call.
fn best_seconds(iters: usize, mut run: impl FnMut()) -> f64 {
    run();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iters {
            run();
        }
        best = best.min(start.elapsed().as_secs_f64() / iters as f64);
    }
    best
}
