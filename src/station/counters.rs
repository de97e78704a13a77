//! Lock-free counters: the [`Counter`] type every layer counts with, and the station's own
//! (ticks, underruns, the ring's fill, the last tick's time), written by the pacer alone.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically rising count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the pacer counts. One writer (the pacer), any number of readers.
#[derive(Debug, Default)]
pub struct TickCounters {
    /// Ticks produced (one 100 ms chunk each).
    pub chunks: Counter,
    /// Chunks that were (partly) silence because the ring ran dry.
    pub underruns: Counter,
    /// Interleaved samples in the ring after the latest tick.
    pub ring_samples: AtomicU64,
    /// Unix ms of the latest tick (0 before the first).
    pub last_tick_unix_ms: AtomicU64,
    /// Sequence the next tick will carry (the stream's chunk number: +1 per tick).
    pub next_sequence: AtomicU64,
}
