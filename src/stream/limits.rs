//! What one client may cost the HTTP/WebSocket front: how long it may take to send its
//! request headers and to finish the upgrade, how large a message it may send, and how many
//! `set`s a second it may make ([`SetRate`], one per WebSocket session).

use std::time::{Duration, Instant};

/// The front's share of `[limits]` (the daemon applies it at start and on reload; sessions
/// take it as they begin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Time from accepting a connection (or from the end of its last response) to the end of
    /// the next request's headers; also closes sockets that send nothing at all.
    pub header_timeout: Duration,
    /// Time from the `101 Switching Protocols` to the WebSocket session taking over.
    pub handshake_timeout: Duration,
    /// The largest WebSocket frame or message a client may send (larger: closed with 1009).
    pub max_message_bytes: usize,
    /// `set`s a second one WebSocket client may make (with a burst of as many); `0`: none.
    pub sets_per_second: u32,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            header_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_message_bytes: 64 << 10,
            sets_per_second: 10,
        }
    }
}

/// A token bucket of `set`s for one client: `rate` a second, at most `rate` saved up.
#[derive(Debug)]
pub struct SetRate {
    rate: f64,
    tokens: f64,
    last: Instant,
    /// Refusals so far (the first one is logged, the rest only counted).
    pub refused: u64,
}

impl SetRate {
    /// A full bucket.
    pub fn new(per_second: u32) -> SetRate {
        let rate = f64::from(per_second);
        SetRate {
            rate,
            tokens: rate,
            last: Instant::now(),
            refused: 0,
        }
    }

    /// Whether a `set` arriving at `now` may go through; counts it when not.
    pub fn admit(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.refused += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate() {
        let start = Instant::now();
        let mut rate = SetRate::new(10);
        let admitted = (0..25).filter(|_| rate.admit(start)).count();
        assert_eq!(admitted, 10, "the burst");
        assert_eq!(rate.refused, 15);
        assert!(
            rate.admit(start + Duration::from_millis(100)),
            "one more per 100 ms"
        );
        assert!(!rate.admit(start + Duration::from_millis(150)));
        let mut none = SetRate::new(0);
        assert!(!none.admit(start + Duration::from_secs(60)));
    }
}
