//! Image captioning through the real binary, on coloured shapes the test draws as SVG: a red,
//! green or blue circle, square or triangle at one of several places and sizes, captioned
//! `"a <size> <colour> <shape>"` and `"the <shape> is <colour> and <size>"`. A tiny CNN with an attentional LSTM
//! decoder learns them; `eval` of the saved run reproduces the training run's test scores
//! (the batch norm's running statistics are in the checkpoint) and rewrites captions that
//! rescore as reported; `caption` names a file that does not decode and still captions the
//! rest, agrees with `eval`'s captions, and draws its attention. Trained with a start token
//! per caption style, one model writes either style on request.

mod common;

use std::path::{Path, PathBuf};

use common::{empty_dir, rnnzoo, text};

const COLOURS: [(&str, &str); 3] = [
    ("red", "#e02020"),
    ("green", "#20b020"),
    ("blue", "#2040e0"),
];
const SHAPES: [&str; 3] = ["circle", "square", "triangle"];

/// An SVG of one shape, centred at (`cx`, `cy`) with half-size `r`, in a 20x20 view box.
fn svg(shape: &str, fill: &str, cx: f32, cy: f32, r: f32) -> String {
    let body = match shape {
        "circle" => format!(r#"<circle cx="{cx}" cy="{cy}" r="{r}" fill="{fill}"/>"#),
        "square" => format!(
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}"/>"#,
            cx - r,
            cy - r,
            2.0 * r,
            2.0 * r
        ),
        _ => format!(
            r#"<polygon points="{},{} {},{} {},{}" fill="{fill}"/>"#,
            cx,
            cy - r,
            cx - r,
            cy + r,
            cx + r,
            cy + r
        ),
    };
    format!(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 20">{body}</svg>"#)
}

fn setup(tag: &str) -> PathBuf {
    let dir = empty_dir("caption", tag);
    std::fs::create_dir_all(dir.join("img")).unwrap();
    let mut captions = String::from("image,caption\n");
    let places = [
        (7.0, 7.0),
        (13.0, 7.0),
        (7.0, 13.0),
        (13.0, 13.0),
        (10.0, 10.0),
    ];
    for (colour, fill) in COLOURS {
        for shape in SHAPES {
            for (p, &(cx, cy)) in places.iter().enumerate() {
                for (size, r) in [("small", 3.0), ("big", 5.5)] {
                    let name = format!("{colour}-{shape}-{p}-{size}.svg");
                    std::fs::write(dir.join("img").join(&name), svg(shape, fill, cx, cy, r))
                        .unwrap();
                    captions.push_str(&format!("{name},a {size} {colour} {shape}\n"));
                    captions.push_str(&format!("{name},the {shape} is {colour} and {size}\n"));
                }
            }
        }
    }
    std::fs::write(dir.join("captions.csv"), captions).unwrap();
    // Images 16x16 -> two CNN blocks (5, 7 channels) -> a 4x4 grid; embedding 6, hidden 19.
    std::fs::write(
        dir.join("shapes.yaml"),
        "name: shapes\ntask: caption\nseed: 3\ndata:\n  path: captions.csv\n  image_dir: img\n  max_length: 6\n  split: { valid: 0.15, test: 0.15 }\n\
         images: { size: 16, shift: 1 }\n\
         model:\n  cnn: [5, 7]\n  attention: general\n  cell: lstm\n  hidden: 19\n  embedding: 6\n\
         train:\n  steps: 1200\n  batch_size: 16\n  optimizer: { name: adam, lr: 0.01 }\n  clip_norm: 5.0\n  eval_every: 300\n  checkpoint_every: 300\n\
         decode:\n  beam: 3\n",
    )
    .unwrap();
    dir
}

fn run_dir(dir: &Path) -> PathBuf {
    run_named(dir, "shapes")
}

/// The latest run of the config named `name`.
fn run_named(dir: &Path, name: &str) -> PathBuf {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir.join("runs").join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all.pop().expect("a run")
}

/// The test scores a run's `summary.json` holds, one object per system.
fn test_scores(run: &Path) -> Vec<serde_json::Value> {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    summary["test"].as_array().unwrap().clone()
}

/// Copies folder `from` with everything in it to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The systems of scores, in order.
fn systems(scores: &[serde_json::Value]) -> Vec<&str> {
    scores
        .iter()
        .map(|t| t["system"].as_str().unwrap())
        .collect()
}

/// The systems scored on the test split without caption styles.
const SYSTEMS: [&str; 4] = [
    "greedy",
    "beam 3",
    "nearest neighbour, pixels",
    "nearest neighbour, CNN features",
];

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_tiny_captioner_learns_shapes_and_eval_and_caption_work() {
    let dir = setup("learn");
    let out = rnnzoo(&dir, &["train", "shapes.yaml"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let run = run_dir(&dir);
    let tests = test_scores(&run);
    assert_eq!(systems(&tests), SYSTEMS, "{log}");
    let bleu4 = |i: usize| tests[i]["bleu"][3].as_f64().unwrap();
    assert!(
        bleu4(0) > 70.0,
        "greedy test BLEU-4 {} after 1200 steps:\n{log}",
        bleu4(0)
    );

    // `eval` of the saved run gives the training run's scores, and its files rescore to them.
    let out = rnnzoo(&dir, &["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let scores: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (a, b) in scores.as_array().unwrap().iter().zip(tests) {
        assert_eq!(a["system"], b["system"]);
        assert!((a["bleu"][3].as_f64().unwrap() - b["bleu"][3].as_f64().unwrap()).abs() < 1e-9);
    }
    let hyp = lines(&run.join("test.hyp.txt"));
    let refs = [
        lines(&run.join("test.ref1.txt")),
        lines(&run.join("test.ref2.txt")),
    ];
    let per_image: Vec<Vec<String>> = (0..hyp.len())
        .map(|i| vec![refs[0][i].clone(), refs[1][i].clone()])
        .collect();
    let rescored = rnnzoo_metrics::corpus_bleu_multi(&hyp, &per_image, 4).score;
    assert!((rescored - scores[1]["bleu"][3].as_f64().unwrap()).abs() < 1e-9);

    // `caption` agrees with `eval` on test images, names a broken file and still captions the
    // rest, and draws the attention of the first image.
    let names = lines(&run.join("test.images.txt"));
    std::fs::write(dir.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let first = format!("img/{}", names[0]);
    let second = format!("img/{}", names[1]);
    let out = rnnzoo(
        &dir,
        &[
            "caption",
            run.to_str().unwrap(),
            &first,
            "broken.png",
            &second,
            "--json",
            "--attention-png",
            "attention.png",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.png") && err.contains("not a readable image"),
        "{err}"
    );
    let captioned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = captioned.as_array().unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(c[0]["caption"].as_str().unwrap(), hyp[0]);
    assert!(c[1]["error"].as_str().unwrap().contains("broken.png"));
    assert_eq!(c[2]["caption"].as_str().unwrap(), hyp[1]);
    let png = std::fs::read(dir.join("attention.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    // A run of another task's verb, and impossible values.
    let out = rnnzoo(
        &dir,
        &["caption", run.to_str().unwrap(), &first, "--beam", "0"],
    );
    assert!(
        !out.status.success()
            && text(&out).contains("invalid value '0' for '--beam <BEAM>': must be at least 1")
    );
    let out = rnnzoo(&dir, &["generate", run.to_str().unwrap()]);
    assert!(
        !out.status.success() && text(&out).contains("a captioning run"),
        "{}",
        text(&out)
    );
}

#[test]
fn with_caption_styles_one_model_writes_each_reference_style_on_request() {
    // Each image's first caption reads "a <size> <colour> <shape>", its second "the <shape> is
    // <colour> and <size>": the two styles. Trained with a start token per style, the model
    // decodes the test split in style 2 (`decode.style`) and, for comparison, in style 1.
    let dir = setup("styles");
    let out = rnnzoo(
        &dir,
        &[
            "train",
            "shapes.yaml",
            "--set",
            "data.caption_styles=true",
            "--set",
            "decode.style=2",
        ],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("caption styles: 2"), "{log}");
    let run = run_dir(&dir);
    let tests = test_scores(&run);
    let systems = systems(&tests);
    assert_eq!(
        systems,
        [
            "greedy",
            "beam 3",
            "greedy, style 1",
            "nearest neighbour, pixels",
            "nearest neighbour, CNN features"
        ],
        "{log}"
    );
    let in_style = |captions: &[String], style: usize| {
        captions
            .iter()
            .filter(|c| {
                let w: Vec<&str> = c.split(' ').collect();
                match style {
                    1 => w.len() == 4 && w[0] == "a",
                    _ => w.len() == 6 && w[0] == "the" && w[2] == "is" && w[4] == "and",
                }
            })
            .count()
    };
    let style2 = lines(&run.join("test.hyp.txt"));
    let style1 = lines(&run.join("test.hyp.style1.txt"));
    assert_eq!(style1.len(), style2.len());
    let n = style2.len();
    assert!(
        in_style(&style2, 2) * 10 >= n * 9,
        "style 2 captions: {style2:?}"
    );
    assert!(
        in_style(&style1, 1) * 10 >= n * 9,
        "style 1 captions: {style1:?}"
    );
    for row in [0, 2] {
        let bleu4 = tests[row]["bleu"][3].as_f64().unwrap();
        assert!(bleu4 > 60.0, "{}: BLEU-4 {bleu4}\n{log}", systems[row]);
    }

    // `caption --style` picks the style; without it the run's `decode.style` applies; a style
    // the run was not trained with is refused.
    let image = format!("img/{}", lines(&run.join("test.images.txt"))[0]);
    let caption_in = |extra: &[&str]| {
        let mut args = vec!["caption", run.to_str().unwrap(), &image, "--beam", "1"];
        args.extend_from_slice(extra);
        let out = rnnzoo(&dir, &args);
        assert!(out.status.success(), "{}", text(&out));
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        line.split_once('\t').unwrap().1.to_string()
    };
    assert_eq!(caption_in(&["--style", "1"]), style1[0]);
    assert_eq!(caption_in(&[]), caption_in(&["--style", "2"]));
    let out = rnnzoo(
        &dir,
        &["caption", run.to_str().unwrap(), &image, "--style", "3"],
    );
    assert!(
        !out.status.success() && text(&out).contains("this run knows styles 1 to 2"),
        "{}",
        text(&out)
    );
}

#[test]
fn two_runs_caption_together_as_an_ensemble() {
    // Two seeds on one split (the split's seed is fixed): one vocabulary, one test split.
    let dir = setup("ensemble");
    for (name, seed) in [("shapes", "3"), ("other", "4")] {
        let set_name = format!("name={name}");
        let set_seed = format!("seed={seed}");
        let out = rnnzoo(
            &dir,
            &[
                "train",
                "shapes.yaml",
                "--set",
                &set_name,
                "--set",
                &set_seed,
                "--set",
                "data.split.seed=3",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let (run, other) = (run_dir(&dir), run_named(&dir, "other"));
    let (run_arg, other_arg) = (run.to_str().unwrap(), other.to_str().unwrap());
    let eval = |members: &[&str]| {
        let mut args = vec!["eval", run_arg, "--json"];
        for m in members {
            args.extend_from_slice(&["--ensemble", m]);
        }
        let out = rnnzoo(&dir, &args);
        assert!(out.status.success(), "{}", text(&out));
        let scores: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        scores.as_array().unwrap().clone()
    };

    // A run with itself is the run alone: the same captions, scores and retrieval.
    let alone = test_scores(&run);
    let itself = eval(&[run_arg]);
    let ensemble = run.join("ensemble");
    assert_eq!(
        lines(&ensemble.join("test.hyp.txt")),
        lines(&run.join("test.hyp.txt"))
    );
    for (a, b) in itself.iter().zip(&alone) {
        assert_eq!(a["system"], b["system"]);
        assert!((a["bleu"][3].as_f64().unwrap() - b["bleu"][3].as_f64().unwrap()).abs() < 1e-9);
    }

    // Two runs: both learned the shapes, and so does their ensemble; its captions, references
    // and members are written beside the first run, and `caption --ensemble` agrees with them.
    let pair = eval(&[other_arg]);
    assert_eq!(systems(&pair), SYSTEMS);
    for row in [0, 1, 3] {
        let bleu4 = pair[row]["bleu"][3].as_f64().unwrap();
        assert!(bleu4 > 70.0, "{}: BLEU-4 {bleu4}", SYSTEMS[row]);
    }
    assert_eq!(lines(&ensemble.join("members.txt")), [run_arg, other_arg]);
    let hyp = lines(&ensemble.join("test.hyp.txt"));
    assert_eq!(
        lines(&ensemble.join("test.ref1.txt")),
        lines(&run.join("test.ref1.txt"))
    );
    let image = format!("img/{}", lines(&run.join("test.images.txt"))[0]);
    let out = rnnzoo(&dir, &["caption", run_arg, &image, "--ensemble", other_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.trim().split_once('\t').unwrap().1, hyp[0]);

    // A member barely trained (2 steps) changes the captions: the ensemble decodes with it.
    let out = rnnzoo(
        &dir,
        &[
            "train",
            "shapes.yaml",
            "--set",
            "name=weak",
            "--set",
            "train.steps=2",
            "--set",
            "data.split.seed=3",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let weak = run_named(&dir, "weak");
    eval(&[weak.to_str().unwrap()]);
    assert_ne!(
        lines(&ensemble.join("test.hyp.txt")),
        lines(&run.join("test.hyp.txt"))
    );

    // Members that do not fit together are refused, naming the run and what differs.
    let copy = |tag: &str| {
        let to = dir.join(tag);
        copy_tree(&other, &to);
        to
    };
    let refused = |member: &Path, want: &str| {
        let m = member.to_str().unwrap();
        let out = rnnzoo(&dir, &["eval", run_arg, "--ensemble", m]);
        let t = text(&out);
        assert!(
            !out.status.success() && t.contains(m) && t.contains(want),
            "{t}"
        );
    };
    let split = copy("other-split");
    let names = std::fs::read_to_string(split.join("split.json")).unwrap();
    let names: serde_json::Value = serde_json::from_str(&names).unwrap();
    let (mut train, test) = (names["train"].clone(), names["test"].clone());
    let moved = train.as_array_mut().unwrap().remove(0);
    let mut test_names = test.as_array().unwrap().clone();
    test_names.push(moved);
    let edited = serde_json::json!({"train": train, "valid": names["valid"], "test": test_names});
    std::fs::write(split.join("split.json"), edited.to_string()).unwrap();
    refused(&split, "split of the data (split.json)");
    let vocab = copy("other-vocab");
    let words = std::fs::read_to_string(vocab.join("vocab.json")).unwrap();
    std::fs::write(
        vocab.join("vocab.json"),
        words.replacen("circle", "disc", 1),
    )
    .unwrap();
    refused(&vocab, "its vocabulary (vocab.json)");
    let size = copy("other-size");
    let config = std::fs::read_to_string(size.join("config.yaml")).unwrap();
    assert!(config.contains("\n  size: 16"));
    let config = config.replacen("\n  size: 16", "\n  size: 24", 1);
    std::fs::write(size.join("config.yaml"), config).unwrap();
    refused(&size, "images.size (24)");
}

#[test]
fn bad_captioning_configs_and_files_name_the_problem() {
    let dir = setup("errors");
    let cases: [(&[&str], &str); 11] = [
        (
            &["--set", "model.attention=dot"],
            "`dot` needs `hidden` (19)",
        ),
        (
            &["--set", "images.size=2"],
            "images.size (2) must be at least 2^2",
        ),
        (&["--set", "model.cnn=[]"], "model.cnn"),
        (&["--set", "data.path=missing.csv"], "missing.csv"),
        (&["--set", "model.bidirectional=true"], "left to right"),
        (
            &["--set", "decode.style=2"],
            "decode.style: 2 needs `data.caption_styles: true`",
        ),
        (
            &["--set", "decode.style=0"],
            "decode.style is a reference number",
        ),
        (
            &["--set", "train.word_dropout=1"],
            "train.word_dropout must be a probability in [0, 1), got 1",
        ),
        (
            &["--set", "train.attention_penalty=-1"],
            "train.attention_penalty must be a finite number >= 0, got -1",
        ),
        (
            &[
                "--set",
                "train.attention_penalty=1",
                "--set",
                "model.attention=none",
            ],
            "train.attention_penalty needs attention",
        ),
        (
            &[
                "--set",
                "data.caption_styles=true",
                "--set",
                "decode.style=3",
            ],
            "caption style 3: this run knows styles 1 to 2",
        ),
    ];
    for (overrides, expected) in cases {
        let mut args = vec!["train", "shapes.yaml"];
        args.extend_from_slice(overrides);
        let out = rnnzoo(&dir, &args);
        assert!(!out.status.success(), "{overrides:?}");
        assert!(
            text(&out).contains(expected),
            "{overrides:?}: {}",
            text(&out)
        );
    }
    // Word dropout changes what the decoder reads from the first step on, not what it
    // learns to predict: the same seed gives another training loss.
    let first_loss = |extra: &[&str]| {
        let mut args = vec!["train", "shapes.yaml", "--set", "train.steps=2"];
        args.extend_from_slice(extra);
        let out = rnnzoo(&dir, &args);
        assert!(out.status.success(), "{}", text(&out));
        let metrics = lines(&run_dir(&dir).join("metrics.csv"));
        metrics[1].split(',').nth(2).unwrap().to_string()
    };
    let plain = first_loss(&[]);
    assert_eq!(plain, first_loss(&[]));
    assert_ne!(plain, first_loss(&["--set", "train.word_dropout=0.5"]));
    // The attention penalty joins the training loss from the first step on.
    assert_ne!(plain, first_loss(&["--set", "train.attention_penalty=1"]));
    std::fs::write(dir.join("captions.csv"), "image,caption\nred.svg\n").unwrap();
    let out = rnnzoo(&dir, &["train", "shapes.yaml"]);
    assert!(text(&out).contains("captions.csv:2"), "{}", text(&out));
    std::fs::write(
        dir.join("captions.csv"),
        "image,caption\nnot-there.svg,a red circle\n",
    )
    .unwrap();
    let out = rnnzoo(&dir, &["train", "shapes.yaml"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not-there.svg"), "{}", text(&out));
}
