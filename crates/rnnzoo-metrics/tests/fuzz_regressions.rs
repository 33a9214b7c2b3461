//! Inputs that `scripts/fuzz.sh` (target `bleu`) found breaking a metric, kept as tests.

/// The input cut as the fuzz target cuts it: hypotheses, 0xFF, references.
fn lines_of(input: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut parts = input.splitn(2, |&b| b == 0xFF);
    let mut lines = || -> Vec<String> {
        String::from_utf8_lossy(parts.next().unwrap_or_default())
            .lines()
            .map(str::to_string)
            .collect()
    };
    let (h, r) = (lines(), lines());
    let n = h.len().min(r.len());
    (h[..n].to_vec(), r[..n].to_vec())
}

#[test]
fn bleu_of_a_one_word_match_is_at_most_100() {
    // crash-006e69ae...: BLEU-1 of "`" against itself was 100.00000000000004 (exp(ln 100)).
    for input in [&b"`\xff`"[..], b"ab\xffab"] {
        let (hyps, refs) = lines_of(input);
        let both: Vec<Vec<String>> = refs
            .iter()
            .zip(&hyps)
            .map(|(r, h)| vec![r.clone(), h.clone()])
            .collect();
        for order in 1..=4 {
            let bleu = rnnzoo_metrics::corpus_bleu_multi(&hyps, &both, order);
            assert!(
                (0.0..=100.0).contains(&bleu.score),
                "order {order}: {bleu:?}"
            );
        }
        let bleu = rnnzoo_metrics::corpus_bleu(&hyps, &refs);
        assert!((0.0..=100.0).contains(&bleu.score), "{bleu:?}");
    }
}
