//! Our BLEU, chrF and 13a tokeniser against sacreBLEU's on the committed fixture (written by
//! `scripts/make_bleu_fixture.py` with the `sacrebleu` package).

use rnnzoo_metrics::{corpus_bleu, corpus_chrf, tokenize_13a};
use serde_json::Value;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sacrebleu.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tokenisation_equals_sacrebleu_13a() {
    for case in fixture()["tokenized"].as_array().unwrap() {
        let line = case["line"].as_str().unwrap();
        assert_eq!(
            tokenize_13a(line.trim_end()),
            case["tokens"].as_str().unwrap(),
            "line {line:?}"
        );
    }
}

#[test]
fn corpus_scores_equal_sacrebleu() {
    for corpus in fixture()["corpora"].as_array().unwrap() {
        let name = corpus["name"].as_str().unwrap();
        let (hyps, refs) = (strings(&corpus["hyps"]), strings(&corpus["refs"]));
        let bleu = corpus_bleu(&hyps, &refs);
        let want = corpus["bleu"].as_f64().unwrap();
        // The issue asks for 0.01; the computation is the same, so it agrees to rounding.
        assert!(
            (bleu.score - want).abs() < 1e-9,
            "{name}: BLEU {} vs sacreBLEU {want}",
            bleu.score
        );
        assert_eq!(
            bleu.sys_len as u64,
            corpus["sys_len"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            bleu.ref_len as u64,
            corpus["ref_len"].as_u64().unwrap(),
            "{name}"
        );
        assert!((bleu.brevity_penalty - corpus["bp"].as_f64().unwrap()).abs() < 1e-12);
        for (p, w) in bleu
            .precisions
            .iter()
            .zip(corpus["precisions"].as_array().unwrap())
        {
            assert!(
                (p - w.as_f64().unwrap()).abs() < 1e-9,
                "{name}: precisions {:?}",
                bleu.precisions
            );
        }
        let chrf = corpus_chrf(&hyps, &refs);
        let want = corpus["chrf"].as_f64().unwrap();
        assert!(
            (chrf - want).abs() < 1e-9,
            "{name}: chrF {chrf} vs sacreBLEU {want}"
        );
    }
}
