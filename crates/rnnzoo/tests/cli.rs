//! Drives the real `rnnzoo` binary: train, eval, score and generate on a tiny corpus, and the
//! errors a user sees for a bad config or a bad override.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rnnzoo(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rnnzoo"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn setup(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnzoo-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let line = "to be or not to be that is the question\n";
    std::fs::write(dir.join("corpus.txt"), line.repeat(200)).unwrap();
    std::fs::write(
        dir.join("tiny.yaml"),
        "name: tiny\ntask: lm\ndata:\n  path: corpus.txt\n  split: { valid: 0.1, test: 0.1 }\nmodel:\n  embedding: 16\n  cell: gru\n  hidden: 32\ntrain:\n  steps: 40\n  batch_size: 4\n  bptt: 16\n  optimizer: { lr: 1.0e-2 }\n  eval_every: 20\n  log_every: 10\nsample:\n  prompt: \"to be\"\n  length: 20\n  temperature: 0.1\n",
    )
    .unwrap();
    dir
}

#[test]
fn train_then_eval_score_and_generate() {
    let dir = setup("flow");
    let out = rnnzoo(&dir, &["train", "tiny.yaml", "--set", "train.steps=60"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let run_line = log
        .lines()
        .find(|l| l.starts_with("run: "))
        .expect("run directory printed");
    let run = run_line.trim_start_matches("run: ").to_string();
    assert!(
        log.contains("[60/60]"),
        "plain progress lines when not a terminal:\n{log}"
    );
    assert!(log.contains("--- sample ---\nto be"), "{log}");
    let resolved = std::fs::read_to_string(dir.join(&run).join("config.yaml")).unwrap();
    assert!(
        resolved.contains("steps: 60"),
        "the override is recorded:\n{resolved}"
    );

    let out = rnnzoo(&dir, &["eval", &run, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let eval: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(eval["loss"].as_f64().unwrap() < 1.0, "{eval}");

    std::fs::write(dir.join("other.txt"), "that is the question\n".repeat(5)).unwrap();
    let out = rnnzoo(&dir, &["eval", &run, "--data", "other.txt"]);
    assert!(text(&out).starts_with("other.txt: loss "), "{}", text(&out));

    let out = rnnzoo(
        &dir,
        &["score", &run, "--json", "to be or not", "eb ot ro ton"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let scores: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mean = |i: usize| scores[i]["mean_log_prob"].as_f64().unwrap();
    assert!(mean(0) > mean(1) + 1.0, "{scores}");

    let out = rnnzoo(
        &dir,
        &[
            "generate",
            &run,
            "--prompt",
            "to be or",
            "--length",
            "12",
            "--temperature",
            "0.05",
            "--seed",
            "2",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "to be or not to be t",
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_mistakes_are_reported_with_their_place() {
    let dir = setup("errors");
    let yaml = std::fs::read_to_string(dir.join("tiny.yaml"))
        .unwrap()
        .replace("  bptt: 16", "  bpt: 16");
    std::fs::write(dir.join("typo.yaml"), yaml).unwrap();
    let out = rnnzoo(&dir, &["train", "typo.yaml"]);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(
        err.contains("typo.yaml:13:3:")
            && err.contains("unknown field `bpt`")
            && err.contains("did you mean `bptt`?"),
        "{err}"
    );

    let out = rnnzoo(&dir, &["train", "tiny.yaml", "--set", "model.cell=lstn"]);
    let err = text(&out);
    assert!(
        !out.status.success()
            && err.contains("--set model.cell=lstn")
            && err.contains("did you mean `lstm`?"),
        "{err}"
    );

    let out = rnnzoo(&dir, &["eval", "no-such-run"]);
    assert!(
        !out.status.success() && text(&out).contains("no-such-run: not a run directory"),
        "{}",
        text(&out)
    );
    assert!(
        !dir.join("runs").exists(),
        "no run directory for a rejected config"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
