//! Hardening (issue 13) through the real interfaces: no web page can steer the daemon, no
//! client can starve the others, and bad values are refused with plain one-line errors.

mod daemon_support;

use ambientctl::{Event, Param};
use daemon_support::steer::*;
use daemon_support::*;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A WebSocket to `daemon` sending the `Host` and `Origin` a page on `name` would send.
async fn connect_as_page_on(daemon: &TestDaemon, name: &str) -> Client {
    let mut request = daemon.ws_url("").into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("host", name.parse().unwrap());
    headers.insert("origin", format!("http://{name}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// A page on a name that re-resolves to 127.0.0.1 (DNS rebinding) sends its own name as both
/// `Host` and `Origin`; it must not steer the daemon. The same page under `localhost` may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebound_dns_name_cannot_steer_it() {
    let daemon = TestDaemon::start().await;
    let port = daemon.addr.port();
    for name in [format!("evil.example:{port}"), "evil.example".to_string()] {
        let mut page = connect_as_page_on(&daemon, &name).await;
        assert_eq!(next_json(&mut page).await["web_control"], false, "{name}");
        try_set(&mut page, 50).await;
        let error = wait_for_message(&mut page, |m| m["type"] == "error").await;
        assert!(
            error["message"].as_str().unwrap().contains("web_control"),
            "{error}"
        );
    }
    let mut https = connect_with(&daemon, "", Some(&format!("https://{}", daemon.addr))).await;
    assert_eq!(next_json(&mut https).await["web_control"], false);
    assert_eq!(params(&daemon.socket).await.bpm(), 70, "nothing changed");
    let mut local = connect_as_page_on(&daemon, &format!("localhost:{port}")).await;
    assert_eq!(next_json(&mut local).await["web_control"], true);
    daemon.stop().await;
}

/// A flood of `set`s (on one control connection, as fast as it is answered) reaches each
/// listener as at most one `params` per chunk, carrying the last value, and costs the
/// listener no audio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_flood_is_coalesced_to_one_params_per_tick() {
    let daemon = TestDaemon::start().await;
    let mut listener = daemon.connect("").await;
    assert_eq!(next_json(&mut listener).await["type"], "hello");
    let socket = daemon.socket.clone();
    const SETS: u16 = 2_000;
    let flood = tokio::task::spawn_blocking(move || {
        let mut client = ambientctl::Client::connect(&socket).unwrap();
        for i in 0..SETS {
            let bpm = 60 + i % 40;
            client.call(&set(Param::Bpm, &bpm.to_string())).unwrap();
        }
        60 + (SETS - 1) % 40
    });
    let mut params_since_audio = 0;
    let mut most_between_chunks = 0;
    let mut chunks = 0;
    let mut last_bpm = None;
    while !flood.is_finished() || chunks < 5 {
        let message = next_json(&mut listener).await;
        match message["type"].as_str() {
            Some("audio") => {
                chunks += 1;
                most_between_chunks = most_between_chunks.max(params_since_audio);
                params_since_audio = 0;
            }
            Some("params") => {
                params_since_audio += 1;
                last_bpm = message["params"]["bpm"].as_u64();
            }
            _ => {}
        }
        assert!(chunks < 600, "the flood took over a minute");
    }
    let final_bpm = flood.await.unwrap();
    // The last change may ride the chunk after the flood ended.
    let (_, after) = read_audio(&mut listener, 2).await;
    for message in after.iter().filter(|m| m["type"] == "params") {
        last_bpm = message["params"]["bpm"].as_u64();
    }
    assert!(
        most_between_chunks <= 1,
        "{most_between_chunks} params before one chunk"
    );
    assert_eq!(
        last_bpm,
        Some(u64::from(final_bpm)),
        "listeners end on the last value"
    );
    assert_eq!(params(&daemon.socket).await.bpm(), final_bpm);
    assert_eq!(daemon.metric("ambientd_underruns_total").await, 0.0);
    assert_eq!(daemon.metric("ambientd_listeners_dropped_total").await, 0.0);
    daemon.stop().await;
}

/// A negative JSON number is not a relative step (it used to lower bpm by one), and the
/// errors a client sees name the field and what is allowed, never an internal type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_values_are_absolute_and_errors_are_plain() {
    let daemon = TestDaemon::start().await;
    let mut page = connect_with(&daemon, "", None).await;
    assert_eq!(next_json(&mut page).await["web_control"], true);
    for (value, needle) in [
        ("-1", "negative"),
        ("true", "a string or a number"),
        (
            "80.5",
            r#"bpm: \"80.5\" is not a whole number (allowed 40..=120)"#,
        ),
        (r#""eighty""#, r#"bpm: \"eighty\" is not a whole number"#),
    ] {
        let message = format!(r#"{{"type":"set","param":"bpm","value":{value}}}"#);
        page.send(Message::Text(message.into())).await.unwrap();
        let error = wait_for_message(&mut page, |m| m["type"] == "error").await;
        let text = error["message"].as_str().unwrap();
        assert!(
            text.contains(needle.replace('\\', "").as_str()),
            "{value}: {text}"
        );
        assert!(!text.contains("enum"), "{text}");
    }
    assert_eq!(params(&daemon.socket).await.bpm(), 70, "nothing changed");
    // An intensity is shown as it was set, not as its f64 widening (0.30000001192092896).
    call(&daemon.socket, set(Param::Intensity, "0.3"))
        .await
        .unwrap();
    let (_, status) = daemon.get("/api/status").await;
    assert!(status.contains(r#""intensity":0.3,"#), "{status}");
    let params_message = wait_for_message(&mut page, |m| m["type"] == "params").await;
    assert_eq!(params_message["params"]["intensity"].to_string(), "0.3");
    daemon.stop().await;
}

/// The token is compared after percent-decoding (a browser encodes what it sends), and a
/// query naming a parameter twice is refused rather than read as the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_tokens_are_percent_decoded_and_duplicates_refused() {
    let mut config = test_config();
    config.server.web_control_token = "s3 cr&t".into();
    let daemon = TestDaemon::with_config(config).await;
    let foreign = Some("http://evil.example");
    let mut encoded = connect_with(&daemon, "?token=s3%20cr%26t", foreign).await;
    assert_eq!(next_json(&mut encoded).await["web_control"], true);
    let (status, body) = daemon.get("/ws?token=wrong&token=s3%20cr%26t").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("token: given more than once"), "{body}");
    daemon.stop().await;
}

/// A watcher that does not keep up is told how many events it missed, rather than losing
/// them silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_behind_is_told_what_it_missed() {
    let daemon = TestDaemon::start().await;
    let socket = daemon.socket.clone();
    let lines = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader, Write};
        let mut watcher = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        watcher.write_all(b"{\"type\":\"watch\"}\n").unwrap();
        // Not reading while far more events happen than the socket and the backlog hold.
        let mut client = ambientctl::Client::connect(&socket).unwrap();
        for i in 0..6_000u32 {
            let bpm = 60 + i % 40;
            client.call(&set(Param::Bpm, &bpm.to_string())).unwrap();
        }
        watcher
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let reader = BufReader::new(watcher);
        reader
            .lines()
            .map_while(Result::ok)
            .find(|line| line.contains("\"missed\""))
    })
    .await
    .unwrap();
    let line = lines.expect("a missed event");
    let event = ambientctl::decode_event(&line).unwrap();
    assert!(
        matches!(event, Event::Missed { events } if events > 0),
        "{line}"
    );
    daemon.stop().await;
}
