//! "Air": a quiet band of noise (2.5–9 kHz) under the music, louder with intensity, so the
//! texture is never dead and the top of the spectrum is never empty: the breath of a room.
//!
//! The noise is computed once, in `new`, from a fixed-seed generator through a band filter,
//! into two small tables whose lengths are distinct primes (~0.37 s each, 128 KiB together,
//! so they stay in cache). Each sample is the sum of one read from each: the pattern only
//! repeats after the product of the lengths (over six minutes). The right channel reads both
//! half a table away from the left, so the two are uncorrelated. Playback is by frame number,
//! so the output depends on time only, never on block sizes.

use super::filter::{Biquad, one_pole_coefficient, ramp_index};

/// Table lengths, frames: distinct primes, so the sum of the two repeats only after their
/// product.
const TABLE_LENS: [usize; 2] = [16_381, 16_411];
/// The band: a high-pass and two lowpass poles, so the noise is a soft breath of air around
/// 2–7 kHz, rolling off above, never a hiss.
const HIGH_PASS_HZ: f32 = 2_500.0;
const LOW_PASS_HZ: f32 = 9_000.0;
/// Air level (RMS, dB relative to full scale, before the leveller) at intensity 0 and 1.
/// In between, the level rises fast and then levels off (`1 - (1 - intensity)³` of the way):
/// the default is already airy, intensity 0 keeps nearly none, and 1 adds little more.
const LEVEL_DB_CALM: f32 = -66.0;
const LEVEL_DB_BRIGHT: f32 = -40.0;
/// The air's fade-in from the start of a render, seconds.
const FADE_IN_SEC: f32 = 2.0;
/// The generator's fixed seed.
const SEED: u32 = 0x2545_f491;

/// The air generator.
#[derive(Debug, Clone)]
pub(super) struct Air {
    /// Band-limited noise, each of RMS 1/√2 (so their sum has RMS 1).
    tables: [Vec<f32>; 2],
    /// Frame number of the next sample.
    frame: u64,
    /// Gain reached at the end of the last block.
    gain: f32,
    sample_rate: f32,
}

fn gain_for(intensity: f32) -> f32 {
    let rest = 1.0 - intensity.clamp(0.0, 1.0);
    let db = LEVEL_DB_CALM + (LEVEL_DB_BRIGHT - LEVEL_DB_CALM) * (1.0 - rest * rest * rest);
    10f32.powf(db / 20.0)
}

/// `len` samples of band noise of RMS `rms` at `sample_rate`, looping without a seam; the
/// same for the same `seed`, every time.
fn noise_table(sample_rate: f32, len: usize, seed: u32, rms: f32) -> Vec<f32> {
    let mut state = seed;
    let mut white = move || {
        // xorshift32
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state as i32) as f32 * (1.0 / 2_147_483_648.0)
    };
    let mut high_pass = Biquad::high_pass(sample_rate, HIGH_PASS_HZ, 0.707);
    let a = one_pole_coefficient(LOW_PASS_HZ, sample_rate);
    let (mut low1, mut low2) = (0.0f32, 0.0f32);
    let mut shaped = |x: f32| {
        low1 += a * (high_pass.tick(x) - low1);
        low2 += a * (low1 - low2);
        low2
    };
    // Run the filters in first, then fill the table; it loops, so a tenth of a second is
    // also faded across its seam.
    for _ in 0..len {
        shaped(white());
    }
    let mut table: Vec<f32> = (0..len).map(|_| shaped(white())).collect();
    let fade = len / 16;
    let tail: Vec<f32> = (0..fade).map(|_| shaped(white())).collect();
    for (i, t) in tail.iter().enumerate() {
        // Cross from the noise that would follow the end into the table's start.
        let w = i as f32 / fade as f32;
        table[i] = w * table[i] + (1.0 - w) * t;
    }
    let measured =
        (table.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / len as f64).sqrt() as f32;
    table.iter_mut().for_each(|x| *x *= rms / measured);
    table
}

impl Air {
    /// Air at `sample_rate`, silent at first (it fades in).
    pub(super) fn new(sample_rate: f32) -> Self {
        let table =
            |len, seed| noise_table(sample_rate, len, seed, std::f32::consts::FRAC_1_SQRT_2);
        Air {
            tables: [table(TABLE_LENS[0], SEED), table(TABLE_LENS[1], !SEED)],
            frame: 0,
            gain: 0.0,
            sample_rate,
        }
    }

    /// Adds one block of air into `out`, its level gliding to that of `intensity`.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn add(&mut self, intensity: f32, out: [&mut [f32]; 2]) {
        let n = out[0].len();
        // It fades in over the first seconds (from silence the noise would start at once),
        // then follows the intensity as before.
        let fade = (self.frame as f32 / (FADE_IN_SEC * self.sample_rate)).min(1.0);
        let target = gain_for(intensity) * fade * fade;
        let step = (target - self.gain) / n.max(1) as f32;
        let [a, b] = &self.tables;
        for (channel, out) in (0u64..).zip(out) {
            // The right channel reads half a table further on.
            let start =
                |len: usize| ((self.frame + channel * len as u64 / 2) % len as u64) as usize;
            let (mut at_a, mut at_b) = (start(a.len()), start(b.len()));
            let mut done = 0;
            while done < n {
                // Stretches in which neither table wraps, so the loop vectorises.
                let take = (n - done).min(a.len() - at_a).min(b.len() - at_b);
                let (a, b) = (&a[at_a..at_a + take], &b[at_b..at_b + take]);
                let out = &mut out[done..done + take];
                for (i, ((y, &x), &z)) in out.iter_mut().zip(a).zip(b).enumerate() {
                    *y += (self.gain + step * ramp_index(done + i + 1)) * (x + z);
                }
                done += take;
                at_a = (at_a + take) % self.tables[0].len();
                at_b = (at_b + take) % self.tables[1].len();
            }
        }
        self.gain = target;
        self.frame += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(block: usize, intensity: f32, frames: usize) -> (Vec<f32>, Vec<f32>) {
        let mut air = Air::new(44_100.0);
        let mut left = vec![0.0; frames];
        let mut right = vec![0.0; frames];
        for (l, r) in left.chunks_mut(block).zip(right.chunks_mut(block)) {
            air.add(intensity, [l, r]);
        }
        (left, right)
    }

    fn rms_db(x: &[f32]) -> f32 {
        10.0 * (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).log10()
    }

    #[test]
    fn air_is_quiet_follows_intensity_and_ignores_block_sizes() {
        let (calm, _) = render(512, 0.0, 4 * 44_100);
        let (bright, _) = render(512, 1.0, 4 * 44_100);
        let (calm, bright) = (&calm[3 * 44_100..], &bright[3 * 44_100..]); // after the fade-in
        assert!(
            (rms_db(calm) - LEVEL_DB_CALM).abs() < 1.5,
            "{}",
            rms_db(calm)
        );
        assert!((rms_db(bright) - LEVEL_DB_BRIGHT).abs() < 1.5);
        // Past the fade-in, the output depends on time only, not on block sizes.
        let (a, b) = (render(512, 0.5, 3 * 44_100), render(37, 0.5, 3 * 44_100));
        assert_eq!(&a.0[2 * 44_100 + 2_000..], &b.0[2 * 44_100 + 2_000..]);
        let table = || noise_table(44_100.0, 1_000, SEED, 1.0);
        assert_eq!(table(), table());
    }

    #[test]
    fn left_and_right_are_different_noise_in_the_air_band() {
        let (left, right) = render(512, 1.0, 32_768);
        let dot: f32 = left.iter().zip(&right).map(|(a, b)| a * b).sum();
        let power: f32 = left.iter().map(|a| a * a).sum();
        assert!((dot / power).abs() < 0.05);
        let mean = left.iter().sum::<f32>() / left.len() as f32;
        assert!(mean.abs() < 1e-5);
        // Most of the energy lies in the air band, little below 1 kHz or near Nyquist.
        let mut spectrum: Vec<rustfft::num_complex::Complex<f32>> = left
            .iter()
            .map(|&x| rustfft::num_complex::Complex::new(x, 0.0))
            .collect();
        rustfft::FftPlanner::new()
            .plan_fft_forward(spectrum.len())
            .process(&mut spectrum);
        let hz_per_bin = 44_100.0 / spectrum.len() as f32;
        let band = |lo: f32, hi: f32| -> f32 {
            spectrum[..spectrum.len() / 2]
                .iter()
                .enumerate()
                .filter(|(k, _)| (lo..hi).contains(&(*k as f32 * hz_per_bin)))
                .map(|(_, c)| c.norm_sqr())
                .sum()
        };
        let total = band(0.0, 22_050.0);
        let (low, air, top) = (
            band(0.0, 1_000.0),
            band(1_000.0, 14_000.0),
            band(16_000.0, 22_050.0),
        );
        assert!(air > 0.7 * total, "{low} {air} {top} of {total}");
        // The top is softened later in the chain (the softener), not here.
        assert!(
            low < 0.1 * total && top < 0.15 * total,
            "{low} {air} {top} of {total}"
        );
    }
}
