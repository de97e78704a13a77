//! The control socket and web control against an in-process daemon: every request through
//! the real `ambientctl::Client`, watch events, reload, persistence across a restart, and
//! WebSocket `set` honoured or refused as the config says.

mod daemon_support;

use std::path::{Path, PathBuf};

use ambientctl::{Client, Event, Param, Request, Response};
use ambientd::config::{Config, WebControl};
use daemon_support::steer::*;
use daemon_support::*;
use serde_json::Value;

/// Events from a watch, on a thread, handed over through a channel.
fn watch(socket: &Path) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let events = Client::connect(socket).unwrap().watch().unwrap();
    std::thread::spawn(move || {
        for line in events {
            if tx.send(line.unwrap().event).is_err() {
                return;
            }
        }
    });
    rx
}

async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(TIMEOUT, events.recv())
        .await
        .expect("an event in time")
        .expect("the watch is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_answered_and_set_reaches_engine_listeners_watchers_and_disk() {
    let daemon = TestDaemon::start().await;
    let socket = daemon.socket.clone();
    check_version_and_status(&daemon).await;

    let mut events = watch(&socket);
    assert!(matches!(next_event(&mut events).await, Event::Params(p) if p.bpm() == 70));
    let mut listener = daemon.connect("").await;
    assert_eq!(next_json(&mut listener).await["type"], "hello");

    let Ok(Response::Params(now)) = call(&socket, set(Param::Bpm, "80")).await else {
        panic!("set")
    };
    assert_eq!(now.bpm(), 80);
    let Ok(Response::Params(now)) = call(&socket, set(Param::Bpm, "+5")).await else {
        panic!("relative set")
    };
    assert_eq!(now.bpm(), 85);
    assert_eq!(
        call(&socket, set(Param::Bpm, "+40")).await.unwrap_err(),
        "bpm: 125 (85+40) is out of range (allowed 40..=120)"
    );
    assert_eq!(
        call(
            &socket,
            Request::Get {
                param: Some(Param::Bpm)
            }
        )
        .await,
        Ok(Response::Value {
            param: Param::Bpm,
            value: 85.into()
        })
    );
    call(&socket, set(Param::Key, "D minor")).await.unwrap();

    // Watchers see each accepted change, in order; the refused one never shows.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match next_event(&mut events).await {
            Event::Params(p) => seen.push((p.bpm(), p.key().to_string())),
            Event::ListenerJoined { listeners, .. } => assert_eq!(listeners, 1),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [
            (80, "A minor".to_string()),
            (85, "A minor".to_string()),
            (85, "D minor".to_string())
        ]
    );
    // Listeners get `params` too, and the saved file holds the last values.
    wait_for_message(&mut listener, |m| {
        m["type"] == "params" && m["params"]["key"] == "D minor"
    })
    .await;
    wait_for_file(&daemon.dir.path().join("state/params.toml"), |saved| {
        saved.contains("bpm = 85") && saved.contains("D minor")
    })
    .await;

    // Skip starts a new phrase; watchers hear about phrases as they start playing.
    assert_eq!(call(&socket, Request::Skip).await, Ok(Response::Done));
    loop {
        if let Event::Phrase { chords } = next_event(&mut events).await {
            assert!(!chords.is_empty());
            break;
        }
    }
    // Reload without a config file has nothing to read, and says so (not "reloaded").
    let refused = call(&socket, Request::Reload).await.unwrap_err();
    assert!(refused.contains("started without --config"), "{refused}");
    assert_eq!(
        call(&socket, set(Param::Intensity, "1.5"))
            .await
            .unwrap_err(),
        "intensity: 1.5 is out of range (allowed 0.0..=1.0)"
    );

    drop(listener);
    daemon.stop().await;
    loop {
        match next_event(&mut events).await {
            Event::Stopping => break,
            Event::ListenerLeft { listeners, .. } => assert_eq!(listeners, 0),
            _ => {}
        }
    }
}

/// `version` names both versions; `status` describes the test daemon.
async fn check_version_and_status(daemon: &TestDaemon) {
    let socket = daemon.socket.clone();
    let Ok(Response::Version { version, protocol }) = call(&socket, Request::Version).await else {
        panic!("version")
    };
    assert_eq!(
        (version.as_str(), protocol),
        (env!("CARGO_PKG_VERSION"), ambientctl::PROTOCOL_VERSION)
    );
    let Ok(Response::Status(status)) = call(&socket, Request::Status).await else {
        panic!("status")
    };
    assert_eq!(status.backend, "cpu");
    assert_eq!(status.params.seed(), 7);
    assert_eq!(status.listen, Some(daemon.addr.to_string()));
    assert_eq!(status.ring_capacity_ms, 2000);
    assert!(
        status.ring_fill > 0.0 && status.ring_fill <= 1.0,
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_survive_a_restart_and_win_over_the_config() {
    let state = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.state.dir = state.path().to_path_buf();
    let daemon = TestDaemon::with_config(config.clone()).await;
    call(&daemon.socket, set(Param::Bpm, "96")).await.unwrap();
    call(&daemon.socket, set(Param::Seed, "42")).await.unwrap();
    daemon.stop().await;

    config.music.bpm = 60;
    let daemon = TestDaemon::with_config(config.clone()).await;
    let restored = params(&daemon.socket).await;
    assert_eq!((restored.bpm(), restored.seed()), (96, 42));
    daemon.stop().await;

    // A corrupt file is ignored (the config's [music] plays) and replaced by the next change.
    std::fs::write(state.path().join("params.toml"), "bpm = \"fast\"\n").unwrap();
    let daemon = TestDaemon::with_config(config).await;
    assert_eq!(params(&daemon.socket).await.bpm(), 60);
    call(&daemon.socket, set(Param::Bpm, "61")).await.unwrap();
    wait_for_file(&state.path().join("params.toml"), |saved| {
        saved.contains("bpm = 61")
    })
    .await;
    daemon.stop().await;
}

/// Waits until the file at `path` satisfies `done` (it is saved off the request path, so it
/// lags the reply by an fsync); fails after 10 s with what it holds.
async fn wait_for_file(path: &Path, done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let saved = std::fs::read_to_string(path).unwrap_or_default();
        if done(&saved) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never got there: {saved:?}",
            path.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn write_config(path: &PathBuf, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_live_keys_and_an_invalid_file_keeps_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ambientd.toml");
    // The state directory named in the file, as the harness would otherwise pick one.
    let state = format!("[state]\ndir = {:?}\n", dir.path().join("state"));
    write_config(
        &path,
        &format!(
            "{state}[synth]\nbackend = \"cpu\"\n[music]\nseed = 7\n[server]\nmax_listeners = 5\n"
        ),
    );
    let hooks = ambientd::Hooks {
        config_path: Some(path.clone()),
        ..Default::default()
    };
    let daemon = TestDaemon::launch(Config::load(&path).unwrap(), dir, hooks).await;
    let socket = daemon.socket.clone();
    let status = |body: String| serde_json::from_str::<Value>(&body).unwrap();
    assert_eq!(
        status(daemon.get("/api/status").await.1)["max_listeners"],
        5
    );

    write_config(
        &path,
        &format!(
            "{state}[synth]\nbackend = \"cpu\"\n[music]\nseed = 7\nbpm = 100\n[server]\nmax_listeners = 9\n"
        ),
    );
    assert_eq!(
        call(&socket, Request::Reload).await,
        Ok(Response::Reloaded {
            changes: vec![
                "server.max_listeners 5 -> 9".into(),
                "bpm 70 -> 100: edited in the config file".into()
            ]
        })
    );
    assert_eq!(
        status(daemon.get("/api/status").await.1)["max_listeners"],
        9
    );
    assert_eq!(
        params(&socket).await.bpm(),
        100,
        "an edited [music] plays now"
    );

    write_config(&path, "[server]\nmax_listeners = 9\nbogus = 1\n");
    let error = call(&socket, Request::Reload).await.unwrap_err();
    assert!(
        error.starts_with(&format!("{}:3:", path.display())) && error.contains("bogus"),
        "{error}"
    );
    assert_eq!(
        status(daemon.get("/api/status").await.1)["max_listeners"],
        9
    );
    assert_eq!(params(&socket).await.bpm(), 100);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_control_follows_the_config() {
    let mut config = test_config();
    config.server.web_control_token = "s3cret".into();
    let daemon = TestDaemon::with_config(config).await;
    let same_origin = format!("http://{}", daemon.addr);

    // Loopback and same origin (or no Origin at all): allowed; the change reaches everyone.
    let mut page = connect_with(&daemon, "", Some(&same_origin)).await;
    let hello = next_json(&mut page).await;
    assert_eq!(hello["web_control"], true, "{hello}");
    let mut other = connect_with(&daemon, "", None).await;
    assert_eq!(next_json(&mut other).await["web_control"], true);
    try_set(&mut page, 90).await;
    wait_for_message(&mut other, |m| {
        m["type"] == "params" && m["params"]["bpm"] == 90
    })
    .await;
    wait_for_message(&mut page, |m| {
        m["type"] == "params" && m["params"]["bpm"] == 90
    })
    .await;
    assert_eq!(params(&daemon.socket).await.bpm(), 90);
    // Out of range: an error naming the field and the range, nothing changes.
    try_set(&mut page, 200).await;
    let error = wait_for_message(&mut page, |m| m["type"] == "error").await;
    assert_eq!(
        error["message"],
        "bpm: 200 is out of range (allowed 40..=120)"
    );

    // A page from another origin: refused, unless it holds the token.
    let mut foreign = connect_with(&daemon, "", Some("http://evil.example")).await;
    assert_eq!(next_json(&mut foreign).await["web_control"], false);
    try_set(&mut foreign, 50).await;
    let error = wait_for_message(&mut foreign, |m| m["type"] == "error").await;
    assert!(
        error["message"].as_str().unwrap().contains("web_control"),
        "{error}"
    );
    let mut wrong = connect_with(&daemon, "?token=guess", Some("http://evil.example")).await;
    assert_eq!(next_json(&mut wrong).await["web_control"], false);
    let mut holder = connect_with(&daemon, "?token=s3cret", Some("http://evil.example")).await;
    assert_eq!(next_json(&mut holder).await["web_control"], true);
    try_set(&mut holder, 55).await;
    wait_for_message(&mut holder, |m| {
        m["type"] == "params" && m["params"]["bpm"] == 55
    })
    .await;
    assert_eq!(params(&daemon.socket).await.bpm(), 55);
    daemon.stop().await;

    // Off: nobody, token or not.
    let mut config = test_config();
    config.server.web_control = WebControl::Off;
    config.server.web_control_token = "s3cret".into();
    let daemon = TestDaemon::with_config(config).await;
    let mut client = connect_with(&daemon, "?token=s3cret", None).await;
    assert_eq!(next_json(&mut client).await["web_control"], false);
    try_set(&mut client, 100).await;
    wait_for_message(&mut client, |m| m["type"] == "error").await;
    assert_eq!(params(&daemon.socket).await.bpm(), 70);
    daemon.stop().await;
}
