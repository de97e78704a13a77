//! Encoding apart from transport: each registered [`Format`] has one [`Encoder`] (it may
//! keep state between ticks, as a compressed codec must), run once per tick for every
//! listener of the format, whatever the transport that carries its bytes (WebSocket frames,
//! an HTTP body). A format nobody listens to costs nothing.
//!
//! Every payload is written after [`HEADROOM`] spare bytes, into which a transport may put
//! its own header in place (the WebSocket's frame header): one buffer per format per tick,
//! no copy to frame it, and the bare payload stays a view of the same bytes.
//!
//! Adding a format is one file (its encoder) plus one row in [`REGISTRY`].
//!
//! The Opus formats (the Ogg pages of `/stream.opus`, the packets of `/ws?encoding=opus`)
//! share one [`OpusStream`]: it runs once per tick while any of them has a listener, and
//! their encoders only frame what it made.

mod binary;
mod json;
mod ogg_pages;
mod opus_packets;
pub mod opus_stream;
pub mod pcm;
mod raw;

use std::sync::OnceLock;

use bytes::Bytes;

pub use opus_stream::{OpusChunk, OpusStream};

/// How audio messages are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Text: the seed's AudioChunk JSON with base64 PCM16.
    Json,
    /// Binary: `sequence` u64 LE, `timestamp` u64 LE (Unix ms), then PCM16 LE.
    Binary,
    /// Bare interleaved PCM16 LE (the `/stream.wav` body).
    Raw,
    /// Binary: `sequence`, `timestamp`, then the chunk's 5 Opus packets, each after its
    /// length (see `opus_packets`).
    Opus,
    /// The chunk's Ogg page of Opus packets (the `/stream.opus` body).
    Ogg,
}

impl Encoding {
    /// The name used in the `encoding` query parameter and in `hello`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Binary => "binary",
            Encoding::Raw => "raw",
            Encoding::Opus => "opus",
            Encoding::Ogg => "ogg",
        }
    }

    /// Whether the format's bytes come from the shared [`OpusStream`].
    pub fn is_opus(self) -> bool {
        matches!(self, Encoding::Opus | Encoding::Ogg)
    }
}

/// A listener's audio format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// 1 (mono, L+R mixed) or 2 (interleaved stereo).
    pub channels: u8,
    /// How the audio is encoded.
    pub encoding: Encoding,
}

impl Default for Format {
    fn default() -> Self {
        Format {
            channels: 1,
            encoding: Encoding::Json,
        }
    }
}

/// Bytes of the binary message header (sequence and timestamp).
pub const BINARY_HEADER_BYTES: usize = binary::HEADER_BYTES;

/// Spare bytes before every payload, for a transport's header (a server's WebSocket frame
/// header takes at most 10).
pub const HEADROOM: usize = 10;

/// One tick's audio as an encoder sees it.
#[derive(Debug, Clone, Copy)]
pub struct Audio<'a> {
    /// The stream's chunk number.
    pub sequence: u64,
    /// Unix time of the tick, in milliseconds.
    pub timestamp_ms: u64,
    /// Channels in `pcm`: the format's own (the registry mixes down to mono).
    pub channels: u8,
    /// 100 ms of PCM16 LE, interleaved when stereo.
    pub pcm: &'a [u8],
    /// The tick in the shared Opus stream, for the Opus formats (`None` for the others).
    pub opus: Option<&'a OpusChunk>,
}

impl<'a> Audio<'a> {
    /// One tick's audio for `format`: its stereo PCM16, or the `mono` mix of it.
    fn new(
        sequence: u64,
        timestamp_ms: u64,
        format: Format,
        stereo: &'a [u8],
        mono: &'a [u8],
    ) -> Audio<'a> {
        Audio {
            sequence,
            timestamp_ms,
            channels: format.channels,
            pcm: if format.channels == 1 { mono } else { stereo },
            opus: None,
        }
    }
}

/// Turns each tick's audio into a format's bytes.
///
/// An encoder may keep state from tick to tick (a compressed codec must): the fan-out runs it
/// on every tick while its format has listeners, in order, on the pacer's task.
pub trait Encoder: Send {
    /// Appends this tick's payload to `out` (which already holds the headroom).
    fn encode(&mut self, audio: &Audio<'_>, out: &mut Vec<u8>);

    /// Whether the payload is UTF-8 text (a WebSocket sends it as a text frame).
    fn is_text(&self) -> bool {
        false
    }
}

/// One registered format and how to make its encoder.
struct Row {
    format: Format,
    make: fn() -> Box<dyn Encoder>,
    /// Whether a fresh encoder gives the same bytes as one that has run all along: then a
    /// tick made before anyone listened in the format can still be encoded in it later (a
    /// listener resuming with `?resume=SEQ`).
    stateless: bool,
}

fn make<E: Encoder + Default + 'static>() -> Box<dyn Encoder> {
    Box::new(E::default())
}

/// Every format the daemon can stream, in [`Format::index`] order.
const REGISTRY: [Row; 7] = [
    Row {
        format: Format {
            channels: 1,
            encoding: Encoding::Json,
        },
        make: make::<json::Json>,
        stateless: true,
    },
    Row {
        format: Format {
            channels: 2,
            encoding: Encoding::Json,
        },
        make: make::<json::Json>,
        stateless: true,
    },
    Row {
        format: Format {
            channels: 1,
            encoding: Encoding::Binary,
        },
        make: make::<binary::Binary>,
        stateless: true,
    },
    Row {
        format: Format {
            channels: 2,
            encoding: Encoding::Binary,
        },
        make: make::<binary::Binary>,
        stateless: true,
    },
    Row {
        format: WAV,
        make: make::<raw::Raw>,
        stateless: true,
    },
    Row {
        format: OPUS,
        make: make::<opus_packets::OpusPackets>,
        stateless: false,
    },
    Row {
        format: OGG_OPUS,
        make: make::<ogg_pages::OggPages>,
        stateless: false,
    },
];

/// Formats registered.
pub const FORMATS: usize = REGISTRY.len();

/// The `/stream.wav` body's format: bare stereo PCM16.
pub const WAV: Format = Format {
    channels: 2,
    encoding: Encoding::Raw,
};

/// `/ws?encoding=opus`: each chunk's Opus packets (48 kHz stereo).
pub const OPUS: Format = Format {
    channels: 2,
    encoding: Encoding::Opus,
};

/// The `/stream.opus` body's format: each tick's payload is that chunk's Ogg page.
pub const OGG_OPUS: Format = Format {
    channels: 2,
    encoding: Encoding::Ogg,
};

impl Format {
    /// Every registered format, in [`Format::index`] order.
    pub fn all() -> impl Iterator<Item = Format> {
        REGISTRY.iter().map(|row| row.format)
    }

    /// Position in the registry. Every `Format` the daemon makes is registered (the query
    /// parser accepts only registered ones).
    pub fn index(self) -> usize {
        REGISTRY
            .iter()
            .position(|row| row.format == self)
            .expect("every format in use is registered")
    }

    /// Whether the registry holds this format.
    pub fn is_registered(self) -> bool {
        REGISTRY.iter().any(|row| row.format == self)
    }
}

/// A transport's header writer: puts the header for a payload of `len` bytes (text or
/// binary) at the end of `headroom` and returns where it starts.
pub type Framer = fn(headroom: &mut [u8], len: usize, text: bool) -> usize;

/// One format's bytes for one tick: the payload and the same bytes with the transport's
/// header in front, both views of one buffer.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The encoder's output.
    pub payload: Bytes,
    /// `payload` with the transport's header (a whole WebSocket frame).
    pub framed: Bytes,
}

/// One tick's audio in each format that had listeners when it was made, and in any
/// stateless format asked for later.
#[derive(Debug)]
pub struct EncodedChunk {
    /// The stream's chunk number: +1 per tick, the same for every listener.
    pub sequence: u64,
    /// Unix time of the tick, in milliseconds.
    pub timestamp_ms: u64,
    /// The tick as interleaved stereo PCM16 LE, for formats encoded later.
    stereo: Vec<u8>,
    framer: Framer,
    /// Each format's bytes, indexed by [`Format::index`]; unset: nobody listened yet.
    encoded: [OnceLock<Encoded>; FORMATS],
    /// The same with the audio faded in over [`pcm::FADE_IN_FRAMES`], for listeners whose
    /// first chunk this is; made when first asked for.
    faded_in: [OnceLock<Encoded>; FORMATS],
}

impl EncodedChunk {
    /// The bytes of `format`: made with the tick if it had listeners then; else made now
    /// (once, shared from then on) if its encoder is stateless; else `None`.
    pub fn get(&self, format: Format) -> Option<&Encoded> {
        let index = format.index();
        if let Some(encoded) = self.encoded[index].get() {
            return Some(encoded);
        }
        if !REGISTRY[index].stateless {
            return None;
        }
        Some(self.encoded[index].get_or_init(|| self.encode_later(format, &self.stereo)))
    }

    /// The bytes of `format` with the audio faded in from silence, for a listener whose
    /// first chunk this is (made once, when first asked for). A stateful format's encoder
    /// cannot encode a variant out of turn: its listeners get the tick as it is.
    pub fn faded_in(&self, format: Format) -> Option<&Encoded> {
        let index = format.index();
        if !REGISTRY[index].stateless {
            return self.get(format);
        }
        Some(self.faded_in[index].get_or_init(|| {
            let mut stereo = self.stereo.clone();
            pcm::fade_in(&mut stereo);
            self.encode_later(format, &stereo)
        }))
    }

    /// Encodes `stereo` (this tick's PCM, or a variant of it) in a stateless `format`.
    fn encode_later(&self, format: Format, stereo: &[u8]) -> Encoded {
        let mut mono = Vec::new();
        if format.channels == 1 {
            pcm::mono(stereo, &mut mono);
        }
        let audio = Audio::new(self.sequence, self.timestamp_ms, format, stereo, &mono);
        encode_one(&mut *(REGISTRY[format.index()].make)(), &audio, self.framer)
    }
}

/// Runs `encoder` on `audio` into a fresh buffer with headroom, and frames it in place.
fn encode_one(encoder: &mut dyn Encoder, audio: &Audio<'_>, framer: Framer) -> Encoded {
    let mut buffer = vec![0; HEADROOM];
    encoder.encode(audio, &mut buffer);
    let len = buffer.len() - HEADROOM;
    let start = framer(&mut buffer[..HEADROOM], len, encoder.is_text());
    let whole = Bytes::from(buffer);
    Encoded {
        payload: whole.slice(HEADROOM..),
        framed: whole.slice(start..),
    }
}

/// The encoders, one per registered format; owned by whoever makes the ticks (the fan-out,
/// on the pacer's task).
pub struct Encoders {
    encoders: Vec<Box<dyn Encoder>>,
    mono: Vec<u8>,
    /// The Opus stream every Opus format shares, or why it could not be made.
    opus: Result<OpusStream, String>,
    /// Whether the last Opus failure was logged (it is logged once, not every tick).
    opus_failure_logged: bool,
    /// Ticks since an Opus format last had a listener.
    opus_idle_ticks: usize,
}

/// Ticks the Opus stream runs on after its last listener left (5 s, as long as the fan-out
/// holds ticks for `?resume=SEQ`), so that a listener that reconnects finds every chunk it
/// missed, and one that comes back soon finds a burst for `/stream.opus`.
pub const OPUS_LINGER_TICKS: usize = 50;

impl std::fmt::Debug for Encoders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoders").finish_non_exhaustive()
    }
}

impl Default for Encoders {
    fn default() -> Self {
        Encoders::new(opus_stream::DEFAULT_BITRATE)
    }
}

impl Encoders {
    /// The encoders, the Opus stream at `opus_bitrate` (bits per second) with a serial
    /// number of its own.
    pub fn new(opus_bitrate: u32) -> Encoders {
        Encoders {
            encoders: REGISTRY.iter().map(|row| (row.make)()).collect(),
            mono: Vec::with_capacity(pcm::MONO_BYTES),
            opus: OpusStream::new(opus_bitrate, opus_stream::new_serial()),
            opus_failure_logged: false,
            opus_idle_ticks: OPUS_LINGER_TICKS,
        }
    }

    /// The Ogg/Opus stream's header pages, or why there is no Opus stream.
    pub fn opus_headers(&self) -> Result<Bytes, String> {
        self.opus
            .as_ref()
            .map(OpusStream::headers)
            .map_err(Clone::clone)
    }

    /// Sets the Opus bitrate from the next tick on.
    pub fn set_opus_bitrate(&mut self, bitrate: u32) -> Result<(), String> {
        match &mut self.opus {
            Ok(stream) => stream.set_bitrate(bitrate),
            Err(why) => Err(why.clone()),
        }
    }

    /// Converts one chunk of interleaved stereo `samples` to PCM16 and encodes it in each
    /// format `in_use` marks, with `framer`'s header in front of each payload.
    pub fn encode(
        &mut self,
        samples: &[f32],
        sequence: u64,
        timestamp_ms: u64,
        in_use: &[bool; FORMATS],
        framer: Framer,
    ) -> EncodedChunk {
        let mut stereo = Vec::with_capacity(pcm::STEREO_BYTES);
        pcm::convert(samples, &mut stereo);
        let mono_in_use = Format::all().any(|f| f.channels == 1 && in_use[f.index()]);
        if mono_in_use {
            pcm::mono(&stereo, &mut self.mono);
        }
        let opus = match self.encode_opus(samples, sequence, in_use) {
            true => self.opus.as_ref().ok().map(OpusStream::chunk),
            false => None,
        };
        let encoded: [OnceLock<Encoded>; FORMATS] = Default::default();
        for (index, row) in REGISTRY.iter().enumerate() {
            let is_opus = row.format.encoding.is_opus();
            // The Opus formats go together: a tick that has one has all (so a new
            // `/stream.opus` listener finds recent pages while only `/ws` used Opus).
            let wanted = in_use[index] || (is_opus && opus.is_some());
            if !wanted || (is_opus && opus.is_none()) {
                continue;
            }
            let mut audio = Audio::new(sequence, timestamp_ms, row.format, &stereo, &self.mono);
            if is_opus {
                audio.opus = opus;
            }
            let _ = encoded[index].set(encode_one(&mut *self.encoders[index], &audio, framer));
        }
        EncodedChunk {
            sequence,
            timestamp_ms,
            stereo,
            framer,
            encoded,
            faded_in: Default::default(),
        }
    }

    /// Runs the shared Opus stream on this tick if any Opus format is in use; false when
    /// none is, or when it failed (logged once).
    fn encode_opus(&mut self, samples: &[f32], sequence: u64, in_use: &[bool; FORMATS]) -> bool {
        let listened = REGISTRY
            .iter()
            .zip(in_use)
            .any(|(row, used)| *used && row.format.encoding.is_opus());
        self.opus_idle_ticks = if listened {
            0
        } else {
            self.opus_idle_ticks.saturating_add(1)
        };
        if self.opus_idle_ticks > OPUS_LINGER_TICKS {
            return false;
        }
        let failure = match &mut self.opus {
            Err(why) => why.clone(),
            Ok(stream) => match stream.encode(sequence, samples) {
                Ok(_) => {
                    self.opus_failure_logged = false;
                    return true;
                }
                Err(why) => why,
            },
        };
        if !std::mem::replace(&mut self.opus_failure_logged, true) {
            tracing::error!(reason = %failure, "the Opus stream has no audio for its listeners");
        }
        false
    }
}

/// Encodes one chunk in every format (what a tick with every kind of listener costs).
pub fn encode_chunk(
    samples: &[f32],
    sequence: u64,
    timestamp_ms: u64,
    framer: Framer,
) -> EncodedChunk {
    Encoders::default().encode(samples, sequence, timestamp_ms, &[true; FORMATS], framer)
}

#[cfg(test)]
mod tests;
