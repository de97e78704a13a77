//! One WebSocket listener's session: reads and answers what the client sends, writes what
//! the fan-out could not hand its socket at once, and closes with a reason when the server
//! wants it gone. The hello, the resume backlog and the live ticks reach the socket through
//! the listener's [`Outbox`] (see [`super::fanout`]).
//!
//! Close codes: the client's own close is echoed; a frame or message over
//! `[limits] max_message_bytes` is closed with 1009, invalid UTF-8 in a text message with 1007,
//! any other protocol violation with 1002; the server's own reasons are 4000 (too slow) and
//! 1001 (shutting down). A client's `set`s are rate-limited ([`SetRate`]), and answered
//! only once durable: the `params` that answers one rides the first tick after the save, and
//! a failed save gets an `error` saying so (the session waits for it without stalling).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::encode::Format;
use super::fanout::CloseReason;
use super::limits::SetRate;
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
/// The wait for an accepted `set`'s save ([`crate::station::Station::until_saved`]).
type Saving<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Settings for server-side sockets: clients only send small control messages, so the read
/// buffer is small (the default 128 KiB per listener would dominate memory at scale), and
/// nothing larger than `max_message_bytes` is accepted.
pub fn config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
        .max_write_buffer_size(4 << 20)
}

/// How a session ended.
enum Ending {
    /// The server asked it to close.
    Close(CloseReason),
    /// The client sent a close frame: echo it.
    ClosedByClient,
    /// The client broke the protocol: close with this code and reason.
    Violation(CloseCode, &'static str),
    /// The client went away or the connection failed.
    Gone,
}

/// The close a read error calls for; `None` when the connection itself failed.
fn violation(error: &WsError) -> Option<Ending> {
    Some(match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => Ending::Violation(
            CloseCode::Size,
            "message too large (see [limits] max_message_bytes)",
        ),
        WsError::Capacity(_) => Ending::Violation(CloseCode::Size, "frame too large"),
        WsError::Utf8(_) => Ending::Violation(CloseCode::Invalid, "text message is not UTF-8"),
        WsError::Protocol(_) => Ending::Violation(CloseCode::Protocol, "protocol violation"),
        _ => return None,
    })
}

/// What a session knows about its client besides the socket.
struct Client {
    peer: SocketAddr,
    web_control: bool,
    sets: SetRate,
    sets_per_second: u32,
}

/// Runs a listener's session to its end, on `stream` (just upgraded; `read` holds bytes the
/// HTTP server read past the request).
pub async fn serve(
    stream: Arc<TcpStream>,
    read: Bytes,
    state: Arc<StreamState>,
    format: Format,
    resume: Option<u64>,
    mut presence: Presence,
    web_control: bool,
) {
    let peer = presence.addr();
    let limits = state.limits();
    let outbox = Arc::new(Outbox::new(stream));
    let io = SessionIo::new(outbox.clone(), state.metrics.clone());
    let config = config(limits.max_message_bytes);
    let mut ws =
        WebSocketStream::from_partially_read(io, read.to_vec(), Role::Server, Some(config)).await;
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
    let mut client = Client {
        peer,
        web_control,
        sets: SetRate::new(limits.sets_per_second),
        sets_per_second: limits.sets_per_second,
    };
    let ending = session(&mut ws, &outbox, &state, &mut client).await;
    if client.sets.refused > 1 {
        tracing::info!(listener = %peer, refused = client.sets.refused, "sets refused for coming too fast");
    }
    match ending {
        Ending::Close(reason) => {
            if reason == CloseReason::TooSlow {
                presence.set_reason("too slow");
            }
            close(&mut ws, reason).await;
        }
        // tungstenite queued the echo when it read the client's close: flushing hands it to
        // the outbox (and then reports the connection closed before draining it), so the
        // outbox is drained here.
        Ending::ClosedByClient => {
            let echo = async {
                let _ = ws.flush().await;
                let drain =
                    std::future::poll_fn(|cx| socket_io::poll_drain(&outbox, &state.metrics, cx));
                let _ = drain.await;
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, echo).await;
        }
        Ending::Violation(code, reason) => {
            presence.set_reason(reason);
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(Some(frame))).await;
        }
        Ending::Gone => {}
    }
}

async fn session(
    ws: &mut Socket,
    outbox: &Outbox,
    state: &StreamState,
    client: &mut Client,
) -> Ending {
    // The hello and any resume backlog are queued already: send them now, not with the
    // next tick.
    if let Err(ending) = pump(outbox, state).await {
        return ending;
    }
    // The save of this client's latest accepted `set`; a later one replaces it (its wait
    // covers every change before it).
    let mut saving: Option<Saving<'_>> = None;
    loop {
        tokio::select! {
            biased;
            () = outbox.woken() => {
                if let Err(ending) = pump(outbox, state).await {
                    return ending;
                }
            }
            saved = async { saving.as_mut().expect("guarded by the condition").await },
                if saving.is_some() =>
            {
                saving = None;
                if let Err(refusal) = saved
                    && ws.send(Message::Text(messages::error(&refusal))).await.is_err()
                {
                    return Ending::Gone;
                }
            }
            incoming = ws.next() => {
                let reply = match incoming {
                    Some(Ok(Message::Text(text))) => match answer(&text, state, client) {
                        Some(reply) => reply,
                        None => {
                            saving = Some(Box::pin(state.station.until_saved()));
                            continue;
                        }
                    },
                    Some(Ok(Message::Binary(_))) => {
                        messages::error("binary messages are not accepted; send JSON text")
                    }
                    Some(Ok(Message::Close(_))) => return Ending::ClosedByClient,
                    Some(Err(error)) => return violation(&error).unwrap_or(Ending::Gone),
                    None => return Ending::Gone,
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
/// message reaches every listener (this one included) with the first chunk after the save.
fn answer(text: &str, state: &StreamState, client: &mut Client) -> Option<Utf8Bytes> {
    match messages::classify_client_message(text) {
        ClientRequest::Set(ambientctl::Request::Set { .. })
            if client.web_control && !client.sets.admit(Instant::now()) =>
        {
            state.metrics.sets_refused.add(1);
            // Logged once per client; the session's end logs how many in all.
            if client.sets.refused == 1 {
                tracing::warn!(listener = %client.peer, "set refused: faster than [limits] sets_per_second");
            }
            Some(messages::error(&format!(
                "set refused: more than {} a second (see [limits] sets_per_second in the \
                 daemon's config); this change was not applied",
                client.sets_per_second
            )))
        }
        ClientRequest::Set(ambientctl::Request::Set { param, value }) if client.web_control => {
            match state
                .station
                .update_params(|current| ambientctl::apply_set(current, param, &value))
            {
                Ok(_) => None,
                Err(message) => Some(messages::error(&message)),
            }
        }
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
