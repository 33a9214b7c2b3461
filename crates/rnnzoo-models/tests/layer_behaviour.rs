//! Behaviour of the layer API: padding invariance, state carry-over, layouts, dropout, weight
//! round trips, initialisation and global gradient clipping.

mod common;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor};
use common::*;
use rnnzoo_models::weights::{load_safetensors, save_safetensors};
use rnnzoo_models::{CellKind, RecurrentConfig, RnnActivation, clip_grad_norm, grad_norm};

const ALL_CELLS: [CellKind; 7] = [
    CellKind::Rnn(RnnActivation::Tanh),
    CellKind::Rnn(RnnActivation::Relu),
    CellKind::Lstm {
        peephole: false,
        coupled: false,
    },
    CellKind::Lstm {
        peephole: true,
        coupled: false,
    },
    CellKind::Lstm {
        peephole: false,
        coupled: true,
    },
    CellKind::Lstm {
        peephole: true,
        coupled: true,
    },
    CellKind::Gru,
];

fn randn<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

#[test]
fn padded_batch_equals_each_sequence_alone() {
    let dev = Device::flex();
    let lengths = [5, 2, 4];
    for (n, cell) in ALL_CELLS.into_iter().enumerate() {
        dev.seed(10 + n as u64);
        let layer = RecurrentConfig::new(cell, 3, 4)
            .with_num_layers(2)
            .with_bidirectional(true)
            .init(&dev);
        // Padding holds large garbage: it must change nothing.
        let x = randn([3, 5, 3], &dev);
        let mut padded = x.clone();
        for (b, &len) in lengths.iter().enumerate() {
            if len < 5 {
                padded = padded.slice_assign(
                    [b..b + 1, len..5, 0..3],
                    Tensor::ones([1, 5 - len, 3], &dev).mul_scalar(50.0),
                );
            }
        }
        let (out, state) = layer.forward(padded, None, Some(&lengths));
        for (b, &len) in lengths.iter().enumerate() {
            let alone = x.clone().slice([b..b + 1, 0..len, 0..3]);
            let (out_alone, state_alone) = layer.forward(alone, None, None);
            let got = out.clone().slice([b..b + 1, 0..len, 0..8]);
            assert_close(
                &format!("{cell:?} seq {b} outputs"),
                &to_host(got),
                &to_host(out_alone),
                1e-6,
            );
            if len < 5 {
                let pad = out.clone().slice([b..b + 1, len..5, 0..8]);
                assert_eq!(
                    to_host(pad)
                        .values
                        .iter()
                        .map(|v| v.abs())
                        .fold(0.0, f32::max),
                    0.0,
                    "padded outputs are zero"
                );
            }
            let h = state.hidden.clone().slice([0..4, b..b + 1, 0..4]);
            assert_close(
                &format!("{cell:?} seq {b} h_n"),
                &to_host(h),
                &to_host(state_alone.hidden),
                1e-6,
            );
            if let (Some(c), Some(c_alone)) = (state.cell.clone(), state_alone.cell) {
                let c = c.slice([0..4, b..b + 1, 0..4]);
                assert_close(
                    &format!("{cell:?} seq {b} c_n"),
                    &to_host(c),
                    &to_host(c_alone),
                    1e-6,
                );
            }
        }
    }
}

#[test]
fn carried_state_over_two_halves_equals_the_whole() {
    let dev = Device::flex();
    for (n, cell) in ALL_CELLS.into_iter().enumerate() {
        dev.seed(20 + n as u64);
        let layer = RecurrentConfig::new(cell, 3, 5)
            .with_num_layers(2)
            .init(&dev);
        let x = randn([2, 8, 3], &dev);
        let (whole, whole_state) = layer.forward(x.clone(), None, None);
        let (first, mid) = layer.forward(x.clone().slice([0..2, 0..3, 0..3]), None, None);
        let (second, end) = layer.forward(x.slice([0..2, 3..8, 0..3]), Some(mid.detach()), None);
        let joined = Tensor::cat(vec![first, second], 1);
        assert_close(
            &format!("{cell:?} outputs"),
            &to_host(joined),
            &to_host(whole),
            1e-6,
        );
        assert_close(
            &format!("{cell:?} h_n"),
            &to_host(end.hidden),
            &to_host(whole_state.hidden),
            1e-6,
        );
        if let (Some(a), Some(b)) = (end.cell, whole_state.cell) {
            assert_close(&format!("{cell:?} c_n"), &to_host(a), &to_host(b), 1e-6);
        }
    }
}

#[test]
fn zeroing_a_row_of_the_state_restarts_only_that_sequence() {
    let dev = Device::flex();
    for (n, cell) in ALL_CELLS.into_iter().enumerate() {
        dev.seed(40 + n as u64);
        let layer = RecurrentConfig::new(cell, 3, 5)
            .with_num_layers(2)
            .init(&dev);
        let x = randn([3, 6, 3], &dev);
        let (_, carried) = layer.forward(randn([3, 4, 3], &dev), None, None);
        let (out, _) = layer.forward(x.clone(), Some(carried.clone().zero_rows(&[1])), None);
        let (fresh, _) = layer.forward(x.clone(), None, None);
        let (kept, _) = layer.forward(x, Some(carried), None);
        let row = |t: &Tensor<3>, b: usize| to_host(t.clone().slice([b..b + 1, 0..6, 0..5]));
        assert_close(
            &format!("{cell:?} reset row"),
            &row(&out, 1),
            &row(&fresh, 1),
            1e-6,
        );
        for b in [0, 2] {
            assert_close(
                &format!("{cell:?} kept row"),
                &row(&out, b),
                &row(&kept, b),
                1e-6,
            );
        }
    }
}

#[test]
fn time_major_layout_matches_batch_first() {
    let dev = Device::flex();
    dev.seed(30);
    let config = RecurrentConfig::new(CellKind::Gru, 3, 4).with_bidirectional(true);
    let batch_first = config.init(&dev);
    let mut time_major = batch_first.clone();
    time_major.batch_first = false;
    let x = randn([2, 6, 3], &dev);
    let (a, _) = batch_first.forward(x.clone(), None, Some(&[6, 3]));
    let (b, _) = time_major.forward(x.swap_dims(0, 1), None, Some(&[6, 3]));
    assert_close(
        "layouts",
        &to_host(a),
        &to_host(b.swap_dims(0, 1)),
        0.0 + 1e-7,
    );
}

#[test]
fn dropout_acts_between_layers_in_training_only() {
    let ad = device();
    ad.seed(40);
    let one_layer = RecurrentConfig::new(CellKind::LSTM, 3, 4)
        .with_dropout(0.5)
        .init(&ad);
    let x = randn([2, 5, 3], &ad);
    // No layer follows the only layer: no dropout even in training.
    let (a, _) = one_layer.forward(x.clone(), None, None);
    let (b, _) = one_layer.valid().forward(x.clone().inner(), None, None);
    assert_close("single layer", &to_host(a), &to_host(b), 1e-7);

    let two = RecurrentConfig::new(CellKind::LSTM, 3, 4)
        .with_num_layers(2)
        .with_dropout(0.5)
        .init(&ad);
    let (train1, _) = two.forward(x.clone(), None, None);
    let (train2, _) = two.forward(x.clone(), None, None);
    assert!(
        max_abs_diff(&to_host(train1), &to_host(train2)) > 1e-4,
        "training runs draw different masks"
    );
    let eval = two.valid();
    let (e1, _) = eval.forward(x.clone().inner(), None, None);
    let (e2, _) = eval.forward(x.inner(), None, None);
    assert_eq!(to_host(e1), to_host(e2), "evaluation is deterministic");
}

#[test]
fn safetensors_round_trip_restores_every_weight() {
    let dev = Device::flex();
    let dir = std::env::temp_dir().join(format!("rnnzoo-models-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (n, cell) in ALL_CELLS.into_iter().enumerate() {
        dev.seed(50 + n as u64);
        let config = RecurrentConfig::new(cell, 3, 4)
            .with_num_layers(2)
            .with_bidirectional(true);
        let original = config.init(&dev);
        let path = dir.join(format!("{}.safetensors", cell.name()));
        save_safetensors(&original, "rnn.", &path).unwrap();
        let fresh = config.init(&dev);
        let x = randn([2, 5, 3], &dev);
        let (before, _) = fresh.forward(x.clone(), None, None);
        let loaded = load_safetensors(fresh, "rnn.", &path).unwrap();
        let (want, _) = original.forward(x.clone(), None, None);
        let (got, _) = loaded.forward(x, None, None);
        assert!(
            max_abs_diff(&to_host(before), &to_host(want.clone())) > 1e-3,
            "fresh weights differ"
        );
        assert_eq!(
            to_host(got),
            to_host(want),
            "{cell:?}: loaded layer is identical"
        );
    }
    // A file for another architecture is refused with the tensor's name.
    let lstm_file = dir.join("lstm.safetensors");
    let gru = RecurrentConfig::new(CellKind::Gru, 3, 4)
        .with_num_layers(2)
        .with_bidirectional(true)
        .init(&dev);
    let err = load_safetensors(gru, "rnn.", &lstm_file)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rnn.weight_ih_l0") && err.contains("[16, 3]"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn forget_bias_opens_the_forget_path() {
    let dev = Device::flex();
    let k = 1.0 / 8f32.sqrt();
    let lstm = RecurrentConfig::new(CellKind::LSTM, 3, 8)
        .with_forget_bias(1.0)
        .init(&dev);
    let b = to_host(lstm.cells[0].bias_ih.as_ref().unwrap().val()).values;
    assert!(
        b[8..16].iter().all(|&v| (1.0 - k..=1.0 + k).contains(&v)),
        "forget block shifted by +1"
    );
    assert!(
        b[0..8].iter().chain(&b[16..32]).all(|&v| v.abs() <= k),
        "other gates untouched"
    );
    let coupled = RecurrentConfig::new(
        CellKind::Lstm {
            peephole: false,
            coupled: true,
        },
        3,
        8,
    )
    .init(&dev);
    let b = to_host(coupled.cells[0].bias_ih.as_ref().unwrap().val()).values;
    assert!(
        b[0..8].iter().all(|&v| (-1.0 - k..=-1.0 + k).contains(&v)),
        "coupled: input gate shifted by -1"
    );
}

#[test]
fn global_gradient_clipping_scales_all_gradients_together() {
    let dev = device();
    dev.seed(60);
    let layer = RecurrentConfig::new(CellKind::Gru, 3, 4)
        .with_num_layers(2)
        .init(&dev);
    let x = randn([2, 5, 3], &dev);
    let (out, _) = layer.forward(x, None, None);
    let grads = GradientsParams::from_grads(
        out.powf_scalar(2.0).sum().mul_scalar(10.0).backward(),
        &layer,
    );
    let weight_id = layer.cells[0].weight_hh.id;
    let before = grads.get::<2>(weight_id).unwrap();
    let mut manual = 0.0f64;
    for cell in &layer.cells {
        for id in [cell.weight_ih.id, cell.weight_hh.id] {
            manual += grads
                .get::<2>(id)
                .unwrap()
                .square()
                .sum()
                .into_scalar::<f32>() as f64;
        }
        for b in [&cell.bias_ih, &cell.bias_hh] {
            manual += grads
                .get::<1>(b.as_ref().unwrap().id)
                .unwrap()
                .square()
                .sum()
                .into_scalar::<f32>() as f64;
        }
    }
    let norm = grad_norm(&layer, &grads);
    assert!(
        (norm - manual.sqrt()).abs() < 1e-3 * norm,
        "norm {norm} vs {}",
        manual.sqrt()
    );
    let mut clipped = grads;
    let max_norm = norm / 4.0;
    assert_eq!(clip_grad_norm(&layer, &mut clipped, max_norm), norm);
    let after_norm = grad_norm(&layer, &clipped);
    assert!(
        (after_norm - max_norm).abs() < 1e-4 * max_norm,
        "clipped norm {after_norm} vs {max_norm}"
    );
    let after = clipped.get::<2>(weight_id).unwrap();
    let factor = (max_norm / (norm + 1e-6)) as f32;
    assert_close(
        "scaled uniformly",
        &to_host(after),
        &to_host(before.mul_scalar(factor)),
        1e-6,
    );
    // Below the threshold nothing changes.
    let untouched = clip_grad_norm(&layer, &mut clipped, 10.0 * norm);
    assert!((untouched - max_norm).abs() < 1e-4 * max_norm);
}
