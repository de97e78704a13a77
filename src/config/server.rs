//! `[server]` and `[control]`: the HTTP/WebSocket listener and the Unix control socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use super::ConfigError;
pub use crate::stream::access::WebControl;

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the HTTP/WebSocket port. Loopback by default: exposing it is a choice.
    pub listen: SocketAddr,
    /// Listeners (WebSocket and WAV together) served at once; more are refused politely.
    #[serde(deserialize_with = "max_listeners")]
    pub max_listeners: usize,
    /// Which WebSocket clients may change parameters (`set` messages).
    #[serde(deserialize_with = "web_control")]
    pub web_control: WebControl,
    /// A shared secret: a WebSocket client that connects with `/ws?token=<it>` may change
    /// parameters whatever its address (unless `web_control = "off"`). Empty: no token.
    pub web_control_token: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8700)),
            max_listeners: 1000,
            web_control: WebControl::Loopback,
            web_control_token: String::new(),
        }
    }
}

/// `[control]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Path of the Unix control socket; empty means [`ambientctl::default_socket_path`]
    /// (`$RUNTIME_DIRECTORY/control.sock`, else `$XDG_RUNTIME_DIR/ambientd/control.sock`,
    /// else `/run/ambientd/control.sock`).
    pub socket: PathBuf,
    /// Group that may use the control socket; empty means the daemon's own group.
    pub group: String,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: PathBuf::new(),
            group: String::new(),
        }
    }
}

impl ControlConfig {
    /// The socket path in force: the configured one, or the shared default.
    pub fn socket_path(&self) -> PathBuf {
        if self.socket.as_os_str().is_empty() {
            ambientctl::default_socket_path()
        } else {
            self.socket.clone()
        }
    }
}

fn web_control<'de, D: Deserializer<'de>>(deserializer: D) -> Result<WebControl, D::Error> {
    const ALLOWED: &str = "allowed: \"off\", \"loopback\", \"all\"";
    let raw = String::deserialize(deserializer)
        .map_err(|e| serde::de::Error::custom(format!("{e} ({ALLOWED})")))?;
    match raw.as_str() {
        "off" => Ok(WebControl::Off),
        "loopback" => Ok(WebControl::Loopback),
        "all" => Ok(WebControl::All),
        other => Err(serde::de::Error::custom(format!(
            "{other:?} is not a web_control setting ({ALLOWED})"
        ))),
    }
}

/// The most listeners a config may ask for (far above what one process can hold open).
pub const MAX_LISTENERS_LIMIT: usize = 1_000_000;

fn max_listeners<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let raw = i64::deserialize(deserializer).map_err(|e| {
        serde::de::Error::custom(format!(
            "max_listeners: {e} (allowed a whole number 1..={MAX_LISTENERS_LIMIT})"
        ))
    })?;
    usize::try_from(raw)
        .ok()
        .filter(|n| (1..=MAX_LISTENERS_LIMIT).contains(n))
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "max_listeners: {raw} is out of range (allowed 1..={MAX_LISTENERS_LIMIT}; \
                 0 would refuse every listener)"
            ))
        })
}

/// The id of group `name` (a name from `/etc/group`, or a number); `Ok(None)` for "".
pub fn lookup_group(name: &str) -> Result<Option<u32>, ConfigError> {
    if name.is_empty() {
        return Ok(None);
    }
    if let Ok(gid) = name.parse() {
        return Ok(Some(gid));
    }
    let path = Path::new("/etc/group");
    let groups = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    groups
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let group = fields.next()?;
            let gid = fields.nth(1)?.parse().ok()?;
            (group == name).then_some(gid)
        })
        .next()
        .map(Some)
        .ok_or_else(|| ConfigError::UnknownGroup(name.to_string()))
}
