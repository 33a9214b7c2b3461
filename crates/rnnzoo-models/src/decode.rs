//! Decoding an [`AttentionDecoder`] through the step-by-step inference path: the memory is made
//! once per batch (by an encoder, a CNN, ...), then the decoder, attention and output layer run
//! one token at a time on host buffers (`rnnzoo_kernels::step`), with no autodiff graph and no
//! Burn operation per step.
//!
//! [`greedy`] takes the most probable word at each step; [`beam_search`] keeps `K` hypotheses
//! per sentence in one batch of `sentences · K` rows, scores finished ones by
//! `log p / length^α` and returns the best. With `K = 1` the beam search returns exactly what
//! greedy decoding does (a test holds them to it).

use burn::tensor::Tensor;
use rnnzoo_kernels::attention::{self, Score};
use rnnzoo_kernels::loss::log_sum_exp;
use rnnzoo_kernels::step::{StackStepper, StepProjection};

use crate::attention::{AttentionDecoder, AttentionKind, Memory};

/// The special ids decoding needs: the first input and the end of a sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Specials {
    /// `<s>`, fed at step 0 (unless the memory has a first input).
    pub bos: usize,
    /// `</s>`, which ends a hypothesis.
    pub eos: usize,
}

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
    /// Attention weights over the memory for each id and the final `</s>`: `[T][S]`.
    pub attention: Vec<Vec<f32>>,
}

/// The decoder, attention and output layer of an [`AttentionDecoder`] on host buffers, for up to
/// `sentences · beam` rows. It starts with one row per sentence; [`StepDecoder::gather`]
/// then chooses the rows of the next step (beam search's back-pointers, finished rows
/// dropped), so only rows still being decoded cost anything.
pub struct StepDecoder {
    rows: usize,
    /// The sentence of each row.
    row_sentence: Vec<usize>,
    kind: AttentionKind,
    input_feeding: bool,
    embedding: Vec<f32>,
    embedding_size: usize,
    hidden: usize,
    stack: StackStepper,
    /// `[rows, E (+ H)]` the step's input.
    input: Vec<f32>,
    /// `[items, E]` the memory's first inputs, fed at the first step (empty: none).
    first: Vec<f32>,
    /// Whether the next step is the first.
    first_pending: bool,
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
    /// A decoder for a batch's memory with room for `beam` rows per item, starting with row
    /// `b` for item `b`, in the memory's initial states.
    pub fn new(model: &AttentionDecoder, memory: &Memory, beam: usize) -> Self {
        let sentences = memory.batch();
        let mut decoder = Self::with_capacity(model, sentences * beam.max(1));
        decoder.start(model, memory);
        decoder
    }

    /// A decoder with room for `rows` rows, its weights copied and packed once so that it
    /// can [`StepDecoder::start`] batch after batch.
    pub fn with_capacity(model: &AttentionDecoder, rows: usize) -> Self {
        let rows = rows.max(1);
        let hidden = model.hidden_size();
        let embedding_size = model.embedding_size();
        let projection = |linear: &burn::nn::Linear| {
            let [inputs, _] = linear.weight.dims();
            StepProjection::new(
                host(linear.weight.val()),
                inputs,
                linear.bias.as_ref().map_or(Vec::new(), |b| host(b.val())),
                rows,
            )
        };
        let kind = model.kind;
        let att = model.attention.as_ref();
        let query = att.and_then(|a| match kind {
            AttentionKind::General => a.general.as_ref().map(projection),
            AttentionKind::Bahdanau => a.query.as_ref().map(projection),
            _ => None,
        });
        let score = att
            .and_then(|a| a.score.as_ref())
            .map_or(Vec::new(), |v| host(v.weight.val()));
        // `W_c` reads `[c_t; d_t]`: the context is what it reads beyond `H`.
        let context = att.map_or(0, |a| a.combine.weight.dims()[0] - hidden);
        let input_size = embedding_size + if model.input_feeding { hidden } else { 0 };
        Self {
            rows: 0,
            row_sentence: Vec::new(),
            kind,
            input_feeding: model.input_feeding,
            embedding: host(model.embedding.weight.val()),
            embedding_size,
            hidden,
            stack: model.recurrent.stepper(rows),
            input: vec![0.0; rows * input_size],
            first: Vec::new(),
            first_pending: false,
            memory: Vec::new(),
            keys: Vec::new(),
            lengths: Vec::new(),
            source_steps: 0,
            context,
            query,
            score,
            combine: att.map(|a| projection(&a.combine)),
            combine_input: vec![0.0; rows * (context + hidden)],
            attended: vec![0.0; rows * hidden],
            weights: Vec::new(),
            output: projection(&model.output),
            decoded: vec![0.0; rows * hidden],
            queries: Vec::new(),
        }
    }

    /// Starts decoding a batch's memory (as many items as there is room for): row `b` for
    /// item `b`, in the memory's initial states.
    ///
    /// # Panics
    /// When the batch has more sentences than the decoder has rows.
    pub fn start(&mut self, model: &AttentionDecoder, encoded: &Memory) {
        let [sentences, source_steps, _] = encoded.outputs.dims();
        let hidden = self.hidden;
        self.stack.set_rows(sentences);
        let h0 = host(encoded.initial.hidden.clone());
        let c0 = encoded.initial.cell.clone().map(host);
        let layer_of = |values: &[f32], layer: usize| -> Vec<f32> {
            values[layer * sentences * hidden..(layer + 1) * sentences * hidden].to_vec()
        };
        for l in 0..self.stack.num_layers() {
            let h = layer_of(&h0, l);
            let c = c0.as_ref().map(|c| layer_of(c, l)).unwrap_or_default();
            self.stack.set_state(l, &h, &c);
        }
        let key = model.attention.as_ref().and_then(|a| a.key.as_ref());
        self.keys = match (self.kind, key) {
            (AttentionKind::Bahdanau, Some(key)) => {
                host(crate::linear(key, encoded.outputs.clone()))
            }
            _ => Vec::new(),
        };
        self.memory = if self.kind == AttentionKind::None {
            Vec::new()
        } else {
            host(encoded.outputs.clone())
        };
        self.lengths.clone_from(&encoded.lengths);
        self.source_steps = source_steps;
        self.weights = vec![0.0; self.stack.batch() * source_steps];
        self.attended.fill(0.0);
        self.rows = sentences;
        self.row_sentence = (0..sentences).collect();
        self.first = encoded.first_input.clone().map(host).unwrap_or_default();
        self.first_pending = !self.first.is_empty();
    }

    /// Rows of the next step.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The sentence of row `row`.
    pub fn sentence_of(&self, row: usize) -> usize {
        self.row_sentence[row]
    }

    /// Source positions (padded length) of the batch.
    pub fn source_steps(&self) -> usize {
        self.source_steps
    }

    /// Attention weights of the last step, `[rows, S]` (zeros without attention).
    pub fn weights(&self) -> &[f32] {
        &self.weights[..self.rows * self.source_steps]
    }

    /// The logits `[rows, V]` and attention weights `[rows, S]` of the last step.
    pub fn outputs(&self) -> (&[f32], &[f32]) {
        (self.output.last_output(), self.weights())
    }

    /// Feeds one id per row and returns the logits of the next word, `[rows, V]`. At the
    /// first step, a memory with first inputs feeds those instead of the ids.
    pub fn step(&mut self, tokens: &[usize]) -> &[f32] {
        assert_eq!(tokens.len(), self.rows, "one token per row");
        let (e, h) = (self.embedding_size, self.hidden);
        let width = e + if self.input_feeding { h } else { 0 };
        let rows = self.rows;
        let first = std::mem::take(&mut self.first_pending);
        for (r, &token) in tokens.iter().enumerate() {
            let row = &mut self.input[r * width..(r + 1) * width];
            // At the first step row r is item r.
            let embedded = if first {
                &self.first[r * e..(r + 1) * e]
            } else {
                &self.embedding[token * e..(token + 1) * e]
            };
            row[..e].copy_from_slice(embedded);
            if self.input_feeding {
                row[e..].copy_from_slice(&self.attended[r * h..(r + 1) * h]);
            }
        }
        let decoded = self.stack.step(&self.input[..rows * width]);
        if self.kind == AttentionKind::None {
            return self.output.apply(decoded);
        }
        self.decoded[..rows * h].copy_from_slice(decoded);
        let (decoded, queries) = (&self.decoded[..rows * h], &mut self.queries);
        queries.clear();
        match &mut self.query {
            Some(q) => queries.extend_from_slice(q.apply(decoded)),
            None => queries.extend_from_slice(decoded),
        }
        let (s_max, c) = (self.source_steps, self.context);
        let score = match self.kind {
            AttentionKind::Bahdanau => Score::Additive {
                keys: &self.keys,
                v: &self.score,
            },
            _ => Score::Dot,
        };
        let memory = attention::Memory {
            values: &self.memory,
            steps: s_max,
            width: c,
            lengths: &self.lengths,
        };
        attention::attend(
            score,
            memory,
            queries,
            &self.row_sentence[..rows],
            &mut self.weights[..rows * s_max],
            &mut self.combine_input[..rows * (c + h)],
            c + h,
        );
        for (r, row) in self.combine_input[..rows * (c + h)]
            .chunks_exact_mut(c + h)
            .enumerate()
        {
            row[c..].copy_from_slice(&decoded[r * h..(r + 1) * h]);
        }
        let combined = self
            .combine
            .as_mut()
            .expect("attention has W_c")
            .apply(&self.combine_input[..rows * (c + h)]);
        rnnzoo_kernels::math::tanh_into(combined, &mut self.attended[..rows * h]);
        self.output.apply(&self.attended[..rows * h])
    }

    /// The next step has `from.len()` rows, row `r` continuing row `from[r]` of the last step
    /// (its states, attention output and sentence): beam search's back-pointers, and rows
    /// that finished left out.
    ///
    /// # Panics
    /// When `from` is empty, has more rows than there is room for, or names a row not in use.
    pub fn gather(&mut self, from: &[usize]) {
        assert!(
            from.iter().all(|&f| f < self.rows),
            "a row to continue is not in use"
        );
        self.stack.gather_rows(from);
        let h = self.hidden;
        let attended = self.attended[..self.rows * h].to_vec();
        for (r, &f) in from.iter().enumerate() {
            self.attended[r * h..(r + 1) * h].copy_from_slice(&attended[f * h..(f + 1) * h]);
        }
        self.row_sentence = from.iter().map(|&f| self.row_sentence[f]).collect();
        self.rows = from.len();
    }
}

/// What greedy decoding and beam search need of a decoder that has started a batch: the
/// scores of the next word for each row, and the rows of the next step chosen by
/// back-pointers. [`StepDecoder`] is one model; [`EnsembleDecoder`] several.
pub trait Stepping {
    /// Rows of the next step.
    fn rows(&self) -> usize;
    /// The sentence of row `row`.
    fn sentence_of(&self, row: usize) -> usize;
    /// Source positions (padded length) of the batch.
    fn source_steps(&self) -> usize;
    /// Feeds one id per row and scores the next word.
    fn step(&mut self, tokens: &[usize]);
    /// The last step's scores `[rows, V]` (logits or log-probabilities: decoding normalises
    /// them with a log-softmax) and attention weights `[rows, S]`.
    fn outputs(&self) -> (&[f32], &[f32]);
    /// The next step has `from.len()` rows, row `r` continuing row `from[r]`.
    fn gather(&mut self, from: &[usize]);
}

impl Stepping for StepDecoder {
    fn rows(&self) -> usize {
        StepDecoder::rows(self)
    }
    fn sentence_of(&self, row: usize) -> usize {
        StepDecoder::sentence_of(self, row)
    }
    fn source_steps(&self) -> usize {
        StepDecoder::source_steps(self)
    }
    fn step(&mut self, tokens: &[usize]) {
        StepDecoder::step(self, tokens);
    }
    fn outputs(&self) -> (&[f32], &[f32]) {
        StepDecoder::outputs(self)
    }
    fn gather(&mut self, from: &[usize]) {
        StepDecoder::gather(self, from);
    }
}

/// Several decoders of one vocabulary decoding together, as an ensemble. At each step every
/// member reads the same ids, and the score of word `w` is the mean of the members' logits,
/// `s_w = (1/K) Σ_k z_k(w | y_<t, image_k)`, which decoding's log-softmax turns into
/// `p(w) ∝ Π_k p_k(w)^(1/K)`: the members' normalised geometric mean, the same as averaging
/// their log-probabilities (as OpenNMT's and Marian's ensembles do), because each member's
/// log-softmax only subtracts one number per row. The attention weights are the members'
/// mean. With one member the scores are its logits unchanged, so one member decodes
/// exactly as its [`StepDecoder`] does alone.
pub struct EnsembleDecoder {
    members: Vec<StepDecoder>,
    /// `[rows, V]` the last step's mean logits (more than one member).
    scores: Vec<f32>,
    /// `[rows, S]` the last step's mean attention weights (more than one member).
    weights: Vec<f32>,
}

impl EnsembleDecoder {
    /// Decoders for `models` with room for `rows` rows each.
    ///
    /// # Panics
    /// Without members, or when their vocabularies differ in size.
    pub fn with_capacity(models: &[&AttentionDecoder], rows: usize) -> Self {
        assert!(!models.is_empty(), "an ensemble needs at least one member");
        let vocab = |m: &AttentionDecoder| m.output.weight.dims()[1];
        assert!(
            models.iter().all(|m| vocab(m) == vocab(models[0])),
            "the members of an ensemble share one vocabulary"
        );
        Self {
            members: models
                .iter()
                .map(|m| StepDecoder::with_capacity(m, rows))
                .collect(),
            scores: Vec::new(),
            weights: Vec::new(),
        }
    }

    /// Members.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Starts a batch: member `k` reads `memories[k]`, its own encoding of the same items.
    ///
    /// # Panics
    /// When there is not one memory per member, or they differ in batch or lengths.
    pub fn start(&mut self, models: &[&AttentionDecoder], memories: &[Memory]) {
        assert_eq!(models.len(), self.members.len(), "one model per member");
        assert_eq!(memories.len(), self.members.len(), "one memory per member");
        assert!(
            memories.iter().all(|m| m.lengths == memories[0].lengths),
            "the members' memories cover the same items with the same lengths"
        );
        for ((decoder, model), memory) in self.members.iter_mut().zip(models).zip(memories) {
            decoder.start(model, memory);
        }
    }
}

impl Stepping for EnsembleDecoder {
    fn rows(&self) -> usize {
        self.members[0].rows()
    }
    fn sentence_of(&self, row: usize) -> usize {
        self.members[0].sentence_of(row)
    }
    fn source_steps(&self) -> usize {
        self.members[0].source_steps()
    }
    fn step(&mut self, tokens: &[usize]) {
        for member in &mut self.members {
            member.step(tokens);
        }
        if self.members.len() == 1 {
            return;
        }
        let share = 1.0 / self.members.len() as f32;
        self.scores.clear();
        self.weights.clear();
        for member in &self.members {
            let (logits, weights) = member.outputs();
            if self.scores.is_empty() {
                self.scores.resize(logits.len(), 0.0);
                self.weights.resize(weights.len(), 0.0);
            }
            // Each member's log-softmax subtracts one number per row, which the decoding's own
            // log-softmax takes out again: the mean of the logits scores as the mean of the
            // log-probabilities does.
            for (o, &x) in self.scores.iter_mut().zip(logits) {
                *o += x * share;
            }
            for (o, &w) in self.weights.iter_mut().zip(weights) {
                *o += w * share;
            }
        }
    }
    fn outputs(&self) -> (&[f32], &[f32]) {
        if self.members.len() == 1 {
            self.members[0].outputs()
        } else {
            (&self.scores, &self.weights)
        }
    }
    fn gather(&mut self, from: &[usize]) {
        for member in &mut self.members {
            member.gather(from);
        }
    }
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

/// Greedy decoding of a batch: at most `max_lengths[b]` ids for item `b`. Items that have
/// finished leave the batch.
pub fn greedy(
    model: &AttentionDecoder,
    memory: &Memory,
    max_lengths: &[usize],
    specials: Specials,
) -> Vec<Hypothesis> {
    let mut decoder = StepDecoder::with_capacity(model, memory.batch());
    greedy_with(&mut decoder, model, memory, max_lengths, specials)
}

/// [`greedy`] on a decoder made once for many batches (room for at least one row per
/// sentence).
pub fn greedy_with(
    decoder: &mut StepDecoder,
    model: &AttentionDecoder,
    encoded: &Memory,
    max_lengths: &[usize],
    specials: Specials,
) -> Vec<Hypothesis> {
    decoder.start(model, encoded);
    greedy_started(
        decoder,
        &encoded.lengths,
        model.attention.is_some(),
        max_lengths,
        specials,
    )
}

/// Greedy decoding by a decoder that has started a batch whose memory lengths are
/// `source_lengths` (one per sentence); `attention` says whether to record its weights.
pub fn greedy_started(
    decoder: &mut impl Stepping,
    source_lengths: &[usize],
    attention: bool,
    max_lengths: &[usize],
    Specials { bos, eos }: Specials,
) -> Vec<Hypothesis> {
    let n = source_lengths.len();
    let mut hyps = vec![
        Hypothesis {
            tokens: Vec::new(),
            log_prob: 0.0,
            alignment: Vec::new(),
            attention: Vec::new(),
        };
        n
    ];
    let mut tokens = vec![bos; n];
    let steps = max_lengths.iter().copied().max().unwrap_or(0);
    let s = decoder.source_steps();
    let mut running = Vec::with_capacity(n);
    for t in 0..steps {
        decoder.step(&tokens);
        let (logits, weights) = decoder.outputs();
        let v = logits.len() / tokens.len();
        let lse = log_sum_exp(logits, v);
        running.clear();
        for (r, token) in tokens.iter_mut().enumerate() {
            let b = decoder.sentence_of(r);
            let row = &logits[r * v..(r + 1) * v];
            let best = argmax(row);
            let hyp = &mut hyps[b];
            hyp.log_prob += (row[best] - lse[r]) as f64;
            if attention {
                let w = &weights[r * s..(r + 1) * s];
                hyp.attention.push(w[..source_lengths[b]].to_vec());
                if best != eos {
                    hyp.alignment.push(argmax(w));
                }
            }
            if best != eos {
                hyp.tokens.push(best);
                if t + 1 < max_lengths[b] {
                    running.push(r);
                }
            }
            *token = best;
        }
        if running.is_empty() {
            break;
        }
        tokens = running.iter().map(|&r| tokens[r]).collect();
        decoder.gather(&running);
    }
    hyps
}

/// Words of a logit row that beam search's candidate selection skips together.
const BLOCK: usize = 64;

/// The largest value of a block, in 16 independent maxima (a serial fold does not vectorise).
fn block_max(block: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = block.chunks_exact(16);
    for chunk in &mut chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = if x > *m { x } else { *m };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m })
}

/// Merges row `row`'s continuations `(base + x_id, row, id)` into `best`, the `n` highest
/// scores so far in descending order; among equal scores the earlier row and id stay first.
fn keep_best(best: &mut Vec<(f64, usize, usize)>, n: usize, row: usize, logits: &[f32], base: f64) {
    for (block_index, block) in logits.chunks(BLOCK).enumerate() {
        // A block none of whose words would enter the list is skipped on its maximum
        // (exactly: `base + x` rounds monotonically in x), so once the list is full most of
        // the vocabulary costs one vectorised pass.
        if best.len() == n && base + block_max(block) as f64 <= best[n - 1].0 {
            continue;
        }
        for (j, &x) in block.iter().enumerate() {
            let score = base + x as f64;
            if best.len() == n && score <= best[n - 1].0 {
                continue;
            }
            let at = best.partition_point(|c| c.0 >= score);
            best.insert(at, (score, row, block_index * BLOCK + j));
            best.truncate(n);
        }
    }
}

/// A live beam: its log-probability and how many words it has.
#[derive(Clone, Copy)]
struct Live {
    log_prob: f64,
    length: usize,
}

/// A finished hypothesis, found again through the back-pointers: its last word was chosen at
/// `step` from row `row`'s logits; `last` is that word, or `None` when it was `</s>`
/// (a hypothesis that ran out of length ends on a real word).
#[derive(Clone, Copy)]
struct Finished {
    step: usize,
    row: usize,
    last: Option<usize>,
    log_prob: f64,
    length: usize,
}

/// What beam search remembers of each step, so that hypotheses need not be copied: for every
/// row of the next step, the row it came from and the word it was fed; and the attention
/// weights of every row.
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
        let mut push = |id: Option<usize>, w: Option<Vec<f32>>| {
            if let Some(id) = id {
                tokens.push(id);
            }
            if let Some(w) = w {
                if id.is_some() {
                    alignment.push(argmax(&w));
                }
                attention.push(w);
            }
        };
        push(f.last, attended.then(|| weights_of(f.step, f.row)));
        // Row `row` of step `t` was fed the word its parent chose at step `t - 1`.
        let (mut t, mut row) = (f.step, f.row);
        while t > 0 {
            let (parent, id) = self.nodes[t - 1][row];
            push(Some(id), attended.then(|| weights_of(t - 1, parent)));
            t -= 1;
            row = parent;
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
/// ones then count as finished). Only live hypotheses occupy rows (one per sentence at the
/// first step, none once a sentence is done); they are kept as back-pointers, not copies.
pub fn beam_search(
    model: &AttentionDecoder,
    memory: &Memory,
    max_lengths: &[usize],
    beam: usize,
    length_penalty: f64,
    specials: Specials,
) -> Vec<Hypothesis> {
    let mut decoder = StepDecoder::with_capacity(model, memory.batch() * beam.max(1));
    beam_search_with(
        &mut decoder,
        model,
        memory,
        max_lengths,
        beam,
        length_penalty,
        specials,
    )
}

/// [`beam_search`] on a decoder made once for many batches (room for at least `beam` rows
/// per sentence).
pub fn beam_search_with(
    decoder: &mut StepDecoder,
    model: &AttentionDecoder,
    encoded: &Memory,
    max_lengths: &[usize],
    beam: usize,
    length_penalty: f64,
    specials: Specials,
) -> Vec<Hypothesis> {
    decoder.start(model, encoded);
    beam_search_started(
        decoder,
        &encoded.lengths,
        model.attention.is_some(),
        max_lengths,
        beam,
        length_penalty,
        specials,
    )
}

/// Beam search by a decoder that has started a batch whose memory lengths are
/// `source_lengths` (one per sentence); `attention` says whether to record its weights.
pub fn beam_search_started(
    decoder: &mut impl Stepping,
    source_lengths: &[usize],
    attention: bool,
    max_lengths: &[usize],
    beam: usize,
    length_penalty: f64,
    Specials { bos, eos }: Specials,
) -> Vec<Hypothesis> {
    let k = beam.max(1);
    let n = source_lengths.len();
    // One live hypothesis per row, the rows of a sentence together and in rank order.
    let mut live = vec![
        Live {
            log_prob: 0.0,
            length: 0,
        };
        n
    ];
    let mut finished: Vec<Vec<Finished>> = vec![Vec::new(); n];
    let mut tokens = vec![bos; n];
    let mut trace = Trace {
        nodes: Vec::new(),
        weights: Vec::new(),
        source_steps: decoder.source_steps(),
    };
    let steps = max_lengths.iter().copied().max().unwrap_or(0);
    let mut best: Vec<(f64, usize, usize)> = Vec::with_capacity(2 * k + 1);
    for t in 0..steps {
        decoder.step(&tokens);
        let (logits, weights) = decoder.outputs();
        let rows = live.len();
        let v = logits.len() / rows;
        let lse = log_sum_exp(logits, v);
        // The next step's rows: where each came from, its word and its hypothesis.
        let mut nodes: Vec<(usize, usize)> = Vec::with_capacity(rows.max(n) * k);
        let mut next_live = Vec::with_capacity(nodes.capacity());
        let mut start = 0;
        while start < rows {
            let b = decoder.sentence_of(start);
            let mut end = start + 1;
            while end < rows && decoder.sentence_of(end) == b {
                end += 1;
            }
            // The best 2k continuations over the sentence's beams: (score, row, id), best
            // first; ties keep the lower row and id first, as greedy's argmax does.
            best.clear();
            for r in start..end {
                let row = &logits[r * v..(r + 1) * v];
                keep_best(&mut best, 2 * k, r, row, live[r].log_prob - lse[r] as f64);
            }
            let first_kept = nodes.len();
            for &(score, r, id) in &best {
                if nodes.len() - first_kept == k || finished[b].len() >= k {
                    break;
                }
                let length = live[r].length + 1;
                if id == eos {
                    finished[b].push(Finished {
                        step: t,
                        row: r,
                        last: None,
                        log_prob: score,
                        length,
                    });
                } else {
                    nodes.push((r, id));
                    next_live.push(Live {
                        log_prob: score,
                        length,
                    });
                }
            }
            if finished[b].len() >= k || t + 1 >= max_lengths[b] {
                // Done: hypotheses still alive count as finished when the beam is not full.
                let kept = first_kept..nodes.len();
                let full = finished[b].len() >= k;
                for (&(r, id), beam) in nodes[kept.clone()].iter().zip(&next_live[kept]) {
                    if !full {
                        finished[b].push(Finished {
                            step: t,
                            row: r,
                            last: Some(id),
                            log_prob: beam.log_prob,
                            length: beam.length,
                        });
                    }
                }
                nodes.truncate(first_kept);
                next_live.truncate(first_kept);
            }
            start = end;
        }
        if attention {
            trace.weights.push(weights.to_vec());
        }
        if nodes.is_empty() {
            break;
        }
        let from: Vec<usize> = nodes.iter().map(|&(r, _)| r).collect();
        tokens = nodes.iter().map(|&(_, id)| id).collect();
        trace.nodes.push(nodes);
        live = next_live;
        decoder.gather(&from);
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
                |f| trace.hypothesis(f, source_lengths[b]),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The candidate list skips whole blocks of the vocabulary; it must keep exactly what a
    /// full sort keeps (score descending, then row, then id), ties and block edges included.
    #[test]
    fn candidate_selection_equals_a_full_sort() {
        // 3 rows of 203 words (three full blocks and a partial one), coarse values so that
        // scores tie, the best words of row 2 in its last, partial block.
        let (rows, words, n) = (3, 203, 10);
        let mut x = 7u32;
        let logits: Vec<f32> = (0..rows * words)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let coarse = (x >> 28) as f32 * 0.25;
                if i >= 2 * words + 195 {
                    coarse + 9.0
                } else {
                    coarse
                }
            })
            .collect();
        let bases = [-1.0, -0.75, -3.5];
        let mut best = Vec::new();
        for r in 0..rows {
            keep_best(
                &mut best,
                n,
                r,
                &logits[r * words..(r + 1) * words],
                bases[r],
            );
        }
        let mut all: Vec<(f64, usize, usize)> = (0..rows * words)
            .map(|i| (bases[i / words] + logits[i] as f64, i / words, i % words))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        all.truncate(n);
        assert_eq!(best, all);
        assert!(
            best.iter().any(|c| c.1 == 2 && c.2 >= 195),
            "the partial block counts"
        );
    }
}
