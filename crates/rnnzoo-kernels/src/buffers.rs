//! Recycled host buffers for the kernels' large temporaries.
//!
//! A training step allocates the same few large buffers every time (the gate activations and
//! saved states of the forward, the pre-activation gradients of the backward, packed
//! right-hand sides), tens of megabytes each. A fresh `vec![0.0; n]` zeroes them all, which
//! glibc must do by hand once freed memory is reused (about 2% of a step of a 512-wide LSTM
//! layer, 4% of a 128-wide one). [`take`] hands back a buffer freed by [`give_back`] instead,
//! with whatever values it held: every caller writes each value before reading it.

use std::sync::Mutex;

/// Buffers smaller than this (in values) are not worth keeping.
const MIN_LEN: usize = 1 << 16;
/// The most buffers kept.
const KEEP: usize = 12;

static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` values whose contents are unspecified (left from an earlier use, or zero).
/// The caller must write every value it later reads.
pub fn take(len: usize) -> Vec<f32> {
    if len >= MIN_LEN {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        // The smallest buffer that fits, if it wastes at most half of itself.
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 2 * len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let mut buffer = pool.swap_remove(i);
            drop(pool);
            if buffer.len() >= len {
                buffer.truncate(len);
            } else {
                buffer.resize(len, 0.0);
            }
            return buffer;
        }
    }
    vec![0.0; len]
}

/// Returns a buffer for a later [`take`]. When the pool is full the smallest buffer goes.
pub fn give_back(buffer: Vec<f32>) {
    if buffer.capacity() < MIN_LEN {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    pool.push(buffer);
    if pool.len() > KEEP {
        let smallest = pool
            .iter()
            .enumerate()
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i)
            .expect("not empty");
        pool.swap_remove(smallest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_without_zeroing() {
        // Sizes no other test of this crate asks for, so the pool's other users cannot take it.
        let len = 3 * MIN_LEN + 7;
        let mut first = take(len);
        assert_eq!(first.len(), len);
        first.fill(2.5);
        let ptr = first.as_ptr();
        give_back(first);
        let second = take(len - 5);
        assert_eq!(second.len(), len - 5);
        assert_eq!(
            second.as_ptr(),
            ptr,
            "the returned buffer is handed out again"
        );
        assert!(second.iter().all(|&v| v == 2.5), "and is not zeroed");
        give_back(second);
        // Growing back within the capacity keeps the old values and zeroes only the new tail.
        let third = take(len);
        assert_eq!(third.as_ptr(), ptr);
        assert_eq!(third.len(), len);
        assert!(third[..len - 5].iter().all(|&v| v == 2.5));
        assert!(third[len - 5..].iter().all(|&v| v == 0.0));
        give_back(third);
        // A request under half its size gets a new buffer rather than this one.
        let small = take(MIN_LEN + 1);
        assert_ne!(small.as_ptr(), ptr);
    }
}
