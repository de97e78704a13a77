//! Small filters of the post stage (one-pole coefficients, DC blocker, biquad), the
//! denormal guard they share, and vectorisable reductions.

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

/// Frame index `i` as a float, for gain and coefficient ramps. Through `i32`: that converts
/// a vector of four or eight at once, where `usize` converts one at a time. Ramps are at
/// most a few thousand frames long.
#[inline(always)]
pub(super) fn ramp_index(i: usize) -> f32 {
    i as i32 as f32
}

/// Lanes of the reductions below: independent partial results the compiler keeps in one
/// vector register (a plain `iter().sum()` is one serial chain of adds, since float addition
/// may not be reordered).
const LANES: usize = 8;

/// The sum of `x`.
#[inline(always)] // compiled into each SIMD target of `PostStage::process`
pub(super) fn sum(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// The largest absolute value in `x` (0 for none).
#[inline(always)] // compiled into each SIMD target of `PostStage::process`
pub(crate) fn peak(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            let magnitude = v.abs();
            *lane = if magnitude > *lane { magnitude } else { *lane };
        }
    }
    lanes
        .iter()
        .chain(rest)
        .fold(0.0f32, |m, &v| if v.abs() > m { v.abs() } else { m })
}

/// Coefficient `a` of the one-pole lowpass `y += a * (x - y)` whose -3 dB point is near `hz`.
pub(super) fn one_pole_coefficient(hz: f32, sample_rate: f32) -> f32 {
    1.0 - (-2.0 * PI * hz / sample_rate).exp()
}

/// Removes DC from the output: tracks each channel's mean with a slow one-pole filter on
/// block means (time constant 2 s) and subtracts it, ramped linearly across each block.
/// Cheaper than a per-sample DC blocker (the loops vectorise), and just as inaudible: it
/// only moves below ~0.1 Hz.
#[derive(Debug, Clone)]
pub(super) struct DcBlocker {
    estimate: [f32; 2],
    time_constant_frames: f32,
}

impl DcBlocker {
    /// A blocker at `sample_rate`, starting from no offset.
    pub(super) fn new(sample_rate: f32) -> Self {
        DcBlocker {
            estimate: [0.0; 2],
            time_constant_frames: 2.0 * sample_rate,
        }
    }

    /// Removes the offset from one block of stereo, in place.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        if n == 0 {
            return;
        }
        let follow = 1.0 - (-(n as f32) / self.time_constant_frames).exp();
        for (estimate, channel) in self.estimate.iter_mut().zip([left, right]) {
            let mean = sum(channel) / n as f32;
            let start = *estimate;
            let step = follow * (mean - start) / n as f32;
            for (i, x) in channel.iter_mut().enumerate() {
                *x -= start + step * ramp_index(i + 1);
            }
            *estimate = start + follow * (mean - start);
            flush_denormal(estimate);
        }
    }
}

/// A gentle top-end softener, the FIR `((1 + z⁻¹) / 2)²`: flat in the bass and mids
/// (-1 dB at 5 kHz, -5 dB at 10 kHz) and falling to nothing at Nyquist, where the one-pole
/// lowpasses upstream (and FM fold-over) leave a thin, fizzy floor. Non-recursive, so it
/// vectorises.
#[derive(Debug, Clone)]
pub(super) struct Softener {
    /// Per channel, the last two input samples.
    history: [[f32; 2]; 2],
    /// One block plus two samples of history, per channel.
    scratch: Vec<f32>,
}

impl Softener {
    /// A silent softener for blocks of up to `max_frames`.
    pub(super) fn new(max_frames: usize) -> Self {
        Softener {
            history: [[0.0; 2]; 2],
            scratch: vec![0.0; max_frames + 2],
        }
    }

    /// Filters one block of stereo in place.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        for (history, channel) in self.history.iter_mut().zip([left, right]) {
            let x = &mut self.scratch[..n + 2];
            x[..2].copy_from_slice(history);
            x[2..].copy_from_slice(channel);
            for (i, y) in channel.iter_mut().enumerate() {
                *y = 0.25 * (x[i] + x[i + 2]) + 0.5 * x[i + 1];
            }
            history.copy_from_slice(&x[n..n + 2]);
        }
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

    /// Takes `design`'s coefficients and keeps its own state, so a filter can be re-tuned
    /// between blocks without restarting.
    pub(super) fn retune(&mut self, design: &Biquad) {
        let (s1, s2) = (self.s1, self.s2);
        *self = Biquad { s1, s2, ..*design };
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
    fn dc_blocker_removes_offset_and_keeps_audio() {
        let mut blocker = DcBlocker::new(44_100.0);
        let block = |b: &mut DcBlocker, x: &mut [f32]| {
            let mut y = x.to_vec();
            for (l, r) in x.chunks_mut(512).zip(y.chunks_mut(512)) {
                b.process(l, r);
            }
        };
        let mut offset = vec![0.3f32; 15 * 44_100];
        block(&mut blocker, &mut offset);
        assert!(offset[14 * 44_100..].iter().all(|s| s.abs() < 1e-3));
        // A bass note and a slow swell pass almost untouched, with no steps.
        for hz in [40.0, 440.0] {
            let mut blocker = DcBlocker::new(44_100.0);
            let input = sine(hz, 2 * 44_100);
            let mut out = input.clone();
            block(&mut blocker, &mut out);
            let error: Vec<f32> = out.iter().zip(&input).map(|(o, i)| o - i).collect();
            let relative = rms(&error[44_100..]) / rms(&input);
            assert!(relative < 0.01, "{hz} Hz: error {relative}");
            let step = error
                .windows(2)
                .map(|w| (w[1] - w[0]).abs())
                .fold(0.0, f32::max);
            assert!(step < 1e-3, "{hz} Hz: step {step}");
        }
    }

    #[test]
    fn softener_keeps_mids_and_removes_the_top() {
        let mut softener = Softener::new(512);
        for (hz, lo, hi) in [(1_000.0, 0.98, 1.0), (18_000.0, 0.0, 0.1)] {
            let input = sine(hz, 44_100);
            let mut left = input.clone();
            let mut right = input.clone();
            for (l, r) in left.chunks_mut(300).zip(right.chunks_mut(300)) {
                softener.process(l, r);
            }
            let gain = rms(&left[100..]) / rms(&input[100..]);
            assert!((lo..hi).contains(&gain), "{hz} Hz: gain {gain}");
            assert_eq!(left, right);
        }
    }

    #[test]
    fn reductions_match_the_plain_ones() {
        let x: Vec<f32> = (0..1_000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        for n in [0, 1, 7, 8, 9, 513, 1_000] {
            let plain: f32 = x[..n].iter().sum();
            assert!((sum(&x[..n]) - plain).abs() < 1e-3);
            let biggest = x[..n].iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert_eq!(peak(&x[..n]), biggest);
        }
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
