//! The edges of the wire protocols, through raw TCP (issue 13 items 8 and 10): WebSocket
//! close frames (a client's close echoed; oversized → 1009, invalid UTF-8 → 1007, protocol
//! violation → 1002) and HTTP corners (HTTP/1.0 with a half-closed write side is answered,
//! 405 carries `Allow`, 100 headers are fine and the 431 threshold is where it is documented).

mod daemon_support;

use daemon_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A WebSocket opened by hand, so the test can send frames no well-behaved client would.
async fn raw_websocket(daemon: &TestDaemon) -> TcpStream {
    let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.unwrap();
        head.push(byte);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// One client frame: FIN set, `opcode`, masked (as RFC 6455 requires) unless `masked` is
/// false; `claimed` overrides the length field (for a frame larger than what is sent).
fn frame(opcode: u8, payload: &[u8], masked: bool, claimed: Option<u64>) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    let len = claimed.unwrap_or(payload.len() as u64);
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    let key = [0x12, 0x34, 0x56, 0x78];
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Reads server frames (audio and all) until a close frame: its code and reason.
async fn close_from_server(stream: &mut TcpStream, case: &str) -> (u16, String) {
    let read = async {
        loop {
            let first = stream
                .read_u8()
                .await
                .unwrap_or_else(|e| panic!("{case}: no close frame before the end ({e})"));
            let second = stream.read_u8().await.unwrap();
            assert_eq!(second & 0x80, 0, "server frames are not masked");
            let len = match second & 0x7f {
                126 => u64::from(stream.read_u16().await.unwrap()),
                127 => stream.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            stream.read_exact(&mut payload).await.unwrap();
            if first & 0x0f == 0x8 {
                assert!(payload.len() >= 2, "a close frame without a code");
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8_lossy(&payload[2..]).into_owned());
            }
        }
    };
    tokio::time::timeout(TIMEOUT, read)
        .await
        .unwrap_or_else(|_| panic!("{case}: no close frame"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_frames_are_echoed_and_violations_get_their_codes() {
    let daemon = TestDaemon::start().await;

    let mut polite = raw_websocket(&daemon).await;
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    polite
        .write_all(&frame(0x8, &close, true, None))
        .await
        .unwrap();
    assert_eq!(
        close_from_server(&mut polite, "polite").await,
        (1000, "bye".into())
    );

    // Only the header of a 70 KiB frame: the size alone is refused.
    let mut oversized = raw_websocket(&daemon).await;
    let header = frame(0x1, &[], true, Some(70 << 10));
    oversized.write_all(&header).await.unwrap();
    let (code, reason) = close_from_server(&mut oversized, "oversized").await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("max_message_bytes"), "{reason}");

    let mut not_utf8 = raw_websocket(&daemon).await;
    not_utf8
        .write_all(&frame(0x1, &[0x7b, 0xff, 0xfe, 0x7d], true, None))
        .await
        .unwrap();
    assert_eq!(close_from_server(&mut not_utf8, "not_utf8").await.0, 1007);

    let mut unmasked = raw_websocket(&daemon).await;
    unmasked
        .write_all(&frame(0x1, br#"{"type":"ping"}"#, false, None))
        .await
        .unwrap();
    assert_eq!(close_from_server(&mut unmasked, "unmasked").await.0, 1002);

    let mut reserved = raw_websocket(&daemon).await;
    reserved
        .write_all(&frame(0x3, b"", true, None))
        .await
        .unwrap();
    assert_eq!(close_from_server(&mut reserved, "reserved").await.0, 1002);

    // The daemon is none the worse.
    assert_eq!(daemon.get("/healthz").await.0, 200);
    daemon.stop().await;
}

/// Sends `request` raw, optionally shutting the write side, and reads the whole answer.
async fn raw_http(daemon: &TestDaemon, request: &[u8], half_close: bool) -> String {
    let mut stream = TcpStream::connect(daemon.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    if half_close {
        stream.shutdown().await.unwrap();
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("an answer, then the connection closed");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_corners_get_proper_answers() {
    let daemon = TestDaemon::start().await;

    let answer = raw_http(&daemon, b"GET /healthz HTTP/1.0\r\n\r\n", true).await;
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer:?}");
    assert!(answer.ends_with("ok\n"), "{answer:?}");

    let request =
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let answer = raw_http(&daemon, request, false).await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer:?}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nallow: get, head\r\n"),
        "{answer:?}"
    );
    assert!(answer.contains("POST is not allowed here"), "{answer:?}");

    let with_headers = |count: usize, value_len: usize| {
        let mut request = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 0..count {
            request.push_str(&format!("X-Header-{i}: {}\r\n", "v".repeat(value_len)));
        }
        request.push_str("\r\n");
        request
    };
    let answer = raw_http(&daemon, with_headers(100, 8).as_bytes(), false).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "100 headers: {answer:?}"
    );
    let answer = raw_http(&daemon, with_headers(130, 8).as_bytes(), false).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "130 header lines: {answer:?}"
    );
    let answer = raw_http(&daemon, with_headers(4, 10_000).as_bytes(), false).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "40 KB of head: {answer:?}"
    );

    assert_eq!(daemon.get("/healthz").await.0, 200);
    daemon.stop().await;
}
