//! Softmax cross-entropy over rows of logits, the loss of every classifier and language model,
//! fused: one pass for the log-sum-exp of each row (vectorised `exp`, rows split over threads)
//! and one for the gradient `softmax - onehot`. Burn's `CrossEntropyLoss` runs `log_softmax`
//! as several full-size tensor passes through libm's scalar `expf`.

use rayon::prelude::*;

use crate::math::exp;
use crate::simd;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 16;

fn check(logits: &[f32], classes: usize, targets: &[usize]) {
    assert!(classes > 0, "no classes");
    assert_eq!(
        logits.len(),
        targets.len() * classes,
        "logits are not [N, C]"
    );
    if let Some(&bad) = targets.iter().find(|&&t| t >= classes) {
        panic!("target {bad} out of range for {classes} classes");
    }
}

/// `log Σ_j e^{x_j}` of every row of `logits [N, C]`.
pub fn log_sum_exp(logits: &[f32], classes: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; logits.len() / classes];
    logits
        .par_chunks(classes * ROWS_PER_TASK)
        .zip(out.par_chunks_mut(ROWS_PER_TASK))
        .for_each(|(chunk, out)| {
            simd(
                #[inline(always)]
                || log_sum_exp_rows(chunk, classes, out),
            )
        });
    out
}

/// Lanes of the explicit reductions below: float sums and maxima only vectorise when written
/// with independent accumulators (the compiler may not reorder float additions).
const LANES: usize = 8;

#[inline(always)]
fn log_sum_exp_rows(chunk: &[f32], classes: usize, out: &mut [f32]) {
    for (row, o) in chunk.chunks_exact(classes).zip(out.iter_mut()) {
        let (body, rest) = row.split_at(classes - classes % LANES);
        let mut lanes = [f32::NEG_INFINITY; LANES];
        for block in body.chunks_exact(LANES) {
            for (m, &v) in lanes.iter_mut().zip(block) {
                *m = if v > *m { v } else { *m };
            }
        }
        let max = lanes
            .iter()
            .chain(rest)
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        let mut sums = [0.0f32; LANES];
        for block in body.chunks_exact(LANES) {
            for (s, &v) in sums.iter_mut().zip(block) {
                *s += exp(v - max);
            }
        }
        let sum: f32 = sums.iter().sum::<f32>() + rest.iter().map(|&v| exp(v - max)).sum::<f32>();
        *o = max + sum.ln();
    }
}

/// Mean negative log-likelihood `1/N Σ_i (lse_i - x_{i, t_i})` and the row log-sum-exps (kept
/// for [`backward`]).
pub fn forward(logits: &[f32], classes: usize, targets: &[usize]) -> (f32, Vec<f32>) {
    check(logits, classes, targets);
    let lse = log_sum_exp(logits, classes);
    let total: f64 = targets
        .iter()
        .enumerate()
        .map(|(i, &t)| (lse[i] - logits[i * classes + t]) as f64)
        .sum();
    ((total / targets.len() as f64) as f32, lse)
}

/// Gradient of [`forward`]'s loss scaled by `grad`: `grad/N · (softmax(x_i) - onehot(t_i))`.
pub fn backward(
    logits: &[f32],
    classes: usize,
    targets: &[usize],
    lse: &[f32],
    grad: f32,
) -> Vec<f32> {
    check(logits, classes, targets);
    let scale = grad / targets.len() as f32;
    let mut d = vec![0.0f32; logits.len()];
    d.par_chunks_mut(classes * ROWS_PER_TASK)
        .zip(logits.par_chunks(classes * ROWS_PER_TASK))
        .enumerate()
        .for_each(|(task, (d_chunk, chunk))| {
            let first = task * ROWS_PER_TASK;
            simd(
                #[inline(always)]
                || softmax_rows(chunk, classes, &lse[first..], scale, d_chunk),
            );
            for (r, d_row) in d_chunk.chunks_exact_mut(classes).enumerate() {
                d_row[targets[first + r]] -= scale;
            }
        });
    d
}

/// `out_i = scale · e^{x_i - lse_i}` for the rows of `chunk`.
#[inline(always)]
fn softmax_rows(chunk: &[f32], classes: usize, lse: &[f32], scale: f32, out: &mut [f32]) {
    for ((d_row, row), &l) in out
        .chunks_exact_mut(classes)
        .zip(chunk.chunks_exact(classes))
        .zip(lse)
    {
        for (dv, &v) in d_row.iter_mut().zip(row) {
            *dv = scale * exp(v - l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_gradient_match_direct_formulas_and_finite_differences() {
        let logits: Vec<f32> = (0..3 * 40)
            .map(|k| ((k * 37 % 23) as f32 - 11.0) * 0.4)
            .collect();
        let targets = [3, 0, 39];
        let reference = |x: &[f32]| -> f64 {
            (0..3)
                .map(|i| {
                    let row = &x[i * 40..(i + 1) * 40];
                    let lse = row.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
                    lse - row[targets[i]] as f64
                })
                .sum::<f64>()
                / 3.0
        };
        let (loss, lse) = forward(&logits, 40, &targets);
        assert!((loss as f64 - reference(&logits)).abs() < 1e-5);
        let grad = backward(&logits, 40, &targets, &lse, 2.0);
        let eps = 1e-3;
        for k in [0, 3, 45, 40, 119, 100] {
            let mut plus = logits.clone();
            plus[k] += eps;
            let mut minus = logits.clone();
            minus[k] -= eps;
            let fd = 2.0 * (reference(&plus) - reference(&minus)) / (2.0 * eps as f64);
            assert!(
                (grad[k] as f64 - fd).abs() < 1e-4,
                "{k}: {} vs {fd}",
                grad[k]
            );
        }
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn rejects_targets_out_of_range() {
        forward(&[0.0; 4], 2, &[0, 2]);
    }
}
