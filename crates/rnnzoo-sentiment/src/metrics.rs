//! Classification metrics: accuracy, macro-F1, confusion matrix, per-class precision and recall.

use serde::Serialize;

/// Per-class precision, recall and F1.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassReport {
    /// Class name.
    pub class: String,
    /// Of the texts predicted as this class, the fraction that are.
    pub precision: f64,
    /// Of the texts of this class, the fraction found.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Texts of this class.
    pub support: usize,
}

/// Metrics of predictions against gold labels.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// Fraction correct.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1.
    pub macro_f1: f64,
    /// `confusion[gold][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Per class.
    pub classes: Vec<ClassReport>,
}

/// Computes the report for `(gold, predicted)` class ids.
pub fn report(gold: &[usize], predicted: &[usize], class_names: &[String]) -> Report {
    let c = class_names.len();
    let mut confusion = vec![vec![0usize; c]; c];
    for (&g, &p) in gold.iter().zip(predicted) {
        confusion[g][p] += 1;
    }
    let correct: usize = (0..c).map(|i| confusion[i][i]).sum();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let classes: Vec<ClassReport> = (0..c)
        .map(|k| {
            let tp = confusion[k][k];
            let predicted_k: usize = (0..c).map(|g| confusion[g][k]).sum();
            let support: usize = confusion[k].iter().sum();
            let precision = ratio(tp, predicted_k);
            let recall = ratio(tp, support);
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            ClassReport {
                class: class_names[k].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    Report {
        accuracy: ratio(correct, gold.len()),
        macro_f1: classes.iter().map(|r| r.f1).sum::<f64>() / c.max(1) as f64,
        confusion,
        classes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values() {
        // gold:      a a a b b c
        // predicted: a a b b c c
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        let r = report(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], &names);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            r.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        // a: p 1, r 2/3, f1 0.8; b: p 1/2, r 1/2, f1 1/2; c: p 1/2, r 1, f1 2/3.
        assert!((r.classes[0].f1 - 0.8).abs() < 1e-12);
        assert!((r.classes[2].precision - 0.5).abs() < 1e-12);
        assert!((r.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }
}
