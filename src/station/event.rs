//! The station's one typed event stream: everything outputs are told, as plain data. Each
//! output serialises an event once, into its own wire form (the WebSocket's JSON messages,
//! the control socket's `watch` lines, the journal's fields).

use std::net::SocketAddr;

use ambientctl::{Key, SynthesisParameters};

/// Something that happened at the station.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The parameters changed (by any client or a reload); the values now in force.
    Params(SynthesisParameters),
    /// A phrase starts playing within a tick's chunk.
    Phrase(PhraseStart),
    /// A tick's chunk is (partly) silence because the generator fell behind.
    Underrun(Underrun),
    /// A listener connected.
    ListenerJoined {
        /// Its address.
        addr: SocketAddr,
        /// Which transport it listens on (`"websocket"`, `"wav"`).
        kind: &'static str,
        /// Listeners connected now, this one included.
        listeners: u32,
    },
    /// A listener went away or was let go.
    ListenerLeft {
        /// Its address.
        addr: SocketAddr,
        /// Listeners connected now, this one excluded.
        listeners: u32,
        /// Why the server let it go (e.g. `"too slow"`); `None`: it left.
        reason: Option<&'static str>,
    },
    /// The primary voice stage failed; the CPU renders from now on.
    BackendFellBack {
        /// The voice stage that failed.
        backend: &'static str,
        /// Its last error, on one line.
        error: String,
    },
    /// The daemon is stopping; the last event of the stream.
    Stopping,
}

/// A phrase that starts playing, placed in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct PhraseStart {
    /// The chunk in which it starts.
    pub sequence: u64,
    /// Frames into that chunk.
    pub offset_frames: u64,
    /// Its key.
    pub key: Key,
    /// Its tempo.
    pub bpm: u16,
    /// Its chords, one per bar, as Roman numerals of the mode's vocabulary.
    pub chords: Vec<&'static str>,
}

/// A chunk padded with silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Underrun {
    /// The chunk.
    pub sequence: u64,
    /// Frames of it that are silence.
    pub missing_frames: usize,
    /// Underruns since start, this one included.
    pub total: u64,
}

impl Event {
    /// Whether the event goes out to stream listeners with the next tick (the others are
    /// for the control socket and the journal only).
    pub fn rides_the_tick(&self) -> bool {
        matches!(
            self,
            Event::Params(_) | Event::Phrase(_) | Event::Underrun(_)
        )
    }
}
