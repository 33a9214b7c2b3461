//! Fine-tuning a language model from a trained run: the extended vocabulary keeps the old
//! tokens' logits, frozen parts stay bit-identical, architecture mismatches are named.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Int, Tensor, TensorData};
use rnnzoo_config::ExperimentConfig;
use rnnzoo_lm::finetune::{load_initial, transplant, vocabulary};
use rnnzoo_lm::inference::load_run;
use rnnzoo_lm::model::LanguageModel;
use rnnzoo_lm::training::{prepare_with, train};

/// Burn's random generator is global to the process: tests take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnzoo-ft-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, alphabet: &str) -> PathBuf {
    let text: String = alphabet.chars().cycle().take(3000).collect();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config(corpus: &Path, extra: &[String]) -> ExperimentConfig {
    let yaml = format!(
        "name: ft\ntask: lm\nseed: 5\ndata:\n  path: {}\n  split: {{ valid: 0.1, test: 0.1 }}\nmodel:\n  embedding: 8\n  cell: lstm\n  hidden: 16\n  layers: 2\n  dropout: 0.1\ntrain:\n  steps: 20\n  batch_size: 4\n  bptt: 16\n  optimizer: {{ name: adam, lr: 1.0e-2 }}\n  eval_every: 10\n  checkpoint_every: 10\n  log_every: 10\n",
        corpus.display()
    );
    rnnzoo_config::parse(&yaml, "ft.yaml", extra).unwrap()
}

/// Trains a small model on an `abcdefg` text; returns its run directory.
fn pretrained(dir: &Path) -> PathBuf {
    let corpus = write(dir, "old.txt", "abcdefg\n");
    let (run, _) = train(
        &config(&corpus, &[]),
        &dir.join("runs"),
        None,
        &Device::flex(),
    )
    .unwrap();
    run.path
}

fn logits(model: &LanguageModel, ids: &[i64]) -> Vec<f32> {
    let device = model.embedding.weight.device();
    let tokens =
        Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
    model
        .forward(tokens, None)
        .0
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap()
}

#[test]
fn extended_vocabulary_keeps_the_old_tokens_logits_before_the_first_update() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("extend");
    let run = pretrained(&dir);
    let new_corpus = write(&dir, "new.txt", "abcxyz\n");
    let cfg = config(
        &new_corpus,
        &[
            format!("init_from={}", run.display()),
            "vocab=extend".into(),
        ],
    );
    let device = Device::flex();
    let initial = load_initial(&cfg, &device).unwrap().unwrap();
    let old_len = initial.vocab.len();
    let (vocab, _) = prepare_with(&cfg, |text| vocabulary(&cfg, &initial, text)).unwrap();
    assert_eq!(vocab.len(), old_len + 3, "x, y and z are appended");
    assert_eq!(
        &vocab.tokens[..old_len],
        &initial.vocab.tokens[..],
        "old ids unchanged"
    );

    let old_model = load_run(&run, &device).unwrap().model;
    let fresh = LanguageModel::new(&cfg.model, vocab.len(), &device);
    let tuned = transplant(fresh, initial);
    let ids: Vec<i64> = "abcdefg\nab"
        .chars()
        .map(|c| vocab.id(&c.to_string()) as i64)
        .collect();
    let before = logits(&old_model, &ids);
    let after = logits(&tuned, &ids);
    for t in 0..ids.len() {
        let old_row = &before[t * old_len..(t + 1) * old_len];
        let new_row = &after[t * vocab.len()..t * vocab.len() + old_len];
        assert_eq!(
            old_row, new_row,
            "step {t}: old tokens' logits are identical"
        );
    }
}

#[test]
fn frozen_parts_stay_bit_identical_and_the_rest_trains() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("freeze");
    let run = pretrained(&dir);
    let new_corpus = write(&dir, "new.txt", "gfedcbaxy\n");
    let cfg = config(
        &new_corpus,
        &[
            format!("init_from={}", run.display()),
            "vocab=extend".into(),
            "freeze=[embedding, layers.0]".into(),
            "name=tuned".into(),
        ],
    );
    let (tuned_run, summary) = train(&cfg, &dir.join("runs"), None, &Device::flex()).unwrap();
    assert_eq!(summary.steps, 20);
    let device = Device::flex();
    let old = load_run(&run, &device).unwrap().model;
    let new = load_run(&tuned_run.path, &device).unwrap().model;
    let host = |t: Tensor<2>| {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    };
    let old_rows = host(old.embedding.weight.val());
    let new_rows = host(new.embedding.weight.val());
    assert_eq!(new_rows.len(), old_rows.len() + 2 * 8, "x and y appended");
    assert_eq!(
        old_rows[..],
        new_rows[..old_rows.len()],
        "frozen embedding unchanged"
    );
    assert_eq!(
        host(old.rnn.cells[0].weight_hh.val()),
        host(new.rnn.cells[0].weight_hh.val())
    );
    assert_ne!(
        host(old.rnn.cells[1].weight_hh.val()),
        host(new.rnn.cells[1].weight_hh.val()),
        "layer 1 trains"
    );
    let out = |m: &LanguageModel| host(m.output.as_ref().unwrap().weight.val());
    assert_ne!(out(&old), out(&new), "the output layer trains");
}

#[test]
fn a_different_architecture_is_an_error_naming_the_keys() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("mismatch");
    let run = pretrained(&dir);
    let cfg = config(
        &write(&dir, "new.txt", "abc\n"),
        &[
            format!("init_from={}", run.display()),
            "model.hidden=24".into(),
            "model.cell=gru".into(),
        ],
    );
    let err = load_initial(&cfg, &Device::flex())
        .err()
        .expect("mismatch")
        .to_string();
    assert!(
        err.contains("model.hidden: 16 vs 24") && err.contains("model.cell: lstm vs gru"),
        "{err}"
    );
}

#[test]
fn a_config_without_a_model_section_takes_the_runs() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("inherit");
    let run = pretrained(&dir);
    let yaml = format!(
        "name: ft\ntask: lm\ninit_from: {}\ndata:\n  path: x.txt\ntrain:\n  steps: 5\n",
        run.display()
    );
    let cfg = rnnzoo_config::parse(&yaml, "ft.yaml", &[]).unwrap();
    assert_eq!(cfg.model.hidden, 16);
    assert_eq!(cfg.model.layers, 2);
    let bad = rnnzoo_config::parse(
        &yaml.replace("steps: 5", "steps: 5\nfreeze: [layers.2]"),
        "ft.yaml",
        &[],
    );
    assert!(bad.unwrap_err().to_string().contains("freeze: `layers.2`"));
}
