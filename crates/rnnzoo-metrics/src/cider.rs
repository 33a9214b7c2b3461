//! CIDEr-D (Vedantam et al. 2015) as the COCO caption evaluation code (`pycocoevalcap`'s
//! `Cider`) computes it.

use std::collections::HashMap;

/// Highest n-gram order.
const ORDERS: usize = 4;
/// Width of the Gaussian length penalty.
const SIGMA: f64 = 6.0;

type Counts<'a> = HashMap<Vec<&'a str>, f64>;

/// n-gram counts of orders 1..=4 of whitespace-split words.
fn ngrams(sentence: &str) -> Counts<'_> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let mut counts = Counts::new();
    for n in 1..=ORDERS {
        for w in words.windows(n) {
            *counts.entry(w.to_vec()).or_default() += 1.0;
        }
    }
    counts
}

/// A tf-idf vector per order, its norms and the "length".
struct Vector<'a> {
    weights: [HashMap<&'a [&'a str], f64>; ORDERS],
    norms: [f64; ORDERS],
    length: f64,
}

/// The tf-idf vectors of a sentence's counts.
fn vector<'a>(
    counts: &'a Counts<'a>,
    document_frequency: &HashMap<&[&str], f64>,
    log_documents: f64,
) -> Vector<'a> {
    let mut v = Vector {
        weights: Default::default(),
        norms: [0.0; ORDERS],
        length: 0.0,
    };
    for (gram, &tf) in counts {
        let df = document_frequency
            .get(gram.as_slice())
            .copied()
            .unwrap_or(0.0)
            .max(1.0)
            .ln();
        let n = gram.len() - 1;
        let w = tf * (log_documents - df);
        v.weights[n].insert(gram.as_slice(), w);
        v.norms[n] += w * w;
        if n == 1 {
            v.length += tf;
        }
    }
    for norm in &mut v.norms {
        *norm = norm.sqrt();
    }
    v
}

/// CIDEr-D of each hypothesis against its references, and their mean (the corpus score):
/// n-grams of orders 1..=4 over whitespace-split words (callers tokenise and lower-case, as
/// COCO's PTB tokeniser does), tf-idf weights with document frequencies counted over the
/// references of this corpus, per order the cosine between the hypothesis and each reference
/// with the hypothesis' weights clipped by the reference's, times `exp(-(l_h - l_r)² / 2σ²)`,
/// σ = 6; averaged over orders and references, times 10.
///
/// As in the reference code, the "length" of the Gaussian penalty counts a sentence's
/// *bigrams* (its words minus one), not its words; a test pins this against `pycocoevalcap`.
///
/// # Panics
/// When the lists differ in length or a hypothesis has no reference.
pub fn cider_d<H: AsRef<str>, R: AsRef<str>>(
    hypotheses: &[H],
    references: &[impl AsRef<[R]>],
) -> (f64, Vec<f64>) {
    assert_eq!(
        hypotheses.len(),
        references.len(),
        "references per hypothesis"
    );
    let hyps: Vec<Counts> = hypotheses.iter().map(|h| ngrams(h.as_ref())).collect();
    let refs: Vec<Vec<Counts>> = references
        .iter()
        .map(|r| {
            assert!(!r.as_ref().is_empty(), "a hypothesis needs a reference");
            r.as_ref().iter().map(|s| ngrams(s.as_ref())).collect()
        })
        .collect();
    let mut document_frequency: HashMap<&[&str], f64> = HashMap::new();
    for set in &refs {
        let mut seen: Vec<&[&str]> = set
            .iter()
            .flat_map(|c| c.keys().map(Vec::as_slice))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        for gram in seen {
            *document_frequency.entry(gram).or_default() += 1.0;
        }
    }
    let log_documents = (refs.len() as f64).ln();
    let scores: Vec<f64> = hyps
        .iter()
        .zip(&refs)
        .map(|(h, rs)| {
            let hv = vector(h, &document_frequency, log_documents);
            let mut total = 0.0;
            for r in rs {
                let rv = vector(r, &document_frequency, log_documents);
                let delta = hv.length - rv.length;
                let penalty = (-(delta * delta) / (2.0 * SIGMA * SIGMA)).exp();
                for n in 0..ORDERS {
                    let mut dot = 0.0;
                    for (gram, &w) in &hv.weights[n] {
                        let wr = rv.weights[n].get(gram).copied().unwrap_or(0.0);
                        dot += w.min(wr) * wr;
                    }
                    if hv.norms[n] != 0.0 && rv.norms[n] != 0.0 {
                        dot /= hv.norms[n] * rv.norms[n];
                    }
                    total += dot * penalty;
                }
            }
            total / ORDERS as f64 / rs.len() as f64 * 10.0
        })
        .collect();
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    (mean, scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caption_equal_to_its_references_beats_one_that_shares_less() {
        let refs = [
            vec!["red circle on white", "a red circle"],
            vec!["blue square", "a blue square shape"],
            vec!["green triangle", "a small green triangle"],
        ];
        let (exact, _) = cider_d(
            &["red circle on white", "blue square", "green triangle"],
            &refs,
        );
        let (partial, per) = cider_d(&["red square", "blue circle", "green triangle"], &refs);
        assert!(exact > partial, "{exact} <= {partial}");
        assert!(per[2] > per[0] && per[2] > per[1], "{per:?}");
        let (none, _) = cider_d(&["zebra", "zebra", "zebra"], &refs);
        assert_eq!(none, 0.0);
    }
}
