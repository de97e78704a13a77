//! The JSON text messages of the WebSocket protocol other than audio (`hello`, `params`,
//! `phrase`, `underrun`, `error`), and how client messages are answered.

use ambientctl::SynthesisParameters;
use serde_json::{Value, json};
pub use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::encode::Format;
use crate::audio::{CHUNK_FRAMES, SAMPLE_RATE};
use crate::engine::PhraseInfo;
use crate::music::ChordProgression;
use crate::music::harmony::{MAJOR_CHORDS, MINOR_CHORDS};

/// The daemon's version, as sent in `hello` and `/api/status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn text(value: Value) -> Utf8Bytes {
    Utf8Bytes::from(value.to_string())
}

/// The parameters as a JSON object.
pub fn params_json(params: &SynthesisParameters) -> Value {
    json!({
        "key": params.key().to_string(),
        "bpm": params.bpm(),
        "intensity": params.intensity(),
        "seed": params.seed(),
    })
}

/// What a `hello` needs besides the listener's own format.
#[derive(Debug, Clone)]
pub struct HelloInfo {
    /// Parameters playing now.
    pub params: SynthesisParameters,
    /// Voice stage in use.
    pub backend: &'static str,
    /// Why it was chosen.
    pub backend_reason: String,
    /// Sequence of the next live chunk.
    pub next_sequence: u64,
    /// Whether this client may change parameters (`set`).
    pub web_control: bool,
}

/// The first frame on every WebSocket.
pub fn hello(format: Format, info: &HelloInfo) -> Utf8Bytes {
    text(json!({
        "type": "hello",
        "version": VERSION,
        "format": {
            "encoding": format.encoding.name(),
            "channels": format.channels,
            "sample_rate": SAMPLE_RATE,
            "sample_format": "pcm16",
            "chunk_frames": CHUNK_FRAMES,
            "chunk_ms": 100,
        },
        "params": params_json(&info.params),
        "backend": { "name": info.backend, "reason": info.backend_reason },
        "sequence": info.next_sequence,
        "web_control": info.web_control,
    }))
}

/// Sent after the parameters change.
pub fn params(params: &SynthesisParameters) -> Utf8Bytes {
    text(json!({ "type": "params", "params": params_json(params) }))
}

/// Chord symbols of a progression ("i", "iv", "V", ...).
pub fn chord_names(progression: &ChordProgression) -> Vec<&'static str> {
    let vocabulary = if progression.minor {
        MINOR_CHORDS
    } else {
        MAJOR_CHORDS
    };
    progression
        .chords
        .iter()
        .map(|&c| vocabulary.get(usize::from(c)).copied().unwrap_or("?"))
        .collect()
}

/// Sent with the chunk in which a phrase starts playing.
pub fn phrase(info: &PhraseInfo, sequence: u64, offset_frames: u64) -> Utf8Bytes {
    text(json!({
        "type": "phrase",
        "sequence": sequence,
        "offset_frames": offset_frames,
        "key": info.params.key().to_string(),
        "bpm": info.params.bpm(),
        "chords": chord_names(&info.progression),
    }))
}

/// Sent with a chunk that is (partly) silence because the generator fell behind.
pub fn underrun(sequence: u64, missing_frames: usize, total: u64) -> Utf8Bytes {
    text(json!({
        "type": "underrun",
        "sequence": sequence,
        "missing_frames": missing_frames,
        "underruns": total,
    }))
}

/// A one-line error reply.
pub fn error(message: &str) -> Utf8Bytes {
    text(json!({ "type": "error", "message": message }))
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
        Some("ping") => text(json!({ "type": "pong" })),
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

    #[test]
    fn chords_are_named_in_the_mode_vocabulary() {
        let minor = ChordProgression {
            chords: [0, 1, 2, 3, 4, 0, 1, 2],
            root_midi: 57,
            minor: true,
        };
        assert_eq!(
            chord_names(&minor),
            ["i", "iv", "V", "VI", "III", "i", "iv", "V"]
        );
        let major = ChordProgression {
            minor: false,
            ..minor
        };
        assert_eq!(chord_names(&major)[3], "vi");
    }
}
