//! Scoring a model on a fixed set: the training loss and the fraction of answers that are right.

use burn::tensor::Tensor;
use rnnzoo_config::ProblemName;
use serde::Serialize;

use crate::model::MemoryModel;
use crate::problems::{ADDING_TOLERANCE, Batch, Problem, Targets};

/// Loss and accuracy on a set of sequences.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Mean squared error (adding) or cross-entropy per step (copy), as in training.
    pub loss: f64,
    /// Adding: fraction of sums within [`ADDING_TOLERANCE`]; copy: fraction of recalled symbols
    /// right.
    pub accuracy: f64,
    /// Sequences scored.
    pub sequences: usize,
}

fn host(t: Tensor<3>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("f32 predictions")
}

/// Evaluates `model` (without autodiff) on `set`.
pub fn evaluate(model: &MemoryModel, problem: &Problem, set: &[Batch]) -> Evaluation {
    let device = model.head.weight.device();
    let (mut loss_sum, mut right, mut scored, mut sequences) = (0.0f64, 0usize, 0usize, 0usize);
    for batch in set {
        let (inputs, _) = crate::model::tensors(batch, problem, &device);
        let predictions = host(model.forward(inputs));
        match (&batch.targets, problem.kind) {
            (Targets::Sums(sums), ProblemName::Adding) => {
                for (p, s) in predictions.iter().zip(sums) {
                    let error = (*p - *s) as f64;
                    loss_sum += error * error;
                    right += usize::from(error.abs() < ADDING_TOLERANCE);
                }
                scored += batch.size;
                sequences += batch.size;
            }
            (Targets::Symbols(classes), ProblemName::Copy) => {
                let (steps, width) = (problem.steps(), problem.outputs());
                for (b, target_row) in classes.chunks(steps).enumerate() {
                    for (t, &target) in target_row.iter().enumerate() {
                        let logits = &predictions[(b * steps + t) * width..][..width];
                        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let log_sum = max as f64
                            + logits
                                .iter()
                                .map(|&l| ((l - max) as f64).exp())
                                .sum::<f64>()
                                .ln();
                        loss_sum += log_sum - logits[target as usize] as f64;
                        if problem.scored_steps().contains(&t) {
                            let best = (0..width)
                                .max_by(|&i, &j| logits[i].total_cmp(&logits[j]))
                                .expect("classes");
                            right += usize::from(best == target as usize);
                            scored += 1;
                        }
                    }
                }
                sequences += batch.size;
            }
            _ => unreachable!("targets match the problem"),
        }
    }
    let per_loss = match problem.kind {
        ProblemName::Adding => sequences,
        ProblemName::Copy => sequences * problem.steps(),
    };
    Evaluation {
        loss: loss_sum / per_loss.max(1) as f64,
        accuracy: right as f64 / scored.max(1) as f64,
        sequences,
    }
}
