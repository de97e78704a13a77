//! The real `ambientd` binary as systemd runs it: a test `NOTIFY_SOCKET` receives READY,
//! STATUS, WATCHDOG (which stops when the generator stalls), RELOADING/READY on SIGHUP,
//! STOPPING on SIGTERM; exit code 0; the control socket is refused to a second daemon,
//! replaced when stale and removed on exit; a corrupt state file is only a warning.

use std::fs::File;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ambientctl::{Client, ClientError, Param, Request, Response};

/// How long any wait may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A daemon process with its own directory, config, control socket and notify socket.
struct Daemon {
    child: Child,
    dir: PathBuf,
    notify: UnixDatagram,
}

fn config_text(dir: &Path, music: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[control]\nsocket = \"{dir}/control.sock\"\n\
         [state]\ndir = \"{dir}/state\"\n[synth]\nbackend = \"cpu\"\n[log]\ntarget = \"stderr\"\n\
         [music]\nseed = 3\n{music}",
        dir = dir.display()
    )
}

impl Daemon {
    /// Starts `ambientd --config DIR/ambientd.toml` with `env` on top of a systemd-like
    /// environment (NOTIFY_SOCKET, WATCHDOG_USEC of 1 s).
    fn start(dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let config = dir.join("ambientd.toml");
        if !config.exists() {
            std::fs::write(&config, config_text(dir, "")).unwrap();
        }
        let notify_path = dir.join(format!(
            "notify-{}.sock",
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify.set_read_timeout(Some(TIMEOUT)).unwrap();
        let stderr = File::create(dir.join("stderr.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ambientd"));
        command
            .arg("--config")
            .arg(&config)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "1000000")
            .env_remove("JOURNAL_STREAM")
            .env_remove("RUST_LOG")
            .env_remove("FAILPOINTS")
            .stdout(Stdio::null())
            .stderr(stderr);
        for (key, value) in env {
            command.env(key, value);
        }
        Daemon {
            child: command.spawn().unwrap(),
            dir: dir.to_path_buf(),
            notify,
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// The next datagram to the notify socket.
    fn notice(&self) -> String {
        let mut buffer = [0u8; 4096];
        let len = self
            .notify
            .recv(&mut buffer)
            .expect("a notification within the timeout");
        String::from_utf8_lossy(&buffer[..len]).into_owned()
    }

    /// Reads notifications until one satisfies `wanted`; returns it.
    fn notice_where(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "no such notification in time");
            let notice = self.notice();
            if wanted(&notice) {
                return notice;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn call(&self, request: Request) -> Result<Response, String> {
        let mut client = Client::connect(&self.socket()).map_err(|e| e.to_string())?;
        client.call(&request).map_err(|e| match e {
            ClientError::Refused { reason } => reason,
            other => other.to_string(),
        })
    }

    fn bpm(&self) -> u16 {
        match self.call(Request::Get { param: None }) {
            Ok(Response::Params(params)) => params.bpm(),
            other => panic!("{other:?}"),
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn systemd_hears_ready_status_watchdog_reload_and_stopping_and_the_exit_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), &[]);
    let ready = daemon.notice_where(|n| n.contains("READY=1"));
    assert!(
        ready.contains("STATUS=cpu: configured; 0 listeners, A minor 70 bpm"),
        "{ready}"
    );
    daemon.notice_where(|n| n == "WATCHDOG=1\n");
    let status = daemon.notice_where(|n| n.starts_with("STATUS=") && !n.contains("READY"));
    assert!(status.contains("underruns 0"), "{status}");
    assert!(daemon.socket().exists());

    // A valid new config: RELOADING=1 with a timestamp, then READY=1; [music] applies.
    let config = dir.path().join("ambientd.toml");
    std::fs::write(&config, config_text(dir.path(), "bpm = 90\n")).unwrap();
    daemon.signal("HUP");
    let reloading = daemon.notice_where(|n| n.contains("RELOADING=1"));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let ready = daemon.notice_where(|n| n.contains("READY=1"));
    assert!(ready.contains("90 bpm"), "{ready}");
    assert_eq!(daemon.bpm(), 90);

    // An invalid one: the old config stays, and STATUS= says why with file and line.
    let mut text = config_text(dir.path(), "bpm = 500\n");
    text.insert_str(0, "# broken on purpose\n");
    std::fs::write(&config, text).unwrap();
    daemon.signal("HUP");
    daemon.notice_where(|n| n.contains("RELOADING=1"));
    let ready = daemon.notice_where(|n| n.contains("READY=1"));
    let at = format!("{}:", config.display());
    assert!(
        ready.contains("reload failed, old config kept: ") && ready.contains(&at),
        "{ready}"
    );
    assert!(ready.contains("40..=120"), "{ready}");
    assert_eq!(daemon.bpm(), 90);
    let refused = daemon.call(Request::Reload).unwrap_err();
    assert!(
        refused.starts_with(&at) && refused.contains("bpm"),
        "{refused}"
    );
    assert!(
        daemon
            .stderr()
            .contains("reload failed, keeping the running configuration: ")
    );

    daemon.signal("TERM");
    daemon.notice_where(|n| n.contains("STOPPING=1"));
    assert_eq!(daemon.wait().code(), Some(0), "{}", daemon.stderr());
    assert!(
        !daemon.socket().exists(),
        "the control socket is removed on exit"
    );
}

#[test]
fn a_second_daemon_is_refused_and_a_stale_socket_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control.sock");
    drop(UnixListener::bind(&socket).unwrap()); // left behind by a daemon that crashed
    let mut first = Daemon::start(dir.path(), &[]);
    first.notice_where(|n| n.contains("READY=1"));
    first
        .call(Request::Set {
            param: Param::Bpm,
            value: "75".into(),
        })
        .unwrap();

    let mut second = Daemon::start(dir.path(), &[]);
    let status = second.wait();
    assert!(!status.success());
    let stderr = second.stderr();
    assert!(
        stderr.contains(&format!(
            "another ambientd is already running on {}",
            socket.display()
        )),
        "{stderr}"
    );
    assert_eq!(first.bpm(), 75, "the first daemon keeps its socket");
    first.signal("INT");
    assert_eq!(first.wait().code(), Some(0));
    assert!(!socket.exists());
}

#[test]
fn a_corrupt_state_file_is_reported_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/params.toml"), "bpm = [\n").unwrap();
    let mut daemon = Daemon::start(dir.path(), &[]);
    daemon.notice_where(|n| n.contains("READY=1"));
    assert_eq!(daemon.bpm(), 70, "the config's [music] plays");
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("WARN") && stderr.contains("ignoring") && stderr.contains("params.toml"),
        "{stderr}"
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait().code(), Some(0));
}

/// The generator stalls (failpoint) a few seconds in: the pacer goes on sending silence,
/// but the watchdog pings stop, so systemd would kill and restart the daemon.
#[cfg(feature = "failpoints")]
#[test]
fn the_watchdog_starves_when_the_generator_stalls() {
    let dir = tempfile::tempdir().unwrap();
    // 60 chunks (the ring's 20 plus 4 s of playing) render, then the render pauses for good.
    let daemon = Daemon::start(
        dir.path(),
        &[("FAILPOINTS", "engine::render=60*off->pause")],
    );
    daemon.notice_where(|n| n.contains("READY=1"));
    daemon.notice_where(|n| n == "WATCHDOG=1\n");
    daemon.notice_where(|n| n.contains("NOT making progress"));
    // From now on: three watchdog intervals' worth of notifications, none a ping.
    let quiet_until = Instant::now() + Duration::from_secs(3);
    daemon
        .notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while Instant::now() < quiet_until {
        let mut buffer = [0u8; 4096];
        if let Ok(len) = daemon.notify.recv(&mut buffer) {
            let notice = String::from_utf8_lossy(&buffer[..len]);
            assert!(!notice.contains("WATCHDOG=1"), "pinged while stalled");
        }
    }
    assert!(daemon.stderr().contains("withholding WATCHDOG=1"));
    // Dropping the daemon kills it, as systemd's watchdog would (SIGABRT there).
}
