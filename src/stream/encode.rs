//! Encoding one 100 ms chunk into every wire format, once per tick, for all listeners.
//!
//! The result is reference-counted bytes: every listener of a format gets a cheap clone of the
//! same buffer, so the cost of a tick does not grow with the number of listeners.

use std::fmt::Write as _;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::wire;
use crate::audio::CHUNK_SAMPLES;
#[cfg(test)]
use crate::audio::f32_to_i16;
use crate::audio::{CHANNELS, CHUNK_FRAMES, SAMPLE_RATE};

/// How audio messages travel on a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Text frames: the seed's AudioChunk JSON with base64 PCM.
    Json,
    /// Binary frames: `sequence` u64 LE, `timestamp` u64 LE (Unix ms), then PCM16 LE.
    Binary,
}

impl Encoding {
    /// The name used in the `encoding` query parameter.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Binary => "binary",
        }
    }
}

/// A listener's audio format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// 1 (mono, L+R mixed) or 2 (interleaved stereo).
    pub channels: u8,
    /// JSON text or binary frames.
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

/// Bytes of the binary frame header (sequence and timestamp).
pub const BINARY_HEADER_BYTES: usize = 16;

impl Format {
    /// Every format, in [`Format::index`] order.
    pub const ALL: [Format; 4] = [
        Format {
            channels: 1,
            encoding: Encoding::Json,
        },
        Format {
            channels: 2,
            encoding: Encoding::Json,
        },
        Format {
            channels: 1,
            encoding: Encoding::Binary,
        },
        Format {
            channels: 2,
            encoding: Encoding::Binary,
        },
    ];

    /// Position in [`Format::ALL`].
    pub fn index(self) -> usize {
        usize::from(self.channels >= 2) + 2 * usize::from(self.encoding == Encoding::Binary)
    }
}

/// One tick's audio, as the WebSocket frames listeners get. The stereo PCM16 is converted at
/// once, straight into its binary frame (the WAV stream and every other format derive from
/// it); each other format is encoded and framed the first time it is asked for, once, and
/// shared from then on. The pacer asks for the formats that have listeners, so the sender
/// threads find them ready; a format nobody listens to costs nothing.
#[derive(Debug)]
pub struct EncodedChunk {
    /// The stream's chunk number: +1 per tick, the same for every listener.
    pub sequence: u64,
    /// Unix time of the tick, in milliseconds.
    pub timestamp_ms: u64,
    /// Each format's message as a whole WebSocket frame, indexed by [`Format::index`].
    frames: [OnceLock<Bytes>; 4],
}

/// The binary stereo format (always encoded).
const BINARY_STEREO: Format = Format {
    channels: 2,
    encoding: Encoding::Binary,
};

impl EncodedChunk {
    /// Converts `samples` (one chunk of interleaved stereo f32) to PCM16.
    pub fn new(samples: &[f32], sequence: u64, timestamp_ms: u64) -> EncodedChunk {
        assert_eq!(
            samples.len(),
            CHUNK_SAMPLES,
            "a chunk is exactly 100 ms of stereo"
        );
        let (mut stereo, pcm_at) = binary_frame(CHUNK_SAMPLES * 2, sequence, timestamp_ms);
        // Converting in fixed-size groups into a sized buffer (not `put_i16_le` per sample)
        // lets the compiler vectorise the loop.
        const GROUP: usize = 36;
        const _: () = assert!(CHUNK_SAMPLES.is_multiple_of(GROUP));
        for (out, group) in stereo[pcm_at..]
            .chunks_exact_mut(2 * GROUP)
            .zip(samples.chunks_exact(GROUP))
        {
            let mut pcm = [0i16; GROUP];
            for (value, &sample) in pcm.iter_mut().zip(group) {
                *value = pcm16(sample);
            }
            for (bytes, value) in out.chunks_exact_mut(2).zip(pcm) {
                bytes.copy_from_slice(&value.to_le_bytes());
            }
        }
        let chunk = EncodedChunk {
            sequence,
            timestamp_ms,
            frames: Default::default(),
        };
        let _ = chunk.frames[BINARY_STEREO.index()].set(Bytes::from(stereo));
        chunk
    }

    /// The message for `format` as a whole WebSocket frame (encoded and framed once, shared
    /// by every listener of the format).
    pub fn wire(&self, format: Format) -> &Bytes {
        self.frames[format.index()].get_or_init(|| match format.encoding {
            // Binary stereo is made in `new`.
            Encoding::Binary => self.mono_frame(),
            Encoding::Json => {
                let binary = Format {
                    encoding: Encoding::Binary,
                    ..format
                };
                let pcm = self.pcm(binary);
                wire::text(audio_json(
                    pcm,
                    self.sequence,
                    self.timestamp_ms,
                    format.channels,
                ))
            }
        })
    }

    /// Encodes and frames `format` now, so that the sender threads find it ready.
    pub fn prepare(&self, format: Format) {
        let _ = self.wire(format);
    }

    /// Interleaved stereo PCM16 LE (what `/stream.wav` sends), sharing the binary frame's bytes.
    pub fn pcm_stereo(&self) -> Bytes {
        let frame = self.wire(BINARY_STEREO);
        frame.slice(frame.len() - CHUNK_SAMPLES * 2..)
    }

    /// The PCM16 of a binary format's frame.
    fn pcm(&self, binary: Format) -> &[u8] {
        let frame = self.wire(binary);
        &frame[frame.len() - CHUNK_FRAMES * 2 * usize::from(binary.channels)..]
    }

    /// The binary mono frame: each frame's L and R averaged in the integer domain.
    fn mono_frame(&self) -> Bytes {
        let (mut mono, pcm_at) = binary_frame(CHUNK_FRAMES * 2, self.sequence, self.timestamp_ms);
        let stereo = self.pcm(BINARY_STEREO).chunks_exact(2 * CHANNELS);
        for (out, frame) in mono[pcm_at..].chunks_exact_mut(2).zip(stereo) {
            let left = i32::from(i16::from_le_bytes([frame[0], frame[1]]));
            let right = i32::from(i16::from_le_bytes([frame[2], frame[3]]));
            // The mean of two i16 fits an i16.
            out.copy_from_slice(&(((left + right) / 2) as i16).to_le_bytes());
        }
        Bytes::from(mono)
    }
}

/// Converts one chunk and encodes every format (what a tick with every kind of listener costs).
pub fn encode_chunk(samples: &[f32], sequence: u64, timestamp_ms: u64) -> EncodedChunk {
    let chunk = EncodedChunk::new(samples, sequence, timestamp_ms);
    for format in Format::ALL {
        chunk.prepare(format);
    }
    chunk
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

/// A binary WebSocket frame holding the binary audio header and `pcm_bytes` zeroed bytes
/// after it, and where the PCM starts.
fn binary_frame(pcm_bytes: usize, sequence: u64, timestamp_ms: u64) -> (Vec<u8>, usize) {
    let mut frame = wire::binary_header(BINARY_HEADER_BYTES + pcm_bytes);
    frame.extend_from_slice(&sequence.to_le_bytes());
    frame.extend_from_slice(&timestamp_ms.to_le_bytes());
    let pcm_at = frame.len();
    frame.resize(pcm_at + pcm_bytes, 0);
    (frame, pcm_at)
}

/// `{"type":"audio","data":"<base64>","timestamp":..,"sequence":..,"sample_rate":44100,
/// "format":"pcm16","channels":N}`, written directly (no intermediate JSON value).
fn audio_json(pcm: &[u8], sequence: u64, timestamp_ms: u64, channels: u8) -> Utf8Bytes {
    let mut text = String::with_capacity(pcm.len().div_ceil(3) * 4 + 160);
    text.push_str(r#"{"type":"audio","data":""#);
    STANDARD.encode_string(pcm, &mut text);
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        r#"","timestamp":{timestamp_ms},"sequence":{sequence},"sample_rate":{SAMPLE_RATE},"format":"pcm16","channels":{channels}}}"#
    );
    Utf8Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::Message;

    use super::*;

    /// The message a listener of `format` gets, as tungstenite would parse it.
    fn message(chunk: &EncodedChunk, format: Format) -> Message {
        let payload = wire::payload(chunk.wire(format));
        match format.encoding {
            Encoding::Binary => Message::Binary(payload),
            Encoding::Json => Message::Text(Utf8Bytes::try_from(payload).unwrap()),
        }
    }

    fn ramp() -> Vec<f32> {
        (0..CHUNK_SAMPLES)
            .map(|i| (i as f32 / CHUNK_SAMPLES as f32) - 0.5)
            .collect()
    }

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
    fn formats_are_encoded_once_and_shared() {
        let chunk = EncodedChunk::new(&ramp(), 1, 2);
        let format = Format::default();
        assert!(
            chunk.frames[0].get().is_none(),
            "nothing encoded before it is asked for"
        );
        let (Message::Text(a), Message::Text(b)) =
            (message(&chunk, format), message(&chunk, format))
        else {
            panic!("json is text")
        };
        assert_eq!(
            a.as_str().as_ptr(),
            b.as_str().as_ptr(),
            "one buffer, shared"
        );
        for (i, format) in Format::ALL.into_iter().enumerate() {
            assert_eq!(format.index(), i);
        }
    }

    #[test]
    fn json_messages_follow_the_seed_format() {
        let chunk = encode_chunk(&ramp(), 7, 1_700_000_000_123);
        for channels in [1u8, 2] {
            let Message::Text(text) = message(
                &chunk,
                Format {
                    channels,
                    encoding: Encoding::Json,
                },
            ) else {
                panic!("json audio is a text frame")
            };
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value["type"], "audio");
            assert_eq!(value["sequence"], 7);
            assert_eq!(value["timestamp"], 1_700_000_000_123u64);
            assert_eq!(value["sample_rate"], 44_100);
            assert_eq!(value["format"], "pcm16");
            assert_eq!(value["channels"], channels);
            let data = STANDARD.decode(value["data"].as_str().unwrap()).unwrap();
            assert_eq!(data.len(), 8_820 * usize::from(channels));
            assert_eq!(value.as_object().unwrap().len(), 7);
        }
    }

    #[test]
    fn binary_frames_carry_header_then_the_same_pcm() {
        let samples = ramp();
        let chunk = encode_chunk(&samples, 3, 42);
        let Message::Binary(stereo) = message(
            &chunk,
            Format {
                channels: 2,
                encoding: Encoding::Binary,
            },
        ) else {
            panic!("binary audio is a binary frame")
        };
        assert_eq!(stereo.len(), 16 + 17_640);
        assert_eq!(u64::from_le_bytes(stereo[0..8].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(stereo[8..16].try_into().unwrap()), 42);
        let first_right = i16::from_le_bytes([stereo[18], stereo[19]]);
        assert_eq!(first_right, f32_to_i16(samples[1]));
        assert_eq!(chunk.pcm_stereo(), stereo.slice(16..));
        let Message::Binary(mono) = message(
            &chunk,
            Format {
                channels: 1,
                encoding: Encoding::Binary,
            },
        ) else {
            panic!("binary audio is a binary frame")
        };
        assert_eq!(mono.len(), 16 + 8_820);
        let first = i16::from_le_bytes([mono[16], mono[17]]);
        let (left, right) = (f32_to_i16(samples[0]), f32_to_i16(samples[1]));
        assert_eq!(i32::from(first), (i32::from(left) + i32::from(right)) / 2);
    }
}
