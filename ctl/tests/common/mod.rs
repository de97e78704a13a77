//! A fake ambientd for black-box tests of `ambientctl`: a real Unix socket in a temp dir,
//! served by the crate's own server helper, recording every request it answers.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;

use ambientctl::{
    Client, Event, PROTOCOL_VERSION, Reply, Request, Response, SOCKET_MODE, Served, Status,
    SynthesisParameters, apply_set, bind_control_socket, encode_event, serve_connection,
};

/// What the fake daemon says about itself and how it ends a watch.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub version: String,
    pub protocol: u32,
    /// Refuse `reload` with this reason.
    pub reload_error: Option<String>,
    /// What a successful `reload` says changed.
    pub reload_changes: Vec<String>,
    /// Send `stopping` as the last watch event (a clean end) or just close.
    pub watch_says_stopping: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: PROTOCOL_VERSION,
            reload_error: None,
            reload_changes: Vec::new(),
            watch_says_stopping: true,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    params: SynthesisParameters,
    requests: Vec<Request>,
}

/// A fake daemon listening on `socket` until the test process ends. Connections are served
/// one at a time, in order, which is what lets [`FakeDaemon::requests`] wait without sleeping.
#[derive(Debug)]
pub struct FakeDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    state: Arc<Mutex<State>>,
}

impl FakeDaemon {
    pub fn start() -> FakeDaemon {
        FakeDaemon::with(Behaviour::default())
    }

    pub fn with(behaviour: Behaviour) -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        FakeDaemon::at(dir, Path::new("control.sock"), behaviour)
    }

    /// A daemon listening on `relative` inside `dir`.
    pub fn at(dir: tempfile::TempDir, relative: &Path, behaviour: Behaviour) -> FakeDaemon {
        let socket = dir.path().join(relative);
        // The daemon's own binding helper: creates the directory, sets mode 0660.
        let listener = bind_control_socket(&socket, SOCKET_MODE, None).unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let reader = BufReader::new(stream.try_clone().unwrap());
                let handler = |request: Request| answer(&shared, &behaviour, request);
                if let Ok(Served::Watch) = serve_connection(reader, &mut stream, handler) {
                    let params = shared.lock().unwrap().params;
                    for line in watch_lines(params, &behaviour) {
                        if stream.write_all(line.as_bytes()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        FakeDaemon { dir, socket, state }
    }

    /// Every request answered so far, in order. It first makes one request of its own (not
    /// listed) and waits for its reply: connections are served in order, so by then every
    /// earlier client has been served completely.
    pub fn requests(&self) -> Vec<Request> {
        let mut probe = Client::connect(&self.socket).unwrap();
        probe.call(&Request::Version).unwrap();
        let mut requests = self.state.lock().unwrap().requests.clone();
        assert_eq!(
            requests.pop(),
            Some(Request::Version),
            "the probe comes last"
        );
        requests
    }

    pub fn params(&self) -> SynthesisParameters {
        self.state.lock().unwrap().params
    }

    /// Runs `ambientctl --socket <this daemon's socket> args...`.
    pub fn ctl(&self, args: &[&str]) -> Run {
        let socket = self.socket.to_str().unwrap();
        let mut full = vec!["--socket", socket];
        full.extend_from_slice(args);
        ctl(&full, &[])
    }
}

fn answer(state: &Mutex<State>, behaviour: &Behaviour, request: Request) -> Reply {
    let mut state = state.lock().unwrap();
    state.requests.push(request.clone());
    match request {
        Request::Version => Ok(Response::Version {
            version: behaviour.version.clone(),
            protocol: behaviour.protocol,
        }),
        Request::Status => Ok(Response::Status(Status {
            params: state.params,
            backend: "cpu".into(),
            backend_reason: Some("no CUDA device".into()),
            listen: Some("127.0.0.1:8700".into()),
            listeners: 2,
            ring_fill: 0.5,
            ring_capacity_ms: 2000,
            underruns: 3,
            sequence: 1234,
            uptime_s: 3723,
            ..Status::default()
        })),
        Request::Get { param } => Ok(Response::for_get(&state.params, param)),
        Request::Set { param, value } => {
            state.params = apply_set(&state.params, param, &value).map_err(|e| e.to_string())?;
            Ok(Response::Params(state.params))
        }
        Request::Reload => match &behaviour.reload_error {
            Some(reason) => Err(reason.clone()),
            None => Ok(Response::Reloaded {
                changes: behaviour.reload_changes.clone(),
            }),
        },
        Request::Reset { .. } => {
            state.params = SynthesisParameters::default();
            Ok(Response::Params(state.params))
        }
        Request::Skip | Request::Watch => Ok(Response::Done),
    }
}

/// The watch stream: one of each event, plus a kind from a newer daemon (`gpu_hot`).
fn watch_lines(params: SynthesisParameters, behaviour: &Behaviour) -> Vec<String> {
    let events = [
        Event::Params(params),
        Event::Phrase {
            chords: ["i", "iv", "V", "i"].map(String::from).to_vec(),
        },
        Event::Underrun { sequence: 77 },
        Event::ListenerJoined {
            addr: "192.0.2.7:5000".into(),
            listeners: 1,
        },
        Event::ListenerLeft {
            addr: "192.0.2.7:5000".into(),
            listeners: 0,
            reason: Some("too slow".into()),
        },
    ];
    let mut lines: Vec<String> = events.iter().map(encode_event).collect();
    lines.insert(3, "{\"type\":\"gpu_hot\",\"celsius\":90}\n".to_string());
    if behaviour.watch_says_stopping {
        lines.push(encode_event(&Event::Stopping));
    }
    lines
}

/// What one `ambientctl` run did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts a clean success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        &self.stdout
    }

    /// Asserts failure with `code` and a one-line message on stderr, and returns that line.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "stdout: {} stderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(self.stdout, "", "nothing on stdout when failing");
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "one line: {:?}",
            self.stderr
        );
        self.stderr.trim_end()
    }
}

/// Runs the real `ambientctl` binary with `env` set and every socket-related variable from
/// the test's own environment removed.
pub fn ctl(args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ambientctl"));
    command
        .args(args)
        .env_remove("AMBIENTD_SOCKET")
        .env_remove("RUNTIME_DIRECTORY")
        .env_remove("XDG_RUNTIME_DIR");
    for (name, value) in env {
        command.env(name, value);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}
