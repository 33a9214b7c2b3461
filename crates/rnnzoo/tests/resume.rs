//! What the shared training loop guarantees every task (language model, classifier, memory
//! problem), through the real binary: a run killed with SIGKILL once it has written a
//! checkpoint, or interrupted (Ctrl-C) between two checkpoints, and then resumed ends with the same
//! `metrics.csv` (timing columns aside) and the same test metrics as an uninterrupted run; a
//! NaN loss stops the run naming the step and keeps the last checkpoint, or with
//! `train.on_nan: skip` skips the batch and halves the learning rate. One thread, so the sums
//! run in one order.

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

/// A task's tiny experiment: run name, config and the data files it reads.
struct Experiment {
    name: &'static str,
    config: String,
    files: Vec<(&'static str, String)>,
}

impl Experiment {
    /// Writes the config (with `extra` lines appended to its `train:` section) and the data
    /// into a new folder `dir/tag`.
    fn lay_out(&self, dir: &Path, tag: &str, extra: &str) -> PathBuf {
        let at = dir.join(tag);
        std::fs::create_dir_all(&at).unwrap();
        std::fs::write(at.join("config.yaml"), format!("{}{extra}", self.config)).unwrap();
        for (file, content) in &self.files {
            std::fs::write(at.join(file), content).unwrap();
        }
        at
    }
}

fn memory() -> Experiment {
    Experiment {
        name: "mem",
        config: "name: mem\ntask: memory\nseed: 5\ndata:\n  synthetic: { problem: adding, delay: 6, valid_examples: 100, test_examples: 100 }\nmodel:\n  cell: lstm\n  hidden: 16\ntrain:\n  steps: 1500\n  batch_size: 16\n  optimizer: { lr: 1.0e-2 }\n  clip_norm: 1.0\n  eval_every: 20\n  log_every: 10\n".into(),
        files: vec![],
    }
}

fn classifier() -> Experiment {
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
    Experiment {
        name: "cls",
        config: "name: cls\ntask: sentiment\nseed: 5\ndata:\n  path: reviews.csv\n  split: { valid: 0.2, test: 0.2 }\nmodel:\n  embedding: 8\n  cell: gru\n  hidden: 12\ntrain:\n  epochs: 8\n  batch_size: 8\n  optimizer: { lr: 1.0e-2 }\n  log_every: 7\n  checkpoint_every: 5\n".into(),
        files: vec![("reviews.csv", csv)],
    }
}

fn language_model() -> Experiment {
    let line = "to be or not to be that is the question\n";
    Experiment {
        name: "lm",
        config: "name: lm\ntask: lm\nseed: 5\ndata:\n  path: corpus.txt\n  split: { valid: 0.1, test: 0.1 }\nmodel:\n  embedding: 8\n  cell: lstm\n  hidden: 16\n  dropout: 0.1\ntrain:\n  steps: 600\n  batch_size: 4\n  bptt: 16\n  optimizer: { lr: 1.0e-2 }\n  eval_every: 40\n  checkpoint_every: 15\n  log_every: 10\n".into(),
        files: vec![("corpus.txt", line.repeat(300))],
    }
}

/// How the interrupted run is stopped.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// SIGKILL after the first checkpoint: a crash, nothing written after it.
    Kill,
    /// Ctrl-C at step 37, between two checkpoints and two metrics rows: the loop's own
    /// interruption (`RNNZOO_INJECT_INTERRUPT_STEP`), at a known step so that the comparison
    /// does not depend on when a signal lands; [`ctrl_c`] sends the real SIGINT.
    Interrupt,
}

/// Waits for the first checkpoint of the run of `experiment` under `at`; returns its folder.
fn first_checkpoint(at: &Path, name: &str) -> PathBuf {
    let start = Instant::now();
    loop {
        let run = std::fs::read_dir(at.join("runs").join(name))
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("checkpoints/latest").is_file());
        if let Some(path) = run {
            return path;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint written"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Trains the experiment once straight through and once stopped by `stop` as soon as a
/// checkpoint exists, then resumed; both must end alike.
fn stopped_and_resumed_equals_uninterrupted(experiment: Experiment, stop: Stop) {
    resumed_with_train_keys_equals_uninterrupted(experiment, stop, "");
}

/// [`stopped_and_resumed_equals_uninterrupted`] with `extra` lines in the `train:` section.
fn resumed_with_train_keys_equals_uninterrupted(experiment: Experiment, stop: Stop, extra: &str) {
    let tag = if extra.is_empty() { "" } else { "-extra" };
    let dir = setup(&format!("{}-{stop:?}{tag}", experiment.name));
    let straight = experiment.lay_out(&dir, "straight", extra);
    let stopped = experiment.lay_out(&dir, "stopped", extra);
    let out = run(&straight, &["train", "config.yaml"]);
    assert!(out.status.success(), "{}", text(&out));

    let mut command = rnnzoo();
    command
        .args(["train", "config.yaml"])
        .current_dir(&stopped)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Stop::Interrupt = stop {
        command.env("RNNZOO_INJECT_INTERRUPT_STEP", "37");
    }
    let mut child = command.spawn().unwrap();
    let run_path = first_checkpoint(&stopped, experiment.name);
    if let Stop::Kill = stop {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "a stopped run exits non-zero");
    assert!(
        !run_path.join("summary.json").exists(),
        "the run was stopped before it finished"
    );
    if let Stop::Interrupt = stop {
        let said = text(&out);
        // The run folder as the user named it: relative to where they ran the command.
        let relative = run_path.strip_prefix(&stopped).unwrap();
        let command = format!("rnnzoo train --resume {}", relative.display());
        assert!(
            said.contains("interrupted at step 37") && said.contains(&command),
            "{said}"
        );
    }
    let resumed = run(&stopped, &["train", "--resume", run_path.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(
        text(&resumed).contains("resumed from"),
        "{}",
        text(&resumed)
    );

    let (a, b) = (
        run_dir(&straight, experiment.name),
        run_dir(&stopped, experiment.name),
    );
    assert_eq!(metrics_without_timing(&a), metrics_without_timing(&b));
    assert_eq!(summary_without_timing(&a), summary_without_timing(&b));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A real SIGINT once the run has a checkpoint: the run writes one more, exits non-zero
/// printing the command that resumes it, and that command finishes the run.
fn ctrl_c(experiment: Experiment) {
    let dir = setup(&format!("{}-sigint", experiment.name));
    let at = experiment.lay_out(&dir, "run", "");
    let child = rnnzoo()
        .args(["train", "config.yaml"])
        .current_dir(&at)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run_path = first_checkpoint(&at, experiment.name);
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    let relative = run_path.strip_prefix(&at).unwrap();
    let command = format!("rnnzoo train --resume {}", relative.display());
    assert!(
        said.contains("interrupted at step") && said.contains(&command),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    let step: usize = said
        .split("interrupted at step ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let latest = std::fs::read_to_string(run_path.join("checkpoints/latest")).unwrap();
    assert_eq!(
        latest.trim(),
        format!("step-{step:08}"),
        "a checkpoint at the interruption"
    );
    let resumed = run(&at, &["train", "--resume", relative.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(run_path.join("summary.json").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A NaN loss at step 33: by default the run stops naming the step and keeps its checkpoints;
/// with `on_nan: skip` the batch is skipped, the rate halved, and the run finishes; past
/// `max_nan_skips` it stops.
fn nan_guard(experiment: Experiment) {
    let dir = setup(&format!("{}-nan", experiment.name));
    let nan_at = |at: &Path, args: &[&str], steps: &str| {
        rnnzoo()
            .args(args)
            .current_dir(at)
            .env("RNNZOO_INJECT_NAN_STEPS", steps)
            .output()
            .unwrap()
    };
    let at = experiment.lay_out(&dir, "stop", "");
    let out = nan_at(&at, &["train", "config.yaml"], "33");
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("training diverged at step 33: the loss is NaN")
            && said.contains("the last good checkpoint is kept"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    let run = run_dir(&at, experiment.name);
    let latest = std::fs::read_to_string(run.join("checkpoints/latest")).unwrap();
    let step: usize = latest.trim().trim_start_matches("step-").parse().unwrap();
    assert!((1..33).contains(&step), "kept checkpoint {latest}");
    assert!(!run.join("summary.json").exists());

    let at = experiment.lay_out(&dir, "skip", "  on_nan: skip\n");
    let out = nan_at(&at, &["train", "config.yaml"], "33,34");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("batch skipped, learning rate halved (2 of at most 3 skips)"));
    let run = run_dir(&at, experiment.name);
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let lr = header.iter().position(|h| *h == "lr").unwrap();
    let last_lr: f64 = lines
        .last()
        .unwrap()
        .split(',')
        .nth(lr)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(last_lr, 1.0e-2 / 4.0, "two halvings of the constant rate");

    let at = experiment.lay_out(
        &dir,
        "skips-used-up",
        "  on_nan: skip\n  max_nan_skips: 1\n",
    );
    let out = nan_at(&at, &["train", "config.yaml"], "33,34");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("training diverged at step 34"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_memory_run_resumes_exactly() {
    stopped_and_resumed_equals_uninterrupted(memory(), Stop::Kill);
}

#[test]
fn an_interrupted_memory_run_resumes_exactly() {
    stopped_and_resumed_equals_uninterrupted(memory(), Stop::Interrupt);
}

#[test]
fn a_killed_classifier_run_resumes_exactly() {
    stopped_and_resumed_equals_uninterrupted(classifier(), Stop::Kill);
}

#[test]
fn an_interrupted_classifier_run_resumes_exactly() {
    stopped_and_resumed_equals_uninterrupted(classifier(), Stop::Interrupt);
}

/// The weights' moving average is validated and checkpointed: a resumed run that restarted
/// it from the weights would validate (and so log and choose) differently.
#[test]
fn an_interrupted_classifier_run_resumes_its_weight_average_exactly() {
    resumed_with_train_keys_equals_uninterrupted(
        classifier(),
        Stop::Interrupt,
        "  ema_decay: 0.95\n",
    );
}

/// A column of `metrics.csv`, the empty cells left out.
fn metrics_column(run: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(at).unwrap().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The weights' moving average changes what is validated, never what is trained: the same
/// run with and without it has the same training losses (so it also starts from the same
/// initial weights) and different validation losses.
#[test]
fn a_weight_average_is_validated_without_changing_the_training() {
    let dir = setup("cls-average");
    let experiment = classifier();
    let plain = experiment.lay_out(&dir, "plain", "");
    let averaged = experiment.lay_out(&dir, "averaged", "  ema_decay: 0.95\n");
    for at in [&plain, &averaged] {
        let out = run(at, &["train", "config.yaml"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let (a, b) = (
        run_dir(&plain, experiment.name),
        run_dir(&averaged, experiment.name),
    );
    let train = metrics_column(&a, "train_loss");
    assert!(train.len() > 3);
    assert_eq!(train, metrics_column(&b, "train_loss"));
    assert_ne!(
        metrics_column(&a, "valid_loss"),
        metrics_column(&b, "valid_loss")
    );
    let best = std::fs::read_to_string(b.join("checkpoints/best")).unwrap();
    assert!(
        b.join("checkpoints")
            .join(best.trim())
            .join("averaged.safetensors")
            .is_file()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_language_model_run_resumes_exactly() {
    stopped_and_resumed_equals_uninterrupted(language_model(), Stop::Kill);
}

#[test]
fn an_interrupted_language_model_run_resumes_exactly() {
    stopped_and_resumed_equals_uninterrupted(language_model(), Stop::Interrupt);
}

#[test]
fn ctrl_c_checkpoints_a_memory_run() {
    ctrl_c(memory());
}

#[test]
fn ctrl_c_checkpoints_a_classifier_run() {
    ctrl_c(classifier());
}

#[test]
fn ctrl_c_checkpoints_a_language_model_run() {
    ctrl_c(language_model());
}

#[test]
fn a_nan_stops_or_skips_a_memory_run() {
    nan_guard(memory());
}

#[test]
fn a_nan_stops_or_skips_a_classifier_run() {
    nan_guard(classifier());
}

#[test]
fn a_nan_stops_or_skips_a_language_model_run() {
    nan_guard(language_model());
}
