//! The audio format every stage agrees on: rate, channels, block and chunk sizes, and the
//! conversion to 16-bit PCM. The bottom of the tree: it imports nothing of the crate.

/// Frames per second (44.1 kHz, as the data model says).
pub const SAMPLE_RATE: u32 = 44_100;
/// Interleaved channels in rendered audio (left, right).
pub const CHANNELS: usize = 2;
/// Frames the synthesizer renders per block. Every render buffer is sized from this once.
pub const BLOCK_FRAMES: usize = 512;
/// Frames in one 100 ms stream chunk.
pub const CHUNK_FRAMES: usize = SAMPLE_RATE as usize / 10;
/// Interleaved samples in one 100 ms chunk.
pub const CHUNK_SAMPLES: usize = CHUNK_FRAMES * CHANNELS;

/// Converts a float sample in -1.0..=1.0 to 16-bit PCM, rounding to nearest and saturating.
#[inline]
pub fn f32_to_i16(sample: f32) -> i16 {
    let scaled = (sample * 32767.0).round();
    scaled.clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm16_conversion_rounds_and_saturates() {
        assert_eq!(f32_to_i16(0.0), 0);
        assert_eq!(f32_to_i16(1.0), 32767);
        assert_eq!(f32_to_i16(-1.0), -32767);
        assert_eq!(f32_to_i16(2.0), 32767);
        assert_eq!(f32_to_i16(-2.0), -32768);
        assert_eq!(f32_to_i16(0.5), 16384);
        assert_eq!(f32_to_i16(f32::NAN), 0);
    }

    #[test]
    fn chunk_is_100_ms() {
        assert_eq!(CHUNK_FRAMES, 4_410);
    }
}
