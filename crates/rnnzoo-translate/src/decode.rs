//! Decoding through the step-by-step inference path: the encoder runs once per batch as a whole
//! sequence, then the decoder, attention and output layer run one token at a time on host
//! buffers (`rnnzoo_kernels::step`), with no autodiff graph and no Burn operation per step.
//!
//! [`greedy`] takes the most probable word at each step; [`beam_search`] keeps `K` hypotheses
//! per sentence in one batch of `sentences · K` rows, scores finished ones by
//! `log p / length^α` and returns the best. With `K = 1` the beam search returns exactly what
//! greedy decoding does (a test holds them to it).

use burn::tensor::Tensor;
use rnnzoo_config::AttentionName;
use rnnzoo_kernels::step::{StackStepper, StepProjection};

use crate::model::{Encoded, Seq2Seq};
use crate::tokenizer::{BOS, EOS, PAD};

/// A tensor's values, row-major.
fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 values")
}

/// One decoded sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    /// Target ids, without `</s>`.
    pub tokens: Vec<usize>,
    /// `log p` of the ids and of `</s>` when it was produced.
    pub log_prob: f64,
    /// The most-attended source position of each id (empty without attention).
    pub alignment: Vec<usize>,
    /// Attention weights over the source for each id and the final `</s>`: `[T][S]`.
    pub attention: Vec<Vec<f32>>,
}

/// The decoder, attention and output layer of a [`Seq2Seq`] on host buffers, for `rows` rows
/// (`sentences · beam`: row `r` belongs to sentence `r / beam`).
pub struct StepDecoder {
    beam: usize,
    rows: usize,
    kind: AttentionName,
    input_feeding: bool,
    embedding: Vec<f32>,
    embedding_size: usize,
    hidden: usize,
    stack: StackStepper,
    /// `[rows, E (+ H)]` the step's input.
    input: Vec<f32>,
    /// `[sentences, S, C]` encoder outputs.
    memory: Vec<f32>,
    /// `[sentences, S, A]` additive keys `W_k e_s + b`.
    keys: Vec<f32>,
    lengths: Vec<usize>,
    source_steps: usize,
    context: usize,
    /// `W_a` (general) or `W_q` (additive) applied to `d_t`.
    query: Option<StepProjection>,
    /// `v` of the additive score.
    score: Vec<f32>,
    combine: Option<StepProjection>,
    /// `[rows, C + H]` `[c_t; d_t]`.
    combine_input: Vec<f32>,
    /// `[rows, H]` `h̃_t`.
    attended: Vec<f32>,
    /// `[rows, S]` attention weights of the last step.
    weights: Vec<f32>,
    output: StepProjection,
    /// `[rows, H]` the step's `d_t`, and `[rows, C or A]` its queries.
    decoded: Vec<f32>,
    queries: Vec<f32>,
}

impl StepDecoder {
    /// A decoder for the encoded sentences, each repeated over `beam` rows, starting from the
    /// bridged encoder states.
    pub fn new(model: &Seq2Seq, encoded: &Encoded, beam: usize) -> Self {
        let [sentences, source_steps, context] = encoded.outputs.dims();
        let rows = sentences * beam;
        let hidden = model.hidden_size();
        let embedding_size = model.target_embedding.weight.dims()[1];
        let mut stack = model.decoder.stepper(rows);
        // Initial states, each sentence's repeated over its beam rows.
        let layers = stack.num_layers();
        let h0 = host(encoded.initial.hidden.clone());
        let c0 = encoded.initial.cell.clone().map(host);
        let repeat = |values: &[f32], layer: usize| -> Vec<f32> {
            let base = layer * sentences * hidden;
            (0..rows)
                .flat_map(|r| {
                    let b = r / beam;
                    values[base + b * hidden..base + (b + 1) * hidden]
                        .iter()
                        .copied()
                })
                .collect()
        };
        for l in 0..layers {
            let h = repeat(&h0, l);
            let c = c0.as_ref().map(|c| repeat(c, l)).unwrap_or_default();
            stack.set_state(l, &h, &c);
        }
        let projection = |linear: &burn::nn::Linear, batch: usize| {
            let [inputs, _] = linear.weight.dims();
            StepProjection::new(
                host(linear.weight.val()),
                inputs,
                linear.bias.as_ref().map_or(Vec::new(), |b| host(b.val())),
                batch,
            )
        };
        let kind = model.attention_kind;
        let att = model.attention.as_ref();
        let query = att.and_then(|a| match kind {
            AttentionName::General => a.general.as_ref().map(|w| projection(w, rows)),
            AttentionName::Bahdanau => a.query.as_ref().map(|w| projection(w, rows)),
            _ => None,
        });
        let keys = match (kind, att.and_then(|a| a.key.as_ref())) {
            (AttentionName::Bahdanau, Some(key)) => {
                host(rnnzoo_models::linear(key, encoded.outputs.clone()))
            }
            _ => Vec::new(),
        };
        let score = att
            .and_then(|a| a.score.as_ref())
            .map_or(Vec::new(), |v| host(v.weight.val()));
        let input_size = embedding_size + if model.input_feeding { hidden } else { 0 };
        Self {
            beam,
            rows,
            kind,
            input_feeding: model.input_feeding,
            embedding: host(model.target_embedding.weight.val()),
            embedding_size,
            hidden,
            stack,
            input: vec![0.0; rows * input_size],
            memory: host(encoded.outputs.clone()),
            keys,
            lengths: encoded.lengths.clone(),
            source_steps,
            context,
            query,
            score,
            combine: att.map(|a| projection(&a.combine, rows)),
            combine_input: vec![0.0; rows * (context + hidden)],
            attended: vec![0.0; rows * hidden],
            weights: vec![0.0; rows * source_steps],
            output: projection(&model.output, rows),
            decoded: vec![0.0; rows * hidden],
            queries: Vec::new(),
        }
    }

    /// Rows per step.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Source positions (padded length) of the batch.
    pub fn source_steps(&self) -> usize {
        self.source_steps
    }

    /// Attention weights of the last step, `[rows, S]` (zeros without attention).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Feeds one id per row and returns the logits of the next word, `[rows, V]`.
    pub fn step(&mut self, tokens: &[usize]) -> &[f32] {
        assert_eq!(tokens.len(), self.rows, "one token per row");
        let (e, h) = (self.embedding_size, self.hidden);
        let width = e + if self.input_feeding { h } else { 0 };
        for (r, &token) in tokens.iter().enumerate() {
            let row = &mut self.input[r * width..(r + 1) * width];
            row[..e].copy_from_slice(&self.embedding[token * e..(token + 1) * e]);
            if self.input_feeding {
                row[e..].copy_from_slice(&self.attended[r * h..(r + 1) * h]);
            }
        }
        let decoded = self.stack.step(&self.input);
        if self.kind == AttentionName::None {
            return self.output.apply(decoded);
        }
        self.decoded.copy_from_slice(decoded);
        let (decoded, queries) = (&self.decoded, &mut self.queries);
        queries.clear();
        match &mut self.query {
            Some(q) => queries.extend_from_slice(q.apply(decoded)),
            None => queries.extend_from_slice(decoded),
        }
        let (s_max, c) = (self.source_steps, self.context);
        let q_width = queries.len() / self.rows;
        for r in 0..self.rows {
            let b = r / self.beam;
            let len = self.lengths[b];
            let q = &queries[r * q_width..(r + 1) * q_width];
            let w = &mut self.weights[r * s_max..(r + 1) * s_max];
            for (s, weight) in w.iter_mut().enumerate().take(len) {
                *weight = match self.kind {
                    AttentionName::Bahdanau => {
                        let k =
                            &self.keys[(b * s_max + s) * q_width..(b * s_max + s + 1) * q_width];
                        q.iter()
                            .zip(k)
                            .zip(&self.score)
                            .map(|((q, k), v)| v * (q + k).tanh())
                            .sum()
                    }
                    _ => {
                        let m = &self.memory[(b * s_max + s) * c..(b * s_max + s + 1) * c];
                        q.iter().zip(m).map(|(q, m)| q * m).sum()
                    }
                };
            }
            let max = w[..len].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for weight in &mut w[..len] {
                *weight = (*weight - max).exp();
                sum += *weight;
            }
            for weight in &mut w[..len] {
                *weight /= sum;
            }
            w[len..].fill(0.0);
            let ctx = &mut self.combine_input[r * (c + h)..(r + 1) * (c + h)];
            ctx.fill(0.0);
            for (s, &a) in w.iter().enumerate().take(len) {
                let m = &self.memory[(b * s_max + s) * c..(b * s_max + s + 1) * c];
                for (x, m) in ctx[..c].iter_mut().zip(m) {
                    *x += a * m;
                }
            }
            ctx[c..].copy_from_slice(&decoded[r * h..(r + 1) * h]);
        }
        let combined = self
            .combine
            .as_mut()
            .expect("attention has W_c")
            .apply(&self.combine_input);
        for (a, &x) in self.attended.iter_mut().zip(combined) {
            *a = x.tanh();
        }
        self.output.apply(&self.attended)
    }

    /// Row `r` takes the state of row `from[r]` (beam search's back-pointers).
    pub fn reorder(&mut self, from: &[usize]) {
        assert_eq!(from.len(), self.rows, "one source row per row");
        for l in 0..self.stack.num_layers() {
            let (h, c) = self.stack.state(l);
            let width = self.stack.hidden_size(l);
            let gather = |v: &[f32]| -> Vec<f32> {
                if v.is_empty() {
                    return Vec::new();
                }
                from.iter()
                    .flat_map(|&f| v[f * width..(f + 1) * width].iter().copied())
                    .collect()
            };
            let (h, c) = (gather(h), gather(c));
            self.stack.set_state(l, &h, &c);
        }
        let h = self.hidden;
        let attended: Vec<f32> = from
            .iter()
            .flat_map(|&f| self.attended[f * h..(f + 1) * h].iter().copied())
            .collect();
        self.attended = attended;
    }
}

/// Encodes sources (ids without `</s>`; an empty one reads as `</s>`) on the model's device.
pub fn encode_sources(model: &Seq2Seq, sources: &[&[usize]]) -> Encoded {
    let (ids, lengths) = crate::model::pad_sources(sources, &model.output.weight.device());
    model.encode(ids, &lengths)
}

/// `log Σ exp` of a row.
fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + row.iter().map(|&x| (x - max).exp()).sum::<f32>().ln()
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

/// Greedy decoding of a batch: at most `max_lengths[b]` ids for sentence `b`.
pub fn greedy(model: &Seq2Seq, sources: &[&[usize]], max_lengths: &[usize]) -> Vec<Hypothesis> {
    let encoded = encode_sources(model, sources);
    let mut decoder = StepDecoder::new(model, &encoded, 1);
    let n = sources.len();
    let attention = model.attention.is_some();
    let mut hyps = vec![
        Hypothesis {
            tokens: Vec::new(),
            log_prob: 0.0,
            alignment: Vec::new(),
            attention: Vec::new(),
        };
        n
    ];
    let mut done = vec![false; n];
    let mut tokens = vec![BOS; n];
    let steps = max_lengths.iter().copied().max().unwrap_or(0);
    for t in 0..steps {
        let logits = decoder.step(&tokens).to_vec();
        let v = logits.len() / n;
        let s = decoder.source_steps();
        for b in 0..n {
            if done[b] {
                tokens[b] = PAD;
                continue;
            }
            let row = &logits[b * v..(b + 1) * v];
            let best = argmax(row);
            let hyp = &mut hyps[b];
            hyp.log_prob += (row[best] - log_sum_exp(row)) as f64;
            if attention {
                let w = &decoder.weights()[b * s..(b + 1) * s];
                hyp.attention.push(w[..encoded.lengths[b]].to_vec());
                if best != EOS {
                    hyp.alignment.push(argmax(w));
                }
            }
            if best == EOS {
                done[b] = true;
            } else {
                hyp.tokens.push(best);
                done[b] = t + 1 >= max_lengths[b];
            }
            tokens[b] = best;
        }
        if done.iter().all(|&d| d) {
            break;
        }
    }
    hyps
}

/// A live beam: its log-probability and how many words it has.
#[derive(Clone, Copy)]
struct Live {
    log_prob: f64,
    length: usize,
}

/// A finished hypothesis, found again through the back-pointers: it was decided at `step`,
/// from row `row` of that step, by `</s>` (`ended`) or by running out of length (its last
/// word then sits in slot `row` of `step`).
#[derive(Clone, Copy)]
struct Finished {
    step: usize,
    row: usize,
    ended: bool,
    log_prob: f64,
    length: usize,
}

/// What beam search remembers of each step, so that hypotheses need not be copied: for every
/// slot (the row it occupies at the next step), the row it came from and its word; and the
/// attention weights of every row.
struct Trace {
    nodes: Vec<Vec<(usize, usize)>>,
    weights: Vec<Vec<f32>>,
    source_steps: usize,
}

impl Trace {
    /// The words, alignment and attention of a finished hypothesis, following the
    /// back-pointers from its last step to the first.
    fn hypothesis(&self, f: &Finished, source_length: usize) -> Hypothesis {
        let s = self.source_steps;
        let attended = !self.weights.is_empty();
        let weights_of = |step: usize, row: usize| -> Vec<f32> {
            self.weights[step][row * s..row * s + source_length].to_vec()
        };
        let (mut tokens, mut alignment, mut attention) = (Vec::new(), Vec::new(), Vec::new());
        // The step whose slot holds the last word, and that slot.
        let (mut step, mut slot) = if f.ended {
            if attended {
                attention.push(weights_of(f.step, f.row));
            }
            (f.step.checked_sub(1), f.row)
        } else {
            (Some(f.step), f.row)
        };
        while let Some(t) = step {
            let (row, id) = self.nodes[t][slot];
            tokens.push(id);
            if attended {
                let w = weights_of(t, row);
                alignment.push(argmax(&w));
                attention.push(w);
            }
            step = t.checked_sub(1);
            slot = row;
        }
        tokens.reverse();
        alignment.reverse();
        attention.reverse();
        Hypothesis {
            tokens,
            log_prob: f.log_prob,
            alignment,
            attention,
        }
    }
}

/// Batched beam search with `beam` hypotheses per sentence, at most `max_lengths[b]` ids for
/// sentence `b`, finished hypotheses ranked by `log p / length^length_penalty` (the length
/// counting `</s>`). Each step, every sentence's best `2·beam` continuations are taken in
/// order: one ending in `</s>` finishes, the others stay alive until `beam` of them are. A
/// sentence is done when `beam` hypotheses have finished or its length runs out (the live
/// ones then count as finished). Hypotheses are kept as back-pointers, not copies.
pub fn beam_search(
    model: &Seq2Seq,
    sources: &[&[usize]],
    max_lengths: &[usize],
    beam: usize,
    length_penalty: f64,
) -> Vec<Hypothesis> {
    let k = beam.max(1);
    let encoded = encode_sources(model, sources);
    let mut decoder = StepDecoder::new(model, &encoded, k);
    let n = sources.len();
    let attention = model.attention.is_some();
    // Row b·k + j is beam j of sentence b; at the start only beam 0 is alive.
    let mut live: Vec<Option<Live>> = (0..n * k)
        .map(|r| {
            (r % k == 0).then_some(Live {
                log_prob: 0.0,
                length: 0,
            })
        })
        .collect();
    let mut finished: Vec<Vec<Finished>> = vec![Vec::new(); n];
    let mut done = vec![false; n];
    let mut tokens = vec![BOS; n * k];
    let mut trace = Trace {
        nodes: Vec::new(),
        weights: Vec::new(),
        source_steps: decoder.source_steps(),
    };
    let steps = max_lengths.iter().copied().max().unwrap_or(0);
    let mut best: Vec<(f64, usize, usize)> = Vec::with_capacity(2 * k + 1);
    for t in 0..steps {
        let logits = decoder.step(&tokens);
        let v = logits.len() / (n * k);
        let mut from: Vec<usize> = (0..n * k).collect();
        let mut next_live: Vec<Option<Live>> = vec![None; n * k];
        let mut nodes: Vec<(usize, usize)> = (0..n * k).map(|r| (r, PAD)).collect();
        for b in 0..n {
            if done[b] {
                continue;
            }
            // The best 2k continuations over the sentence's live beams: (score, row, id),
            // best first; ties keep the lower row and id first, as greedy's argmax does.
            best.clear();
            for j in 0..k {
                let r = b * k + j;
                let Some(beam) = &live[r] else { continue };
                let row = &logits[r * v..(r + 1) * v];
                let base = beam.log_prob - log_sum_exp(row) as f64;
                for (id, &x) in row.iter().enumerate() {
                    let score = base + x as f64;
                    if best.len() == 2 * k && score <= best[best.len() - 1].0 {
                        continue;
                    }
                    let at = best.partition_point(|c| c.0 >= score);
                    best.insert(at, (score, r, id));
                    best.truncate(2 * k);
                }
            }
            let mut kept = 0;
            for &(score, r, id) in &best {
                if kept == k || finished[b].len() >= k {
                    break;
                }
                let length = live[r].expect("a live row").length + 1;
                if id == EOS {
                    finished[b].push(Finished {
                        step: t,
                        row: r,
                        ended: true,
                        log_prob: score,
                        length,
                    });
                } else {
                    let slot = b * k + kept;
                    from[slot] = r;
                    tokens[slot] = id;
                    nodes[slot] = (r, id);
                    next_live[slot] = Some(Live {
                        log_prob: score,
                        length,
                    });
                    kept += 1;
                }
            }
            let out_of_length = t + 1 >= max_lengths[b];
            if finished[b].len() >= k || out_of_length {
                if finished[b].len() < k {
                    let slots = next_live.iter().enumerate().skip(b * k).take(k);
                    for (slot, beam) in slots {
                        if let Some(beam) = beam {
                            finished[b].push(Finished {
                                step: t,
                                row: slot,
                                ended: false,
                                log_prob: beam.log_prob,
                                length: beam.length,
                            });
                        }
                    }
                }
                done[b] = true;
                for slot in b * k..(b + 1) * k {
                    next_live[slot] = None;
                    tokens[slot] = PAD;
                }
            }
        }
        trace.nodes.push(nodes);
        if attention {
            trace.weights.push(decoder.weights().to_vec());
        }
        live = next_live;
        if done.iter().all(|&d| d) {
            break;
        }
        decoder.reorder(&from);
    }
    finished
        .iter()
        .enumerate()
        .map(|(b, hyps)| {
            // The best normalised score; the earliest finished among equals.
            let normalised =
                |f: &Finished| f.log_prob / (f.length.max(1) as f64).powf(length_penalty);
            let mut best: Option<&Finished> = None;
            for f in hyps {
                if best.is_none_or(|b| normalised(f) > normalised(b)) {
                    best = Some(f);
                }
            }
            best.map_or_else(
                || Hypothesis {
                    tokens: Vec::new(),
                    log_prob: 0.0,
                    alignment: Vec::new(),
                    attention: Vec::new(),
                },
                |f| trace.hypothesis(f, encoded.lengths[b]),
            )
        })
        .collect()
}
