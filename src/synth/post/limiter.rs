//! The master limiter: a lookahead peak limiter whose output never exceeds its ceiling, with
//! a gain that moves smoothly (no distortion, no clicks) and recovers slowly.
//!
//! How it guarantees the ceiling: each frame needs the gain `g = min(1, ceiling / peak)`.
//! The gain used is the minimum of `g` over the last `W` frames (held, then released
//! slowly), averaged over `W` frames; the audio is delayed by `W - 1` frames. Every value
//! in that average is at most the delayed frame's own `g`, so their mean is too.

use super::filter::peak;
use crate::audio::BLOCK_FRAMES;

/// Ceiling, dBFS (sample peak).
pub(super) const CEILING_DBFS: f32 = -1.5;
/// Lookahead: the gain starts falling this long before a peak.
const LOOKAHEAD_SEC: f32 = 0.003;
/// Time constant of the gain's recovery once a peak has passed.
const RELEASE_SEC: f32 = 0.2;
/// Within this of its target (or when f32 steps stall), the recovering gain snaps to it, so
/// it reaches 1 exactly.
const SNAP: f32 = 1e-5;

/// The limiter. Its buffers are sized in `new`.
#[derive(Debug, Clone)]
pub(super) struct Limiter {
    ceiling: f32,
    /// Lookahead window, frames.
    window: usize,
    /// The last `window` frames' required gains, and the averaging ring of held gains;
    /// both indexed by `pos`.
    required: Vec<f32>,
    held: Vec<f32>,
    pos: usize,
    /// Minimum of `required`, and how many frames ago it entered.
    hold: f32,
    hold_age: usize,
    /// The held gain after the release filter.
    envelope: f32,
    release: f32,
    /// Sum of `held`, and how many frames in a row `envelope` has been exactly 1.
    sum: f32,
    unity_run: usize,
    /// Per channel, the last `window - 1` input frames, then room for a block: the delay.
    delayed: [Vec<f32>; 2],
    /// The gain of each frame of the block being processed.
    gains: Vec<f32>,
}

impl Limiter {
    /// A limiter at `sample_rate`, passing audio at unity gain.
    pub(super) fn new(sample_rate: f32) -> Self {
        let window = ((LOOKAHEAD_SEC * sample_rate) as usize).max(2);
        let delay_line = || vec![0.0; window - 1 + BLOCK_FRAMES];
        Limiter {
            ceiling: 10f32.powf(CEILING_DBFS / 20.0),
            window,
            required: vec![1.0; window],
            held: vec![1.0; window],
            pos: 0,
            hold: 1.0,
            hold_age: 0,
            envelope: 1.0,
            release: 1.0 - (-1.0 / (RELEASE_SEC * sample_rate)).exp(),
            sum: window as f32,
            unity_run: window,
            delayed: [delay_line(), delay_line()],
            gains: vec![1.0; BLOCK_FRAMES],
        }
    }

    /// Frames by which the output lags the input.
    pub(super) fn latency(&self) -> usize {
        self.window - 1
    }

    /// Limits one block (at most `BLOCK_FRAMES`): `left` and `right` in, interleaved stereo
    /// out.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(&mut self, left: &[f32], right: &[f32], out: &mut [f32]) {
        let n = left.len();
        let latency = self.latency();
        let (right, out) = (&right[..n], &mut out[..2 * n]);
        for (delayed, input) in self.delayed.iter_mut().zip([left, right]) {
            delayed[latency..latency + n].copy_from_slice(input);
        }
        let peak = peak(left).max(peak(right));
        // Idle: every gain in both windows is exactly 1 and stays so; the per-frame path
        // would compute exactly what the copy below does.
        let idle = peak <= self.ceiling && self.unity_run >= self.window;
        if idle {
            self.unity_run = self.unity_run.saturating_add(n);
        } else {
            for i in 0..n {
                self.gains[i] = self.next_gain(left[i], right[i]);
            }
        }
        let [delayed_l, delayed_r] = &self.delayed;
        let frames = out
            .chunks_exact_mut(2)
            .zip(&delayed_l[..n])
            .zip(&delayed_r[..n]);
        if idle {
            for ((frame, &l), &r) in frames {
                frame[0] = l;
                frame[1] = r;
            }
        } else {
            for (((frame, &l), &r), &gain) in frames.zip(&self.gains) {
                frame[0] = l * gain;
                frame[1] = r * gain;
            }
        }
        for delayed in &mut self.delayed {
            delayed.copy_within(n..n + latency, 0);
        }
    }

    /// The gain for the frame leaving the delay as the frame (`left`, `right`) enters it.
    #[inline]
    fn next_gain(&mut self, left: f32, right: f32) -> f32 {
        let peak = left.abs().max(right.abs());
        let required = if peak > self.ceiling {
            self.ceiling / peak
        } else {
            1.0
        };
        self.required[self.pos] = required;
        if required <= self.hold {
            self.hold = required;
            self.hold_age = 0;
        } else {
            self.hold_age += 1;
            if self.hold_age >= self.window {
                self.rescan();
            }
        }
        self.envelope = if self.hold <= self.envelope {
            self.hold
        } else {
            let next = self.envelope + (self.hold - self.envelope) * self.release;
            // Near the target, f32 steps stall (the step falls below half an ulp): snap.
            if next == self.envelope || self.hold - next < SNAP {
                self.hold
            } else {
                next
            }
        };
        self.unity_run = if self.envelope == 1.0 {
            self.unity_run.saturating_add(1)
        } else {
            0
        };
        self.sum += self.envelope - self.held[self.pos];
        self.held[self.pos] = self.envelope;
        self.pos += 1;
        if self.pos == self.window {
            self.pos = 0;
            // Recomputed once per window so rounding never accumulates.
            self.sum = self.held.iter().sum();
        }
        self.sum / self.window as f32
    }

    /// Finds the minimum of the window after the old one left it (at most once a window).
    fn rescan(&mut self) {
        let (mut best, mut age) = (f32::INFINITY, 0);
        for back in 0..self.window {
            let index = (self.pos + self.window - back) % self.window;
            if self.required[index] < best {
                best = self.required[index];
                age = back;
            }
        }
        self.hold = best;
        self.hold_age = age;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(limiter: &mut Limiter, left: &[f32], right: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; 2 * left.len()];
        for ((l, r), o) in left
            .chunks(512)
            .zip(right.chunks(512))
            .zip(out.chunks_mut(1024))
        {
            limiter.process(l, r, o);
        }
        out
    }

    fn burst() -> Vec<f32> {
        // Quiet sine, a 1 s burst 20 dB over full scale, quiet again.
        (0..5 * 44_100)
            .map(|i| {
                let level = if (44_100..88_200).contains(&i) {
                    10.0
                } else {
                    0.1
                };
                level * (i as f32 * 2.0 * std::f32::consts::PI * 1_000.0 / 44_100.0).sin()
            })
            .collect()
    }

    #[test]
    fn never_exceeds_its_ceiling_on_a_loud_burst() {
        let mut limiter = Limiter::new(44_100.0);
        let input = burst();
        let out = limit(&mut limiter, &input, &input);
        let ceiling = 10f32.powf(CEILING_DBFS / 20.0);
        let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(peak <= ceiling * 1.000_01, "peak {peak} over {ceiling}");
        assert!(peak > 0.9 * ceiling, "the burst is held near the ceiling");
    }

    #[test]
    fn quiet_audio_passes_delayed_and_untouched_and_recovers_after_a_burst() {
        let mut limiter = Limiter::new(44_100.0);
        let input = burst();
        let out = limit(&mut limiter, &input, &input);
        let d = limiter.latency();
        for i in 0..44_100 - d {
            assert_eq!(out[2 * (i + d)], input[i]);
        }
        // Three seconds after the burst the gain is back to exactly 1.
        for i in 4 * 44_100..5 * 44_100 - d {
            assert_eq!(out[2 * (i + d) + 1], input[i]);
        }
    }

    #[test]
    fn gain_changes_smoothly() {
        let mut limiter = Limiter::new(44_100.0);
        let input = burst();
        let out = limit(&mut limiter, &input, &input);
        let d = limiter.latency();
        // The gain is out / in where the input is not near zero; between such frames a few
        // samples apart it changes by a small fraction only (no step).
        let gains: Vec<(usize, f32)> = (0..input.len() - d)
            .filter(|&i| input[i].abs() > 0.05)
            .map(|i| (i, out[2 * (i + d)] / input[i]))
            .collect();
        for w in gains.windows(2) {
            let ((i, a), (j, b)) = (w[0], w[1]);
            if j - i < 5 {
                assert!((a - b).abs() < 0.02 + 0.02 * a, "gain {a} -> {b} at {i}");
            }
        }
    }
}
