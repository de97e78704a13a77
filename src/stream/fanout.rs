//! Fan-out: hands every tick to every listener without ever waiting for one, drops listeners
//! that fall a second behind, and keeps the last few seconds of ticks for `?resume=SEQ`.
//!
//! Each listener has a bounded queue of [`QUEUE_TICKS`] ticks (1 s). The pacer `try_send`s a
//! shared `Arc<Tick>` into each queue; a full queue means the listener has not taken a second
//! of audio, so it is removed and told to close ([`CloseReason::TooSlow`]). The pacer never
//! awaits a listener, so one slow client cannot delay the others.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::encode::{EncodedChunk, Format};
use super::metrics::Metrics;

/// Ticks queued per listener at most (1 s of audio).
pub const QUEUE_TICKS: usize = 10;
/// Ticks kept for listeners that reconnect with `?resume=SEQ` (5 s).
pub const RESUME_TICKS: usize = 50;

/// What every listener gets at one tick: the audio in every format, and the text messages
/// (`phrase`, `params`, `underrun`) that go just before it.
#[derive(Debug)]
pub struct Tick {
    /// When the pacer began the tick (for delivery-time measurement).
    pub at: std::time::Instant,
    /// The audio.
    pub chunk: EncodedChunk,
    /// JSON text messages to send before the audio, in order.
    pub events: Vec<Utf8Bytes>,
}

/// Why the server ends a listener's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue held a second of audio it had not taken.
    TooSlow,
    /// The daemon is stopping.
    ShuttingDown,
}

/// A registered listener's end of the fan-out.
#[derive(Debug)]
pub struct Subscription {
    /// Its id (for [`Fanout::unsubscribe`]).
    pub id: u64,
    /// Live ticks, in order, starting just after `backlog`.
    pub ticks: mpsc::Receiver<Arc<Tick>>,
    /// Fires when the server wants the listener gone.
    pub close: oneshot::Receiver<CloseReason>,
    /// Held ticks after the `resume` sequence asked for, oldest first (empty without resume).
    pub backlog: Vec<Arc<Tick>>,
    /// Sequence of the first live tick.
    pub next_sequence: u64,
}

struct Slot {
    ticks: mpsc::Sender<Arc<Tick>>,
    close: oneshot::Sender<CloseReason>,
    format: Format,
}

#[derive(Default)]
struct Inner {
    listeners: HashMap<u64, Slot>,
    /// Listeners per format, indexed by [`Format::index`].
    per_format: [usize; 4],
    history: VecDeque<Arc<Tick>>,
    next_id: u64,
    next_sequence: u64,
    closed: bool,
}

/// The set of listeners and the recent ticks.
pub struct Fanout {
    inner: Mutex<Inner>,
    /// Listener places taken (reserved before the WebSocket upgrade or WAV response).
    reserved: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("reserved", &self.reserved)
            .finish_non_exhaustive()
    }
}

/// A listener place; dropping it frees the place.
#[derive(Debug)]
pub struct ListenerPlace {
    fanout: Arc<Fanout>,
}

impl Drop for ListenerPlace {
    fn drop(&mut self) {
        self.fanout.reserved.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Slot> {
        let slot = self.listeners.remove(&id)?;
        self.per_format[slot.format.index()] -= 1;
        Some(slot)
    }
}

impl Fanout {
    /// An empty fan-out reporting to `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Arc<Fanout> {
        Arc::new(Fanout {
            inner: Mutex::new(Inner::default()),
            reserved: AtomicUsize::new(0),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections never panic halfway; a poisoned lock still holds sound data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one of `max` listener places, or `None` when all are taken.
    pub fn reserve(self: &Arc<Self>, max: usize) -> Option<ListenerPlace> {
        let taken = self.reserved.fetch_add(1, Ordering::AcqRel);
        if taken >= max {
            self.reserved.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ListenerPlace {
            fanout: self.clone(),
        })
    }

    /// Listener places taken now.
    pub fn listeners(&self) -> usize {
        self.reserved.load(Ordering::Acquire)
    }

    /// Registers a listener. With `resume_after`, the held ticks after that sequence come
    /// back as a backlog, and live ticks follow on without a gap. `None` once closed.
    pub fn subscribe(&self, format: Format, resume_after: Option<u64>) -> Option<Subscription> {
        let (tick_tx, ticks) = mpsc::channel(QUEUE_TICKS);
        let (close_tx, close) = oneshot::channel();
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        let backlog = match resume_after {
            Some(after) => inner
                .history
                .iter()
                .filter(|tick| tick.chunk.sequence > after)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let id = inner.next_id;
        inner.next_id += 1;
        inner.listeners.insert(
            id,
            Slot {
                ticks: tick_tx,
                close: close_tx,
                format,
            },
        );
        inner.per_format[format.index()] += 1;
        Some(Subscription {
            id,
            ticks,
            close,
            backlog,
            next_sequence: inner.next_sequence,
        })
    }

    /// Removes a listener (when its connection ends).
    pub fn unsubscribe(&self, id: u64) {
        self.lock().remove(id);
    }

    /// Whether anyone listens in each format, indexed by [`Format::index`].
    pub fn formats_in_use(&self) -> [bool; 4] {
        self.lock().per_format.map(|n| n > 0)
    }

    /// Sequence the next tick will carry.
    pub fn next_sequence(&self) -> u64 {
        self.lock().next_sequence
    }

    /// Hands `tick` to every listener, keeps it for resume, and drops listeners whose queue
    /// is full. Returns how many were dropped. Never waits.
    pub fn broadcast(&self, tick: Arc<Tick>) -> usize {
        let mut inner = self.lock();
        inner.next_sequence = tick.chunk.sequence + 1;
        if inner.history.len() == RESUME_TICKS {
            inner.history.pop_front();
        }
        inner.history.push_back(tick.clone());
        let mut dropped = Vec::new();
        for (&id, slot) in &inner.listeners {
            match slot.ticks.try_send(tick.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => dropped.push((id, true)),
                Err(mpsc::error::TrySendError::Closed(_)) => dropped.push((id, false)),
            }
        }
        let mut slow = 0;
        for (id, too_slow) in dropped {
            if let Some(slot) = inner.remove(id)
                && too_slow
            {
                slow += 1;
                let _ = slot.close.send(CloseReason::TooSlow);
            }
        }
        drop(inner);
        if slow > 0 {
            self.metrics.listeners_dropped.add(slow as u64);
            tracing::warn!(
                dropped = slow,
                "dropped listeners that fell {QUEUE_TICKS} chunks (1 s) behind"
            );
        }
        slow
    }

    /// Tells every listener to go and refuses new ones (shutdown).
    pub fn close_all(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.per_format = [0; 4];
        for (_, slot) in inner.listeners.drain() {
            let _ = slot.close.send(CloseReason::ShuttingDown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::ring::CHUNK_SAMPLES;
    use crate::stream::encode::encode_chunk;

    fn tick(sequence: u64) -> Arc<Tick> {
        Arc::new(Tick {
            at: std::time::Instant::now(),
            chunk: encode_chunk(&[0.0; CHUNK_SAMPLES], sequence, 0),
            events: Vec::new(),
        })
    }

    #[test]
    fn a_full_queue_drops_only_that_listener() {
        let fanout = Fanout::new(Arc::default());
        let mut reader = fanout.subscribe(Format::default(), None).unwrap();
        let mut stalled = fanout.subscribe(Format::default(), None).unwrap();
        for sequence in 0..=QUEUE_TICKS as u64 {
            let dropped = fanout.broadcast(tick(sequence));
            assert_eq!(dropped, usize::from(sequence == QUEUE_TICKS as u64));
            assert_eq!(reader.ticks.try_recv().unwrap().chunk.sequence, sequence);
        }
        assert_eq!(stalled.close.try_recv(), Ok(CloseReason::TooSlow));
        fanout.broadcast(tick(11));
        assert_eq!(reader.ticks.try_recv().unwrap().chunk.sequence, 11);
    }

    #[test]
    fn resume_returns_held_ticks_then_live_ones_without_a_gap() {
        let fanout = Fanout::new(Arc::default());
        for sequence in 0..(RESUME_TICKS as u64 + 5) {
            fanout.broadcast(tick(sequence));
        }
        let mut late = fanout.subscribe(Format::default(), Some(50)).unwrap();
        let held: Vec<u64> = late.backlog.iter().map(|t| t.chunk.sequence).collect();
        assert_eq!(held, [51, 52, 53, 54]);
        assert_eq!(late.next_sequence, 55);
        fanout.broadcast(tick(55));
        assert_eq!(late.ticks.try_recv().unwrap().chunk.sequence, 55);
        // Too old: only what is held comes back.
        let old = fanout.subscribe(Format::default(), Some(0)).unwrap();
        assert_eq!(old.backlog.len(), RESUME_TICKS);
        assert_eq!(old.backlog[0].chunk.sequence, 6);
    }

    #[test]
    fn places_are_limited_and_freed() {
        let fanout = Fanout::new(Arc::default());
        let first = fanout.reserve(2).unwrap();
        let _second = fanout.reserve(2).unwrap();
        assert!(fanout.reserve(2).is_none());
        drop(first);
        assert!(fanout.reserve(2).is_some());
        let stereo = Format {
            channels: 2,
            ..Format::default()
        };
        let listener = fanout.subscribe(stereo, None).unwrap();
        assert_eq!(fanout.formats_in_use(), [false, true, false, false]);
        fanout.unsubscribe(listener.id);
        assert_eq!(fanout.formats_in_use(), [false; 4]);
        fanout.close_all();
        assert!(fanout.subscribe(Format::default(), None).is_none());
    }
}
