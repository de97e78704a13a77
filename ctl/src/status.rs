//! What `status` answers: the parameters in force and where they come from, the chord
//! playing, the back-end, the listeners and the ring, and each Icecast output's state.

use serde::{Deserialize, Serialize};

use crate::params::SynthesisParameters;
use crate::sources::ParamSources;

/// What `status` reports. Every field has a default so that a client can read a status from
/// a daemon older than itself (fields added later are simply absent there).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// The musical parameters in force.
    pub params: SynthesisParameters,
    /// The synthesis back-end in use: `"cuda"` or `"cpu"`.
    pub backend: String,
    /// Why that back-end was chosen, when it is not the obvious one (e.g. why CUDA was not
    /// used under `backend = "auto"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_reason: Option<String>,
    /// The HTTP/WebSocket address listeners connect to, e.g. `"127.0.0.1:8700"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Listeners connected now (WebSocket and HTTP stream together).
    pub listeners: u32,
    /// How full the ring buffer is, 0.0 (empty: underruns imminent) ..= 1.0 (full).
    pub ring_fill: f32,
    /// The ring buffer's capacity in milliseconds of audio.
    pub ring_capacity_ms: u32,
    /// Silence chunks sent because the ring was empty, since start.
    pub underruns: u64,
    /// The sequence number of the last chunk sent.
    pub sequence: u64,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
    /// Where each parameter in force comes from (absent from older daemons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<ParamSources>,
    /// The config file's values (built-in defaults where it is silent): what `reset` puts back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<SynthesisParameters>,
    /// The chords of the phrase playing, one per bar (empty before the first phrase).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chords: Vec<String>,
    /// The bar of that phrase playing now, 0-based.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bar: Option<u32>,
    /// Why the last change could not be saved to the state directory (it applies, but will
    /// be lost at the next restart); absent while saving works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_error: Option<String>,
    /// The Icecast source outputs, in config order (absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub icecast: Vec<IcecastOutput>,
}

/// One Icecast source output, as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IcecastOutput {
    /// Server and mount, e.g. `"http://127.0.0.1:8000/ambient.opus"` (never credentials).
    pub url: String,
    /// Whether Icecast accepted the stream and it flows now.
    pub connected: bool,
    /// Bytes of Ogg written to Icecast since the daemon started.
    pub bytes_sent: u64,
    /// Connection attempts, successful or not.
    pub attempts: u64,
    /// Times the output connected again after a connection ended.
    pub reconnects: u64,
    /// Why the latest attempt or connection failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
