//! The body of a `/stream.wav` or `/stream.opus` response, written straight to the socket.
//!
//! hyper sends the response head; from then on the fan-out's sender threads write each
//! tick's payload to the listener's socket themselves (one non-blocking `sendmsg` through
//! its [`Outbox`], the bytes made once per tick for every listener), as for a WebSocket.
//! The body hyper polls writes nothing: it waits for the head to be on the wire
//! ([`Handoff`](super::http_io::Handoff)), drains the outbox when the socket was full, and
//! ends the response when the fan-out lets the listener go. So a listener costs no task
//! wake-up per tick. An HTTP/1.1 body is chunked, each payload framed as one chunk by
//! [`frames`]; an HTTP/1.0 body is the bare bytes until the connection closes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use tokio::sync::{Notify, oneshot};

use super::close::CloseReason;
use super::metrics::Metrics;
use super::outbox::Outbox;
use super::{ResponseBody, SubscriptionGuard, socket_io};
use crate::station::Presence;

/// How long the stream's last bytes may take to drain when the daemon stops.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The end of every chunk of a chunked body.
pub const CRLF: Bytes = Bytes::from_static(b"\r\n");

/// The chunk-size line of a chunked body's chunk of `len` bytes.
pub fn size_line(len: usize) -> Bytes {
    Bytes::from(format!("{len:x}\r\n"))
}

/// `payload` as the frames its body takes: one chunk (size line, payload, CRLF) when
/// `chunked`, else the bare bytes.
pub fn frames(payload: &Bytes, chunked: bool) -> Vec<Bytes> {
    if chunked {
        vec![size_line(payload.len()), payload.clone(), CRLF]
    } else {
        vec![payload.clone()]
    }
}

/// What the body needs to run a listener's stream.
#[derive(Debug)]
pub struct Listener {
    /// Where the fan-out writes its bytes.
    pub outbox: Arc<Outbox>,
    /// Fires once hyper's response head is on the wire.
    pub head_sent: oneshot::Receiver<()>,
    /// Unsubscribes the listener when the body goes.
    pub guard: SubscriptionGuard,
    /// Its place among the listeners.
    pub presence: Presence,
    /// Ends the connection at once (a listener a second behind is not reading, so the
    /// response could never end cleanly).
    pub kick: Arc<Notify>,
}

/// The response body for `listener`; finished ticks count in `metrics`.
pub fn body(listener: Listener, metrics: Arc<Metrics>) -> ResponseBody {
    StreamedBody {
        run: Box::pin(run(listener, metrics)),
    }
    .boxed_unsync()
}

struct StreamedBody {
    run: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Body for StreamedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        // Every byte goes through the outbox; hyper only learns when the body ends.
        self.run.as_mut().poll(cx).map(|()| None)
    }
}

/// Drains `listener`'s outbox whenever the socket was full, until the fan-out lets it go
/// or the client leaves.
async fn run(mut listener: Listener, metrics: Arc<Metrics>) {
    let outbox = listener.outbox.clone();
    // The sender threads queue in the outbox until the head is out, then write directly.
    if listener.head_sent.await.is_err() {
        return;
    }
    let drain = || std::future::poll_fn(|cx| socket_io::poll_drain(&outbox, &metrics, cx));
    loop {
        match outbox.close_reason() {
            Some(CloseReason::TooSlow) => {
                listener.presence.set_reason("too slow");
                listener.kick.notify_one();
                return;
            }
            Some(CloseReason::ShuttingDown) => {
                // The last chunk begun is finished, so the chunked body ends cleanly.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain()).await;
                return;
            }
            None => {}
        }
        let drained = tokio::select! {
            biased;
            () = outbox.woken() => continue,
            drained = drain() => drained,
        };
        if drained.is_err() {
            // The client is gone: nothing more can reach it.
            listener.kick.notify_one();
            return;
        }
        outbox.woken().await;
    }
}
