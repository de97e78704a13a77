//! The fan-out's shards: the listeners one sender thread serves, and the delivery of a tick
//! to them (a WebSocket listener's socket, the socket of a `/stream.wav` or `/stream.opus`
//! response, an in-process consumer's queue), removing those a second behind or gone. The
//! [`Fanout`](super::fanout::Fanout) owns the shards.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::close::{CloseReason, QUEUE_TICKS};
use super::encode::{FORMATS, Format};
use super::metrics::{LocalHistogram, Metrics};
use super::outbox::{Offer, Outbox};
use super::streamed_body;
use super::tick::Tick;

/// Where a listener's ticks go.
pub(super) enum Sink {
    /// A WebSocket listener: straight to its socket, as WebSocket frames.
    Socket(Arc<Outbox>),
    /// A `/stream.wav` or `/stream.opus` listener: straight to its socket, each payload as
    /// one chunk of a chunked body (`chunked`) or bare (an HTTP/1.0 response).
    Body { outbox: Arc<Outbox>, chunked: bool },
    /// An in-process consumer (an Icecast source output): into its queue.
    Queue {
        ticks: mpsc::Sender<Arc<Tick>>,
        close: oneshot::Sender<CloseReason>,
        /// The first sequence it takes: a tick kept for resume while it subscribed was in
        /// its backlog already, and is not queued a second time.
        from: u64,
    },
}

impl Sink {
    pub(super) fn close(self, reason: CloseReason) {
        match self {
            Sink::Socket(outbox) | Sink::Body { outbox, .. } => outbox.close(reason),
            Sink::Queue { close, .. } => {
                let _ = close.send(reason);
            }
        }
    }
}

pub(super) struct Slot {
    pub(super) sink: Sink,
    pub(super) format: Format,
    /// Whether the listener's next live tick is its first audio (it then gets the tick's
    /// faded-in variant, so its player does not start mid-waveform with a click).
    pub(super) fresh: bool,
}

/// Ticks an HTTP stream listener (`/stream.wav`, `/stream.opus`) gets per write: its player
/// buffers seconds, and one `sendmsg` for three ticks costs a third of three, which is most
/// of what a listener costs (the kernel's TCP work). WebSocket listeners get every tick at
/// once (the page's jitter buffer is short).
pub(super) const BODY_TICKS_PER_WRITE: u64 = 3;
/// Past this many HTTP stream listeners, five ticks (500 ms) per write: a sender thread's pass
/// over a third of them would take longer than 50 ms on a core (BENCHMARKS.md: ~5,000
/// `sendmsg` a tick took 50–70 ms), a fifth keeps it under.
pub(super) const BUSY_BODY_LISTENERS: usize = 10_000;
/// Ticks per write past [`BUSY_BODY_LISTENERS`].
pub(super) const BUSY_BODY_TICKS_PER_WRITE: u64 = 5;
// Just past the busy count, fewer writes a tick than just below it.
const _: () = assert!(
    (BUSY_BODY_LISTENERS + 1) / (BUSY_BODY_TICKS_PER_WRITE as usize)
        < BUSY_BODY_LISTENERS / (BODY_TICKS_PER_WRITE as usize)
);

/// Ticks a sender thread keeps (the most an HTTP stream listener gets in one write).
pub(super) const RECENT_TICKS: usize = BUSY_BODY_TICKS_PER_WRITE as usize;

/// Ticks per write for HTTP stream listeners when there are `body_listeners` of them.
pub(super) fn body_ticks_per_write(body_listeners: usize) -> u64 {
    if body_listeners > BUSY_BODY_LISTENERS {
        BUSY_BODY_TICKS_PER_WRITE
    } else {
        BODY_TICKS_PER_WRITE
    }
}

/// Listeners served by one sender thread.
#[derive(Default)]
pub(super) struct Shard(Mutex<HashMap<u64, Slot>>);

impl Shard {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<u64, Slot>> {
        // The critical sections never panic halfway; a poisoned lock still holds sound data.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
pub(super) struct Inner {
    /// Listeners per format, indexed by [`Format::index`].
    pub(super) per_format: [usize; FORMATS],
    pub(super) history: VecDeque<Arc<Tick>>,
    pub(super) next_id: u64,
    pub(super) next_sequence: u64,
    pub(super) closed: bool,
}

/// What the sender threads share with the fan-out.
pub(super) struct Shared {
    /// Lock order: `inner`, then a shard.
    pub(super) inner: Mutex<Inner>,
    pub(super) shards: Vec<Shard>,
    pub(super) metrics: Arc<Metrics>,
    /// HTTP stream listeners (`Sink::Body`) registered now, for [`body_ticks_per_write`].
    pub(super) body_listeners: AtomicUsize,
}

impl Shared {
    /// Counts a listener's sink out of [`Shared::body_listeners`] (when it is removed).
    pub(super) fn forget_sink(&self, sink: &Sink) {
        if matches!(sink, Sink::Body { .. }) {
            self.body_listeners.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn shard_of(&self, id: u64) -> &Shard {
        &self.shards[(id % self.shards.len() as u64) as usize]
    }

    /// Sends the newest of `recent` (the last ticks, oldest first) to every listener of shard
    /// `index` and removes those too slow or gone. An HTTP stream listener whose turn it is
    /// gets every tick of `recent` it has not had, in one write; between turns it is not
    /// touched at all (its state is one cache miss a write, not one a tick).
    pub(super) fn send_shard(&self, index: usize, recent: &[Arc<Tick>]) {
        let Some(tick) = recent.last() else { return };
        let mut frames: [Option<Vec<&Bytes>>; FORMATS] = Default::default();
        // A chunk's size line per tick and format (every listener's payload of a format is as
        // long, faded in or not).
        let mut sizes: [[Option<Bytes>; FORMATS]; RECENT_TICKS] = Default::default();
        let mut gone = Vec::new();
        let mut written = 0;
        let mut delivery = LocalHistogram::default();
        let ticks_per_write = body_ticks_per_write(self.body_listeners.load(Ordering::Relaxed));
        let shard = &self.shards[index];
        let mut listeners = shard.lock();
        // An HTTP stream listener in its phase's hold (each listener its own phase, by id, so
        // every tick writes to a share of them rather than every few ticks to all).
        let holds = |id: u64, slot: &Slot| {
            matches!(slot.sink, Sink::Body { .. })
                && !(tick.chunk.sequence + id + 1).is_multiple_of(ticks_per_write)
        };
        for (&id, slot) in listeners.iter_mut() {
            if holds(id, slot) {
                continue; // its ticks go out with its next turn's, from `recent`
            }
            let mut report = |delay| {
                written += 1;
                delivery.observe(delay);
            };
            let Slot {
                sink,
                format,
                fresh,
            } = slot;
            let offer = match sink {
                Sink::Socket(outbox) => {
                    // A fresh listener's frames are its own; the others' are shared per format.
                    let first;
                    let frames = if *fresh {
                        first = tick.frames(*format, true);
                        &first
                    } else {
                        frames[format.index()].get_or_insert_with(|| tick.frames(*format, false))
                    };
                    outbox.offer_tick(tick.chunk.sequence, tick.at, frames, false, &mut report)
                }
                Sink::Body { outbox, chunked } => {
                    let body = Body {
                        outbox,
                        chunked: *chunked,
                        format: *format,
                    };
                    offer_recent(recent, &body, fresh, &mut sizes, &mut report)
                }
                Sink::Queue { from, .. } if tick.chunk.sequence < *from => continue,
                Sink::Queue { ticks, .. } => {
                    match ticks.try_send(tick.clone()) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => gone.push((id, true)),
                        Err(mpsc::error::TrySendError::Closed(_)) => gone.push((id, false)),
                    }
                    continue;
                }
            };
            match offer {
                Offer::Written | Offer::Queued | Offer::Held => *fresh = false,
                Offer::Skipped => {}
                Offer::TooSlow => gone.push((id, true)),
            }
        }
        let mut removed = Vec::with_capacity(gone.len());
        let mut slow = 0;
        for (id, too_slow) in gone {
            if let Some(slot) = listeners.remove(&id) {
                removed.push(slot.format);
                self.forget_sink(&slot.sink);
                if too_slow {
                    slow += 1;
                    slot.sink.close(CloseReason::TooSlow);
                }
            }
        }
        drop(listeners);
        self.metrics.listener_chunks_sent.add(written);
        self.metrics.delivery.merge(&mut delivery);
        if !removed.is_empty() {
            let mut inner = self.lock();
            for format in &removed {
                inner.per_format[format.index()] -= 1;
            }
        }
        if slow > 0 {
            self.metrics.listeners_dropped.add(slow);
            tracing::warn!(
                dropped = slow,
                "dropped listeners that fell {QUEUE_TICKS} chunks (1 s) behind"
            );
        }
    }
}

/// An HTTP stream listener's socket and what its chunks look like.
#[derive(Clone, Copy)]
struct Body<'a> {
    outbox: &'a Outbox,
    chunked: bool,
    format: Format,
}

/// Offers an HTTP stream listener the ticks of `recent` it has not had (the outbox skips the
/// others), each as one pre-framed chunk (or bare, for HTTP/1.0), all in one write: every
/// tick but the newest held for it. The first it gets is faded in (`slot.fresh`). Says how
/// the newest went (or the first refusal).
fn offer_recent(
    recent: &[Arc<Tick>],
    body: &Body<'_>,
    fresh: &mut bool,
    sizes: &mut [[Option<Bytes>; FORMATS]; RECENT_TICKS],
    report: &mut dyn FnMut(std::time::Duration),
) -> Offer {
    let Body {
        outbox,
        chunked,
        format,
    } = *body;
    let mut last = Offer::Skipped;
    for (k, tick) in recent.iter().enumerate() {
        let hold = k + 1 < recent.len();
        let audio = if *fresh {
            tick.chunk.faded_in(format)
        } else {
            tick.chunk.get(format)
        };
        // No payload: the format failed this tick (the Opus stream); skip it.
        let Some(audio) = audio else { continue };
        let payload = &audio.payload;
        let (sequence, at) = (tick.chunk.sequence, tick.at);
        let offer = if chunked {
            let size: &Bytes = sizes[k][format.index()]
                .get_or_insert_with(|| streamed_body::size_line(payload.len()));
            outbox.offer_tick(
                sequence,
                at,
                &[size, payload, &streamed_body::CRLF],
                hold,
                report,
            )
        } else {
            outbox.offer_tick(sequence, at, &[payload], hold, report)
        };
        match offer {
            Offer::Written | Offer::Queued | Offer::Held => *fresh = false,
            Offer::Skipped => continue,
            Offer::TooSlow => return Offer::TooSlow,
        }
        last = offer;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_busy_count_http_listeners_get_five_ticks_a_write() {
        assert_eq!(body_ticks_per_write(0), 3);
        assert_eq!(body_ticks_per_write(BUSY_BODY_LISTENERS), 3);
        assert_eq!(body_ticks_per_write(BUSY_BODY_LISTENERS + 1), 5);
    }
}
