//! `encoding=json` (the default): the seed's AudioChunk, base64 PCM16 in a JSON object.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{Audio, Encoder};
use crate::audio::SAMPLE_RATE;

/// `{"type":"audio","data":"<base64>","timestamp":..,"sequence":..,"sample_rate":44100,
/// "format":"pcm16","channels":N}`, written straight into the payload (no intermediate
/// string or JSON value).
#[derive(Debug, Default)]
pub struct Json;

impl Encoder for Json {
    fn encode(&mut self, audio: &Audio<'_>, out: &mut Vec<u8>) {
        let data_len = audio.pcm.len().div_ceil(3) * 4;
        out.reserve(data_len + 160);
        out.extend_from_slice(br#"{"type":"audio","data":""#);
        let at = out.len();
        out.resize(at + data_len, 0);
        // The slice is exactly the padded base64 length, so this cannot fail.
        let _ = STANDARD.encode_slice(audio.pcm, &mut out[at..]);
        let (timestamp_ms, sequence, channels) =
            (audio.timestamp_ms, audio.sequence, audio.channels);
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            r#"","timestamp":{timestamp_ms},"sequence":{sequence},"sample_rate":{SAMPLE_RATE},"format":"pcm16","channels":{channels}}}"#
        );
    }

    fn is_text(&self) -> bool {
        true
    }
}
