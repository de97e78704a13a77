//! The `/stream.opus` body's audio: the tick's Ogg page from the shared Opus stream (its
//! five packets; granule position at the end of the last one). The stream's header pages
//! come first, once per listener (see `OpusStream::headers`).

use super::{Audio, Encoder};

/// Copies the tick's Ogg page (stateful: the page sequence and granule run on).
#[derive(Debug, Default)]
pub struct OggPages;

impl Encoder for OggPages {
    fn encode(&mut self, audio: &Audio<'_>, out: &mut Vec<u8>) {
        if let Some(opus) = audio.opus {
            out.extend_from_slice(&opus.page);
        }
    }
}
