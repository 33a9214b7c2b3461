//! Bad input through the real binary, as a hostile new user would give it: every case exits
//! non-zero (or warns and goes on, where that is the documented behaviour) with a message that
//! names the file, line or key, never with a panic, and never leaves a half-made run behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{empty_dir, rnnzoo, text};

const TINY: &str = "name: tiny\ntask: lm\ndata:\n  path: corpus.txt\n  split: { valid: 0.1, test: 0.1 }\nmodel:\n  embedding: 5\n  cell: gru\n  hidden: 13\ntrain:\n  steps: 20\n  batch_size: 3\n  bptt: 9\n  optimizer: { lr: 1.0e-2 }\n  eval_every: 10\n  log_every: 10\n";

const CLASSIFIER: &str = "name: cls\ntask: sentiment\ndata:\n  path: labels.csv\n  split: { valid: 0.2, test: 0.2 }\nmodel:\n  embedding: 5\n  cell: gru\n  hidden: 7\ntrain:\n  epochs: 1\n  batch_size: 3\n  optimizer: { lr: 1.0e-2 }\n  eval_every: 5\n  log_every: 5\n";

fn setup(tag: &str) -> PathBuf {
    let dir = empty_dir("hostile", tag);
    let line = "to be or not to be that is the question\n";
    std::fs::write(dir.join("corpus.txt"), line.repeat(60)).unwrap();
    std::fs::write(dir.join("tiny.yaml"), TINY).unwrap();
    dir
}

/// Asserts a failed command: exit code 1 or 2 (an error, not a crash), no panic text, and a
/// message holding every one of `needles`.
fn assert_refused(out: &Output, needles: &[&str]) {
    let log = text(out);
    let code = out.status.code();
    assert!(matches!(code, Some(1 | 2)), "exit {code:?}:\n{log}");
    assert!(
        !log.contains("panicked")
            && !log.contains("internal error")
            && !log.contains("RUST_BACKTRACE"),
        "{log}"
    );
    for needle in needles {
        assert!(log.contains(needle), "`{needle}` not in:\n{log}");
    }
}

/// The run folders under `runs/<name>/`.
fn runs_of(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("runs").join(name))
        .map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

/// Trains `tiny.yaml` (with overrides) and returns its run folder.
fn trained(dir: &Path, overrides: &[&str]) -> PathBuf {
    let mut args = vec!["train", "tiny.yaml"];
    for o in overrides {
        args.extend(["--set", o]);
    }
    let out = rnnzoo(dir, &args);
    assert!(out.status.success(), "{}", text(&out));
    let log = text(&out);
    let run = log
        .lines()
        .find_map(|l| l.strip_prefix("run: "))
        .expect("run folder printed");
    dir.join(run)
}

#[test]
fn out_of_range_config_values_are_refused_at_load_naming_the_key() {
    let dir = setup("ranges");
    for (set, key) in [
        ("train.steps=0", "steps"),
        ("train.max_minutes=-1", "train.max_minutes"),
        ("train.schedule.step_size=0", "train.schedule.step_size"),
        ("train.schedule.gamma=-1", "train.schedule.gamma"),
        (
            "train.optimizer.weight_decay=-1",
            "train.optimizer.weight_decay",
        ),
        ("train.optimizer.momentum=1.5", "train.optimizer.momentum"),
        (
            "train.early_stopping.patience=0",
            "train.early_stopping.patience",
        ),
        ("train.optimizer.lr=.inf", "train.optimizer.lr"),
        ("train.optimizer.lr=.nan", "train.optimizer.lr"),
        ("train.ema_decay=1", "train.ema_decay"),
        ("train.ema_decay=0", "train.ema_decay"),
        ("train.ema_decay=.nan", "train.ema_decay"),
        ("sample.temperature=-1", "sample.temperature"),
        ("sample.temperature=0", "sample.temperature"),
        ("sample.top_k=0", "sample.top_k"),
        ("model.hidden=0", "hidden"),
        ("model.dropout=1.5", "model.dropout"),
        ("data.split.valid=0.9", "data.split"),
        ("name=../../elsewhere", "name"),
        ("name=", "name"),
        ("train.batch_size=-3", "batch_size"),
        ("train.steps=ten", "steps"),
    ] {
        let out = rnnzoo(&dir, &["train", "tiny.yaml", "--set", set]);
        assert_refused(&out, &[key]);
    }
    assert!(!dir.join("runs").exists(), "no run folder for a bad config");
    assert!(!dir.join("../elsewhere").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_yaml_names_the_file_and_line() {
    let dir = setup("yaml");
    std::fs::write(dir.join("broken.yaml"), "name: tiny\ntask: lm\ndata: [\n").unwrap();
    assert_refused(&rnnzoo(&dir, &["train", "broken.yaml"]), &["broken.yaml:"]);
    std::fs::write(
        dir.join("typed.yaml"),
        TINY.replace("hidden: 13", "hidden: [13]"),
    )
    .unwrap();
    assert_refused(
        &rnnzoo(&dir, &["train", "typed.yaml"]),
        &["typed.yaml:9", "hidden"],
    );
    std::fs::write(dir.join("binary.yaml"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
    assert_refused(&rnnzoo(&dir, &["train", "binary.yaml"]), &["binary.yaml"]);
    assert_refused(&rnnzoo(&dir, &["train", "missing.yaml"]), &["missing.yaml"]);
    assert_refused(
        &rnnzoo(&dir, &["train", "tiny.yaml", "--set", "nokey"]),
        &["--set nokey"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_language_model_data_is_refused_and_leaves_no_run_folder() {
    let dir = setup("lm-data");
    let refused = |overrides: &[&str], needles: &[&str]| {
        let mut args = vec!["train", "tiny.yaml"];
        for o in overrides {
            args.extend(["--set", o]);
        }
        let out = rnnzoo(&dir, &args);
        assert_refused(&out, needles);
        assert!(runs_of(&dir, "tiny").is_empty(), "{}", text(&out));
    };
    // A vocabulary of `<unk>` alone used to train at loss 0 and then panic in generation.
    refused(
        &["data.max_vocab=1"],
        &["corpus.txt", "vocabulary", "max_vocab"],
    );
    refused(
        &["data.min_freq=100000"],
        &["corpus.txt", "vocabulary", "min_freq"],
    );
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    refused(&["data.path=empty.txt"], &["empty.txt", "no text"]);
    std::fs::write(dir.join("short.txt"), "to\n").unwrap();
    refused(
        &["data.path=short.txt"],
        &["short.txt", "too few", "batch_size"],
    );
    let mut bad = b"to be or not".to_vec();
    bad.extend([0xff, 0xfe]);
    bad.extend(b" to be\n".repeat(40));
    std::fs::write(dir.join("latin1.txt"), bad).unwrap();
    refused(
        &["data.path=latin1.txt"],
        &["latin1.txt", "UTF-8", "offset 12"],
    );
    refused(&["data.path=nowhere.txt"], &["nowhere.txt"]);
    std::fs::create_dir_all(dir.join("no-txt")).unwrap();
    refused(&["data.path=no-txt"], &["no-txt", "no .txt files"]);

    // Three lines split 80/10/10 leave nothing to validate or test on: a warning, not silence.
    std::fs::write(
        dir.join("three.txt"),
        "to be or not to be that is the question\n".repeat(3),
    )
    .unwrap();
    let out = rnnzoo(
        &dir,
        &["train", "tiny.yaml", "--set", "data.path=three.txt"],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("warning: three.txt: the validation split has 0 tokens")
            && log.contains("warning: three.txt: the test split has 0 tokens"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_classifier_labels_are_refused_naming_the_line() {
    let dir = setup("labels");
    std::fs::write(dir.join("cls.yaml"), CLASSIFIER).unwrap();
    let write_csv = |rows: &dyn Fn(usize) -> String| {
        let mut csv = String::from("text,label\n");
        for i in 0..30 {
            csv.push_str(&rows(i));
        }
        std::fs::write(dir.join("labels.csv"), csv).unwrap();
    };
    write_csv(&|i| format!("good movie {i},pos\nbad film {i},\n"));
    assert_refused(
        &rnnzoo(&dir, &["train", "cls.yaml"]),
        &["labels.csv:3", "empty `label`"],
    );
    write_csv(&|i| format!("good movie {i},pos\n"));
    assert_refused(
        &rnnzoo(&dir, &["train", "cls.yaml"]),
        &["labels.csv", "1 class", "at least two"],
    );
    let jsonl = "{\"text\": \"good\", \"label\": [1, 2]}\n{\"text\": \"bad\", \"label\": 0}\n";
    std::fs::write(dir.join("labels.jsonl"), jsonl.repeat(10)).unwrap();
    assert_refused(
        &rnnzoo(
            &dir,
            &["train", "cls.yaml", "--set", "data.path=labels.jsonl"],
        ),
        &["labels.jsonl:1", "list or object"],
    );
    std::fs::write(dir.join("labels.csv"), b"text,label\ngood \xe9t\xe9,pos\n").unwrap();
    assert_refused(
        &rnnzoo(&dir, &["train", "cls.yaml"]),
        &["labels.csv:2", "UTF-8", "offset 16"],
    );
    std::fs::write(dir.join("labels.csv"), "text,label\n\"unclosed,pos\n").unwrap();
    assert_refused(&rnnzoo(&dir, &["train", "cls.yaml"]), &["labels.csv"]);
    assert!(runs_of(&dir, "cls").is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn impossible_command_line_values_are_refused() {
    let dir = setup("cli-values");
    let run = trained(&dir, &[]);
    let run = run.to_str().unwrap();
    for (args, needle) in [
        (vec!["generate", run, "--temperature", "0"], "--temperature"),
        (
            vec!["generate", run, "--temperature", "-1"],
            "--temperature",
        ),
        (
            vec!["generate", run, "--temperature", "nan"],
            "--temperature",
        ),
        (vec!["generate", run, "--top-k", "0"], "--top-k"),
        (vec!["generate", run, "--length", "0"], "--length"),
        (vec!["translate", run, "hi", "--beam", "0"], "--beam"),
        (vec!["caption", run, "x.png", "--beam", "0"], "--beam"),
        (
            vec!["transcribe", run, "x.wav", "--lm-weight", "-1"],
            "--lm-weight",
        ),
        (vec!["ngram", "tiny.yaml", "--order", "9"], "--order"),
        (vec!["bench", "--threads", "0"], "--threads"),
    ] {
        assert_refused(&rnnzoo(&dir, &args), &[needle]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generation_keeps_the_prompt_as_written() {
    let dir = setup("prompt");
    let run = trained(&dir, &[]);
    let out = rnnzoo(
        &dir,
        &[
            "generate",
            run.to_str().unwrap(),
            "--prompt",
            "QZ! to be",
            "--length",
            "7",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.starts_with("QZ! to be"), "{printed:?}");
    // The prompt, 7 characters, and the line end.
    assert_eq!(printed.chars().count(), 9 + 7 + 1, "{printed:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_of_another_task_is_named_for_what_it_is() {
    let dir = setup("tasks");
    std::fs::write(dir.join("cls.yaml"), CLASSIFIER).unwrap();
    let mut csv = String::from("text,label\n");
    for i in 0..30 {
        csv.push_str(&format!("good movie {i},pos\nbad film {i},neg\n"));
    }
    std::fs::write(dir.join("labels.csv"), csv).unwrap();
    let out = rnnzoo(&dir, &["train", "cls.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let classifier = runs_of(&dir, "cls").pop().unwrap();
    let classifier = classifier.to_str().unwrap();
    for verb in [
        vec!["generate", classifier],
        vec!["score", classifier, "hello"],
        vec!["translate", classifier, "hello"],
        vec!["caption", classifier, "x.png"],
        vec!["transcribe", classifier, "x.wav"],
    ] {
        assert_refused(&rnnzoo(&dir, &verb), &["a classifier run", "its verbs"]);
    }
    assert_refused(
        &rnnzoo(&dir, &["finetune", classifier, "tiny.yaml"]),
        &["a sentiment run", "not a language model"],
    );
    assert!(runs_of(&dir, "tiny").is_empty());
    assert_refused(
        &rnnzoo(&dir, &["eval", "no-such-run"]),
        &["no-such-run", "not a run"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_runs_fall_back_to_an_intact_checkpoint_or_name_what_is_wrong() {
    let dir = setup("damaged");
    let run = trained(&dir, &[]);
    let copy = |name: &str| {
        let to = dir.join(name);
        let status = std::process::Command::new("cp")
            .args(["-r", run.to_str().unwrap(), to.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        to
    };
    let eval = |run: &Path| rnnzoo(&dir, &["eval", run.to_str().unwrap(), "--json"]);

    // Pointers that name no checkpoint: the newest intact one, with a warning.
    let pointers = copy("pointers");
    for which in ["latest", "best"] {
        std::fs::write(pointers.join("checkpoints").join(which), "step-00000999").unwrap();
    }
    let out = eval(&pointers);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("`latest` names step-00000999")
            && text(&out).contains("using ")
            && text(&out).contains("step-00000020"),
        "{}",
        text(&out)
    );
    let out = rnnzoo(&dir, &["train", "--resume", pointers.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    // A truncated newest checkpoint: its checksum fails, the one before is used.
    let truncated = copy("truncated");
    std::fs::write(truncated.join("checkpoints/best"), "step-00000020").unwrap();
    let newest = truncated.join("checkpoints/step-00000020/model.safetensors");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    let out = eval(&truncated);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("is damaged: model.safetensors has")
            && text(&out).contains("step-00000010 instead"),
        "{}",
        text(&out)
    );
    let out = rnnzoo(&dir, &["train", "--resume", truncated.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("resumed from"), "{}", text(&out));

    // The same in a run written before checkpoints had checksums: the structural check finds
    // the truncated file, and the one before is used.
    let legacy = copy("legacy");
    std::fs::write(legacy.join("checkpoints/best"), "step-00000020").unwrap();
    for step in ["step-00000010", "step-00000020"] {
        std::fs::remove_file(legacy.join("checkpoints").join(step).join("checksums.json")).unwrap();
    }
    std::fs::write(
        legacy.join("checkpoints/step-00000020/model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let out = eval(&legacy);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("model.safetensors does not parse")
            && text(&out).contains("step-00000010 instead"),
        "{}",
        text(&out)
    );

    // Every checkpoint random bytes: an error naming the run, no panic.
    let random = copy("random");
    for step in ["step-00000010", "step-00000020"] {
        let path = random
            .join("checkpoints")
            .join(step)
            .join("model.safetensors");
        let noise: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(path, noise).unwrap();
    }
    assert_refused(&eval(&random), &["random", "checkpoint"]);

    // An edited config: the tensor and both shapes are named, and what to suspect.
    let edited = copy("edited");
    let config = std::fs::read_to_string(edited.join("config.yaml")).unwrap();
    std::fs::write(
        edited.join("config.yaml"),
        config.replace("hidden: 13", "hidden: 14"),
    )
    .unwrap();
    assert_refused(
        &eval(&edited),
        &[
            "model.safetensors",
            "weight_hh",
            "[13, 39] in the checkpoint but [14, 42]",
            "config.yaml",
        ],
    );

    // Corrupted run files.
    let vocab = copy("vocab");
    std::fs::write(vocab.join("vocab.json"), "{\"kind\": ").unwrap();
    assert_refused(&eval(&vocab), &["vocab.json"]);
    let yaml = copy("yaml");
    std::fs::write(yaml.join("config.yaml"), "name: [\n").unwrap();
    assert_refused(&eval(&yaml), &["config.yaml:"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compare_retrains_runs_of_an_older_sweep_and_reports_a_failing_variant() {
    let dir = setup("compare");
    let sweep = |steps: usize| {
        format!(
            "name: sweep\nbase: tiny.yaml\nseeds: [1]\nvariants:\n  - {{ name: gru, set: {{ train.steps: {steps} }} }}\n  - {{ name: broken, set: {{ data.path: missing.txt }} }}\n"
        )
    };
    std::fs::write(dir.join("sweep.yaml"), sweep(20)).unwrap();
    let out = rnnzoo(&dir, &["compare", "sweep.yaml"]);
    let log = text(&out);
    assert!(
        !out.status.success(),
        "a failed variant fails the command:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    let md = std::fs::read_to_string(dir.join("runs/compare/sweep/compare.md")).unwrap();
    assert!(md.contains("| gru |"), "the other variant finished:\n{md}");
    assert!(
        md.contains("| broken |")
            && md.contains("0 of 1")
            && md.contains("failed: ")
            && md.contains("missing.txt"),
        "the failure is in the report:\n{md}"
    );

    // The same sweep again skips the finished run; a changed budget trains it again.
    let out = rnnzoo(&dir, &["compare", "sweep.yaml"]);
    assert!(
        text(&out).contains("gru-s1: finished before, skipped"),
        "{}",
        text(&out)
    );
    std::fs::write(dir.join("sweep.yaml"), sweep(30)).unwrap();
    let out = rnnzoo(&dir, &["compare", "sweep.yaml"]);
    let log = text(&out);
    assert!(!log.contains("gru-s1: finished before"), "{log}");
    assert!(log.contains("gru-s1: training"), "{log}");
    let summaries = runs_of(&dir.join("runs/compare/sweep"), "gru-s1");
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    let newest = std::fs::read_to_string(summaries[1].join("summary.json")).unwrap();
    let newest: serde_json::Value = serde_json::from_str(&newest).unwrap();
    assert_eq!(newest["steps"], 30, "{newest}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn trainings_started_together_get_their_own_run_folders() {
    let dir = setup("together");
    let children: Vec<std::process::Child> = (0..4)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_rnnzoo"))
                .args(["train", "tiny.yaml", "--set", "train.steps=5"])
                .current_dir(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("binary starts")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let runs = runs_of(&dir, "tiny");
    assert_eq!(runs.len(), 4, "{runs:?}");
    for run in &runs {
        assert!(run.join("summary.json").is_file(), "{run:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
