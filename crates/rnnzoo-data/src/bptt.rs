//! Batching for truncated backpropagation through time (Zaremba et al. 2014; PyTorch's
//! `word_language_model`): the token stream is cut into `batch` parallel streams, and training
//! walks them in consecutive segments of `bptt` steps, so the hidden state at the end of one
//! segment is the right initial state for the next.

/// A token stream laid out as `batch` parallel rows, read in segments.
#[derive(Clone, Debug)]
pub struct BpttBatches {
    /// `[batch, stream_len]`, row-major.
    streams: Vec<i64>,
    batch: usize,
    stream_len: usize,
    bptt: usize,
}

/// One segment: inputs and next-token targets, both `[batch, steps]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Input token ids.
    pub inputs: Vec<i64>,
    /// Target ids: each input's next token.
    pub targets: Vec<i64>,
    /// Rows.
    pub batch: usize,
    /// Steps in this segment (`bptt`, or fewer for the last one).
    pub steps: usize,
}

impl BpttBatches {
    /// Lays `tokens` out as `batch` streams of `len / batch` tokens (the remainder is dropped).
    ///
    /// # Panics
    /// If there are fewer than 2 tokens per stream, or `batch` or `bptt` is zero.
    pub fn new(tokens: &[usize], batch: usize, bptt: usize) -> Self {
        assert!(batch > 0 && bptt > 0, "batch and bptt must be positive");
        let stream_len = tokens.len() / batch;
        assert!(
            stream_len >= 2,
            "{} tokens are too few for {batch} streams",
            tokens.len()
        );
        let streams = tokens[..stream_len * batch]
            .iter()
            .map(|&t| t as i64)
            .collect();
        Self {
            streams,
            batch,
            stream_len,
            bptt,
        }
    }

    /// Number of segments in one pass over the streams.
    pub fn num_segments(&self) -> usize {
        (self.stream_len - 1).div_ceil(self.bptt)
    }

    /// Number of target tokens in one pass.
    pub fn num_targets(&self) -> usize {
        (self.stream_len - 1) * self.batch
    }

    /// Rows (parallel streams).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The `index`-th segment of a pass.
    pub fn segment(&self, index: usize) -> Segment {
        let start = index * self.bptt;
        assert!(start < self.stream_len - 1, "segment {index} out of range");
        let steps = self.bptt.min(self.stream_len - 1 - start);
        let mut inputs = Vec::with_capacity(self.batch * steps);
        let mut targets = Vec::with_capacity(self.batch * steps);
        for row in 0..self.batch {
            let base = row * self.stream_len + start;
            inputs.extend_from_slice(&self.streams[base..base + steps]);
            targets.extend_from_slice(&self.streams[base + 1..base + 1 + steps]);
        }
        Segment {
            inputs,
            targets,
            batch: self.batch,
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_contiguous_and_targets_shifted() {
        let tokens: Vec<usize> = (0..26).collect();
        let b = BpttBatches::new(&tokens, 2, 5);
        // streams: 0..13 and 13..26; 12 targets each -> segments of 5, 5, 2.
        assert_eq!(b.num_segments(), 3);
        assert_eq!(b.num_targets(), 24);
        let s0 = b.segment(0);
        assert_eq!(s0.inputs, [0, 1, 2, 3, 4, 13, 14, 15, 16, 17]);
        assert_eq!(s0.targets, [1, 2, 3, 4, 5, 14, 15, 16, 17, 18]);
        let s2 = b.segment(2);
        assert_eq!(s2.steps, 2);
        assert_eq!(s2.inputs, [10, 11, 23, 24]);
        assert_eq!(s2.targets, [11, 12, 24, 25]);
        // Consecutive segments continue each stream exactly.
        assert_eq!(b.segment(1).inputs[0], 5);
    }
}
