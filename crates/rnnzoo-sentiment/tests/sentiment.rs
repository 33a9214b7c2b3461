//! The classification task on tiny generated data: padding never changes a prediction (every
//! pooling mode), training lowers the loss and learns the data, and a saved run predicts.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_sentiment::inference::load_run;
use rnnzoo_sentiment::model::{Classifier, pad_batch};
use rnnzoo_sentiment::training::train;

/// Burn's random generator is global to the process: tests that seed it take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnzoo-sent-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A JSONL file of short reviews whose label is carried by one word among fillers.
fn write_reviews(dir: &Path) -> PathBuf {
    let fillers = [
        "the film was",
        "honestly this movie is",
        "i thought it",
        "overall the plot felt",
        "the acting seemed",
    ];
    let (good, bad) = (["good", "great", "lovely"], ["bad", "awful", "dull"]);
    let mut lines = String::new();
    for i in 0..240 {
        let positive = i % 2 == 0;
        let word = if positive { good[i % 3] } else { bad[i % 3] };
        let text = format!("{} {word} {}", fillers[i % 5], "and long ".repeat(i % 4));
        lines.push_str(&format!(
            "{{\"text\": \"{}\", \"label\": \"{}\"}}\n",
            text.trim(),
            if positive { "pos" } else { "neg" }
        ));
    }
    let path = dir.join("reviews.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

fn config(data: &Path, extra: &[&str]) -> ExperimentConfig {
    let yaml = format!(
        "name: tiny-sentiment\ntask: sentiment\nseed: 5\ndata:\n  path: {}\n  split: {{ valid: 0.1, test: 0.1 }}\nmodel:\n  embedding: 16\n  cell: gru\n  hidden: 16\n  bidirectional: true\n  pooling: mean\n  dropout: 0.1\ntrain:\n  epochs: 6\n  batch_size: 16\n  optimizer: {{ lr: 1.0e-2 }}\n  log_every: 10\n",
        data.display()
    );
    let overrides: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    rnnzoo_config::parse(&yaml, "tiny.yaml", &overrides).unwrap()
}

#[test]
fn padding_never_changes_a_prediction_in_any_pooling_mode() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dev = Device::flex();
    let data = PathBuf::from("unused.jsonl");
    for pooling in ["last", "mean", "max", "attention"] {
        for bidirectional in ["true", "false"] {
            let cfg = config(
                &data,
                &[
                    &format!("model.pooling={pooling}"),
                    &format!("model.bidirectional={bidirectional}"),
                    "model.layers=2",
                ],
            );
            dev.seed(11);
            let model = Classifier::new(&cfg.model, 30, 3, &dev);
            let short: Vec<usize> = vec![4, 7, 9];
            let long: Vec<usize> = (1..12).collect();
            let (alone, len_alone) = pad_batch(&[&short], &dev);
            let (padded, lens) = pad_batch(&[&long, &short], &dev);
            let a = model
                .forward(alone, &len_alone)
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap();
            let b = model
                .forward(padded, &lens)
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap();
            let diff = a
                .iter()
                .zip(&b[3..])
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(
                diff < 1e-5,
                "pooling {pooling}, bidirectional {bidirectional}: padded logits differ by {diff}"
            );
        }
    }
}

#[test]
fn training_learns_the_data_and_a_saved_run_predicts() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("train");
    let data = write_reviews(&dir);
    for pooling in ["attention", "last"] {
        let cfg = config(&data, &[&format!("model.pooling={pooling}")]);
        let (run, summary) = train(&cfg, &dir.join("runs"), None, &Device::flex()).unwrap();
        let csv = std::fs::read_to_string(run.metrics()).unwrap();
        let losses: Vec<f64> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
            .collect();
        assert!(
            losses.last().unwrap() < &(0.5 * losses[0]),
            "{pooling}: train loss fell: {losses:?}"
        );
        assert!(
            summary.test.accuracy >= 0.95,
            "{pooling}: test accuracy {}",
            summary.test.accuracy
        );
        assert_eq!(summary.test.confusion.iter().flatten().sum::<usize>(), 24);
        for file in [
            "split.json",
            "labels.json",
            "vocab.json",
            "summary.json",
            "learning-curve.svg",
            "checkpoints/best",
        ] {
            assert!(run.path.join(file).is_file(), "{file}");
        }
        let trained = load_run(&run.path, &Device::flex()).unwrap();
        let p = trained.predict(&[
            "the film was great".to_string(),
            "honestly this movie is awful".to_string(),
        ]);
        assert_eq!((p[0].label.as_str(), p[1].label.as_str()), ("pos", "neg"));
        assert!((p[0].probabilities.values().sum::<f64>() - 1.0).abs() < 1e-5);
        assert!(p[1].probabilities["neg"] > p[1].probabilities["pos"]);
        let again = trained.evaluate_file(None, &run.path).unwrap();
        assert_eq!(
            again.report, summary.test,
            "the saved run reproduces its test metrics"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn frozen_parts_keep_their_initial_weights() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("freeze");
    let data = write_reviews(&dir);
    // Two runs from the same seed, one epoch and four: frozen parts must be equal (both still
    // the initial weights), the trained encoder must not.
    let trained = |epochs: &str| {
        let cfg = config(
            &data,
            &[
                "freeze=[embedding, head]",
                &format!("train.epochs={epochs}"),
                "train.early_stopping.patience=10",
                &format!("name=e{epochs}"),
            ],
        );
        let (run, summary) = train(&cfg, &dir.join("runs"), None, &Device::flex()).unwrap();
        (load_run(&run.path, &Device::flex()).unwrap().model, summary)
    };
    let (one, _) = trained("1");
    let (four, summary) = trained("4");
    assert!(
        summary.best_epoch > 1,
        "a later epoch is kept: {}",
        summary.best_epoch
    );
    let host = |t: burn::tensor::Tensor<2>| {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    };
    assert_eq!(
        host(one.embedding.weight.val()),
        host(four.embedding.weight.val())
    );
    assert_eq!(host(one.head.weight.val()), host(four.head.weight.val()));
    assert_ne!(
        host(one.rnn.cells[0].weight_hh.val()),
        host(four.rnn.cells[0].weight_hh.val()),
        "the encoder trains"
    );
}

#[test]
fn pretrained_vectors_fill_the_embedding_exactly_or_from_wordpieces() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("vectors");
    let data = write_reviews(&dir);
    // Vectors for some words as they are, the pieces of `lovely` (`love ##ly`), nothing for
    // the rest; frozen, so the trained run still holds exactly these rows.
    let dim = 16;
    let vector = |k: usize| -> Vec<f32> { (0..dim).map(|j| (k * dim + j) as f32 * 0.01).collect() };
    let entries = [
        ("good", 1),
        ("bad", 2),
        ("the", 3),
        ("love", 4),
        ("##ly", 6),
    ];
    let mut file = format!("{} {dim}\n", entries.len());
    for (word, k) in entries {
        let values: Vec<String> = vector(k).iter().map(f32::to_string).collect();
        file.push_str(&format!("{word} {}\n", values.join(" ")));
    }
    let vectors = dir.join("vectors.txt");
    std::fs::write(&vectors, file).unwrap();
    let cfg = config(
        &data,
        &[
            &format!(
                "model.embedding={{size: {dim}, pretrained: {}, freeze: true}}",
                vectors.display()
            ),
            "train.epochs=1",
        ],
    );
    let (run, _) = train(&cfg, &dir.join("runs"), None, &Device::flex()).unwrap();
    let loaded = load_run(&run.path, &Device::flex()).unwrap();
    let rows: Vec<f32> = loaded
        .model
        .embedding
        .weight
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    let row = |word: &str| {
        let id = loaded.vocab.id(word);
        assert_ne!(id, 0, "`{word}` is in the vocabulary");
        rows[id * dim..(id + 1) * dim].to_vec()
    };
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    assert!(close(&row("good"), &vector(1)));
    assert!(close(&row("bad"), &vector(2)));
    let lovely: Vec<f32> = (0..dim)
        .map(|j| (vector(4)[j] + vector(6)[j]) / 2.0)
        .collect();
    assert!(
        close(&row("lovely"), &lovely),
        "the mean of `love` and `##ly`"
    );
    // An unknown word gets a random row on the vectors' scale, not one of theirs.
    let awful = row("awful");
    assert!(entries.iter().all(|&(_, k)| !close(&awful, &vector(k))));
    let std = (awful.iter().map(|x| x * x).sum::<f32>() / dim as f32).sqrt();
    assert!(
        std < 1.0,
        "random rows take the loaded vectors' scale, got std {std}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
