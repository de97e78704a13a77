//! A WebSocket listener's outgoing bytes: whole frames written straight to its socket, in
//! order, by whichever side has them, and queued only while the socket is full.
//!
//! Server frames are unmasked, so a tick's frames are the same bytes for every listener and
//! are framed once (see [`super::encode::Encoded::framed`]). The fan-out's sender threads
//! hand them to each listener's kernel socket with one non-blocking `sendmsg`: no task wakes,
//! no copy, no per-listener framing. Only when the socket cannot take a tick whole do the
//! rest and later frames wait here, for the listener's session task to drain when the socket
//! drains. The session's own messages (hello, replies, pongs, close) go through the same
//! queue, so frames never interleave.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::close::{CloseReason, QUEUE_TICKS};

/// Frames handed to the kernel in one call at most.
const SLICES_PER_WRITE: usize = 16;

/// What became of a tick offered to a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Written to the socket whole (its delay went to the `delivered` callback).
    Written,
    /// Held, to go out with the next tick written.
    Held,
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
    /// The first sequence this listener still needs (ticks before it came in the backlog).
    next_sequence: u64,
    close: Option<CloseReason>,
    /// Whether `frames` are held ticks (none written yet), not ticks the socket refused.
    holding: bool,
}

#[derive(Debug)]
struct Queued {
    bytes: Bytes,
    /// Whether the frame is part of a tick (not one of the session's own messages).
    of_tick: bool,
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
    /// nothing is queued and the socket takes it, else queued for the session to drain. With
    /// `hold`, the tick waits (unwritten, no wake-up) to go out with the next tick offered
    /// without `hold`, in the same `sendmsg`: fewer, larger writes for listeners that buffer
    /// anyway. Each tick that reaches the socket whole here reports its delay to `delivered`:
    /// from `at`, and for held ticks from the `at` of the tick that releases them.
    pub fn offer_tick(
        &self,
        sequence: u64,
        at: Instant,
        frames: &[&Bytes],
        hold: bool,
        delivered: &mut dyn FnMut(Duration),
    ) -> Offer {
        let mut queue = self.lock();
        if sequence < queue.next_sequence || queue.close.is_some() {
            return Offer::Skipped;
        }
        queue.next_sequence = sequence + 1;
        if !queue.frames.is_empty() && !queue.holding {
            if queue.waiting_ticks() >= QUEUE_TICKS {
                return Offer::TooSlow;
            }
            queue.push_tick(frames, at);
            drop(queue);
            self.wake.notify_one();
            return Offer::Queued;
        }
        if hold {
            queue.push_tick(frames, at);
            queue.holding = true;
            return Offer::Held;
        }
        if queue.holding {
            // The held ticks were due with this one (the hold is by design): their delivery
            // time counts from now, as this tick's does.
            for frame in queue.frames.iter_mut() {
                if let Some(begun) = frame.ends_tick.as_mut() {
                    *begun = at;
                }
            }
        }
        queue.holding = false;
        let held = &queue.frames;
        let written = {
            let (array, count) = slices(
                held.iter()
                    .map(|f| &f.bytes[..])
                    .chain(frames.iter().map(|f| &f[..])),
            );
            if count == held.len() + frames.len() {
                // Straight to the socket (`sendmsg`), not through tokio's `writev`: the
                // cheapest call there is, made a thousand times a tick. A full socket
                // (`EAGAIN`) leaves tokio's readiness as it was; the session's drain goes
                // through tokio and learns it there, then waits for the socket to drain.
                socket2::SockRef::from(&*self.socket)
                    .send_vectored(&array[..count])
                    .unwrap_or(0)
            } else {
                0
            }
        };
        let total: usize = held.iter().map(|f| f.bytes.len()).sum::<usize>()
            + frames.iter().map(|f| f.len()).sum::<usize>();
        if written == total {
            for begun in queue.frames.drain(..).filter_map(|f| f.ends_tick) {
                delivered(begun.elapsed());
            }
            delivered(at.elapsed());
            return Offer::Written;
        }
        // Queue the rest: the socket is full (or nearly), the session drains it.
        queue.push_tick(frames, at);
        queue.written = written;
        queue.trim_written(delivered);
        drop(queue);
        self.wake.notify_one();
        Offer::Queued
    }

    /// Queues one of the session's own frames (hello, reply, pong, close) behind the rest.
    pub fn push(&self, frame: Bytes) {
        self.lock().frames.push_back(Queued {
            bytes: frame,
            of_tick: false,
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
        queue.holding = false;
        let keep = usize::from(queue.written > 0).min(queue.frames.len());
        queue.frames.truncate(keep);
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
        delivered: &mut dyn FnMut(Duration),
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
    fn try_drain(&self, delivered: &mut dyn FnMut(Duration)) -> io::Result<bool> {
        let mut queue = self.lock();
        if queue.frames.is_empty() {
            return Ok(true);
        }
        let skip = queue.written;
        let (array, count) = slices(
            queue
                .frames
                .iter()
                .enumerate()
                .map(|(i, f)| &f.bytes[if i == 0 { skip } else { 0 }..]),
        );
        let written = self.socket.try_write_vectored(&array[..count])?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        queue.written += written;
        queue.trim_written(delivered);
        Ok(queue.frames.is_empty())
    }
}

/// The first [`SLICES_PER_WRITE`] of `frames` as slices for one vectored write, and how many.
fn slices<'a>(frames: impl Iterator<Item = &'a [u8]>) -> ([IoSlice<'a>; SLICES_PER_WRITE], usize) {
    let mut array = [IoSlice::new(&[]); SLICES_PER_WRITE];
    let mut count = 0;
    for (slice, frame) in array.iter_mut().zip(frames) {
        *slice = IoSlice::new(frame);
        count += 1;
    }
    (array, count)
}

impl Queue {
    fn push_tick(&mut self, frames: &[&Bytes], at: Instant) {
        for (i, frame) in frames.iter().enumerate() {
            self.frames.push_back(Queued {
                bytes: (*frame).clone(),
                of_tick: true,
                ends_tick: (i + 1 == frames.len()).then_some(at),
            });
        }
    }

    /// Ticks queued and not yet begun (one partly on the wire is the socket's, not the
    /// queue's: the queue holds at most [`QUEUE_TICKS`] waiting, as a channel would).
    /// Counted, not kept: only a listener that is behind has a queue to count.
    fn waiting_ticks(&self) -> usize {
        let ticks = self.frames.iter().filter(|f| f.ends_tick.is_some()).count();
        let begun = self.written > 0 && self.frames.front().is_some_and(|f| f.of_tick);
        ticks.saturating_sub(usize::from(begun))
    }

    /// Pops the frames `written` covers, reporting each finished tick's delivery time.
    fn trim_written(&mut self, delivered: &mut dyn FnMut(Duration)) {
        while let Some(front) = self.frames.front() {
            if self.written < front.bytes.len() {
                break;
            }
            self.written -= front.bytes.len();
            if let Some(at) = front.ends_tick {
                delivered(at.elapsed());
            }
            self.frames.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use Duration;

    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    /// A connected loopback pair: the server end in an outbox, the client end to read.
    async fn pair() -> (Arc<Outbox>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // Small buffers, so a client that does not read fills them within a few ticks.
        socket2::SockRef::from(&server)
            .set_send_buffer_size(4096)
            .unwrap();
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(4096)
            .unwrap();
        (Arc::new(Outbox::new(Arc::new(server))), client)
    }

    fn frame(tick: u64, part: u8, len: usize) -> Bytes {
        let mut bytes = vec![part; len];
        bytes[..8].copy_from_slice(&tick.to_le_bytes());
        Bytes::from(bytes)
    }

    #[tokio::test]
    async fn a_full_socket_queues_whole_frames_in_order_until_a_second_is_waiting() {
        let (outbox, mut client) = pair().await;
        outbox.push(Bytes::from_static(b"hello"));
        outbox.start_at(3);
        let at = Instant::now();
        let (event, audio) = (frame(2, 1, 100), frame(2, 2, 12_000));
        assert_eq!(
            outbox.offer_tick(2, at, &[&event, &audio], false, &mut |_| {}),
            Offer::Skipped,
            "before the first live tick"
        );
        let mut expected = b"hello".to_vec();
        let mut offers = Vec::new();
        for tick in 3.. {
            let (event, audio) = (frame(tick, 1, 100), frame(tick, 2, 12_000));
            let offer = outbox.offer_tick(tick, at, &[&event, &audio], false, &mut |_| {});
            offers.push(offer);
            if offer == Offer::TooSlow {
                break;
            }
            expected.extend_from_slice(&event);
            expected.extend_from_slice(&audio);
            assert!(tick < 100, "never too slow: {offers:?}");
        }
        let queued = offers.iter().filter(|o| **o == Offer::Queued).count();
        assert_eq!(queued, QUEUE_TICKS, "{offers:?}");
        // The client reads everything: the queue drains whole and in order.
        let reader = tokio::spawn(async move {
            let mut got = vec![0; expected.len()];
            client.read_exact(&mut got).await.unwrap();
            assert!(got == expected, "bytes differ from the frames in order");
        });
        let mut delivered = 0;
        std::future::poll_fn(|cx| outbox.poll_drain(cx, &mut |_| delivered += 1))
            .await
            .unwrap();
        assert_eq!(delivered, QUEUE_TICKS);
        tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn held_ticks_go_out_with_the_next_tick_in_order() {
        let (outbox, mut client) = pair().await;
        let at = Instant::now();
        let ago = |ms| at.checked_sub(Duration::from_millis(ms)).unwrap();
        let (first, second, third) = (frame(0, 1, 100), frame(1, 2, 100), frame(2, 3, 100));
        let mut delivered = 0;
        let mut longest = Duration::ZERO;
        let mut count = |delay: Duration| {
            delivered += 1;
            longest = longest.max(delay);
        };
        assert_eq!(
            outbox.offer_tick(0, ago(200), &[&first], true, &mut count),
            Offer::Held
        );
        assert_eq!(
            outbox.offer_tick(1, ago(100), &[&second], true, &mut count),
            Offer::Held
        );
        let mut nothing = [0u8; 1];
        assert!(
            client.try_read(&mut nothing).is_err(),
            "held ticks are not written"
        );
        assert_eq!(
            outbox.offer_tick(2, at, &[&third], false, &mut count),
            Offer::Written
        );
        assert_eq!(delivered, 3, "every tick of the write reports its delay");
        assert!(
            longest < Duration::from_millis(100),
            "held ticks count from their release, not their making: {longest:?}"
        );
        let mut got = vec![0; 300];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [&first[..], &second[..], &third[..]].concat());
    }

    #[tokio::test]
    async fn close_keeps_a_partly_written_frame_and_drops_the_rest() {
        let (outbox, mut client) = pair().await;
        let at = Instant::now();
        let big = frame(0, 7, 200_000);
        assert_eq!(
            outbox.offer_tick(0, at, &[&big], false, &mut |_| {}),
            Offer::Queued
        );
        let small = frame(1, 8, 100);
        assert_eq!(
            outbox.offer_tick(1, at, &[&small], false, &mut |_| {}),
            Offer::Queued
        );
        outbox.close(CloseReason::TooSlow);
        assert_eq!(outbox.close_reason(), Some(CloseReason::TooSlow));
        assert_eq!(
            outbox.offer_tick(2, at, &[&small], false, &mut |_| {}),
            Offer::Skipped
        );
        outbox.push(Bytes::from_static(b"bye"));
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        std::future::poll_fn(|cx| outbox.poll_drain(cx, &mut |_| {}))
            .await
            .unwrap();
        drop(outbox);
        let got = reader.await.unwrap();
        let mut expected = big.to_vec();
        expected.extend_from_slice(b"bye");
        assert!(
            got == expected,
            "the begun frame is finished, then the close"
        );
    }
}
