//! The pad chorus: the pads' width and slow detuned shimmer, made once on the bus.
//!
//! A pad note is one oscillator in the voice stage (half the voices of a detuned pair). This
//! gives each side a copy of the pad mix through its own slowly swept delay, the two sweeps
//! a quarter turn apart: a swept delay shifts the pitch by a few cents, so each side hears
//! the note beating against a slightly detuned copy of itself, and the sides differ. That is
//! what two detuned, panned oscillators per note gave, for two delay reads per frame instead
//! of a second oscillator per note.
//!
//! The sweep is evaluated at block edges and linear in between (the LFO moves a few
//! thousandths of a turn per block), so the per-frame work is one interpolated read per side.

use std::f32::consts::TAU;

/// Centre delay, seconds: short enough to blend into one sound, long enough to avoid the
/// metallic comb of very short delays.
const CENTRE_SEC: f32 = 0.012;
/// Sweep depth either side of the centre, seconds. With `RATE_HZ` the peak pitch shift is
/// 2π·rate·depth ≈ 0.36 % (6 cents), the detune the two pad oscillators used to have.
const DEPTH_SEC: f32 = 0.0028;
/// Sweep rate, Hz.
const RATE_HZ: f32 = 0.2;
/// Levels of the dry pads and of each side's swept copy: together about the power of the
/// dry pads alone (the copy is mostly uncorrelated with them, a sweep apart).
const DRY: f32 = std::f32::consts::FRAC_1_SQRT_2;
const WET: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// The pad chorus. Its delay line is allocated in `new`.
#[derive(Debug, Clone)]
pub(super) struct Chorus {
    /// The mono pad mix, a power-of-two ring.
    line: Vec<f32>,
    mask: usize,
    write: usize,
    /// LFO phase in turns at the next block's start, `[0, 1)`.
    phase: f32,
    phase_step_per_frame: f32,
    centre: f32,
    depth: f32,
}

impl Chorus {
    /// A silent chorus at `sample_rate`.
    pub(super) fn new(sample_rate: f32) -> Self {
        let longest = ((CENTRE_SEC + DEPTH_SEC) * sample_rate) as usize + 2;
        let size = (longest + super::BLOCK_FRAMES).next_power_of_two();
        Chorus {
            line: vec![0.0; size],
            mask: size - 1,
            write: 0,
            phase: 0.0,
            phase_step_per_frame: RATE_HZ / sample_rate,
            centre: CENTRE_SEC * sample_rate,
            depth: DEPTH_SEC * sample_rate,
        }
    }

    /// The two sides' delays, in frames, at LFO phase `phase`.
    fn delays(&self, phase: f32) -> [f32; 2] {
        let angle = TAU * phase;
        [
            self.centre + self.depth * angle.sin(),
            self.centre + self.depth * angle.cos(),
        ]
    }

    /// Replaces the pads `left`, `right` (one block) with the dry mix plus each side's swept
    /// copy.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len().min(right.len());
        let start = self.delays(self.phase);
        let mut next_phase = self.phase + self.phase_step_per_frame * n as f32;
        next_phase -= next_phase.floor();
        let end = self.delays(next_phase);
        self.phase = next_phase;
        let per_frame = 1.0 / n.max(1) as f32;
        let steps = [
            (end[0] - start[0]) * per_frame,
            (end[1] - start[1]) * per_frame,
        ];
        let mask = self.mask;
        let line = &mut self.line[..=mask];
        // The whole block goes into the line first: the shortest delay is shorter than a
        // block, so some reads fall inside it. Then every frame's reads are independent of
        // the others', and the read loop has no loop-carried dependency.
        let first = self.write;
        for (i, (&l, &r)) in left.iter().zip(right.iter()).enumerate() {
            line[(first + i) & mask] = 0.5 * (l + r);
        }
        self.write = (first + n) & mask;
        for i in 0..n {
            let t = i as i32 as f32;
            let now = first + i;
            let mut swept = [0.0f32; 2];
            for (side, out) in swept.iter_mut().enumerate() {
                // The delay is at least `centre - depth`, hundreds of frames: both taps are
                // written, and truncation (through `i32`, a packed conversion) is the floor.
                let delay = start[side] + steps[side] * t;
                let whole = delay as i32;
                let frac = delay - whole as f32;
                let newer = line[now.wrapping_sub(whole as usize) & mask];
                let older = line[now.wrapping_sub(whole as usize + 1) & mask];
                *out = newer + frac * (older - newer);
            }
            left[i] = DRY * left[i] + WET * swept[0];
            right[i] = DRY * right[i] + WET * swept[1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .map(|i| (TAU * hz * i as f32 / 44_100.0).sin())
            .collect()
    }

    #[test]
    fn output_is_finite_continuous_and_wider_than_its_mono_input() {
        let mut chorus = Chorus::new(44_100.0);
        let input = sine(220.0, 10 * 44_100);
        let mut left = input.clone();
        let mut right = input.clone();
        for (l, r) in left.chunks_mut(512).zip(right.chunks_mut(512)) {
            chorus.process(l, r);
        }
        assert!(
            left.iter()
                .chain(&right)
                .all(|s| s.is_finite() && s.abs() <= 1.5)
        );
        // No steps: the largest frame-to-frame change stays near a 220 Hz sine's at level √2.
        let max_slope = std::f32::consts::SQRT_2 * TAU * 220.0 / 44_100.0;
        for side in [&left, &right] {
            for w in side.windows(2) {
                assert!(
                    (w[1] - w[0]).abs() <= max_slope * 1.05,
                    "step {}",
                    w[1] - w[0]
                );
            }
        }
        // The sides differ: their difference carries real energy after the first second.
        let diff: f32 = left[44_100..]
            .iter()
            .zip(&right[44_100..])
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        let total: f32 = left[44_100..].iter().map(|a| a * a).sum();
        assert!(diff > 0.05 * total, "side energy {}", diff / total);
    }
}
