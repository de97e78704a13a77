//! One tick: a chunk of audio in every format and the messages that go before it, each framed
//! once for the WebSocket (server frames are unmasked, so every listener gets the same bytes).

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::encode::{EncodedChunk, Format};
use super::wire;

/// What every listener gets at one tick: the audio in every format, and the text messages
/// (`phrase`, `params`, `underrun`) that go just before it.
#[derive(Debug)]
pub struct Tick {
    /// When the pacer began the tick (for delivery-time measurement).
    pub at: std::time::Instant,
    /// The audio.
    pub chunk: EncodedChunk,
    /// The JSON text messages to send before the audio, in order, as WebSocket frames.
    event_frames: Vec<Bytes>,
}

impl Tick {
    /// A tick with `events` before its audio.
    pub fn new(at: std::time::Instant, chunk: EncodedChunk, events: Vec<Utf8Bytes>) -> Tick {
        Tick {
            at,
            chunk,
            event_frames: events.into_iter().map(wire::text).collect(),
        }
    }

    /// Every WebSocket frame of this tick for a listener of `format`, in order; the audio
    /// faded in when it is the listener's `first` (no audio frame when the format was not
    /// encoded: nobody listened in it at the time).
    pub fn frames(&self, format: Format, first: bool) -> Vec<&Bytes> {
        let audio = if first {
            self.chunk.faded_in(format)
        } else {
            self.chunk.get(format)
        };
        let mut frames: Vec<&Bytes> = self.event_frames.iter().collect();
        frames.extend(audio.map(|encoded| &encoded.framed));
        frames
    }
}
