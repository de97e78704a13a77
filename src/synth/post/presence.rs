//! Presence: a gentle high shelf on the whole mix that rises with intensity (flat at 0, a
//! few dB above 3 kHz by the default, more at 1), so the pads' upper partials, the shimmer,
//! the reverb's tail and the air reach the ear as light rather than as a dim haze.

use super::filter::Biquad;

/// Shelf corner, Hz, and its gain at brightness 1, dB.
const SHELF_HZ: f32 = 2_500.0;
const SHELF_DB_BRIGHT: f32 = 9.5;
/// Re-tune once the wanted gain has moved this far, dB: brightness glides, so the steps are
/// far too small to hear.
const RETUNE_DB: f32 = 0.05;

/// The stereo shelf.
#[derive(Debug, Clone)]
pub(super) struct Presence {
    filters: [Biquad; 2],
    gain_db: f32,
    sample_rate: f32,
}

impl Presence {
    /// A shelf at `brightness`.
    pub(super) fn new(sample_rate: f32, brightness: f32) -> Self {
        let gain_db = shelf_db(brightness);
        let design = Biquad::high_shelf(sample_rate, SHELF_HZ, gain_db, 0.707);
        Presence {
            filters: [design; 2],
            gain_db,
            sample_rate,
        }
    }

    /// Filters one block of stereo in place.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(&mut self, brightness: f32, left: &mut [f32], right: &mut [f32]) {
        let wanted = shelf_db(brightness);
        if (wanted - self.gain_db).abs() >= RETUNE_DB {
            let design = Biquad::high_shelf(self.sample_rate, SHELF_HZ, wanted, 0.707);
            self.filters.iter_mut().for_each(|f| f.retune(&design));
            self.gain_db = wanted;
        }
        // Both channels in one loop, each filter in locals: a biquad is a serial chain of
        // dependent multiplies and adds, so two independent chains side by side run in the
        // time of one, and the state stays in registers instead of going through memory each
        // sample. Each channel's arithmetic is the same as one channel at a time, bit for bit.
        debug_assert_eq!(left.len(), right.len());
        let [mut left_filter, mut right_filter] = self.filters;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            *l = left_filter.tick(*l);
            *r = right_filter.tick(*r);
        }
        left_filter.flush();
        right_filter.flush();
        self.filters = [left_filter, right_filter];
    }
}

/// Rises fast then levels off (`1 - (1 - x)³` of the way), so the default is already open
/// and intensity 1 is not harsh.
fn shelf_db(brightness: f32) -> f32 {
    let rest = 1.0 - brightness.clamp(0.0, 1.0);
    SHELF_DB_BRIGHT * (1.0 - rest * rest * rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain(brightness: f32, hz: f32) -> f32 {
        let mut presence = Presence::new(44_100.0, brightness);
        let tone: Vec<f32> = (0..44_100)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * hz / 44_100.0).sin())
            .collect();
        let (mut l, mut r) = (tone.clone(), tone.clone());
        for (a, b) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
            presence.process(brightness, a, b);
        }
        let rms = |x: &[f32]| (x.iter().map(|s| s * s).sum::<f32>() / x.len() as f32).sqrt();
        20.0 * (rms(&l[22_050..]) / rms(&tone[22_050..])).log10()
    }

    #[test]
    fn flat_when_dark_lifts_the_top_when_bright() {
        assert!(gain(0.0, 6_000.0).abs() < 0.1);
        assert!(gain(1.0, 200.0).abs() < 0.3);
        assert!(gain(1.0, 8_000.0) > 7.0);
    }
}
