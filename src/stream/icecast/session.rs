//! One connection to Icecast as a source: connect, `PUT` the mount with Basic auth and
//! `Expect: 100-continue`, wait for Icecast's answer, then write the Ogg headers and every
//! tick's pages until something ends it.
//!
//! Written by hand on a `TcpStream` because the protocol is HTTP only in its first lines: the
//! body is the endless stream itself, with neither `Content-Length` nor chunked encoding
//! (Icecast 2.4 reads the raw bytes, as libshout and ffmpeg send them), and Icecast 2.4
//! answers `100 Continue` and nothing more, which a general HTTP client waits past forever.
//!
//! A silent server is caught three ways: no answer to the request within [`ANSWER_TIMEOUT`],
//! a write that the kernel does not take within [`WRITE_TIMEOUT`] (the send buffer is kept
//! small so this happens within seconds of the peer going quiet), and `TCP_USER_TIMEOUT`
//! for data the peer never acknowledges (a peer that vanished without a reset).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::feed::Feed;
use super::state::OutputState;
use super::target::Target;
use crate::shutdown;
use crate::stream::fanout::Fanout;

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long Icecast may take to answer the request.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one write may wait for room in the socket.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Unacknowledged data older than this closes the connection (`TCP_USER_TIMEOUT`).
const USER_TIMEOUT: Duration = Duration::from_secs(15);
/// The socket's send buffer: ~3 s of 96 kbit/s Opus, so a peer that stops reading fills it
/// quickly and the write timeout fires, instead of the kernel buffering a minute of audio.
const SEND_BUFFER_BYTES: usize = 32 * 1024;
/// The most bytes of Icecast's answer read (status line and headers).
const MAX_ANSWER_BYTES: usize = 8 * 1024;

/// Why a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The output was told to stop.
    Stopped,
    /// Icecast refused the credentials (401) or the mount (403): retry slowly.
    Refused(String),
    /// Anything else: connection refused, reset, timeout, a slow server. Retry with backoff.
    Failed(String),
}

/// Connects, hands the stream to Icecast, and streams until it ends. `on_connected` runs
/// once Icecast has accepted the stream.
pub async fn run(
    target: &Target,
    fanout: &Arc<Fanout>,
    state: &OutputState,
    stop: &mut shutdown::Stop,
    on_connected: impl FnOnce(),
) -> Ended {
    let work = async {
        let mut socket = connect(target).await?;
        handshake(&mut socket, target).await?;
        // Subscribed only now, so a slow connect or answer does not fill its queue.
        let feed = Feed::subscribe(fanout).map_err(Ended::Failed)?;
        state.connected();
        on_connected();
        pump(socket, feed, state).await
    };
    tokio::select! {
        outcome = work => match outcome {
            Err(ended) => ended,
            Ok(never) => match never {},
        },
        () = shutdown::stopped(stop) => Ended::Stopped,
    }
}

async fn connect(target: &Target) -> Result<TcpStream, Ended> {
    let authority = target.endpoint.authority();
    let socket = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&authority))
        .await
        .map_err(|_| {
            Ended::Failed(format!(
                "connect to {authority}: no answer within {CONNECT_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| Ended::Failed(format!("connect to {authority}: {e}")))?;
    let options = socket2::SockRef::from(&socket);
    // Best effort: a socket without them still streams, only detects a dead peer later.
    let _ = options.set_tcp_nodelay(true);
    let _ = options.set_send_buffer_size(SEND_BUFFER_BYTES);
    let _ = options.set_tcp_user_timeout(Some(USER_TIMEOUT));
    let _ = options.set_tcp_keepalive(
        &socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(10))
            .with_interval(Duration::from_secs(5))
            .with_retries(3),
    );
    Ok(socket)
}

/// The request head: `PUT`, Basic auth, `audio/ogg`, the ice-* headers.
fn request(target: &Target) -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        target.user,
        target.password.expose()
    ));
    let mut head = format!(
        "PUT {mount} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {credentials}\r\n\
         User-Agent: ambientd/{version}\r\nContent-Type: audio/ogg\r\nIce-Public: 0\r\n",
        mount = target.endpoint.mount,
        host = target.endpoint.authority(),
        version = env!("CARGO_PKG_VERSION"),
    );
    for (header, value) in [
        ("Ice-Name", &target.name),
        ("Ice-Description", &target.description),
        ("Ice-Genre", &target.genre),
    ] {
        if let Some(value) = value {
            head.push_str(&format!("{header}: {value}\r\n"));
        }
    }
    head.push_str("Expect: 100-continue\r\n\r\n");
    head
}

/// Sends the request and reads Icecast's answer: `100 Continue` (or `200 OK`, which 2.4
/// sends without `Expect`) lets the stream go.
async fn handshake(socket: &mut TcpStream, target: &Target) -> Result<(), Ended> {
    let answer = async {
        socket.write_all(request(target).as_bytes()).await?;
        let mut answer = Vec::with_capacity(256);
        let mut buf = [0u8; 512];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.len() < MAX_ANSWER_BYTES {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, answer)
        .await
        .map_err(|_| {
            Ended::Failed(format!(
                "the server accepted the connection but did not answer within {ANSWER_TIMEOUT:?}"
            ))
        })?
        .map_err(|e| Ended::Failed(format!("request: {e}")))?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or("").trim();
    if status_line.is_empty() {
        return Err(Ended::Failed(
            "the server closed the connection without an answer".to_string(),
        ));
    }
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    // Icecast says why in a one-line body ("Mountpoint in use"), often in the same read.
    let why = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| body.lines().next())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map_or(String::new(), |line| format!(": {line}"));
    match code {
        Some(100 | 200) => Ok(()),
        Some(401) => Err(Ended::Refused(format!(
            "Icecast refused the credentials ({status_line}{why}): check user and password"
        ))),
        // "Mountpoint in use" passes: Icecast frees a mount a moment after its source leaves
        // (our own restart, or a half-open connection timing out), so it is retried with the
        // usual backoff, not the slow wait of a refusal an operator must fix.
        Some(403) if why.contains("Mountpoint in use") => Err(Ended::Failed(format!(
            "Icecast refused the mount {} ({status_line}{why})",
            target.endpoint.mount
        ))),
        Some(403) => Err(Ended::Refused(format!(
            "Icecast refused the mount {} ({status_line}{why})",
            target.endpoint.mount
        ))),
        _ => Err(Ended::Failed(format!(
            "Icecast answered {status_line:?}{why}"
        ))),
    }
}

/// Writes the Ogg headers, the burst, then every tick's page, until a write fails or
/// stalls, Icecast closes the connection, or the fan-out lets the output go.
async fn pump(socket: TcpStream, mut feed: Feed, state: &OutputState) -> Result<Infallible, Ended> {
    let (mut reader, mut writer) = socket.into_split();
    let mut discard = [0u8; 256];
    loop {
        tokio::select! {
            next = feed.next() => {
                let bytes = next.map_err(Ended::Failed)?;
                write(&mut writer, &bytes).await?;
                state.sent(bytes.len());
            }
            // Icecast says nothing once streaming: a read returns when it closes.
            read = reader.read(&mut discard) => match read {
                Ok(0) => return Err(Ended::Failed("Icecast closed the connection".to_string())),
                Ok(_) => {}
                Err(e) => return Err(Ended::Failed(format!("connection lost: {e}"))),
            },
        }
    }
}

async fn write(writer: &mut tokio::net::tcp::OwnedWriteHalf, bytes: &[u8]) -> Result<(), Ended> {
    match tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Ended::Failed(format!("connection lost: {e}"))),
        Err(_) => Err(Ended::Failed(format!(
            "Icecast stopped reading: a write waited over {WRITE_TIMEOUT:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::icecast::{Endpoint, Password};

    #[test]
    fn the_request_carries_auth_type_and_names() {
        let target = Target {
            endpoint: Endpoint::parse("http://127.0.0.1:8000/a.opus").unwrap(),
            user: "source".into(),
            password: Password::new("hackme".into()).unwrap(),
            name: Some("ambientd".into()),
            description: None,
            genre: Some("ambient".into()),
        };
        let head = request(&target);
        assert!(head.starts_with("PUT /a.opus HTTP/1.1\r\n"), "{head}");
        // base64("source:hackme")
        assert!(
            head.contains("Authorization: Basic c291cmNlOmhhY2ttZQ==\r\n"),
            "{head}"
        );
        assert!(head.contains("Content-Type: audio/ogg\r\n"));
        assert!(head.contains("Ice-Name: ambientd\r\n"));
        assert!(head.contains("Ice-Genre: ambient\r\n"));
        assert!(!head.contains("Ice-Description"));
        assert!(head.ends_with("Expect: 100-continue\r\n\r\n"));
    }
}
