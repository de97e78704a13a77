//! The streaming daemon end to end: `ambientd::run` on 127.0.0.1:0 with real WebSocket and
//! HTTP clients on loopback.

mod daemon_support;

use std::time::{Duration, Instant};

use ambientd::audio::CHUNK_SAMPLES;
use ambientd::audio::f32_to_i16;
use ambientd::engine::generator::Generator;
use daemon_support::*;
use futures_util::SinkExt;
use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_messages_follow_the_seed_format_at_ten_per_second() {
    let daemon = TestDaemon::start().await;
    let mut mono = daemon.connect("").await;
    let mut stereo = daemon.connect("?channels=2").await;

    let hello = next_json(&mut mono).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["format"]["channels"], 1);
    assert_eq!(hello["format"]["encoding"], "json");
    assert_eq!(hello["params"]["bpm"], 70);
    assert_eq!(hello["params"]["seed"], 7);
    assert_eq!(hello["backend"]["name"], "cpu");
    assert_eq!(hello["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(next_json(&mut stereo).await["format"]["channels"], 2);

    let (chunks, _) = read_audio(&mut mono, 31).await;
    for pair in chunks.windows(2) {
        assert_eq!(
            pair[1].sequence,
            pair[0].sequence + 1,
            "sequence rises by 1"
        );
        let step = pair[1].timestamp as i64 - pair[0].timestamp as i64;
        assert!(
            (50..=150).contains(&step),
            "ticks 100 ms apart, got {step} ms"
        );
    }
    for chunk in &chunks {
        assert_eq!(chunk.channels, 1);
        assert_eq!(chunk.pcm.len(), 8_820);
    }
    // Cadence at the client: 30 intervals of 100 ms.
    let span = chunks[30].received - chunks[0].received;
    assert!(
        (Duration::from_millis(2_700)..=Duration::from_millis(3_300)).contains(&span),
        "30 chunks took {span:?}"
    );
    let (chunks, _) = read_audio(&mut stereo, 3).await;
    for chunk in &chunks {
        assert_eq!(chunk.channels, 2);
        assert_eq!(chunk.pcm.len(), 17_640);
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_is_the_generators_continuous_across_seams_and_identical_for_all() {
    let daemon = TestDaemon::start().await;
    let mut first = daemon.connect("?channels=2").await;
    let mut second = daemon.connect("?channels=2").await;
    next_json(&mut first).await;
    next_json(&mut second).await;
    // Both read at once: a listener left unread for a second is dropped by design.
    let ((a, _), (b, _)) = tokio::join!(read_audio(&mut first, 20), read_audio(&mut second, 20));

    // Same sequence, same bytes, for every listener (after each one's faded-in first chunk).
    let start = a[0].sequence.max(b[0].sequence) + 1;
    for chunk in a.iter().filter(|c| c.sequence >= start) {
        let other = b.iter().find(|c| c.sequence == chunk.sequence);
        if let Some(other) = other {
            assert_eq!(chunk.pcm, other.pcm, "sequence {}", chunk.sequence);
        }
    }
    assert_eq!(daemon.metric("ambientd_underruns_total").await, 0.0);

    // Chunk n is frames n*4410.. of the generator's output: nothing lost or repeated at seams.
    let mut generator = Generator::new(test_config().music.params());
    let mut block = vec![0.0f32; CHUNK_SAMPLES];
    for _ in 0..a[0].sequence {
        generator.render(&mut block);
    }
    for (i, chunk) in a.iter().enumerate() {
        generator.render(&mut block);
        let expected: Vec<i16> = block.iter().map(|&s| f32_to_i16(s)).collect();
        if i > 0 {
            assert_eq!(chunk.samples(), expected, "sequence {}", chunk.sequence);
            continue;
        }
        // A listener's first chunk fades in from silence over 20-50 ms, then is the
        // generator's own.
        let got = chunk.samples();
        assert_eq!(&got[..2], &[0, 0], "the first frame is silent");
        let last_faded = (0..CHUNK_SAMPLES)
            .rposition(|k| got[k] != expected[k])
            .expect("the first chunk is faded")
            / 2;
        let fade_ms = (last_faded + 1) as f64 / 44.1;
        assert!(
            (10.0..=50.0).contains(&fade_ms),
            "fade-in ends at {fade_ms:.1} ms"
        );
        for (g, e) in got.iter().zip(&expected) {
            assert!(
                g.unsigned_abs() <= e.unsigned_abs(),
                "a fade only attenuates"
            );
        }
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_stops_reading_is_dropped_and_the_others_keep_cadence() {
    let daemon = TestDaemon::start().await;
    let mut reader = daemon.connect("?channels=2").await;
    next_json(&mut reader).await;

    // A client with a tiny receive buffer that never reads after the handshake.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(daemon.addr).await.unwrap();
    let (stalled, _) = tokio_tungstenite::client_async(daemon.ws_url("?channels=2"), stream)
        .await
        .unwrap();
    wait_until_async(|| async { daemon.metric("ambientd_listeners").await == 2.0 }).await;
    let stalled_at = Instant::now();

    let reading = tokio::spawn(async move { read_audio(&mut reader, 40).await });
    wait_until_async(|| async { daemon.metric("ambientd_listeners_dropped_total").await == 1.0 })
        .await;
    let dropped_after = stalled_at.elapsed();
    println!("stalled listener dropped after {dropped_after:?}");
    assert!(dropped_after < Duration::from_secs(3), "{dropped_after:?}");
    // Its place frees once the close handshake ends or times out.
    wait_until_async(|| async { daemon.metric("ambientd_listeners").await == 1.0 }).await;

    let (chunks, others) = reading.await.unwrap();
    for pair in chunks.windows(2) {
        assert_eq!(pair[1].sequence, pair[0].sequence + 1);
        let gap = pair[1].received - pair[0].received;
        assert!(gap < Duration::from_millis(400), "a reader waited {gap:?}");
    }
    assert!(others.iter().all(|m| m["type"] != "underrun"), "{others:?}");
    assert_eq!(daemon.metric("ambientd_underruns_total").await, 0.0);
    drop(stalled);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_listeners_is_enforced_politely() {
    let mut config = test_config();
    config.server.max_listeners = 2;
    let daemon = TestDaemon::with_config(config).await;
    let mut one = daemon.connect("").await;
    let _two = daemon.connect("").await;
    let refused = tokio_tungstenite::connect_async(daemon.ws_url("")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(body.contains("max_listeners = 2"), "{body}");
        }
        other => panic!("expected 503, got {other:?}"),
    }
    let (status, body) = daemon.get("/stream.wav").await;
    assert_eq!(status, 503, "{body}");
    // A place frees when a listener leaves.
    one.close(None).await.unwrap();
    drop(one);
    wait_until_async(|| async { daemon.metric("ambientd_listeners").await == 1.0 }).await;
    let mut three = daemon.connect("").await;
    assert_eq!(next_json(&mut three).await["type"], "hello");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_delivers_the_missed_chunks_then_goes_live() {
    let daemon = TestDaemon::start().await;
    let mut client = daemon.connect("").await;
    next_json(&mut client).await;
    let (before, _) = read_audio(&mut client, 3).await;
    let last = before[2].sequence;
    drop(client);
    // Miss about a second of audio.
    let daemon_ref = &daemon;
    wait_until_async(|| async move {
        let (_, status) = daemon_ref.get("/api/status").await;
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        status["next_sequence"].as_u64().unwrap() > last + 10
    })
    .await;
    let mut again = daemon.connect(&format!("?resume={last}")).await;
    assert_eq!(next_json(&mut again).await["type"], "hello");
    let (after, _) = read_audio(&mut again, 15).await;
    for (i, chunk) in after.iter().enumerate() {
        assert_eq!(chunk.sequence, last + 1 + i as u64, "no gap after resume");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_encoding_sends_header_and_pcm() {
    let daemon = TestDaemon::start().await;
    let mut client = daemon.connect("?encoding=binary&channels=2").await;
    assert_eq!(next_json(&mut client).await["format"]["encoding"], "binary");
    let mut last = None;
    let mut audio = 0;
    while audio < 5 {
        match next(&mut client).await {
            Message::Binary(frame) => {
                assert_eq!(frame.len(), 16 + 17_640);
                let sequence = u64::from_le_bytes(frame[..8].try_into().unwrap());
                let timestamp = u64::from_le_bytes(frame[8..16].try_into().unwrap());
                assert!(timestamp > 1_600_000_000_000);
                if let Some(last) = last {
                    assert_eq!(sequence, last + 1);
                }
                last = Some(sequence);
                audio += 1;
            }
            Message::Text(text) => assert!(!text.contains("\"audio\"")),
            other => panic!("unexpected {other:?}"),
        }
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_client_messages_get_an_error_and_the_stream_goes_on() {
    let daemon = TestDaemon::start().await;
    let mut client = daemon.connect("").await;
    next_json(&mut client).await;
    for bad in ["not json", r#"{"type":"set","param":"bpm","value":"900"}"#] {
        client.send(Message::text(bad)).await.unwrap();
        loop {
            let reply = next_json(&mut client).await;
            if reply["type"] == "error" {
                assert!(!reply["message"].as_str().unwrap().is_empty());
                break;
            }
        }
    }
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    let (chunks, others) = read_audio(&mut client, 3).await;
    assert_eq!(chunks.len(), 3);
    assert!(others.iter().all(|m| m["type"] != "hello"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_get_400_naming_the_field() {
    let daemon = TestDaemon::start().await;
    for (query, field, allowed) in [
        ("?channels=3", "channels", "1, 2"),
        ("?encoding=mp3", "encoding", "json, binary"),
        ("?resume=x", "resume", "allowed"),
        ("?volume=2", "volume", "channels, encoding, resume"),
    ] {
        let (status, body) = daemon.get(&format!("/ws{query}")).await;
        assert_eq!(status, 400);
        assert_eq!(body.lines().count(), 1, "{body}");
        assert!(body.contains(field) && body.contains(allowed), "{body}");
    }
    let (status, _) = daemon.get("/ws").await;
    assert_eq!(status, 400, "a plain GET is not an upgrade");
    assert_eq!(daemon.get("/nothing").await.0, 404);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_wav_sends_an_endless_header_then_real_time_pcm() {
    let daemon = TestDaemon::start().await;
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    stream
        .write_all(b"GET /stream.wav HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Read the head, then the first body bytes.
    let mut data = Vec::new();
    let mut buf = vec![0u8; 65536];
    let head_end = loop {
        let n = stream.read(&mut buf).await.unwrap();
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: audio/wav"), "{head}");
    // Count PCM bytes (chunked framing aside: each tick is one chunk of 17,640 bytes).
    let mut body = data[head_end..].to_vec();
    while body.len() < 200 {
        let n = stream.read(&mut buf).await.unwrap();
        body.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&body[..200]).into_owned();
    let riff = body.windows(4).position(|w| w == b"RIFF").unwrap();
    assert_eq!(&body[riff + 8..riff + 12], b"WAVE", "{text}");
    let channels = u16::from_le_bytes([body[riff + 22], body[riff + 23]]);
    assert_eq!(channels, 2);
    // The first chunk of audio (17,640 = 0x44e8 bytes) fades in from silence.
    let first_pcm = loop {
        let after_header = &body[riff + 44..];
        let size_line = |w: &[u8]| w.eq_ignore_ascii_case(b"44e8\r\n");
        if let Some(at) = after_header.windows(6).position(size_line)
            && after_header.len() >= at + 6 + 4
        {
            break riff + 44 + at + 6;
        }
        assert!(
            body.len() < 1 << 20,
            "no 17,640-byte chunk in the first MiB"
        );
        let n = stream.read(&mut buf).await.unwrap();
        body.extend_from_slice(&buf[..n]);
    };
    assert_eq!(
        &body[first_pcm..first_pcm + 4],
        &[0, 0, 0, 0],
        "the first frame is silent"
    );

    // Real time: 3 s of reading brings 3 s of audio, give or take a chunk or two.
    let started = Instant::now();
    let mut received = 0usize;
    while started.elapsed() < Duration::from_secs(3) {
        let n = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        received += n;
    }
    let seconds = received as f64 / 176_400.0;
    assert!(
        (2.7..=3.4).contains(&seconds),
        "{seconds} s of audio in 3 s"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_and_health_are_served() {
    let daemon = TestDaemon::start().await;
    let (status, text) = daemon.get("/metrics").await;
    assert_eq!(status, 200);
    check_prometheus_text(&text);
    for family in [
        "ambientd_listeners",
        "ambientd_chunks_total",
        "ambientd_underruns_total",
        "ambientd_listeners_dropped_total",
        "ambientd_render_block_seconds",
        "ambientd_realtime_factor",
        "ambientd_ring_fill_ratio",
        "ambientd_backend_fallbacks_total",
        "ambientd_delivery_seconds_count",
    ] {
        assert!(text.contains(&format!("\n{family} ")), "missing {family}");
    }
    assert!(daemon.metric("ambientd_realtime_factor").await > 1.0);
    // The process's own figures, in Prometheus's standard names (the test daemon runs in
    // this process: its descriptors and memory are this test's).
    let open = daemon.metric("process_open_fds").await;
    let max = daemon.metric("process_max_fds").await;
    assert!(open >= 3.0 && open < max, "{open} of {max}");
    assert!(daemon.metric("process_resident_memory_bytes").await > 1e6);
    assert!(text.contains("\nprocess_cpu_seconds_total "), "{text}");
    let started = daemon.metric("process_start_time_seconds").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "{started} vs {now}"
    );

    let (status, body) = daemon.get("/api/status").await;
    assert_eq!(status, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["backend"]["name"], "cpu");
    assert_eq!(status["params"]["key"], "A minor");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(status["uptime_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(daemon.get("/healthz").await, (200, "ok\n".to_string()));
    let (status, page) = daemon.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("app.js"), "/ serves the web client");
    daemon.stop().await;
}

/// Checks the Prometheus text exposition format: HELP/TYPE comments, then samples of a declared
/// family with a float value.
fn check_prometheus_text(text: &str) {
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    typed.insert(format!("{name}{suffix}"));
                }
            } else {
                typed.insert(name.to_string());
            }
        } else if line.starts_with("# HELP ") {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{line}"
            );
            assert!(typed.contains(name), "sample before its TYPE: {line}");
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            if let Some(labels) = series.strip_prefix(name) {
                assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_websockets_with_going_away() {
    let daemon = TestDaemon::start().await;
    let mut client = daemon.connect("").await;
    next_json(&mut client).await;
    let stopping = tokio::spawn(daemon.stop());
    let close = loop {
        match next(&mut client).await {
            Message::Close(frame) => break frame,
            _ => continue,
        }
    };
    assert_eq!(close.unwrap().code, CloseCode::Away);
    stopping.await.unwrap();
}

/// A `/stream.wav` player that stops reading (paused, stalled) is let go a second behind
/// like a WebSocket listener: its connection is closed and its place freed, so paused
/// players cannot fill `max_listeners`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_wav_listener_is_closed_and_its_place_freed() {
    let daemon = TestDaemon::start().await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(daemon.addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    stream
        .write_all(b"GET /stream.wav HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wait_until_async(|| async { daemon.metric("ambientd_listeners").await == 1.0 }).await;
    // Never read: the queue fills, the listener is dropped, and the place comes back.
    wait_until_async(|| async {
        daemon.metric("ambientd_listeners_dropped_total").await == 1.0
            && daemon.metric("ambientd_listeners").await == 0.0
    })
    .await;
    // The server closed the connection: reading drains what was in flight, then ends.
    let mut buf = vec![0u8; 65536];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
    daemon.stop().await;
}
