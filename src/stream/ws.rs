//! One WebSocket listener's session: reads and answers what the client sends, writes what
//! the fan-out could not hand its socket at once, and closes with a reason when the server
//! wants it gone. The hello, the resume backlog and the live ticks reach the socket through
//! the listener's [`Outbox`] (see [`super::fanout`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use super::encode::Format;
use super::fanout::CloseReason;
use super::messages::ClientRequest;
use super::outbox::Outbox;
use super::socket_io::{self, SessionIo};
use super::{StreamState, SubscriptionGuard, messages, wire};
use crate::station::Presence;

/// The close code for a listener dropped for being slow (application range 4000-4999).
pub const CLOSE_TOO_SLOW: u16 = 4000;
/// The close reason for `encoding=opus` in a daemon without an Opus encoder (a close
/// reason holds at most 123 bytes; the log has libopus's own words).
pub const OPUS_UNAVAILABLE: &str = "encoding=opus is unavailable: this daemon has no Opus encoder (see its log); use binary or json";
/// How long a closing handshake may take before the connection is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

type Socket = WebSocketStream<SessionIo>;

/// Settings for server-side sockets: clients only send small control messages, so the read
/// buffer is small (the default 128 KiB per listener would dominate memory at scale).
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .max_message_size(Some(64 << 10))
        .max_frame_size(Some(64 << 10))
        .max_write_buffer_size(4 << 20)
}

/// How a session ended.
enum Ending {
    /// The server asked it to close.
    Close(CloseReason),
    /// The client went away or the connection failed.
    Gone,
}

/// Runs a listener's session to its end, on `stream` (just upgraded; `read` holds bytes the
/// HTTP server read past the request).
pub async fn serve(
    stream: TcpStream,
    read: Bytes,
    state: Arc<StreamState>,
    format: Format,
    resume: Option<u64>,
    mut presence: Presence,
    web_control: bool,
) {
    let outbox = Arc::new(Outbox::new(Arc::new(stream)));
    let io = SessionIo::new(outbox.clone(), state.metrics.clone());
    let mut ws =
        WebSocketStream::from_partially_read(io, read.to_vec(), Role::Server, Some(config())).await;
    let hello = |next_sequence| {
        let station = state.station.snapshot();
        wire::text(messages::hello(
            format,
            &station,
            next_sequence,
            web_control,
        ))
    };
    if format.encoding.is_opus()
        && let Err(why) = state.fanout.opus_headers()
    {
        tracing::warn!(reason = %why, "encoding=opus refused: no Opus encoder");
        let frame = CloseFrame {
            code: CloseCode::Unsupported,
            reason: OPUS_UNAVAILABLE.into(),
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(Some(frame))).await;
        return;
    }
    let Some(id) = state
        .fanout
        .subscribe_socket(format, resume, outbox.clone(), hello)
    else {
        close(&mut ws, CloseReason::ShuttingDown).await;
        return;
    };
    let _guard = SubscriptionGuard::new(state.fanout.clone(), id);
    state.metrics.websocket_connections.add(1);
    let ending = session(&mut ws, &outbox, &state, web_control).await;
    if let Ending::Close(reason) = ending {
        if reason == CloseReason::TooSlow {
            presence.set_reason("too slow");
        }
        close(&mut ws, reason).await;
    }
}

async fn session(
    ws: &mut Socket,
    outbox: &Outbox,
    state: &StreamState,
    web_control: bool,
) -> Ending {
    // The hello and any resume backlog are queued already: send them now, not with the
    // next tick.
    if let Err(ending) = pump(outbox, state).await {
        return ending;
    }
    loop {
        tokio::select! {
            biased;
            () = outbox.woken() => {
                if let Err(ending) = pump(outbox, state).await {
                    return ending;
                }
            }
            incoming = ws.next() => {
                let reply = match incoming {
                    Some(Ok(Message::Text(text))) => match answer(&text, state, web_control) {
                        Some(reply) => reply,
                        None => continue,
                    },
                    Some(Ok(Message::Binary(_))) => {
                        messages::error("binary messages are not accepted; send JSON text")
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ending::Gone,
                    // Pings are answered by tungstenite itself.
                    Some(Ok(_)) => continue,
                };
                if ws.send(Message::Text(reply)).await.is_err() {
                    return Ending::Gone;
                }
            }
        }
    }
}

/// Writes what the outbox holds as the socket drains, until it is empty; a close the fan-out
/// asks for (a listener a second behind never drains) ends the wait at once.
async fn pump(outbox: &Outbox, state: &StreamState) -> Result<(), Ending> {
    loop {
        if let Some(reason) = outbox.close_reason() {
            return Err(Ending::Close(reason));
        }
        tokio::select! {
            biased;
            () = outbox.woken() => {}
            drained = std::future::poll_fn(|cx| socket_io::poll_drain(outbox, &state.metrics, cx)) => {
                return drained.map_err(|_| Ending::Gone);
            }
        }
    }
}

/// The reply to a client's text message; `None` for an accepted `set`, whose `params`
/// message reaches every listener (this one included) with the next chunk.
fn answer(text: &str, state: &StreamState, web_control: bool) -> Option<messages::Utf8Bytes> {
    match messages::classify_client_message(text) {
        ClientRequest::Set(ambientctl::Request::Set { param, value }) if web_control => match state
            .station
            .update_params(|current| ambientctl::apply_set(current, param, &value))
        {
            Ok(_) => None,
            Err(message) => Some(messages::error(&message)),
        },
        ClientRequest::Set(_) => Some(messages::reply_to_client(text)),
        ClientRequest::Reply(reply) => Some(reply),
    }
}

/// Sends a close frame with the reason, waiting at most [`CLOSE_TIMEOUT`].
async fn close(ws: &mut Socket, reason: CloseReason) {
    let frame = match reason {
        CloseReason::TooSlow => CloseFrame {
            code: CloseCode::from(CLOSE_TOO_SLOW),
            reason: "too slow: 1 s of audio queued unread; reconnect with ?resume=SEQ".into(),
        },
        CloseReason::ShuttingDown => CloseFrame {
            code: CloseCode::Away,
            reason: "server shutting down".into(),
        },
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(Some(frame))).await;
}
