//! What an operator relies on, through the control socket of a real daemon: status says where
//! each value comes from and which chord plays, `reset` puts the config's values back, a
//! restart keeps only the changes made at run time (an edited config is not beaten by an old
//! saved value nobody changed), and a reload says what it changed.

mod daemon_support;

use std::path::Path;

use ambientctl::{Param, Request, Response, Source, Status};
use ambientd::config::Config;
use daemon_support::steer::*;
use daemon_support::*;

async fn status(socket: &Path) -> Status {
    match call(socket, Request::Status).await {
        Ok(Response::Status(status)) => status,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_each_source_and_reset_puts_the_config_back_across_restarts() {
    let state = tempfile::tempdir().unwrap();
    let mut config = test_config();
    config.state.dir = state.path().to_path_buf();
    config.music.bpm = 72;
    let daemon = TestDaemon::with_config(config.clone()).await;
    call(&daemon.socket, set(Param::Bpm, "80")).await.unwrap();
    let now = status(&daemon.socket).await;
    let sources = now.sources.expect("sources");
    assert_eq!(
        (sources.key, sources.bpm, sources.seed),
        (Source::Default, Source::Changed, Source::Config)
    );
    assert_eq!(now.config.map(|c| c.bpm()), Some(72));
    // The chord playing is one of the phrase's, at the bar the status names.
    wait_until_async(|| async { status(&daemon.socket).await.bar.is_some() }).await;
    let playing = status(&daemon.socket).await;
    assert!(
        (playing.bar.unwrap() as usize) < playing.chords.len() && playing.chords.len() >= 2,
        "{playing:?}"
    );
    daemon.stop().await;

    // Edit the config's key while stopped: the run-time bpm stays, the new key plays (the
    // saved file holds only the change, not a stale copy of every value).
    config.music.key = "E minor".parse().unwrap();
    let daemon = TestDaemon::with_config(config.clone()).await;
    let restored = params(&daemon.socket).await;
    assert_eq!(
        (restored.key().to_string().as_str(), restored.bpm()),
        ("E minor", 80)
    );

    let Ok(Response::Params(reset)) = call(
        &daemon.socket,
        Request::Reset {
            param: Some(Param::Bpm),
        },
    )
    .await
    else {
        panic!("reset")
    };
    assert_eq!(reset.bpm(), 72);
    let sources = status(&daemon.socket).await.sources.unwrap();
    assert_eq!(sources.bpm, Source::Config);
    daemon.stop().await;

    // After a reset the config's value is what a restart plays, even once edited again.
    config.music.bpm = 64;
    let daemon = TestDaemon::with_config(config).await;
    assert_eq!(params(&daemon.socket).await.bpm(), 64);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_says_what_it_changed_and_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ambientd.toml");
    // The state directory named in the file, as the harness would otherwise pick one.
    let state = format!("[state]\ndir = {:?}\n", dir.path().join("state"));
    let write = |text: &str| std::fs::write(&path, format!("{state}{text}")).unwrap();
    write("[synth]\nbackend = \"cpu\"\n[music]\nseed = 7\nbpm = 70\n");
    let hooks = ambientd::Hooks {
        config_path: Some(path.clone()),
        ..Default::default()
    };
    let daemon = TestDaemon::launch(Config::load(&path).unwrap(), dir, hooks).await;
    let socket = daemon.socket.clone();
    call(&socket, set(Param::Bpm, "90")).await.unwrap();
    call(&socket, set(Param::Intensity, "0.2")).await.unwrap();

    // bpm edited in the file replaces the run-time 90; the run-time intensity stays.
    write(
        "[synth]\nbackend = \"cpu\"\n[music]\nseed = 7\nbpm = 100\n\
         [server]\nlisten = \"127.0.0.1:1\"\n",
    );
    let Ok(Response::Reloaded { changes }) = call(&socket, Request::Reload).await else {
        panic!("reload")
    };
    assert_eq!(
        changes,
        [
            "server.listen changed: takes effect at the next restart",
            "bpm 90 -> 100: edited in the config file (replaces the value changed at run time)",
        ]
    );
    let now = params(&socket).await;
    assert_eq!((now.bpm(), now.intensity()), (100, 0.2));

    // Nothing edited: nothing to say.
    let Ok(Response::Reloaded { changes }) = call(&socket, Request::Reload).await else {
        panic!("reload")
    };
    assert!(changes.is_empty(), "{changes:?}");
    let metric = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    let metrics = daemon.get("/metrics").await.1;
    assert_eq!(metric(&metrics, "ambientd_config_reloads_total"), "2");
    assert_eq!(
        metric(&metrics, "ambientd_config_last_reload_successful"),
        "1"
    );

    // A bad file: refused, and the metrics say so (an alert can fire on it).
    write("[music]\nbpm = \"fast\"\n");
    call(&socket, Request::Reload).await.unwrap_err();
    let metrics = daemon.get("/metrics").await.1;
    assert_eq!(
        metric(&metrics, "ambientd_config_last_reload_successful"),
        "0"
    );
    assert_eq!(
        metric(&metrics, "ambientd_config_reload_failures_total"),
        "1"
    );
    let stamp: f64 = metric(
        &metrics,
        "ambientd_config_last_reload_success_timestamp_seconds",
    )
    .parse()
    .unwrap();
    assert!(stamp > 1.7e9, "{stamp}");
    daemon.stop().await;
}

/// Starts the `ambientd` binary on a free port with its control socket (and state) in
/// `dir`; returns it, its log (stderr) and the address it listens on.
fn spawn_daemon(
    dir: &Path,
    extra: &[&str],
) -> (
    KillOnDrop,
    std::io::BufReader<std::process::ChildStderr>,
    String,
) {
    use std::io::BufRead;
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .args(["--listen", "127.0.0.1:0", "--control-socket"])
        .arg(dir.join("control.sock"))
        .args(extra)
        .env("STATE_DIRECTORY", dir)
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut log = std::io::BufReader::new(child.0.stderr.take().unwrap());
    let address = loop {
        let mut line = String::new();
        assert!(log.read_line(&mut line).unwrap() > 0, "stderr closed early");
        if let Some((_, rest)) = line.split_once("address=") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    (child, log, address)
}

/// The `ambientd` binary with 30 listeners coming and going: the journal (stderr here) gets
/// one line for the first and one summary, not two lines per listener.
#[test]
fn listener_churn_is_summarised_in_the_log() {
    use std::io::{Read, Write};
    use std::process::Command;

    let dir = tempfile::tempdir().unwrap();
    let (child, mut log, address) = spawn_daemon(dir.path(), &[]);
    for _ in 0..30 {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .write_all(b"GET /stream.wav HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut header = [0u8; 64];
        stream.read_exact(&mut header).unwrap();
        assert!(header.starts_with(b"HTTP/1.1 200"));
    }
    wait_until(|| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .write_all(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.contains("\"listeners\":0")
    });
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut rest = String::new();
    log.read_to_string(&mut rest).unwrap();
    let per_listener = rest
        .lines()
        .filter(|l| l.contains("listener joined") || l.contains("listener 127.0.0.1"))
        .count();
    assert_eq!(per_listener, 1, "{rest}");
    assert!(
        rest.contains("listeners: 0 connected; 29 joined and 30 left in the last 60 s"),
        "{rest}"
    );
}

/// Kills the daemon if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `condition` until it holds; fails after [`TIMEOUT`].
fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within {TIMEOUT:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `ambientd check-config FILE`: exit 0 and a summary for a valid file; exit 1 and the
/// file:line:column reason for a bad one; nothing is started either way.
#[test]
fn check_config_says_valid_or_names_the_line() {
    use std::process::Command;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ambientd.toml");
    std::fs::write(&file, "[music]\nbpm = 80\n").unwrap();
    let good = Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{good:?}");
    assert!(
        stdout.contains("valid") && stdout.contains("80 bpm"),
        "{stdout}"
    );

    std::fs::write(
        &file,
        "[music]\nbpm = 80\n[server]\nmax_listeners = \"many\"\n",
    )
    .unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(
        stderr.contains(&format!("{}:4:", file.display())) && stderr.contains("max_listeners"),
        "{stderr}"
    );
}

/// A second daemon on a taken control socket or port: one clear hint each, naming what to
/// change, never two that contradict each other.
#[test]
fn a_second_daemon_gets_one_hint_naming_what_to_change() {
    use std::process::Command;

    let dir = tempfile::tempdir().unwrap();
    let (_first, _log, address) = spawn_daemon(dir.path(), &[]);
    let second = Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .args(["--listen", "127.0.0.1:0", "--control-socket"])
        .arg(dir.path().join("control.sock"))
        .env("STATE_DIRECTORY", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    let error = stderr.lines().last().unwrap_or_default();
    assert_eq!(second.status.code(), Some(1));
    assert!(
        error.contains("another ambientd is already running") && !error.contains("writable"),
        "{stderr}"
    );

    let other = tempfile::tempdir().unwrap();
    let third = Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .args(["--listen", &address, "--control-socket"])
        .arg(other.path().join("control.sock"))
        .env("STATE_DIRECTORY", other.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&third.stderr);
    let error = stderr.lines().last().unwrap_or_default();
    assert!(
        error.contains(&format!("cannot listen on {address}")) && error.contains("--listen ADDR"),
        "{stderr}"
    );
}
