//! Speed benchmark configs mirroring `torch_rnn_bench.py` (read its docstring for the exact
//! definitions):
//!
//! | key | name | what one step is |
//! |---|---|---|
//! | a | `lstm_lm_train` | word LM Emb(10000,256) -> 2x LSTM(256) -> Linear(256,10000), CE, backward, clip 0.25, Adam; B32 T35 |
//! | b | `gru_lm_train` | the same with GRU |
//! | c | `bilstm_cls_train` | Emb(20000,128) -> BiLSTM(128) -> mean over time -> Linear(256,2), CE, backward, Adam; B64 T128 |
//! | d | `lstm_layer_fwd_bwd` | LSTM(512,512) on [32,100,512] (input requires grad), forward + backward of `out.sum()` |
//! | e | `char_gen_infer` | Emb(96,128) -> 2x LSTM(512) -> Linear(512,96), batch 1, sampling 1000 chars one step at a time |
//! | f | `seq2seq_train` | GRU encoder-decoder (Emb 8000x256, GRU 256), teacher forcing, B32, 20 -> 20, CE, backward, Adam |
//! | g | `attn_seq2seq_train` | `rnnzoo_translate::model::Seq2Seq`: BiLSTM(256) encoder, bridge, LSTM(512) decoder, Luong general attention, B32, source lengths 16..30 (padding masked), 30 target tokens, CE, backward, clip 1.0, Adam |
//! | i | `caption_train` | `rnnzoo_models::captioner::Captioner`: [64, 3, 64, 64] images -> 3 x (conv3x3, BatchNorm, ReLU, maxpool 2) with 32/64/128 channels -> mean -> Linear(128, 512) -> tanh = h0 (c0 = 0); Emb(2000, 256) -> LSTM(512) -> Linear(512, 2000), teacher forcing, T16, CE, backward, Adam |
//! | h | `ctc_bilstm_train` | `rnnzoo_speech::model::AcousticModel`: 80 features x 400 frames (lengths 300..400), 3-layer BiLSTM(256), Linear(512, 29), CTC (mean, zero_infinity), B16, backward, clip 5, Adam |

use std::time::Instant;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use rnnzoo_data::SplitMix64;
use rnnzoo_models::{
    CellKind, FusedAdam, Recurrent, RecurrentConfig, TokenDecoder, clip_grad_norm, cross_entropy,
    linear,
};
use serde::Serialize;

/// The config keys, in order.
pub const KEYS: [&str; 9] = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];

/// One config's result, with the reference script's JSON keys.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    /// Config key (`a`..`f`).
    pub key: String,
    /// Config name, as the reference script names it.
    pub name: String,
    /// Median over rounds of the per-round median step time.
    pub ms_per_step: f64,
    /// Tokens one step processes.
    pub tokens_per_step: usize,
    /// `tokens_per_step / step time`.
    pub tokens_per_s: f64,
    /// Approximate floating-point work of one step (the reference script's formula).
    pub approx_gflop_per_step: f64,
    /// `approx_gflop_per_step / step time`.
    pub achieved_gflops: f64,
    /// Per-round medians.
    pub ms_round_medians: Vec<f64>,
    /// Scalar parameters of the model.
    pub params: usize,
}

/// Deterministic token ids (SplitMix64), a pool of batches as the reference uses.
fn token_pool(seed: u64, count: usize, len: usize, vocab: usize) -> Vec<Vec<i64>> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| (0..len).map(|_| rng.below(vocab) as i64).collect())
        .collect()
}

fn ints(values: &[i64], shape: [usize; 2], device: &Device) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

fn lm_flops_per_token(gates: usize, emb: usize, hidden: usize, layers: usize, vocab: usize) -> f64 {
    let mut f = 0;
    for l in 0..layers {
        let input = if l == 0 { emb } else { hidden };
        f += 2 * gates * hidden * (input + hidden);
    }
    (f + 2 * hidden * vocab) as f64
}

/// Embedding -> recurrent stack -> linear head: the word LM, char LM and classifier bodies.
#[derive(Module, Debug)]
struct SeqModel {
    embedding: Embedding,
    rnn: Recurrent,
    head: Linear,
}

impl SeqModel {
    fn new(vocab: usize, emb: usize, rnn: RecurrentConfig, out: usize, device: &Device) -> Self {
        let rnn = rnn.init(device);
        let head = LinearConfig::new(rnn.output_size(), out).init(device);
        Self {
            embedding: EmbeddingConfig::new(vocab, emb).init(device),
            rnn,
            head,
        }
    }
}

#[derive(Module, Debug)]
struct Seq2Seq {
    src_embedding: Embedding,
    encoder: Recurrent,
    tgt_embedding: Embedding,
    decoder: Recurrent,
    head: Linear,
}

/// A timed step and what it counts.
struct Config {
    name: &'static str,
    warmup: usize,
    iters: usize,
    tokens_per_step: usize,
    flops_per_step: f64,
    params: usize,
    step: Box<dyn FnMut()>,
}

/// A model with its optimizer, stepped the way every training config steps: loss, backward,
/// optional global-norm clipping, Adam with torch's defaults (lr 1e-3, eps 1e-8).
struct Trainer<M: Module> {
    model: Option<M>,
    optim: ModuleOptimizer,
    clip: Option<f64>,
}

impl<M: Module> Trainer<M> {
    fn new(model: M, clip: Option<f64>) -> Self {
        Self {
            model: Some(model),
            optim: FusedAdam::new(1e-8, 0.0).into(),
            clip,
        }
    }

    fn params(&self) -> usize {
        self.model.as_ref().map_or(0, Module::num_params)
    }

    /// One optimizer step on the loss `forward` computes (it reads the loss to the host, as
    /// torch's step returns it).
    fn step(&mut self, forward: impl FnOnce(&M) -> Tensor<1>) {
        let model = self.model.take().expect("model");
        let loss = forward(&model);
        let _ = loss.clone().into_scalar::<f32>();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if let Some(max) = self.clip {
            clip_grad_norm(&model, &mut grads, max);
        }
        self.model = Some(self.optim.step(1e-3, model, grads));
    }
}

fn lm_train(cell: CellKind, name: &'static str, device: &Device) -> Config {
    let (v, e, h, l, b, t) = (10_000, 256, 256, 2, 32, 35);
    let data = token_pool(1, 4, b * (t + 1), v);
    let rnn = RecurrentConfig::new(cell, e, h).with_num_layers(l);
    let mut trainer = Trainer::new(SeqModel::new(v, e, rnn, v, device), Some(0.25));
    let params = trainer.params();
    let device = device.clone();
    let mut it = 0;
    let step = move || {
        let tokens = ints(&data[it % data.len()], [b, t + 1], &device);
        it += 1;
        let x = tokens.clone().narrow(1, 0, t);
        let y = tokens.narrow(1, 1, t).reshape([b * t]);
        trainer.step(|m| {
            let (hidden, _) = m.rnn.forward(m.embedding.forward(x), None, None);
            cross_entropy(linear(&m.head, hidden).reshape([b * t, v]), y)
        });
    };
    let gates = cell.num_gates();
    Config {
        name,
        warmup: 3,
        iters: 15,
        tokens_per_step: b * t,
        flops_per_step: 3.0 * lm_flops_per_token(gates, e, h, l, v) * (b * t) as f64,
        params,
        step: Box::new(step),
    }
}

fn bilstm_cls_train(device: &Device) -> Config {
    let (v, e, h, b, t, c) = (20_000, 128, 128, 64, 128, 2);
    let xs = token_pool(2, 4, b * t, v);
    let ys = token_pool(3, 4, b, c);
    let rnn = RecurrentConfig::new(CellKind::LSTM, e, h).with_bidirectional(true);
    let mut trainer = Trainer::new(SeqModel::new(v, e, rnn, c, device), None);
    let params = trainer.params();
    let device = device.clone();
    let mut it = 0;
    let step = move || {
        let i = it % xs.len();
        it += 1;
        let tokens = ints(&xs[i], [b, t], &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(ys[i].clone(), [b]), &device);
        trainer.step(|m| {
            let (hidden, _) = m.rnn.forward(m.embedding.forward(tokens), None, None);
            let pooled = hidden.mean_dim(1).squeeze_dim::<2>(1); // mean over time
            cross_entropy(linear(&m.head, pooled), labels)
        });
    };
    Config {
        name: "bilstm_cls_train",
        warmup: 3,
        iters: 15,
        tokens_per_step: b * t,
        flops_per_step: 3.0 * (2 * 2 * 4 * h * (e + h)) as f64 * (b * t) as f64,
        params,
        step: Box::new(step),
    }
}

fn lstm_layer_fwd_bwd(device: &Device) -> Config {
    let (i, h, b, t) = (512, 512, 32, 100);
    device.seed(3);
    let x = Tensor::<3>::random([b, t, i], Distribution::Normal(0.0, 1.0), device).require_grad();
    let layer = RecurrentConfig::new(CellKind::LSTM, i, h).init(device);
    let params = layer.num_params();
    let step = move || {
        let (out, _) = layer.forward(x.clone(), None, None);
        let grads = out.sum().backward();
        let _ = x.grad(&grads).expect("input gradient").into_data();
    };
    Config {
        name: "lstm_layer_fwd_bwd",
        warmup: 3,
        iters: 15,
        tokens_per_step: b * t,
        flops_per_step: (3 * 2 * 4 * h * (i + h) * b * t) as f64,
        params,
        step: Box::new(step),
    }
}

fn char_gen_infer(device: &Device) -> Config {
    let (v, e, h, l, n) = (96, 128, 512, 2, 1000);
    let config = RecurrentConfig::new(CellKind::LSTM, e, h).with_num_layers(l);
    let model = SeqModel::new(v, e, config, v, device);
    let params = model.num_params();
    // The inference path: weights copied to host buffers once, then one step per char with no
    // tensor operations (PyTorch runs one nn.LSTM call per char under inference_mode).
    let mut decoder = TokenDecoder::with_linear(&model.embedding, &model.rnn, &model.head, 1);
    let mut rng = SplitMix64::new(5);
    let mut probs = vec![0.0f32; v];
    let step = move || {
        decoder.reset();
        let mut token = 0usize;
        for _ in 0..n {
            let logits = decoder.step(&[token]);
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0.0f32;
            for (p, &l) in probs.iter_mut().zip(logits) {
                *p = (l - max).exp();
                total += *p;
            }
            let mut r = rng.uniform() as f32 * total;
            token = v - 1;
            for (k, p) in probs.iter().enumerate() {
                r -= p;
                if r <= 0.0 {
                    token = k;
                    break;
                }
            }
        }
    };
    Config {
        name: "char_gen_infer",
        warmup: 1,
        iters: 5,
        tokens_per_step: n,
        flops_per_step: lm_flops_per_token(4, e, h, l, v) * n as f64,
        params,
        step: Box::new(step),
    }
}

fn seq2seq_train(device: &Device) -> Config {
    let (sv, tv, e, h, b, s, t) = (8000, 8000, 256, 256, 32, 20, 20);
    let srcs = token_pool(6, 4, b * s, sv);
    let tgts = token_pool(7, 4, b * t, tv);
    let gru = |input| RecurrentConfig::new(CellKind::Gru, input, h).init(device);
    let model = Seq2Seq {
        src_embedding: EmbeddingConfig::new(sv, e).init(device),
        encoder: gru(e),
        tgt_embedding: EmbeddingConfig::new(tv, e).init(device),
        decoder: gru(e),
        head: LinearConfig::new(h, tv).init(device),
    };
    let mut trainer = Trainer::new(model, None);
    let params = trainer.params();
    let device = device.clone();
    let mut it = 0;
    let step = move || {
        let i = it % srcs.len();
        it += 1;
        // Teacher forcing: the decoder reads <bos>=0 then the target shifted right.
        let tgt_in: Vec<i64> = tgts[i]
            .chunks(t)
            .flat_map(|row| std::iter::once(0).chain(row[..t - 1].iter().copied()))
            .collect();
        let src = ints(&srcs[i], [b, s], &device);
        let tgt_in = ints(&tgt_in, [b, t], &device);
        let targets =
            Tensor::<1, Int>::from_data(TensorData::new(tgts[i].clone(), [b * t]), &device);
        trainer.step(|m| {
            let (_, encoded) = m.encoder.forward(m.src_embedding.forward(src), None, None);
            let (decoded, _) =
                m.decoder
                    .forward(m.tgt_embedding.forward(tgt_in), Some(encoded), None);
            cross_entropy(linear(&m.head, decoded).reshape([b * t, tv]), targets)
        });
    };
    let enc = 2 * 3 * h * (e + h) * b * s;
    let dec = (2 * 3 * h * (e + h) + 2 * h * tv) * b * t;
    Config {
        name: "seq2seq_train",
        warmup: 3,
        iters: 15,
        tokens_per_step: b * t,
        flops_per_step: 3.0 * (enc + dec) as f64,
        params,
        step: Box::new(step),
    }
}

/// Config g: the translation task's own model, at the reference's sizes, on its batch shapes.
fn attn_seq2seq_train(device: &Device) -> Config {
    use rnnzoo_translate::model::Seq2Seq;
    let (sv, tv, e, he, hd, b, s, t) = (8000, 8000, 256, 256, 512, 32, 30, 30);
    let model: rnnzoo_config::ModelConfig = serde_yaml_ng::from_str(&format!(
        "embedding: {e}\ncell: lstm\nhidden: {he}\nbidirectional: true\ndecoder_hidden: {hd}\nattention: general\n"
    ))
    .expect("a valid model section");
    let model = Seq2Seq::new(&model, sv, tv, device);
    // Four batches: source lengths 16..=30 with padding id 0 after them, targets 1..V.
    let mut rng = SplitMix64::new(7);
    let batches: Vec<(Vec<i64>, Vec<usize>, Vec<i64>)> = (0..4)
        .map(|_| {
            let lengths: Vec<usize> = (0..b).map(|_| 16 + rng.below(s - 15)).collect();
            let mut src = vec![0i64; b * s];
            for (row, &n) in lengths.iter().enumerate() {
                for i in 0..n {
                    src[row * s + i] = 1 + rng.below(sv - 1) as i64;
                }
            }
            let tgt: Vec<i64> = (0..b * t).map(|_| 1 + rng.below(tv - 1) as i64).collect();
            (src, lengths, tgt)
        })
        .collect();
    let src_tokens: f64 = batches
        .iter()
        .map(|(_, l, _)| l.iter().sum::<usize>() as f64)
        .sum::<f64>()
        / batches.len() as f64;
    let mut trainer = Trainer::new(model, Some(1.0));
    let params = trainer.params();
    let device = device.clone();
    let rows: Vec<usize> = (0..b * t).collect();
    let mut it = 0;
    let step = move || {
        let (src, lengths, tgt) = &batches[it % batches.len()];
        it += 1;
        // Teacher forcing: <bos> = 1, then the target shifted right; every target position counts.
        let tgt_in: Vec<i64> = tgt
            .chunks(t)
            .flat_map(|row| std::iter::once(1).chain(row[..t - 1].iter().copied()))
            .collect();
        let src = ints(src, [b, s], &device);
        let tgt_in = ints(&tgt_in, [b, t], &device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(tgt.clone(), [b * t]), &device);
        trainer.step(|m| {
            let encoded = m.encode(src, lengths);
            let attended = m.decode_teacher_forced(&encoded, tgt_in);
            cross_entropy(m.logits_at(attended, &rows), targets)
        });
    };
    // The reference's FLOP formula.
    let enc = 2.0 * (2 * 4 * he * (e + he)) as f64 * src_tokens;
    let dec = ((2 * 4 * hd * (e + hd)
        + 2 * hd * 2 * he
        + 2 * 2 * (2 * he) * s
        + 2 * hd * (2 * he + hd)
        + 2 * hd * tv)
        * b
        * t) as f64;
    Config {
        name: "attn_seq2seq_train",
        warmup: 3,
        iters: 15,
        tokens_per_step: b * t,
        flops_per_step: 3.0 * (enc + dec),
        params,
        step: Box::new(step),
    }
}

fn ctc_bilstm_train(device: &Device) -> Config {
    use rnnzoo_speech::model::AcousticModel;
    let (f, h, l, c, b, t) = (80, 256, 3, 29, 16, 400);
    let model: rnnzoo_config::ModelConfig = serde_yaml_ng::from_str(&format!(
        "cell: lstm\nhidden: {h}\nlayers: {l}\nbidirectional: true\n"
    ))
    .expect("a valid model section");
    let features: rnnzoo_config::FeaturesConfig =
        serde_yaml_ng::from_str(&format!("mels: {f}\nstack: 1\n"))
            .expect("a valid features section");
    let model = AcousticModel::new(&model, &features, c, device);
    // Four batches: input lengths 300..=400 frames of N(0, 1) features, targets of 40..=60
    // labels in 1..C (0 is the blank).
    let mut rng = SplitMix64::new(8);
    let mut normal = move || {
        let (u1, u2) = (rng.uniform().max(1e-12), rng.uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    };
    let mut rng = SplitMix64::new(9);
    // Per batch: each utterance's `[frames, F]` features, and its labels.
    type Utterances = (Vec<Vec<f32>>, Vec<Vec<usize>>);
    let batches: Vec<Utterances> = (0..4)
        .map(|_| {
            let feats = (0..b)
                .map(|_| {
                    let frames = 300 + rng.below(t - 299);
                    (0..frames * f).map(|_| normal()).collect()
                })
                .collect();
            let targets = (0..b)
                .map(|_| {
                    (0..40 + rng.below(21))
                        .map(|_| 1 + rng.below(c - 1))
                        .collect()
                })
                .collect();
            (feats, targets)
        })
        .collect();
    let frames: f64 = batches
        .iter()
        .map(|(x, _)| x.iter().map(|v| (v.len() / f) as f64).sum::<f64>())
        .sum::<f64>()
        / batches.len() as f64;
    let mut trainer = Trainer::new(model, Some(5.0));
    let params = trainer.params();
    let device = device.clone();
    let mut it = 0;
    let step = move || {
        let (feats, targets) = &batches[it % batches.len()];
        it += 1;
        let views: Vec<&[f32]> = feats.iter().map(Vec::as_slice).collect();
        trainer.step(|m| {
            let batch = m.batch(&views, &device);
            let logits = m.forward(&batch);
            rnnzoo_models::ctc_loss(logits, &batch.lengths, targets, 0)
        });
    };
    // The reference's FLOP formula.
    let mut fwd = 0;
    for layer in 0..l {
        let input = if layer == 0 { f } else { 2 * h };
        fwd += 2 * (2 * 4 * h * (input + h));
    }
    fwd += 2 * 2 * h * c;
    Config {
        name: "ctc_bilstm_train",
        warmup: 2,
        iters: 8,
        tokens_per_step: b * t,
        flops_per_step: 3.0 * fwd as f64 * frames,
        params,
        step: Box::new(step),
    }
}

fn caption_train(device: &Device) -> Config {
    use rnnzoo_models::attention::{AttentionDecoderConfig, AttentionKind};
    use rnnzoo_models::captioner::{CaptionerConfig, ImageFeed};
    let (v, e, h, b, t, side) = (2000, 256, 512, 64, 16, 64);
    let model = CaptionerConfig {
        channels: vec![32, 64, 128],
        feed: ImageFeed::State,
        decoder: AttentionDecoderConfig {
            recurrent: RecurrentConfig::new(CellKind::LSTM, e, h),
            vocab: v,
            embedding: e,
            memory: 0,
            attention: AttentionKind::None,
            input_feeding: false,
            dropout: 0.0,
        },
    }
    .init(device);
    // Four batches of uniform [0, 1) images and T + 1 caption tokens (in 1..V).
    let mut rng = SplitMix64::new(9);
    let batches: Vec<(Vec<f32>, Vec<i64>)> = (0..4)
        .map(|_| {
            let images = (0..b * 3 * side * side)
                .map(|_| rng.uniform() as f32)
                .collect();
            let caps = (0..b * (t + 1))
                .map(|_| 1 + rng.below(v - 1) as i64)
                .collect();
            (images, caps)
        })
        .collect();
    let mut trainer = Trainer::new(model, None);
    let params = trainer.params();
    let device = device.clone();
    let rows: Vec<usize> = (0..b * t).collect();
    let mut it = 0;
    let step = move || {
        let (images, caps) = &batches[it % batches.len()];
        it += 1;
        let images =
            Tensor::<4>::from_data(TensorData::new(images.clone(), [b, 3, side, side]), &device);
        let tokens_in: Vec<i64> = caps.chunks(t + 1).flat_map(|c| c[..t].to_vec()).collect();
        let targets: Vec<i64> = caps.chunks(t + 1).flat_map(|c| c[1..].to_vec()).collect();
        let tokens_in = ints(&tokens_in, [b, t], &device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [b * t]), &device);
        trainer.step(|m| {
            let encoded = m.encode(images);
            let attended = m.decoder.teacher_forced(&encoded.memory, tokens_in);
            cross_entropy(m.decoder.logits_at(attended, &rows), targets)
        });
    };
    // The reference's FLOP formula.
    let (mut conv, mut hw, mut cin) = (0, side, 3);
    for cout in [32, 64, 128] {
        conv += 2 * 9 * cin * cout * hw * hw;
        hw /= 2;
        cin = cout;
    }
    let dec = (2 * 4 * h * (e + h) + 2 * h * v) * t;
    Config {
        name: "caption_train",
        warmup: 3,
        iters: 15,
        tokens_per_step: b * t,
        flops_per_step: 3.0 * ((conv + dec) * b) as f64,
        params,
        step: Box::new(step),
    }
}

fn build(key: &str, device: &Device) -> Option<Config> {
    let train = device.clone().autodiff();
    Some(match key {
        "a" => lm_train(CellKind::LSTM, "lstm_lm_train", &train),
        "b" => lm_train(CellKind::Gru, "gru_lm_train", &train),
        "c" => bilstm_cls_train(&train),
        "d" => lstm_layer_fwd_bwd(&train),
        "e" => char_gen_infer(device),
        "f" => seq2seq_train(&train),
        "g" => attn_seq2seq_train(&train),
        "h" => ctc_bilstm_train(&train),
        "i" => caption_train(&train),
        _ => return None,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

/// How many steps to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Schedule {
    /// Round-robin repetitions.
    pub rounds: usize,
    /// Untimed steps per round (the config's own count when `None`).
    pub warmup: Option<usize>,
    /// Timed steps per round (the config's own count when `None`).
    pub iters: Option<usize>,
}

/// Runs the configs round-robin and reports the median of the round medians, as the reference
/// does. `progress` receives a line per round.
pub fn run(
    keys: &[String],
    schedule: Schedule,
    device: &Device,
    mut progress: impl FnMut(&str),
) -> Result<Vec<BenchResult>, String> {
    let mut configs = Vec::new();
    for key in keys {
        device.seed(0);
        let config = build(key, device)
            .ok_or_else(|| format!("unknown bench config `{key}`; known: {}", KEYS.join(",")))?;
        configs.push((key.clone(), config, Vec::new()));
    }
    for round in 0..schedule.rounds.max(1) {
        for (_, config, medians) in configs.iter_mut() {
            for _ in 0..schedule.warmup.unwrap_or(config.warmup) {
                (config.step)();
            }
            let n = schedule.iters.unwrap_or(config.iters).max(1);
            let mut times: Vec<f64> = (0..n)
                .map(|_| {
                    let start = Instant::now();
                    (config.step)();
                    start.elapsed().as_secs_f64()
                })
                .collect();
            let m = median(&mut times);
            progress(&format!(
                "  round {round} {:<24} median {:9.2} ms",
                config.name,
                m * 1e3
            ));
            medians.push(m);
        }
    }
    Ok(configs
        .into_iter()
        .map(|(key, config, medians)| {
            let mut sorted = medians.clone();
            let m = median(&mut sorted);
            BenchResult {
                key,
                name: config.name.to_string(),
                ms_per_step: m * 1e3,
                tokens_per_step: config.tokens_per_step,
                tokens_per_s: config.tokens_per_step as f64 / m,
                approx_gflop_per_step: config.flops_per_step / 1e9,
                achieved_gflops: config.flops_per_step / m / 1e9,
                ms_round_medians: medians.iter().map(|x| x * 1e3).collect(),
                params: config.params,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_runs_and_reports_consistent_numbers() {
        let schedule = Schedule {
            rounds: 1,
            warmup: Some(0),
            iters: Some(1),
        };
        let results = run(&["b".to_string()], schedule, &Device::flex(), |_| {}).unwrap();
        let r = &results[0];
        assert_eq!(
            (r.key.as_str(), r.name.as_str(), r.tokens_per_step),
            ("b", "gru_lm_train", 32 * 35)
        );
        assert!(r.ms_per_step > 0.0);
        assert!(
            (r.tokens_per_s - r.tokens_per_step as f64 / (r.ms_per_step / 1e3)).abs()
                < 1e-6 * r.tokens_per_s
        );
        // Emb 10000x256, two GRU layers of 256 (with both biases), Linear 256->10000.
        assert_eq!(
            r.params,
            10_000 * 256 + 2 * (3 * 256 * (256 + 256) + 2 * 3 * 256) + 256 * 10_000 + 10_000
        );
    }

    #[test]
    fn unknown_configs_are_refused() {
        let err = run(
            &["z".to_string()],
            Schedule::default(),
            &Device::flex(),
            |_| {},
        )
        .unwrap_err();
        assert!(err.contains("`z`") && err.contains("a,b,c,d,e,f"), "{err}");
    }
}
