//! The WebSocket session's view of its socket, for tungstenite: reads come straight from the
//! socket, writes (hello, replies, pongs, close) join the listener's [`Outbox`] so they stay
//! in order with the audio frames the fan-out writes there.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::metrics::Metrics;
use super::outbox::Outbox;

/// A listener's socket as tungstenite sees it.
#[derive(Debug)]
pub struct SessionIo {
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
}

impl SessionIo {
    /// The session side of `outbox`; ticks it finishes writing count in `metrics`.
    pub fn new(outbox: Arc<Outbox>, metrics: Arc<Metrics>) -> SessionIo {
        SessionIo { outbox, metrics }
    }
}

/// Writes what `outbox` holds until it is empty or the socket is full; ticks finished on the
/// way count as sent and their delivery time is observed.
pub fn poll_drain(
    outbox: &Outbox,
    metrics: &Metrics,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    outbox.poll_drain(cx, &mut |delay| {
        metrics.listener_chunks_sent.add(1);
        metrics.delivery.observe(delay);
    })
}

impl AsyncRead for SessionIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        super::http_io::poll_read_socket(self.outbox.socket(), cx, buf)
    }
}

impl AsyncWrite for SessionIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // tungstenite writes whole frames from its buffer; they are small (control messages).
        self.outbox.push(Bytes::copy_from_slice(buf));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_drain(&self.outbox, &self.metrics, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(poll_drain(&self.outbox, &self.metrics, cx))?;
        let socket = socket2::SockRef::from(self.outbox.socket());
        Poll::Ready(socket.shutdown(std::net::Shutdown::Write))
    }
}
