//! The swell: a slow fader after the leveller that follows the composer's phrase arc (thin →
//! swell → thin) and section levels. The leveller holds the long-term loudness; this lets the
//! music breathe above it. The fader glides (a one-pole in dB, ramped linearly across each
//! block), so no step in the composer's plan can click.

use super::filter::ramp_index;

/// Time constant of the fader's glide toward the composer's value, seconds.
const GLIDE_SEC: f32 = 0.6;

/// The fader. Its state is two numbers.
#[derive(Debug, Clone)]
pub(super) struct Swell {
    /// Gain in dB reached at the end of the last block.
    db: f32,
    /// Linear gain at the end of the last block.
    gain: f32,
    sample_rate: f32,
}

impl Swell {
    /// A fader at 0 dB.
    pub(super) fn new(sample_rate: f32) -> Self {
        Swell {
            db: 0.0,
            gain: 1.0,
            sample_rate,
        }
    }

    /// Applies one block, the gain gliding toward `target_db`.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(&mut self, target_db: f32, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        let follow = 1.0 - (-(n as f32) / (GLIDE_SEC * self.sample_rate)).exp();
        self.db += (target_db.clamp(-30.0, 12.0) - self.db) * follow;
        let end = 10f32.powf(self.db / 20.0);
        let start = self.gain;
        let step = (end - start) / n.max(1) as f32;
        for (i, (l, r)) in left.iter_mut().zip(right.iter_mut()).enumerate() {
            let g = start + step * ramp_index(i + 1);
            *l *= g;
            *r *= g;
        }
        self.gain = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glides_to_its_target_without_steps() {
        let mut swell = Swell::new(44_100.0);
        let mut gains = Vec::new();
        for _ in 0..400 {
            let mut l = vec![1.0f32; 512];
            let mut r = vec![1.0f32; 512];
            swell.process(-6.0, &mut l, &mut r);
            gains.extend_from_slice(&l);
        }
        let last = *gains.last().unwrap();
        assert!((20.0 * last.log10() + 6.0).abs() < 0.05, "{last}");
        let worst = gains
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "step {worst}");
    }
}
