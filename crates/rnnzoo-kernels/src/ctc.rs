//! Connectionist temporal classification (Graves et al. 2006) from logits, fused with the
//! softmax: one forward-backward pass per utterance, utterances split over the threads.
//!
//! For an utterance with frames `t < T`, log-probabilities `y_t = log_softmax(x_t)` and labels
//! `l` (no blanks) extended to `l' = (blank, l_1, blank, l_2, …, l_L, blank)` of length
//! `S = 2L + 1`:
//!
//! - `α_0(0) = y_0(blank)`, `α_0(1) = y_0(l'_1)`;
//!   `α_t(s) = y_t(l'_s) + log(α_{t-1}(s) + α_{t-1}(s-1) + [l'_s ≠ blank ∧ l'_s ≠ l'_{s-2}] α_{t-1}(s-2))`
//!   (sums of probabilities written in log space);
//! - `β` the same recursion run from the end, and `-log p(l|x) = -log(α_{T-1}(S-1) + α_{T-1}(S-2))`;
//! - the gradient of `-log p` with respect to the logits is
//!   `softmax(x_t)_k - Σ_{s: l'_s = k} α_t(s) β_t(s) / (y_t(k) p)`, zero for padded frames.
//!
//! The recursions run in `f64`. An utterance with no alignment (fewer frames than its labels
//! and their repeats need) has an infinite loss; [`ctc_loss`] reports it as such and gives it
//! a zero gradient (PyTorch's `zero_infinity` for the gradient only).

use rayon::prelude::*;

/// One utterance's loss and, when asked, gradient with respect to its logits.
struct Utterance {
    loss: f64,
    grad: Vec<f32>,
}

/// `log(e^a + e^b)` with `-∞` handled.
#[inline]
pub fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// Per-utterance CTC losses (`-log p(labels | logits)`, `+∞` where no alignment exists) of
/// `logits [B, T, C]` (batch first, row-major), utterance `b` using its first
/// `input_lengths[b]` frames; with `gradient`, also `d Σ_b weights[b]·loss_b / d logits`
/// `[B, T, C]` (utterances with an infinite loss contribute nothing).
///
/// # Panics
/// When the sizes disagree, a length exceeds `T`, or a label is the blank or out of range.
#[allow(clippy::too_many_arguments)]
pub fn ctc_loss(
    logits: &[f32],
    [batch, time, classes]: [usize; 3],
    input_lengths: &[usize],
    targets: &[Vec<usize>],
    blank: usize,
    weights: &[f32],
    gradient: bool,
) -> (Vec<f64>, Option<Vec<f32>>) {
    assert_eq!(
        logits.len(),
        batch * time * classes,
        "logits are not [B, T, C]"
    );
    assert_eq!(input_lengths.len(), batch, "one input length per utterance");
    assert_eq!(targets.len(), batch, "one target per utterance");
    assert_eq!(weights.len(), batch, "one weight per utterance");
    assert!(
        blank < classes,
        "blank {blank} out of range for {classes} classes"
    );
    let per = time * classes;
    let results: Vec<Utterance> = (0..batch)
        .into_par_iter()
        .map(|b| {
            let frames = input_lengths[b];
            assert!(
                frames <= time,
                "input length {frames} exceeds {time} frames"
            );
            for &l in &targets[b] {
                assert!(
                    l < classes && l != blank,
                    "label {l} is the blank or out of range"
                );
            }
            utterance(
                &logits[b * per..(b + 1) * per],
                frames,
                classes,
                &targets[b],
                blank,
                weights[b],
                gradient,
            )
        })
        .collect();
    let losses = results.iter().map(|u| u.loss).collect();
    let grad = gradient.then(|| {
        let mut out = vec![0.0f32; logits.len()];
        for (b, u) in results.into_iter().enumerate() {
            if !u.grad.is_empty() {
                out[b * per..b * per + u.grad.len()].copy_from_slice(&u.grad);
            }
        }
        out
    });
    (losses, grad)
}

fn utterance(
    logits: &[f32],
    frames: usize,
    classes: usize,
    labels: &[usize],
    blank: usize,
    weight: f32,
    gradient: bool,
) -> Utterance {
    let s_len = 2 * labels.len() + 1;
    let label = |s: usize| {
        if s.is_multiple_of(2) {
            blank
        } else {
            labels[s / 2]
        }
    };
    if frames == 0 {
        let loss = if labels.is_empty() {
            0.0
        } else {
            f64::INFINITY
        };
        return Utterance {
            loss,
            grad: Vec::new(),
        };
    }
    // log-softmax of every frame in use.
    let mut lp = vec![0.0f64; frames * classes];
    for t in 0..frames {
        let x = &logits[t * classes..(t + 1) * classes];
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = x.iter().map(|&v| (v as f64 - max).exp()).sum();
        let lse = max + sum.ln();
        for (o, &v) in lp[t * classes..(t + 1) * classes].iter_mut().zip(x) {
            *o = v as f64 - lse;
        }
    }
    let ninf = f64::NEG_INFINITY;
    // A state can be skipped into from two back when it is a label unlike the one before.
    let skip = |s: usize| s >= 2 && s % 2 == 1 && label(s) != label(s - 2);
    let mut alpha = vec![ninf; frames * s_len];
    alpha[0] = lp[blank];
    if s_len > 1 {
        alpha[1] = lp[label(1)];
    }
    for t in 1..frames {
        let (prev, cur) = alpha.split_at_mut(t * s_len);
        let prev = &prev[(t - 1) * s_len..];
        for s in 0..s_len {
            let mut a = prev[s];
            if s >= 1 {
                a = log_add(a, prev[s - 1]);
            }
            if skip(s) {
                a = log_add(a, prev[s - 2]);
            }
            cur[s] = a + lp[t * classes + label(s)];
        }
    }
    let last = &alpha[(frames - 1) * s_len..];
    let log_p = if s_len > 1 {
        log_add(last[s_len - 1], last[s_len - 2])
    } else {
        last[0]
    };
    let loss = -log_p;
    if !gradient || !loss.is_finite() {
        return Utterance {
            loss,
            grad: Vec::new(),
        };
    }
    let mut beta = vec![ninf; frames * s_len];
    let end = (frames - 1) * s_len;
    beta[end + s_len - 1] = lp[(frames - 1) * classes + blank];
    if s_len > 1 {
        beta[end + s_len - 2] = lp[(frames - 1) * classes + label(s_len - 2)];
    }
    for t in (0..frames - 1).rev() {
        let (cur, next) = beta.split_at_mut((t + 1) * s_len);
        let cur = &mut cur[t * s_len..];
        for s in 0..s_len {
            let mut b = next[s];
            if s + 1 < s_len {
                b = log_add(b, next[s + 1]);
            }
            if s + 2 < s_len && skip(s + 2) {
                b = log_add(b, next[s + 2]);
            }
            cur[s] = b + lp[t * classes + label(s)];
        }
    }
    // d loss / d x_t(k) = softmax_t(k) - Σ_{s: l'_s = k} exp(α_t(s) + β_t(s) - y_t(k) + loss).
    let mut grad = vec![0.0f32; frames * classes];
    let mut occupancy = vec![ninf; classes];
    for t in 0..frames {
        occupancy.fill(ninf);
        for s in 0..s_len {
            let k = label(s);
            let v = alpha[t * s_len + s] + beta[t * s_len + s];
            occupancy[k] = log_add(occupancy[k], v);
        }
        let row = &lp[t * classes..(t + 1) * classes];
        for k in 0..classes {
            let posterior = if occupancy[k] == ninf {
                0.0
            } else {
                (occupancy[k] - row[k] + loss).exp()
            };
            grad[t * classes + k] = (weight as f64 * (row[k].exp() - posterior)) as f32;
        }
    }
    Utterance { loss, grad }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: the probability of every frame-level path that collapses to the labels.
    fn brute_force(lp: &[Vec<f64>], labels: &[usize], blank: usize) -> f64 {
        let (frames, classes) = (lp.len(), lp[0].len());
        let mut total = 0.0;
        let mut path = vec![0usize; frames];
        loop {
            let mut collapsed = Vec::new();
            let mut prev = None;
            for &k in &path {
                if Some(k) != prev && k != blank {
                    collapsed.push(k);
                }
                prev = Some(k);
            }
            if collapsed == labels {
                total += path
                    .iter()
                    .enumerate()
                    .map(|(t, &k)| lp[t][k])
                    .sum::<f64>()
                    .exp();
            }
            // Next path, as an odometer.
            let mut t = 0;
            loop {
                if t == frames {
                    return total;
                }
                path[t] += 1;
                if path[t] < classes {
                    break;
                }
                path[t] = 0;
                t += 1;
            }
        }
    }

    #[test]
    fn the_loss_sums_every_alignment() {
        let (frames, classes, blank) = (5, 4, 0);
        let logits: Vec<f32> = (0..frames * classes)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let lp: Vec<Vec<f64>> = logits
            .chunks(classes)
            .map(|x| {
                let lse = x.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
                x.iter().map(|&v| v as f64 - lse).collect()
            })
            .collect();
        for labels in [vec![1, 2], vec![3, 3], vec![2], vec![]] {
            let (loss, _) = ctc_loss(
                &logits,
                [1, frames, classes],
                &[frames],
                std::slice::from_ref(&labels),
                blank,
                &[1.0],
                false,
            );
            let expected = -brute_force(&lp, &labels, blank).ln();
            assert!(
                (loss[0] - expected).abs() < 1e-9,
                "{labels:?}: {} vs {expected}",
                loss[0]
            );
        }
        // Three labels with a repeat need four frames (1, blank, 1, 2); three cannot align
        // them, and the gradient of such an utterance is zero.
        let (loss, grad) = ctc_loss(
            &logits[..3 * classes],
            [1, 3, classes],
            &[3],
            &[vec![1, 1, 2]],
            blank,
            &[1.0],
            true,
        );
        assert!(loss[0].is_infinite());
        assert!(grad.expect("asked for").iter().all(|&g| g == 0.0));
    }
}
