//! A connection's socket as hyper sees it, shared with whoever takes the connection over
//! afterwards: a WebSocket session after its upgrade, or the fan-out's sender threads, which
//! write a `/stream.wav` or `/stream.opus` body straight to the socket once hyper has sent
//! the response head ([`Handoff`]).
//!
//! Reads and writes go straight to the shared [`TcpStream`] (no buffering here; hyper buffers
//! its own head). A flush is the one point where everything hyper wrote is on the wire, so
//! that is where a handoff fires.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Tells a body writer when hyper's response head is on the wire.
#[derive(Debug, Default)]
pub struct Handoff(Mutex<Option<oneshot::Sender<()>>>);

impl Handoff {
    /// Asks to be told at hyper's next flush (after the response head the handler is about
    /// to return has been written whole).
    pub fn arm(&self) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
        receiver
    }

    fn fire(&self) {
        let armed = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(sender) = armed {
            let _ = sender.send(());
        }
    }
}

/// One connection: its socket (shared) and its handoff.
#[derive(Debug)]
pub struct HttpIo {
    /// The socket; a WebSocket session or a body writer keeps a clone.
    pub socket: Arc<TcpStream>,
    /// Fired at hyper's next flush once armed.
    pub handoff: Arc<Handoff>,
}

impl HttpIo {
    /// The connection on `socket`.
    pub fn new(socket: TcpStream) -> HttpIo {
        HttpIo {
            socket: Arc::new(socket),
            handoff: Arc::default(),
        }
    }
}

/// Reads what `socket` has into `buf`, waiting (through tokio's readiness) when it has
/// nothing: a shared socket's `AsyncRead`, for hyper here and a WebSocket session.
pub fn poll_read_socket(
    socket: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    loop {
        ready!(socket.poll_read_ready(cx))?;
        match socket.try_read(buf.initialize_unfilled()) {
            Ok(read) => {
                buf.advance(read);
                return Poll::Ready(Ok(()));
            }
            // Readiness was stale; `try_read` cleared it, so the next poll waits.
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Poll::Ready(Err(error)),
        }
    }
}

impl AsyncRead for HttpIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_socket(&self.socket, cx, buf)
    }
}

impl AsyncWrite for HttpIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.socket.poll_write_ready(cx))?;
            match self.socket.try_write(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.socket.poll_write_ready(cx))?;
            match self.socket.try_write_vectored(bufs) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the kernel: hyper flushes only once its buffer is written.
        self.handoff.fire();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let socket = socket2::SockRef::from(&*self.socket);
        match socket.shutdown(std::net::Shutdown::Write) {
            // Already gone: nothing left to shut.
            Err(error) if error.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            result => Poll::Ready(result),
        }
    }
}
