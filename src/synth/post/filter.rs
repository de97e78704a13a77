//! The small recursive filters of the post stage (one-pole lowpass, DC blocker, biquad) and
//! the denormal guard they share.

use std::f32::consts::PI;

/// Filter states smaller than this are flushed to zero after each block: a decaying
/// recursive filter would otherwise settle on denormal values, which are slow on many CPUs.
const DENORMAL_FLOOR: f32 = 1e-15;

/// Sets `state` to zero when it has decayed below audibility (see [`DENORMAL_FLOOR`]).
#[inline]
pub(super) fn flush_denormal(state: &mut f32) {
    if state.abs() < DENORMAL_FLOOR {
        *state = 0.0;
    }
}

/// Coefficient `a` of the one-pole lowpass `y += a * (x - y)` whose -3 dB point is near `hz`.
pub(super) fn one_pole_coefficient(hz: f32, sample_rate: f32) -> f32 {
    1.0 - (-2.0 * PI * hz / sample_rate).exp()
}

/// A stereo one-pole lowpass whose cutoff glides: each block moves the coefficient linearly
/// from the previous block's value to the new one, so brightness changes never step.
#[derive(Debug, Clone)]
pub(super) struct GlidingLowpass {
    state: [f32; 2],
    coefficient: f32,
    sample_rate: f32,
}

impl GlidingLowpass {
    /// A silent filter starting at a cutoff of `hz`.
    pub(super) fn new(sample_rate: f32, hz: f32) -> Self {
        GlidingLowpass {
            state: [0.0; 2],
            coefficient: one_pole_coefficient(hz, sample_rate),
            sample_rate,
        }
    }

    /// Filters one block of `input` into `output`, arriving at a cutoff of `hz` by its end.
    pub(super) fn process(&mut self, hz: f32, input: [&[f32]; 2], output: [&mut [f32]; 2]) {
        let target = one_pole_coefficient(hz, self.sample_rate);
        let [in_l, in_r] = input;
        let [out_l, out_r] = output;
        let n = in_l.len();
        let (in_r, out_l, out_r) = (&in_r[..n], &mut out_l[..n], &mut out_r[..n]);
        let step = (target - self.coefficient) / n.max(1) as f32;
        let start = self.coefficient;
        let [mut left, mut right] = self.state;
        for i in 0..n {
            let a = start + step * (i + 1) as f32;
            left += a * (in_l[i] - left);
            right += a * (in_r[i] - right);
            out_l[i] = left;
            out_r[i] = right;
        }
        self.coefficient = target;
        self.state = [left, right];
        self.state.iter_mut().for_each(flush_denormal);
    }
}

/// A first-order DC blocker (zero at DC, pole just inside it): removes offsets, passes audio.
#[derive(Debug, Clone)]
pub(super) struct DcBlocker {
    previous_in: f32,
    previous_out: f32,
    pole: f32,
}

impl DcBlocker {
    /// A blocker with its -3 dB point near 5 Hz.
    pub(super) fn new(sample_rate: f32) -> Self {
        DcBlocker {
            previous_in: 0.0,
            previous_out: 0.0,
            pole: 1.0 - 2.0 * PI * 5.0 / sample_rate,
        }
    }

    /// Filters `samples` in place.
    pub(super) fn process(&mut self, samples: &mut [f32]) {
        let (mut x1, mut y1, pole) = (self.previous_in, self.previous_out, self.pole);
        for sample in samples {
            let y = *sample - x1 + pole * y1;
            x1 = *sample;
            y1 = y;
            *sample = y;
        }
        self.previous_in = x1;
        self.previous_out = y1;
        flush_denormal(&mut self.previous_out);
    }
}

/// A biquad in transposed direct form II, with the RBJ cookbook designs the leveller needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Biquad {
    b0: f32,
    b1: f32,
    b2: f32,
    a1: f32,
    a2: f32,
    s1: f32,
    s2: f32,
}

impl Biquad {
    fn normalised(b: [f64; 3], a: [f64; 3]) -> Self {
        Biquad {
            b0: (b[0] / a[0]) as f32,
            b1: (b[1] / a[0]) as f32,
            b2: (b[2] / a[0]) as f32,
            a1: (a[1] / a[0]) as f32,
            a2: (a[2] / a[0]) as f32,
            s1: 0.0,
            s2: 0.0,
        }
    }

    /// A high shelf of `gain_db` above `hz`.
    pub(super) fn high_shelf(sample_rate: f32, hz: f32, gain_db: f32, q: f32) -> Self {
        let a = 10f64.powf(f64::from(gain_db) / 40.0);
        let w = 2.0 * std::f64::consts::PI * f64::from(hz) / f64::from(sample_rate);
        let alpha = w.sin() / (2.0 * f64::from(q));
        let (cos, sqrt_a) = (w.cos(), a.sqrt());
        Self::normalised(
            [
                a * ((a + 1.0) + (a - 1.0) * cos + 2.0 * sqrt_a * alpha),
                -2.0 * a * ((a - 1.0) + (a + 1.0) * cos),
                a * ((a + 1.0) + (a - 1.0) * cos - 2.0 * sqrt_a * alpha),
            ],
            [
                (a + 1.0) - (a - 1.0) * cos + 2.0 * sqrt_a * alpha,
                2.0 * ((a - 1.0) - (a + 1.0) * cos),
                (a + 1.0) - (a - 1.0) * cos - 2.0 * sqrt_a * alpha,
            ],
        )
    }

    /// A second-order high-pass at `hz`.
    pub(super) fn high_pass(sample_rate: f32, hz: f32, q: f32) -> Self {
        let w = 2.0 * std::f64::consts::PI * f64::from(hz) / f64::from(sample_rate);
        let alpha = w.sin() / (2.0 * f64::from(q));
        let cos = w.cos();
        Self::normalised(
            [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0],
            [1.0 + alpha, -2.0 * cos, 1.0 - alpha],
        )
    }

    /// One sample through the filter.
    #[inline]
    pub(super) fn tick(&mut self, x: f32) -> f32 {
        let y = self.b0 * x + self.s1;
        self.s1 = self.b1 * x - self.a1 * y + self.s2;
        self.s2 = self.b2 * x - self.a2 * y;
        y
    }

    /// Flushes decayed state (call once per block).
    pub(super) fn flush(&mut self) {
        flush_denormal(&mut self.s1);
        flush_denormal(&mut self.s2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * PI * hz * i as f32 / 44_100.0).sin())
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn gliding_lowpass_passes_lows_and_cuts_highs() {
        let mut filter = GlidingLowpass::new(44_100.0, 1_000.0);
        for (hz, lo, hi) in [(100.0, 0.95, 1.01), (8_000.0, 0.05, 0.2)] {
            let input = sine(hz, 512 * 20);
            let mut out = vec![0.0; input.len()];
            let mut out_r = vec![0.0; input.len()];
            for ((x, y), z) in input
                .chunks(512)
                .zip(out.chunks_mut(512))
                .zip(out_r.chunks_mut(512))
            {
                filter.process(1_000.0, [x, x], [y, z]);
            }
            let gain = rms(&out[4_096..]) / rms(&input[4_096..]);
            assert!((lo..hi).contains(&gain), "{hz} Hz: gain {gain}");
            assert_eq!(out, out_r);
        }
    }

    #[test]
    fn dc_blocker_removes_offset_and_keeps_audio() {
        let mut blocker = DcBlocker::new(44_100.0);
        let mut offset = vec![0.3f32; 44_100];
        blocker.process(&mut offset);
        assert!(offset[44_000..].iter().all(|s| s.abs() < 1e-3));
        let input = sine(440.0, 44_100);
        let mut out = input.clone();
        blocker.process(&mut out);
        let gain = rms(&out[22_050..]) / rms(&input[22_050..]);
        assert!((0.99..1.01).contains(&gain), "gain {gain}");
    }

    #[test]
    fn high_pass_cuts_subsonics() {
        let mut hp = Biquad::high_pass(44_100.0, 40.0, 0.5);
        let input = sine(10.0, 88_200);
        let out: Vec<f32> = input.iter().map(|&x| hp.tick(x)).collect();
        assert!(rms(&out[44_100..]) < 0.1 * rms(&input[44_100..]));
        let mut shelf = Biquad::high_shelf(44_100.0, 1_500.0, 4.0, 0.707);
        let input = sine(8_000.0, 44_100);
        let out: Vec<f32> = input.iter().map(|&x| shelf.tick(x)).collect();
        let db = 20.0 * (rms(&out[4_410..]) / rms(&input[4_410..])).log10();
        assert!((3.0..5.0).contains(&db), "shelf {db} dB");
    }
}
