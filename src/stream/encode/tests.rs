//! The registry's formats as a listener receives them: JSON as the seed had it, binary
//! and WAV sharing one PCM, and each format encoded only when someone listens in it.

use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::*;
use crate::audio::{CHUNK_SAMPLES, f32_to_i16};
use crate::stream::wire;

/// The message a WebSocket listener of `format` gets, as tungstenite would parse it.
fn message(chunk: &EncodedChunk, format: Format) -> Message {
    let payload = wire::payload(&chunk.get(format).unwrap().framed);
    match format.encoding {
        Encoding::Json => Message::Text(Utf8Bytes::try_from(payload).unwrap()),
        _ => Message::Binary(payload),
    }
}

fn ramp() -> Vec<f32> {
    (0..CHUNK_SAMPLES)
        .map(|i| (i as f32 / CHUNK_SAMPLES as f32) - 0.5)
        .collect()
}

fn encode_all(samples: &[f32], sequence: u64, timestamp_ms: u64) -> EncodedChunk {
    encode_chunk(samples, sequence, timestamp_ms, wire::header_into)
}

#[test]
fn only_formats_in_use_are_encoded_and_each_is_one_buffer() {
    let mut in_use = [false; FORMATS];
    in_use[Format::default().index()] = true;
    let chunk = Encoders::default().encode(&ramp(), 1, 2, &in_use, wire::header_into);
    assert!(
        chunk.encoded[WAV.index()].get().is_none(),
        "nothing encoded that nobody asked for"
    );
    let wav = chunk
        .get(WAV)
        .expect("a stateless format is made when asked for");
    assert_eq!(wav.payload.len(), pcm::STEREO_BYTES);
    let json = chunk.get(Format::default()).unwrap();
    assert_eq!(
        wire::payload(&json.framed).as_ptr(),
        json.payload.as_ptr(),
        "the frame and the payload share one buffer"
    );
    for (i, format) in Format::all().enumerate() {
        assert_eq!(format.index(), i);
    }
}

#[test]
fn json_messages_follow_the_seed_format() {
    let chunk = encode_all(&ramp(), 7, 1_700_000_000_123);
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
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD
            .decode(value["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data.len(), 8_820 * usize::from(channels));
        assert_eq!(value.as_object().unwrap().len(), 7);
    }
}

#[test]
fn binary_frames_carry_header_then_the_same_pcm_as_the_wav_body() {
    let samples = ramp();
    let chunk = encode_all(&samples, 3, 42);
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
    assert_eq!(chunk.get(WAV).unwrap().payload, stereo.slice(16..));
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
