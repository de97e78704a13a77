//! The answer a connection over its address's cap gets: a 503, then a short linger so the
//! client reads it. Closing a socket whose request has not arrived yet makes the kernel
//! answer that request with a reset, and a reset throws away the 503 the client had not
//! read yet; so the refused socket says FIN and drains what the client sends for at most
//! [`LINGER`] before it closes. Lingering refusals are counted and capped, so a flood of
//! refused connections costs no more than [`MAX_LINGERING`] sockets for [`LINGER`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a refused connection is drained before it is closed.
const LINGER: Duration = Duration::from_secs(1);
/// Refused connections lingering at once; past this they are closed at once.
const MAX_LINGERING: usize = 64;

/// Refuses connections and counts those still lingering.
#[derive(Debug, Clone, Default)]
pub struct Refusals {
    lingering: Arc<AtomicUsize>,
}

/// A lingering refusal's place in the count; given back when dropped.
struct Lingering(Arc<AtomicUsize>);

impl Drop for Lingering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Refusals {
    /// Answers `socket` with a 503 naming `cap` (if the socket takes it at once; nothing
    /// waits on a client that is over its share) and closes it after a bounded linger.
    pub fn refuse(&self, socket: TcpStream, cap: usize) {
        let _ = socket.try_write(response(cap).as_bytes());
        if self.lingering.fetch_add(1, Ordering::Relaxed) >= MAX_LINGERING {
            self.lingering.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let place = Lingering(self.lingering.clone());
        tokio::spawn(async move {
            let _place = place;
            let mut socket = socket;
            let _ = socket.shutdown().await;
            let mut sink = [0u8; 1024];
            let drain = async {
                while let Ok(read) = socket.read(&mut sink).await {
                    if read == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(LINGER, drain).await;
        });
    }
}

/// The 503 for an address that holds `cap` connections.
fn response(cap: usize) -> String {
    let body = format!(
        "too many connections from your address (at most {cap}, [limits] \
         connections_per_address); close some and try again\n"
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
