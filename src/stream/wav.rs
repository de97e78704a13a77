//! `/stream.wav`: an endless 16-bit stereo WAV body, one chunk per tick, in real time (its
//! bytes reach the socket through [`super::streamed_body`]).
//!
//! The header declares the largest sizes a RIFF file can hold; players that stream (mpv,
//! ffplay, VLC, browsers' `<audio>`) read on for as long as data comes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::audio::{CHANNELS, SAMPLE_RATE};

/// Bytes of the canonical 44-byte RIFF/WAVE header.
pub const HEADER_BYTES: usize = 44;
const BYTES_PER_FRAME: u32 = 2 * CHANNELS as u32;
/// Declared data size: the largest whole number of frames that keeps the RIFF size in a u32.
pub const DATA_BYTES: u32 = (u32::MAX - 36) / BYTES_PER_FRAME * BYTES_PER_FRAME;

/// The header of an endless 44.1 kHz 16-bit stereo PCM stream.
pub fn header() -> Bytes {
    let mut h = BytesMut::with_capacity(HEADER_BYTES);
    h.put_slice(b"RIFF");
    h.put_u32_le(DATA_BYTES + 36);
    h.put_slice(b"WAVE");
    h.put_slice(b"fmt ");
    h.put_u32_le(16); // fmt chunk size
    h.put_u16_le(1); // PCM
    h.put_u16_le(CHANNELS as u16);
    h.put_u32_le(SAMPLE_RATE);
    h.put_u32_le(SAMPLE_RATE * BYTES_PER_FRAME);
    h.put_u16_le(BYTES_PER_FRAME as u16); // block align
    h.put_u16_le(16); // bits per sample
    h.put_slice(b"data");
    h.put_u32_le(DATA_BYTES);
    h.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_declares_endless_16_bit_stereo() {
        let h = header();
        assert_eq!(h.len(), HEADER_BYTES);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(&h[8..16], b"WAVEfmt ");
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
        let u16_at = |i: usize| u16::from_le_bytes(h[i..i + 2].try_into().unwrap());
        assert_eq!(u16_at(20), 1);
        assert_eq!(u16_at(22), 2);
        assert_eq!(u32_at(24), 44_100);
        assert_eq!(u32_at(28), 176_400);
        assert_eq!(u16_at(32), 4);
        assert_eq!(u16_at(34), 16);
        assert_eq!(&h[36..40], b"data");
        assert_eq!(u32_at(40) % 4, 0);
        assert_eq!(u64::from(u32_at(4)), u64::from(u32_at(40)) + 36);
        assert!(u32_at(40) > 4_000_000_000);
    }
}
