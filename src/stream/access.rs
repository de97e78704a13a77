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
    /// under a loopback name (no `Origin`; or an `http://` `Origin` naming the same host and
    /// port as `Host`, where that host is `localhost`, a `*.localhost` name, a 127.0.0.0/8
    /// address or `[::1]`), plus token holders. A page whose name merely resolves to
    /// 127.0.0.1 (DNS rebinding) is not trusted.
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

/// No `Origin` (not a browser page: a script or tool on this machine), or an `http://`
/// `Origin` whose host:port is the `Host` the client connected to and whose host is a
/// loopback name. A page on any other name is refused even when that name resolves to
/// 127.0.0.1: that is what a DNS-rebinding attack looks like (`Host: evil.example:8000`,
/// `Origin: http://evil.example:8000`), since the browser sends the page's own name in both.
/// `https://` is refused too: this server serves no https, so such a page is not its own.
fn same_origin(client: ClientOrigin<'_>) -> bool {
    let Some(origin) = client.origin else {
        return true;
    };
    let Some(host) = client.host else {
        return false;
    };
    let Some(authority) = origin.strip_prefix("http://") else {
        return false;
    };
    authority.eq_ignore_ascii_case(host) && is_loopback_name(hostname(host))
}

/// The host part of a `Host` header's `host[:port]` (IPv6 literals keep their brackets).
fn hostname(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// `localhost`, a name under `.localhost` (browsers resolve both to loopback themselves,
/// RFC 6761), a 127.0.0.0/8 address or `[::1]`.
fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Compares secrets without leaking where they differ through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(origin: Option<&str>, host: Option<&str>) -> bool {
        let policy = WebPolicy::default();
        policy.allows(ClientOrigin {
            peer: SocketAddr::from(([127, 0, 0, 1], 50_000)),
            origin,
            host,
            token: None,
        })
    }

    #[test]
    fn only_pages_under_a_loopback_name_are_trusted() {
        for (origin, host) in [
            ("http://127.0.0.1:8000", "127.0.0.1:8000"),
            ("http://localhost:8000", "localhost:8000"),
            ("http://LOCALHOST:8000", "localhost:8000"),
            ("http://radio.localhost:8000", "radio.localhost:8000"),
            ("http://127.1.2.3:8000", "127.1.2.3:8000"),
            ("http://[::1]:8000", "[::1]:8000"),
            ("http://localhost", "localhost"),
        ] {
            assert!(allowed(Some(origin), Some(host)), "{origin} / {host}");
        }
        for (origin, host) in [
            // DNS rebinding: the attacker's name in both headers.
            ("http://evil.example:8000", "evil.example:8000"),
            ("http://evil.example", "evil.example"),
            (
                "http://127.0.0.1.evil.example:8000",
                "127.0.0.1.evil.example:8000",
            ),
            (
                "http://localhost.evil.example:8000",
                "localhost.evil.example:8000",
            ),
            // No https here: such a page is not this server's.
            ("https://127.0.0.1:8000", "127.0.0.1:8000"),
            // Another origin than the one connected to.
            ("http://localhost:9000", "localhost:8000"),
            ("http://evil.example:8000", "127.0.0.1:8000"),
            ("null", "127.0.0.1:8000"),
        ] {
            assert!(!allowed(Some(origin), Some(host)), "{origin} / {host}");
        }
        assert!(
            allowed(None, Some("evil.example:8000")),
            "no Origin: not a browser"
        );
        assert!(!allowed(Some("http://127.0.0.1:8000"), None));
    }
}
