//! The captioner's paired paths agree: step-by-step decoding gives the logits of the
//! teacher-forced training forward (the image as initial state or as first input, with and
//! without attention, one and two layers), beam 1 is greedy, a batch decodes as its images one
//! by one, and the image grid reaches the memory with its true shape. Every dimension has its own
//! size: images 12x12 (grid 3x3 after two blocks of 5 and 7 channels), embedding 6, hidden 11,
//! vocabulary 9, batch 3, caption lengths 4, 2 and 5.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use rnnzoo_models::attention::{AttentionDecoderConfig, AttentionKind, TargetBatch};
use rnnzoo_models::captioner::{Captioner, CaptionerConfig, ImageFeed};
use rnnzoo_models::decode::{Specials, StepDecoder, beam_search, greedy};
use rnnzoo_models::{CellKind, RecurrentConfig};

const VOCAB: usize = 9;
const SPECIALS: Specials = Specials { bos: 1, eos: 2 };

fn captioner_on(
    feed: ImageFeed,
    attention: AttentionKind,
    cell: CellKind,
    layers: usize,
    device: &Device,
) -> Captioner {
    device.seed(5);
    CaptionerConfig {
        channels: vec![5, 7],
        feed,
        decoder: AttentionDecoderConfig {
            recurrent: RecurrentConfig::new(cell, 6, 11).with_num_layers(layers),
            vocab: VOCAB,
            embedding: 6,
            memory: 0,
            attention,
            input_feeding: false,
            dropout: 0.0,
        },
    }
    .init(device)
}

fn variants_on(device: &Device) -> Vec<Captioner> {
    vec![
        captioner_on(
            ImageFeed::State,
            AttentionKind::None,
            CellKind::LSTM,
            1,
            device,
        ),
        captioner_on(
            ImageFeed::State,
            AttentionKind::General,
            CellKind::LSTM,
            2,
            device,
        ),
        captioner_on(
            ImageFeed::Input,
            AttentionKind::Bahdanau,
            CellKind::Gru,
            1,
            device,
        ),
        captioner_on(
            ImageFeed::Input,
            AttentionKind::None,
            CellKind::LSTM,
            2,
            device,
        ),
    ]
}

fn variants() -> Vec<Captioner> {
    variants_on(&Device::flex())
}

fn images() -> Tensor<4> {
    common::captioner_images()
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    common::to_host(t).values
}

#[test]
fn the_grid_becomes_the_memory_and_the_image_its_start() {
    for model in variants() {
        let e = model.encode(images());
        assert_eq!(e.memory.outputs.dims(), [3, 9, 7]);
        assert_eq!(e.pooled.dims(), [3, 7]);
        assert_eq!(e.memory.lengths, vec![9; 3]);
        let layers = model.decoder.recurrent.num_layers;
        assert_eq!(e.memory.initial.hidden.dims(), [layers, 3, 11]);
        match model.feed {
            ImageFeed::State => assert!(e.memory.first_input.is_none()),
            ImageFeed::Input => {
                assert_eq!(e.memory.first_input.as_ref().unwrap().dims(), [3, 6]);
                assert!(
                    host(e.memory.initial.hidden.clone())
                        .iter()
                        .all(|&x| x == 0.0)
                );
            }
        }
        // The state starts from the image: two images give two initial states or inputs.
        let start = match &e.memory.first_input {
            Some(x) => host(x.clone()),
            None => host(e.memory.initial.hidden.clone()),
        };
        let per = start.len() / 3;
        assert!(
            start[..per]
                .iter()
                .zip(&start[per..2 * per])
                .any(|(a, b)| (a - b).abs() > 1e-4)
        );
    }
}

#[test]
fn step_decoding_equals_the_teacher_forced_forward() {
    let device = Device::flex();
    let captions: [&[usize]; 3] = [&[4, 5, 6, 7], &[8, 3], &[3, 4, 5, 6, 8]];
    // Each row starts from its own token (a caption style's `<s2>`, ...), as training feeds it.
    let starts = [1, 3, 5];
    for model in variants() {
        let batch = TargetBatch::with_starts(&captions, &starts, 2, 0, &device);
        let e = model.encode(images());
        let attended = model
            .decoder
            .teacher_forced(&e.memory, batch.target_in.clone());
        let [b, steps, _] = attended.dims();
        let all: Vec<usize> = (0..b * steps).collect();
        let whole = host(model.decoder.logits_at(attended, &all));
        let inputs: Vec<i64> = batch
            .target_in
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .unwrap();
        let firsts: Vec<usize> = (0..b).map(|r| inputs[r * steps] as usize).collect();
        assert_eq!(firsts, starts);
        let mut decoder = StepDecoder::new(&model.decoder, &e.memory, 1);
        for t in 0..steps {
            let tokens: Vec<usize> = (0..b).map(|r| inputs[r * steps + t] as usize).collect();
            let logits = decoder.step(&tokens).to_vec();
            for r in 0..b {
                if t > captions[r].len() {
                    continue;
                }
                let want = &whole[(r * steps + t) * VOCAB..(r * steps + t + 1) * VOCAB];
                let got = &logits[r * VOCAB..(r + 1) * VOCAB];
                let d = want
                    .iter()
                    .zip(got)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f32::max);
                assert!(
                    d < 1e-4,
                    "{:?} {:?} step {t} row {r}: {d}",
                    model.feed,
                    model.decoder.kind
                );
            }
        }
    }
}

#[test]
fn beam_of_one_is_greedy_and_a_batch_decodes_as_its_images_alone() {
    for model in variants() {
        let images = images();
        let e = model.encode(images.clone());
        let lengths = [6, 4, 7];
        let g = greedy(&model.decoder, &e.memory, &lengths, SPECIALS);
        let b1 = beam_search(&model.decoder, &e.memory, &lengths, 1, 1.0, SPECIALS);
        for (x, y) in g.iter().zip(&b1) {
            assert_eq!(x.tokens, y.tokens);
            assert!((x.log_prob - y.log_prob).abs() < 1e-6);
        }
        let b3 = beam_search(&model.decoder, &e.memory, &lengths, 3, 1.0, SPECIALS);
        for i in 0..3 {
            let alone = model.encode(images.clone().narrow(0, i, 1));
            let one = greedy(&model.decoder, &alone.memory, &lengths[i..=i], SPECIALS);
            assert_eq!(one[0].tokens, g[i].tokens, "image {i} greedy");
            let one = beam_search(
                &model.decoder,
                &alone.memory,
                &lengths[i..=i],
                3,
                1.0,
                SPECIALS,
            );
            assert_eq!(one[0].tokens, b3[i].tokens, "image {i} beam");
        }
        if model.decoder.kind != AttentionKind::None {
            // One weight vector over the 9 cells per word and the final </s>.
            for h in &g {
                assert!(h.attention.iter().all(|w| w.len() == 9));
                assert!(h.attention.len() >= h.tokens.len());
            }
        }
    }
}

#[test]
fn the_weights_of_the_whole_target_forward_are_those_of_the_step_by_step_one() {
    let device = Device::flex();
    let captions: [&[usize]; 3] = [&[4, 5, 6, 7], &[8, 3], &[3, 4, 5, 6, 8]];
    let batch = TargetBatch::new(&captions, 1, 2, 0, &device);
    for model in variants() {
        let e = model.encode(images());
        let (whole, weights) = model
            .decoder
            .teacher_forced_attending(&e.memory, batch.target_in.clone());
        let (steps, step_weights) =
            model
                .decoder
                .decode_steps_attending(&e.memory, batch.target_in.clone(), None);
        assert!(common::max_abs_diff(&common::to_host(whole), &common::to_host(steps)) < 1e-5);
        match (weights, step_weights) {
            (Some(w), Some(s)) => {
                // One weight per grid cell (3x3) for each of the 6 decoder steps.
                assert_eq!(w.dims(), [3, 6, 9]);
                assert!(common::max_abs_diff(&common::to_host(w), &common::to_host(s)) < 1e-5);
            }
            (None, None) => assert_eq!(model.decoder.kind, AttentionKind::None),
            _ => panic!("one path attends and the other does not"),
        }
    }
}

#[test]
fn batch_norm_uses_batch_statistics_in_training_and_running_ones_after() {
    let train = Device::flex().autodiff();
    let model_ad = captioner_on(
        ImageFeed::State,
        AttentionKind::None,
        CellKind::LSTM,
        1,
        &train,
    );
    let before = host(model_ad.cnn.blocks[0].norm.running_mean.value_sync());
    train.seed(9);
    let _ = model_ad.encode(Tensor::random(
        [3, 3, 12, 12],
        Distribution::Uniform(0.0, 1.0),
        &train,
    ));
    let after = host(model_ad.cnn.blocks[0].norm.running_mean.value_sync());
    assert!(before.iter().zip(&after).any(|(a, b)| (a - b).abs() > 1e-6));
    // On the inference device the running statistics are read, not updated.
    let inference = model_ad.valid();
    let _ = inference.encode(images());
    assert_eq!(
        host(inference.cnn.blocks[0].norm.running_mean.value_sync()),
        after
    );
}

#[test]
fn the_loss_reaches_the_cnn_through_the_initial_state_and_the_first_input() {
    let device = Device::flex().autodiff();
    let captions: [&[usize]; 3] = [&[4, 5, 6, 7], &[8, 3], &[3, 4, 5, 6, 8]];
    for model in variants_on(&device) {
        let batch = TargetBatch::new(&captions, 1, 2, 0, &device);
        let e = model.encode(images().fork(&device));
        let attended = model.decoder.teacher_forced(&e.memory, batch.target_in);
        let logits = model.decoder.logits_at(attended, &batch.rows);
        let loss = rnnzoo_models::cross_entropy(logits, batch.targets);
        let grads = loss.backward();
        let norm = |g: Option<Tensor<2>>| {
            host(g.expect("a gradient"))
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
        };
        let w = norm(model.image.weight.grad(&grads));
        assert!(
            w > 1e-8,
            "{:?} {:?}: |dL/dW_g|^2 = {w}",
            model.feed,
            model.decoder.kind
        );
        let conv = model.cnn.blocks[0]
            .conv
            .weight
            .grad(&grads)
            .expect("conv gradient");
        let c: f32 = host(conv).iter().map(|x| x * x).sum();
        assert!(
            c > 1e-10,
            "{:?} {:?}: |dL/dconv|^2 = {c}",
            model.feed,
            model.decoder.kind
        );
    }
}
