//! BLEU, chrF, CIDEr-D and the error rates on arbitrary hypothesis and reference lines: never
//! panic, and stay finite and in range.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let parts = common::parts(data, 2);
    let lines = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b).lines().map(str::to_string).collect()
    };
    let (mut hyps, mut refs) = (lines(parts[0]), lines(parts[1]));
    let n = hyps.len().min(refs.len());
    hyps.truncate(n);
    refs.truncate(n);
    let bleu = rnnzoo_metrics::corpus_bleu(&hyps, &refs);
    assert!((0.0..=100.0).contains(&bleu.score), "{bleu:?}");
    let both: Vec<Vec<String>> = refs
        .iter()
        .zip(&hyps)
        .map(|(r, h)| vec![r.clone(), h.clone()])
        .collect();
    for order in 1..=4 {
        let multi = rnnzoo_metrics::corpus_bleu_multi(&hyps, &both, order);
        assert!((0.0..=100.0).contains(&multi.score), "{multi:?}");
    }
    let chrf = rnnzoo_metrics::corpus_chrf(&hyps, &refs);
    assert!((0.0..=100.0).contains(&chrf), "{chrf}");
    if n > 0 {
        let (cider, per) = rnnzoo_metrics::cider_d(&hyps, &both);
        assert!(cider.is_finite() && per.iter().all(|c| c.is_finite()), "{cider}");
    }
    let wer = rnnzoo_metrics::word_error_rate(&refs, &hyps);
    let cer = rnnzoo_metrics::character_error_rate(&refs, &hyps);
    assert!(wer.rate.is_finite() && wer.rate >= 0.0 && cer.rate.is_finite() && cer.rate >= 0.0);
});
