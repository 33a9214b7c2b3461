//! Decoding translations through the step-by-step inference path: the encoder runs once per
//! batch as a whole sequence, then `rnnzoo_models::decode` runs the decoder, attention and
//! output layer one token at a time on host buffers. These are its functions on sources.
//!
//! [`greedy`] takes the most probable word at each step; [`beam_search`] keeps `K` hypotheses
//! per sentence in one batch of `sentences · K` rows, scores finished ones by
//! `log p / length^α` and returns the best. With `K = 1` the beam search returns exactly what
//! greedy decoding does (a test holds them to it).

use rnnzoo_models::decode::{self as shared, Specials};
pub use rnnzoo_models::decode::{Hypothesis, StepDecoder};

use crate::model::{Encoded, Seq2Seq};
use crate::tokenizer::{BOS, EOS};

/// `<s>` and `</s>` of the target side.
pub const SPECIALS: Specials = Specials { bos: BOS, eos: EOS };

/// Encodes sources (ids without `</s>`; an empty one reads as `</s>`) on the model's device.
pub fn encode_sources(model: &Seq2Seq, sources: &[&[usize]]) -> Encoded {
    let (ids, lengths) = crate::model::pad_sources(sources, &model.decoder.output.weight.device());
    model.encode(ids, &lengths)
}

/// Greedy decoding of a batch: at most `max_lengths[b]` ids for sentence `b`.
pub fn greedy(model: &Seq2Seq, sources: &[&[usize]], max_lengths: &[usize]) -> Vec<Hypothesis> {
    let mut decoder = StepDecoder::with_capacity(&model.decoder, sources.len());
    greedy_with(&mut decoder, model, sources, max_lengths)
}

/// [`greedy`] on a decoder made once for many batches (room for at least one row per
/// sentence).
pub fn greedy_with(
    decoder: &mut StepDecoder,
    model: &Seq2Seq,
    sources: &[&[usize]],
    max_lengths: &[usize],
) -> Vec<Hypothesis> {
    let encoded = encode_sources(model, sources);
    shared::greedy_with(decoder, &model.decoder, &encoded, max_lengths, SPECIALS)
}

/// Batched beam search with `beam` hypotheses per sentence (see
/// [`rnnzoo_models::decode::beam_search`]).
pub fn beam_search(
    model: &Seq2Seq,
    sources: &[&[usize]],
    max_lengths: &[usize],
    beam: usize,
    length_penalty: f64,
) -> Vec<Hypothesis> {
    let mut decoder = StepDecoder::with_capacity(&model.decoder, sources.len() * beam.max(1));
    beam_search_with(
        &mut decoder,
        model,
        sources,
        max_lengths,
        beam,
        length_penalty,
    )
}

/// [`beam_search`] on a decoder made once for many batches (room for at least `beam` rows
/// per sentence).
pub fn beam_search_with(
    decoder: &mut StepDecoder,
    model: &Seq2Seq,
    sources: &[&[usize]],
    max_lengths: &[usize],
    beam: usize,
    length_penalty: f64,
) -> Vec<Hypothesis> {
    let encoded = encode_sources(model, sources);
    shared::beam_search_with(
        decoder,
        &model.decoder,
        &encoded,
        max_lengths,
        beam,
        length_penalty,
        SPECIALS,
    )
}
