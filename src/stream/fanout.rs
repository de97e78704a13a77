//! Fan-out: hands every tick to every listener without ever waiting for one, drops listeners
//! that fall a second behind, and keeps the last few seconds of ticks for `?resume=SEQ`.
//!
//! Listeners are spread over shards, one per sender thread (`ambientd-send-N`, one per core).
//! The pacer hands each tick to every sender thread; each writes it to its listeners' sockets
//! directly (WebSocket, `/stream.wav` and `/stream.opus` alike: [`Outbox`], one non-blocking
//! `sendmsg` of bytes made once per tick) and into its in-process consumers' queues (an
//! Icecast output), so the shards send in parallel and no listener costs a task wake-up per
//! tick. Nothing waits for a listener: one whose socket is full queues in its outbox, a
//! consumer in its channel, each at most [`QUEUE_TICKS`] ticks (1 s); past that it is
//! removed and told to close ([`CloseReason::TooSlow`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

pub use super::close::{CloseReason, QUEUE_TICKS};
use super::encode::{Encoders, FORMATS, Format};
use super::metrics::Metrics;
use super::outbox::Outbox;
use super::shard::{Inner, RECENT_TICKS, Shard, Shared, Sink, Slot};
pub use super::tick::Tick;
use super::{messages, streamed_body, wire};
use crate::station::{Broadcast, TickSink};

/// Ticks kept for listeners that reconnect with `?resume=SEQ` (5 s).
pub const RESUME_TICKS: usize = 50;
/// Sender threads at most (beyond a few cores the kernel's socket work is the limit).
const MAX_SENDERS: usize = 8;

/// A registered in-process consumer's end of the fan-out (an Icecast output).
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

/// The set of listeners, the recent ticks, and the threads that send.
pub struct Fanout {
    shared: Arc<Shared>,
    /// One per sender thread; empty: [`Fanout::broadcast`] delivers on the caller's thread.
    /// Emptied by [`Fanout::close_all`], which ends the threads.
    senders: Mutex<Vec<SyncSender<Arc<Tick>>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Whether ticks are delivered on the caller's thread (no sender threads).
    inline: bool,
    /// One encoder per format, run by the pacer's task (the only caller of `broadcast`).
    encoders: Mutex<Encoders>,
    /// The Ogg/Opus header pages (fixed for the stream's life), or why there is no Opus.
    opus_headers: Result<Bytes, String>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("inline", &self.inline)
            .finish_non_exhaustive()
    }
}

/// Sender threads for this machine: one per core, at most [`MAX_SENDERS`].
pub fn default_senders() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_SENDERS))
}

impl Fanout {
    /// An empty fan-out reporting to `metrics`, sending from `senders` threads (0: on the
    /// thread that calls [`Fanout::broadcast`], as unit tests want).
    pub fn new(metrics: Arc<Metrics>, senders: usize) -> Arc<Fanout> {
        let shared = Arc::new(Shared {
            inner: Mutex::default(),
            shards: (0..senders.max(1)).map(|_| Shard::default()).collect(),
            metrics,
            body_listeners: AtomicUsize::new(0),
        });
        let mut channels = Vec::with_capacity(senders);
        let mut threads = Vec::with_capacity(senders);
        for index in 0..senders {
            let (sender, ticks) = std::sync::mpsc::sync_channel::<Arc<Tick>>(QUEUE_TICKS);
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ambientd-send-{index}"))
                .spawn(move || {
                    // The last ticks, newest last: an HTTP stream listener gets those it has
                    // not had, in one write, when its turn comes.
                    let mut recent = VecDeque::with_capacity(RECENT_TICKS);
                    while let Ok(tick) = ticks.recv() {
                        if recent.len() == RECENT_TICKS {
                            recent.pop_front();
                        }
                        recent.push_back(tick);
                        shared.send_shard(index, recent.make_contiguous());
                    }
                });
            match thread {
                Ok(thread) => {
                    channels.push(sender);
                    threads.push(thread);
                }
                // Without threads (a starved system), the pacer delivers everything itself.
                Err(error) => {
                    tracing::error!(%error, "cannot start a sender thread; sending from the pacer");
                    channels.clear();
                    break;
                }
            }
        }
        let encoders = Encoders::default();
        if let Err(why) = encoders.opus_headers() {
            tracing::error!(reason = %why, "no Opus stream: /stream.opus and /ws?encoding=opus are refused");
        }
        Arc::new(Fanout {
            shared,
            inline: channels.is_empty(),
            senders: Mutex::new(channels),
            threads: Mutex::new(threads),
            opus_headers: encoders.opus_headers(),
            encoders: Mutex::new(encoders),
        })
    }

    /// The Ogg/Opus stream's OpusHead and OpusTags pages, the same for the fan-out's whole
    /// life; the error says why there is no Opus stream (then no Opus listener is taken).
    pub fn opus_headers(&self) -> Result<Bytes, String> {
        self.opus_headers.clone()
    }

    /// Sets `[stream] opus_bitrate` (bits per second) from the next tick on.
    pub fn set_opus_bitrate(&self, bitrate: u32) -> Result<(), String> {
        self.encoders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_opus_bitrate(bitrate)
    }

    /// Registers an in-process consumer of `format`. With `resume_after`, the held ticks after that
    /// sequence come back as a backlog, and live ticks follow on without a gap. `None` once
    /// closed.
    pub fn subscribe(&self, format: Format, resume_after: Option<u64>) -> Option<Subscription> {
        let (tick_tx, ticks) = mpsc::channel(QUEUE_TICKS);
        let (close_tx, close) = oneshot::channel();
        let mut inner = self.shared.lock();
        if inner.closed {
            return None;
        }
        let backlog = held_after(&inner, resume_after).cloned().collect();
        let next_sequence = inner.next_sequence;
        let sink = Sink::Queue {
            ticks: tick_tx,
            close: close_tx,
            from: next_sequence,
        };
        let id = self.register(&mut inner, format, sink, false);
        Some(Subscription {
            id,
            ticks,
            close,
            backlog,
            next_sequence,
        })
    }

    /// Registers a WebSocket listener writing through `outbox`: queues its `hello` (made for
    /// the sequence of the first live tick), then the held ticks after `resume_after`, and
    /// live ticks follow without a gap. Returns its id; `None` once closed.
    pub fn subscribe_socket(
        &self,
        format: Format,
        resume_after: Option<u64>,
        outbox: Arc<Outbox>,
        hello: impl FnOnce(u64) -> Bytes,
    ) -> Option<u64> {
        let mut inner = self.shared.lock();
        if inner.closed {
            return None;
        }
        outbox.push(hello(inner.next_sequence));
        for tick in held_after(&inner, resume_after) {
            for frame in tick.frames(format, false) {
                outbox.push(frame.clone());
            }
        }
        outbox.start_at(inner.next_sequence);
        // A resuming listener continues what it played: no fade-in.
        let fresh = resume_after.is_none();
        Some(self.register(&mut inner, format, Sink::Socket(outbox), fresh))
    }

    /// Registers the listener of an HTTP stream of `format` (`/stream.wav`, `/stream.opus`)
    /// writing through `outbox`: queues what `preamble` makes of the held ticks (the
    /// stream's header, a burst of recent audio), then live ticks follow without a gap, each
    /// payload one chunk when `chunked`. Returns its id; `None` once closed.
    pub fn subscribe_body(
        &self,
        format: Format,
        outbox: Arc<Outbox>,
        chunked: bool,
        preamble: impl FnOnce(&VecDeque<Arc<Tick>>) -> Vec<Bytes>,
    ) -> Option<u64> {
        let mut inner = self.shared.lock();
        if inner.closed {
            return None;
        }
        for bytes in preamble(&inner.history) {
            for frame in streamed_body::frames(&bytes, chunked) {
                outbox.push(frame);
            }
        }
        outbox.start_at(inner.next_sequence);
        let sink = Sink::Body { outbox, chunked };
        self.shared.body_listeners.fetch_add(1, Ordering::Relaxed);
        Some(self.register(&mut inner, format, sink, true))
    }

    fn register(&self, inner: &mut Inner, format: Format, sink: Sink, fresh: bool) -> u64 {
        let id = inner.next_id;
        inner.next_id += 1;
        inner.per_format[format.index()] += 1;
        self.shared.shard_of(id).lock().insert(
            id,
            Slot {
                sink,
                format,
                fresh,
            },
        );
        id
    }

    /// Removes a listener (when its connection ends).
    pub fn unsubscribe(&self, id: u64) {
        let removed = self.shared.shard_of(id).lock().remove(&id);
        if let Some(slot) = removed {
            self.shared.forget_sink(&slot.sink);
            self.shared.lock().per_format[slot.format.index()] -= 1;
        }
    }

    /// Whether anyone listens in each format, indexed by [`Format::index`].
    pub fn formats_in_use(&self) -> [bool; FORMATS] {
        self.shared.lock().per_format.map(|n| n > 0)
    }

    /// Sequence the next tick will carry.
    pub fn next_sequence(&self) -> u64 {
        self.shared.lock().next_sequence
    }

    /// Keeps an encoded `tick` for resume and hands it to every listener (through the sender
    /// threads, or at once without them). Never waits for a listener.
    pub fn deliver(&self, tick: Arc<Tick>) {
        {
            let mut inner = self.shared.lock();
            if inner.closed {
                return;
            }
            keep(&mut inner, &tick);
        }
        self.send(tick);
    }

    /// Hands `tick` to every listener. Never waits for a listener.
    fn send(&self, tick: Arc<Tick>) {
        if self.inline {
            let recent: Vec<Arc<Tick>> = {
                let inner = self.shared.lock();
                let held = inner.history.len().min(RECENT_TICKS);
                inner
                    .history
                    .iter()
                    .skip(inner.history.len() - held)
                    .cloned()
                    .collect()
            };
            // The history ends with `tick` (kept just before); an empty one: `tick` alone.
            let recent = if recent.is_empty() {
                vec![tick]
            } else {
                recent
            };
            for index in 0..self.shared.shards.len() {
                self.shared.send_shard(index, &recent);
            }
            return;
        }
        let senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        for (index, sender) in senders.iter().enumerate() {
            if let Err(TrySendError::Full(_)) = sender.try_send(tick.clone()) {
                // A second of ticks not yet sent: the machine cannot keep up with this many
                // listeners. Those of this shard miss the tick (they see the gap).
                tracing::error!(
                    shard = index,
                    sequence = tick.chunk.sequence,
                    "sender thread a second behind; its listeners miss a chunk"
                );
            }
        }
    }

    /// Tells every listener to go, refuses new ones and ends the sender threads (shutdown).
    pub fn close_all(&self) {
        let mut inner = self.shared.lock();
        inner.closed = true;
        inner.per_format = [0; FORMATS];
        self.shared.body_listeners.store(0, Ordering::Relaxed);
        for shard in &self.shared.shards {
            for (_, slot) in shard.lock().drain() {
                slot.sink.close(CloseReason::ShuttingDown);
            }
        }
        drop(inner);
        self.stop_senders();
    }

    /// Closes the sender threads' channels and waits for them to finish their tick.
    fn stop_senders(&self) {
        self.senders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl TickSink for Fanout {
    /// Encodes the tick once in each format that has listeners, frames its events, keeps it
    /// for resume and hands it to every listener. The encoding happens under the fan-out's
    /// lock: a listener that subscribes meanwhile waits for it and then finds its format
    /// in this tick, so no listener starts with a gap.
    fn broadcast(&self, tick: Broadcast<'_>) {
        let events = tick.events.iter().filter_map(messages::event).collect();
        let mut encoders = self.encoders.lock().unwrap_or_else(|e| e.into_inner());
        let mut inner = self.shared.lock();
        if inner.closed {
            return;
        }
        let in_use = inner.per_format.map(|n| n > 0);
        let chunk = encoders.encode(
            tick.samples,
            tick.sequence,
            tick.timestamp_ms,
            &in_use,
            wire::header_into,
        );
        drop(encoders);
        let tick = Arc::new(Tick::new(tick.at, chunk, events));
        keep(&mut inner, &tick);
        drop(inner);
        self.send(tick);
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.stop_senders();
    }
}

/// Holds `tick` for resume (the last [`RESUME_TICKS`]) and moves the sequence on.
fn keep(inner: &mut Inner, tick: &Arc<Tick>) {
    inner.next_sequence = tick.chunk.sequence + 1;
    if inner.history.len() == RESUME_TICKS {
        inner.history.pop_front();
    }
    inner.history.push_back(tick.clone());
}

/// The held ticks after `resume_after`, oldest first (none without it).
fn held_after(inner: &Inner, resume_after: Option<u64>) -> impl Iterator<Item = &Arc<Tick>> {
    inner
        .history
        .iter()
        .filter(move |tick| resume_after.is_some_and(|after| tick.chunk.sequence > after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::CHUNK_SAMPLES;
    use crate::stream::encode::encode_chunk;

    fn tick(sequence: u64) -> Arc<Tick> {
        Arc::new(Tick::new(
            std::time::Instant::now(),
            encode_chunk(&[0.0; CHUNK_SAMPLES], sequence, 0, wire::header_into),
            Vec::new(),
        ))
    }

    #[test]
    fn a_full_queue_drops_only_that_listener() {
        let metrics = Arc::new(Metrics::default());
        let fanout = Fanout::new(metrics.clone(), 0);
        let mut reader = fanout.subscribe(Format::default(), None).unwrap();
        let mut stalled = fanout.subscribe(Format::default(), None).unwrap();
        for sequence in 0..=QUEUE_TICKS as u64 {
            fanout.deliver(tick(sequence));
            let dropped = metrics.listeners_dropped.get();
            assert_eq!(dropped, u64::from(sequence == QUEUE_TICKS as u64));
            assert_eq!(reader.ticks.try_recv().unwrap().chunk.sequence, sequence);
        }
        assert_eq!(stalled.close.try_recv(), Ok(CloseReason::TooSlow));
        fanout.deliver(tick(11));
        assert_eq!(reader.ticks.try_recv().unwrap().chunk.sequence, 11);
    }

    #[test]
    fn resume_returns_held_ticks_then_live_ones_without_a_gap() {
        let fanout = Fanout::new(Arc::default(), 0);
        for sequence in 0..(RESUME_TICKS as u64 + 5) {
            fanout.deliver(tick(sequence));
        }
        let mut late = fanout.subscribe(Format::default(), Some(50)).unwrap();
        let held: Vec<u64> = late.backlog.iter().map(|t| t.chunk.sequence).collect();
        assert_eq!(held, [51, 52, 53, 54]);
        assert_eq!(late.next_sequence, 55);
        fanout.deliver(tick(55));
        assert_eq!(late.ticks.try_recv().unwrap().chunk.sequence, 55);
        // Too old: only what is held comes back.
        let old = fanout.subscribe(Format::default(), Some(0)).unwrap();
        assert_eq!(old.backlog.len(), RESUME_TICKS);
        assert_eq!(old.backlog[0].chunk.sequence, 6);
    }

    #[test]
    fn formats_in_use_follow_subscriptions() {
        let fanout = Fanout::new(Arc::default(), 0);
        let stereo = Format {
            channels: 2,
            ..Format::default()
        };
        let listener = fanout.subscribe(stereo, None).unwrap();
        let mut expected = [false; FORMATS];
        expected[stereo.index()] = true;
        assert_eq!(fanout.formats_in_use(), expected);
        fanout.unsubscribe(listener.id);
        assert_eq!(fanout.formats_in_use(), [false; FORMATS]);
        fanout.close_all();
        assert!(fanout.subscribe(Format::default(), None).is_none());
    }
}
