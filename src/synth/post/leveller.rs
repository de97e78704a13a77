//! The leveller: a slow automatic gain that holds the output near -20 LUFS whatever the
//! intensity, density or seed. It measures an approximate K-weighted loudness of its input
//! (BS.1770 pre-filter and RLB high-pass, on an 8× decimated copy) over the last 12 s and
//! slews the gain slowly toward the target; during near-silence it holds still, so a pause is
//! never pumped up into noise. Slow on purpose: rests and thin passages stay quieter than
//! full ones (the music breathes), and only the long-term level is held.

use super::filter::{Biquad, ramp_index};
use crate::audio::BLOCK_FRAMES;

/// The loudness the output settles at (EBU R128 integrated, LUFS).
const TARGET_LUFS: f32 = -20.0;
/// Below this loudness (before the gain) the input counts as silence: the gain holds.
const SILENCE_LUFS: f32 = -62.0;
/// The gain never leaves this range, dB.
const MIN_GAIN_DB: f32 = -12.0;
const MAX_GAIN_DB: f32 = 24.0;
/// Segments more than 10 LU below the window's mean are left out of it (as in EBU R128).
const RELATIVE_GATE: f32 = 0.1;
/// Gain at start: where it settles for typical music, so the first seconds are not loud.
const INITIAL_GAIN_DB: f32 = 4.0;
/// Fastest gain changes, dB per second (down faster than up: too loud matters more).
const MAX_RISE_DB_PER_SEC: f32 = 0.5;
const MAX_FALL_DB_PER_SEC: f32 = 1.5;
/// The sidechain runs on means of this many frames.
const DECIMATION: usize = 8;
/// One measurement segment (~0.1 s), and the window of segments the loudness is taken over.
const SEGMENT_SEC: f32 = 0.1;
const WINDOW_SEGMENTS: usize = 120;

/// The leveller. Allocation-free; its state is a few numbers and a 120-entry window.
#[derive(Debug, Clone)]
pub(super) struct Leveller {
    /// Per channel: K-weighting (shelf, then high-pass) at the decimated rate.
    shelf: [Biquad; 2],
    high_pass: [Biquad; 2],
    /// Sums of the frames of the decimated sample being gathered, and how many so far.
    gather: [f32; 2],
    gathered: usize,
    /// Decimated samples per segment, and the K-weighted energy of the segment so far.
    segment_len: usize,
    segment_samples: usize,
    segment_energy: f32,
    /// Energy of each of the last `WINDOW_SEGMENTS` segments, and how many are filled.
    window: [f32; WINDOW_SEGMENTS],
    window_pos: usize,
    window_filled: usize,
    /// Gain (dB) the running segment ramps to.
    gain_db: f32,
    /// The running segment's gain ramp: linear gain at its start, change per frame, frames in.
    ramp_start: f32,
    ramp_step: f32,
    ramp_pos: usize,
    max_rise_db: f32,
    max_fall_db: f32,
    /// Scratch: the decimated samples (sums of `DECIMATION` frames) of one run, left and
    /// right.
    sums: Vec<[f32; 2]>,
}

fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

impl Leveller {
    /// A leveller at `sample_rate`, starting at its initial gain.
    pub(super) fn new(sample_rate: f32) -> Self {
        let rate = sample_rate / DECIMATION as f32;
        let shelf = Biquad::high_shelf(rate, 1_681.97, 4.0, 0.7072);
        let high_pass = Biquad::high_pass(rate, 38.135, 0.5003);
        let segment_len = ((SEGMENT_SEC * rate).round() as usize).max(1);
        let segment_sec = (segment_len * DECIMATION) as f32 / sample_rate;
        Leveller {
            shelf: [shelf; 2],
            high_pass: [high_pass; 2],
            gather: [0.0; 2],
            gathered: 0,
            segment_len,
            segment_samples: 0,
            segment_energy: 0.0,
            window: [0.0; WINDOW_SEGMENTS],
            window_pos: 0,
            window_filled: 0,
            gain_db: INITIAL_GAIN_DB,
            ramp_start: db_to_gain(INITIAL_GAIN_DB),
            ramp_step: 0.0,
            ramp_pos: 0,
            max_rise_db: MAX_RISE_DB_PER_SEC * segment_sec,
            max_fall_db: MAX_FALL_DB_PER_SEC * segment_sec,
            sums: vec![[0.0; 2]; BLOCK_FRAMES / DECIMATION + 1],
        }
    }

    /// The gain now, dB.
    #[cfg(test)]
    pub(super) fn gain_db(&self) -> f32 {
        self.gain_db
    }

    /// Measures and levels one block of stereo in place.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        let right = &mut right[..n];
        let mut start = 0;
        while start < n {
            // Frames until the running segment is complete.
            let to_segment_end =
                (self.segment_len - self.segment_samples) * DECIMATION - self.gathered;
            let run = to_segment_end.min(n - start);
            let (l, r) = (
                &mut left[start..start + run],
                &mut right[start..start + run],
            );
            self.measure(l, r);
            let (gain, step, pos) = (self.ramp_start, self.ramp_step, self.ramp_pos);
            for (i, (x, y)) in l.iter_mut().zip(r.iter_mut()).enumerate() {
                let g = gain + step * ramp_index(pos + i);
                *x *= g;
                *y *= g;
            }
            self.ramp_pos += run;
            start += run;
            if self.segment_samples == self.segment_len {
                self.end_segment();
            }
        }
    }

    /// Feeds the sidechain; `left` and `right` end no later than the running segment.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    fn measure(&mut self, left: &[f32], right: &[f32]) {
        let n = left.len();
        let right = &right[..n];
        // First complete the group of frames left open by the last call.
        let open = ((DECIMATION - self.gathered) % DECIMATION).min(n);
        for i in 0..open {
            self.gather[0] += left[i];
            self.gather[1] += right[i];
        }
        self.gathered += open;
        if self.gathered == DECIMATION {
            let [l, r] = self.gather;
            self.weigh(l, r);
            self.gather = [0.0; 2];
            self.gathered = 0;
        }
        // Then whole groups, then the start of the next.
        let (left, right) = (&left[open..], &right[open..]);
        // All the group sums first, in a loop of their own that vectorises across groups;
        // the K-weighting after them is recursive, one decimated sample at a time.
        let groups = left
            .chunks_exact(DECIMATION)
            .zip(right.chunks_exact(DECIMATION));
        let sums = &mut self.sums[..left.len() / DECIMATION];
        for (sum, (l, r)) in sums.iter_mut().zip(groups) {
            *sum = [l.iter().sum(), r.iter().sum()];
        }
        for i in 0..sums.len() {
            let [l, r] = self.sums[i];
            self.weigh(l, r);
        }
        let rest = left.len() % DECIMATION;
        if rest > 0 {
            self.gather = [
                left[left.len() - rest..].iter().sum(),
                right[right.len() - rest..].iter().sum(),
            ];
            self.gathered = rest;
        }
    }

    /// One decimated sample (sums of `DECIMATION` frames) through the K-weighting.
    #[inline(always)]
    fn weigh(&mut self, left_sum: f32, right_sum: f32) {
        const MEAN: f32 = 1.0 / DECIMATION as f32;
        let l = self.high_pass[0].tick(self.shelf[0].tick(left_sum * MEAN));
        let r = self.high_pass[1].tick(self.shelf[1].tick(right_sum * MEAN));
        self.segment_energy += l * l + r * r;
        self.segment_samples += 1;
    }

    /// Closes a segment: updates the window, and sets the next segment's gain ramp.
    fn end_segment(&mut self) {
        self.window[self.window_pos] = self.segment_energy;
        self.window_pos = (self.window_pos + 1) % WINDOW_SEGMENTS;
        self.window_filled = (self.window_filled + 1).min(WINDOW_SEGMENTS);
        self.segment_energy = 0.0;
        self.segment_samples = 0;
        for filter in self.shelf.iter_mut().chain(&mut self.high_pass) {
            filter.flush();
        }
        if let Some(loudness) = self.gated_loudness() {
            let wanted = (TARGET_LUFS - loudness).clamp(MIN_GAIN_DB, MAX_GAIN_DB);
            self.gain_db += (wanted - self.gain_db).clamp(-self.max_fall_db, self.max_rise_db);
        }
        // The new ramp starts where the last one ended and reaches the new gain at the end
        // of the next segment.
        let end_of_last = self.ramp_start + self.ramp_step * self.ramp_pos as f32;
        let frames = (self.segment_len * DECIMATION) as f32;
        self.ramp_start = end_of_last;
        self.ramp_step = (db_to_gain(self.gain_db) - end_of_last) / frames;
        self.ramp_pos = 0;
    }

    /// Loudness (LUFS, before the gain) of the window, gated as EBU R128 gates: segments
    /// below the silence threshold, then those 10 LU below the rest, do not count; so a
    /// pause neither pulls the gain up nor ends up in the measure. `None` when all is silent.
    fn gated_loudness(&self) -> Option<f32> {
        let to_energy = |lufs: f32| self.segment_len as f32 * 10f32.powf((lufs + 0.691) / 10.0);
        let filled = &self.window[..self.window_filled];
        let mean_above = |threshold: f32| {
            let (sum, count) = filled
                .iter()
                .filter(|&&e| e > threshold)
                .fold((0.0f32, 0usize), |(s, c), &e| (s + e, c + 1));
            (count > 0).then(|| sum / count as f32)
        };
        let absolute = to_energy(SILENCE_LUFS);
        let relative = mean_above(absolute)? * RELATIVE_GATE;
        let mean = mean_above(relative.max(absolute))?;
        Some(-0.691 + 10.0 * (mean / self.segment_len as f32).log10())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(amplitude: f32, seconds: f32) -> Vec<f32> {
        (0..(seconds * 44_100.0) as usize)
            .map(|i| amplitude * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 44_100.0).sin())
            .collect()
    }

    fn level(leveller: &mut Leveller, input: &[f32]) -> Vec<f32> {
        let mut left = input.to_vec();
        let mut right = input.to_vec();
        for (l, r) in left.chunks_mut(512).zip(right.chunks_mut(512)) {
            leveller.process(l, r);
        }
        left
    }

    /// LUFS of a stereo 440 Hz tone with these samples on both channels (K-weighting is
    /// ~+0.1 dB at 440 Hz, ignored).
    fn lufs(x: &[f32]) -> f32 {
        let ms = x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32;
        -0.691 + 10.0 * (2.0 * ms).log10()
    }

    #[test]
    fn converges_on_a_steady_tone_from_above_and_below() {
        for amplitude in [0.02, 0.3] {
            let mut leveller = Leveller::new(44_100.0);
            let out = level(&mut leveller, &tone(amplitude, 40.0));
            let settled = lufs(&out[35 * 44_100..]);
            assert!(
                (settled - TARGET_LUFS).abs() < 0.5,
                "amplitude {amplitude}: {settled} LUFS"
            );
        }
    }

    #[test]
    fn gain_moves_slowly_and_smoothly() {
        let mut leveller = Leveller::new(44_100.0);
        let input = tone(0.5, 4.0);
        let mut left = input.clone();
        let mut right = input.clone();
        let mut gains = Vec::new();
        for (l, r) in left.chunks_mut(441).zip(right.chunks_mut(441)) {
            leveller.process(l, r);
            gains.push(leveller.gain_db());
        }
        // At most MAX_FALL_DB_PER_SEC over each second.
        for w in gains.windows(101) {
            assert!((w[0] - w[100]).abs() <= MAX_FALL_DB_PER_SEC + 0.1);
        }
        // The applied gain has no step: neighbouring samples' ratio stays near 1.
        for (i, (o, x)) in left.iter().zip(&input).enumerate().skip(1) {
            if x.abs() > 0.1 && input[i - 1].abs() > 0.1 {
                let g = o / x;
                let g_before = left[i - 1] / input[i - 1];
                assert!((g / g_before - 1.0).abs() < 1e-3, "gain step at {i}");
            }
        }
    }

    #[test]
    fn holds_its_gain_through_silence() {
        let mut leveller = Leveller::new(44_100.0);
        level(&mut leveller, &tone(0.05, 10.0));
        let before = leveller.gain_db();
        let out = level(&mut leveller, &vec![1e-5; 10 * 44_100]);
        assert!((leveller.gain_db() - before).abs() < 0.3);
        assert!(out.iter().all(|s| s.is_finite()));
        let out = level(&mut leveller, &vec![0.0; 10 * 44_100]);
        assert!(out.iter().all(|&s| s == 0.0));
    }
}
