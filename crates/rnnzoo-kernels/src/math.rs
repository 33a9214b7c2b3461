//! Element-wise functions for the kernels, written as straight-line `f32` arithmetic so that loops
//! over them vectorise (libm's `expf`/`tanhf` are calls the compiler cannot vectorise).
//!
//! `exp` is Cephes' `expf` (range reduction by `ln 2` in two parts, degree-5 polynomial;
//! relative error about 1e-7), `sigmoid` and `tanh` are built on it, `tanh` with a series near 0
//! so that it keeps its relative accuracy where `(1 - e)/(1 + e)` would cancel.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const ROUND_SHIFT: f32 = 12_582_912.0;

/// `e^x`, clamped to the finite normal range of `f32`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2) by the 1.5·2^23 trick (no `floor`, which is a libm call on baseline
    // x86-64); n then sits in the low mantissa bits of `shifted`.
    let shifted = x * LOG2E + ROUND_SHIFT;
    let n = shifted - ROUND_SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    // 2^n from the bits: n + 127 (in 1..=254 after the clamp) shifted into the exponent field.
    // Unlike `n as i32`, whose saturating conversion is scalar code, this vectorises.
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND_SHIFT.to_bits())
        .wrapping_add(127);
    p * f32::from_bits(biased << 23)
}

/// Where [`sigmoid`] stops falling: `σ(-40) ≈ 4.2e-18`.
pub const SIGMOID_FLOOR_AT: f32 = -40.0;

/// The logistic sigmoid `1 / (1 + e^{-x})`, for `x` below [`SIGMOID_FLOOR_AT`] the value there.
///
/// Below about -87 the exact value is a subnormal `f32`, and a saturated gate (a peephole
/// LSTM's, whose pre-activation includes the unbounded cell state, reaches that) passes
/// subnormals on into the cell, the hidden state and every gradient product. Arithmetic on
/// subnormals takes a microcode assist on Intel CPUs: a 1x256 peephole LSTM trained at 2k
/// instead of 26k tokens/s on one Xeon core. At -40 the value (4.2e-18, and its products with
/// any gradient that matters) stays normal, and differs from the exact one by less than 5e-18.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x.max(SIGMOID_FLOOR_AT)))
}

/// The hyperbolic tangent.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let e = exp(-2.0 * a);
    let large = (1.0 - e) / (1.0 + e);
    // tanh a = a - a³/3 + 2a⁵/15 - 17a⁷/315 + ..., error below 3e-11 for a < 0.1.
    let a2 = a * a;
    let small = a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0))));
    let t = if a < 0.1 { small } else { large };
    t.copysign(x)
}

/// `out_i = tanh(x_i)` over slices of one length, vectorised (the step decoder's `tanh(W_c [c; d])`).
///
/// # Panics
/// When the lengths differ.
pub fn tanh_into(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "tanh_into: lengths differ");
    crate::simd(
        #[inline(always)]
        || {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = tanh(v);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_std_to_float_precision() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for i in -20000..=20000 {
            let x = i as f32 * 0.001;
            let rel = |got: f32, want: f64| ((got as f64 - want) / want.abs().max(1e-30)).abs();
            worst.0 = worst.0.max(rel(exp(x), (x as f64).exp()));
            worst.1 = worst
                .1
                .max(rel(sigmoid(x), 1.0 / (1.0 + (-x as f64).exp())));
            if x != 0.0 {
                worst.2 = worst.2.max(rel(tanh(x), (x as f64).tanh()));
            }
        }
        assert!(
            worst.0 < 3e-7 && worst.1 < 3e-7 && worst.2 < 5e-7,
            "{worst:?}"
        );
        assert_eq!(tanh(0.0), 0.0);
        // Saturated gates stay normal numbers: no subnormal ever leaves the sigmoid.
        for x in [-41.0, -88.0, -200.0, f32::MIN] {
            assert_eq!(sigmoid(x), sigmoid(SIGMOID_FLOOR_AT));
        }
        let floor = sigmoid(SIGMOID_FLOOR_AT);
        assert!(floor.is_normal() && floor < 5e-18 && (floor * 1e-12).is_normal());
        assert_eq!(sigmoid(200.0), 1.0);
        assert_eq!(tanh(50.0), 1.0);
        assert_eq!(tanh(-50.0), -1.0);
    }
}
