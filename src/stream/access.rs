//! Who may steer the music over the WebSocket: `[server] web_control`, its token, and the
//! check made when a client connects.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `[server] web_control`: who may send `set` over the WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebControl {
    /// Nobody, token or not.
    Off,
    /// Clients on this machine (loopback peer address) whose page came from this server
    /// (no `Origin`, or an `Origin` naming the same host and port as `Host`), plus token
    /// holders.
    #[default]
    Loopback,
    /// Every client that can reach the port.
    All,
}

/// `[server] web_control` and its token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebPolicy {
    /// Who may.
    pub mode: WebControl,
    /// The token that lets any client in (empty: none).
    pub token: String,
}

/// What the HTTP front knows about a WebSocket client when it decides about web control.
#[derive(Debug, Clone, Copy)]
pub struct ClientOrigin<'a> {
    /// The peer address.
    pub peer: SocketAddr,
    /// The `Origin` header, if any.
    pub origin: Option<&'a str>,
    /// The `Host` header, if any.
    pub host: Option<&'a str>,
    /// `?token=` from the URL, if any.
    pub token: Option<&'a str>,
}

impl WebPolicy {
    /// Whether a client may change parameters over its WebSocket.
    pub fn allows(&self, client: ClientOrigin<'_>) -> bool {
        let token_ok = !self.token.is_empty()
            && client
                .token
                .is_some_and(|t| constant_time_eq(t.as_bytes(), self.token.as_bytes()));
        match self.mode {
            WebControl::Off => false,
            WebControl::All => true,
            WebControl::Loopback => {
                token_ok || (client.peer.ip().is_loopback() && same_origin(client))
            }
        }
    }
}

/// No `Origin` (not a browser page: a script or tool on this machine), or an `Origin`
/// whose host:port is the `Host` the client connected to.
fn same_origin(client: ClientOrigin<'_>) -> bool {
    let Some(origin) = client.origin else {
        return true;
    };
    let Some(host) = client.host else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    authority.eq_ignore_ascii_case(host)
}

/// Compares secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
