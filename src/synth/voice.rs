//! The voice stage's contract: the per-block [`Voice`] descriptor and the closed-form math
//! that turns it into samples. Every back-end (CPU, CUDA) computes exactly these functions.
//!
//! A voice's sample at frame `i` of a block depends only on its descriptor and `i`: the
//! oscillator phase is `phase + inc * i`, the envelope is a function of the note's age
//! `age + i`. Nothing carries from one frame to the next, so a GPU can give every frame its
//! own thread. The CPU fills the descriptors once per block from exact (f64) note timing,
//! so the f32 phases never drift.
//!
//! The CUDA kernel (`cuda/voice_stage.cu`) mirrors [`voice_sample`] line for line; change both
//! together.

/// One sounding oscillator for one block. `#[repr(C)]`: the GPU reads the same bytes.
///
/// Invariants (checked in debug builds by [`Voice::debug_check`]): `inv_attack`,
/// `inv_release` and `decay` are positive and finite; `0 <= sustain <= 1`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Voice {
    /// Carrier phase at the block's first frame, in turns, in `[0, 1)`.
    pub carrier_phase: f32,
    /// Carrier phase increment per frame, in turns (frequency / sample rate).
    pub carrier_inc: f32,
    /// Modulator phase at the block's first frame, in turns.
    pub mod_phase: f32,
    /// Modulator phase increment per frame, in turns.
    pub mod_inc: f32,
    /// FM index at the block's first frame: peak carrier phase deviation, in turns.
    pub mod_index: f32,
    /// Change of the FM index per frame (a linear glide across the block, so no step).
    pub mod_index_step: f32,
    /// Frames since note-on at the block's first frame; negative if the note starts later.
    pub age: f32,
    /// 1 / attack length in frames.
    pub inv_attack: f32,
    /// Age in frames at which the release begins (note-off).
    pub release_at: f32,
    /// 1 / release length in frames.
    pub inv_release: f32,
    /// Level the decay tends to, 0..=1 (1 = no decay).
    pub sustain: f32,
    /// Frames for the decay to cover half the way from 1 to `sustain`.
    pub decay: f32,
    /// Left gain (velocity, level and pan folded in).
    pub gain_l: f32,
    /// Right gain.
    pub gain_r: f32,
    /// The [`Bus`](super::bus::Bus) this voice mixes into.
    pub bus: u32,
    /// Padding to 64 bytes.
    pub _pad: u32,
}

impl Voice {
    /// Asserts the invariants (debug builds only).
    #[inline]
    pub fn debug_check(&self) {
        debug_assert!(
            self.inv_attack > 0.0 && self.inv_attack.is_finite(),
            "{self:?}"
        );
        debug_assert!(
            self.inv_release > 0.0 && self.inv_release.is_finite(),
            "{self:?}"
        );
        debug_assert!(self.decay > 0.0 && self.decay.is_finite(), "{self:?}");
        debug_assert!((0.0..=1.0).contains(&self.sustain), "{self:?}");
        debug_assert!((self.bus as usize) < super::bus::NUM_BUSES, "{self:?}");
    }

    /// Whether the oscillator is a plain sine (no FM), which renders at half the cost.
    #[inline]
    pub fn is_pure_sine(&self) -> bool {
        self.mod_index == 0.0 && self.mod_index_step == 0.0
    }
}

/// `sin(2π·x)` for `x` in turns, |x| < 2²², to within 3e-7: range reduction to the nearest
/// whole turn, then an odd polynomial in `z = 2r` that is exact at 0, ±½ and ±1 turn.
#[inline(always)]
pub fn sin_turns(x: f32) -> f32 {
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer in IEEE f32 arithmetic,
    // branch-free and on plain SSE2 (Rust never reassociates float math, so this survives).
    const ROUND: f32 = 12_582_912.0;
    let r = x - ((x + ROUND) - ROUND); // in [-0.5, 0.5]
    let z = 2.0 * r; // sin(2πx) = sin(πz)
    let z2 = z * z;
    let p = (((0.006_003_855 * z2 - 0.074_510_85) * z2 + 0.523_808_36) * z2 - 2.026_089_2) * z2
        + 3.141_591_5;
    z * (1.0 - z2) * p
}

/// `x` limited to `[0, 1]`, written so it vectorises to two compares and selects.
#[inline(always)]
fn clamp01(x: f32) -> f32 {
    let x = if x > 1.0 { 1.0 } else { x };
    if x < 0.0 { 0.0 } else { x }
}

/// `3x² - 2x³`: 0 → 1 with zero slope at both ends, so envelopes start and stop softly.
#[inline(always)]
fn smoothstep(x: f32) -> f32 {
    x * x * (3.0 - 2.0 * x)
}

/// The envelope at frame `i` of the block: attack · decay · release, each a closed-form
/// function of the note's age. All three are continuous, so the product never clicks,
/// whenever the release starts.
#[inline(always)]
pub fn envelope(v: &Voice, i: f32) -> f32 {
    let age = v.age + i;
    let attack = smoothstep(clamp01(age * v.inv_attack));
    let release = 1.0 - smoothstep(clamp01((age - v.release_at) * v.inv_release));
    attack * decay_level(v, i) * release
}

/// The decay part of the envelope at frame `i`: from 1 toward `sustain`, halfway after
/// `decay` frames.
#[inline(always)]
pub fn decay_level(v: &Voice, i: f32) -> f32 {
    let age = v.age + i;
    let since_on = if age > 0.0 { age } else { 0.0 };
    v.sustain + (1.0 - v.sustain) * v.decay / (v.decay + since_on)
}

/// Whether frames `0..frames` all lie after the attack and before the release. Then the
/// attack and release factors are exactly 1.0 and [`envelope`] equals [`decay_level`] bit for
/// bit, so a back-end may skip them (the CPU does; the result is the same either way).
#[inline]
pub fn is_steady(v: &Voice, frames: usize) -> bool {
    frames > 0 && v.age * v.inv_attack >= 1.0 && v.age + (frames - 1) as f32 <= v.release_at
}

/// The oscillator at frame `i`: a two-operator FM pair (a sine when the index is zero).
#[inline(always)]
pub fn oscillator(v: &Voice, i: f32) -> f32 {
    let modulator = sin_turns(v.mod_phase + v.mod_inc * i);
    let index = v.mod_index + v.mod_index_step * i;
    sin_turns(v.carrier_phase + v.carrier_inc * i + index * modulator)
}

/// The voice's mono sample at frame `i`, before its stereo gains.
#[inline(always)]
pub fn voice_sample(v: &Voice, i: f32) -> f32 {
    envelope(v, i) * oscillator(v, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_polynomial_is_accurate_over_many_turns() {
        let mut worst = 0.0f64;
        for k in 0..200_000 {
            let x = -300.0 + k as f32 * 0.003_000_7;
            let exact = (2.0 * std::f64::consts::PI * f64::from(x)).sin();
            worst = worst.max((f64::from(sin_turns(x)) - exact).abs());
        }
        assert!(worst < 1e-6, "worst error {worst}");
        assert_eq!(sin_turns(0.0), 0.0);
        assert!((sin_turns(0.25) - 1.0).abs() < 1e-6);
    }

    fn pad_voice() -> Voice {
        Voice {
            carrier_inc: 220.0 / 44_100.0,
            mod_inc: 220.0 / 44_100.0,
            mod_index: 0.3,
            age: -100.0,
            inv_attack: 1.0 / 4_410.0,
            release_at: 20_000.0,
            inv_release: 1.0 / 8_820.0,
            sustain: 0.7,
            decay: 10_000.0,
            gain_l: 0.5,
            gain_r: 0.5,
            ..Voice::default()
        }
    }

    #[test]
    fn the_steady_shortcut_is_exact() {
        let mut v = pad_voice();
        v.age = 5_000.0;
        assert!(is_steady(&v, 512));
        for i in 0..512 {
            assert_eq!(envelope(&v, i as f32), decay_level(&v, i as f32));
        }
        v.age = 19_600.0;
        assert!(!is_steady(&v, 512), "the release starts inside this block");
        v.age = 4_000.0;
        assert!(!is_steady(&v, 512), "the attack ends inside this block");
    }

    #[test]
    fn envelope_is_zero_before_onset_and_after_release_and_continuous_between() {
        let v = pad_voice();
        assert_eq!(envelope(&v, 0.0), 0.0);
        assert_eq!(envelope(&v, 100.0), 0.0);
        assert!(envelope(&v, 100.0 + 4_410.0) > 0.5);
        assert_eq!(envelope(&v, 100.0 + 20_000.0 + 8_820.0), 0.0);
        let mut previous = 0.0;
        for i in 0..40_000 {
            let e = envelope(&v, i as f32);
            assert!((0.0..=1.0).contains(&e));
            assert!((e - previous).abs() < 1e-3, "jump at {i}");
            previous = e;
        }
    }
}
