//! Talking to systemd: readiness, status text, reload and stop notices, and a watchdog that is
//! fed only while the daemon is really making progress.
//!
//! Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op. Notification failures are
//! logged once per kind and never stop the daemon: systemd being unreachable is no reason to
//! stop the music.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;

/// The daemon's line to systemd.
#[derive(Debug)]
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
    failed: AtomicBool,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment.
    pub fn from_env() -> Self {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        // sd-notify returns Some(0) for WATCHDOG_USEC=0; systemd means "off" by it.
        let watchdog = sd_notify::watchdog_enabled().filter(|interval| !interval.is_zero());
        Notifier {
            enabled,
            watchdog,
            failed: AtomicBool::new(false),
        }
    }

    /// A notifier that sends nothing (tests, `render`).
    pub fn disabled() -> Self {
        Notifier {
            enabled: false,
            watchdog: None,
            failed: AtomicBool::new(false),
        }
    }

    /// How often to feed the watchdog (half its timeout), if systemd asked for one.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|timeout| timeout / 2)
    }

    /// `READY=1` with a status line: listeners are bound and the ring buffer is primed.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// `STATUS=`: the one-line summary `systemctl status` shows.
    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    /// `RELOADING=1` with `MONOTONIC_USEC`, before a configuration reload.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// `STOPPING=1`, when a stop begins.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// `WATCHDOG=1`: "still alive". Call it only through a [`ProgressGate`].
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    fn send(&self, states: &[NotifyState]) {
        if !self.enabled {
            return;
        }
        if let Err(error) = sd_notify::notify(states)
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(%error, "cannot notify systemd (further failures are not logged)");
        }
    }
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::disabled()
    }
}

/// Admits a watchdog ping only when every progress counter has moved since the last ping, so
/// a stalled generation thread or pacer stops the pings and systemd restarts the daemon.
#[derive(Debug, Default)]
pub struct ProgressGate<const N: usize> {
    last: Option<[u64; N]>,
}

impl<const N: usize> ProgressGate<N> {
    /// A gate that admits the first check (nothing to compare with yet).
    pub fn new() -> Self {
        ProgressGate { last: None }
    }

    /// Whether to ping now, given the current counters; remembers them when it says yes.
    pub fn admit(&mut self, counters: [u64; N]) -> bool {
        let moved = match self.last {
            None => true,
            Some(last) => last.iter().zip(&counters).all(|(before, now)| now > before),
        };
        if moved {
            self.last = Some(counters);
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_closes_when_any_counter_stalls() {
        let mut gate = ProgressGate::<2>::new();
        assert!(gate.admit([0, 0]));
        assert!(gate.admit([5, 3]));
        assert!(!gate.admit([9, 3]), "the pacer stalled");
        assert!(!gate.admit([9, 3]));
        assert!(gate.admit([10, 4]), "both moved again since the last ping");
        assert!(!gate.admit([10, 9]), "the generator stalled");
    }

    #[test]
    fn a_disabled_notifier_is_silent() {
        let notifier = Notifier::disabled();
        notifier.ready("ok");
        notifier.watchdog();
        assert_eq!(notifier.watchdog_interval(), None);
    }
}
