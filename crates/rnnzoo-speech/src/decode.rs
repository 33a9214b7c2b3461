//! CTC decoding of per-frame log-probabilities: greedy best path and prefix beam search
//! (Hannun et al. 2014), optionally fused with a character n-gram language model.
//!
//! Best path takes the most probable class of each frame, merges repeats and drops blanks.
//! Prefix beam search keeps, for each output prefix `ℓ`, the probability of all alignments
//! ending in a blank (`p_b`) and in its last character (`p_nb`); a frame extends `ℓ` by a
//! character `c` with `p(c)·(p_b + p_nb)` (only `p_b` when `c` repeats `ℓ`'s last character,
//! whose `p_nb` instead stays on `ℓ`). Shallow fusion multiplies each extension by
//! `P_LM(c | ℓ)^α · e^β` and the end of a finished prefix by `P_LM(</s> | ℓ)^α`.

use std::collections::HashMap;

use rnnzoo_kernels::ctc::log_add;
use rnnzoo_ngram::KneserNey;

use crate::text::{Alphabet, BLANK};

/// Log-softmax of each of the first `frames` rows of `logits [_, classes]`.
pub fn log_softmax(logits: &[f32], frames: usize, classes: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(frames * classes);
    for row in logits.chunks_exact(classes).take(frames) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = max
            + row
                .iter()
                .map(|&x| (x as f64 - max).exp())
                .sum::<f64>()
                .ln();
        out.extend(row.iter().map(|&x| x as f64 - lse));
    }
    out
}

/// Best-path decoding of `[frames, classes]` scores (log-probabilities or logits).
pub fn greedy(scores: &[f64], classes: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut previous = BLANK;
    for row in scores.chunks_exact(classes) {
        let mut best = 0;
        for (k, &x) in row.iter().enumerate() {
            if x > row[best] {
                best = k;
            }
        }
        if best != BLANK && best != previous {
            out.push(best);
        }
        previous = best;
    }
    out
}

/// A character n-gram language model over an alphabet's ids, id 0 (the blank's) standing for
/// the sentence boundary.
pub struct CharLm {
    model: KneserNey,
}

impl CharLm {
    /// Trains on `lines` of text (characters outside the alphabet skipped).
    pub fn train<'a>(
        alphabet: &Alphabet,
        lines: impl IntoIterator<Item = &'a str>,
        order: usize,
    ) -> Self {
        let mut tokens = vec![BLANK];
        for line in lines {
            let (ids, _) = alphabet.encode(line);
            if ids.is_empty() {
                continue;
            }
            tokens.extend(ids);
            tokens.push(BLANK);
        }
        Self {
            model: KneserNey::train(&tokens, alphabet.classes(), order.clamp(1, 5)),
        }
    }

    /// The n-gram order.
    pub fn order(&self) -> usize {
        self.model.order()
    }

    /// `log P(next | prefix)`, `next` = 0 for the end of the sentence.
    pub fn log_prob(&self, prefix: &[usize], next: usize) -> f64 {
        let keep = self.model.order() - 1;
        let mut history: Vec<usize> = vec![BLANK];
        history.extend_from_slice(prefix);
        let start = history.len().saturating_sub(keep);
        self.model.prob(&history[start..], next).max(1e-12).ln()
    }

    /// Bits per character of `lines` (a check that the model is sensible).
    pub fn cross_entropy(&self, alphabet: &Alphabet, lines: &[&str]) -> f64 {
        let mut tokens = vec![BLANK];
        for line in lines {
            tokens.extend(alphabet.encode(line).0);
            tokens.push(BLANK);
        }
        self.model.cross_entropy(&tokens)
    }
}

/// Shallow fusion settings: the language model, its weight `α` and the per-character bonus `β`.
pub struct Fusion<'a> {
    /// The language model.
    pub lm: &'a CharLm,
    /// `α`.
    pub weight: f64,
    /// `β`.
    pub bonus: f64,
}

#[derive(Clone, Copy)]
struct Probs {
    blank: f64,
    label: f64,
    /// The language model's (weighted) share of the prefix's score.
    lm: f64,
}

impl Probs {
    const NONE: Probs = Probs {
        blank: f64::NEG_INFINITY,
        label: f64::NEG_INFINITY,
        lm: 0.0,
    };

    fn total(&self) -> f64 {
        log_add(self.blank, self.label)
    }
}

/// CTC prefix beam search over `[frames, classes]` log-probabilities, keeping `beam` prefixes;
/// returns the best prefix. Characters whose log-probability at a frame is below the frame's
/// best minus 12 nats (a factor of 160,000) are not tried there.
pub fn prefix_beam_search(
    log_probs: &[f64],
    classes: usize,
    beam: usize,
    fusion: Option<&Fusion>,
) -> Vec<usize> {
    const PRUNE: f64 = 12.0;
    let beam = beam.max(1);
    let mut beams: Vec<(Vec<usize>, Probs)> = vec![(
        Vec::new(),
        Probs {
            blank: 0.0,
            ..Probs::NONE
        },
    )];
    let extension = |prefix: &[usize], c: usize| -> f64 {
        fusion.map_or(0.0, |f| f.weight * f.lm.log_prob(prefix, c) + f.bonus)
    };
    for row in log_probs.chunks_exact(classes) {
        let best = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut next: HashMap<Vec<usize>, Probs> = HashMap::new();
        for (prefix, p) in &beams {
            let total = p.total();
            let entry = next.entry(prefix.clone()).or_insert(Probs {
                lm: p.lm,
                ..Probs::NONE
            });
            entry.blank = log_add(entry.blank, total + row[BLANK]);
            let last = prefix.last().copied();
            if let Some(l) = last {
                // The last character again, merged into it.
                entry.label = log_add(entry.label, p.label + row[l]);
            }
            for (c, &lp) in row.iter().enumerate() {
                if c == BLANK || lp < best - PRUNE {
                    continue;
                }
                let from = if Some(c) == last { p.blank } else { total };
                let lm = extension(prefix, c);
                let mut extended = prefix.clone();
                extended.push(c);
                let e = next.entry(extended).or_insert(Probs {
                    lm: p.lm + lm,
                    ..Probs::NONE
                });
                e.label = log_add(e.label, from + lp + lm);
            }
        }
        let mut ranked: Vec<(Vec<usize>, Probs)> = next.into_iter().collect();
        ranked.sort_by(|a, b| {
            b.1.total()
                .total_cmp(&a.1.total())
                .then_with(|| a.0.cmp(&b.0))
        });
        ranked.truncate(beam);
        beams = ranked;
    }
    let end = |prefix: &[usize]| fusion.map_or(0.0, |f| f.weight * f.lm.log_prob(prefix, BLANK));
    beams
        .into_iter()
        .map(|(prefix, p)| (p.total() + end(&prefix), prefix))
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, prefix)| prefix)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(probs: &[[f64; 3]]) -> Vec<f64> {
        probs.iter().flatten().map(|p| p.ln()).collect()
    }

    #[test]
    fn best_path_merges_repeats_and_drops_blanks() {
        // Classes: blank, a, b.
        let p = logs(&[
            [0.1, 0.8, 0.1],
            [0.1, 0.8, 0.1],
            [0.8, 0.1, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.1, 0.8],
        ]);
        assert_eq!(greedy(&p, 3), vec![1, 1, 2]);
        assert_eq!(prefix_beam_search(&p, 3, 8, None), vec![1, 1, 2]);
    }

    #[test]
    fn prefix_search_sums_the_alignments_best_path_splits() {
        // Two frames. Best path: (blank, blank) at 0.36, so "". But "a" has the alignments
        // (a, a), (a, blank), (blank, a): 0.16 + 0.24 + 0.24 = 0.64 > 0.36.
        let p = logs(&[[0.6, 0.4, 0.0001], [0.6, 0.4, 0.0001]]);
        assert_eq!(greedy(&p, 3), Vec::<usize>::new());
        assert_eq!(prefix_beam_search(&p, 3, 4, None), vec![1]);
        // A beam of one drops "a" after the first frame (0.4 < 0.6), as best path does.
        assert_eq!(prefix_beam_search(&p, 3, 1, None), Vec::<usize>::new());
    }

    #[test]
    fn a_language_model_breaks_an_acoustic_tie_towards_what_it_has_read() {
        let alphabet = Alphabet::from_transcripts(["ab"], false);
        let (a, b) = (1usize, 2usize);
        let lines = vec!["ab"; 50];
        let lm = CharLm::train(&alphabet, lines.iter().copied(), 3);
        // Frame 1 says a; frame 2 cannot tell a from b.
        let p = logs(&[[0.01, 0.98, 0.01], [0.02, 0.49, 0.49]]);
        let fusion = Fusion {
            lm: &lm,
            weight: 1.0,
            bonus: 0.0,
        };
        assert_eq!(prefix_beam_search(&p, 3, 8, Some(&fusion)), vec![a, b]);
        assert!(lm.log_prob(&[a], b) > lm.log_prob(&[a], a));
    }
}
