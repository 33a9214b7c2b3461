//! The memory task at tiny scale: training beats the memoryless floor on both problems, a saved
//! run scores the same when evaluated again, and configs that do not fit the task are refused.

use std::path::PathBuf;

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_memory::training::{evaluate_run, train};

/// Burn's random generator is global to the process: tests that seed it take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnzoo-memory-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(synthetic: &str, cell: &str, steps: usize) -> Result<ExperimentConfig, String> {
    let yaml = format!(
        "name: tiny-memory\ntask: memory\nseed: 3\ndata:\n  synthetic: {synthetic}\nmodel:\n  cell: {cell}\n  hidden: 24\ntrain:\n  steps: {steps}\n  batch_size: 32\n  optimizer: {{ lr: 1.0e-2 }}\n  clip_norm: 1.0\n  eval_every: 50\n  log_every: 50\n"
    );
    rnnzoo_config::parse(&yaml, "tiny.yaml", &[]).map_err(|e| e.to_string())
}

#[test]
fn lstm_learns_the_short_adding_problem_and_a_saved_run_scores_the_same() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let root = temp_dir("adding");
    let config = config(
        "{ problem: adding, delay: 8, valid_examples: 200, test_examples: 200 }",
        "lstm",
        300,
    )
    .unwrap();
    let (run, summary) = train(&config, &root, None, &Device::flex()).unwrap();
    assert!((summary.chance.loss - 1.0 / 6.0).abs() < 1e-12);
    assert!(
        summary.test.loss < 0.2 * summary.chance.loss,
        "test MSE {} against the memoryless {}",
        summary.test.loss,
        summary.chance.loss
    );
    assert!(
        summary.test.accuracy > 3.0 * summary.chance.accuracy,
        "{summary:?}"
    );
    let again = evaluate_run(&run.path, &Device::flex()).unwrap();
    assert_eq!(again, summary.test);
    for file in [
        "config.yaml",
        "metrics.csv",
        "summary.json",
        "learning-curve.svg",
    ] {
        assert!(run.path.join(file).is_file(), "{file} missing");
    }
    let metrics = std::fs::read_to_string(run.metrics()).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 300 / 50, "{metrics}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn gru_recalls_a_short_copy_sequence_well_above_chance() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let root = temp_dir("copy");
    let config = config(
        "{ problem: copy, delay: 4, symbols: 2, alphabet: 4, valid_examples: 200, test_examples: 200 }",
        "gru",
        1200,
    )
    .unwrap();
    let (_, summary) = train(&config, &root, None, &Device::flex()).unwrap();
    assert_eq!(summary.chance.accuracy, 0.25);
    assert!(summary.test.accuracy > 0.9, "{summary:?}");
    assert!(summary.test.loss < summary.chance.loss, "{summary:?}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn configs_that_do_not_fit_the_task_are_refused() {
    let epochs = rnnzoo_config::parse(
        "name: m\ntask: memory\ndata:\n  synthetic: { problem: adding, delay: 10 }\nmodel: { cell: rnn, hidden: 8 }\ntrain: { epochs: 2 }\n",
        "m.yaml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(epochs.contains("give `steps`"), "{epochs}");
    let corpus = rnnzoo_config::parse(
        "name: m\ntask: memory\ndata:\n  corpus: shakespeare\nmodel: { cell: rnn, hidden: 8 }\ntrain: { steps: 2 }\n",
        "m.yaml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(corpus.contains("data.synthetic"), "{corpus}");
    let lm = rnnzoo_config::parse(
        "name: m\ntask: lm\ndata:\n  synthetic: { problem: copy, delay: 10 }\nmodel: { cell: rnn, hidden: 8 }\ntrain: { steps: 2 }\n",
        "m.yaml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(lm.contains("task: memory"), "{lm}");
    let problem = config("{ problem: reverse, delay: 10 }", "lstm", 10).unwrap_err();
    assert!(
        problem.contains("adding") && problem.contains("copy"),
        "{problem}"
    );
    let freeze = rnnzoo_config::parse(
        "name: m\ntask: memory\ndata:\n  synthetic: { problem: adding, delay: 10 }\nmodel: { cell: rnn, hidden: 8 }\ntrain: { steps: 2 }\nfreeze: [embedding]\n",
        "m.yaml",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(freeze.contains("`head`"), "{freeze}");
}
