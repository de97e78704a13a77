//! The JSON text messages of the WebSocket protocol other than audio (`hello`, `params`,
//! `phrase`, `underrun`, `error`), and how client messages are answered.

use ambientctl::SynthesisParameters;
use serde::Serialize;
use serde_json::Value;
pub use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::encode::{Encoding, Format, opus_stream};
use crate::audio::{CHUNK_FRAMES, SAMPLE_RATE};
use crate::station::{Event, PhraseStart, Snapshot, Underrun};

/// How a binary `encoding=opus` audio frame is laid out (all integers little-endian).
pub const OPUS_LAYOUT: &str =
    "sequence u64, timestamp_ms u64, count u8, then count times: length u16, Opus packet";

/// The daemon's version, as sent in `hello` and `/api/status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

// Every message is a typed struct serialised once. Fields are declared in alphabetical
// order: the messages were first written with `serde_json::json!`, whose maps sort their
// keys, and their bytes stay as they were.

fn text(message: &impl Serialize) -> Utf8Bytes {
    // These types hold only strings, numbers and booleans: serialising cannot fail.
    Utf8Bytes::from(serde_json::to_string(message).unwrap_or_default())
}

/// The parameters as the WebSocket and `/api/status` show them.
#[derive(Debug, Serialize)]
pub struct ParamsView {
    bpm: u16,
    // An f32 is written as the shortest text that reads back as it ("0.3", not the f64
    // widening's "0.30000001192092896").
    intensity: f32,
    key: String,
    seed: u64,
}

impl From<&SynthesisParameters> for ParamsView {
    fn from(params: &SynthesisParameters) -> Self {
        ParamsView {
            bpm: params.bpm(),
            intensity: params.intensity(),
            key: params.key().to_string(),
            seed: params.seed(),
        }
    }
}

#[derive(Serialize)]
struct Hello<'a> {
    backend: BackendView<'a>,
    format: FormatView,
    params: ParamsView,
    sequence: u64,
    r#type: &'static str,
    version: &'static str,
    web_control: bool,
}

#[derive(Serialize)]
struct BackendView<'a> {
    name: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct FormatView {
    channels: u8,
    chunk_frames: usize,
    chunk_ms: u32,
    encoding: &'static str,
    /// Only for `encoding=opus`: how the binary audio frames carry the packets.
    #[serde(skip_serializing_if = "Option::is_none")]
    opus: Option<OpusView>,
    sample_format: &'static str,
    sample_rate: u32,
}

/// `encoding=opus`'s framing, as `hello` describes it.
#[derive(Serialize)]
struct OpusView {
    /// "sequence u64le, timestamp u64le, count u8, count x (length u16le, packet)".
    layout: &'static str,
    packet_ms: u32,
    packets_per_chunk: usize,
}

/// The first frame on every WebSocket: the listener's format, what plays, who renders it,
/// the sequence of the first live chunk, and whether this client may `set`.
pub fn hello(
    format: Format,
    station: &Snapshot,
    next_sequence: u64,
    web_control: bool,
) -> Utf8Bytes {
    text(&Hello {
        backend: BackendView {
            name: station.backend,
            reason: &station.backend_reason,
        },
        format: if format.encoding == Encoding::Opus {
            FormatView {
                channels: format.channels,
                chunk_frames: opus_stream::CHUNK_SAMPLES_48K,
                chunk_ms: 100,
                encoding: format.encoding.name(),
                opus: Some(OpusView {
                    layout: OPUS_LAYOUT,
                    packet_ms: 20,
                    packets_per_chunk: opus_stream::PACKETS_PER_CHUNK,
                }),
                sample_format: "opus",
                sample_rate: opus_stream::OPUS_RATE,
            }
        } else {
            FormatView {
                channels: format.channels,
                chunk_frames: CHUNK_FRAMES,
                chunk_ms: 100,
                encoding: format.encoding.name(),
                opus: None,
                sample_format: "pcm16",
                sample_rate: SAMPLE_RATE,
            }
        },
        params: ParamsView::from(&station.params),
        sequence: next_sequence,
        r#type: "hello",
        version: VERSION,
        web_control,
    })
}

#[derive(Serialize)]
struct ParamsMessage {
    params: ParamsView,
    r#type: &'static str,
}

#[derive(Serialize)]
struct PhraseMessage<'a> {
    bpm: u16,
    chords: &'a [&'static str],
    key: String,
    offset_frames: u64,
    sequence: u64,
    r#type: &'static str,
}

#[derive(Serialize)]
struct UnderrunMessage {
    missing_frames: usize,
    sequence: u64,
    r#type: &'static str,
    underruns: u64,
}

#[derive(Serialize)]
struct ErrorMessage<'a> {
    message: &'a str,
    r#type: &'static str,
}

#[derive(Serialize)]
struct Pong {
    r#type: &'static str,
}

/// The message stream listeners get for a station event (`params` after a change, `phrase`
/// with the chunk in which a phrase starts, `underrun` with a chunk that is partly
/// silence); `None` for events listeners do not hear of.
pub fn event(event: &Event) -> Option<Utf8Bytes> {
    Some(match event {
        Event::Params(params) => text(&ParamsMessage {
            params: ParamsView::from(params),
            r#type: "params",
        }),
        Event::Phrase(PhraseStart {
            sequence,
            offset_frames,
            key,
            bpm,
            chords,
        }) => text(&PhraseMessage {
            bpm: *bpm,
            chords,
            key: key.to_string(),
            offset_frames: *offset_frames,
            sequence: *sequence,
            r#type: "phrase",
        }),
        Event::Underrun(Underrun {
            sequence,
            missing_frames,
            total,
        }) => text(&UnderrunMessage {
            missing_frames: *missing_frames,
            sequence: *sequence,
            r#type: "underrun",
            underruns: *total,
        }),
        _ => return None,
    })
}

/// A one-line error reply.
pub fn error(message: &str) -> Utf8Bytes {
    text(&ErrorMessage {
        message,
        r#type: "error",
    })
}

/// What a client's text message asks for.
#[derive(Debug, PartialEq)]
pub enum ClientRequest {
    /// `{"type":"set","param":..,"value":..}`, already shaped as a control request.
    Set(ambientctl::Request),
    /// Anything else: answered right away with this line.
    Reply(Utf8Bytes),
}

/// Sorts a client's text message: a `set` to be applied (if allowed), or the immediate
/// reply to anything else.
pub fn classify_client_message(message: &str) -> ClientRequest {
    let value: Value = match serde_json::from_str(message) {
        Ok(value) => value,
        Err(err) => {
            return ClientRequest::Reply(error(&format!("malformed message: not JSON ({err})")));
        }
    };
    if value.get("type").and_then(Value::as_str) != Some("set") {
        return ClientRequest::Reply(reply_to_client(message));
    }
    // The same request shape and validation as the control socket's `set`.
    match ambientctl::decode_request(message) {
        Ok(request) => ClientRequest::Set(request),
        Err(err) => ClientRequest::Reply(error(&format!(
            "malformed set: {err} (expected {{\"type\":\"set\",\"param\":\"bpm|key|intensity|seed\",\"value\":...}})"
        ))),
    }
}

/// The reply to a text message from a client that may not change parameters. Never fails:
/// bad input gets an `error`.
pub fn reply_to_client(message: &str) -> Utf8Bytes {
    let value: Value = match serde_json::from_str(message) {
        Ok(value) => value,
        Err(err) => return error(&format!("malformed message: not JSON ({err})")),
    };
    match value.get("type").and_then(Value::as_str) {
        Some("ping") => text(&Pong { r#type: "pong" }),
        Some("set") => error(
            "web control is not allowed for this connection (see [server] web_control in the daemon's config)",
        ),
        Some(other) => error(&format!(
            "unknown message type {other:?} (allowed: \"ping\", \"set\")"
        )),
        None => error("malformed message: expected a JSON object with a string \"type\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &Utf8Bytes) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn client_messages_get_one_line_replies() {
        for (input, needle) in [
            ("{", "not JSON"),
            ("[1,2]", "\"type\""),
            (r#"{"type":"dance"}"#, "allowed"),
            (
                r#"{"type":"set","param":"bpm","value":"80"}"#,
                "not allowed",
            ),
        ] {
            let reply = reply_to_client(input);
            assert!(!reply.contains('\n'));
            let reply = parse(&reply);
            assert_eq!(reply["type"], "error");
            assert!(
                reply["message"].as_str().unwrap().contains(needle),
                "{reply}"
            );
        }
        assert_eq!(
            parse(&reply_to_client(r#"{"type":"ping"}"#))["type"],
            "pong"
        );
    }
}
