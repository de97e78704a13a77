//! A WebSocket listener's outgoing bytes: whole frames written straight to its socket, in
//! order, by whichever side has them, and queued only while the socket is full.
//!
//! Server frames are unmasked, so a tick's frames are the same bytes for every listener and
//! are framed once (see [`super::encode::EncodedChunk::wire`]). The fan-out's sender threads
//! hand them to each listener's kernel socket with one non-blocking `writev`: no task wakes,
//! no copy, no per-listener framing. Only when the socket cannot take a tick whole do the
//! rest and later frames wait here, for the listener's session task to drain when the socket
//! drains. The session's own messages (hello, replies, pongs, close) go through the same
//! queue, so frames never interleave.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::fanout::{CloseReason, QUEUE_TICKS};

/// Frames handed to the kernel in one `writev` at most.
const SLICES_PER_WRITE: usize = 16;

/// What became of a tick offered to a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Written to the socket whole, `at` this long after the tick began.
    Written(std::time::Duration),
    /// Queued (partly or wholly) behind frames the socket has not taken yet.
    Queued,
    /// Already sent as part of the resume backlog (or the listener is closing).
    Skipped,
    /// A second of audio is waiting: the listener is too slow and must go.
    TooSlow,
}

/// One listener's socket and its queue of unwritten frames.
#[derive(Debug)]
pub struct Outbox {
    socket: Arc<TcpStream>,
    queue: Mutex<Queue>,
    /// Wakes the session task: frames to drain, or a close to send.
    wake: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    /// Frames not yet fully written; the front has `written` bytes on the wire already.
    frames: VecDeque<Queued>,
    written: usize,
    /// Ticks with frames still in `frames`.
    ticks: usize,
    /// The first sequence this listener still needs (ticks before it came in the backlog).
    next_sequence: u64,
    close: Option<CloseReason>,
}

#[derive(Debug)]
struct Queued {
    bytes: Bytes,
    /// Set on a tick's last frame: when the tick began (for the delivery histogram).
    ends_tick: Option<Instant>,
}

impl Outbox {
    /// An outbox writing to `socket`.
    pub fn new(socket: Arc<TcpStream>) -> Outbox {
        Outbox {
            socket,
            queue: Mutex::default(),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // No critical section panics halfway; a poisoned queue still holds whole frames.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The socket (the session reads from it).
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Offers tick `sequence` (its frames, in order) that began at `at`: written at once when
    /// nothing is queued and the socket takes it, else queued for the session to drain.
    pub fn offer_tick(&self, sequence: u64, at: Instant, frames: &[&Bytes]) -> Offer {
        let mut queue = self.lock();
        if sequence < queue.next_sequence || queue.close.is_some() {
            return Offer::Skipped;
        }
        queue.next_sequence = sequence + 1;
        if !queue.frames.is_empty() {
            if queue.ticks >= QUEUE_TICKS {
                return Offer::TooSlow;
            }
            queue.push_tick(frames, at);
            drop(queue);
            self.wake.notify_one();
            return Offer::Queued;
        }
        let mut array = [IoSlice::new(&[]); SLICES_PER_WRITE];
        let count = frames.len().min(SLICES_PER_WRITE);
        for (slice, frame) in array.iter_mut().zip(frames) {
            *slice = IoSlice::new(frame);
        }
        let total: usize = frames.iter().map(|f| f.len()).sum();
        let written = if count == frames.len() {
            self.socket.try_write_vectored(&array[..count]).unwrap_or(0)
        } else {
            0
        };
        if written == total {
            return Offer::Written(at.elapsed());
        }
        // Queue the rest: the socket is full (or nearly), the session drains it.
        queue.push_tick(frames, at);
        queue.written = written;
        queue.trim_written(&mut |_| {});
        drop(queue);
        self.wake.notify_one();
        Offer::Queued
    }

    /// Queues one of the session's own frames (hello, reply, pong, close) behind the rest.
    pub fn push(&self, frame: Bytes) {
        self.lock().frames.push_back(Queued {
            bytes: frame,
            ends_tick: None,
        });
    }

    /// Sets the first tick sequence this listener needs (after its backlog).
    pub fn start_at(&self, sequence: u64) {
        self.lock().next_sequence = sequence;
    }

    /// Asks the session to close for `reason`: whole frames not yet begun are dropped (a
    /// partly written one is finished, or the stream would be corrupt).
    pub fn close(&self, reason: CloseReason) {
        let mut queue = self.lock();
        queue.close = Some(reason);
        let keep = usize::from(queue.written > 0).min(queue.frames.len());
        queue.frames.truncate(keep);
        queue.ticks = queue
            .frames
            .iter()
            .filter(|f| f.ends_tick.is_some())
            .count();
        drop(queue);
        self.wake.notify_one();
    }

    /// Why the server wants this listener gone, once it does.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().close
    }

    /// Resolves when there is something for the session to do (frames or a close).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Writes queued frames until the queue is empty (`Ready(Ok)`) or the socket is full
    /// (`Pending`, woken when it drains). Reports each finished tick's delivery time to
    /// `delivered`.
    pub fn poll_drain(
        &self,
        cx: &mut Context<'_>,
        delivered: &mut dyn FnMut(std::time::Duration),
    ) -> Poll<io::Result<()>> {
        loop {
            match self.try_drain(delivered) {
                Ok(true) => return Poll::Ready(Ok(())),
                Ok(false) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.socket.poll_write_ready(cx))?;
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    /// One `writev` of queued frames; `Ok(true)` once nothing is queued.
    fn try_drain(&self, delivered: &mut dyn FnMut(std::time::Duration)) -> io::Result<bool> {
        let mut queue = self.lock();
        if queue.frames.is_empty() {
            return Ok(true);
        }
        let mut array = [IoSlice::new(&[]); SLICES_PER_WRITE];
        let mut count = 0;
        for (i, (slice, frame)) in array.iter_mut().zip(&queue.frames).enumerate() {
            let skip = if i == 0 { queue.written } else { 0 };
            *slice = IoSlice::new(&frame.bytes[skip..]);
            count += 1;
        }
        let written = self.socket.try_write_vectored(&array[..count])?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        queue.written += written;
        queue.trim_written(delivered);
        Ok(queue.frames.is_empty())
    }
}

impl Queue {
    fn push_tick(&mut self, frames: &[&Bytes], at: Instant) {
        for (i, frame) in frames.iter().enumerate() {
            self.frames.push_back(Queued {
                bytes: (*frame).clone(),
                ends_tick: (i + 1 == frames.len()).then_some(at),
            });
        }
        self.ticks += 1;
    }

    /// Pops the frames `written` covers, reporting each finished tick's delivery time.
    fn trim_written(&mut self, delivered: &mut dyn FnMut(std::time::Duration)) {
        while let Some(front) = self.frames.front() {
            if self.written < front.bytes.len() {
                break;
            }
            self.written -= front.bytes.len();
            if let Some(at) = front.ends_tick {
                self.ticks -= 1;
                delivered(at.elapsed());
            }
            self.frames.pop_front();
        }
    }
}
