//! A daemon whose Opus encoder cannot be made (`--features failpoints`: the failpoint
//! `opus-encoder` stands in for libopus refusing) keeps serving everything else, answers
//! `/stream.opus` with 503 and the reason, and closes `/ws?encoding=opus` with one.
#![cfg(feature = "failpoints")]

mod daemon_support;

use daemon_support::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_opus_encoder_opus_requests_are_refused_with_a_reason() {
    let scenario = fail::FailScenario::setup();
    fail::cfg("opus-encoder", "return").unwrap();
    let daemon = TestDaemon::start().await;
    fail::remove("opus-encoder");

    let (status, body) = daemon.get("/stream.opus").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "/stream.opus is unavailable: no Opus encoder (libopus: cannot create an encoder \
         (failpoint opus-encoder))\n"
    );

    let mut client = daemon.connect("?encoding=opus").await;
    match next(&mut client).await {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Unsupported);
            assert!(
                frame.reason.starts_with("encoding=opus is unavailable"),
                "{}",
                frame.reason
            );
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    // Everything else goes on: PCM over the WebSocket, health.
    let mut pcm = daemon.connect("?encoding=binary").await;
    assert_eq!(next_json(&mut pcm).await["type"], "hello");
    assert!(matches!(next(&mut pcm).await, Message::Binary(_)));
    assert_eq!(daemon.get("/healthz").await.0, 200);
    daemon.stop().await;
    scenario.teardown();
}
