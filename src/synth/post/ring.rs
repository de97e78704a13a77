//! `BlockRing`: a delay line exactly as long as its delay, read and written a block at a time.
//!
//! Slot `pos` always holds the sample written `len` samples ago, so the delayed sample is
//! read and the new one written in the same slot. As long as a stretch of the block is no
//! longer than the delay, no sample of it depends on another of it: the loops over a stretch
//! carry no dependency, and the compiler vectorises them.

/// A delay line of a fixed length, processed in contiguous stretches.
#[derive(Debug, Clone)]
pub(super) struct BlockRing {
    buf: Vec<f32>,
    pos: usize,
}

impl BlockRing {
    /// A silent delay of `len` samples (at least 1).
    pub(super) fn new(len: usize) -> Self {
        assert!(len > 0, "a delay line needs at least one sample");
        BlockRing {
            buf: vec![0.0; len],
            pos: 0,
        }
    }

    /// Runs the next `n` samples through the line. `f(stretch, offset)` is called for each
    /// contiguous stretch of the ring, in order: `stretch[j]` holds the delayed sample for
    /// block index `offset + j`, and `f` replaces it with that index's new input.
    #[inline(always)]
    pub(super) fn advance(&mut self, n: usize, mut f: impl FnMut(&mut [f32], usize)) {
        let len = self.buf.len();
        let mut done = 0;
        while done < n {
            let take = (n - done).min(len - self.pos);
            f(&mut self.buf[self.pos..self.pos + take], done);
            done += take;
            self.pos += take;
            if self.pos == len {
                self.pos = 0;
            }
        }
    }

    /// The next `n` delayed samples (at most the delay), in order, as the one or two
    /// stretches of the ring that hold them, without moving on; [`BlockRing::push`] then
    /// stores the inputs in their place.
    #[inline(always)]
    pub(super) fn delayed(&self, n: usize) -> (&[f32], &[f32]) {
        debug_assert!(n <= self.buf.len());
        let first = n.min(self.buf.len() - self.pos);
        (
            &self.buf[self.pos..self.pos + first],
            &self.buf[..n - first],
        )
    }

    /// Stores `input` (at most the delay) in the slots [`BlockRing::delayed`] just showed.
    #[inline(always)]
    pub(super) fn push(&mut self, input: &[f32]) {
        self.advance(input.len(), |stretch, offset| {
            stretch.copy_from_slice(&input[offset..offset + stretch.len()]);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_by_its_length_across_any_block_sizes() {
        let mut ring = BlockRing::new(7);
        let input: Vec<f32> = (1..=100).map(|i| i as f32).collect();
        let mut output = Vec::new();
        let mut start = 0;
        for n in [3, 7, 1, 20, 5, 64] {
            let end = (start + n).min(input.len());
            let mut block = input[start..end].to_vec();
            ring.advance(block.len(), |stretch, offset| {
                for (slot, x) in stretch.iter_mut().zip(&mut block[offset..]) {
                    std::mem::swap(slot, x);
                }
            });
            output.extend(block);
            start = end;
        }
        let expected: Vec<f32> = (0..100)
            .map(|i| if i < 7 { 0.0 } else { (i - 6) as f32 })
            .collect();
        assert_eq!(output, expected);
    }

    #[test]
    fn delayed_then_push_is_a_delay() {
        let mut ring = BlockRing::new(5);
        let mut seen: Vec<f32> = Vec::new();
        for block in [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]] {
            let (first, second) = ring.delayed(3);
            seen.extend(first.iter().chain(second));
            ring.push(&block);
        }
        assert_eq!(seen, [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
    }
}
