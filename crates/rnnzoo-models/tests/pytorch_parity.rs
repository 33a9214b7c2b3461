//! Parity with PyTorch's `nn.RNN`, `nn.LSTM` and `nn.GRU`: outputs, final states and gradients
//! of inputs, initial states and weights, from fixtures written by `scripts/make_fixtures.py`.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use burn::tensor::Tensor;
use common::*;
use rnnzoo_models::weights::{HostTensor, load_pytorch_state, read_safetensors};
use rnnzoo_models::{CellKind, RecurrentConfig, RnnActivation};

const TOLERANCE: f32 = 1e-5;

struct Fixture {
    tensors: HashMap<String, HostTensor>,
    meta: HashMap<String, String>,
}

fn load(name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.safetensors"));
    let tensors = read_safetensors(&path).expect("fixture reads");
    let bytes = std::fs::read(&path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().expect("fixture metadata");
    Fixture { tensors, meta }
}

fn check(name: &str) {
    let fx = load(name);
    let t = |k: &str| &fx.tensors[k];
    let cell = match fx.meta["mode"].as_str() {
        "rnn_tanh" => CellKind::Rnn(RnnActivation::Tanh),
        "rnn_relu" => CellKind::Rnn(RnnActivation::Relu),
        "lstm" => CellKind::LSTM,
        "gru" => CellKind::Gru,
        other => panic!("unknown mode {other}"),
    };
    let layers: usize = fx.meta["num_layers"].parse().unwrap();
    let bidirectional = fx.meta["bidirectional"] == "true";
    let lengths: Option<Vec<usize>> = (!fx.meta["lengths"].is_empty()).then(|| {
        fx.meta["lengths"]
            .split(',')
            .map(|s| s.parse().unwrap())
            .collect()
    });
    let input_size = t("x").shape[2];
    let hidden = t("h0").shape[2];

    let dev = device();
    let layer = RecurrentConfig::new(cell, input_size, hidden)
        .with_num_layers(layers)
        .with_bidirectional(bidirectional)
        .init(&dev);
    let layer = load_pytorch_state(layer, &fx.tensors, "param.").expect("weights load");

    let x: Tensor<3> = to_tensor::<3>(t("x"), &dev).require_grad();
    let h0: Tensor<3> = to_tensor::<3>(t("h0"), &dev).require_grad();
    let c0: Option<Tensor<3>> = fx
        .tensors
        .get("c0")
        .map(|c| to_tensor::<3>(c, &dev).require_grad());
    let state = rnnzoo_models::RecurrentState {
        hidden: h0.clone(),
        cell: c0.clone(),
    };
    let (out, fin) = layer.forward(x.clone(), Some(state), lengths.as_deref());

    assert_close(
        &format!("{name} out"),
        &to_host(out.clone()),
        t("out"),
        TOLERANCE,
    );
    assert_close(
        &format!("{name} h_n"),
        &to_host(fin.hidden.clone()),
        t("h_n"),
        TOLERANCE,
    );
    let mut loss = (out * to_tensor::<3>(t("loss_w_out"), &dev)).sum()
        + (fin.hidden * to_tensor::<3>(t("loss_w_h"), &dev)).sum();
    if let Some(c_n) = fin.cell {
        assert_close(
            &format!("{name} c_n"),
            &to_host(c_n.clone()),
            t("c_n"),
            TOLERANCE,
        );
        loss = loss + (c_n * to_tensor::<3>(t("loss_w_c"), &dev)).sum();
    }
    let grads = loss.backward();
    assert_close(
        &format!("{name} grad x"),
        &to_host(x.grad(&grads).unwrap()),
        t("grad.x"),
        TOLERANCE,
    );
    assert_close(
        &format!("{name} grad h0"),
        &to_host(h0.grad(&grads).unwrap()),
        t("grad.h0"),
        TOLERANCE,
    );
    if let Some(c0) = c0 {
        assert_close(
            &format!("{name} grad c0"),
            &to_host(c0.grad(&grads).unwrap()),
            t("grad.c0"),
            TOLERANCE,
        );
    }
    let ours = param_grads(&layer, &grads);
    let expected: Vec<_> = fx
        .tensors
        .keys()
        .filter(|k| k.starts_with("grad.") && k.contains("_l"))
        .collect();
    assert_eq!(
        ours.len(),
        expected.len(),
        "{name}: one gradient per PyTorch parameter"
    );
    for (key, grad) in &ours {
        assert_close(
            &format!("{name} grad {key}"),
            grad,
            t(&format!("grad.{key}")),
            TOLERANCE,
        );
    }
}

macro_rules! parity {
    ($($name:ident),* $(,)?) => { $( #[test] fn $name() { check(stringify!($name)); } )* };
}

parity!(
    rnn_tanh_1layer,
    rnn_relu_2layer_bi,
    lstm_1layer,
    lstm_2layer_bi,
    gru_1layer,
    gru_2layer_bi,
    rnn_tanh_padded_bi,
    lstm_padded_bi,
    gru_padded_bi,
    lstm_padded_uni,
);
