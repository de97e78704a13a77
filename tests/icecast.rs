//! The Icecast source output against real icecast2 servers (started from the shipped
//! `packaging/icecast/icecast.xml`), with ffprobe/ffmpeg as the listeners: the stream
//! decodes as Opus through Icecast and through a relay of it; Icecast killed and restarted
//! is reconnected to by itself while local listeners play on; a wrong password is said once
//! and not hammered; a server that accepts and then goes silent is left and retried; a
//! reload starts, keeps and stops outputs.

mod daemon_support;
mod icecast_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ambientctl::{Request, Response};
use ambientd::config::Config;
use daemon_support::steer::call;
use daemon_support::*;
use icecast_support::*;
use serde_json::Value;

/// A test config with one `[[icecast]]` entry per URL.
fn config_with_outputs(urls: &[&str], password: &str) -> Config {
    let mut text = String::from("[synth]\nbackend = \"cpu\"\n[music]\nseed = 7\n");
    for url in urls {
        text.push_str(&format!(
            "[[icecast]]\nurl = \"{url}\"\npassword = \"{password}\"\nname = \"ambientd test\"\n"
        ));
    }
    Config::from_toml(&text).unwrap()
}

async fn outputs(daemon: &TestDaemon) -> Vec<Value> {
    let (_, body) = daemon.get("/api/status").await;
    let status: Value = serde_json::from_str(&body).unwrap();
    status["icecast"].as_array().cloned().unwrap_or_default()
}

async fn wait_connected(daemon: &TestDaemon, index: usize, connected: bool) -> Value {
    wait_until_async(|| async {
        outputs(daemon)
            .await
            .get(index)
            .is_some_and(|o| o["connected"] == connected)
    })
    .await;
    outputs(daemon).await.swap_remove(index)
}

/// Runs blocking work (icecast2, ffmpeg) off the runtime's threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

/// Counts the bytes a `/stream.wav` listener of `daemon` receives, on its own task.
fn local_listener(daemon: &TestDaemon) -> tokio::sync::watch::Receiver<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, rx) = tokio::sync::watch::channel(0usize);
    let addr = daemon.addr;
    tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /stream.wav HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                return;
            }
            total += n;
            if tx.send(total).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_decode_opus_through_icecast_and_a_restart_is_reconnected() {
    let icecast = blocking(|| Icecast::start("")).await;
    let url = icecast.url();
    let daemon = TestDaemon::with_config(config_with_outputs(&[&url], SOURCE_PASSWORD)).await;
    let output = wait_connected(&daemon, 0, true).await;
    assert_eq!(output["url"], url.as_str());
    assert_eq!(output["attempts"], 1);

    let listen = url.clone();
    let probed = blocking(move || probe(&listen)).await;
    assert_eq!(probed, "opus,48000,2", "ffprobe on Icecast's mount");
    let listen = url.clone();
    blocking(move || assert_plays(&listen, 3.0)).await;
    let sent = outputs(&daemon).await[0]["bytes_sent"].as_u64().unwrap();
    assert!(sent > 10_000, "{sent} bytes sent");
    // /metrics and `ambientctl status` show the same output.
    let (_, metrics) = daemon.get("/metrics").await;
    assert!(
        metrics.contains(&format!(
            "ambientd_icecast_connected{{output=\"{url}\"}} 1\n"
        )),
        "{metrics}"
    );
    let Ok(Response::Status(status)) = call(&daemon.socket, Request::Status).await else {
        panic!("no status");
    };
    assert!(status.icecast[0].connected);
    let shown = ambientctl::display::status(&status);
    assert!(
        shown.contains(&format!("icecast    {url} connected")),
        "{shown}"
    );

    // Icecast dies: the output notices and says why; local listeners play on meanwhile.
    let local = local_listener(&daemon);
    let mut icecast = icecast;
    let icecast_down = blocking(move || {
        icecast.kill();
        icecast
    });
    let mut icecast = icecast_down.await;
    let down = wait_connected(&daemon, 0, false).await;
    assert!(down["last_error"].is_string(), "{down}");
    let before = *local.borrow();
    wait_until_async(|| async { *local.borrow() > before + 176_400 }).await; // 1 s of WAV
    // It comes back on the same port: the output reconnects by itself, listeners hear it.
    icecast = blocking(move || {
        icecast.start_again();
        icecast
    })
    .await;
    let back = wait_connected(&daemon, 0, true).await;
    assert!(back["reconnects"].as_u64().unwrap() >= 1, "{back}");
    let listen = url.clone();
    blocking(move || assert_plays(&listen, 2.0)).await;
    assert!(*local.borrow() > before + 176_400);
    daemon.stop().await;
    drop(icecast);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_of_the_master_serves_the_stream_too() {
    let master = blocking(|| Icecast::start("")).await;
    let daemon =
        TestDaemon::with_config(config_with_outputs(&[&master.url()], SOURCE_PASSWORD)).await;
    wait_connected(&daemon, 0, true).await;
    let master_port = master.port;
    let relay = blocking(move || {
        master_port_ready(master_port);
        let relay = Icecast::start(&relay_of(master_port));
        relay.wait_for_mount();
        relay
    })
    .await;
    let url = relay.url();
    assert_ne!(url, master.url());
    let listen = url.clone();
    assert_eq!(blocking(move || probe(&listen)).await, "opus,48000,2");
    blocking(move || assert_plays(&url, 3.0)).await;
    daemon.stop().await;
    drop((relay, master));
}

/// Waits until the master on `port` serves the mount (a relay started earlier gives up).
fn master_port_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !blocking_get(port, "/status-json.xsl")
        .is_some_and(|(_, body)| body.contains(&format!(":{port}{MOUNT}\"")))
    {
        assert!(Instant::now() < deadline, "the master has no source");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_wrong_password_is_said_once_and_not_hammered() {
    let icecast = Icecast::start("");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("ambientd.toml");
    let secret = "wrong-secret-pw";
    std::fs::write(dir.path().join("icecast.pass"), format!("{secret}\n")).unwrap();
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[synth]\nbackend = \"cpu\"\n\
             [state]\ndir = \"{state}\"\n[[icecast]]\nurl = \"{url}\"\npassword_file = \"{file}\"\n",
            state = dir.path().join("state").display(),
            url = icecast.url(),
            file = dir.path().join("icecast.pass").display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .arg("--config")
        .arg(&config)
        .arg("--control-socket")
        .arg(dir.path().join("control.sock"))
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    let status = || {
        blocking_get(port, "/api/status")
            .map(|(_, body)| serde_json::from_str::<Value>(&body).unwrap_or_default())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !status()["icecast"][0]["last_error"]
        .as_str()
        .is_some_and(|e| e.contains("refused the credentials"))
    {
        assert!(Instant::now() < deadline, "no refusal shown: {}", status());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(icecast.source_requests(401), 1);
    // Watch for a while: the output must not try again soon (it waits a minute).
    std::thread::sleep(Duration::from_secs(4));
    let shown = status();
    let output = &shown["icecast"][0];
    assert_eq!(output["connected"], false, "{shown}");
    assert_eq!(output["attempts"], 1, "{shown}");
    assert_eq!(
        icecast.source_requests(401),
        1,
        "Icecast saw the source retry"
    );
    let (_, metrics) = blocking_get(port, "/metrics").unwrap();
    assert!(
        metrics.contains("ambientd_icecast_attempts_total{output=\""),
        "{metrics}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let log = log.lock().unwrap().join("\n");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("refused the credentials"))
            .count(),
        1,
        "said once:\n{log}"
    );
    for text in [&log, &shown.to_string(), &metrics] {
        assert!(!text.contains(secret), "the password shows: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_silent_is_left_and_retried() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Accepts, then: first never answers; second says "100 Continue" and stops reading;
    // later ones are held open, silent. A small receive buffer fills within seconds.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(8).unwrap();
    let listener: std::net::TcpListener = socket.into();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            if counter.fetch_add(1, Ordering::SeqCst) == 1 {
                use std::io::{Read, Write};
                let mut head = [0u8; 2048];
                let _ = stream.read(&mut head);
                let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            held.push(stream);
        }
    });
    let url = format!("http://127.0.0.1:{port}{MOUNT}");
    let daemon = TestDaemon::with_config(config_with_outputs(&[&url], "pw")).await;
    let local = local_listener(&daemon);
    let error_of = |o: Value| o["last_error"].as_str().unwrap_or("").to_string();

    wait_until_async(|| async {
        outputs(&daemon)
            .await
            .first()
            .is_some_and(|o| error_of(o.clone()).contains("did not answer"))
    })
    .await;
    // Retried after its backoff; this time the "server" takes the stream, then stalls.
    wait_connected(&daemon, 0, true).await;
    let before = *local.borrow();
    wait_until_async(|| async {
        outputs(&daemon).await.first().is_some_and(|o| {
            o["connected"] == false && error_of(o.clone()).contains("stopped reading")
        })
    })
    .await;
    wait_until_async(|| async { accepted.load(Ordering::SeqCst) >= 3 }).await;
    // Local listeners never noticed.
    assert!(
        *local.borrow() > before + 176_400,
        "the WAV listener stalled too"
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_starts_keeps_and_stops_outputs() {
    let icecast = blocking(|| Icecast::start("")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ambientd.toml");
    let base = format!("http://127.0.0.1:{}", icecast.port);
    let state_dir = dir.path().join("state");
    // Entries are "mount" or "mount name".
    let write = |entries: &[&str]| {
        // The state directory named in the file, as the harness would otherwise pick one.
        let mut text = format!(
            "[state]\ndir = {:?}\n[synth]\nbackend = \"cpu\"\n[music]\nseed = 7\n",
            state_dir
        );
        for entry in entries {
            let (mount, name) = entry.split_once(' ').unwrap_or((entry, "ambientd"));
            text.push_str(&format!(
                "[[icecast]]\nurl = \"{base}{mount}\"\npassword = \"{SOURCE_PASSWORD}\"\n\
                 name = \"{name}\"\n"
            ));
        }
        std::fs::write(&path, text).unwrap();
    };
    write(&["/a.opus"]);
    let hooks = ambientd::Hooks {
        config_path: Some(path.clone()),
        ..Default::default()
    };
    let daemon = TestDaemon::launch(Config::load(&path).unwrap(), dir, hooks).await;
    wait_connected(&daemon, 0, true).await;

    write(&["/a.opus", "/b.opus"]);
    assert_eq!(
        call(&daemon.socket, Request::Reload).await,
        Ok(Response::Reloaded {
            changes: vec![format!("icecast output {base}/b.opus added")]
        })
    );
    let second = wait_connected(&daemon, 1, true).await;
    assert_eq!(second["url"], format!("{base}/b.opus"));
    let first = outputs(&daemon).await[0].clone();
    assert_eq!(
        first["attempts"], 1,
        "the unchanged output kept its connection: {first}"
    );
    assert_eq!(first["connected"], true);

    write(&["/b.opus"]);
    assert_eq!(
        call(&daemon.socket, Request::Reload).await,
        Ok(Response::Reloaded {
            changes: vec![format!("icecast output {base}/a.opus removed")]
        })
    );
    let listed = outputs(&daemon).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["url"], format!("{base}/b.opus"));
    assert_eq!(listed[0]["attempts"], 1, "kept: {}", listed[0]);
    let icecast = blocking(move || {
        icecast.wait_for("/a.opus", false);
        icecast.wait_for("/b.opus", true);
        icecast
    })
    .await;

    // An edited entry on the same mount restarts: the old source leaves before the new one
    // logs in (else Icecast answers "Mountpoint in use" and it would wait a minute).
    write(&["/b.opus renamed"]);
    assert_eq!(
        call(&daemon.socket, Request::Reload).await,
        Ok(Response::Reloaded {
            changes: vec![format!("icecast output {base}/b.opus edited: reconnecting")]
        })
    );
    let icecast = blocking(move || {
        icecast.wait_for_status("\"server_name\":\"renamed\"");
        icecast
    })
    .await;
    let renamed = wait_connected(&daemon, 0, true).await;
    assert_eq!(renamed["url"], format!("{base}/b.opus"));
    // Icecast frees a mount a moment after its source's connection closes, so the new login
    // may first hear "Mountpoint in use" and get in on the next (quick) attempt; any other
    // error is a failure.
    let error = renamed["last_error"].as_str().unwrap_or_default();
    assert!(
        error.is_empty() || error.contains("Mountpoint in use"),
        "{renamed}"
    );
    daemon.stop().await;
    drop(icecast);
}
