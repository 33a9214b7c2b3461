//! Step-by-step inference (`Recurrent::stepper`, `TokenDecoder`) against the whole-sequence
//! forward: same outputs, states and logits at every step, for every cell, stacked, batched.

mod common;

use burn::nn::{EmbeddingConfig, LinearConfig};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use common::*;
use rnnzoo_models::{CellKind, RecurrentConfig, RnnActivation, TokenDecoder, linear};

const TOLERANCE: f32 = 2e-5;

fn cells() -> [CellKind; 7] {
    [
        CellKind::Rnn(RnnActivation::Tanh),
        CellKind::Rnn(RnnActivation::Relu),
        CellKind::LSTM,
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
    ]
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    to_host(t).values
}

fn close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let err = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        err < TOLERANCE,
        "{what}: max abs error {err:e} >= {TOLERANCE:e}"
    );
}

fn randn<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

#[test]
fn stepping_a_stack_gives_the_whole_sequence_outputs_and_states() {
    let device = device();
    let (batch, steps, input, hidden) = (3, 5, 4, 6);
    for cell in cells() {
        let layer = RecurrentConfig::new(cell, input, hidden)
            .with_num_layers(2)
            .init(&device);
        // Start from a non-zero state so `set_state` is exercised too.
        let h0 = randn([2, batch, hidden], &device);
        let c0 = cell
            .has_cell_state()
            .then(|| randn([2, batch, hidden], &device));
        let initial = rnnzoo_models::RecurrentState {
            hidden: h0.clone(),
            cell: c0.clone(),
        };
        let x = randn([batch, steps, input], &device);
        let (out, last) = layer.forward(x.clone(), Some(initial), None);
        let out = values(out);

        let mut stepper = layer.stepper(batch);
        let (h0, c0) = (values(h0), c0.map(values).unwrap_or_default());
        let per_layer = batch * hidden;
        for l in 0..2 {
            let rows = l * per_layer..(l + 1) * per_layer;
            let c = if c0.is_empty() {
                &[][..]
            } else {
                &c0[rows.clone()]
            };
            stepper.set_state(l, &h0[rows], c);
        }
        let xs = values(x);
        for t in 0..steps {
            let x_t: Vec<f32> = (0..batch)
                .flat_map(|b| xs[(b * steps + t) * input..(b * steps + t + 1) * input].to_vec())
                .collect();
            let h_t = stepper.step(&x_t).to_vec();
            let expected: Vec<f32> = (0..batch)
                .flat_map(|b| out[(b * steps + t) * hidden..(b * steps + t + 1) * hidden].to_vec())
                .collect();
            close(&format!("{} step {t}", cell.name()), &h_t, &expected);
        }
        let final_h: Vec<f32> = (0..2).flat_map(|l| stepper.state(l).0.to_vec()).collect();
        close("h_n", &final_h, &values(last.hidden));
        if let Some(c) = last.cell {
            let final_c: Vec<f32> = (0..2).flat_map(|l| stepper.state(l).1.to_vec()).collect();
            close("c_n", &final_c, &values(c));
        }
        stepper.reset();
        assert!(stepper.state(1).0.iter().all(|&v| v == 0.0));
    }
}

#[test]
fn a_token_decoder_gives_the_models_logits_and_carries_its_state() {
    let device = device();
    let (vocab, embedding_size, hidden, steps) = (11, 5, 7, 6);
    // Batch 2 reads the weights in place, batch 6 packs them: both paths are covered.
    for batch in [2, 6] {
        for cell in [CellKind::LSTM, CellKind::Gru] {
            let embedding = EmbeddingConfig::new(vocab, embedding_size).init(&device);
            let rnn = RecurrentConfig::new(cell, embedding_size, hidden)
                .with_num_layers(2)
                .init(&device);
            let head = LinearConfig::new(hidden, vocab).init(&device);
            let ids: Vec<i64> = (0..batch * steps)
                .map(|i| ((i * 7 + 3) % vocab) as i64)
                .collect();
            let tokens =
                Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [batch, steps]), &device);
            let (hidden_out, state) = rnn.forward(embedding.forward(tokens), None, None);
            let logits = values(linear(&head, hidden_out));

            let mut decoder = TokenDecoder::with_linear(&embedding, &rnn, &head, batch);
            assert_eq!(decoder.vocab_size(), vocab);
            for t in 0..steps {
                let row: Vec<usize> = (0..batch).map(|b| ids[b * steps + t] as usize).collect();
                let got = decoder.step(&row).to_vec();
                let expected: Vec<f32> = (0..batch)
                    .flat_map(|b| {
                        logits[(b * steps + t) * vocab..(b * steps + t + 1) * vocab].to_vec()
                    })
                    .collect();
                close(&format!("logits at step {t}"), &got, &expected);
            }
            let carried = decoder.state(&device);
            close(
                "decoder state",
                &values(carried.hidden.clone()),
                &values(state.hidden.clone()),
            );
            // Restoring a state and stepping again gives the same logits as before.
            let probe = [1usize; 16];
            let first = decoder.step(&probe[..batch]).to_vec();
            decoder.reset();
            decoder.set_state(&carried);
            let again = decoder.step(&probe[..batch]).to_vec();
            assert_eq!(first, again);
        }
    }
}

/// The decoder's logits against the whole-sequence forward's at every step, for every cell, 1 to
/// 3 layers, an embedding smaller and larger than the hidden size, few rows (weights read in
/// place) and more (packed), and tied output weights. Every dimension has its own size, so a
/// swapped or transposed one cannot pass.
#[test]
fn the_decoder_equals_the_forward_for_every_cell_depth_size_and_batch() {
    let device = device();
    let (vocab, steps) = (11, 9);
    for cell in cells() {
        for layers in 1..=3 {
            // (embedding, hidden): input narrower than the state, wider, and equal (tied).
            for (embedding_size, hidden, tied) in [(5, 13, false), (17, 7, false), (13, 13, true)] {
                for batch in [3, 6] {
                    let what = format!(
                        "{} x{layers} E{embedding_size} H{hidden} B{batch}{}",
                        cell.name(),
                        if tied { " tied" } else { "" }
                    );
                    let embedding = EmbeddingConfig::new(vocab, embedding_size).init(&device);
                    let rnn = RecurrentConfig::new(cell, embedding_size, hidden)
                        .with_num_layers(layers)
                        .init(&device);
                    let head = LinearConfig::new(hidden, vocab).init(&device);
                    let bias = randn([vocab], &device);
                    let ids: Vec<i64> = (0..batch * steps)
                        .map(|i| ((i * 7 + i / 5 + 3) % vocab) as i64)
                        .collect();
                    let tokens = Tensor::<2, Int>::from_data(
                        TensorData::new(ids.clone(), [batch, steps]),
                        &device,
                    );
                    let (hidden_out, _) = rnn.forward(embedding.forward(tokens), None, None);
                    let (logits, mut decoder) = if tied {
                        let weight = embedding.weight.val().transpose();
                        (
                            values(rnnzoo_models::dense(
                                hidden_out,
                                weight.clone(),
                                Some(bias.clone()),
                            )),
                            TokenDecoder::new(&embedding, &rnn, weight, Some(bias), batch),
                        )
                    } else {
                        (
                            values(linear(&head, hidden_out)),
                            TokenDecoder::with_linear(&embedding, &rnn, &head, batch),
                        )
                    };
                    for t in 0..steps {
                        let row: Vec<usize> =
                            (0..batch).map(|b| ids[b * steps + t] as usize).collect();
                        let got = decoder.step(&row).to_vec();
                        let expected: Vec<f32> = (0..batch)
                            .flat_map(|b| {
                                logits[(b * steps + t) * vocab..(b * steps + t + 1) * vocab]
                                    .to_vec()
                            })
                            .collect();
                        close(&format!("{what} step {t}"), &got, &expected);
                    }
                }
            }
        }
    }
}

/// Dropping and repeating rows mid-sequence (`gather_rows`, as beam search and finished
/// sentences do) leaves each remaining row on the path a stepper of that row alone takes.
#[test]
fn gathered_rows_continue_as_their_own_sequences() {
    let device = device();
    let (capacity, first_rows, steps, input, hidden) = (5, 4, 6, 7, 13);
    let gather_at = 2;
    let from = [3, 1, 1];
    for cell in cells() {
        let layer = RecurrentConfig::new(cell, input, hidden)
            .with_num_layers(2)
            .init(&device);
        // Inputs [row, t, I] of the first rows; after the gather row r reads row from[r]'s.
        let xs = values(randn([first_rows, steps, input], &device));
        let x_of = |row: usize, t: usize| xs[(row * steps + t) * input..][..input].to_vec();
        let mut stepper = layer.stepper(capacity);
        stepper.set_rows(first_rows);
        assert_eq!(stepper.rows(), first_rows);
        let mut batched: Vec<Vec<f32>> = Vec::new();
        let mut rows: Vec<usize> = (0..first_rows).collect();
        for t in 0..steps {
            if t == gather_at {
                stepper.gather_rows(&from);
                rows = from.iter().map(|&f| rows[f]).collect();
            }
            let x: Vec<f32> = rows.iter().flat_map(|&r| x_of(r, t)).collect();
            batched.push(stepper.step(&x).to_vec());
        }
        for (r, &row) in rows.iter().enumerate() {
            let mut alone = layer.stepper(1);
            let mut h = Vec::new();
            for t in 0..steps {
                h = alone.step(&x_of(row, t)).to_vec();
            }
            let got = &batched[steps - 1][r * hidden..(r + 1) * hidden];
            close(&format!("{} gathered row {r}", cell.name()), got, &h);
        }
    }
}
