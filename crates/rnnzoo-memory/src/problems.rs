//! The generated problems: sequences, targets, and what a model without memory can score.
//!
//! Everything here is plain data (no tensors), so tests and other front ends can use it.

use rnnzoo_config::{ProblemName, SyntheticConfig};
use rnnzoo_data::SplitMix64;

/// A prediction of the adding problem counts as correct within this absolute error
/// (Hochreiter & Schmidhuber 1997, experiment 4).
pub const ADDING_TOLERANCE: f64 = 0.04;

/// One problem instance family: the kind and its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Adding or copy.
    pub kind: ProblemName,
    /// Adding: sequence length; copy: steps from the last symbol shown to the recall cue, plus
    /// one (Arjovsky et al. 2016's `T`).
    pub delay: usize,
    /// Copy: symbols to remember.
    pub symbols: usize,
    /// Copy: alphabet size.
    pub alphabet: usize,
}

/// A batch of generated sequences, batch-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Sequences in the batch.
    pub size: usize,
    /// Inputs `[size, steps, features]`, row-major.
    pub inputs: Vec<f32>,
    /// What the model must produce.
    pub targets: Targets,
}

/// Targets of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Adding: the sum of the two marked values, one per sequence.
    Sums(Vec<f32>),
    /// Copy: a class per step, `[size, steps]` row-major (0 = blank, `1..=alphabet` symbols).
    Symbols(Vec<i64>),
}

/// Loss and accuracy of a model that has no memory at all: the floor every cell must beat.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Chance {
    /// Adding: mean squared error of always answering 1 (the mean sum); copy: cross-entropy per
    /// step of answering blank until the cue and a uniform guess after it.
    pub loss: f64,
    /// Adding: fraction within [`ADDING_TOLERANCE`] when always answering 1; copy: `1/alphabet`.
    pub accuracy: f64,
}

impl Problem {
    /// The problem a config's `data.synthetic` describes.
    pub fn from_config(config: &SyntheticConfig) -> Self {
        Self {
            kind: config.problem,
            delay: config.delay,
            symbols: config.symbols,
            alphabet: config.alphabet,
        }
    }

    /// Steps per sequence: `delay` (adding) or `delay + 2 · symbols` (copy).
    pub fn steps(&self) -> usize {
        match self.kind {
            ProblemName::Adding => self.delay,
            ProblemName::Copy => self.delay + 2 * self.symbols,
        }
    }

    /// Input features per step: (value, marker) for adding; a one-hot of blank, the symbols and
    /// the recall cue for copy.
    pub fn features(&self) -> usize {
        match self.kind {
            ProblemName::Adding => 2,
            ProblemName::Copy => self.alphabet + 2,
        }
    }

    /// Model outputs: one number (adding) or logits over blank and the symbols (copy, per step).
    pub fn outputs(&self) -> usize {
        match self.kind {
            ProblemName::Adding => 1,
            ProblemName::Copy => self.alphabet + 1,
        }
    }

    /// The steps whose targets are scored for accuracy: the last one (adding) or the final
    /// `symbols` steps after the cue (copy).
    pub fn scored_steps(&self) -> std::ops::Range<usize> {
        match self.kind {
            ProblemName::Adding => self.delay - 1..self.delay,
            ProblemName::Copy => self.delay + self.symbols..self.steps(),
        }
    }

    /// The memoryless floor.
    pub fn chance(&self) -> Chance {
        match self.kind {
            // The sum of two U(0,1) values has variance 1/6 around its mean 1, and a triangular
            // density of height 1 at 1: P(|s - 1| < a) = 2a - a².
            ProblemName::Adding => Chance {
                loss: 1.0 / 6.0,
                accuracy: 2.0 * ADDING_TOLERANCE - ADDING_TOLERANCE * ADDING_TOLERANCE,
            },
            ProblemName::Copy => Chance {
                loss: self.symbols as f64 * (self.alphabet as f64).ln() / self.steps() as f64,
                accuracy: 1.0 / self.alphabet as f64,
            },
        }
    }

    /// Draws `size` sequences from `rng`.
    ///
    /// Adding: each step carries a value from U(0,1) and a marker; exactly two steps are
    /// marked, one in each half of the sequence, so the first marked value must be held for at
    /// least `delay / 2` steps. Copy: `symbols` symbols drawn uniformly from the alphabet,
    /// `delay - 1` blanks, the cue, then `symbols` blanks during which the symbols are to be
    /// reproduced in order; every other step's target is blank.
    pub fn generate(&self, size: usize, rng: &mut SplitMix64) -> Batch {
        let (steps, features) = (self.steps(), self.features());
        let mut inputs = vec![0.0f32; size * steps * features];
        let targets = match self.kind {
            ProblemName::Adding => {
                let half = self.delay / 2;
                let mut sums = Vec::with_capacity(size);
                for b in 0..size {
                    let row = &mut inputs[b * steps * features..(b + 1) * steps * features];
                    for t in 0..steps {
                        row[t * features] = rng.uniform() as f32;
                    }
                    let first = rng.below(half);
                    let second = half + rng.below(steps - half);
                    row[first * features + 1] = 1.0;
                    row[second * features + 1] = 1.0;
                    sums.push(row[first * features] + row[second * features]);
                }
                Targets::Sums(sums)
            }
            ProblemName::Copy => {
                let cue = self.alphabet + 1;
                let mut classes = vec![0i64; size * steps];
                for b in 0..size {
                    let row = &mut inputs[b * steps * features..(b + 1) * steps * features];
                    let target = &mut classes[b * steps..(b + 1) * steps];
                    for t in 0..steps {
                        row[t * features] = 1.0; // blank unless set below
                    }
                    for s in 0..self.symbols {
                        let symbol = 1 + rng.below(self.alphabet);
                        row[s * features] = 0.0;
                        row[s * features + symbol] = 1.0;
                        target[self.delay + self.symbols + s] = symbol as i64;
                    }
                    let at = (self.symbols + self.delay - 1) * features;
                    row[at] = 0.0;
                    row[at + cue] = 1.0;
                }
                Targets::Symbols(classes)
            }
        };
        Batch {
            size,
            inputs,
            targets,
        }
    }

    /// A fixed evaluation set of `count` sequences in batches of at most `batch`: the same for
    /// every seed and cell, so that all runs of a comparison are scored on identical data.
    /// `which` tells sets apart (1 = validation, 2 = test).
    pub fn fixed_set(&self, which: u64, count: usize, batch: usize) -> Vec<Batch> {
        let kind = match self.kind {
            ProblemName::Adding => 1u64,
            ProblemName::Copy => 2,
        };
        let seed = (kind << 56)
            ^ ((self.delay as u64) << 24)
            ^ ((self.symbols as u64) << 12)
            ^ (self.alphabet as u64)
            ^ which.wrapping_mul(0xA076_1D64_78BD_642F);
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::new();
        let mut left = count;
        while left > 0 {
            let n = left.min(batch.max(1));
            out.push(self.generate(n, &mut rng));
            left -= n;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: ProblemName, delay: usize) -> Problem {
        Problem {
            kind,
            delay,
            symbols: 3,
            alphabet: 4,
        }
    }

    #[test]
    fn adding_marks_one_value_in_each_half_and_sums_them() {
        let p = problem(ProblemName::Adding, 10);
        let batch = p.generate(200, &mut SplitMix64::new(3));
        let Targets::Sums(sums) = &batch.targets else {
            panic!("adding has sums")
        };
        for (b, &sum) in sums.iter().enumerate() {
            let row = &batch.inputs[b * 20..(b + 1) * 20];
            let marked: Vec<usize> = (0..10).filter(|&t| row[t * 2 + 1] == 1.0).collect();
            assert_eq!(marked.len(), 2);
            assert!(marked[0] < 5 && marked[1] >= 5, "{marked:?}");
            assert_eq!(sum, row[marked[0] * 2] + row[marked[1] * 2]);
            assert!((0..10).all(|t| (0.0..1.0).contains(&row[t * 2])));
        }
    }

    #[test]
    fn copy_targets_repeat_the_symbols_after_the_cue() {
        let p = problem(ProblemName::Copy, 5);
        assert_eq!(p.steps(), 11);
        let batch = p.generate(50, &mut SplitMix64::new(9));
        let Targets::Symbols(classes) = &batch.targets else {
            panic!("copy has symbols")
        };
        let f = p.features();
        for b in 0..50 {
            let row = &batch.inputs[b * 11 * f..(b + 1) * 11 * f];
            let shown: Vec<i64> = (0..11)
                .map(|t| (0..f).position(|k| row[t * f + k] == 1.0).unwrap() as i64)
                .collect();
            // Symbols, delay - 1 blanks, the cue, blanks.
            assert!(shown[..3].iter().all(|&s| (1..=4).contains(&s)));
            assert!(shown[3..7].iter().all(|&s| s == 0));
            assert_eq!(shown[7], 5);
            assert!(shown[8..].iter().all(|&s| s == 0));
            let target = &classes[b * 11..(b + 1) * 11];
            assert!(target[..8].iter().all(|&c| c == 0));
            assert_eq!(&target[8..], &shown[..3]);
        }
        assert_eq!(p.scored_steps(), 8..11);
    }

    #[test]
    fn chance_levels() {
        let adding = problem(ProblemName::Adding, 10).chance();
        assert!((adding.loss - 1.0 / 6.0).abs() < 1e-12);
        // Monte Carlo check of the closed forms.
        let p = problem(ProblemName::Adding, 10);
        let batch = p.generate(100_000, &mut SplitMix64::new(1));
        let Targets::Sums(sums) = batch.targets else {
            unreachable!()
        };
        let mse = sums.iter().map(|&s| (s as f64 - 1.0).powi(2)).sum::<f64>() / 1e5;
        let hit = sums
            .iter()
            .filter(|&&s| (s as f64 - 1.0).abs() < ADDING_TOLERANCE)
            .count() as f64
            / 1e5;
        assert!((mse - adding.loss).abs() < 0.003, "{mse}");
        assert!((hit - adding.accuracy).abs() < 0.004, "{hit}");
        let copy = problem(ProblemName::Copy, 5).chance();
        assert!((copy.loss - 3.0 * 4f64.ln() / 11.0).abs() < 1e-12);
        assert_eq!(copy.accuracy, 0.25);
    }

    #[test]
    fn fixed_sets_do_not_depend_on_anything_but_the_problem() {
        let p = problem(ProblemName::Copy, 7);
        assert_eq!(p.fixed_set(1, 10, 4), p.fixed_set(1, 10, 4));
        assert_ne!(p.fixed_set(1, 10, 4), p.fixed_set(2, 10, 4));
        assert_eq!(
            p.fixed_set(1, 10, 4)
                .iter()
                .map(|b| b.size)
                .collect::<Vec<_>>(),
            [4, 4, 2]
        );
    }
}
