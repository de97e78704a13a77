//! `[limits]` through the real interfaces (issue 13 item 5): silent sockets, slowloris and
//! unfinished upgrades are closed after the header timeout while an honest listener hears
//! every chunk; an address over its connection cap gets 503 and others are unaffected;
//! silent control clients are closed, watchers are not; a WebSocket client's `set`s are
//! rate-limited and the refusals counted.

mod daemon_support;

use std::net::SocketAddr;
use std::time::Duration;

use ambientctl::Param;
use daemon_support::steer::*;
use daemon_support::*;
use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UnixStream};
use tokio_tungstenite::tungstenite::Message;

/// Waits until the server closes `stream` (EOF or reset), failing after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A TCP connection to `to` from the loopback address `from` (e.g. 127.0.0.2).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_slow_and_unfinished_clients_are_closed_after_the_header_timeout() {
    let mut config = test_config();
    config.limits.header_timeout_s = 1;
    let daemon = TestDaemon::with_config(config).await;
    // The honest listener reads throughout, in its own task, until told to stop.
    let mut honest = daemon.connect("").await;
    let (done, mut finished) = tokio::sync::oneshot::channel::<()>();
    let listening = tokio::spawn(async move {
        let mut sequences = Vec::new();
        loop {
            tokio::select! {
                (audio, _) = read_audio(&mut honest, 1) => sequences.push(audio[0].sequence),
                _ = &mut finished => return sequences,
            }
        }
    });

    let mut silent = Vec::new();
    let mut unfinished = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(daemon.addr).await.unwrap());
        let mut upgrade = TcpStream::connect(daemon.addr).await.unwrap();
        // Everything of an upgrade but the blank line that ends it.
        upgrade
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                  Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            )
            .await
            .unwrap();
        unfinished.push(upgrade);
    }
    // Slowloris: a header line every 200 ms, never the end of the head.
    let slowloris: Vec<_> = (0..20)
        .map(|_| {
            let addr = daemon.addr;
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
                for line in 0..100 {
                    let header = format!("X-Slow-{line}: still typing\r\n");
                    if stream.write_all(header.as_bytes()).await.is_err() {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let mut probe = [0u8; 1];
                    if let Ok(Ok(0) | Err(_)) =
                        tokio::time::timeout(Duration::ZERO, stream.read(&mut probe)).await
                    {
                        return true;
                    }
                }
                false
            })
        })
        .collect();
    for stream in silent.iter_mut().chain(unfinished.iter_mut()) {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "still open after 5 s"
        );
    }
    for task in slowloris {
        assert!(task.await.unwrap(), "a slowloris outlasted the timeout");
    }
    // The honest listener heard every chunk meanwhile, in order, without a gap.
    done.send(()).unwrap();
    let sequences = listening.await.unwrap();
    assert!(sequences.len() >= 10, "{} chunks", sequences.len());
    for pair in sequences.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a gap for the honest listener");
    }
    assert_eq!(daemon.metric("ambientd_listeners_dropped_total").await, 0.0);
    assert_eq!(daemon.metric("ambientd_underruns_total").await, 0.0);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_connection_cap_gets_503_and_others_do_not() {
    let mut config = test_config();
    config.limits.connections_per_address = 5;
    let daemon = TestDaemon::with_config(config).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from([127, 0, 0, 3], daemon.addr).await);
    }
    let mut over = connect_from([127, 0, 0, 3], daemon.addr).await;
    let mut response = String::new();
    let _ = over
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let _ = tokio::time::timeout(TIMEOUT, over.read_to_string(&mut response)).await;
    assert!(
        response.starts_with("HTTP/1.1 503") && response.contains("connections_per_address"),
        "{response:?}"
    );
    // Another address is served as usual.
    assert_eq!(daemon.get("/healthz").await.0, 200);
    drop(held);
    wait_until_async(|| async {
        let mut again = connect_from([127, 0, 0, 3], daemon.addr).await;
        let _ = again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let mut answer = String::new();
        let _ = again.read_to_string(&mut answer).await;
        answer.starts_with("HTTP/1.1 200")
    })
    .await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_control_clients_are_closed_and_watchers_are_not() {
    let mut config = test_config();
    config.limits.control_idle_timeout_s = 1;
    let daemon = TestDaemon::with_config(config).await;
    let mut silent = UnixStream::connect(&daemon.socket).await.unwrap();
    let mut watcher = UnixStream::connect(&daemon.socket).await.unwrap();
    watcher.write_all(b"{\"type\":\"watch\"}\n").await.unwrap();

    let mut said = String::new();
    let read = tokio::time::timeout(TIMEOUT, silent.read_to_string(&mut said)).await;
    assert!(read.is_ok(), "the silent client is still open");
    assert!(said.contains("control_idle_timeout_s"), "{said:?}");

    // Well past the idle timeout, the watcher still hears a change.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    call(&daemon.socket, set(Param::Bpm, "88")).await.unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"bpm\":88") {
        let n = tokio::time::timeout(TIMEOUT, watcher.read(&mut buffer))
            .await
            .expect("the watcher hears the change")
            .unwrap();
        assert!(n > 0, "the watcher was closed");
        seen.extend_from_slice(&buffer[..n]);
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_clients_sets_are_rate_limited_and_counted() {
    let mut config = test_config();
    config.limits.sets_per_second = 5;
    let daemon = TestDaemon::with_config(config).await;
    let mut page = daemon.connect("").await;
    assert_eq!(next_json(&mut page).await["web_control"], true);
    for i in 0..50u16 {
        let message = format!(r#"{{"type":"set","param":"bpm","value":{}}}"#, 60 + i);
        page.send(Message::Text(message.into())).await.unwrap();
    }
    // A ping after the sets: its pong marks the end of their replies.
    page.send(Message::Text(r#"{"type":"ping"}"#.into()))
        .await
        .unwrap();
    let mut refused = 0;
    loop {
        let message = next_json(&mut page).await;
        match message["type"].as_str() {
            Some("pong") => break,
            Some("error") => {
                let text = message["message"].as_str().unwrap();
                assert!(text.contains("sets_per_second"), "{text}");
                refused += 1;
            }
            _ => {}
        }
    }
    // A burst of 5 plus what 5 a second refills while 50 arrive.
    assert!((40..=45).contains(&refused), "{refused} refused");
    assert_eq!(
        daemon.metric("ambientd_sets_refused_total").await,
        f64::from(refused)
    );
    // The client is still served.
    read_audio(&mut page, 2).await;
    daemon.stop().await;
}
