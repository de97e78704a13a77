//! Fault injection (`--features failpoints`): a stalled generator gives silence chunks and
//! `underrun` messages, and the stream recovers when it resumes; a render panic costs one
//! chunk of fade-out and a new phrase, never the stream.
#![cfg(feature = "failpoints")]

mod daemon_support;

use daemon_support::*;

/// One test function: failpoints are process-global, so the scenarios run in sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_and_panics_in_the_generator_never_kill_the_stream() {
    let scenario = fail::FailScenario::setup();
    let daemon = TestDaemon::start().await;
    let mut client = daemon.connect("?channels=2").await;
    assert_eq!(next_json(&mut client).await["type"], "hello");
    let (_, others) = read_audio(&mut client, 5).await;
    assert!(others.iter().all(|m| m["type"] != "underrun"));

    // Stall the generation thread: the 2 s ring drains, then every tick is silence.
    fail::cfg("engine::render", "pause").unwrap();
    let mut underruns = Vec::new();
    let mut silent_chunks = 0;
    while silent_chunks < 5 {
        let message = next_json(&mut client).await;
        match message["type"].as_str().unwrap() {
            "underrun" => underruns.push(message["sequence"].as_u64().unwrap()),
            "audio" => {
                let audio = parse_audio(&message);
                if underruns.last() == Some(&audio.sequence) {
                    // After a 10 ms fade from the last sample, nothing but zeros.
                    let samples = audio.samples();
                    assert!(samples[882 * 2..].iter().all(|&s| s == 0));
                    assert_eq!(audio.pcm.len(), 17_640, "silence chunks are full chunks");
                    silent_chunks += 1;
                }
            }
            _ => {}
        }
    }
    assert!(underruns.windows(2).all(|w| w[1] == w[0] + 1));
    wait_until_async(|| async { daemon.get("/healthz").await.0 == 503 }).await;
    assert!(daemon.metric("ambientd_underruns_total").await >= 5.0);

    // Resume: audio comes back, faded in, and the underruns stop.
    fail::cfg("engine::render", "off").unwrap();
    let mut clean_run = 0;
    let mut first_recovered = None;
    while clean_run < 20 {
        let message = next_json(&mut client).await;
        match message["type"].as_str().unwrap() {
            "underrun" => clean_run = 0,
            "audio" => {
                let audio = parse_audio(&message);
                if underruns.last() != Some(&audio.sequence) {
                    first_recovered.get_or_insert(audio);
                    clean_run += 1;
                } else {
                    underruns.push(audio.sequence);
                }
            }
            _ => {}
        }
    }
    let first = first_recovered.unwrap().samples();
    assert!(first[0].abs() < 64, "audio fades back in, got {}", first[0]);
    assert!(first.iter().any(|&s| s != 0), "real audio after recovery");
    wait_until_async(|| async { daemon.get("/healthz").await.0 == 200 }).await;

    // A panic inside the render: recovered on the generation thread, the stream goes on.
    fail::cfg("engine::render", "1*panic").unwrap();
    wait_until_async(|| async { daemon.metric("ambientd_render_panics_total").await == 1.0 }).await;
    let (chunks, others) = read_audio(&mut client, 20).await;
    assert!(
        chunks
            .windows(2)
            .all(|w| w[1].sequence == w[0].sequence + 1)
    );
    assert!(others.iter().all(|m| m["type"] != "underrun"), "{others:?}");
    fail::remove("engine::render");
    daemon.stop().await;
    scenario.teardown();
}
