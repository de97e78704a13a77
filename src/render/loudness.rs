//! EBU R128 / ITU-R BS.1770-4 integrated loudness of a stereo render, measured as it goes in
//! constant memory, at a fraction of the `ebur128` crate's cost (its per-sample, per-channel
//! loop and its sum of each 400 ms block's samples, four times over, were 29 % of
//! `ambientd render`'s CPU).
//!
//! K-weighting (libebur128's two filters: the high shelf and the RLB high-pass, in f64, both
//! channels side by side), mean squares summed once per 100 ms, gating blocks of 400 ms every
//! 100 ms, the absolute gate at −70 LUFS and the relative gate 10 LU below the ungated mean.
//! Block energies go into a histogram of 0.01 LU bins that keeps each bin's exact energy
//! sum, so only the blocks of the one bin at the relative gate are counted approximately.
//! The figure is the same however the samples are cut into pieces.

/// Gating block step (100 ms at 44.1 kHz) and length (400 ms: four steps).
const STEP_FRAMES: usize = 4_410;
const BLOCK_STEPS: usize = 4;
/// The absolute gate, and the relative gate below the mean of the blocks above it.
const ABSOLUTE_GATE_LUFS: f64 = -70.0;
const RELATIVE_GATE_LU: f64 = 10.0;
/// The histogram: bins of 0.01 LU from the absolute gate up to +10 LUFS (a full-scale
/// stereo signal stays below +8); anything louder lands in the top bin.
const BIN_LU: f64 = 0.01;
const BINS: usize = 8_000;
/// Filter state smaller than this is set to zero at the end of each step, so that a long
/// silence never decays into subnormal numbers (slow on x86): within one step it can fall
/// by about 1e-11 at most.
const SUBNORMAL_GUARD: f64 = 1e-20;

/// One biquad in transposed direct form II.
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    /// a1, a2 (a0 is 1).
    a: [f64; 2],
}

impl Biquad {
    #[inline(always)]
    fn step(&self, x: f64, state: &mut [f64; 2]) -> f64 {
        let y = self.b[0] * x + state[0];
        // The feedback term last: the loop-carried chain is one multiply and one subtract.
        state[0] = (self.b[1] * x + state[1]) - self.a[0] * y;
        state[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// BS.1770's K-weighting at `rate` Hz: the high shelf (+4 dB above ~1.7 kHz, the head's
/// effect) and the RLB high-pass (38 Hz), as libebur128 derives them.
fn k_weighting(rate: f64) -> [Biquad; 2] {
    let (f0, gain_db, q) = (
        1_681.974_450_955_533,
        3.999_843_853_973_347,
        0.707_175_236_955_419_6,
    );
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let vh = 10f64.powf(gain_db / 20.0);
    let vb = vh.powf(0.499_666_774_154_541_6);
    let a0 = 1.0 + k / q + k * k;
    let shelf = Biquad {
        b: [
            (vh + vb * k / q + k * k) / a0,
            2.0 * (k * k - vh) / a0,
            (vh - vb * k / q + k * k) / a0,
        ],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    };
    let (f0, q) = (38.135_470_876_024_44, 0.500_327_037_323_877_3);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let a0 = 1.0 + k / q + k * k;
    let high_pass = Biquad {
        b: [1.0, -2.0, 1.0],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    };
    [shelf, high_pass]
}

fn lufs(energy: f64) -> f64 {
    -0.691 + 10.0 * energy.log10()
}

/// An integrated-loudness meter for interleaved stereo at 44.1 kHz.
pub struct Loudness {
    filters: [Biquad; 2],
    /// Per channel, per filter: the two state values.
    state: [[[f64; 2]; 2]; 2],
    /// Sums of squares (per channel, in frame order, carried across pieces) of the 100 ms
    /// step being filled, and its frames so far.
    step_sums: [f64; 2],
    step_frames: usize,
    /// The last three whole steps' sums (oldest first), for the 400 ms block they begin.
    previous: [f64; BLOCK_STEPS - 1],
    steps_done: u64,
    /// Per bin: the blocks in it and their energies' sum.
    counts: Box<[u64]>,
    energies: Box<[f64]>,
}

impl std::fmt::Debug for Loudness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loudness")
            .field("steps_done", &self.steps_done)
            .finish_non_exhaustive()
    }
}

impl Default for Loudness {
    fn default() -> Self {
        Self::new()
    }
}

impl Loudness {
    /// A meter that has heard nothing.
    pub fn new() -> Self {
        Loudness {
            filters: k_weighting(f64::from(crate::audio::SAMPLE_RATE)),
            state: [[[0.0; 2]; 2]; 2],
            step_sums: [0.0; 2],
            step_frames: 0,
            previous: [0.0; BLOCK_STEPS - 1],
            steps_done: 0,
            counts: vec![0; BINS].into_boxed_slice(),
            energies: vec![0.0; BINS].into_boxed_slice(),
        }
    }

    /// Forgets everything heard (a new period), keeping the memory.
    pub fn reset(&mut self) {
        self.state = [[[0.0; 2]; 2]; 2];
        self.step_sums = [0.0; 2];
        self.step_frames = 0;
        self.previous = [0.0; BLOCK_STEPS - 1];
        self.steps_done = 0;
        self.counts.fill(0);
        self.energies.fill(0.0);
    }

    /// Adds interleaved stereo frames.
    pub fn add(&mut self, samples: &[f32]) {
        debug_assert_eq!(samples.len() % 2, 0);
        let mut rest = samples;
        while !rest.is_empty() {
            let frames = (STEP_FRAMES - self.step_frames).min(rest.len() / 2);
            let (now, later) = rest.split_at(2 * frames);
            k_weight_and_sum(&self.filters, &mut self.state, &mut self.step_sums, now);
            self.step_frames += frames;
            if self.step_frames == STEP_FRAMES {
                self.end_step();
            }
            rest = later;
        }
    }

    /// A 100 ms step is whole: with the three before it, it makes a 400 ms gating block.
    fn end_step(&mut self) {
        let sum = self.step_sums[0] + self.step_sums[1];
        self.steps_done += 1;
        if self.steps_done >= BLOCK_STEPS as u64 {
            let total = self.previous.iter().sum::<f64>() + sum;
            self.add_block(total / (BLOCK_STEPS * STEP_FRAMES) as f64);
        }
        self.previous.rotate_left(1);
        self.previous[BLOCK_STEPS - 2] = sum;
        self.step_sums = [0.0; 2];
        self.step_frames = 0;
        // At a step's end, not a piece's: the same wherever the pieces are cut.
        for value in self.state.iter_mut().flatten().flatten() {
            if value.abs() < SUBNORMAL_GUARD {
                *value = 0.0;
            }
        }
    }

    fn add_block(&mut self, energy: f64) {
        let loudness = lufs(energy);
        if loudness.is_nan() || loudness <= ABSOLUTE_GATE_LUFS {
            return;
        }
        let bin = (((loudness - ABSOLUTE_GATE_LUFS) / BIN_LU) as usize).min(BINS - 1);
        self.counts[bin] += 1;
        self.energies[bin] += energy;
    }

    /// The integrated loudness so far, LUFS (−∞ before the first block above the gate).
    pub fn integrated(&self) -> f64 {
        let (count, energy) = self.gated_from(0);
        if count == 0 {
            return f64::NEG_INFINITY;
        }
        let relative_gate = lufs(energy / count as f64) - RELATIVE_GATE_LU;
        let first = ((relative_gate - ABSOLUTE_GATE_LUFS) / BIN_LU).max(0.0) as usize;
        let (count, energy) = self.gated_from(first.min(BINS - 1));
        lufs(energy / count as f64)
    }

    /// Blocks in bins `first..` and their energies' sum.
    fn gated_from(&self, first: usize) -> (u64, f64) {
        let counts = self.counts[first..].iter().sum();
        let energies = self.energies[first..].iter().sum();
        (counts, energies)
    }
}

/// K-weights `samples` (interleaved stereo) from `state` and adds their squares to `sums`,
/// in frame order. The four filters (two per channel) run as the four lanes of one vector,
/// skewed by a frame: each step takes both channels' shelf of frame `i` and their high-pass of
/// frame `i - 1` (the shelf's output of the step before). Lane by lane it is the same
/// arithmetic as one `Biquad::step` after another, so the figures are those of the plain
/// loop, bit for bit, on every target.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "x86_64+avx",
    "aarch64+neon"
))]
fn k_weight_and_sum(
    filters: &[Biquad; 2],
    state: &mut [[[f64; 2]; 2]; 2],
    sums: &mut [f64; 2],
    samples: &[f32],
) {
    let [shelf, high_pass] = *filters;
    let [[mut s0, mut h0], [mut s1, mut h1]] = *state;
    let [mut sum0, mut sum1] = *sums;
    let mut frames = samples.chunks_exact(2);
    let Some(first) = frames.next() else { return };
    // The shelf of the first frame alone; its high-pass comes with the next frame.
    let mut pending = [
        shelf.step(f64::from(first[0]), &mut s0),
        shelf.step(f64::from(first[1]), &mut s1),
    ];
    let lanes = |s: f64, h: f64| [s, s, h, h];
    let b = [0, 1, 2].map(|k| lanes(shelf.b[k], high_pass.b[k]));
    let a = [0, 1].map(|k| lanes(shelf.a[k], high_pass.a[k]));
    let mut z1 = [s0[0], s1[0], h0[0], h1[0]];
    let mut z2 = [s0[1], s1[1], h0[1], h1[1]];
    for frame in frames {
        let x = [
            f64::from(frame[0]),
            f64::from(frame[1]),
            pending[0],
            pending[1],
        ];
        let mut y = [0.0; 4];
        for l in 0..4 {
            y[l] = b[0][l] * x[l] + z1[l];
            z1[l] = (b[1][l] * x[l] + z2[l]) - a[0][l] * y[l];
            z2[l] = b[2][l] * x[l] - a[1][l] * y[l];
        }
        pending = [y[0], y[1]];
        sum0 += y[2] * y[2];
        sum1 += y[3] * y[3];
    }
    [s0, s1, h0, h1] = [0, 1, 2, 3].map(|l| [z1[l], z2[l]]);
    // The last frame's high-pass.
    let (last0, last1) = (
        high_pass.step(pending[0], &mut h0),
        high_pass.step(pending[1], &mut h1),
    );
    sum0 += last0 * last0;
    sum1 += last1 * last1;
    *state = [[s0, h0], [s1, h1]];
    *sums = [sum0, sum1];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our figure for `samples` is the `ebur128` crate's (all blocks kept) within 0.01 LU.
    fn assert_measures_as_the_crate(samples: &[f32], what: &str) {
        let mut crate_meter = ebur128::EbuR128::new(2, 44_100, ebur128::Mode::I).unwrap();
        crate_meter.add_frames_f32(samples).unwrap();
        let theirs = crate_meter.loudness_global().unwrap();
        let mut meter = Loudness::new();
        meter.add(samples);
        let ours = meter.integrated();
        assert!(
            (ours - theirs).abs() < 0.01,
            "{what}: {ours} against {theirs}"
        );
    }

    fn sine(hz: f32, amplitude: f32, seconds: f32) -> Vec<f32> {
        let frames = (seconds * 44_100.0) as usize;
        (0..frames)
            .flat_map(|i| {
                let x = amplitude * (std::f32::consts::TAU * hz * i as f32 / 44_100.0).sin();
                [x, 0.8 * x]
            })
            .collect()
    }

    #[test]
    fn a_sine_measures_as_the_ebur128_crate_measures_it() {
        for (hz, amplitude) in [(997.0, 0.1), (60.0, 0.5), (6_000.0, 0.02)] {
            assert_measures_as_the_crate(&sine(hz, amplitude, 10.0), &format!("{hz} Hz"));
        }
    }

    #[test]
    fn a_quiet_passage_is_gated_as_the_standard_says() {
        // 10 s loud, 10 s 30 dB down (below the relative gate), 5 s of silence.
        let mut samples = sine(440.0, 0.3, 10.0);
        samples.extend(sine(440.0, 0.3 * 10f32.powf(-1.5), 10.0));
        samples.extend(std::iter::repeat_n(0.0, 2 * 5 * 44_100));
        assert_measures_as_the_crate(&samples, "gated");
    }

    #[test]
    fn music_measures_as_the_ebur128_crate_measures_it() {
        for (key, intensity, seed) in [("E minor", 0.0, 5), ("D major", 1.0, 6)] {
            let params =
                ambientctl::SynthesisParameters::new(key.parse().unwrap(), 66, intensity, seed)
                    .unwrap();
            assert_measures_as_the_crate(&crate::render::render(params, 60.0, &[]), key);
        }
    }

    #[test]
    fn the_skewed_vector_loop_is_the_plain_loop_bit_for_bit() {
        let samples: Vec<f32> = (0..2 * 5_000)
            .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * (1.0 + (i % 7) as f32))
            .collect();
        let filters = k_weighting(44_100.0);
        let mut state = [[[0.01, -0.02], [0.003, 0.0]], [[0.0, 0.5], [-0.25, 0.125]]];
        let mut sums = [1.0, 2.0];
        let mut plain_state = state;
        let [mut plain0, mut plain1] = sums;
        for frame in samples.chunks_exact(2) {
            for (ch, sum) in [&mut plain0, &mut plain1].into_iter().enumerate() {
                let [shelf_state, high_pass_state] = &mut plain_state[ch];
                let y = filters[0].step(f64::from(frame[ch]), shelf_state);
                let z = filters[1].step(y, high_pass_state);
                *sum += z * z;
            }
        }
        k_weight_and_sum(&filters, &mut state, &mut sums, &samples);
        assert_eq!(sums, [plain0, plain1]);
        assert_eq!(state, plain_state);
    }

    #[test]
    fn the_figure_does_not_depend_on_how_the_samples_are_cut() {
        let samples = sine(220.0, 0.2, 3.0);
        let mut whole = Loudness::new();
        whole.add(&samples);
        for frames in [1, 333, 4_410, 7_001] {
            let mut pieces = Loudness::new();
            for piece in samples.chunks(2 * frames) {
                pieces.add(piece);
            }
            assert_eq!(
                whole.integrated(),
                pieces.integrated(),
                "pieces of {frames}"
            );
        }
    }

    #[test]
    fn silence_and_too_little_are_minus_infinity() {
        let mut meter = Loudness::new();
        assert_eq!(meter.integrated(), f64::NEG_INFINITY);
        meter.add(&sine(440.0, 0.5, 0.3)); // under one 400 ms block
        assert_eq!(meter.integrated(), f64::NEG_INFINITY);
        let mut silent = Loudness::new();
        silent.add(&vec![0.0; 2 * 44_100]);
        assert_eq!(silent.integrated(), f64::NEG_INFINITY);
    }
}
