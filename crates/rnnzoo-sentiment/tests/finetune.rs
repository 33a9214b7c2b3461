//! Fine-tuning a classifier (`init_from`): from a classifier run everything transfers and the
//! predictions are unchanged before the first update, also with an extended vocabulary; from a
//! word-level language model the embedding and encoder transfer; mismatches are named.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_models::weights::pytorch_state;
use rnnzoo_sentiment::finetune::{load_initial, transplant};
use rnnzoo_sentiment::inference::load_run;
use rnnzoo_sentiment::model::{Classifier, pad_batch};
use rnnzoo_sentiment::training::{prepare, train};
use rnnzoo_train::rundir::RunDir;

/// Burn's random generator is global to the process: tests take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnzoo-sent-ft-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Short reviews whose label is carried by one of `good` / `bad` among fillers.
fn write_reviews(dir: &Path, name: &str, good: [&str; 2], bad: [&str; 2]) -> PathBuf {
    let fillers = [
        "the film was",
        "this movie is",
        "i thought it",
        "the plot felt",
    ];
    let mut lines = String::from("text\tlabel\n");
    for i in 0..160 {
        let positive = i % 2 == 0;
        let word = if positive {
            good[(i / 8) % 2]
        } else {
            bad[(i / 8) % 2]
        };
        let label = if positive { "pos" } else { "neg" };
        lines.push_str(&format!("{} {word}\t{label}\n", fillers[(i / 2) % 4]));
    }
    let path = dir.join(name);
    std::fs::write(&path, lines).unwrap();
    path
}

fn config(data: &Path, extra: &[String]) -> ExperimentConfig {
    let yaml = format!(
        "name: ft\ntask: sentiment\nseed: 5\ndata:\n  path: {}\n  split: {{ valid: 0.1, test: 0.1 }}\nmodel:\n  embedding: 12\n  cell: lstm\n  hidden: 12\n  pooling: attention\ntrain:\n  epochs: 4\n  batch_size: 16\n  optimizer: {{ lr: 1.0e-2 }}\n  log_every: 10\n",
        data.display()
    );
    rnnzoo_config::parse(&yaml, "ft.yaml", extra).unwrap()
}

fn probabilities(model: &Classifier, vocab: &rnnzoo_data::Vocab, texts: &[&str]) -> Vec<f32> {
    let device = model.embedding.weight.device();
    let ids: Vec<Vec<usize>> = texts
        .iter()
        .map(|t| rnnzoo_sentiment::data::encode(vocab, t, false))
        .collect();
    let seqs: Vec<&[usize]> = ids.iter().map(Vec::as_slice).collect();
    let (tokens, lengths) = pad_batch(&seqs, &device);
    model
        .probabilities(tokens, &lengths)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap()
}

#[test]
fn a_finetuned_classifier_starts_from_the_runs_predictions_and_learns_new_words() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("cls");
    let old = write_reviews(&dir, "old.tsv", ["good", "great"], ["bad", "awful"]);
    let new = write_reviews(&dir, "new.tsv", ["superb", "good"], ["dreadful", "bad"]);
    let (source_run, _) =
        train(&config(&old, &[]), &dir.join("runs"), None, &Device::flex()).unwrap();
    let source = load_run(&source_run.path, &Device::flex()).unwrap();

    let ft = config(
        &new,
        &[
            format!("init_from={}", source_run.path.display()),
            "vocab=extend".into(),
            "name=ft-new".into(),
        ],
    );
    let device = Device::flex();
    let initial = load_initial(&ft, &device).unwrap().unwrap();
    let scratch = RunDir::create(&dir.join("scratch"), "prep").unwrap();
    let prepared = prepare(&ft, &scratch, false, Some(&initial)).unwrap();
    assert_eq!(
        prepared.classes, source.classes,
        "same labels keep the run's order"
    );
    let added: Vec<&str> = prepared.vocab.tokens[source.vocab.len()..]
        .iter()
        .map(String::as_str)
        .collect();
    assert!(
        added.contains(&"superb") && added.contains(&"dreadful"),
        "{added:?}"
    );
    let fresh = Classifier::new(
        &ft.model,
        prepared.vocab.len(),
        prepared.classes.len(),
        &device,
    );
    let (model, moved) = transplant(fresh, initial, &prepared.classes);
    assert_eq!(moved, ["embedding", "encoder", "attention", "head"]);
    // Before any update the fine-tuning model reads every text as the run did: known words
    // alike, new words as `<unk>`.
    let texts = [
        "the film was great",
        "this movie is superb",
        "i thought it dreadful",
    ];
    let before = probabilities(&source.model, &source.vocab, &texts);
    let after = probabilities(&model, &prepared.vocab, &texts);
    assert_eq!(before, after);

    // Training it learns the new words.
    let (run, summary) = train(&ft, &dir.join("runs"), None, &Device::flex()).unwrap();
    assert!(summary.test.accuracy >= 0.95, "{}", summary.test.accuracy);
    let tuned = load_run(&run.path, &Device::flex()).unwrap();
    let p = tuned.predict(&[
        "this movie is superb".into(),
        "the plot felt dreadful".into(),
    ]);
    assert_eq!((p[0].label.as_str(), p[1].label.as_str()), ("pos", "neg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn new_labels_keep_the_encoder_and_start_a_fresh_head() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("labels");
    let old = write_reviews(&dir, "old.tsv", ["good", "great"], ["bad", "awful"]);
    let (source_run, _) =
        train(&config(&old, &[]), &dir.join("runs"), None, &Device::flex()).unwrap();
    let relabelled = dir.join("relabelled.tsv");
    let text = std::fs::read_to_string(&old)
        .unwrap()
        .replace("\tpos", "\tliked")
        .replace("\tneg", "\tdisliked");
    std::fs::write(&relabelled, text).unwrap();
    let ft = config(
        &relabelled,
        &[
            format!("init_from={}", source_run.path.display()),
            "model.pooling=mean".into(),
        ],
    );
    let device = Device::flex();
    let initial = load_initial(&ft, &device).unwrap().unwrap();
    let scratch = RunDir::create(&dir.join("scratch"), "prep").unwrap();
    let prepared = prepare(&ft, &scratch, false, Some(&initial)).unwrap();
    assert_eq!(prepared.classes, ["disliked", "liked"]);
    let encoder_before = pytorch_state(
        &load_run(&source_run.path, &device).unwrap().model.rnn,
        "rnn",
    );
    let fresh = Classifier::new(&ft.model, prepared.vocab.len(), 2, &device);
    let (model, moved) = transplant(fresh, initial, &prepared.classes);
    assert_eq!(moved, ["embedding", "encoder"]);
    assert_eq!(pytorch_state(&model.rnn, "rnn"), encoder_before);

    let mismatch = config(
        &relabelled,
        &[
            format!("init_from={}", source_run.path.display()),
            "model.hidden=20".into(),
        ],
    );
    let err = load_initial(&mismatch, &device).err().unwrap().to_string();
    assert!(err.contains("model.hidden: 12 vs 20"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_word_language_model_gives_a_classifier_its_embedding_and_encoder() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("lm");
    let corpus = dir.join("corpus.txt");
    let sentences =
        "the film was good\nthis movie is bad\ni thought it great\nthe plot felt awful\n";
    std::fs::write(&corpus, sentences.repeat(60)).unwrap();
    let lm_yaml = format!(
        "name: words\ntask: lm\nseed: 2\ndata:\n  path: {}\n  tokenizer: word\n  split: {{ valid: 0.1, test: 0.1 }}\nmodel:\n  embedding: 12\n  cell: lstm\n  hidden: 12\n  tie_weights: true\ntrain:\n  steps: 10\n  batch_size: 4\n  bptt: 8\n  eval_every: 10\n  log_every: 10\n",
        corpus.display()
    );
    let lm_config = rnnzoo_config::parse(&lm_yaml, "lm.yaml", &[]).unwrap();
    let (lm_run, _) =
        rnnzoo_lm::training::train(&lm_config, &dir.join("runs"), None, &Device::flex()).unwrap();
    let lm = rnnzoo_lm::inference::load_run(&lm_run.path, &Device::flex()).unwrap();

    let reviews = write_reviews(&dir, "reviews.tsv", ["good", "great"], ["bad", "awful"]);
    let ft = config(&reviews, &[format!("init_from={}", lm_run.path.display())]);
    let device = Device::flex();
    let initial = load_initial(&ft, &device).unwrap().unwrap();
    let scratch = RunDir::create(&dir.join("scratch"), "prep").unwrap();
    let prepared = prepare(&ft, &scratch, false, Some(&initial)).unwrap();
    assert_eq!(prepared.vocab.tokens, lm.vocab.tokens, "vocab: keep");
    let fresh = Classifier::new(&ft.model, prepared.vocab.len(), 2, &device);
    let (model, moved) = transplant(fresh, initial, &prepared.classes);
    assert_eq!(moved, ["embedding", "encoder"]);
    assert_eq!(
        pytorch_state(&model.rnn, "rnn"),
        pytorch_state(&lm.model.rnn, "rnn")
    );
    assert_eq!(
        model.embedding.weight.val().into_data(),
        lm.model.embedding.weight.val().into_data()
    );
    assert!(model.num_params() > 0);

    let bidirectional = config(
        &reviews,
        &[
            format!("init_from={}", lm_run.path.display()),
            "model.bidirectional=true".into(),
        ],
    );
    let err = load_initial(&bidirectional, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("model.bidirectional: false vs true"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
