//! "Air": a very quiet, soft band of noise under the music, louder with intensity, so the
//! texture is never dead. Deterministic: each sample is a hash of its frame number, so the
//! noise depends on nothing but time (not on block sizes) and vectorises.

use crate::audio::BLOCK_FRAMES;

/// The colouring filter, (1 + z⁻¹)⁵ (1 - z⁻¹): zero at DC and at Nyquist, a broad hump
/// around 6 kHz, falling steeply above it — a soft hiss, not a harsh one.
const TAPS: [f32; 7] = [1.0, 4.0, 5.0, 0.0, -5.0, -4.0, -1.0];
const HISTORY: usize = TAPS.len() - 1;
/// Makes the filtered noise unit RMS: uniform noise has RMS 1/√3, the taps' power gain is 84.
const NORMALISE: f32 = 0.188_982_24; // √3 / √84
/// Air level (RMS, dB relative to full scale, before the leveller) at intensity 0 and 1.
const LEVEL_DB_CALM: f32 = -66.0;
const LEVEL_DB_BRIGHT: f32 = -58.0;

/// lowbias32 (Chris Wellons): a fast integer hash with good avalanche.
#[inline(always)]
fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Uniform noise in [-1, 1) for frame `frame` of channel `channel`.
#[inline(always)]
fn white(frame: u32, channel: u32) -> f32 {
    (hash(frame.wrapping_mul(2).wrapping_add(channel)) as i32) as f32 * (1.0 / 2_147_483_648.0)
}

/// The air generator.
#[derive(Debug, Clone)]
pub(super) struct Air {
    /// Frame number of the next sample (wraps after ~13 hours, which no one can hear).
    frame: u32,
    /// Gain reached at the end of the last block.
    gain: f32,
    noise: Vec<f32>,
}

fn gain_for(intensity: f32) -> f32 {
    let db = LEVEL_DB_CALM + (LEVEL_DB_BRIGHT - LEVEL_DB_CALM) * intensity.clamp(0.0, 1.0);
    10f32.powf(db / 20.0) * NORMALISE
}

impl Air {
    /// Air starting at `intensity`.
    pub(super) fn new(intensity: f32) -> Self {
        Air {
            frame: 0,
            gain: gain_for(intensity),
            noise: vec![0.0; BLOCK_FRAMES + HISTORY],
        }
    }

    /// Adds one block of air into `out`, its level gliding to that of `intensity`.
    pub(super) fn add(&mut self, intensity: f32, out: [&mut [f32]; 2]) {
        let n = out[0].len();
        assert!(n <= BLOCK_FRAMES);
        let target = gain_for(intensity);
        let step = (target - self.gain) / n.max(1) as f32;
        let first = self.frame.wrapping_sub(HISTORY as u32);
        for (channel, out) in (0u32..).zip(out) {
            let noise = &mut self.noise[..n + HISTORY];
            for (j, x) in (0u32..).zip(noise.iter_mut()) {
                *x = white(first.wrapping_add(j), channel);
            }
            for (i, y) in out[..n].iter_mut().enumerate() {
                let window = &noise[i..i + TAPS.len()];
                let mut coloured = 0.0;
                for (t, &x) in TAPS.iter().rev().zip(window) {
                    coloured += t * x;
                }
                *y += (self.gain + step * (i + 1) as f32) * coloured;
            }
        }
        self.gain = target;
        self.frame = self.frame.wrapping_add(n as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(block: usize, intensity: f32, frames: usize) -> (Vec<f32>, Vec<f32>) {
        let mut air = Air::new(intensity);
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
        let (calm, _) = render(512, 0.0, 44_100);
        let (bright, _) = render(512, 1.0, 44_100);
        assert!(
            (rms_db(&calm) - LEVEL_DB_CALM).abs() < 1.0,
            "{}",
            rms_db(&calm)
        );
        assert!((rms_db(&bright) - LEVEL_DB_BRIGHT).abs() < 1.0);
        assert_eq!(render(512, 0.5, 10_000), render(37, 0.5, 10_000));
    }

    #[test]
    fn left_and_right_are_different_noise_without_dc() {
        let (left, right) = render(512, 1.0, 44_100);
        let dot: f32 = left.iter().zip(&right).map(|(a, b)| a * b).sum();
        let power: f32 = left.iter().map(|a| a * a).sum();
        assert!((dot / power).abs() < 0.05);
        let mean = left.iter().sum::<f32>() / left.len() as f32;
        assert!(mean.abs() < 1e-5);
    }
}
