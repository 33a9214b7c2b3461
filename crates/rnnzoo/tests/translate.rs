//! Translation through the real binary: a tiny model learns to reverse word sequences from a
//! TSV it has never seen; `translate` (text, JSON, attention heat map), `eval` (BLEU equal to
//! rescoring the written hypothesis and reference files) and the errors of bad parallel data.

mod common;

use std::path::{Path, PathBuf};

use common::{empty_dir, rnnzoo, text};

/// Source words `a0..a9`, target words `b0..b9`: the target is the source reversed, word for
/// word translated.
fn write_reversal_tsv(path: &Path, pairs: usize, seed: u64) {
    let mut state = seed;
    let mut next = |bound: u64| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % bound
    };
    let mut out = String::new();
    for _ in 0..pairs {
        let len = 3 + next(4) as usize;
        let words: Vec<u64> = (0..len).map(|_| next(10)).collect();
        let source: Vec<String> = words.iter().map(|w| format!("a{w}")).collect();
        let target: Vec<String> = words.iter().rev().map(|w| format!("b{w}")).collect();
        out.push_str(&format!("{}\t{}\n", source.join(" "), target.join(" ")));
    }
    std::fs::write(path, out).unwrap();
}

fn setup(tag: &str, attention: &str) -> PathBuf {
    let dir = empty_dir("translate", tag);
    write_reversal_tsv(&dir.join("pairs.tsv"), 1200, 7);
    std::fs::write(
        dir.join("reverse.yaml"),
        format!(
            "name: reverse\ntask: translate\nseed: 3\ndata:\n  path: pairs.tsv\n  tokenizer: word\n  split: {{ valid: 0.1, test: 0.1 }}\n\
             model:\n  embedding: 16\n  cell: lstm\n  hidden: 24\n  bidirectional: true\n  decoder_hidden: 40\n  attention: {attention}\n\
             train:\n  steps: 500\n  batch_size: 32\n  optimizer: {{ name: adam, lr: 0.01 }}\n  clip_norm: 1.0\n  eval_every: 250\n  checkpoint_every: 250\n\
             decode:\n  beam: 3\n"
        ),
    )
    .unwrap();
    dir
}

fn run_dir(dir: &Path) -> PathBuf {
    let runs = dir.join("runs/reverse");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all.pop().expect("a run")
}

#[test]
fn a_tiny_model_learns_to_reverse_and_the_verbs_work() {
    let dir = setup("learn", "general");
    let out = rnnzoo(&dir, &["train", "reverse.yaml"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let run = run_dir(&dir);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let bleu = summary["test"]["bleu"].as_f64().unwrap();
    assert!(bleu > 90.0, "test BLEU {bleu} after 500 steps:\n{log}");

    // The written hypotheses and references rescore to the reported BLEU.
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(run.join(name))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    let (hyp, reference) = (lines("test.hyp.txt"), lines("test.ref.txt"));
    assert_eq!(hyp.len(), reference.len());
    let sources = lines("test.src.txt");
    assert_eq!(sources.len(), hyp.len());
    // The sources are the references' sentences in source words, read back in order.
    for (s, r) in sources.iter().zip(&reference) {
        let expected: Vec<String> = s
            .split_whitespace()
            .rev()
            .map(|w| w.replacen('a', "b", 1))
            .collect();
        assert_eq!(&expected.join(" "), r);
    }
    assert_eq!(
        hyp.len() as u64,
        summary["test"]["sentences"].as_u64().unwrap()
    );
    let rescored = rnnzoo_metrics::corpus_bleu(&hyp, &reference).score;
    assert!((rescored - bleu).abs() < 1e-9);

    // eval prints the same BLEU; --json has it.
    let run_arg = run.to_str().unwrap();
    let out = rnnzoo(&dir, &["eval", run_arg, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((eval["bleu"].as_f64().unwrap() - bleu).abs() < 1e-9);

    // translate: a sentence it never saw, greedy and beam, text and JSON, and a heat map.
    let out = rnnzoo(
        &dir,
        &["translate", run_arg, "a1 a2 a3 a4 a5", "--beam", "1"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "b5 b4 b3 b2 b1"
    );
    let png = dir.join("attention.png");
    let out = rnnzoo(
        &dir,
        &[
            "translate",
            run_arg,
            "a7 a0 a9",
            "--json",
            "--attention-png",
            png.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t[0]["translation"], "b9 b0 b7");
    let attention = t[0]["attention"].as_array().unwrap();
    assert_eq!(attention.len(), 4, "3 words and </s>");
    assert_eq!(attention[0].as_array().unwrap().len(), 3);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");

    // A translation verb on a run of another task, and --beam 0, are refused.
    let out = rnnzoo(&dir, &["translate", run_arg, "a1", "--beam", "0"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("invalid value '0' for '--beam <BEAM>': must be at least 1"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_parallel_data_and_config_are_reported_with_their_place() {
    let dir = setup("errors", "dot");
    // `dot` needs the decoder (40) as wide as the encoder's outputs (48).
    let out = rnnzoo(&dir, &["train", "reverse.yaml"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("model.attention: `dot` needs"),
        "{}",
        text(&out)
    );
    // A line without a tab names the file and line.
    let mut tsv = std::fs::read_to_string(dir.join("pairs.tsv")).unwrap();
    tsv.insert_str(tsv.find('\n').unwrap() + 1, "no tab on this line\n");
    std::fs::write(dir.join("pairs.tsv"), tsv).unwrap();
    let out = rnnzoo(
        &dir,
        &["train", "reverse.yaml", "--set", "model.attention=general"],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("pairs.tsv:2"), "{}", text(&out));
    std::fs::remove_dir_all(dir).unwrap();
}
