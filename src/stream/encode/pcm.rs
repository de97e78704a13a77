//! The PCM every encoder starts from: a tick's stereo `f32` converted once to 16-bit PCM
//! (little-endian, interleaved), and its mono mix, made only when a mono format is in use.

use crate::audio::{CHANNELS, CHUNK_FRAMES, CHUNK_SAMPLES};

/// Bytes of one chunk of interleaved stereo PCM16.
pub const STEREO_BYTES: usize = CHUNK_SAMPLES * 2;
/// Bytes of one chunk of mono PCM16.
pub const MONO_BYTES: usize = CHUNK_FRAMES * 2;

/// Converts one chunk of interleaved stereo `f32` into `out` (cleared first) as PCM16 LE.
pub fn convert(samples: &[f32], out: &mut Vec<u8>) {
    assert_eq!(
        samples.len(),
        CHUNK_SAMPLES,
        "a chunk is exactly 100 ms of stereo"
    );
    out.clear();
    out.resize(STEREO_BYTES, 0);
    // Converting in fixed-size groups into a sized buffer (not `put_i16_le` per sample)
    // lets the compiler vectorise the loop.
    const GROUP: usize = 36;
    const _: () = assert!(CHUNK_SAMPLES.is_multiple_of(GROUP));
    for (bytes, group) in out
        .chunks_exact_mut(2 * GROUP)
        .zip(samples.chunks_exact(GROUP))
    {
        let mut pcm = [0i16; GROUP];
        for (value, &sample) in pcm.iter_mut().zip(group) {
            *value = pcm16(sample);
        }
        for (pair, value) in bytes.chunks_exact_mut(2).zip(pcm) {
            pair.copy_from_slice(&value.to_le_bytes());
        }
    }
}

/// Mixes stereo PCM16 LE down to mono into `out` (cleared first): each frame's L and R
/// averaged in the integer domain.
pub fn mono(stereo: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(stereo.len() / CHANNELS, 0);
    for (pair, frame) in out
        .chunks_exact_mut(2)
        .zip(stereo.chunks_exact(2 * CHANNELS))
    {
        let left = i32::from(i16::from_le_bytes([frame[0], frame[1]]));
        let right = i32::from(i16::from_le_bytes([frame[2], frame[3]]));
        // The mean of two i16 fits an i16.
        pair.copy_from_slice(&(((left + right) / 2) as i16).to_le_bytes());
    }
}

/// Frames over which a listener's first chunk fades in from silence (30 ms).
pub const FADE_IN_FRAMES: usize = 1_323;

/// Fades the start of one chunk of stereo PCM16 LE in from silence over
/// [`FADE_IN_FRAMES`] (a raised-cosine curve: no corner at either end).
pub fn fade_in(stereo: &mut [u8]) {
    for (i, frame) in stereo
        .chunks_exact_mut(2 * CHANNELS)
        .take(FADE_IN_FRAMES)
        .enumerate()
    {
        let x = i as f32 / FADE_IN_FRAMES as f32;
        let gain = 0.5 - 0.5 * (std::f32::consts::PI * x).cos();
        for pair in frame.chunks_exact_mut(2) {
            let sample = f32::from(i16::from_le_bytes([pair[0], pair[1]]));
            pair.copy_from_slice(&((sample * gain).round() as i16).to_le_bytes());
        }
    }
}

/// Adding this to an f32 of magnitude below 2^22 rounds it to an integer (ties to even) held
/// in the low mantissa bits: 1.5 × 2^23, where one ulp is exactly 1.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// Exactly [`crate::audio::f32_to_i16`] (round half away from zero, saturate, NaN → 0), in
/// plain float arithmetic and selects so the loop vectorises: baseline x86-64 makes
/// `f32::round` a libm call and Rust's saturating `as` casts scalar instructions.
/// A test compares it with the reference over a sweep of every f32 bit pattern.
#[inline]
fn pcm16(sample: f32) -> i16 {
    let scaled = sample * 32767.0;
    let scaled = if scaled.is_nan() {
        0.0
    } else {
        scaled.clamp(-40_000.0, 40_000.0)
    };
    let nearest_even = (scaled + ROUNDING_MAGIC) - ROUNDING_MAGIC;
    // Exactly ±0.5 on a tie; move ties that went toward zero away from it.
    let off = scaled - nearest_even;
    let away = if off == 0.5 && scaled > 0.0 {
        1.0
    } else if off == -0.5 && scaled < 0.0 {
        -1.0
    } else {
        0.0
    };
    // An integer-valued float in i16 range: its magic-number bits convert exactly.
    let rounded = (nearest_even + away).clamp(-32768.0, 32767.0);
    ((rounded + ROUNDING_MAGIC).to_bits() as i32 - ROUNDING_MAGIC.to_bits() as i32) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::f32_to_i16;

    #[test]
    fn fast_pcm16_equals_the_reference_conversion() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.0,
            -2.0,
            0.5 / 32767.0,
            -0.5 / 32767.0,
            1.5 / 32767.0,
            32767.5 / 32767.0,
            -32768.5 / 32767.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
        ];
        for x in specials {
            assert_eq!(pcm16(x), f32_to_i16(x), "{x}");
        }
        // Every f32 bit pattern in steps, plus the neighbourhood of every half-integer.
        for bits in (0..=u32::MAX).step_by(997) {
            let x = f32::from_bits(bits);
            assert_eq!(pcm16(x), f32_to_i16(x), "{x} ({bits:#x})");
        }
        for half in -32770..32770 {
            let y = (half as f32 + 0.5) / 32767.0;
            for x in [
                y,
                f32::from_bits(y.to_bits() + 1),
                f32::from_bits(y.to_bits() - 1),
            ] {
                assert_eq!(pcm16(x), f32_to_i16(x), "{x}");
            }
        }
    }

    #[test]
    fn fade_in_starts_at_silence_and_leaves_the_rest() {
        let mut stereo = vec![0u8; STEREO_BYTES];
        for pair in stereo.chunks_exact_mut(2) {
            pair.copy_from_slice(&10_000i16.to_le_bytes());
        }
        fade_in(&mut stereo);
        let at = |frame: usize| i16::from_le_bytes([stereo[4 * frame], stereo[4 * frame + 1]]);
        assert_eq!(at(0), 0);
        assert!(at(1) < 10, "{}", at(1));
        assert!((4_000..6_000).contains(&at(FADE_IN_FRAMES / 2)));
        assert_eq!(at(FADE_IN_FRAMES), 10_000);
        assert!(
            (1..FADE_IN_FRAMES).all(|i| at(i) >= at(i - 1)),
            "rises monotonically"
        );
    }

    #[test]
    fn mono_is_the_integer_mean() {
        let mut stereo = Vec::new();
        for (l, r) in [(100i16, 301i16), (-5, -6), (i16::MAX, i16::MAX)] {
            stereo.extend_from_slice(&l.to_le_bytes());
            stereo.extend_from_slice(&r.to_le_bytes());
        }
        let mut out = Vec::new();
        mono(&stereo, &mut out);
        let got: Vec<i16> = out
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(got, [200, -5, i16::MAX]);
    }
}
