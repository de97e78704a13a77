//! Talking to systemd: readiness, status text, reload and stop notices, and a watchdog that is
//! fed only while the daemon is really making progress.
//!
//! Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op. Notification failures are
//! logged once per kind and never stop the daemon: systemd being unreachable is no reason to
//! stop the music.
//!
//! The socket to systemd is opened once, at start, and kept: a daemon whose descriptors have
//! run out (a flood of connections) must still be able to say `WATCHDOG=1`, or systemd kills
//! it and every listener with it. (`sd_notify::notify` opens a new socket per message.)

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;

/// The daemon's line to systemd.
#[derive(Debug)]
pub struct Notifier {
    /// `NOTIFY_SOCKET`, when systemd gave one.
    path: Option<OsString>,
    /// Connected to `path`; `None` until a connect succeeds (retried on the next message).
    socket: Mutex<Option<UnixDatagram>>,
    watchdog: Option<Duration>,
    failed: AtomicBool,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment, and
    /// connects to the notify socket.
    pub fn from_env() -> Self {
        let path = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty());
        // sd-notify returns Some(0) for WATCHDOG_USEC=0; systemd means "off" by it.
        let watchdog = sd_notify::watchdog_enabled().filter(|interval| !interval.is_zero());
        let socket = path.as_deref().and_then(|path| connect(path).ok());
        Notifier {
            path,
            socket: Mutex::new(socket),
            watchdog,
            failed: AtomicBool::new(false),
        }
    }

    /// A notifier that sends nothing (tests, `render`).
    pub fn disabled() -> Self {
        Notifier {
            path: None,
            socket: Mutex::new(None),
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
        let Some(path) = &self.path else {
            return;
        };
        let mut message = String::new();
        for state in states {
            let _ = writeln!(message, "{state}");
        }
        if let Err(error) = self.send_on_kept_socket(path, message.as_bytes())
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(%error, "cannot notify systemd (further failures are not logged)");
        }
    }

    /// Sends on the kept socket; (re)connects only when there is none or it failed, so a
    /// full descriptor table costs nothing while the kept socket works.
    fn send_on_kept_socket(&self, path: &OsString, message: &[u8]) -> std::io::Result<()> {
        let mut socket = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = socket.as_ref() {
            match kept.send(message) {
                Ok(_) => return Ok(()),
                // systemd re-bound its socket (re-exec): connect afresh below.
                Err(_) => *socket = None,
            }
        }
        let fresh = connect(path)?;
        fresh.send(message)?;
        *socket = Some(fresh);
        Ok(())
    }
}

/// An unbound datagram socket connected to `NOTIFY_SOCKET` (a path, or `@name` for an
/// abstract socket, as systemd allows).
fn connect(path: &std::ffi::OsStr) -> std::io::Result<UnixDatagram> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => socket.connect_addr(&SocketAddr::from_abstract_name(name)?)?,
        None => socket.connect(path)?,
    }
    Ok(socket)
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
