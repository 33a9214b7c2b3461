//! Drives the real `rnnzoo` binary: train, eval, score and generate on a tiny corpus, and the
//! errors a user sees for a bad config or a bad override.

mod common;

use std::path::PathBuf;

use common::{empty_dir, rnnzoo, text};

fn setup(tag: &str) -> PathBuf {
    let dir = empty_dir("cli", tag);
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
    assert!(
        log.contains(" nats/token under the model) ---\nto be"),
        "a sample with its likelihood:\n{log}"
    );
    assert!(!log.contains("warning:"), "a healthy sample:\n{log}");
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

#[test]
fn compare_runs_a_grid_reports_it_and_skips_finished_runs_when_run_again() {
    let dir = setup("compare");
    std::fs::write(
        dir.join("sweep.yaml"),
        "name: grid\nbase: tiny.yaml\nset: { train.steps: 12, train.eval_every: 6, sample.length: 0 }\ngrid:\n  model.cell: [rnn, gru]\n  model.hidden: [8, 12]\nseeds: [1]\nbaselines: [2]\njobs: 2\n",
    )
    .unwrap();
    let out = rnnzoo(&dir, &["compare", "sweep.yaml"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let result = dir.join("runs/compare/grid");
    let table = std::fs::read_to_string(result.join("compare.md")).unwrap();
    for variant in [
        "cell=rnn,hidden=8",
        "cell=rnn,hidden=12",
        "cell=gru,hidden=8",
        "cell=gru,hidden=12",
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {variant} |")))
            .unwrap_or_else(|| panic!("no row for {variant}:\n{table}"));
        assert!(row.ends_with("| 1 |"), "one finished run: {row}");
    }
    let baseline = table
        .lines()
        .find(|l| l.starts_with("| n-gram KN-2 (baseline) |"))
        .unwrap_or_else(|| panic!("no baseline row:\n{table}"));
    assert!(baseline.ends_with("| 1 |"), "{baseline}");
    let csv = std::fs::read_to_string(result.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().count(), 6, "{csv}");
    let svg = std::fs::read_to_string(result.join("validation-curves.svg")).unwrap();
    assert!(
        svg.contains("cell=gru,hidden=12"),
        "legend names the variants"
    );
    assert!(
        svg.contains("n-gram KN-2 (baseline) ("),
        "the baseline is a level with its value"
    );
    let bars = std::fs::read_to_string(result.join("final-metric.svg")).unwrap();
    assert!(bars.contains("cell=gru,hidden=12") && bars.contains("KN-2"));
    for png in ["validation-curves.png", "final-metric.png"] {
        assert!(
            std::fs::read(result.join(png))
                .unwrap()
                .starts_with(b"\x89PNG")
        );
    }

    // Again: every run is skipped, and the report is the same.
    let out = rnnzoo(&dir, &["compare", "sweep.yaml"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(log.matches("finished before, skipped").count(), 5, "{log}");
    assert!(!log.contains(": training"), "{log}");
    assert_eq!(
        std::fs::read_to_string(result.join("compare.md")).unwrap(),
        table
    );
    // --report re-renders from the folder alone.
    let out = rnnzoo(&dir, &["compare", "--report", "runs/compare/grid"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("| cell=rnn,hidden=8 |"));
}

#[test]
fn memory_problems_train_evaluate_and_compare() {
    let dir = setup("memory");
    std::fs::write(
        dir.join("memory.yaml"),
        "name: mem\ntask: memory\ndata:\n  synthetic: { problem: adding, delay: 6, symbols: 2, alphabet: 3, valid_examples: 40, test_examples: 40 }\nmodel:\n  cell: lstm\n  hidden: 8\ntrain:\n  steps: 20\n  batch_size: 8\n  eval_every: 10\n  log_every: 10\n",
    )
    .unwrap();
    let out = rnnzoo(&dir, &["train", "memory.yaml"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("chance: accuracy 0.0784"), "{log}");
    let run = log
        .lines()
        .find_map(|l| l.strip_prefix("run saved in "))
        .expect("run directory printed")
        .to_string();
    let out = rnnzoo(&dir, &["eval", &run, "--json"]);
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(json["sequences"], 40);
    let out = rnnzoo(&dir, &["eval", &run, "--data", "corpus.txt"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("leave out --data"), "{}", text(&out));
    // Verbs of other tasks name the task the run is and the verbs that fit it.
    for verb in [
        &["generate", &run][..],
        &["score", &run, "to be"],
        &["predict", &run, "a text"],
    ] {
        let out = rnnzoo(&dir, verb);
        assert!(!out.status.success());
        let said = text(&out);
        assert!(
            said.contains(&format!(
                "a memory-problem run; `{}` does not apply to it (its verbs: train, eval)",
                verb[0]
            )),
            "{said}"
        );
        assert!(!said.contains("panicked"), "{said}");
    }

    std::fs::write(
        dir.join("sweep.yaml"),
        "name: mem\nbase: memory.yaml\ngrid:\n  data.synthetic.problem: [adding, copy]\n  model.cell: [rnn, gru]\nseeds: [1]\njobs: 2\n",
    )
    .unwrap();
    let out = rnnzoo(&dir, &["compare", "sweep.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let table = std::fs::read_to_string(dir.join("runs/compare/mem/compare.md")).unwrap();
    assert!(table.contains("| chance accuracy |"), "{table}");
    for variant in [
        "problem=adding,cell=rnn",
        "problem=adding,cell=gru",
        "problem=copy,cell=rnn",
        "problem=copy,cell=gru",
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {variant} |")))
            .unwrap_or_else(|| panic!("no row for {variant}:\n{table}"));
        let chance = if variant.contains("adding") {
            "0.0784"
        } else {
            "0.3333"
        };
        assert!(row.contains(&format!("| {chance} |")), "{row}");
    }
    // Each problem's chance is its own dashed level, not their mean.
    let svg = std::fs::read_to_string(dir.join("runs/compare/mem/validation-curves.svg")).unwrap();
    assert!(
        svg.contains("chance (0.078)") && svg.contains("chance (0.333)"),
        "{svg}"
    );
}

#[test]
fn compare_rejects_a_variant_whose_config_is_invalid_before_training() {
    let dir = setup("compare-bad");
    std::fs::write(
        dir.join("sweep.yaml"),
        "name: bad\nbase: tiny.yaml\nvariants:\n  - { name: ok, set: { model.cell: lstm } }\n  - { name: typo, set: { model.hiden: 8 } }\n",
    )
    .unwrap();
    let out = rnnzoo(&dir, &["compare", "sweep.yaml"]);
    let log = text(&out);
    assert!(!out.status.success());
    assert!(
        log.contains("variant `typo`") && log.contains("did you mean `hidden`"),
        "{log}"
    );
    assert!(
        !dir.join("runs/compare/bad/runs").exists(),
        "nothing trained"
    );
}

#[test]
fn a_runs_folder_that_cannot_be_written_is_reported_before_training() {
    let dir = setup("unwritable");
    std::fs::write(
        dir.join("not-a-folder"),
        "a file where the runs folder should be",
    )
    .unwrap();
    let out = rnnzoo(&dir, &["train", "tiny.yaml", "--runs", "not-a-folder"]);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(
        err.contains("not-a-folder") && err.contains("cannot create a run folder"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("[10/"), "nothing trained: {err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Undoes what a test did to a folder (an immutable flag, a mount), however the test ends.
struct Undo(&'static str, Vec<String>);

impl Drop for Undo {
    fn drop(&mut self) {
        let _ = std::process::Command::new(self.0).args(&self.1).status();
    }
}

/// Runs a system command the test needs; these machines run tests as root, where `chattr` and
/// `mount` work.
fn system(program: &str, args: &[&str]) {
    let status = std::process::Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        status.success(),
        "{program} {args:?} failed (the test needs root)"
    );
}

#[test]
fn a_read_only_runs_folder_is_reported_before_training() {
    let dir = setup("read-only");
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let runs_arg = runs.to_str().unwrap().to_string();
    // Immutable: not even root may create a folder in it.
    system("chattr", &["+i", &runs_arg]);
    let undo = Undo("chattr", vec!["-i".into(), runs_arg.clone()]);
    let out = rnnzoo(&dir, &["train", "tiny.yaml", "--runs", "runs"]);
    drop(undo);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(err.contains("cannot create a run folder here"), "{err}");
    assert!(!err.contains("[10/") && !err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_runs_folder_is_reported_before_training() {
    let dir = setup("full");
    let runs = dir.join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let runs_arg = runs.to_str().unwrap().to_string();
    // A 256 KiB file system: room for the run folder and its config, not for a checkpoint.
    system(
        "mount",
        &["-t", "tmpfs", "-o", "size=256k", "tmpfs", &runs_arg],
    );
    let undo = Undo("umount", vec![runs_arg.clone()]);
    let out = rnnzoo(&dir, &["train", "tiny.yaml", "--runs", "runs"]);
    drop(undo);
    assert!(!out.status.success());
    let err = text(&out);
    assert!(
        err.contains("cannot write checkpoints here") && err.contains("No space left"),
        "{err}"
    );
    assert!(!err.contains("[10/") && !err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
