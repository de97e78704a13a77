//! The Opus streams through their real interfaces: `/stream.opus` pulled from a daemon on
//! loopback, its Ogg pages parsed here (checksums computed independently, granule positions,
//! flags), then checked and decoded by the real `ffprobe`/`ffmpeg`; two listeners joining
//! at different times; `/ws?encoding=opus` frames decoded with libopus; the config key
//! refused out of range by the real binary.

mod daemon_support;
mod opus_support;

use std::process::Command;
use std::time::{Duration, Instant};

use daemon_support::*;
use opus_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_opus_is_ogg_opus_with_valid_pages_that_ffmpeg_decodes() {
    let daemon = TestDaemon::start().await;
    let mut pull = OggPull::start(daemon.addr).await;
    // Headers and 3 s of pages.
    let pages = pull.pages(32).await;
    let pages = &pages[..32];
    let pre_skip = check_headers(pages);
    assert!((0..=48_000).contains(&pre_skip), "pre-skip {pre_skip}");
    check_audio(pages);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stream.opus");
    let bytes: Vec<u8> = pages.iter().flat_map(|p| p.bytes.clone()).collect();
    std::fs::write(&file, bytes).unwrap();
    let decoded = probe_and_decode(&file);
    // Every page's 4,800 samples, less the pre-skip at the start: nothing lost at a seam.
    assert_eq!(decoded, 30 * PAGE_SAMPLES as usize - usize::from(pre_skip));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_10_listener_gets_the_same_pages_bare() {
    let daemon = TestDaemon::start().await;
    let mut modern = OggPull::start(daemon.addr).await;
    let mut old = OggPull::start_with(daemon.addr, false).await;
    let old_pages = old.pages(2 + 20).await;
    let modern_pages = modern.pages(2 + 25).await;
    check_headers(&old_pages);
    check_audio(&old_pages);
    let offset = modern_pages
        .iter()
        .position(|p| p.sequence == old_pages[2].sequence)
        .expect("both listeners get the same pages");
    for (theirs, ours) in modern_pages[offset..].iter().zip(&old_pages[2..]) {
        assert_eq!(theirs.bytes, ours.bytes, "shared page {}", ours.sequence);
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_listener_gets_headers_a_burst_and_the_same_pages() {
    let daemon = TestDaemon::start().await;
    let mut first = OggPull::start(daemon.addr).await;
    let early = first.pages(2 + 15).await;
    let joined_at = early.last().unwrap().granule;
    let mut second = OggPull::start(daemon.addr).await;
    let started = Instant::now();
    // The burst comes at once: 10 pages (1 s) in far less than a second.
    let burst = second.pages(2 + 10).await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the burst took {:?}",
        started.elapsed()
    );
    assert_eq!(check_headers(&burst), check_headers(&early));
    assert_eq!(burst[..2], early[..2], "the same header pages for everyone");
    assert!(
        burst[2].granule <= joined_at,
        "the burst starts in the past ({} vs {joined_at})",
        burst[2].granule
    );
    let second_pages = second.pages(2 + 25).await;
    let first_pages = first.pages(2 + 15 + 25).await;
    check_audio(&first_pages);
    check_audio(&second_pages);
    // After its headers, the second listener's pages are the first one's, byte for byte.
    let offset = first_pages
        .iter()
        .position(|p| p.sequence == second_pages[2].sequence)
        .expect("the second listener's first page is one the first listener got");
    for (theirs, ours) in first_pages[offset..].iter().zip(&second_pages[2..]) {
        assert_eq!(theirs.bytes, ours.bytes, "shared page {}", ours.sequence);
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, pages) in [("first", &first_pages), ("second", &second_pages)] {
        let file = dir.path().join(format!("{name}.opus"));
        std::fs::write(
            &file,
            pages
                .iter()
                .flat_map(|p| p.bytes.clone())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let decoded = probe_and_decode(&file);
        let pre_skip = usize::from(check_headers(pages));
        let expected = (pages.len() - 2) * PAGE_SAMPLES as usize - pre_skip;
        assert_eq!(decoded, expected, "{name} listener's decoded length");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_bitrate_sets_the_stream_bitrate() {
    let mut rates = Vec::new();
    for kbits in [32u32, 192] {
        let mut config = test_config();
        config.stream.opus_bitrate = kbits;
        let daemon = TestDaemon::with_config(config).await;
        let mut pull = OggPull::start(daemon.addr).await;
        let pages = pull.pages(2 + 30).await;
        check_audio(&pages);
        let bytes: usize = pages[2..32].iter().map(|p| p.bytes.len()).sum();
        // 30 pages are 3 s.
        let measured = bytes as f64 * 8.0 / 3.0 / 1000.0;
        assert!(
            (0.6..=1.25).contains(&(measured / f64::from(kbits))),
            "{measured:.1} kbit/s measured for opus_bitrate = {kbits}"
        );
        rates.push(measured);
        daemon.stop().await;
    }
}

#[test]
fn the_daemon_refuses_an_out_of_range_opus_bitrate_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ambientd.toml");
    for bad in ["16", "300", "96000"] {
        std::fs::write(&config, format!("[stream]\nopus_bitrate = {bad}\n")).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_ambientd"))
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--control-socket"])
            .arg(dir.path().join("control.sock"))
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "opus_bitrate = {bad} was accepted"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = format!("{}:2:", config.display());
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "opus_bitrate: {bad} is out of range (allowed 32..=256 kbit/s)"
            )),
            "{stderr}"
        );
    }
}

/// The next `count` Opus audio frames (skipping text messages).
async fn opus_frames(client: &mut Client, count: usize) -> Vec<(u64, u64, Vec<Vec<u8>>)> {
    let mut frames = Vec::new();
    while frames.len() < count {
        if let Message::Binary(data) = next(client).await {
            frames.push(parse_opus_frame(&data));
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_opus_frames_decode_and_resume_by_sequence() {
    let daemon = TestDaemon::start().await;
    let mut client = daemon.connect("?encoding=opus").await;
    let hello = next_json(&mut client).await;
    assert_eq!(hello["type"], "hello");
    let format = &hello["format"];
    assert_eq!(format["encoding"], "opus");
    assert_eq!(format["sample_rate"], 48_000);
    assert_eq!(format["channels"], 2);
    assert_eq!(format["chunk_frames"], 4_800);
    assert_eq!(format["sample_format"], "opus");
    assert_eq!(format["opus"]["packets_per_chunk"], 5);
    assert_eq!(format["opus"]["packet_ms"], 20);
    assert!(
        format["opus"]["layout"]
            .as_str()
            .unwrap()
            .contains("length u16")
    );
    let first_sequence = hello["sequence"].as_u64().unwrap();
    let frames = opus_frames(&mut client, 20).await;
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Stereo).unwrap();
    let mut pcm = vec![0f32; 5_760 * 2];
    let mut loudest = 0f32;
    for (i, (sequence, timestamp, packets)) in frames.iter().enumerate() {
        assert_eq!(*sequence, first_sequence + i as u64, "no chunk missing");
        assert!(*timestamp > 1_600_000_000_000, "Unix ms");
        assert_eq!(packets.len(), 5);
        for packet in packets {
            let samples = decoder.decode_float(packet, &mut pcm, false).unwrap();
            assert_eq!(samples, 960, "20 ms per packet");
            loudest = pcm[..960 * 2].iter().fold(loudest, |m, s| m.max(s.abs()));
        }
    }
    assert!(loudest > 0.01, "the stream carries music, peak {loudest}");
    let last = frames.last().unwrap().0;
    drop(client);
    // Resume: the held chunks after `last` come first, then live ones, with no gap.
    let mut resumed = daemon
        .connect(&format!("?encoding=opus&resume={last}"))
        .await;
    assert_eq!(next_json(&mut resumed).await["type"], "hello");
    let frames = opus_frames(&mut resumed, 5).await;
    let sequences: Vec<u64> = frames.iter().map(|f| f.0).collect();
    assert_eq!(sequences, (last + 1..last + 6).collect::<Vec<_>>());
    // Mono Opus is refused before the upgrade, with the allowed value.
    let (status, body) = daemon.get("/ws?encoding=opus&channels=1").await;
    assert_eq!(status, 400);
    assert!(body.contains("allowed: 2"), "{body}");
    daemon.stop().await;
}

/// Frames from `client` until `count` audio frames came, by sequence.
async fn binary_frames(client: &mut Client, count: usize) -> Vec<(u64, Vec<u8>)> {
    let mut frames = Vec::new();
    while frames.len() < count {
        if let Message::Binary(data) = next(client).await {
            let sequence = u64::from_le_bytes(data[0..8].try_into().unwrap());
            frames.push((sequence, data.to_vec()));
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoded_opus_is_as_loud_as_the_pcm_it_encodes() {
    let daemon = TestDaemon::start().await;
    let mut opus_client = daemon.connect("?encoding=opus").await;
    let mut pcm_client = daemon.connect("?channels=2&encoding=binary").await;
    // 12 s of both at once (each is read as it comes, so neither falls behind).
    let (opus_frames, pcm_frames) = tokio::join!(
        binary_frames(&mut opus_client, 120),
        binary_frames(&mut pcm_client, 120)
    );
    let first = opus_frames[0].0.max(pcm_frames[0].0);
    let last = opus_frames
        .last()
        .unwrap()
        .0
        .min(pcm_frames.last().unwrap().0);
    assert!(last - first >= 100, "10 s in common ({first}..={last})");
    let dir = tempfile::tempdir().unwrap();

    // The PCM of the chunks both got, as a 44.1 kHz WAV.
    let pcm_file = dir.path().join("pcm.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&pcm_file, spec).unwrap();
    for (_, frame) in pcm_frames
        .iter()
        .filter(|(s, _)| (first..=last).contains(s))
    {
        for sample in frame[16..].chunks_exact(2) {
            writer
                .write_sample(i16::from_le_bytes([sample[0], sample[1]]))
                .unwrap();
        }
    }
    writer.finalize().unwrap();

    // The Opus of the same chunks, decoded by libopus from the stream's first frame on.
    let opus_file = dir.path().join("opus.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(&opus_file, spec).unwrap();
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Stereo).unwrap();
    let mut pcm = vec![0f32; 5_760 * 2];
    for (sequence, frame) in &opus_frames {
        let (_, _, packets) = parse_opus_frame(frame);
        for packet in packets {
            let samples = decoder.decode_float(&packet, &mut pcm, false).unwrap();
            if (first..=last).contains(sequence) {
                for &sample in &pcm[..samples * 2] {
                    writer.write_sample(sample).unwrap();
                }
            }
        }
    }
    writer.finalize().unwrap();

    let pcm_lufs = integrated_loudness(&pcm_file);
    let opus_lufs = integrated_loudness(&opus_file);
    println!(
        "chunks {first}..={last}: PCM {pcm_lufs:.2} LUFS, Opus {opus_lufs:.2} LUFS, difference {:.2} LU",
        opus_lufs - pcm_lufs
    );
    assert!(
        (opus_lufs - pcm_lufs).abs() <= 0.5,
        "PCM {pcm_lufs} LUFS, Opus {opus_lufs} LUFS"
    );
    daemon.stop().await;
}

/// `/stream.opus` listeners count in `max_listeners`, and one that stops reading is let go
/// a second behind like a `/stream.wav` player: its connection closed, its place freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_opus_counts_in_max_listeners_and_a_stalled_reader_is_dropped() {
    let mut config = test_config();
    config.server.max_listeners = 1;
    let daemon = TestDaemon::with_config(config).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(daemon.addr).await.unwrap();
    stalled
        .write_all(b"GET /stream.opus HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wait_until_async(|| async { daemon.metric("ambientd_listeners").await == 1.0 }).await;
    let (status, body) = daemon.get("/stream.opus").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("max_listeners = 1"), "{body}");
    // Never read: the socket buffers and then the 1 s queue fill; the listener goes.
    wait_until_async(|| async {
        daemon.metric("ambientd_listeners_dropped_total").await == 1.0
            && daemon.metric("ambientd_listeners").await == 0.0
    })
    .await;
    let mut buffer = vec![0u8; 65536];
    let ended = tokio::time::timeout(TIMEOUT, async {
        loop {
            match stalled.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection stayed open");
    // The place is free again.
    let mut pull = OggPull::start(daemon.addr).await;
    check_audio(&pull.pages(2 + 3).await);
    daemon.stop().await;
}
