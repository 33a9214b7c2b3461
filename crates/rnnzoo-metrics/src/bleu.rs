//! Corpus BLEU (Papineni et al. 2002) as sacreBLEU's `BLEU()` computes it by default.

use std::collections::HashMap;

use serde::Serialize;

use crate::tokenize::tokenize_13a;

/// Highest n-gram order.
const MAX_ORDER: usize = 4;

/// A corpus BLEU score and what it is made of.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bleu {
    /// BLEU in `[0, 100]`.
    pub score: f64,
    /// n-gram precisions in percent, orders 1..=4 (smoothed where an order has no match).
    pub precisions: [f64; MAX_ORDER],
    /// Brevity penalty.
    pub brevity_penalty: f64,
    /// Hypothesis tokens.
    pub sys_len: usize,
    /// Reference tokens.
    pub ref_len: usize,
    /// Matched n-grams per order.
    pub correct: [usize; MAX_ORDER],
    /// Hypothesis n-grams per order.
    pub total: [usize; MAX_ORDER],
}

fn ngram_counts<'a>(tokens: &'a [&'a str], n: usize) -> HashMap<&'a [&'a str], usize> {
    let mut counts = HashMap::new();
    for w in tokens.windows(n) {
        *counts.entry(w).or_default() += 1;
    }
    counts
}

/// Corpus BLEU of `hypotheses` against one reference each (same order): 13a tokens, n-grams
/// 1..=4 clipped by the reference counts, brevity penalty `exp(1 - r/c)` when `c < r`, and
/// sacreBLEU's default `exp` smoothing of an order with no match (each such order's precision is
/// `100 / (2^k · total)` for the k-th one).
///
/// # Panics
/// When the two lists differ in length.
pub fn corpus_bleu<H: AsRef<str>, R: AsRef<str>>(hypotheses: &[H], references: &[R]) -> Bleu {
    assert_eq!(
        hypotheses.len(),
        references.len(),
        "one reference per hypothesis"
    );
    let references: Vec<[&str; 1]> = references.iter().map(|r| [r.as_ref()]).collect();
    corpus_bleu_multi(hypotheses, &references, MAX_ORDER)
}

/// Corpus BLEU-`max_order` of `hypotheses` against any number of references each, as
/// sacreBLEU's `BLEU(max_ngram_order=max_order)` computes it with several reference streams:
/// each n-gram count is clipped by its highest count in any one reference, and the reference
/// length of a sentence is that of its reference closest in length (the shorter on a tie).
/// BLEU-n (n = 1..4, the captioning literature's BLEU-1..4) is the geometric mean of the first
/// `n` precisions times the brevity penalty.
///
/// # Panics
/// When the lists differ in length, a hypothesis has no reference, or `max_order` is not 1..=4.
pub fn corpus_bleu_multi<H: AsRef<str>, R: AsRef<str>>(
    hypotheses: &[H],
    references: &[impl AsRef<[R]>],
    max_order: usize,
) -> Bleu {
    assert_eq!(
        hypotheses.len(),
        references.len(),
        "one list of references per hypothesis"
    );
    assert!(
        (1..=MAX_ORDER).contains(&max_order),
        "BLEU orders are 1 to 4"
    );
    let mut correct = [0usize; MAX_ORDER];
    let mut total = [0usize; MAX_ORDER];
    let (mut sys_len, mut ref_len) = (0, 0);
    for (h, refs) in hypotheses.iter().zip(references) {
        let refs = refs.as_ref();
        assert!(!refs.is_empty(), "a hypothesis needs a reference");
        // sacreBLEU strips trailing whitespace before tokenising.
        let h = tokenize_13a(h.as_ref().trim_end());
        let h: Vec<&str> = crate::tokenize::python_split(&h);
        let refs: Vec<String> = refs
            .iter()
            .map(|r| tokenize_13a(r.as_ref().trim_end()))
            .collect();
        let refs: Vec<Vec<&str>> = refs
            .iter()
            .map(|r| crate::tokenize::python_split(r))
            .collect();
        sys_len += h.len();
        // The closest reference length; the shorter among equally close ones.
        let closest = refs
            .iter()
            .map(|r| r.len())
            .min_by_key(|&l| (l.abs_diff(h.len()), l))
            .expect("a reference");
        ref_len += closest;
        for n in 1..=max_order {
            let hyp = ngram_counts(&h, n);
            let ref_counts: Vec<HashMap<&[&str], usize>> =
                refs.iter().map(|r| ngram_counts(r, n)).collect();
            for (gram, &count) in &hyp {
                let most = ref_counts
                    .iter()
                    .map(|c| c.get(*gram).copied().unwrap_or(0))
                    .max()
                    .unwrap_or(0);
                correct[n - 1] += count.min(most);
            }
            total[n - 1] += h.len().saturating_sub(n - 1);
        }
    }
    score(correct, total, sys_len, ref_len, max_order)
}

/// sacreBLEU's `compute_bleu` with `smooth_method='exp'` over the first `max_order` orders.
fn score(
    correct: [usize; MAX_ORDER],
    total: [usize; MAX_ORDER],
    sys_len: usize,
    ref_len: usize,
    max_order: usize,
) -> Bleu {
    let brevity_penalty = if sys_len < ref_len {
        if sys_len > 0 {
            (1.0 - ref_len as f64 / sys_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let mut precisions = [0.0f64; MAX_ORDER];
    let result = |score, precisions| Bleu {
        score,
        precisions,
        brevity_penalty,
        sys_len,
        ref_len,
        correct,
        total,
    };
    if correct[..max_order].iter().all(|&c| c == 0) {
        return result(0.0, precisions);
    }
    let mut smooth = 1.0f64;
    for n in 0..max_order {
        if total[n] == 0 {
            break;
        }
        if correct[n] == 0 {
            smooth *= 2.0;
            precisions[n] = 100.0 / (smooth * total[n] as f64);
        } else {
            precisions[n] = 100.0 * correct[n] as f64 / total[n] as f64;
        }
    }
    // sacreBLEU's `my_log`: log(0) is -9999999999.
    let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
    let mean = precisions[..max_order].iter().map(|&p| log(p)).sum::<f64>() / max_order as f64;
    // exp(ln 100) is 100.00000000000004 in f64: kept within [0, 100] (found by fuzzing).
    result((brevity_penalty * mean.exp()).min(100.0), precisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_corpus_scores_100_and_empty_scores_0() {
        let s = ["In the beginning God created the heaven and the earth."];
        assert!((corpus_bleu(&s, &s).score - 100.0).abs() < 1e-9);
        assert_eq!(corpus_bleu(&[""], &s).score, 0.0);
    }

    #[test]
    fn short_hypotheses_pay_the_brevity_penalty() {
        let b = corpus_bleu(&["the cat sat on the"], &["the cat sat on the mat"]);
        assert_eq!((b.sys_len, b.ref_len), (5, 6));
        assert!((b.brevity_penalty - (1.0f64 - 6.0 / 5.0).exp()).abs() < 1e-12);
        assert!((b.score - 100.0 * b.brevity_penalty).abs() < 1e-9);
    }
}
