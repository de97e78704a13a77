//! One Icecast output's live state, written by its task and read by the status builders
//! (`/api/status`, `/metrics`, `ambientctl status`) as an [`OutputStatus`] snapshot.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

/// Counters and the last error of one output (its task is the only writer).
#[derive(Debug, Default)]
pub struct OutputState {
    connected: AtomicBool,
    bytes_sent: AtomicU64,
    attempts: AtomicU64,
    connections: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// One output as it stands at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputStatus {
    /// Server and mount (no credentials).
    pub url: String,
    /// Whether Icecast accepted the stream and it is flowing now.
    pub connected: bool,
    /// Bytes of Ogg written to Icecast since the daemon started (every connection together).
    pub bytes_sent: u64,
    /// Connection attempts, successful or not.
    pub attempts: u64,
    /// Times the output connected again after a connection ended.
    pub reconnects: u64,
    /// Why the latest attempt or connection failed; `None` until one does.
    pub last_error: Option<String>,
}

impl OutputState {
    pub(super) fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn connected(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connected.store(true, Ordering::Relaxed);
    }

    pub(super) fn sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(super) fn failed(&self, error: &str) {
        self.connected.store(false, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }

    pub(super) fn stopped(&self) {
        self.connected.store(false, Ordering::Relaxed);
    }

    /// The snapshot, for the output at `url`.
    pub fn status(&self, url: String) -> OutputStatus {
        OutputStatus {
            url,
            connected: self.connected.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
            reconnects: self.connections.load(Ordering::Relaxed).saturating_sub(1),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
