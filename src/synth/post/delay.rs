//! The lead's echo: a soft stereo ping-pong delay locked to the tempo (a dotted eighth),
//! darker with every repeat; a tempo change crossfades to the new delay time, never steps.

use super::filter::{flush_denormal, one_pole_coefficient};

/// Delay time in beats: a dotted eighth.
const BEATS: f32 = 0.75;
/// Share of each echo that comes back as the next one (on the other side).
const FEEDBACK: f32 = 0.45;
/// Corner of the lowpass every echo passes through: each repeat is softer and darker.
const TONE_HZ: f32 = 2_600.0;
/// Length of the crossfade from the old delay time to the new one after a tempo change.
const CROSSFADE_SEC: f32 = 0.15;
/// The longest delay the line can hold (a dotted eighth at 30 bpm).
const MAX_DELAY_SEC: f32 = 1.5;
/// Added to what enters the loop, so that silence never circulates as denormals.
const ANTI_DENORMAL: f32 = 1e-20;

/// A ping-pong delay: the mono input echoes first on the left, then the right, and so on.
#[derive(Debug, Clone)]
pub(super) struct PingPongDelay {
    left: Vec<f32>,
    right: Vec<f32>,
    mask: usize,
    write: usize,
    /// Delay in samples now (0 before the first block).
    delay: usize,
    /// Delay being faded to; equal to `delay` when no crossfade is running.
    next_delay: usize,
    /// Samples into the running crossfade.
    fade_pos: usize,
    fade_len: usize,
    /// The echo lowpass state, left and right.
    tone: [f32; 2],
    tone_coefficient: f32,
    sample_rate: f32,
}

impl PingPongDelay {
    /// A silent delay at `sample_rate`.
    pub(super) fn new(sample_rate: f32) -> Self {
        let size = ((MAX_DELAY_SEC * sample_rate) as usize + 1).next_power_of_two();
        PingPongDelay {
            left: vec![0.0; size],
            right: vec![0.0; size],
            mask: size - 1,
            write: 0,
            delay: 0,
            next_delay: 0,
            fade_pos: 0,
            fade_len: ((CROSSFADE_SEC * sample_rate) as usize).max(1),
            tone: [0.0; 2],
            tone_coefficient: one_pole_coefficient(TONE_HZ, sample_rate),
            sample_rate,
        }
    }

    /// The delay in samples for `bpm`, within what the line holds.
    fn delay_for(&self, bpm: f32) -> usize {
        let seconds = BEATS * 60.0 / bpm.max(1.0);
        ((seconds * self.sample_rate).round() as usize).clamp(1, self.mask)
    }

    /// Writes the echoes (wet only) of `input` for one block at `bpm` into `out`.
    pub(super) fn process(&mut self, bpm: f32, input: [&[f32]; 2], out: [&mut [f32]; 2]) {
        let target = self.delay_for(bpm);
        if self.delay == 0 {
            self.delay = target;
            self.next_delay = target;
        } else if self.next_delay == self.delay && target != self.delay {
            self.next_delay = target;
            self.fade_pos = 0;
        }
        let [in_l, in_r] = input;
        let [out_l, out_r] = out;
        let n = in_l.len();
        let (in_r, out_l, out_r) = (&in_r[..n], &mut out_l[..n], &mut out_r[..n]);
        let (mask, a) = (self.mask, self.tone_coefficient);
        let [mut tone_l, mut tone_r] = self.tone;
        let mut write = self.write;
        for i in 0..n {
            let read = write.wrapping_sub(self.delay) & mask;
            let (mut echo_l, mut echo_r) = (self.left[read], self.right[read]);
            if self.next_delay != self.delay {
                // Crossfade (rare: only after a tempo change), linear over `fade_len`.
                let other = write.wrapping_sub(self.next_delay) & mask;
                let t = self.fade_pos as f32 / self.fade_len as f32;
                echo_l += t * (self.left[other] - echo_l);
                echo_r += t * (self.right[other] - echo_r);
                self.fade_pos += 1;
                if self.fade_pos == self.fade_len {
                    self.delay = self.next_delay;
                }
            }
            tone_l += a * (echo_l - tone_l);
            tone_r += a * (echo_r - tone_r);
            self.left[write] = 0.5 * (in_l[i] + in_r[i]) + FEEDBACK * tone_r + ANTI_DENORMAL;
            self.right[write] = FEEDBACK * tone_l;
            out_l[i] = tone_l;
            out_r[i] = tone_r;
            write = (write + 1) & mask;
        }
        self.write = write;
        self.tone = [tone_l, tone_r];
        self.tone.iter_mut().for_each(flush_denormal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(delay: &mut PingPongDelay, bpm: f32, input: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut left = vec![0.0; input.len()];
        let mut right = vec![0.0; input.len()];
        for ((x, l), r) in input
            .chunks(512)
            .zip(left.chunks_mut(512))
            .zip(right.chunks_mut(512))
        {
            delay.process(bpm, [x, x], [l, r]);
        }
        (left, right)
    }

    fn loudest(x: &[f32]) -> usize {
        (0..x.len())
            .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
            .unwrap()
    }

    #[test]
    fn echoes_alternate_sides_a_dotted_eighth_apart_and_fade() {
        let mut delay = PingPongDelay::new(44_100.0);
        let mut input = vec![0.0; 3 * 44_100];
        input[0] = 1.0;
        let (left, right) = run(&mut delay, 60.0, &input);
        let d = 33_075; // 0.75 s at 60 bpm
        let first = loudest(&left[..d + 2_000]);
        assert!((d..d + 20).contains(&first), "first echo at {first}");
        let second = loudest(&right[..2 * d + 2_000]);
        assert!(
            (2 * d..2 * d + 40).contains(&second),
            "second echo at {second}"
        );
        assert!(right[..d].iter().all(|&s| s == 0.0));
        assert!(right[second].abs() < 0.6 * left[first].abs());
    }

    #[test]
    fn a_tempo_change_glides_without_a_step() {
        let mut delay = PingPongDelay::new(44_100.0);
        // A steady tone through the delay, then the tempo changes mid-way.
        let input: Vec<f32> = (0..6 * 44_100)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 44_100.0).sin() * 0.5)
            .collect();
        let mut left = vec![0.0; input.len()];
        let mut right = vec![0.0; input.len()];
        for (k, ((x, l), r)) in input
            .chunks(512)
            .zip(left.chunks_mut(512))
            .zip(right.chunks_mut(512))
            .enumerate()
        {
            let bpm = if k < 300 { 60.0 } else { 110.0 };
            delay.process(bpm, [x, x], [l, r]);
        }
        // The largest sample-to-sample change stays that of a smooth 220 Hz tone.
        for channel in [&left, &right] {
            let steady = channel[2 * 44_100..3 * 44_100]
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f32::max);
            let around_change = channel[300 * 512 - 4_410..300 * 512 + 20_000]
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f32::max);
            assert!(
                around_change < 1.5 * steady,
                "step {around_change} vs {steady}"
            );
        }
        assert_eq!(delay.delay, delay.delay_for(110.0));
    }

    #[test]
    fn silence_in_gives_finite_near_silence_out() {
        let mut delay = PingPongDelay::new(44_100.0);
        let (left, right) = run(&mut delay, 70.0, &vec![0.0; 3 * 44_100]);
        assert!(
            left.iter()
                .chain(&right)
                .all(|s| s.is_finite() && s.abs() < 1e-15)
        );
    }
}
