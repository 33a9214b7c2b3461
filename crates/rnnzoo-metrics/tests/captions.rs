//! Multi-reference BLEU-1..4 against sacreBLEU and CIDEr-D against the COCO caption
//! evaluation (`pycocoevalcap`), on the committed fixture written by
//! `scripts/make_caption_fixture.py`.

use rnnzoo_metrics::{cider_d, corpus_bleu_multi};
use serde_json::Value;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bleu_1_to_4_and_cider_d_equal_the_reference_implementations() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/captions.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    for corpus in fixture["corpora"].as_array().unwrap() {
        let name = corpus["name"].as_str().unwrap();
        let hyps = strings(&corpus["hyps"]);
        let refs: Vec<Vec<String>> = corpus["refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(strings)
            .collect();
        for n in 1..=4 {
            let want = &corpus["bleu"][n.to_string()];
            let got = corpus_bleu_multi(&hyps, &refs, n);
            let expected = want["score"].as_f64().unwrap();
            assert!(
                (got.score - expected).abs() < 0.01,
                "{name} BLEU-{n}: {} vs sacreBLEU {expected}",
                got.score
            );
            assert_eq!(
                got.ref_len as u64,
                want["ref_len"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                got.sys_len as u64,
                want["sys_len"].as_u64().unwrap(),
                "{name}"
            );
        }
        let (mean, per) = cider_d(&hyps, &refs);
        let expected = corpus["cider"].as_f64().unwrap();
        assert!(
            (mean - expected).abs() < 1e-6,
            "{name} CIDEr-D {mean} vs {expected}"
        );
        for (got, want) in per.iter().zip(corpus["cider_per"].as_array().unwrap()) {
            assert!((got - want.as_f64().unwrap()).abs() < 1e-6, "{name}");
        }
    }
}
