//! Using a captioner: captions by greedy or beam search through the step-by-step inference path
//! (`rnnzoo_models::decode`), BLEU-1..4 and CIDEr-D against all references, the
//! nearest-neighbour baselines, and a trained run loaded for `eval` and `caption`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use rnnzoo_config::ExperimentConfig;
use rnnzoo_metrics::{cider_d, corpus_bleu_multi};
use rnnzoo_models::attention::{AttentionDecoder, AttentionDecoderConfig, Memory, TargetBatch};
use rnnzoo_models::captioner::{Captioner, CaptionerConfig, ImageFeed};
use rnnzoo_models::decode::{
    EnsembleDecoder, Hypothesis, Specials, beam_search_started, greedy_started,
};
use rnnzoo_train::checkpoint::Checkpoint;
use rnnzoo_train::model::{attention_kind, recurrent_config};
use rnnzoo_train::rundir::RunDir;
use serde::Serialize;

use crate::CaptionError;
use crate::data::{DEFAULT_MAX_LENGTH, Example, Prepared, prepare};
use crate::images::{load_cached, push_chw};
use crate::text::{EOS, PAD, Vocabulary};

/// Images run through the network together.
pub const BATCH: usize = 64;

/// A fresh captioner for `config` and a vocabulary of `vocab` words.
pub fn captioner(config: &ExperimentConfig, vocab: usize, device: &Device) -> Captioner {
    let m = &config.model;
    let embedding = m.embedding.size;
    CaptionerConfig {
        channels: m.cnn.clone(),
        feed: match m.image_feed {
            rnnzoo_config::ImageFeedName::State => ImageFeed::State,
            rnnzoo_config::ImageFeedName::Input => ImageFeed::Input,
        },
        decoder: AttentionDecoderConfig {
            recurrent: recurrent_config(m, embedding),
            vocab,
            embedding,
            memory: 0,
            attention: attention_kind(m.attention.unwrap_or(rnnzoo_config::AttentionName::None)),
            input_feeding: m.input_feeding,
            dropout: m.dropout,
        },
    }
    .init(device)
}

/// The longest caption decoding writes.
pub fn max_length(config: &ExperimentConfig) -> usize {
    config.data.max_length.unwrap_or(DEFAULT_MAX_LENGTH)
}

/// Images `[B, 3, size, size]` from RGB bytes, each shifted by its `(dx, dy)`.
pub fn image_batch(
    pixels: &[&[u8]],
    size: usize,
    shifts: Option<&[(isize, isize)]>,
    device: &Device,
) -> Tensor<4> {
    let mut values = Vec::with_capacity(pixels.len() * 3 * size * size);
    for (i, p) in pixels.iter().enumerate() {
        let shift = shifts.map_or((0, 0), |s| s[i]);
        push_chw(p, size, shift, &mut values);
    }
    Tensor::from_data(
        TensorData::new(values, [pixels.len(), 3, size, size]),
        device,
    )
}

/// How to decode.
#[derive(Clone, Copy, Debug)]
pub struct DecodeOptions {
    /// Beam width (1 is greedy).
    pub beam: usize,
    /// Most words per caption.
    pub max_length: usize,
    /// Length normalisation of beam search.
    pub length_penalty: f64,
    /// The decoder's first input: `<s>`, or the start token of the caption style to write in.
    pub start: usize,
}

/// The start token of caption style `style` (1-based) in `vocab`, or an error saying which
/// styles the run has.
pub fn style_start(vocab: &Vocabulary, style: usize) -> Result<usize, CaptionError> {
    vocab.start(style).ok_or_else(|| {
        CaptionError::Other(if vocab.styles() == 1 {
            format!(
                "caption style {style}: this run was trained without `data.caption_styles`, so it writes in one style (1)"
            )
        } else {
            format!(
                "caption style {style}: this run knows styles 1 to {} (one per reference of an image)",
                vocab.styles()
            )
        })
    })
}

/// Captions of images (RGB bytes at `size`), in their order, by one captioner or an ensemble
/// of several (`models`: each reads the image with its own CNN, and their decoders choose each
/// word together, see [`EnsembleDecoder`]).
///
/// # Panics
/// Without models, or when their vocabularies differ in size.
pub fn caption_pixels(
    models: &[&Captioner],
    pixels: &[&[u8]],
    size: usize,
    options: DecodeOptions,
) -> Vec<Hypothesis> {
    let device = models[0].image.weight.device();
    let beam = options.beam.max(1);
    let specials = Specials {
        bos: options.start,
        eos: EOS,
    };
    let decoders: Vec<&AttentionDecoder> = models.iter().map(|m| &m.decoder).collect();
    let attention = decoders.iter().any(|d| d.attention.is_some());
    let mut decoder = EnsembleDecoder::with_capacity(&decoders, BATCH * beam);
    let mut out = Vec::with_capacity(pixels.len());
    for chunk in pixels.chunks(BATCH) {
        let images = image_batch(chunk, size, None, &device);
        let memories: Vec<Memory> = models
            .iter()
            .map(|m| m.encode(images.clone()).memory)
            .collect();
        decoder.start(&decoders, &memories);
        let lengths = vec![options.max_length; chunk.len()];
        let sources = &memories[0].lengths;
        let hyps = if beam == 1 {
            greedy_started(&mut decoder, sources, attention, &lengths, specials)
        } else {
            beam_search_started(
                &mut decoder,
                sources,
                attention,
                &lengths,
                beam,
                options.length_penalty,
                specials,
            )
        };
        out.extend(hyps);
    }
    out
}

/// The CNN's pooled feature of each image.
pub fn pooled_features(model: &Captioner, pixels: &[&[u8]], size: usize) -> Vec<Vec<f32>> {
    let device = model.image.weight.device();
    let mut out = Vec::with_capacity(pixels.len());
    for chunk in pixels.chunks(BATCH) {
        let pooled = model.encode(image_batch(chunk, size, None, &device)).pooled;
        let [_, c] = pooled.dims();
        let values: Vec<f32> = pooled
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32");
        out.extend(values.chunks(c).map(<[f32]>::to_vec));
    }
    out
}

/// Mean cross-entropy per target word (with `</s>`) under teacher forcing, over every
/// (image, reference) pair of a set, each reference started with its style's start token.
pub fn teacher_forced_loss(
    model: &Captioner,
    vocab: &Vocabulary,
    set: &[Example],
    size: usize,
) -> f64 {
    let device = model.image.weight.device();
    let pairs: Vec<(usize, usize)> = set
        .iter()
        .enumerate()
        .flat_map(|(i, e)| (0..e.targets.len()).map(move |r| (i, r)))
        .collect();
    let (mut total, mut count) = (0.0f64, 0usize);
    for chunk in pairs.chunks(BATCH) {
        let pixels: Vec<&[u8]> = chunk
            .iter()
            .map(|&(i, _)| set[i].pixels.as_slice())
            .collect();
        let targets: Vec<&[usize]> = chunk
            .iter()
            .map(|&(i, r)| set[i].targets[r].as_slice())
            .collect();
        let starts: Vec<usize> = chunk
            .iter()
            .map(|&(_, r)| vocab.start_of_reference(r))
            .collect();
        let batch = TargetBatch::with_starts(&targets, &starts, EOS, PAD, &device);
        let encoded = model.encode(image_batch(&pixels, size, None, &device));
        let attended = model
            .decoder
            .teacher_forced(&encoded.memory, batch.target_in);
        let logits = model.decoder.logits_at(attended, &batch.rows);
        let loss = rnnzoo_models::cross_entropy(logits, batch.targets).into_scalar::<f32>() as f64;
        total += loss * batch.rows.len() as f64;
        count += batch.rows.len();
    }
    total / count.max(1) as f64
}

/// Scores of one system's captions on a set.
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    /// Which captions: `greedy`, `beam N`, or a baseline.
    pub system: String,
    /// BLEU-1..4 (sacreBLEU's, every reference), in `[0, 100]`.
    pub bleu: [f64; 4],
    /// CIDEr-D (COCO's), usually in `[0, 10]`.
    pub cider: f64,
    /// Images captioned.
    pub images: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// Scores captions against each image's references.
pub fn score(system: &str, hypotheses: &[String], set: &[Example], seconds: f64) -> Scores {
    let references: Vec<&[String]> = set.iter().map(|e| e.references.as_slice()).collect();
    let bleu = [1, 2, 3, 4].map(|n| corpus_bleu_multi(hypotheses, &references, n).score);
    Scores {
        system: system.into(),
        bleu,
        cider: cider_d(hypotheses, &references).0,
        images: set.len(),
        seconds,
    }
}

/// A set's captions and their scores.
pub struct Evaluation {
    /// The scores.
    pub scores: Scores,
    /// The captions, in the set's order.
    pub captions: Vec<String>,
}

/// Captions a set by one captioner or an ensemble (see [`caption_pixels`]) and scores it.
pub fn evaluate(
    models: &[&Captioner],
    vocab: &Vocabulary,
    set: &[Example],
    size: usize,
    options: DecodeOptions,
) -> Evaluation {
    let start = Instant::now();
    let pixels: Vec<&[u8]> = set.iter().map(|e| e.pixels.as_slice()).collect();
    let captions: Vec<String> = caption_pixels(models, &pixels, size, options)
        .iter()
        .map(|h| vocab.decode(&h.tokens))
        .collect();
    let system = if options.beam <= 1 {
        "greedy".to_string()
    } else {
        format!("beam {}", options.beam)
    };
    let scores = score(&system, &captions, set, start.elapsed().as_secs_f64());
    Evaluation { scores, captions }
}

/// For each query vector, the index of the nearest of `pool` (squared Euclidean distance; the
/// first among equals).
pub fn nearest(pool: &[Vec<f32>], queries: &[Vec<f32>]) -> Vec<usize> {
    queries
        .par_iter()
        .map(|q| {
            let mut best = (f32::INFINITY, 0);
            for (i, p) in pool.iter().enumerate() {
                let d: f32 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
                if d < best.0 {
                    best = (d, i);
                }
            }
            best.1
        })
        .collect()
}

/// The nearest-neighbour baselines on `test`: each image gets the first caption of the
/// training image closest to it in pixel space and in the CNN's pooled-feature space. For an
/// ensemble the feature space is the members' pooled features side by side, each member's
/// divided by the root-mean-square norm of its features over `train`, so that every member
/// weighs alike.
pub fn baselines(
    models: &[&Captioner],
    train: &[Example],
    test: &[Example],
    size: usize,
) -> [Evaluation; 2] {
    let pixels = |set: &[Example]| -> Vec<Vec<f32>> {
        set.iter()
            .map(|e| e.pixels.iter().map(|&p| p as f32 / 255.0).collect())
            .collect()
    };
    let retrieve = |system: &str, pool: Vec<Vec<f32>>, queries: Vec<Vec<f32>>, start: Instant| {
        let captions: Vec<String> = nearest(&pool, &queries)
            .into_iter()
            .map(|i| train[i].references[0].clone())
            .collect();
        Evaluation {
            scores: score(system, &captions, test, start.elapsed().as_secs_f64()),
            captions,
        }
    };
    let start = Instant::now();
    let by_pixels = retrieve(
        "nearest neighbour, pixels",
        pixels(train),
        pixels(test),
        start,
    );
    let start = Instant::now();
    let features = |model: &Captioner, set: &[Example]| {
        let views: Vec<&[u8]> = set.iter().map(|e| e.pixels.as_slice()).collect();
        pooled_features(model, &views, size)
    };
    let (pool, queries) = if let [model] = models {
        (features(model, train), features(model, test))
    } else {
        let mut pool = vec![Vec::new(); train.len()];
        let mut queries = vec![Vec::new(); test.len()];
        for model in models {
            let member_pool = features(model, train);
            let squares: f64 = member_pool
                .iter()
                .flatten()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum();
            let rms = (squares / member_pool.len().max(1) as f64)
                .sqrt()
                .max(1e-12) as f32;
            for (all, own) in pool.iter_mut().zip(&member_pool) {
                all.extend(own.iter().map(|x| x / rms));
            }
            for (all, own) in queries.iter_mut().zip(features(model, test)) {
                all.extend(own.iter().map(|x| x / rms));
            }
        }
        (pool, queries)
    };
    let by_features = retrieve("nearest neighbour, CNN features", pool, queries, start);
    [by_pixels, by_features]
}

/// The decoding options of a config at beam width `beam`, starting from token `start`.
pub fn options(config: &ExperimentConfig, beam: usize, start: usize) -> DecodeOptions {
    DecodeOptions {
        beam,
        max_length: max_length(config),
        length_penalty: config.decode.length_penalty,
        start,
    }
}

/// Scores the test split by one captioner or an ensemble (`models`, see [`caption_pixels`])
/// with greedy decoding, beam search (`decode.beam`, when above 1) and
/// both baselines, all in caption style `decode.style`; with several caption styles also
/// greedy decoding in each other style (`greedy, style N`, its captions in
/// `test.hyp.styleN.txt`). Writes the beam captions (greedy at beam 1) to `test.hyp.txt`, the
/// references to `test.ref1.txt`, `test.ref2.txt`, ... (one stream per reference, as
/// sacreBLEU reads several; an image with fewer references repeats its first), the
/// baselines' captions to `test.nn-pixels.txt` and `test.nn-cnn.txt`, all one image a line in
/// the order of `test.images.txt`; all into the folder `out`.
pub fn evaluate_test(
    models: &[&Captioner],
    data: &Prepared,
    config: &ExperimentConfig,
    out: &Path,
) -> Result<Vec<Scores>, CaptionError> {
    let (vocab, test, size) = (&data.vocab, &data.splits[2], config.images.size);
    if test.is_empty() {
        return Err(CaptionError::Other(
            "the test split is empty: raise data.split.test or give more images".into(),
        ));
    }
    let style = config.decode.style;
    let start = style_start(vocab, style)?;
    let greedy = evaluate(models, vocab, test, size, options(config, 1, start));
    let mut scores = vec![greedy.scores.clone()];
    let mut written = greedy.captions;
    if config.decode.beam > 1 {
        let beam = evaluate(
            models,
            vocab,
            test,
            size,
            options(config, config.decode.beam, start),
        );
        scores.push(beam.scores);
        written = beam.captions;
    }
    let write = |name: &str, lines: &[String]| -> Result<(), CaptionError> {
        let path = out.join(name);
        let mut text = lines.join("\n");
        text.push('\n');
        rnnzoo_models::weights::write_atomic(&path, text.as_bytes())
            .map_err(|e| CaptionError::io(&path, e))
    };
    write("test.hyp.txt", &written)?;
    for other in (1..=vocab.styles()).filter(|&s| s != style) {
        let start = style_start(vocab, other)?;
        let mut e = evaluate(models, vocab, test, size, options(config, 1, start));
        e.scores.system = format!("greedy, style {other}");
        write(&format!("test.hyp.style{other}.txt"), &e.captions)?;
        scores.push(e.scores);
    }
    let streams = test.iter().map(|e| e.references.len()).max().unwrap_or(1);
    for k in 0..streams {
        let lines: Vec<String> = test
            .iter()
            .map(|e| e.references.get(k).unwrap_or(&e.references[0]).clone())
            .collect();
        write(&format!("test.ref{}.txt", k + 1), &lines)?;
    }
    let names: Vec<String> = test.iter().map(|e| e.name.clone()).collect();
    write("test.images.txt", &names)?;
    if !data.splits[0].is_empty() {
        let [pixels, cnn] = baselines(models, &data.splits[0], test, size);
        write("test.nn-pixels.txt", &pixels.captions)?;
        write("test.nn-cnn.txt", &cnn.captions)?;
        scores.push(pixels.scores);
        scores.push(cnn.scores);
    }
    Ok(scores)
}

/// A trained captioning run, loaded for inference on the CPU.
pub struct TrainedRun {
    /// The run's config.
    pub config: ExperimentConfig,
    /// The best (or latest) checkpoint's captioner.
    pub model: Captioner,
    /// Its vocabulary.
    pub vocab: Vocabulary,
    /// The run folder.
    pub run: RunDir,
}

/// Loads a run's config, vocabulary and best checkpoint.
pub fn load_run(run: &Path, device: &Device) -> Result<TrainedRun, CaptionError> {
    let dir = RunDir::open(run).map_err(|e| CaptionError::io(run, e))?;
    let config = rnnzoo_config::load(&dir.config(), &[])?;
    let vocab = Vocabulary::load(&dir.vocab()).map_err(CaptionError::Other)?;
    let checkpoint = Checkpoint::to_use(&dir.checkpoints()).map_err(CaptionError::Other)?;
    let model = Checkpoint::load_model(&checkpoint, captioner(&config, vocab.len(), device))?;
    style_start(&vocab, config.decode.style)?;
    Ok(TrainedRun {
        config,
        model,
        vocab,
        run: dir,
    })
}

/// One image's caption, or why it has none.
#[derive(Clone, Debug, Serialize)]
pub struct Captioned {
    /// The file as given.
    pub file: String,
    /// The caption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The caption's words.
    #[serde(skip)]
    pub words: Vec<String>,
    /// Per word (and the final `</s>`) the attention over the grid cells (row-major, `grid` x
    /// `grid`); empty without attention.
    #[serde(skip)]
    pub attention: Vec<Vec<f32>>,
    /// The image as the model saw it.
    #[serde(skip)]
    pub pixels: Vec<u8>,
    /// Why the file could not be captioned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TrainedRun {
    /// Evaluates the run's test split (as `split.json` names it), writing the captions into
    /// the run's folder.
    pub fn evaluate(&self) -> Result<Vec<Scores>, CaptionError> {
        evaluate_ensemble(std::slice::from_ref(self), &self.run.path)
    }
}

/// Checks that runs can caption together as an ensemble: one vocabulary (the same words in
/// the same order) and one image size; with `same_split`, also one split of the data, so that
/// its test split is every member's. Each mismatch names the run and what differs.
pub fn check_ensemble(runs: &[TrainedRun], same_split: bool) -> Result<(), CaptionError> {
    let Some((first, others)) = runs.split_first() else {
        return Err(CaptionError::Other(
            "an ensemble needs at least one run".into(),
        ));
    };
    let first_name = first.run.path.display();
    let split = |r: &TrainedRun| {
        let path = r.run.path.join("split.json");
        std::fs::read(&path).map_err(|e| CaptionError::io(&path, e))
    };
    let first_split = if same_split {
        split(first)?
    } else {
        Vec::new()
    };
    for other in others {
        let name = other.run.path.display();
        let differs = |what: &str, fix: &str| {
            CaptionError::Other(format!(
                "{name}: {what} differs from {first_name}'s; the members of an ensemble {fix}"
            ))
        };
        if other.vocab != first.vocab {
            return Err(differs(
                "its vocabulary (vocab.json)",
                "share one vocabulary: train them on the same data with the same data.split and data.caption_styles",
            ));
        }
        if other.config.images.size != first.config.images.size {
            return Err(differs(
                &format!("its images.size ({})", other.config.images.size),
                &format!("read images of one size ({})", first.config.images.size),
            ));
        }
        if same_split && split(other)? != first_split {
            return Err(differs(
                "its split of the data (split.json)",
                "are scored on one test split: train them with the same data.split",
            ));
        }
    }
    Ok(())
}

/// Evaluates the first run's test split by the runs as an ensemble (one run: that run alone),
/// decoding as the first run's config says, and writes the captions and references into
/// `out` (see [`evaluate_test`]).
pub fn evaluate_ensemble(runs: &[TrainedRun], out: &Path) -> Result<Vec<Scores>, CaptionError> {
    check_ensemble(runs, true)?;
    let first = &runs[0];
    let data = prepare(&first.config, &first.run, true, false)?;
    let models: Vec<&Captioner> = runs.iter().map(|r| &r.model).collect();
    evaluate_test(&models, &data, &first.config, out)
}

/// Captions image files (PNG, JPEG, SVG) by the runs as an ensemble (one run: that run
/// alone), with the first run's `decode.beam` and `decode.style` unless `beam` and `style` say
/// otherwise. A file that does not decode gets its error; the others are still captioned. A
/// style the runs do not know is an error.
pub fn caption_ensemble(
    runs: &[TrainedRun],
    files: &[PathBuf],
    beam: Option<usize>,
    style: Option<usize>,
) -> Result<Vec<Captioned>, CaptionError> {
    check_ensemble(runs, false)?;
    let first = &runs[0];
    let (config, vocab) = (&first.config, &first.vocab);
    let start = style_start(vocab, style.unwrap_or(config.decode.style))?;
    let size = config.images.size;
    let read: Vec<Result<Vec<u8>, String>> = files
        .iter()
        .map(|f| load_cached(f, size).map_err(|e| e.to_string()))
        .collect();
    let ok: Vec<&[u8]> = read
        .iter()
        .filter_map(|r| r.as_ref().ok().map(Vec::as_slice))
        .collect();
    let options = options(config, beam.unwrap_or(config.decode.beam), start);
    let models: Vec<&Captioner> = runs.iter().map(|r| &r.model).collect();
    let mut hyps = caption_pixels(&models, &ok, size, options).into_iter();
    Ok(files
        .iter()
        .zip(read)
        .map(|(f, r)| {
            let file = f.display().to_string();
            match r {
                Ok(pixels) => {
                    let h = hyps.next().expect("one caption per image");
                    Captioned {
                        file,
                        caption: Some(vocab.decode(&h.tokens)),
                        words: h.tokens.iter().map(|&t| vocab.decode(&[t])).collect(),
                        attention: h.attention,
                        pixels,
                        error: None,
                    }
                }
                Err(e) => Captioned {
                    file,
                    caption: None,
                    words: Vec::new(),
                    attention: Vec::new(),
                    pixels: Vec::new(),
                    error: Some(e),
                },
            }
        })
        .collect())
}
