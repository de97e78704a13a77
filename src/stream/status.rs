//! `/api/status`: the station's snapshot and the outputs' limits as one JSON object.

use serde::Serialize;

use super::StreamState;
use super::icecast::OutputStatus;
use super::messages::{ParamsView, VERSION};

// Fields in alphabetical order: the object was first written with `serde_json::json!`,
// whose maps sort their keys, and its bytes stay as they were.
#[derive(Serialize)]
struct ApiStatus<'a> {
    backend: Backend<'a>,
    chunks: u64,
    healthy: bool,
    /// The Icecast source outputs, in config order (absent when there are none, so the
    /// object stays as it was for a daemon without them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    icecast: Vec<OutputStatus>,
    listeners: usize,
    max_listeners: usize,
    next_sequence: u64,
    opus: Opus,
    params: ParamsView,
    render_panics: u64,
    ring_fill: f64,
    underruns: u64,
    uptime_seconds: f64,
    version: &'static str,
}

#[derive(Serialize)]
struct Backend<'a> {
    fallbacks: u64,
    name: &'a str,
    reason: &'a str,
}

/// Whether the daemon has its Opus stream (`/stream.opus`, `/ws?encoding=opus`).
#[derive(Serialize)]
struct Opus {
    available: bool,
    /// Why not, when it is not; empty when it is.
    reason: String,
}

/// The body of `/api/status`.
pub fn json(state: &StreamState) -> String {
    let snapshot = state.station.snapshot();
    let status = ApiStatus {
        backend: Backend {
            fallbacks: snapshot.fallbacks,
            name: snapshot.backend,
            reason: &snapshot.backend_reason,
        },
        chunks: snapshot.chunks,
        healthy: snapshot.unhealthy.is_none(),
        icecast: state.icecast.statuses(),
        listeners: snapshot.listeners,
        max_listeners: state.max_listeners(),
        next_sequence: snapshot.next_sequence,
        opus: match state.fanout.opus_headers() {
            Ok(_) => Opus {
                available: true,
                reason: String::new(),
            },
            Err(reason) => Opus {
                available: false,
                reason,
            },
        },
        params: ParamsView::from(&snapshot.params),
        render_panics: snapshot.panics,
        ring_fill: snapshot.ring_fill,
        underruns: snapshot.underruns,
        uptime_seconds: snapshot.uptime.as_secs_f64(),
        version: VERSION,
    };
    // Only strings, numbers and booleans: serialising cannot fail.
    serde_json::to_string(&status).unwrap_or_default()
}
