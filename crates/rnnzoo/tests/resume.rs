//! `rnnzoo train --resume` after a real crash: the binary is killed with SIGKILL once it has
//! written a checkpoint, resumed, and must end with the same `metrics.csv` (timing columns
//! aside) and the same test metrics as an uninterrupted run of the same config. One thread, so
//! the sums run in one order.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::text;

/// The binary on one thread, so that every sum runs in one order.
fn rnnzoo() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rnnzoo"));
    command.env("RAYON_NUM_THREADS", "1");
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    rnnzoo()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("binary runs")
}

fn setup(tag: &str) -> PathBuf {
    common::empty_dir("resume", tag)
}

/// The only run directory under `dir/runs/NAME`.
fn run_dir(dir: &Path, name: &str) -> PathBuf {
    let parent = dir.join("runs").join(name);
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "one run under {}", parent.display());
    runs.pop().unwrap()
}

/// `metrics.csv` without its timing columns.
fn metrics_without_timing(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let timing = |h: &str| h.ends_with("_per_s") || h == "elapsed_s";
    std::iter::once(
        header
            .iter()
            .filter(|h| !timing(h))
            .copied()
            .collect::<Vec<_>>()
            .join(","),
    )
    .chain(lines.map(|line| {
        line.split(',')
            .zip(&header)
            .filter(|(_, h)| !timing(h))
            .map(|(c, _)| c)
            .collect::<Vec<_>>()
            .join(",")
    }))
    .collect()
}

/// `summary.json` without its timing keys.
fn summary_without_timing(run: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join("summary.json")).unwrap();
    let mut summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let object = summary.as_object_mut().unwrap();
    object.retain(|k, _| !(k.ends_with("_per_s") || k == "wall_s"));
    summary
}

/// Trains `config` once straight through (in `dir/straight`) and once killed with SIGKILL as
/// soon as a checkpoint exists, then resumed (in `dir/killed`); both must end alike.
fn killed_and_resumed_equals_uninterrupted(
    dir: &Path,
    name: &str,
    config: &str,
    files: &[(&str, &str)],
) {
    let straight = dir.join("straight");
    let killed = dir.join("killed");
    for d in [&straight, &killed] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("config.yaml"), config).unwrap();
        for (file, content) in files {
            std::fs::write(d.join(file), content).unwrap();
        }
    }
    let out = run(&straight, &["train", "config.yaml"]);
    assert!(out.status.success(), "{}", text(&out));

    let mut child = rnnzoo()
        .args(["train", "config.yaml"])
        .current_dir(&killed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let run_path = loop {
        let latest = std::fs::read_dir(killed.join("runs").join(name))
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("checkpoints/latest").is_file());
        if let Some(path) = latest {
            break path;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint written"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !run_path.join("summary.json").exists(),
        "the run was killed before it finished"
    );
    let resumed = run(&killed, &["train", "--resume", run_path.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(
        text(&resumed).contains("resumed from"),
        "{}",
        text(&resumed)
    );

    let (a, b) = (run_dir(&straight, name), run_dir(&killed, name));
    assert_eq!(metrics_without_timing(&a), metrics_without_timing(&b));
    assert_eq!(summary_without_timing(&a), summary_without_timing(&b));
}

#[test]
fn a_killed_memory_run_resumes_exactly() {
    let dir = setup("memory");
    let config = "name: mem\ntask: memory\nseed: 5\ndata:\n  synthetic: { problem: adding, delay: 6, valid_examples: 100, test_examples: 100 }\nmodel:\n  cell: lstm\n  hidden: 16\ntrain:\n  steps: 400\n  batch_size: 16\n  optimizer: { lr: 1.0e-2 }\n  clip_norm: 1.0\n  eval_every: 20\n  log_every: 10\n";
    killed_and_resumed_equals_uninterrupted(&dir, "mem", config, &[]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_classifier_run_resumes_exactly() {
    let dir = setup("sentiment");
    let mut csv = String::from("text,label\n");
    let (good, bad) = (
        ["good", "great", "fine", "lovely"],
        ["bad", "awful", "dull", "poor"],
    );
    for i in 0..300 {
        let words = if i % 2 == 0 { &good } else { &bad };
        let text: Vec<&str> = (0..3 + i % 5).map(|k| words[(i + k) % 4]).collect();
        let label = if i % 2 == 0 { "pos" } else { "neg" };
        csv.push_str(&format!("{} film,{label}\n", text.join(" ")));
    }
    let config = "name: cls\ntask: sentiment\nseed: 5\ndata:\n  path: reviews.csv\n  split: { valid: 0.2, test: 0.2 }\nmodel:\n  embedding: 8\n  cell: gru\n  hidden: 12\ntrain:\n  epochs: 8\n  batch_size: 8\n  optimizer: { lr: 1.0e-2 }\n  log_every: 7\n  checkpoint_every: 5\n";
    killed_and_resumed_equals_uninterrupted(&dir, "cls", config, &[("reviews.csv", &csv)]);
    std::fs::remove_dir_all(&dir).unwrap();
}
#[test]
fn a_killed_language_model_run_resumes_exactly() {
    let dir = setup("lm");
    let line = "to be or not to be that is the question\n";
    let config = "name: lm\ntask: lm\nseed: 5\ndata:\n  path: corpus.txt\n  split: { valid: 0.1, test: 0.1 }\nmodel:\n  embedding: 8\n  cell: lstm\n  hidden: 16\n  dropout: 0.1\ntrain:\n  steps: 300\n  batch_size: 4\n  bptt: 16\n  optimizer: { lr: 1.0e-2 }\n  eval_every: 40\n  checkpoint_every: 15\n  log_every: 10\n";
    killed_and_resumed_equals_uninterrupted(
        &dir,
        "lm",
        config,
        &[("corpus.txt", &line.repeat(300))],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
