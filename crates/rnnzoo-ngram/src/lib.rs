//! Interpolated modified Kneser-Ney n-gram language models (Chen & Goodman 1998, section 3).
//!
//! For order `n`, history `h` (the previous `n - 1` tokens) and its shortened history `h'`:
//!
//! ```text
//! P_n(w | h) = max(c(h w) - D_n(c(h w)), 0) / c(h) + γ(h) P_{n-1}(w | h')
//! γ(h)       = (D_n,1 N_1(h •) + D_n,2 N_2(h •) + D_n,3+ N_3+(h •)) / c(h)
//! P_0(w)     = 1 / V
//! ```
//!
//! where `c` is the raw count at the highest order and the continuation count (number of
//! distinct tokens seen before the n-gram) at lower orders, `N_k(h •)` counts the tokens that
//! follow `h` exactly `k` times (3 or more for `N_3+`), and a history never seen falls back to
//! the lower order entirely. The discounts come from the counts-of-counts `n_1..n_4` of each
//! order: `Y = n_1 / (n_1 + 2 n_2)`, `D_1 = 1 - 2Y n_2/n_1`, `D_2 = 2 - 3Y n_3/n_2`,
//! `D_3+ = 3 - 4Y n_4/n_3`.

use std::collections::HashMap;

/// Tokens per key: ids must be below 2^24.
const BITS: u32 = 24;
const MAX_ORDER: usize = 5;

/// An n-gram (or history) of up to five ids packed in a `u128`, with its length.
fn key(tokens: &[usize]) -> u128 {
    debug_assert!(tokens.len() <= MAX_ORDER);
    let mut k = tokens.len() as u128;
    for &t in tokens {
        k = (k << BITS) | t as u128;
    }
    k
}

/// Counts of one history: total, and how many followers were seen once, twice, 3+ times.
#[derive(Clone, Copy, Debug, Default)]
struct History {
    total: u64,
    n1: u64,
    n2: u64,
    n3: u64,
}

/// One order's statistics.
#[derive(Debug, Default)]
struct Order {
    /// n-gram -> count (raw at the top order, continuation below).
    counts: HashMap<u128, u64>,
    /// history -> its follower statistics.
    histories: HashMap<u128, History>,
    /// Discounts for counts 1, 2, 3+.
    discounts: [f64; 3],
}

/// A trained model.
#[derive(Debug)]
pub struct KneserNey {
    order: usize,
    vocab: usize,
    /// `orders[k]` holds the (k+1)-grams.
    orders: Vec<Order>,
}

fn discounts(counts: &HashMap<u128, u64>) -> [f64; 3] {
    let mut n = [0u64; 5];
    for &c in counts.values() {
        if (1..=4).contains(&c) {
            n[c as usize] += 1;
        }
    }
    let (n1, n2, n3, n4) = (n[1] as f64, n[2] as f64, n[3] as f64, n[4] as f64);
    // Too little (or too regular) data for the estimate: fixed discounts, as SRILM falls back.
    const FALLBACK: [f64; 3] = [0.5, 0.75, 0.75];
    if n1 == 0.0 || n2 == 0.0 || n3 == 0.0 || n4 == 0.0 {
        return FALLBACK;
    }
    let y = n1 / (n1 + 2.0 * n2);
    let d = [
        1.0 - 2.0 * y * n2 / n1,
        2.0 - 3.0 * y * n3 / n2,
        3.0 - 4.0 * y * n4 / n3,
    ];
    // A discount must be positive (else a history could leave no mass for unseen tokens) and
    // below the count it discounts.
    if d.iter()
        .zip([1.0, 2.0, 3.0])
        .all(|(&d, c)| d > 0.0 && d < c)
    {
        d
    } else {
        FALLBACK
    }
}

impl KneserNey {
    /// Counts the n-grams of `tokens` (ids below `vocab`) up to `order` (1..=5).
    pub fn train(tokens: &[usize], vocab: usize, order: usize) -> Self {
        assert!(
            (1..=MAX_ORDER).contains(&order),
            "order must be 1..={MAX_ORDER}, got {order}"
        );
        assert!(
            vocab > 0 && vocab < (1 << BITS),
            "vocabulary size {vocab} out of range"
        );
        assert!(
            tokens.iter().all(|&t| t < vocab),
            "token id beyond the vocabulary"
        );
        let mut orders: Vec<Order> = (0..order).map(|_| Order::default()).collect();
        // Raw counts of the top order.
        for window in tokens.windows(order) {
            *orders[order - 1].counts.entry(key(window)).or_default() += 1;
        }
        // Continuation counts: each distinct (k+1)-gram adds one to its k-suffix.
        for k in (1..order).rev() {
            let suffixes: Vec<u128> = orders[k]
                .counts
                .keys()
                .map(|&g| {
                    let len = k + 1;
                    let mask = (1u128 << (BITS as usize * k)) - 1;
                    ((len as u128 - 1) << (BITS as usize * k)) | (g & mask)
                })
                .collect();
            for s in suffixes {
                *orders[k - 1].counts.entry(s).or_default() += 1;
            }
        }
        for (k, o) in orders.iter_mut().enumerate() {
            o.discounts = discounts(&o.counts);
            let history_len = k;
            for (&g, &c) in &o.counts {
                let mask = (1u128 << (BITS as usize * (history_len + 1))) - 1;
                let body = (g & mask) >> BITS; // drop the last token
                let h = ((history_len as u128) << (BITS as usize * history_len)) | body;
                let entry = o.histories.entry(h).or_default();
                entry.total += c;
                match c {
                    1 => entry.n1 += 1,
                    2 => entry.n2 += 1,
                    _ => entry.n3 += 1,
                }
            }
        }
        Self {
            order,
            vocab,
            orders,
        }
    }

    /// Number of distinct n-grams of every order (the model's size).
    pub fn num_ngrams(&self) -> usize {
        self.orders.iter().map(|o| o.counts.len()).sum()
    }

    /// The order `n`.
    pub fn order(&self) -> usize {
        self.order
    }

    /// `P(w | history)`, using at most the last `order - 1` tokens of `history`.
    pub fn prob(&self, history: &[usize], w: usize) -> f64 {
        let start = history.len().saturating_sub(self.order - 1);
        self.prob_at(&history[start..], w)
    }

    fn prob_at(&self, history: &[usize], w: usize) -> f64 {
        let lower = if history.is_empty() {
            1.0 / self.vocab as f64
        } else {
            self.prob_at(&history[1..], w)
        };
        let o = &self.orders[history.len()];
        let Some(h) = o.histories.get(&key(history)) else {
            return lower;
        };
        let mut gram = history.to_vec();
        gram.push(w);
        let c = o.counts.get(&key(&gram)).copied().unwrap_or(0);
        let d = &o.discounts;
        let discount = match c {
            0 => 0.0,
            1 => d[0],
            2 => d[1],
            _ => d[2],
        };
        let total = h.total as f64;
        let gamma = (d[0] * h.n1 as f64 + d[1] * h.n2 as f64 + d[2] * h.n3 as f64) / total;
        (c as f64 - discount).max(0.0) / total + gamma * lower
    }

    /// Mean negative log-likelihood (nats per token) of `tokens[1..]`, each given the tokens
    /// before it (the first `order - 1` with shorter histories).
    pub fn cross_entropy(&self, tokens: &[usize]) -> f64 {
        if tokens.len() < 2 {
            return f64::NAN;
        }
        self.token_losses(tokens).iter().sum::<f64>() / (tokens.len() - 1) as f64
    }

    /// `-ln p(tokens[i] | tokens[..i])` for every `i` from 1: the terms [`cross_entropy`]
    /// averages.
    ///
    /// [`cross_entropy`]: KneserNey::cross_entropy
    pub fn token_losses(&self, tokens: &[usize]) -> Vec<f64> {
        (1..tokens.len())
            .map(|i| -self.prob(&tokens[..i], tokens[i]).ln())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<usize> {
        // A small "language" over 6 tokens with strong bigram structure and some noise.
        let mut s = 7u64;
        (0..4000)
            .scan(0usize, |prev, _| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (s >> 33) % 10;
                *prev = if r < 7 {
                    (*prev + 1) % 6
                } else {
                    (r % 6) as usize
                };
                Some(*prev)
            })
            .collect()
    }

    #[test]
    fn every_conditional_distribution_sums_to_one() {
        let tokens = corpus();
        for order in 1..=5 {
            let m = KneserNey::train(&tokens[..3000], 7, order);
            for history in [
                &[][..],
                &[0],
                &[3, 4],
                &[5, 0, 1],
                &[1, 1, 1, 1],
                &[6, 6, 6, 6],
            ] {
                let sum: f64 = (0..7).map(|w| m.prob(history, w)).sum();
                assert!(
                    (sum - 1.0).abs() < 1e-9,
                    "order {order}, {history:?}: {sum}"
                );
            }
        }
    }

    #[test]
    fn higher_orders_fit_structured_text_better_and_unseen_tokens_stay_finite() {
        let tokens = corpus();
        let (train, test) = tokens.split_at(3000);
        let loss = |order| KneserNey::train(train, 7, order).cross_entropy(test);
        let (l1, l2) = (loss(1), loss(2));
        assert!(l2 < l1 - 0.3, "bigrams capture the structure: {l1} vs {l2}");
        assert!(loss(3) <= l2 + 0.05);
        // Token 6 never occurs in training: it still gets probability mass.
        let m = KneserNey::train(train, 7, 3);
        assert!(m.prob(&[0, 1], 6) > 0.0);
    }

    #[test]
    fn discounts_follow_the_counts_of_counts() {
        let mut counts = HashMap::new();
        let mut next = 0u128;
        for (c, how_many) in [(1u64, 100), (2, 40), (3, 20), (4, 10), (9, 5)] {
            for _ in 0..how_many {
                counts.insert(next, c);
                next += 1;
            }
        }
        let d = discounts(&counts);
        let y = 100.0 / (100.0 + 80.0);
        assert!((d[0] - (1.0 - 2.0 * y * 40.0 / 100.0)).abs() < 1e-12);
        assert!((d[1] - (2.0 - 3.0 * y * 20.0 / 40.0)).abs() < 1e-12);
        assert!((d[2] - (3.0 - 4.0 * y * 10.0 / 20.0)).abs() < 1e-12);
    }
}
