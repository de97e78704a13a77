//! The HTTP front on the daemon's one port: routes, query parsing, WebSocket upgrades.
//!
//! `/ws` (WebSocket audio), `/stream.wav`, `/stream.opus`, `/healthz`, `/metrics`, `/api/status`, `/`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::encode;
use super::fanout::Tick;
use super::http_io::{Handoff, HttpIo};
use super::outbox::Outbox;
use super::query::parse_ws_query;
use super::{
    ClientOrigin, ResponseBody, StreamState, SubscriptionGuard, ogg_stream, status, streamed_body,
    wav, ws,
};
use crate::station::Presence;

/// Kernel send buffer asked for on each connection. Small on purpose: the per-listener queue
/// (1 s) is the buffer that counts, and a large socket buffer would hide a stalled client
/// from it for many seconds.
pub const SEND_BUFFER_BYTES: usize = 32 << 10;
/// The most header lines a request may have (431 beyond).
pub const MAX_HEADERS: usize = 128;
/// The most bytes a request head may have, request line included (431 beyond).
pub const MAX_HEADER_BYTES: usize = 32 << 10;
/// How long a connection may take to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

fn full(body: impl Into<Bytes>) -> ResponseBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response<ResponseBody> {
    let mut text = text.into();
    text.push('\n');
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn with_type(body: impl Into<Bytes>, content_type: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(full(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serves one TCP connection until it ends or the daemon shuts down.
pub async fn serve_connection(
    stream: TcpStream,
    state: Arc<StreamState>,
    mut shutdown: crate::shutdown::Stop,
    tracker: mpsc::Sender<()>,
) {
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER_BYTES);
    // Unknown only for a socket already gone; such a request never gets far.
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let io = HttpIo::new(stream);
    // Fired when this connection's stream listener is let go: a stalled player is not
    // reading, so only dropping the connection frees its place.
    let kick = Arc::new(Notify::new());
    let kicked = kick.clone();
    let connection_parts = Connection {
        peer,
        socket: io.socket.clone(),
        handoff: io.handoff.clone(),
        kick,
    };
    let state_limits = state.limits();
    let service = service_fn(move |request| {
        let state = state.clone();
        let tracker = tracker.clone();
        let connection = connection_parts.clone();
        async move { Ok::<_, std::convert::Infallible>(route(request, state, tracker, connection)) }
    });
    let limits = state_limits;
    // The header timeout also closes sockets that never send a byte, and idle keep-alive
    // ones (hyper starts it whenever it waits for a request head; it needs the timer).
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // An HTTP/1.0 client that shuts its write side after the request still gets the
        // answer (without this hyper treats the EOF as the client gone).
        .half_close(true)
        // hyper's default is 100 lines, which a request with 100 headers just misses; more
        // than MAX_HEADERS lines or MAX_HEADER_BYTES of head get 431.
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = kicked.notified() => {}
        () = crate::shutdown::stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, connection).await;
        }
    }
}

/// What a request's handler knows of its connection.
#[derive(Clone)]
struct Connection {
    peer: SocketAddr,
    /// The socket hyper serves (a stream's listener is written to directly).
    socket: Arc<TcpStream>,
    handoff: Arc<Handoff>,
    /// Drops the connection at once.
    kick: Arc<Notify>,
}

fn route(
    request: Request<Incoming>,
    state: Arc<StreamState>,
    tracker: mpsc::Sender<()>,
    connection: Connection,
) -> Response<ResponseBody> {
    let peer = connection.peer;
    let path = request.uri().path();
    let known = matches!(
        path,
        "/ws" | "/stream.wav" | "/stream.opus" | "/healthz" | "/metrics" | "/api/status"
    ) || super::assets::find(path).is_some();
    if known && request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} is not allowed here (allowed: GET, HEAD)",
                request.method()
            ),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/ws" => websocket(request, state, tracker, peer),
        "/stream.wav" => stream_wav(&state, &request, connection),
        "/stream.opus" => stream_opus(&state, &request, connection),
        "/healthz" => match state.station.unhealthy() {
            None => plain(StatusCode::OK, "ok"),
            Some(why) => plain(StatusCode::SERVICE_UNAVAILABLE, why),
        },
        "/metrics" => with_type(
            super::metrics::render_prometheus(
                &state.station.snapshot(),
                &state.metrics,
                &state.icecast.statuses(),
            ),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        "/api/status" => with_type(status::json(&state), "application/json"),
        _ => match super::assets::find(path) {
            Some(asset) => {
                let mut response = with_type(asset.body, asset.content_type);
                // Revalidate on every load, so a daemon upgrade is seen at once.
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                response
            }
            None => plain(StatusCode::NOT_FOUND, format!("no such page: {path}")),
        },
    }
}

fn refuse_full(state: &StreamState) -> Response<ResponseBody> {
    state.metrics.listeners_refused.add(1);
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "listener limit reached ({} connected, max_listeners = {}); try again later",
            state.station.listeners(),
            state.max_listeners()
        ),
    )
}

/// The response of a `/stream.wav` or `/stream.opus` listener (`kind` in the journal):
/// headers, then the fan-out writes `preamble` and each tick's payload in `format` to the
/// socket (see `streamed_body`). A HEAD request gets the headers alone.
fn stream_response(
    state: &Arc<StreamState>,
    request: &Request<Incoming>,
    connection: Connection,
    (format, kind, content_type): (encode::Format, &'static str, &'static str),
    preamble: impl FnOnce(&VecDeque<Arc<Tick>>) -> Vec<Bytes>,
) -> Response<ResponseBody> {
    let with_headers = |body| {
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    };
    if request.method() == Method::HEAD {
        return with_headers(full(Bytes::new()));
    }
    let Some(seat) = state.station.reserve(state.max_listeners()) else {
        return refuse_full(state);
    };
    let outbox = Arc::new(Outbox::new(connection.socket.clone()));
    // hyper answers HTTP/1.0 with a body that ends with the connection, 1.1 with chunks.
    let chunked = request.version() != Version::HTTP_10;
    let Some(id) = state
        .fanout
        .subscribe_body(format, outbox.clone(), chunked, preamble)
    else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "server shutting down");
    };
    let listener = streamed_body::Listener {
        outbox,
        head_sent: connection.handoff.arm(),
        guard: SubscriptionGuard::new(state.fanout.clone(), id),
        presence: Presence::join(seat, connection.peer, kind),
        kick: connection.kick,
    };
    with_headers(streamed_body::body(listener, state.metrics.clone()))
}

fn stream_wav(
    state: &Arc<StreamState>,
    request: &Request<Incoming>,
    connection: Connection,
) -> Response<ResponseBody> {
    if request.method() == Method::GET {
        state.metrics.wav_connections.add(1);
    }
    let kind = (encode::WAV, "wav", "audio/wav");
    stream_response(state, request, connection, kind, |_| vec![wav::header()])
}

fn stream_opus(
    state: &Arc<StreamState>,
    request: &Request<Incoming>,
    connection: Connection,
) -> Response<ResponseBody> {
    let headers = match state.fanout.opus_headers() {
        Ok(headers) => headers,
        Err(why) => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("/stream.opus is unavailable: no Opus encoder ({why})"),
            );
        }
    };
    let kind = (encode::OGG_OPUS, "opus", "audio/ogg");
    stream_response(state, request, connection, kind, |history| {
        ogg_stream::preamble(headers, history)
    })
}

fn header_has(request: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    request.headers().get_all(name).iter().any(|value| {
        value
            .to_str()
            .unwrap_or("")
            .split(',')
            .any(|part| part.trim().eq_ignore_ascii_case(token))
    })
}

fn websocket(
    mut request: Request<Incoming>,
    state: Arc<StreamState>,
    tracker: mpsc::Sender<()>,
    peer: SocketAddr,
) -> Response<ResponseBody> {
    let query = match parse_ws_query(request.uri().query()) {
        Ok(query) => query,
        Err(message) => return plain(StatusCode::BAD_REQUEST, message),
    };
    let key = request.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let is_upgrade = header_has(&request, header::CONNECTION, "upgrade")
        && header_has(&request, header::UPGRADE, "websocket")
        && request.headers().get(header::SEC_WEBSOCKET_VERSION)
            == Some(&HeaderValue::from_static("13"));
    let (Some(key), true) = (key, is_upgrade) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket, version 13)",
        );
    };
    let Some(seat) = state.station.reserve(state.max_listeners()) else {
        return refuse_full(&state);
    };
    let header_text = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let web_control = state.web_policy().allows(ClientOrigin {
        peer,
        origin: header_text(header::ORIGIN),
        host: header_text(header::HOST),
        token: query.token.as_deref(),
    });
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let _tracker = tracker;
        let handshake_timeout = state.limits().handshake_timeout;
        let Ok(Ok(upgraded)) = tokio::time::timeout(handshake_timeout, upgrade).await else {
            return;
        };
        // Every connection is served on a TokioIo<HttpIo>; the session writes to the
        // socket itself (see `outbox`).
        let Ok(parts) = upgraded.downcast::<TokioIo<HttpIo>>() else {
            tracing::error!(listener = %peer, "upgraded connection is not a TCP stream; closing it");
            return;
        };
        let presence = Presence::join(seat, peer, "websocket");
        ws::serve(
            parts.io.into_inner().socket,
            parts.read_buf,
            state,
            query.format,
            query.resume,
            presence,
            web_control,
        )
        .await;
    });
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}
