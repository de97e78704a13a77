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
    /// The mono pad mix: a power-of-two ring, each sample stored twice (see `process`).
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
            line: vec![0.0; 2 * size],
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
        let size = mask + 1;
        let line = &mut self.line[..2 * size];
        // The whole block goes into the line first (the shortest delay is shorter than a
        // block, so some reads fall inside it), each sample twice, `size` apart: any stretch
        // of up to `size` samples is then one contiguous slice, whatever the wrap.
        // Written in the one or two stretches before and after the ring's wrap, so the loops
        // carry no index masking or bounds checks and vectorise.
        let first = self.write;
        let (low, high) = line.split_at_mut(size);
        let mut done = 0;
        while done < n {
            let at = (first + done) & mask;
            let take = (n - done).min(size - at);
            let (l, r) = (&left[done..done + take], &right[done..done + take]);
            let (low, high) = (&mut low[at..at + take], &mut high[at..at + take]);
            for (((lo, hi), &l), &r) in low.iter_mut().zip(high.iter_mut()).zip(l).zip(r) {
                let mono = 0.5 * (l + r);
                *lo = mono;
                *hi = mono;
            }
            done += take;
        }
        self.write = (first + n) & mask;
        let line = &*line;
        for (side, out) in [left, right].into_iter().enumerate() {
            let (start, step) = (start[side], steps[side]);
            // The delay moves less than two frames per block, so its whole part is constant
            // over long stretches: on each, both taps are contiguous slices and the loop is
            // plain vector arithmetic (no per-frame gathers).
            let mut from = 0;
            while from < n {
                let delay = start + step * from as i32 as f32;
                let whole = delay as i32; // the delay is hundreds of frames: the floor
                let to = stretch_end(from, n, start, step, whole);
                let len = to - from;
                let older_at = (first + from).wrapping_sub(whole as usize + 1) & mask;
                let older = &line[older_at..older_at + len];
                let newer = &line[older_at + 1..older_at + 1 + len];
                let whole = whole as f32;
                let out = &mut out[from..to];
                for (k, ((o, &old), &new)) in out.iter_mut().zip(older).zip(newer).enumerate() {
                    let t = (from + k) as i32 as f32;
                    let frac = start + step * t - whole;
                    let swept = new + frac * (old - new);
                    *o = DRY * *o + WET * swept;
                }
                from = to;
            }
        }
    }
}

/// The end of the stretch from frame `from` (of `n`) over which the delay
/// `start + step · t` keeps the whole part `whole`. Rounding may end it a frame early or
/// late; the interpolation then reaches a hair outside its two taps, which is continuous and
/// inaudible. Always at least one frame long.
fn stretch_end(from: usize, n: usize, start: f32, step: f32, whole: i32) -> usize {
    let crossing = if step > 0.0 {
        (whole as f32 + 1.0 - start) / step
    } else if step < 0.0 {
        (whole as f32 - start) / step
    } else {
        return n;
    };
    let end = crossing.ceil();
    if end >= n as f32 {
        n
    } else {
        (end.max(0.0) as usize).clamp(from + 1, n)
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
