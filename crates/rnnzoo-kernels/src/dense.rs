//! A dense (fully connected) layer `Y = X · W + b` and its gradients, on the packed product of
//! [`crate::sgemm`]. Output layers over a vocabulary (`[B·T, H] x [H, V]`) are the largest
//! products of a language model, so they go through the same kernel as the recurrent layers.

use crate::sgemm::{MatRef, sgemm};
use crate::simd;

/// `Y [n, out] = X [n, in] · W [in, out] (+ b [out])`.
pub fn forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, n: usize) -> Vec<f32> {
    let (inputs, outputs) = dims(x, weight, n);
    // Y starts as the bias rows and the product accumulates onto it: no extra pass over Y.
    let mut y = match bias {
        Some(bias) => {
            assert_eq!(bias.len(), outputs, "bias is not [out]");
            bias.repeat(n)
        }
        None => vec![0.0f32; n * outputs],
    };
    sgemm(
        MatRef::row_major(x, n, inputs),
        MatRef::row_major(weight, inputs, outputs),
        &mut y,
        outputs,
        bias.is_some(),
    );
    y
}

/// Gradients of [`forward`] given `dY [n, out]`: `(dX = dY · Wᵀ, dW = Xᵀ · dY, db = Σ_rows dY)`.
pub fn backward(
    x: &[f32],
    weight: &[f32],
    d_y: &[f32],
    n: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (inputs, outputs) = dims(x, weight, n);
    assert_eq!(d_y.len(), n * outputs, "dY is not [n, out]");
    let mut d_x = vec![0.0f32; n * inputs];
    sgemm(
        MatRef::row_major(d_y, n, outputs),
        MatRef::row_major(weight, inputs, outputs).t(),
        &mut d_x,
        inputs,
        false,
    );
    let mut d_weight = vec![0.0f32; inputs * outputs];
    sgemm(
        MatRef::row_major(x, n, inputs).t(),
        MatRef::row_major(d_y, n, outputs),
        &mut d_weight,
        outputs,
        false,
    );
    let mut d_bias = vec![0.0f32; outputs];
    simd(
        #[inline(always)]
        || {
            for row in d_y.chunks_exact(outputs) {
                for (s, v) in d_bias.iter_mut().zip(row) {
                    *s += v;
                }
            }
        },
    );
    (d_x, d_weight, d_bias)
}

fn dims(x: &[f32], weight: &[f32], n: usize) -> (usize, usize) {
    assert!(n > 0 && x.len().is_multiple_of(n), "X is not [n, in]");
    let inputs = x.len() / n;
    assert!(
        inputs > 0 && weight.len().is_multiple_of(inputs),
        "W is not [in, out] for {inputs} inputs"
    );
    (inputs, weight.len() / inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_gradients_match_hand_computed_values() {
        // X [2, 3], W [3, 2], b [2]
        let x = [1.0, 2.0, 3.0, -1.0, 0.5, 2.0];
        let w = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let b = [1.0, -1.0];
        let y = forward(&x, &w, Some(&b), 2);
        let want = [
            1.0 + 0.1 + 0.6 + 1.5,
            -1.0 + 0.2 + 0.8 + 1.8,
            1.0 - 0.1 + 0.15 + 1.0,
            -1.0 - 0.2 + 0.2 + 1.2,
        ];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
        let dy = [1.0, 0.0, 0.0, 2.0];
        let (dx, dw, db) = backward(&x, &w, &dy, 2);
        let want_dx = [0.1, 0.3, 0.5, 0.4, 0.8, 1.2];
        let want_dw = [1.0, -2.0, 2.0, 1.0, 3.0, 4.0];
        for (a, b) in dx.iter().zip(want_dx).chain(dw.iter().zip(want_dw)) {
            assert!((a - b).abs() < 1e-6, "{dx:?} {dw:?}");
        }
        assert_eq!(db, vec![1.0, 2.0]);
    }
}
