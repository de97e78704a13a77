//! One WebSocket listener's session: `hello`, the resume backlog, then live ticks, while
//! answering what the client sends; closed with a reason when the server wants it gone.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::encode::Format;
use super::fanout::{CloseReason, Subscription, Tick};
use super::messages::ClientRequest;
use super::{Presence, StreamState, SubscriptionGuard, messages};

/// The close code for a listener dropped for being slow (application range 4000-4999).
pub const CLOSE_TOO_SLOW: u16 = 4000;
/// How long a closing handshake may take before the connection is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

type Socket = WebSocketStream<TokioIo<Upgraded>>;

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

/// Runs a listener's session to its end.
pub async fn serve(
    mut ws: Socket,
    state: Arc<StreamState>,
    format: Format,
    resume: Option<u64>,
    mut presence: Presence,
    web_control: bool,
) {
    let Some(mut subscription) = state.fanout.subscribe(format, resume) else {
        close(&mut ws, CloseReason::ShuttingDown).await;
        return;
    };
    let _guard = SubscriptionGuard::new(state.fanout.clone(), subscription.id);
    state.metrics.websocket_connections.add(1);
    let ending = session(&mut ws, &state, format, &mut subscription, web_control).await;
    if let Ending::Close(reason) = ending {
        if reason == CloseReason::TooSlow {
            presence.set_reason("too slow");
        }
        close(&mut ws, reason).await;
    }
}

async fn session(
    ws: &mut Socket,
    state: &StreamState,
    format: Format,
    subscription: &mut Subscription,
    web_control: bool,
) -> Ending {
    let info = state.hello_info(subscription.next_sequence, web_control);
    let hello = messages::hello(format, &info);
    if ws.send(Message::Text(hello)).await.is_err() {
        return Ending::Gone;
    }
    for tick in std::mem::take(&mut subscription.backlog) {
        if send_tick(ws, &tick, format, state).await.is_err() {
            return Ending::Gone;
        }
    }
    loop {
        tokio::select! {
            biased;
            reason = &mut subscription.close => {
                return Ending::Close(reason.unwrap_or(CloseReason::ShuttingDown));
            }
            tick = subscription.ticks.recv() => {
                let Some(tick) = tick else {
                    return Ending::Close(CloseReason::ShuttingDown);
                };
                // A client that stops reading blocks this send; the fan-out notices its queue
                // filling and fires `close`, which ends the wait.
                tokio::select! {
                    sent = send_tick(ws, &tick, format, state) => {
                        if sent.is_err() {
                            return Ending::Gone;
                        }
                        state.metrics.delivery.observe(tick.at.elapsed());
                    }
                    reason = &mut subscription.close => {
                        return Ending::Close(reason.unwrap_or(CloseReason::ShuttingDown));
                    }
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

/// The reply to a client's text message; `None` for an accepted `set`, whose `params`
/// message reaches every listener (this one included) with the next chunk.
fn answer(text: &str, state: &StreamState, web_control: bool) -> Option<messages::Utf8Bytes> {
    match messages::classify_client_message(text) {
        ClientRequest::Set(ambientctl::Request::Set { param, value }) if web_control => {
            match state.update_params(|current| ambientctl::apply_set(current, param, &value)) {
                Ok(_) => None,
                Err(message) => Some(messages::error(&message)),
            }
        }
        ClientRequest::Set(_) => Some(messages::reply_to_client(text)),
        ClientRequest::Reply(reply) => Some(reply),
    }
}

async fn send_tick(
    ws: &mut Socket,
    tick: &Tick,
    format: Format,
    state: &StreamState,
) -> Result<(), WsError> {
    for event in &tick.events {
        ws.feed(Message::Text(event.clone())).await?;
    }
    ws.feed(tick.chunk.message(format)).await?;
    ws.flush().await?;
    state.metrics.listener_chunks_sent.add(1);
    Ok(())
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
