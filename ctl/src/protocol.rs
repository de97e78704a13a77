//! The control-socket wire types: requests, replies, watch events, their one-line JSON
//! encoding. The exchange itself is specified in the crate docs.

use serde::{Deserialize, Serialize};

use crate::params::{Param, SynthesisParameters};
pub use crate::status::{IcecastOutput, Status};

/// The protocol revision. Raised only for incompatible changes (see the crate docs for the
/// compatibility policy); additions keep it.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest line either side accepts, in bytes. Requests are tiny; the bound keeps a
/// misbehaving peer from making the other side buffer without limit.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One request, sent by the client as one JSON line: `{"type":"<verb>", ...}`.
///
/// The doc comments double as `ambientctl`'s help text (with the `cli` feature the enum is
/// also the CLI's subcommand list), so each says what the command does for its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::Subcommand))]
pub enum Request {
    // First variant on purpose: whatever else changes, every version understands this one.
    /// Show the versions of ambientd and ambientctl and of the protocol each speaks.
    Version,
    /// Show what is playing and how the daemon is doing.
    Status,
    /// Show the musical parameters, or one of them.
    Get {
        /// The parameter to show; all of them when left out.
        #[cfg_attr(feature = "cli", arg(ignore_case = true))]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        param: Option<Param>,
    },
    /// Change one parameter; takes effect at the next bar line.
    ///
    /// The value travels exactly as typed (e.g. "D minor", "80", "+5", "-0.1"); the daemon
    /// applies it to the values in force and answers with all of them, or says why not.
    Set {
        /// The parameter to change.
        #[cfg_attr(feature = "cli", arg(ignore_case = true))]
        param: Param,
        /// The new value, or a relative change like +5 or -5 for bpm, intensity and seed.
        #[cfg_attr(feature = "cli", arg(allow_hyphen_values = true))]
        #[serde(deserialize_with = "crate::set::text_or_number")]
        value: String,
    },
    /// Start a new phrase at the next bar line.
    #[cfg_attr(feature = "cli", command(visible_alias = "next"))]
    Skip,
    /// Print events as they happen (parameter changes, phrases, underruns, listeners).
    ///
    /// After the reply the connection carries event lines until the client disconnects.
    // The command line's `watch` (with its filter and timestamp options) is ambientctl's own.
    #[cfg_attr(feature = "cli", command(skip))]
    Watch,
    /// Reload the configuration file; an invalid file keeps the running configuration.
    ///
    /// The answer lists what changed: a `[music]` value edited in the file replaces the one
    /// playing (even one changed at run time); keys that need a restart are named.
    Reload,
    /// Put a parameter (or all of them) back to the config file's value, undoing changes made
    /// at run time; the saved change is forgotten.
    Reset {
        /// The parameter to reset; all of them when left out.
        #[cfg_attr(feature = "cli", arg(ignore_case = true))]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        param: Option<Param>,
    },
}

/// The success half of a [`Reply`]: `{"type":"<kind>", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// One reply per request, built and dropped at once: boxing the status would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Response {
    /// Answer to [`Request::Version`].
    Version {
        /// The daemon's package version, e.g. "0.1.0".
        version: String,
        /// The [`PROTOCOL_VERSION`] the daemon speaks.
        protocol: u32,
    },
    /// Answer to [`Request::Status`].
    Status(Status),
    /// All parameters: the answer to `get` without a parameter, and to `set` (the values now
    /// in force).
    Params(SynthesisParameters),
    /// One parameter: the answer to `get` with a parameter.
    Value {
        /// Which parameter.
        param: Param,
        /// Its value as in [`SynthesisParameters`]' JSON: a string for `key`, a number otherwise.
        value: serde_json::Value,
    },
    /// The request was carried out and there is nothing to report (`skip`, `watch`).
    Done,
    /// Answer to [`Request::Reload`]: the file was read and is in force.
    Reloaded {
        /// What changed, one line each (e.g. "bpm 70 -> 90 (from the config file)",
        /// "server.listen changed: takes effect at the next restart"); empty: nothing.
        changes: Vec<String>,
    },
}

impl Response {
    /// The answer to [`Request::Get`], given the parameters in force.
    pub fn for_get(params: &SynthesisParameters, param: Option<Param>) -> Response {
        match param {
            None => Response::Params(*params),
            Some(param) => Response::Value {
                param,
                value: param_value(params, param),
            },
        }
    }
}

/// One parameter's JSON value, taken from the parameters' own serialization so the two
/// never disagree.
fn param_value(params: &SynthesisParameters, param: Param) -> serde_json::Value {
    match serde_json::to_value(params) {
        Ok(serde_json::Value::Object(mut fields)) => fields
            .remove(param.name())
            .unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    }
}

/// One line of a `watch` stream: `{"type":"<event>", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The parameters changed (by any client, the WebSocket, or a reload); these are the
    /// values now in force. A daemon sends one at the start of every watch.
    Params(SynthesisParameters),
    /// A new phrase started playing.
    Phrase {
        /// Its chords, one per bar, as Roman numerals (e.g. `["i","iv","V","i"]`).
        chords: Vec<String>,
    },
    /// A silence chunk was sent because the ring buffer was empty.
    Underrun {
        /// The sequence number of the silence chunk.
        sequence: u64,
    },
    /// A listener connected.
    ListenerJoined {
        /// Its address, e.g. `"192.0.2.7:51234"`.
        addr: String,
        /// Listeners connected now, this one included.
        listeners: u32,
    },
    /// A listener went away or was dropped.
    ListenerLeft {
        /// Its address.
        addr: String,
        /// Listeners connected now.
        listeners: u32,
        /// Why, when the daemon closed it (e.g. `"too slow"`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// This watcher fell behind and the daemon skipped events to catch it up (events are
    /// news, not state: `ambientctl get` gives the state).
    Missed {
        /// How many events were skipped.
        events: u64,
    },
    /// The daemon is stopping; this is the last line of the stream. A watch that ends
    /// without it lost its connection.
    Stopping,
    /// An event type newer than this client. Never sent: it is what an older client reads
    /// in place of a kind it does not know, so new events never break old watchers.
    #[serde(other)]
    Unknown,
}

/// The answer to one request: the response, or a one-line reason it was refused.
pub type Reply = Result<Response, String>;

/// The wire form of a [`Reply`]: `{"ok":{...}}` or `{"error":"..."}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // see Response
enum WireReply {
    Ok(Response),
    Error(String),
}

/// A line that is not valid protocol JSON.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct DecodeError {
    what: &'static str,
    #[source]
    source: serde_json::Error,
}

/// Encodes one value as a protocol line: compact JSON and a trailing `\n`.
fn encode_line<T: Serialize>(value: &T) -> String {
    // Serializing these types cannot fail: every map key is a string and no Serialize impl
    // here returns an error, so a failure would be a bug in this module.
    let mut line = serde_json::to_string(value).expect("protocol types always serialize");
    line.push('\n');
    line
}

/// The line a client sends for `request`, newline included.
pub fn encode_request(request: &Request) -> String {
    encode_line(request)
}

/// The line a daemon sends for `reply`, newline included. A refusal's reason is flattened to
/// one line, as the protocol promises.
pub fn encode_reply(reply: &Reply) -> String {
    match reply {
        Ok(response) => encode_line(&WireReply::Ok(response.clone())),
        Err(reason) => encode_line(&WireReply::Error(one_line(reason))),
    }
}

/// The line a daemon sends for `event` during a watch, newline included.
pub fn encode_event(event: &Event) -> String {
    encode_line(event)
}

/// Parses a request line (surrounding whitespace and the newline are ignored).
pub fn decode_request(line: &str) -> Result<Request, DecodeError> {
    let bad = |source| DecodeError {
        what: "bad request",
        source,
    };
    // A `set` is read on its own so that a number value keeps its digits (seed 2^64 is named
    // as typed, not as 1.8446744073709552e19).
    if let Some(set) = crate::set::set_from_json(line.trim()) {
        return set
            .map_err(|message| bad(<serde_json::Error as serde::de::Error>::custom(message)));
    }
    serde_json::from_str(line.trim()).map_err(bad)
}

/// Parses a reply line.
pub fn decode_reply(line: &str) -> Result<Reply, DecodeError> {
    let wire: WireReply = serde_json::from_str(line.trim()).map_err(|source| DecodeError {
        what: "bad reply",
        source,
    })?;
    Ok(match wire {
        WireReply::Ok(response) => Ok(response),
        WireReply::Error(reason) => Err(reason),
    })
}

/// Parses an event line.
pub fn decode_event(line: &str) -> Result<Event, DecodeError> {
    serde_json::from_str(line.trim()).map_err(|source| DecodeError {
        what: "bad event",
        source,
    })
}

/// `text` with line breaks replaced by "; ", so an error fits the one-line contract.
pub fn one_line(text: &str) -> String {
    text.trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SynthesisParameters {
        SynthesisParameters::new("F# minor".parse().unwrap(), 80, 0.25, 7).unwrap()
    }

    /// Each request's exact line, as documented in the crate docs.
    #[test]
    fn requests_have_the_documented_shapes() {
        let cases = [
            (Request::Version, r#"{"type":"version"}"#),
            (Request::Status, r#"{"type":"status"}"#),
            (Request::Get { param: None }, r#"{"type":"get"}"#),
            (
                Request::Get {
                    param: Some(Param::Bpm),
                },
                r#"{"type":"get","param":"bpm"}"#,
            ),
            (
                Request::Set {
                    param: Param::Bpm,
                    value: "+5".into(),
                },
                r#"{"type":"set","param":"bpm","value":"+5"}"#,
            ),
            (Request::Skip, r#"{"type":"skip"}"#),
            (Request::Watch, r#"{"type":"watch"}"#),
            (Request::Reload, r#"{"type":"reload"}"#),
        ];
        for (request, json) in cases {
            assert_eq!(encode_request(&request), format!("{json}\n"));
            assert_eq!(decode_request(json).unwrap(), request);
        }
    }

    #[test]
    fn replies_have_the_documented_shapes() {
        let cases: [(Reply, &str); 6] = [
            (
                Ok(Response::Version {
                    version: "0.1.0".into(),
                    protocol: 1,
                }),
                r#"{"ok":{"type":"version","version":"0.1.0","protocol":1}}"#,
            ),
            (
                Ok(Response::Params(params())),
                r#"{"ok":{"type":"params","key":"F# minor","bpm":80,"intensity":0.25,"seed":7}}"#,
            ),
            (
                Ok(Response::for_get(&params(), Some(Param::Bpm))),
                r#"{"ok":{"type":"value","param":"bpm","value":80}}"#,
            ),
            (
                Ok(Response::for_get(&params(), Some(Param::Key))),
                r#"{"ok":{"type":"value","param":"key","value":"F# minor"}}"#,
            ),
            (Ok(Response::Done), r#"{"ok":{"type":"done"}}"#),
            (
                Err("bpm: 130 is out of range (allowed 40..=120)".into()),
                r#"{"error":"bpm: 130 is out of range (allowed 40..=120)"}"#,
            ),
        ];
        for (reply, json) in cases {
            assert_eq!(encode_reply(&reply), format!("{json}\n"));
            assert_eq!(decode_reply(json).unwrap(), reply);
        }
    }

    #[test]
    fn status_round_trips_and_tolerates_missing_and_unknown_fields() {
        let status = Status {
            params: params(),
            backend: "cpu".into(),
            backend_reason: Some("no CUDA device".into()),
            listen: Some("127.0.0.1:8700".into()),
            listeners: 3,
            ring_fill: 0.75,
            ring_capacity_ms: 2000,
            underruns: 1,
            sequence: 1234,
            uptime_s: 3723,
            ..Status::default()
        };
        let line = encode_reply(&Ok(Response::Status(status.clone())));
        assert_eq!(
            line,
            concat!(
                r#"{"ok":{"type":"status","params":{"key":"F# minor","bpm":80,"intensity":0.25,"seed":7},"#,
                r#""backend":"cpu","backend_reason":"no CUDA device","listen":"127.0.0.1:8700","#,
                r#""listeners":3,"ring_fill":0.75,"ring_capacity_ms":2000,"underruns":1,"#,
                r#""sequence":1234,"uptime_s":3723}}"#,
                "\n"
            )
        );
        assert_eq!(decode_reply(&line).unwrap(), Ok(Response::Status(status)));
        // An older daemon (fewer fields) and a newer one (extra fields) both decode.
        let older = decode_reply(r#"{"ok":{"type":"status","backend":"cuda","listeners":2}}"#);
        let Ok(Ok(Response::Status(older))) = older else {
            panic!("{older:?}")
        };
        assert_eq!((older.backend.as_str(), older.listeners), ("cuda", 2));
        assert_eq!(older.params, SynthesisParameters::default());
        let newer = r#"{"ok":{"type":"status","backend":"cpu","gpu_temp_c":61}}"#;
        assert!(matches!(decode_reply(newer), Ok(Ok(Response::Status(_)))));
    }

    #[test]
    fn events_have_the_documented_shapes() {
        let cases = [
            (
                Event::Params(params()),
                r#"{"type":"params","key":"F# minor","bpm":80,"intensity":0.25,"seed":7}"#,
            ),
            (
                Event::Phrase {
                    chords: vec!["i".into(), "iv".into(), "V".into(), "i".into()],
                },
                r#"{"type":"phrase","chords":["i","iv","V","i"]}"#,
            ),
            (
                Event::Underrun { sequence: 42 },
                r#"{"type":"underrun","sequence":42}"#,
            ),
            (
                Event::ListenerJoined {
                    addr: "192.0.2.7:51234".into(),
                    listeners: 1,
                },
                r#"{"type":"listener_joined","addr":"192.0.2.7:51234","listeners":1}"#,
            ),
            (
                Event::ListenerLeft {
                    addr: "192.0.2.7:51234".into(),
                    listeners: 0,
                    reason: Some("too slow".into()),
                },
                r#"{"type":"listener_left","addr":"192.0.2.7:51234","listeners":0,"reason":"too slow"}"#,
            ),
            (
                Event::Missed { events: 12 },
                r#"{"type":"missed","events":12}"#,
            ),
            (Event::Stopping, r#"{"type":"stopping"}"#),
        ];
        for (event, json) in cases {
            assert_eq!(encode_event(&event), format!("{json}\n"));
            assert_eq!(decode_event(json).unwrap(), event);
        }
        assert_eq!(
            decode_event(r#"{"type":"gpu_hot","celsius":90}"#).unwrap(),
            Event::Unknown,
            "an event kind from a newer daemon is skipped, not an error"
        );
    }

    #[test]
    fn a_set_value_may_be_a_json_number() {
        for (json, value) in [
            (r#"{"type":"set","param":"bpm","value":80}"#, "80"),
            (r#"{"type":"set","param":"intensity","value":0.3}"#, "0.3"),
            (r#"{"type":"set","param":"bpm","value":"+5"}"#, "+5"),
        ] {
            let Request::Set { value: got, .. } = decode_request(json).unwrap() else {
                panic!("{json}")
            };
            assert_eq!(got, value);
        }
        let err = decode_request(r#"{"type":"set","param":"bpm","value":[80]}"#);
        assert!(err.is_err());
    }

    #[test]
    fn bad_lines_are_errors_that_say_what_was_wrong() {
        let err = decode_request(r#"{"type":"dance"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("bad request: unknown variant `dance`"),
            "{err}"
        );
        let err = decode_request(r#"{"type":"set","param":"tempo","value":"1"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tempo"), "{err}");
        assert!(decode_request("not json").is_err());
        assert!(decode_reply(r#"{"ok":{"type":"done"},"error":"x"}"#).is_err());
        // Params arriving in a reply are validated like everywhere else.
        let err = decode_reply(
            r#"{"ok":{"type":"params","key":"A minor","bpm":300,"intensity":0.5,"seed":0}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bpm: 300 is out of range"), "{err}");
    }

    #[test]
    fn refusals_are_one_line() {
        let line = encode_reply(&Err("config: line 3\n  unknown key `bmp`\n".into()));
        assert_eq!(line, "{\"error\":\"config: line 3; unknown key `bmp`\"}\n");
    }
}
