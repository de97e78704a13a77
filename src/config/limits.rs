//! `[limits]`: what one client may cost: header, handshake and control-idle timeouts, the
//! connections one address may hold, the largest WebSocket message, the `set` rate.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::stream::limits::StreamLimits;

/// `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Seconds a client has to send a request's headers (from connecting, or from the end
    /// of its last response); a silent or dribbling socket is closed after it.
    #[serde(deserialize_with = "header_timeout_s")]
    pub header_timeout_s: u64,
    /// Seconds from `101 Switching Protocols` to the WebSocket session taking over.
    #[serde(deserialize_with = "handshake_timeout_s")]
    pub handshake_timeout_s: u64,
    /// Seconds a control-socket client may stay silent between requests (`watch` streams
    /// are not idle: they are closed only when they stop reading).
    #[serde(deserialize_with = "control_idle_timeout_s")]
    pub control_idle_timeout_s: u64,
    /// TCP connections one IP address may hold at once (listeners and requests together);
    /// more are answered 503 and closed. Behind a reverse proxy every client has the
    /// proxy's address: raise it to `max_listeners` there.
    #[serde(deserialize_with = "connections_per_address")]
    pub connections_per_address: usize,
    /// The largest WebSocket frame or message a client may send, in bytes (close 1009).
    #[serde(deserialize_with = "max_message_bytes")]
    pub max_message_bytes: usize,
    /// `set` messages a second one WebSocket client may send (a burst of as many is
    /// allowed); more are refused with an error message and counted. 0: none at all.
    #[serde(deserialize_with = "sets_per_second")]
    pub sets_per_second: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let stream = StreamLimits::default();
        LimitsConfig {
            header_timeout_s: stream.header_timeout.as_secs(),
            handshake_timeout_s: stream.handshake_timeout.as_secs(),
            control_idle_timeout_s: 60,
            connections_per_address: 256,
            max_message_bytes: stream.max_message_bytes,
            sets_per_second: stream.sets_per_second,
        }
    }
}

impl LimitsConfig {
    /// The HTTP/WebSocket front's share.
    pub fn stream(&self) -> StreamLimits {
        StreamLimits {
            header_timeout: Duration::from_secs(self.header_timeout_s),
            handshake_timeout: Duration::from_secs(self.handshake_timeout_s),
            max_message_bytes: self.max_message_bytes,
            sets_per_second: self.sets_per_second,
        }
    }

    /// How long a control client may stay silent.
    pub fn control_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.control_idle_timeout_s)
    }
}

/// Reads an integer and refuses it outside `range`, naming the field and the range.
fn in_range<'de, D: Deserializer<'de>>(
    deserializer: D,
    field: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, D::Error> {
    let raw = i64::deserialize(deserializer)?;
    if range.contains(&raw) {
        Ok(raw)
    } else {
        Err(serde::de::Error::custom(format!(
            "{field}: {raw} is out of range (allowed {}..={})",
            range.start(),
            range.end()
        )))
    }
}

macro_rules! ranged {
    ($name:ident, $type:ty, $range:expr) => {
        fn $name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<$type, D::Error> {
            // The ranges are far inside every target's integer types.
            in_range(deserializer, stringify!($name), $range).map(|value| value as $type)
        }
    };
}

ranged!(header_timeout_s, u64, 1..=3600);
ranged!(handshake_timeout_s, u64, 1..=3600);
ranged!(control_idle_timeout_s, u64, 1..=86_400);
ranged!(connections_per_address, usize, 1..=1_000_000);
ranged!(max_message_bytes, usize, 1024..=(16 << 20));
ranged!(sets_per_second, u32, 0..=10_000);

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};

    #[test]
    fn limits_out_of_range_name_the_field_and_the_range() {
        for (text, needle) in [
            (
                "header_timeout_s = 0",
                "header_timeout_s: 0 is out of range (allowed 1..=3600)",
            ),
            (
                "max_message_bytes = 10",
                "max_message_bytes: 10 is out of range (allowed 1024..=",
            ),
            (
                "sets_per_second = -1",
                "sets_per_second: -1 is out of range (allowed 0..=10000)",
            ),
            (
                "connections_per_address = 0",
                "connections_per_address: 0 is out of range",
            ),
        ] {
            match Config::from_toml(&format!("[limits]\n{text}\n")) {
                Err(ConfigError::Parse { line, message, .. }) => {
                    assert_eq!(line, 2, "{text}");
                    assert!(message.contains(needle), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let config = Config::from_toml("[limits]\nsets_per_second = 0\n").unwrap();
        assert_eq!(config.limits.sets_per_second, 0);
    }
}
