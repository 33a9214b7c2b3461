//! Ensemble decoding agrees with the paths it is made of: one member decodes exactly as that
//! model alone, two copies of a model as the model, and two different captioners choose each
//! word by the normalised mean of their log-probabilities, as their teacher-forced training
//! forwards compute it. Every dimension has its own size: images 12x12, grids 3x3 (blocks of 5
//! and 7 channels in one member, 4 and 8 in the other), embedding 6 and 5, hidden 11 and 10,
//! vocabulary 9, batch 3.

mod common;

use burn::tensor::{Device, Tensor};
use rnnzoo_models::attention::TargetBatch;
use rnnzoo_models::attention::{AttentionDecoder, AttentionDecoderConfig, AttentionKind, Memory};
use rnnzoo_models::captioner::{Captioner, CaptionerConfig, ImageFeed};
use rnnzoo_models::decode::{
    EnsembleDecoder, Hypothesis, Specials, beam_search, beam_search_started, greedy, greedy_started,
};
use rnnzoo_models::{CellKind, RecurrentConfig};

const VOCAB: usize = 9;
const SPECIALS: Specials = Specials { bos: 1, eos: 2 };
const PAD: usize = 0;

fn captioner(
    seed: u64,
    channels: [usize; 2],
    (cell, embedding, hidden): (CellKind, usize, usize),
    attention: AttentionKind,
    feed: ImageFeed,
) -> Captioner {
    let device = Device::flex();
    device.seed(seed);
    CaptionerConfig {
        channels: channels.to_vec(),
        feed,
        decoder: AttentionDecoderConfig {
            recurrent: RecurrentConfig::new(cell, embedding, hidden),
            vocab: VOCAB,
            embedding,
            memory: 0,
            attention,
            input_feeding: false,
            dropout: 0.0,
        },
    }
    .init(&device)
}

fn first() -> Captioner {
    captioner(
        5,
        [5, 7],
        (CellKind::LSTM, 6, 11),
        AttentionKind::General,
        ImageFeed::State,
    )
}

fn second() -> Captioner {
    captioner(
        8,
        [4, 8],
        (CellKind::Gru, 5, 10),
        AttentionKind::Bahdanau,
        ImageFeed::Input,
    )
}

fn images() -> Tensor<4> {
    common::captioner_images()
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    common::to_host(t).values
}

const LENGTHS: [usize; 3] = [6, 4, 7];

/// Greedy (`beam` 1) or beam search by `models` as an ensemble.
fn ensemble(models: &[&Captioner], beam: usize) -> Vec<Hypothesis> {
    let decoders: Vec<&AttentionDecoder> = models.iter().map(|m| &m.decoder).collect();
    let memories: Vec<Memory> = models.iter().map(|m| m.encode(images()).memory).collect();
    let mut decoder = EnsembleDecoder::with_capacity(&decoders, 3 * beam);
    decoder.start(&decoders, &memories);
    let sources = memories[0].lengths.clone();
    if beam == 1 {
        greedy_started(&mut decoder, &sources, true, &LENGTHS, SPECIALS)
    } else {
        beam_search_started(&mut decoder, &sources, true, &LENGTHS, beam, 1.0, SPECIALS)
    }
}

#[test]
fn one_member_decodes_exactly_as_the_model_alone() {
    let model = first();
    let memory = model.encode(images()).memory;
    let alone = greedy(&model.decoder, &memory, &LENGTHS, SPECIALS);
    assert_eq!(ensemble(&[&model], 1), alone);
    let alone = beam_search(&model.decoder, &memory, &LENGTHS, 3, 1.0, SPECIALS);
    assert_eq!(ensemble(&[&model], 3), alone);
}

#[test]
fn two_copies_of_a_model_decode_as_the_model() {
    let model = first();
    let memory = model.encode(images()).memory;
    for beam in [1, 3] {
        let alone = beam_search(&model.decoder, &memory, &LENGTHS, beam, 1.0, SPECIALS);
        for (pair, one) in ensemble(&[&model, &model], beam).iter().zip(&alone) {
            assert_eq!(pair.tokens, one.tokens, "beam {beam}");
            assert!((pair.log_prob - one.log_prob).abs() < 1e-4, "beam {beam}");
            // The members' mean attention is each one's own.
            for (a, b) in pair.attention.iter().zip(&one.attention) {
                assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6));
            }
        }
    }
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    row.iter().map(|&x| x as f64 - max - sum.ln()).collect()
}

#[test]
fn two_captioners_choose_each_word_by_their_mean_log_probability() {
    let (a, b) = (first(), second());
    let hyps = ensemble(&[&a, &b], 1);
    assert_eq!(ensemble(&[&a, &b], 3).len(), 3);
    // Each member's teacher-forced log-probabilities along the ensemble's captions.
    let captions: Vec<&[usize]> = hyps.iter().map(|h| h.tokens.as_slice()).collect();
    let starts = [SPECIALS.bos; 3];
    let device = Device::flex();
    let member = |m: &Captioner| -> (Vec<f32>, usize) {
        let batch = TargetBatch::with_starts(&captions, &starts, SPECIALS.eos, PAD, &device);
        let attended = m
            .decoder
            .teacher_forced(&m.encode(images()).memory, batch.target_in);
        let [rows, steps, _] = attended.dims();
        let all: Vec<usize> = (0..rows * steps).collect();
        (host(m.decoder.logits_at(attended, &all)), steps)
    };
    let ((la, steps), (lb, _)) = (member(&a), member(&b));
    let mut disagreements = 0;
    for (r, h) in hyps.iter().enumerate() {
        let ended = h.tokens.len() < LENGTHS[r];
        let chosen: Vec<usize> = h
            .tokens
            .iter()
            .copied()
            .chain(ended.then_some(SPECIALS.eos))
            .collect();
        let mut log_prob = 0.0;
        for (t, &word) in chosen.iter().enumerate() {
            let at = (r * steps + t) * VOCAB;
            let (pa, pb) = (
                log_softmax(&la[at..at + VOCAB]),
                log_softmax(&lb[at..at + VOCAB]),
            );
            let mean: Vec<f32> = pa
                .iter()
                .zip(&pb)
                .map(|(x, y)| ((x + y) / 2.0) as f32)
                .collect();
            let combined = log_softmax(&mean);
            let argmax = |p: &[f64]| {
                (0..VOCAB)
                    .max_by(|&i, &j| p[i].total_cmp(&p[j]).then(j.cmp(&i)))
                    .unwrap()
            };
            assert_eq!(argmax(&combined), word, "image {r} step {t}");
            disagreements += usize::from(argmax(&pa) != argmax(&pb));
            log_prob += combined[word];
        }
        assert!(
            (h.log_prob - log_prob).abs() < 1e-3,
            "image {r}: {} against {log_prob}",
            h.log_prob
        );
    }
    // The members disagree on some word, so the combination decided it.
    assert!(disagreements > 0);
}
