//! CPU kernels behind rnnzoo's whole-sequence recurrent layers: a packed single-precision matrix
//! product ([`sgemm`]), vectorisable element-wise functions ([`math`]) and the forward and
//! backward time loops of every cell ([`sequence`]), and a step-by-step stack for generation
//! ([`step`]), the CTC loss from logits ([`ctc`]), a single-pass Adam update ([`adam`]) and a pool of recycled buffers
//! ([`buffers`]). They work on plain `f32` slices; the
//! `rnnzoo-models` crate connects them to Burn tensors and autodiff.
//!
//! This crate is compiled without debug assertions even in dev and test builds (see the
//! workspace `Cargo.toml`): the standard library's debug-build checks on raw pointers and SIMD
//! loads cost a third of the matrix product's time.

pub mod adam;
pub mod attention;
pub mod buffers;
pub mod ctc;
pub mod dense;
pub mod loss;
pub mod math;
pub mod sequence;
pub mod sgemm;
pub mod step;

/// Whether this CPU runs the AVX2 + FMA code paths (checked once).
#[cfg(target_arch = "x86_64")]
pub fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

/// Whether this CPU runs the AVX-512 matrix-product kernel and element-wise loops (checked once;
/// `RNNZOO_NO_AVX512=1` turns them off, to compare with AVX2 on one machine).
#[cfg(target_arch = "x86_64")]
pub fn has_avx512f() -> bool {
    use std::sync::OnceLock;
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::env::var_os("RNNZOO_NO_AVX512").is_none_or(|v| v.is_empty() || v == "0")
    })
}

/// Runs `f`, compiled with AVX-512 (16 wide) or AVX2 and FMA (8 wide) enabled when the CPU has
/// them, so the element-wise loops inlined into it vectorise; plain otherwise. Pass closures
/// marked `#[inline(always)]`: a closure the optimiser leaves out of line is compiled for the
/// baseline target. The loops are the same lane-wise IEEE operations at every width (Rust never
/// contracts `a * b + c` into a fused multiply-add), so every width gives the same bits.
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if has_avx512f() {
            // SAFETY: the CPU supports the enabled features (checked above).
            return unsafe { with_avx512(f) };
        }
        if has_avx2_fma() {
            // SAFETY: as above.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

pub use sequence::{
    Cell, SavedActivations, SequenceDims, SequenceGradients, SequenceSpec, SequenceWeights,
};

/// `n` pseudo-random values in `[-0.5, 0.5)` from `seed` (a linear congruential generator),
/// for the unit tests.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}
