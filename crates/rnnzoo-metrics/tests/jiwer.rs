//! Our WER and CER against jiwer's on the committed fixture (written by
//! `scripts/make_wer_fixture.py` with the `jiwer` package).

use rnnzoo_metrics::{character_error_rate, word_error_rate};
use serde_json::Value;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn error_rates_and_counts_equal_jiwer() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jiwer.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (refs, hyps) = (strings(&case["references"]), strings(&case["hypotheses"]));
        let count = |key: &str| case[key].as_u64().unwrap() as usize;
        let w = word_error_rate(&refs, &hyps);
        assert!(
            (w.rate - case["wer"].as_f64().unwrap()).abs() < 1e-12,
            "{name}: WER {}",
            w.rate
        );
        assert_eq!(
            [w.hits, w.substitutions, w.deletions, w.insertions],
            [
                count("hits"),
                count("substitutions"),
                count("deletions"),
                count("insertions")
            ],
            "{name}: word counts"
        );
        let c = character_error_rate(&refs, &hyps);
        assert!(
            (c.rate - case["cer"].as_f64().unwrap()).abs() < 1e-12,
            "{name}: CER {}",
            c.rate
        );
        assert_eq!(
            [c.hits, c.substitutions, c.deletions, c.insertions],
            [
                count("char_hits"),
                count("char_substitutions"),
                count("char_deletions"),
                count("char_insertions")
            ],
            "{name}: character counts"
        );
    }
}
