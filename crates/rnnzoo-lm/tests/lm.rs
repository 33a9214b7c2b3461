//! The language-model task end to end on tiny generated corpora: training lowers the loss and
//! writes a complete run, checkpoints reload to identical outputs, resuming continues exactly,
//! scoring and generation reflect what was learned.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_lm::inference::{SampleOptions, evaluate, generate, load_run, score};
use rnnzoo_lm::training::{prepare, train};
use rnnzoo_models::weights::read_safetensors;
use rnnzoo_train::metrics::MetricsLog;

/// Burn's random generator is global to the process: tests that must be reproducible take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnzoo-lm-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Five documents of a cyclic alphabet, so a small model learns them in a few dozen steps.
fn write_corpus(dir: &Path) -> PathBuf {
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    for d in 0..5 {
        let text: String = (0..120)
            .map(|i| {
                if (i + d) % 9 == 8 {
                    '\n'
                } else {
                    (b'a' + ((i + d) % 9) as u8) as char
                }
            })
            .collect();
        std::fs::write(corpus.join(format!("doc{d}.txt")), text.repeat(4)).unwrap();
    }
    corpus
}

fn config(corpus: &Path, steps: usize, extra: &[&str]) -> ExperimentConfig {
    let yaml = format!(
        "name: tiny\ntask: lm\nseed: 3\ndata:\n  path: {}\n  split: {{ valid: 0.2, test: 0.2 }}\nmodel:\n  embedding: 16\n  cell: lstm\n  hidden: 32\n  dropout: 0.1\ntrain:\n  steps: {steps}\n  batch_size: 4\n  bptt: 16\n  optimizer: {{ name: adam, lr: 1.0e-2 }}\n  clip_norm: 1.0\n  eval_every: 10\n  checkpoint_every: 10\n  log_every: 5\n",
        corpus.display()
    );
    let overrides: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    rnnzoo_config::parse(&yaml, "tiny.yaml", &overrides).unwrap()
}

#[test]
fn training_lowers_the_loss_and_writes_a_complete_run() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("train");
    let cfg = config(&write_corpus(&dir), 60, &[]);
    let (run, summary) = train(&cfg, &dir.join("runs"), None, &Device::flex()).unwrap();
    for file in [
        "config.yaml",
        "vocab.json",
        "metrics.csv",
        "learning-curve.svg",
        "summary.json",
        "checkpoints/latest",
        "checkpoints/best",
    ] {
        assert!(run.path.join(file).is_file(), "{file} written");
    }
    let rows = MetricsLog::read(&run.metrics()).unwrap();
    let first = rows.first().unwrap().train_loss.unwrap();
    let last = rows.last().unwrap().train_loss.unwrap();
    assert!(
        first > 2.0 && last < 0.7 * first,
        "loss fell from {first} to {last}"
    );
    assert!(
        rows.iter().filter(|r| r.valid_loss.is_some()).count() >= 6,
        "validated every 10 steps"
    );
    assert_eq!(summary.steps, 60);
    assert!(summary.best_valid_loss.unwrap() < 1.5);

    // The saved best checkpoint reproduces the test loss computed in-process.
    let trained = load_run(&run.path, &Device::flex()).unwrap();
    let (_, streams) = prepare(&trained.config, Some(trained.vocab.clone())).unwrap();
    let test = evaluate(
        &trained.model,
        &streams.test,
        cfg.train.batch_size,
        cfg.train.bptt,
    );
    assert!(
        (test.loss - summary.test_loss.unwrap()).abs() < 1e-6,
        "{} vs {:?}",
        test.loss,
        summary.test_loss
    );
    // Its standard error (batch means over the streams) is in the summary too, and small (zero
    // here, where every stream is the same periodic text, learned).
    let se = test.standard_error.unwrap();
    assert!(
        (0.0..0.5 * test.loss).contains(&se),
        "{se} of {}",
        test.loss
    );
    assert!((se - summary.test_loss_se.unwrap()).abs() < 1e-9);

    // Scoring prefers the learned order; generation continues it.
    let good = score(&trained.model, &trained.vocab, "abcdefgh");
    let bad = score(&trained.model, &trained.vocab, "hgfedcba");
    assert_eq!(good.tokens, 8);
    assert!(
        good.mean_log_prob > bad.mean_log_prob + 1.0,
        "{good:?} vs {bad:?}"
    );
    assert!((good.perplexity - (-good.mean_log_prob).exp()).abs() < 1e-9);
    let options = SampleOptions {
        prompt: "abc".into(),
        length: 12,
        temperature: 0.05,
        top_k: Some(3),
        seed: 1,
    };
    let generated = generate(&trained.model, &trained.vocab, &options);
    let text = &generated.text;
    assert!(text.starts_with("abcdefgh\nabcd"), "{text:?}");
    assert_eq!(
        generated,
        generate(&trained.model, &trained.vocab, &options),
        "seeded sampling repeats"
    );

    // What generation accumulated from the step decoder's own logits is what `score` computes
    // on the whole sequence for the same text: the two inference paths agree on a trained model.
    for (prompt, temperature) in [("abc", 0.05), ("ebad", 1.0), ("", 1.5)] {
        let options = SampleOptions {
            prompt: prompt.into(),
            length: 40,
            temperature,
            top_k: None,
            seed: 7,
        };
        let generated = generate(&trained.model, &trained.vocab, &options);
        assert_eq!(generated.tokens.len(), 40);
        let scored = score(&trained.model, &trained.vocab, &generated.text);
        assert_eq!(scored.tokens, prompt.len() + 40);
        let sum = generated.prompt_log_prob + generated.log_prob;
        assert!(
            (sum - scored.log_prob).abs() < 1e-4,
            "{prompt:?} at temperature {temperature}: generate {sum} vs score {}",
            scored.log_prob
        );
        let prompt_only = score(&trained.model, &trained.vocab, prompt);
        assert!((generated.prompt_log_prob - prompt_only.log_prob).abs() < 1e-4);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("resume");
    let corpus = write_corpus(&dir);
    let cfg = config(&corpus, 20, &[]);
    let (whole, _) = train(&cfg, &dir.join("a"), None, &Device::flex()).unwrap();
    let (cut, _) = train(&cfg, &dir.join("b"), None, &Device::flex()).unwrap();
    // Simulate a crash just after the step-10 checkpoint: the later one never got written.
    let ckpts = cut.checkpoints();
    std::fs::remove_dir_all(ckpts.join("step-00000020")).unwrap();
    std::fs::write(ckpts.join("latest"), "step-00000010").unwrap();
    let (resumed, summary) = train(&cfg, &dir.join("b"), Some(&cut.path), &Device::flex()).unwrap();
    assert_eq!(resumed.path, cut.path);
    assert_eq!(summary.steps, 20);
    // Tensors, not file bytes: burn-store writes its metadata in hash-map order.
    let weights = |run: &Path| {
        read_safetensors(&run.join("checkpoints/step-00000020/model.safetensors")).unwrap()
    };
    assert!(
        weights(&whole.path) == weights(&resumed.path),
        "resumed weights are bit-identical"
    );
    let rows = MetricsLog::read(&resumed.metrics()).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.step).collect::<Vec<_>>(),
        [5, 10, 15, 20],
        "no duplicated rows"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn word_level_runs_and_tied_weights_train() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("word");
    let corpus = dir.join("words.txt");
    let lines = [
        "the cat sat on the mat",
        "the dog sat on the log",
        "a cat saw a dog",
    ];
    std::fs::write(
        &corpus,
        lines
            .iter()
            .cycle()
            .take(300)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let cfg = config(
        &corpus,
        30,
        &[
            "data.tokenizer=word",
            "model.embedding=32",
            "model.tie_weights=true",
        ],
    );
    let (run, summary) = train(&cfg, &dir.join("runs"), None, &Device::flex()).unwrap();
    let trained = load_run(&run.path, &Device::flex()).unwrap();
    assert!(trained.vocab.contains("cat") && trained.vocab.contains("<eos>"));
    assert!(
        trained.model.output.is_none(),
        "tied: no separate output layer"
    );
    assert!(summary.best_valid_loss.unwrap() < (trained.vocab.len() as f64).ln());
    let s = score(&trained.model, &trained.vocab, "the cat sat on the mat");
    assert_eq!(s.tokens, 7, "six words and the closing <eos>");
    std::fs::remove_dir_all(&dir).unwrap();
}
