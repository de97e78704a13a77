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

/// The config reloads, as the daemon reports them (for `/metrics`).
#[derive(Debug, Default)]
pub struct ReloadRecord {
    /// Reloads that loaded and applied the file.
    pub succeeded: Counter,
    /// Reloads refused (invalid file, nothing to read).
    pub failed: Counter,
    /// Whether the latest reload failed (0: no, or none yet).
    pub last_failed: AtomicU64,
    /// Unix ms of the latest successful reload, or of the start (the config loaded then).
    pub last_success_unix_ms: AtomicU64,
}

impl ReloadRecord {
    /// Counts one reload and its outcome.
    pub fn record(&self, ok: bool) {
        if ok {
            self.succeeded.add(1);
            self.last_success_unix_ms
                .store(crate::clock::unix_ms(), Ordering::Relaxed);
        } else {
            self.failed.add(1);
        }
        self.last_failed.store(u64::from(!ok), Ordering::Relaxed);
    }
}
