//! Test helpers: an in-process daemon on port 0 (`TestDaemon`), WebSocket and plain HTTP
//! clients, and waiting on conditions with one global timeout instead of sleeps.
#![allow(dead_code)] // each test binary uses a different subset

pub mod process;
pub mod steer;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ambientd::config::Config;
use ambientd::synth::BackendChoice;
use base64::Engine as _;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any wait in a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A daemon running in this process; dropping it without `stop` aborts it.
pub struct TestDaemon {
    pub addr: SocketAddr,
    /// Its control socket.
    pub socket: std::path::PathBuf,
    /// Holds the control socket and, unless the config names another, the state directory.
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ambientd::daemon::DaemonError>>>,
}

/// The configuration tests use: CPU back-end, fixed seed.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.synth.backend = BackendChoice::Cpu;
    config.music.seed = 7;
    config
}

impl TestDaemon {
    pub async fn start() -> TestDaemon {
        Self::with_config(test_config()).await
    }

    pub async fn with_config(config: Config) -> TestDaemon {
        Self::launch(
            config,
            tempfile::tempdir().unwrap(),
            ambientd::Hooks::default(),
        )
        .await
    }

    /// Starts `run` with a control socket in `dir` (and the state there too, unless the
    /// config names a state directory).
    pub async fn launch(
        mut config: Config,
        dir: tempfile::TempDir,
        hooks: ambientd::Hooks,
    ) -> TestDaemon {
        if config.state.dir.as_os_str().is_empty() {
            config.state.dir = dir.path().join("state");
        }
        let socket = dir.path().join("control.sock");
        let control = ambientctl::bind_control_socket(&socket, 0o660, None).unwrap();
        control.set_nonblocking(true).unwrap();
        let listeners = ambientd::Listeners {
            http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            control: tokio::net::UnixListener::from_std(control).unwrap(),
        };
        let addr = listeners.http.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ambientd::run(config, listeners, hooks, async {
            let _ = stopped.await;
        }));
        let daemon = TestDaemon {
            addr,
            socket,
            dir,
            stop: Some(stop),
            task: Some(task),
        };
        // `run` binds nothing itself; wait until it serves.
        wait_until_async(|| async { daemon.get("/healthz").await.0 == 200 }).await;
        daemon
    }

    /// Stops the daemon and waits for `run` to return.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(TIMEOUT, task)
            .await
            .expect("run() returns after shutdown")
            .unwrap()
            .unwrap();
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    pub async fn connect(&self, query: &str) -> Client {
        let (client, _) = tokio_tungstenite::connect_async(self.ws_url(query))
            .await
            .unwrap();
        client
    }

    /// `GET path`: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        match http_get(self.addr, path).await {
            Ok((status, _, body)) => (status, String::from_utf8_lossy(&body).into_owned()),
            Err(_) => (0, String::new()),
        }
    }

    /// A metric's value from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no metric {name}"))
            .parse()
            .unwrap()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A one-shot HTTP/1.1 GET: status, raw head, body.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, head, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&data[..end]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 4 + size..];
    }
    out
}

/// Waits until `condition` holds, failing the test after [`TIMEOUT`].
pub async fn wait_until_async<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + TIMEOUT;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "condition not met within {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next message from the server, as JSON text or binary.
pub async fn next(client: &mut Client) -> Message {
    loop {
        let message = tokio::time::timeout(TIMEOUT, client.next())
            .await
            .expect("a message within the timeout")
            .expect("the stream is open")
            .expect("no WebSocket error");
        if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
            return message;
        }
    }
}

/// The next text message, parsed.
pub async fn next_json(client: &mut Client) -> Value {
    match next(client).await {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// One audio message, decoded.
#[derive(Debug, Clone)]
pub struct Audio {
    pub sequence: u64,
    pub timestamp: u64,
    pub pcm: Vec<u8>,
    pub channels: u64,
    /// When the client received it.
    pub received: Instant,
}

impl Audio {
    pub fn samples(&self) -> Vec<i16> {
        self.pcm
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

/// Decodes a JSON audio message, checking every field of the seed format.
pub fn parse_audio(value: &Value) -> Audio {
    let object = value.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "channels",
            "data",
            "format",
            "sample_rate",
            "sequence",
            "timestamp",
            "type"
        ]
    );
    assert_eq!(value["type"], "audio");
    assert_eq!(value["sample_rate"], 44_100);
    assert_eq!(value["format"], "pcm16");
    assert!(
        value["timestamp"].is_u64(),
        "integer Unix ms: {}",
        value["timestamp"]
    );
    let pcm = base64::engine::general_purpose::STANDARD
        .decode(value["data"].as_str().unwrap())
        .unwrap();
    Audio {
        sequence: value["sequence"].as_u64().unwrap(),
        timestamp: value["timestamp"].as_u64().unwrap(),
        channels: value["channels"].as_u64().unwrap(),
        pcm,
        received: Instant::now(),
    }
}

/// Reads messages until `count` audio chunks have come, returning them and the other
/// (non-audio) messages' `type`s in order.
pub async fn read_audio(client: &mut Client, count: usize) -> (Vec<Audio>, Vec<Value>) {
    let mut audio = Vec::new();
    let mut others = Vec::new();
    while audio.len() < count {
        let value = next_json(client).await;
        if value["type"] == "audio" {
            audio.push(parse_audio(&value));
        } else {
            others.push(value);
        }
    }
    (audio, others)
}
