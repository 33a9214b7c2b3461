//! Word and character error rates as `jiwer` 3.x computes them with its default transforms, so
//! that a CER or WER printed by rnnzoo is the one `jiwer.wer(refs, hyps)` gives:
//!
//! - words: runs of two or more whitespace characters become one space, the text is stripped,
//!   then split on single spaces (empty pieces dropped); no lower-casing, no punctuation removal;
//! - characters: the stripped text's Unicode scalar values, spaces included (inner runs of
//!   spaces are not collapsed);
//! - each sentence is aligned on its own (Levenshtein, unit costs) and the counts are summed:
//!   the rate is `(S + D + I) / (H + S + D)`, total edits over total reference tokens.
//!
//! The split of the edits into substitutions, deletions and insertions follows jiwer's
//! (rapidfuzz's) tie-breaking: the common prefix and suffix are hits, and the trace back from
//! the end prefers a deletion, then a substitution, then an insertion.

use serde::Serialize;

/// Alignment counts of a corpus and its error rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ErrorRate {
    /// `(S + D + I) / (H + S + D)` (0 when the references have no tokens).
    pub rate: f64,
    /// Reference tokens matched.
    pub hits: usize,
    /// Reference tokens replaced.
    pub substitutions: usize,
    /// Reference tokens missing from the hypothesis.
    pub deletions: usize,
    /// Hypothesis tokens with no reference token.
    pub insertions: usize,
}

/// jiwer's word split (see the module documentation): a lone tab or no-break space stays
/// inside a word, as it does there.
pub fn words(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut collapsed = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| c.is_whitespace()).count();
        if run >= 2 {
            collapsed.push(' ');
            i += run;
        } else {
            collapsed.push(chars[i]);
            i += 1;
        }
    }
    collapsed
        .trim()
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// jiwer's character split: the stripped text's characters.
pub fn characters(text: &str) -> Vec<char> {
    text.trim().chars().collect()
}

/// `(hits, substitutions, deletions, insertions)` of one aligned pair.
fn counts<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> [usize; 4] {
    let mut p = 0;
    while p < reference.len() && p < hypothesis.len() && reference[p] == hypothesis[p] {
        p += 1;
    }
    let mut q = 0;
    while q < reference.len() - p
        && q < hypothesis.len() - p
        && reference[reference.len() - 1 - q] == hypothesis[hypothesis.len() - 1 - q]
    {
        q += 1;
    }
    let r = &reference[p..reference.len() - q];
    let h = &hypothesis[p..hypothesis.len() - q];
    let (n, m) = (r.len(), h.len());
    let w = m + 1;
    let mut d = vec![0usize; (n + 1) * w];
    for i in 0..=n {
        d[i * w] = i;
    }
    for (j, cell) in d[..w].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[(i - 1) * w + j - 1] + usize::from(r[i - 1] != h[j - 1]);
            d[i * w + j] = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(sub);
        }
    }
    let [mut hits, mut subs, mut dels, mut ins] = [p + q, 0, 0, 0];
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        let here = d[i * w + j];
        if i > 0 && d[(i - 1) * w + j] + 1 == here {
            i -= 1;
            dels += 1;
        } else if i > 0 && j > 0 && r[i - 1] != h[j - 1] && d[(i - 1) * w + j - 1] + 1 == here {
            i -= 1;
            j -= 1;
            subs += 1;
        } else if j > 0 && d[i * w + j - 1] + 1 == here {
            j -= 1;
            ins += 1;
        } else {
            i -= 1;
            j -= 1;
            hits += 1;
        }
    }
    [hits, subs, dels, ins]
}

fn corpus<T: PartialEq>(pairs: impl Iterator<Item = (Vec<T>, Vec<T>)>) -> ErrorRate {
    let mut total = [0usize; 4];
    for (r, h) in pairs {
        for (t, c) in total.iter_mut().zip(counts(&r, &h)) {
            *t += c;
        }
    }
    let [hits, substitutions, deletions, insertions] = total;
    let reference = hits + substitutions + deletions;
    ErrorRate {
        rate: if reference == 0 {
            0.0
        } else {
            (substitutions + deletions + insertions) as f64 / reference as f64
        },
        hits,
        substitutions,
        deletions,
        insertions,
    }
}

/// Corpus word error rate of `hypotheses` against `references` (same order and count).
///
/// # Panics
/// When the counts differ.
pub fn word_error_rate<S: AsRef<str>>(references: &[S], hypotheses: &[S]) -> ErrorRate {
    assert_eq!(
        references.len(),
        hypotheses.len(),
        "one hypothesis per reference"
    );
    corpus(
        references
            .iter()
            .zip(hypotheses)
            .map(|(r, h)| (words(r.as_ref()), words(h.as_ref()))),
    )
}

/// Corpus character error rate of `hypotheses` against `references` (same order and count).
///
/// # Panics
/// When the counts differ.
pub fn character_error_rate<S: AsRef<str>>(references: &[S], hypotheses: &[S]) -> ErrorRate {
    assert_eq!(
        references.len(),
        hypotheses.len(),
        "one hypothesis per reference"
    );
    corpus(
        references
            .iter()
            .zip(hypotheses)
            .map(|(r, h)| (characters(r.as_ref()), characters(h.as_ref()))),
    )
}
