//! `/stream.opus`: an endless Ogg/Opus body (48 kHz stereo), and the same stream for an
//! in-process consumer (an Icecast source output).
//!
//! Every listener gets the stream's header pages (OpusHead, OpusTags: made once, never
//! changed), then a burst of the most recent pages (up to [`BURST_TICKS`], so a player
//! starts at once), then each tick's page as the fan-out shares it. All listeners get the
//! same page bytes; one joining mid-stream sees page sequence numbers and granule positions
//! jump from the headers to its first page, as with any live Ogg stream (Icecast's too).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};

use super::encode::OGG_OPUS;
use super::fanout::{Fanout, Subscription, Tick};
use super::metrics::Metrics;
use super::{ResponseBody, SubscriptionGuard};
use crate::station::Presence;

/// Recent pages a new listener gets at once (1 s of audio, ~12 kB at 96 kbit/s).
pub const BURST_TICKS: usize = 10;

/// A new consumer of the Ogg/Opus stream: write `headers`, then `burst` in order, then the
/// page of every tick from `subscription.ticks` ([`page`]); the bytes form one valid Ogg
/// stream. Unsubscribe (`Fanout::unsubscribe(subscription.id)`) when done.
#[derive(Debug)]
pub struct OggListener {
    /// The OpusHead and OpusTags pages (the same for the daemon's whole life).
    pub headers: Bytes,
    /// The most recent pages, oldest first (at most [`BURST_TICKS`]; none when nobody
    /// listened in Opus just before).
    pub burst: Vec<Bytes>,
    /// The live ticks, starting just after the burst. Its `backlog` is empty (the burst
    /// holds what of it has pages). A consumer a second behind is dropped (`close` fires
    /// with `TooSlow`), like any listener.
    pub subscription: Subscription,
}

/// Subscribes a consumer of the Ogg/Opus stream. The error says why it cannot be had: no
/// Opus encoder in this daemon (with libopus's reason), or the daemon shutting down.
pub fn subscribe(fanout: &Fanout) -> Result<OggListener, String> {
    let headers = fanout
        .opus_headers()
        .map_err(|why| format!("no Opus stream: {why}"))?;
    let resume_after = fanout.next_sequence().checked_sub(BURST_TICKS as u64 + 1);
    let mut subscription = fanout
        .subscribe(OGG_OPUS, Some(resume_after.unwrap_or(0)))
        .ok_or_else(|| "server shutting down".to_string())?;
    let backlog = std::mem::take(&mut subscription.backlog);
    // Only the unbroken run of pages just before the live ones: older ones belong to an
    // earlier stretch of the stream (before a pause without listeners).
    let mut burst: Vec<Bytes> = backlog
        .iter()
        .rev()
        .map_while(|tick| page(tick).cloned())
        .take(BURST_TICKS)
        .collect();
    burst.reverse();
    Ok(OggListener {
        headers,
        burst,
        subscription,
    })
}

/// The Ogg page of `tick` (`None` if the Opus stream had none for it: it failed).
pub fn page(tick: &Tick) -> Option<&Bytes> {
    tick.chunk.get(OGG_OPUS).map(|encoded| &encoded.payload)
}

/// The response body: headers, burst, then each tick's page until the server closes it.
struct OggBody {
    pending: VecDeque<Bytes>,
    subscription: Subscription,
    closed: bool,
    metrics: Arc<Metrics>,
    _guard: SubscriptionGuard,
    _place: Presence,
}

impl Body for OggBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(bytes) = this.pending.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        if this.closed || Pin::new(&mut this.subscription.close).poll(cx).is_ready() {
            this.closed = true;
            return Poll::Ready(None);
        }
        loop {
            let tick = match this.subscription.ticks.poll_recv(cx) {
                Poll::Ready(Some(tick)) => tick,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            if let Some(page) = page(&tick) {
                this.metrics.listener_chunks_sent.add(1);
                return Poll::Ready(Some(Ok(Frame::data(page.clone()))));
            }
        }
    }
}

/// The body of a `/stream.opus` response for `listener`, present as `place`.
pub fn body(
    fanout: &Arc<Fanout>,
    listener: OggListener,
    metrics: Arc<Metrics>,
    place: Presence,
) -> ResponseBody {
    let guard = SubscriptionGuard::new(fanout.clone(), listener.subscription.id);
    let mut pending = VecDeque::with_capacity(1 + listener.burst.len());
    pending.push_back(listener.headers);
    pending.extend(listener.burst);
    OggBody {
        pending,
        subscription: listener.subscription,
        closed: false,
        metrics,
        _guard: guard,
        _place: place,
    }
    .boxed_unsync()
}
