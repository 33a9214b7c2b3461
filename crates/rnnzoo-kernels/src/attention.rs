//! One decoding step of attention over a batch's memory, for every row being decoded (a
//! sentence's beams are rows that share its memory).
//!
//! Row `r` belongs to item `b = item_of[r]`, whose memory holds `lengths[b]` vectors `m_s` of
//! `width` values (padded to `steps`). Its scores are
//!
//! - dot (Luong `dot`, and `general` once the query is `W_a d_t`): `e_s = q_r · m_s`;
//! - additive (Bahdanau): `e_s = v · tanh(q_r + k_s)`, with the keys `k_s = W_k m_s + b`
//!   computed once per batch;
//!
//! then `a = softmax(e)` over the item's length (zeros past it) and the context
//! `c_r = Σ_s a_s m_s`. Rows are independent: they are split over the threads, and each row's
//! dot products run in [`LANES`] independent partial sums so that they vectorise (a plain
//! `sum()` is one serial chain of additions, which the compiler may not reorder).

use rayon::prelude::*;

use crate::math::{exp, tanh};
use crate::simd;

/// Independent partial sums of the dot products.
const LANES: usize = 16;

/// Rows a task takes at least (a row costs `2 · length · width` multiply-adds).
const MIN_ROWS_PER_TASK: usize = 4;

/// How the scores are computed.
#[derive(Clone, Copy, Debug)]
pub enum Score<'a> {
    /// `e_s = q · m_s`: queries are `width` wide.
    Dot,
    /// `e_s = v · tanh(q + k_s)`: `keys [items, steps, A]`, `v [A]`, queries `A` wide.
    Additive {
        /// `[items, steps, A]` the keys `W_k m_s + b`.
        keys: &'a [f32],
        /// `[A]` the score vector `v`.
        v: &'a [f32],
    },
}

/// The batch's memory: `values [items, steps, width]` row-major, `lengths [items]`.
#[derive(Clone, Copy, Debug)]
pub struct Memory<'a> {
    /// `[items, steps, width]` the vectors attended over.
    pub values: &'a [f32],
    /// Padded length `S`.
    pub steps: usize,
    /// Width `C` of a vector.
    pub width: usize,
    /// Real length of each item.
    pub lengths: &'a [usize],
}

/// `Σ a_i b_i` in [`LANES`] partial sums.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let body = n - n % LANES;
    let mut lanes = [0.0f32; LANES];
    for (x, y) in a[..body]
        .chunks_exact(LANES)
        .zip(b[..body].chunks_exact(LANES))
    {
        for i in 0..LANES {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = a[body..n].iter().zip(&b[body..n]).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

/// `v · tanh(q + k)` in [`LANES`] partial sums.
#[inline(always)]
fn additive(q: &[f32], k: &[f32], v: &[f32]) -> f32 {
    let n = q.len();
    let body = n - n % LANES;
    let mut lanes = [0.0f32; LANES];
    for ((q, k), v) in q[..body]
        .chunks_exact(LANES)
        .zip(k[..body].chunks_exact(LANES))
        .zip(v[..body].chunks_exact(LANES))
    {
        for i in 0..LANES {
            lanes[i] += v[i] * tanh(q[i] + k[i]);
        }
    }
    let tail: f32 = (body..n).map(|i| v[i] * tanh(q[i] + k[i])).sum();
    lanes.iter().sum::<f32>() + tail
}

/// One row: scores, softmax and context.
#[inline(always)]
fn attend_row(
    score: Score,
    memory: &Memory,
    item: usize,
    query: &[f32],
    weights: &mut [f32],
    context: &mut [f32],
) {
    let (s_max, c) = (memory.steps, memory.width);
    let len = memory.lengths[item];
    let values = &memory.values[item * s_max * c..(item + 1) * s_max * c];
    for (s, e) in weights[..len].iter_mut().enumerate() {
        *e = match score {
            Score::Dot => dot(query, &values[s * c..(s + 1) * c]),
            Score::Additive { keys, v } => {
                let a = v.len();
                let k = &keys[(item * s_max + s) * a..(item * s_max + s + 1) * a];
                additive(query, k, v)
            }
        };
    }
    let max = weights[..len]
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for e in &mut weights[..len] {
        *e = exp(*e - max);
        sum += *e;
    }
    for e in &mut weights[..len] {
        *e /= sum;
    }
    weights[len..].fill(0.0);
    let context = &mut context[..c];
    context.fill(0.0);
    for (s, &a) in weights[..len].iter().enumerate() {
        for (x, m) in context.iter_mut().zip(&values[s * c..(s + 1) * c]) {
            *x += a * m;
        }
    }
}

/// Attention for `item_of.len()` rows: `queries [rows, Q]` (`Q` = the memory's width for
/// [`Score::Dot`], `v`'s for [`Score::Additive`]); writes `weights [rows, steps]` and each
/// row's context into the first `width` values of its row of `context`, whose rows are
/// `context_stride` apart (the rest of each row is left as it is).
///
/// # Panics
/// When the sizes disagree, or an item is empty or longer than the padded length.
pub fn attend(
    score: Score,
    memory: Memory,
    queries: &[f32],
    item_of: &[usize],
    weights: &mut [f32],
    context: &mut [f32],
    context_stride: usize,
) {
    let rows = item_of.len();
    if rows == 0 {
        return;
    }
    let (s_max, c) = (memory.steps, memory.width);
    let items = memory.lengths.len();
    assert_eq!(
        memory.values.len(),
        items * s_max * c,
        "memory is not [items, S, C]"
    );
    assert!(
        memory.lengths.iter().all(|&l| l > 0 && l <= s_max),
        "an item is empty or longer than {s_max}"
    );
    assert!(item_of.iter().all(|&b| b < items), "a row names no item");
    let q_width = match score {
        Score::Dot => c,
        Score::Additive { keys, v } => {
            assert_eq!(
                keys.len(),
                items * s_max * v.len(),
                "keys are not [items, S, A]"
            );
            v.len()
        }
    };
    assert_eq!(queries.len(), rows * q_width, "queries are not [rows, Q]");
    assert!(weights.len() >= rows * s_max, "weights are not [rows, S]");
    assert!(
        context_stride >= c && context.len() >= (rows - 1) * context_stride + c,
        "context rows are too small"
    );
    weights[..rows * s_max]
        .par_chunks_mut(s_max)
        .zip(context.par_chunks_mut(context_stride))
        .zip(queries.par_chunks(q_width))
        .zip(item_of.par_iter())
        .with_min_len(MIN_ROWS_PER_TASK)
        .for_each(|(((w, ctx), q), &item)| {
            simd(
                #[inline(always)]
                || attend_row(score, &memory, item, q, w, ctx),
            )
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values as values;

    /// The scores, weights and context of one row, term by term in `f64`.
    fn reference(score: Score, memory: &Memory, item: usize, q: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (s_max, c, len) = (memory.steps, memory.width, memory.lengths[item]);
        let m = |s: usize, j: usize| memory.values[(item * s_max + s) * c + j] as f64;
        let e: Vec<f64> = (0..len)
            .map(|s| match score {
                Score::Dot => (0..c).map(|j| q[j] as f64 * m(s, j)).sum(),
                Score::Additive { keys, v } => {
                    let a = v.len();
                    (0..a)
                        .map(|j| {
                            let k = keys[(item * s_max + s) * a + j] as f64;
                            v[j] as f64 * (q[j] as f64 + k).tanh()
                        })
                        .sum()
                }
            })
            .collect();
        let max = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = e.iter().map(|x| (x - max).exp()).sum();
        let mut w: Vec<f64> = e.iter().map(|x| (x - max).exp() / z).collect();
        let ctx = (0..c)
            .map(|j| (0..len).map(|s| w[s] * m(s, j)).sum())
            .collect();
        w.resize(s_max, 0.0);
        (w, ctx)
    }

    #[test]
    fn matches_a_term_by_term_reference() {
        // 3 items padded to 9 steps of width 37 (not a multiple of the lanes), 7 rows; additive
        // scores 21 wide; context rows 50 apart (37 of context, 13 left alone).
        let (items, s_max, c, a, rows, stride) = (3, 9, 37, 21, 7, 50);
        let lengths = [9, 4, 1];
        let item_of = [2, 0, 0, 1, 2, 1, 0];
        let memory_values = values(items * s_max * c, 1);
        let keys = values(items * s_max * a, 2);
        let v = values(a, 3);
        let memory = Memory {
            values: &memory_values,
            steps: s_max,
            width: c,
            lengths: &lengths,
        };
        for score in [Score::Dot, Score::Additive { keys: &keys, v: &v }] {
            let q_width = if matches!(score, Score::Dot) { c } else { a };
            let queries = values(rows * q_width, 4);
            let mut weights = vec![f32::NAN; rows * s_max];
            let mut context = vec![7.0f32; rows * stride];
            attend(
                score,
                memory,
                &queries,
                &item_of,
                &mut weights,
                &mut context,
                stride,
            );
            for (r, &item) in item_of.iter().enumerate() {
                let q = &queries[r * q_width..(r + 1) * q_width];
                let (w, ctx) = reference(score, &memory, item, q);
                for (got, want) in weights[r * s_max..(r + 1) * s_max].iter().zip(&w) {
                    assert!(
                        (*got as f64 - want).abs() < 1e-6,
                        "row {r}: {got} vs {want}"
                    );
                }
                let row = &context[r * stride..(r + 1) * stride];
                for (got, want) in row[..c].iter().zip(&ctx) {
                    assert!(
                        (*got as f64 - want).abs() < 1e-6,
                        "row {r}: {got} vs {want}"
                    );
                }
                assert!(
                    row[c..].iter().all(|&x| x == 7.0),
                    "row {r}: past the context"
                );
            }
        }
    }
}
