//! chrF (Popović 2015) as sacreBLEU's `CHRF()` computes it by default: character n-grams of
//! orders 1..=6 with whitespace removed, β = 2, statistics summed over the corpus, precision
//! and recall averaged over the orders that occur.

use std::collections::HashMap;

/// Character n-gram order.
const CHAR_ORDER: usize = 6;
/// Recall weighs β² = 4 times as much as precision.
const BETA: f64 = 2.0;

fn char_ngrams(chars: &[char], n: usize) -> HashMap<&[char], usize> {
    let mut counts = HashMap::new();
    for w in chars.windows(n) {
        *counts.entry(w).or_default() += 1;
    }
    counts
}

/// Corpus chrF in `[0, 100]` of `hypotheses` against one reference each (same order).
///
/// # Panics
/// When the two lists differ in length.
pub fn corpus_chrf<H: AsRef<str>, R: AsRef<str>>(hypotheses: &[H], references: &[R]) -> f64 {
    assert_eq!(
        hypotheses.len(),
        references.len(),
        "one reference per hypothesis"
    );
    // [hypothesis n-grams, reference n-grams, matches] per order.
    let mut stats = [[0usize; 3]; CHAR_ORDER];
    for (h, r) in hypotheses.iter().zip(references) {
        let squeeze =
            |s: &str| -> Vec<char> { crate::tokenize::python_split(s).concat().chars().collect() };
        let (h, r) = (squeeze(h.as_ref()), squeeze(r.as_ref()));
        for (n, s) in stats.iter_mut().enumerate() {
            let hyp = char_ngrams(&h, n + 1);
            let refs = char_ngrams(&r, n + 1);
            let hyp_count: usize = hyp.values().sum();
            let matches: usize = hyp
                .iter()
                .map(|(g, &c)| c.min(refs.get(g).copied().unwrap_or(0)))
                .sum();
            // sacreBLEU counts no hypothesis n-grams where the reference has none.
            s[0] += if refs.is_empty() { 0 } else { hyp_count };
            s[1] += refs.values().sum::<usize>();
            s[2] += matches;
        }
    }
    let factor = BETA * BETA;
    let (mut precision, mut recall, mut orders) = (0.0, 0.0, 0);
    for &[hyp, refs, matches] in &stats {
        if hyp > 0 && refs > 0 {
            precision += matches as f64 / hyp as f64;
            recall += matches as f64 / refs as f64;
            orders += 1;
        }
    }
    if orders == 0 {
        return 0.0;
    }
    precision /= orders as f64;
    recall /= orders as f64;
    if precision + recall == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 + factor) * precision * recall / (factor * precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_is_100_disjoint_is_0() {
        assert!((corpus_chrf(&["a cat"], &["a cat"]) - 100.0).abs() < 1e-9);
        assert_eq!(corpus_chrf(&["xyz"], &["abc"]), 0.0);
    }
}
