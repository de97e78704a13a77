//! The `/stream.wav` body's audio: interleaved stereo PCM16 LE, nothing else.

use super::{Audio, Encoder};

/// The bare PCM (stateless).
#[derive(Debug, Default)]
pub struct Raw;

impl Encoder for Raw {
    fn encode(&mut self, audio: &Audio<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(audio.pcm);
    }
}
