//! One lean WebSocket listener: the opening handshake by hand, then server frames parsed in
//! place from one read buffer. A load tool that spent more per message than the daemon would
//! measure itself: the general-purpose client (tokio-tungstenite) copied, validated and
//! allocated every 12 KiB message and took more CPU than the daemon it measured, on the same
//! cores. Only what the figures need is read: opcode, length, and an audio message's
//! `sequence` and `timestamp`.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one server message was, as far as the load tool cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// An audio chunk (JSON or binary) with its sequence and Unix-ms timestamp.
    Audio { sequence: u64, timestamp_ms: u64 },
    /// An `underrun` message.
    Underrun,
    /// Any other message (hello, phrase, params, ping, ...).
    Other,
    /// A close frame, or the connection ended.
    Closed,
}

/// A connected listener.
pub struct Listener {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Start of unparsed bytes in `buffer`.
    start: usize,
    /// End of read bytes in `buffer`.
    end: usize,
}

/// Bytes read per call at most; a few chunks' worth, so a listener that fell behind catches
/// up in few reads.
const READ_BUFFER: usize = 256 << 10;
/// The largest frame accepted (a stereo JSON chunk is ≈ 23.5 KiB).
const MAX_FRAME: usize = 128 << 10;

/// `ws://host:port/path?query` split into the address and the request target.
fn split_url(url: &str) -> anyhow::Result<(&str, &str)> {
    let rest = url
        .strip_prefix("ws://")
        .context("only ws:// URLs are supported")?;
    Ok(match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    })
}

impl Listener {
    /// Connects and completes the opening handshake.
    pub async fn connect(url: &str) -> anyhow::Result<Listener> {
        let (host, target) = split_url(url)?;
        let mut stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        // The key is fixed: the load tool does not need to prove freshness to itself.
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut listener = Listener {
            stream,
            buffer: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
        };
        let head_end = loop {
            if let Some(at) = find(&listener.buffer[..listener.end], b"\r\n\r\n") {
                break at + 4;
            }
            if listener.end == listener.buffer.len() || !listener.fill().await? {
                bail!("no complete HTTP response to the upgrade");
            }
        };
        let head = String::from_utf8_lossy(&listener.buffer[..head_end]);
        if !head.starts_with("HTTP/1.1 101") {
            bail!(
                "upgrade refused: {}",
                head.lines().next().unwrap_or_default()
            );
        }
        listener.start = head_end;
        Ok(listener)
    }

    /// Reads more bytes after `end`; `false` at end of stream.
    async fn fill(&mut self) -> anyhow::Result<bool> {
        let read = self.stream.read(&mut self.buffer[self.end..]).await?;
        self.end += read;
        Ok(read > 0)
    }

    /// The next message, waiting at most `timeout` (`None` when nothing came in time).
    pub async fn next(&mut self, timeout: Duration) -> anyhow::Result<Option<Received>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((received, length)) = parse_frame(&self.buffer[self.start..self.end])? {
                self.start += length;
                return Ok(Some(received));
            }
            // Keep the partial frame at the front so there is room to complete it.
            if self.start > 0 {
                self.buffer.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Err(_) => return Ok(None),
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return Ok(Some(Received::Closed)),
                Ok(Err(error)) => return Err(error),
            }
        }
    }

    /// Sends a close frame (masked, as a client must) and stops.
    pub async fn close(mut self) {
        // FIN + close, masked, empty payload, zero mask.
        let _ = self.stream.write_all(&[0x88, 0x80, 0, 0, 0, 0]).await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One whole server frame at the start of `bytes`, with its length on the wire; `None` when
/// more bytes are needed.
fn parse_frame(bytes: &[u8]) -> anyhow::Result<Option<(Received, usize)>> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    if second & 0x80 != 0 {
        bail!("the server masked a frame (RFC 6455 forbids it)");
    }
    let (length, header) = match second & 0x7f {
        126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
        127 if bytes.len() >= 10 => {
            let length = u64::from_be_bytes(bytes[2..10].try_into().unwrap_or_default());
            (usize::try_from(length).unwrap_or(usize::MAX), 10)
        }
        126 | 127 => return Ok(None),
        short => (usize::from(short), 2),
    };
    if length > MAX_FRAME {
        bail!("frame of {length} bytes is larger than any message the daemon sends");
    }
    let Some(payload) = bytes.get(header..header + length) else {
        return Ok(None);
    };
    if first & 0x80 == 0 {
        bail!("fragmented message: the daemon sends every message in one frame");
    }
    let received = match first & 0x0f {
        1 if payload.starts_with(br#"{"type":"audio""#) => {
            // The daemon writes the fields after the base64 data; only the tail is searched.
            let head = &payload[payload.len().saturating_sub(200)..];
            match (
                json_number(head, br#""sequence":"#),
                json_number(head, br#""timestamp":"#),
            ) {
                (Some(sequence), Some(timestamp_ms)) => Received::Audio {
                    sequence,
                    timestamp_ms,
                },
                _ => bail!("audio message without sequence and timestamp"),
            }
        }
        1 if find(payload, br#""type":"underrun""#).is_some() => Received::Underrun,
        2 if payload.len() >= 16 => Received::Audio {
            sequence: u64::from_le_bytes(payload[..8].try_into().unwrap_or_default()),
            timestamp_ms: u64::from_le_bytes(payload[8..16].try_into().unwrap_or_default()),
        },
        8 => Received::Closed,
        _ => Received::Other,
    };
    Ok(Some((received, header + length)))
}

/// The unsigned number after `field` in a JSON text, without a full parse.
fn json_number(text: &[u8], field: &[u8]) -> Option<u64> {
    let start = find(text, field)? + field.len();
    let digits = text[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&text[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xffff => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn audio_frames_of_both_encodings_parse_and_partial_frames_wait() {
        let json = format!(
            r#"{{"type":"audio","data":"{}","timestamp":1700000000123,"sequence":42,"channels":1}}"#,
            "A".repeat(20_000)
        );
        let wire = frame(1, json.as_bytes());
        assert_eq!(parse_frame(&wire[..wire.len() - 1]).unwrap(), None);
        let (received, length) = parse_frame(&wire).unwrap().unwrap();
        assert_eq!(length, wire.len());
        assert_eq!(
            received,
            Received::Audio {
                sequence: 42,
                timestamp_ms: 1_700_000_000_123
            }
        );
        let mut binary = 7u64.to_le_bytes().to_vec();
        binary.extend_from_slice(&9u64.to_le_bytes());
        binary.extend_from_slice(&[0; 100]);
        let (received, _) = parse_frame(&frame(2, &binary)).unwrap().unwrap();
        assert_eq!(
            received,
            Received::Audio {
                sequence: 7,
                timestamp_ms: 9
            }
        );
        let underrun = frame(1, br#"{"type":"underrun","sequence":3}"#);
        assert_eq!(
            parse_frame(&underrun).unwrap().unwrap().0,
            Received::Underrun
        );
        assert_eq!(
            parse_frame(&frame(8, &[])).unwrap().unwrap().0,
            Received::Closed
        );
        assert!(parse_frame(&[0x81, 0x85, 0, 0, 0, 0, 1]).is_err(), "masked");
    }
}
