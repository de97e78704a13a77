//! The journal's view of the station's events: one log line per event worth a line, with
//! its facts as structured fields. Listener churn is summarised: a busy station would
//! otherwise write two lines per listener (1,000 listeners gave 2,012 lines).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::event::Event;

/// How long joins and leaves are gathered into one summary line.
pub const CHURN_WINDOW: Duration = Duration::from_secs(60);

/// Logs events; gathers listener joins and leaves into at most one summary per window.
#[derive(Debug, Default)]
pub struct Journal {
    churn: Mutex<Churn>,
}

/// Joins and leaves since the window opened.
#[derive(Debug, Default)]
struct Churn {
    /// When the window opened (by the join or leave that was logged on its own).
    opened: Option<Instant>,
    joined: u64,
    left: u64,
    /// Of those that left, how many the server let go (too slow, stalled...).
    let_go: u64,
    /// Listeners connected after the latest join or leave.
    listeners: u32,
}

impl Journal {
    /// Logs `event` (phrases and underruns are logged by the pacer, once per run).
    pub fn log(&self, event: &Event) {
        match event {
            Event::Params(next) => tracing::info!(
                key = %next.key(),
                bpm = next.bpm(),
                intensity = %next.intensity(),
                seed = next.seed(),
                "parameters changed: {}, {} bpm, intensity {}, seed {}",
                next.key(),
                next.bpm(),
                next.intensity(),
                next.seed()
            ),
            Event::ListenerJoined { .. } | Event::ListenerLeft { .. } => self.churn(event),
            Event::BackendFellBack { backend, error } => tracing::warn!(
                backend,
                %error,
                "the {backend} voice stage failed ({error}); rendering on the CPU from now on"
            ),
            Event::Phrase(_) | Event::Underrun(_) | Event::Stopping => {}
        }
    }

    /// Closes the churn window when it is over (called every tick), logging its summary.
    pub fn tick(&self) {
        let mut churn = lock(&self.churn);
        if churn.opened.is_some_and(|at| at.elapsed() >= CHURN_WINDOW) {
            churn.summarise();
        }
    }

    /// Logs the open window's summary now (at shutdown).
    pub fn flush(&self) {
        lock(&self.churn).summarise();
    }

    /// A join or leave: logged on its own when the station was quiet, else counted for the
    /// window's summary. Every one is logged at debug level with its address.
    fn churn(&self, event: &Event) {
        let mut churn = lock(&self.churn);
        let quiet = churn.opened.is_none();
        match *event {
            Event::ListenerJoined {
                addr,
                kind,
                listeners,
            } => {
                tracing::debug!(listener = %addr, kind, listeners, "listener joined");
                if quiet {
                    tracing::info!(
                        listener = %addr,
                        kind,
                        listeners,
                        "listener joined from {addr} ({kind}); {listeners} connected"
                    );
                } else {
                    churn.joined += 1;
                }
                churn.listeners = listeners;
            }
            Event::ListenerLeft {
                addr,
                listeners,
                reason,
            } => {
                let why = reason.unwrap_or("left");
                tracing::debug!(listener = %addr, reason = why, listeners, "listener left");
                if quiet {
                    tracing::info!(
                        listener = %addr,
                        reason = why,
                        listeners,
                        "listener {addr} {}; {listeners} connected",
                        reason.map_or("left".to_string(), |r| format!("let go: {r}"))
                    );
                } else {
                    churn.left += 1;
                    churn.let_go += u64::from(reason.is_some());
                }
                churn.listeners = listeners;
            }
            _ => return,
        }
        if quiet {
            churn.opened = Some(Instant::now());
        }
    }
}

impl Churn {
    /// Logs the window's counts (when anything came after its first event) and closes it.
    fn summarise(&mut self) {
        if self.joined + self.left > 0 {
            let (joined, left, let_go, listeners) =
                (self.joined, self.left, self.let_go, self.listeners);
            tracing::info!(
                joined,
                left,
                let_go,
                listeners,
                "listeners: {listeners} connected; {joined} joined and {left} left in the last \
                 {} s ({let_go} let go by the server)",
                CHURN_WINDOW.as_secs()
            );
        }
        *self = Churn::default();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
