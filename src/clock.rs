//! Wall-clock time as the wire carries it (Unix milliseconds in every chunk's `timestamp`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Current Unix time in milliseconds (0 if the clock is before 1970).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
