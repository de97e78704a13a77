//! `encoding=binary`: `sequence` u64 LE, `timestamp` u64 LE (Unix ms), then the PCM16 LE.

use super::{Audio, Encoder};

/// Bytes of the header before the PCM.
pub const HEADER_BYTES: usize = 16;

/// The binary audio message (stateless).
#[derive(Debug, Default)]
pub struct Binary;

impl Encoder for Binary {
    fn encode(&mut self, audio: &Audio<'_>, out: &mut Vec<u8>) {
        out.reserve(HEADER_BYTES + audio.pcm.len());
        out.extend_from_slice(&audio.sequence.to_le_bytes());
        out.extend_from_slice(&audio.timestamp_ms.to_le_bytes());
        out.extend_from_slice(audio.pcm);
    }
}
