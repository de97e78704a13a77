//! The daemon as a library call: [`run`] restores the saved parameters, starts the
//! generation thread, primes the ring, starts the pacer, serves HTTP/WebSocket listeners and
//! the control socket on already-bound sockets, keeps systemd informed, and reloads the
//! config on request until the shutdown future completes; then it stops everything in order.
//!
//! Shutdown order: `STOPPING=1` → stop accepting → watchers get `stopping` → the Icecast
//! outputs stop → every listener is told to go (WebSocket close 1001) → wait for the
//! connections (bounded) → stop the pacer → join the generation thread. The caller removes
//! the control socket file.

pub mod control;
mod core;
pub mod logging;
pub mod notify;
pub mod open_files;
mod per_address;
mod refusal;
pub mod signals;
mod systemd;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ambientctl::SynthesisParameters;
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use self::core::Core;
use self::logging::LevelHandle;
use self::notify::Notifier;
use crate::config::{Config, Overrides};
use crate::engine::AudioSource;
use crate::engine::ring::RING_SAMPLES;
use crate::shutdown;
use crate::station::store::ParamsStore;
use crate::station::{EngineError, Event, Pacer, Station, TICK};
use crate::stream::{StreamState, WebPolicy, http};

/// How long to wait for the ring to fill halfway before streaming anyway.
const PRIME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections get to close after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The generation thread could not start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The listening socket failed.
    #[error("cannot accept connections: {0}")]
    Accept(#[source] std::io::Error),
    /// `max_listeners` does not fit under the open-files limit.
    #[error("{0}")]
    OpenFiles(String),
}

/// The sockets the daemon serves, bound by the caller (tests bind port 0 and a temp path).
#[derive(Debug)]
pub struct Listeners {
    /// HTTP and WebSocket listeners (`/ws`, `/stream.wav`, ...).
    pub http: TcpListener,
    /// The control socket `ambientctl` talks to.
    pub control: UnixListener,
}

/// How the daemon is tied to its surroundings; [`Hooks::default`] ties it to nothing (no
/// config file to reload, no systemd, a fixed log level).
#[derive(Debug, Default)]
pub struct Hooks {
    /// The config file a reload reads; `None`: a reload has nothing to read and says so.
    pub config_path: Option<PathBuf>,
    /// Command-line settings that win over the file, on reload as at start.
    pub overrides: Overrides,
    /// systemd notifications.
    pub notifier: Notifier,
    /// Changes the log level when a reload changes `[log] level`.
    pub log_level: LevelHandle,
    /// Reload requests from outside (SIGHUP); the control socket's `reload` takes the same path.
    pub reloads: Option<mpsc::UnboundedReceiver<()>>,
}

/// A running daemon, as [`run`] starts it, serves with it and stops it.
///
/// Its fields are the order of shutdown read backwards: the station (engine and pacer) is
/// the first thing started and the last stopped; the listeners' outputs stand on it; the
/// control socket and the systemd loop stand on both.
struct Daemon {
    /// What the control socket, reloads and systemd share.
    core: Arc<Core>,
    /// The HTTP/WebSocket listener; dropped first at shutdown, to stop accepting.
    http: Option<TcpListener>,
    /// Turned true once, at shutdown; every task awaits it.
    stop: shutdown::Trigger,
    /// Cloned into every connection task; when all clones are gone, `all_done` yields None.
    tracker: Option<mpsc::Sender<()>>,
    all_done: mpsc::Receiver<()>,
    /// The pacer, the engine monitor, the control server and the systemd loop.
    tasks: Vec<JoinHandle<()>>,
    /// Reload requests from outside (SIGHUP).
    reloads: Option<mpsc::UnboundedReceiver<()>>,
    /// Connections open per client address (`[limits] connections_per_address`).
    per_address: Arc<per_address::PerAddress>,
    /// Connections refused for their address's cap, lingering until they read the 503.
    refusals: refusal::Refusals,
}

/// Runs the daemon on `listeners` until `shutdown` completes.
pub async fn run(
    config: Config,
    listeners: Listeners,
    hooks: Hooks,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let mut daemon = Daemon::start(config, listeners, hooks).await?;
    let outcome = daemon.serve(shutdown).await;
    daemon.stop().await;
    outcome
}

impl Daemon {
    /// Restores the parameters, starts the station and primes its ring, starts the pacer,
    /// the control server and the systemd loop, and says `READY=1`.
    async fn start(
        config: Config,
        listeners: Listeners,
        hooks: Hooks,
    ) -> Result<Daemon, DaemonError> {
        open_files::raise()
            .check(config.server.max_listeners)
            .map_err(DaemonError::OpenFiles)?;
        let store = config.state.dir().map(|dir| ParamsStore::in_dir(&dir));
        let params = restore_params(&config, store.as_ref());
        let (station, source) =
            Station::start(params, config.music.params(), config.synth.backend, store)?;
        let source = prime(source).await;
        let stream = Arc::new(StreamState::new(station.clone()));
        apply_server_config(&stream, &config);
        let (stop, stop_rx) = shutdown::channel();
        let pacer = Pacer::new(source, station.clone(), stream.fanout.clone());
        let mut tasks = vec![tokio::spawn(pacer.run(stop_rx.clone()))];
        apply_icecast_config(&stream, &config);
        first_tick(&station).await;
        tasks.push(tokio::spawn(monitor(station.clone(), stop_rx.clone())));

        let listen = listeners.http.local_addr().ok();
        if let Some(address) = listen {
            tracing::info!(
                %address,
                "listening on http://{address}/ (/ws, /stream.wav, /stream.opus, /api/status, /metrics, /healthz)"
            );
        }
        let (tracker, all_done) = mpsc::channel::<()>(1);
        let core = Arc::new(Core::new(
            stream,
            config,
            listen.map(|a: SocketAddr| a.to_string()),
            hooks.config_path,
            hooks.overrides,
            hooks.notifier,
            hooks.log_level,
        ));
        tasks.push(tokio::spawn(control::serve(
            listeners.control,
            core.clone(),
            stop_rx.clone(),
            tracker.clone(),
        )));
        tasks.push(tokio::spawn(systemd::keep_informed(core.clone(), stop_rx)));
        core.notifier().ready(&core.status_line());
        tracing::info!("ready");
        Ok(Daemon {
            core,
            http: Some(listeners.http),
            stop,
            tracker: Some(tracker),
            all_done,
            tasks,
            reloads: hooks.reloads,
            per_address: Arc::default(),
            refusals: refusal::Refusals::default(),
        })
    }

    /// Accepts connections and answers reload requests until `shutdown` completes or the
    /// listener fails for good.
    async fn serve(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let Some(http) = self.http.take() else {
            return Ok(());
        };
        tokio::pin!(shutdown);
        // While accept keeps failing (out of descriptors), it is logged once, not per retry.
        let mut failing = false;
        loop {
            tokio::select! {
                accepted = http.accept() => match accepted {
                    Ok((socket, peer)) => {
                        if std::mem::take(&mut failing) {
                            tracing::info!("accepting connections again");
                        }
                        self.accept(socket, peer);
                    }
                    // Out of file descriptors and the like: back off briefly, keep serving.
                    Err(err) if is_transient(&err) => {
                        if !std::mem::replace(&mut failing, true) {
                            tracing::warn!(error = %err, "accept failed; retrying every 100 ms (logged once until it works again)");
                        }
                        tokio::time::sleep(TICK).await;
                    }
                    Err(err) => return Err(DaemonError::Accept(err)),
                },
                Some(()) = next_reload(&mut self.reloads) => {
                    // The outcome is logged and put in STATUS= by the reload itself.
                    let _ = self.core.reload();
                }
                () = &mut shutdown => return Ok(()),
            }
        }
    }

    /// Serves one HTTP connection on its own task, unless its address holds its share.
    fn accept(&self, socket: TcpStream, peer: SocketAddr) {
        let Some(tracker) = self.tracker.clone() else {
            return;
        };
        let cap = self.core.limits().connections_per_address;
        let held = match self.per_address.admit(peer.ip(), cap) {
            Ok(held) => held,
            Err(refused) => {
                if refused.first {
                    tracing::warn!(
                        client = %peer.ip(),
                        cap,
                        "connections refused: the address holds [limits] connections_per_address"
                    );
                }
                self.refusals.refuse(socket, cap);
                return;
            }
        };
        let task = http::serve_connection(
            socket,
            self.core.stream.clone(),
            self.stop.subscribe(),
            tracker,
        );
        tokio::spawn(async move {
            let _held = held;
            task.await;
        });
    }

    /// Stops in order: `STOPPING=1` → (no more accepting) → watchers hear `stopping` → every
    /// listener is told to go → connections get [`SHUTDOWN_GRACE`] to close → the tasks end
    /// → the station saves what is pending and joins the generation thread.
    async fn stop(mut self) {
        tracing::info!("shutting down");
        self.core.notifier().stopping();
        let station = self.core.stream.station.clone();
        station.publish(Event::Stopping);
        self.core.stream.icecast.stop_all().await;
        self.core.stream.fanout.close_all();
        let _ = self.stop.send(true);
        drop(self.tracker.take());
        if tokio::time::timeout(SHUTDOWN_GRACE, self.all_done.recv())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        station.stop();
        tracing::info!("stopped");
    }
}

/// Applies what `[server]` and `[stream]` say to the outputs (at start, and again on
/// reload).
fn apply_server_config(stream: &StreamState, config: &Config) {
    stream.set_max_listeners(config.server.max_listeners);
    stream.set_limits(config.limits.stream());
    let bitrate = config.stream.opus_bits_per_second();
    // Without an Opus encoder there is nothing to set (its absence was logged at start and
    // each Opus request says why).
    if stream.fanout.opus_headers().is_ok()
        && let Err(error) = stream.fanout.set_opus_bitrate(bitrate)
    {
        tracing::error!(%error, "cannot apply [stream] opus_bitrate");
    }
    stream.set_web_policy(WebPolicy {
        mode: config.server.web_control,
        token: config.server.web_control_token.clone(),
    });
}

/// Starts, keeps, restarts or stops the Icecast outputs as `[[icecast]]` says (at start,
/// and again on reload: an unchanged entry keeps its connection).
fn apply_icecast_config(stream: &StreamState, config: &Config) {
    let targets: Vec<_> = config.icecast.iter().map(|entry| entry.target()).collect();
    stream.icecast.apply(&targets, &stream.fanout);
}

/// The next reload request; never completes when there is no source of them.
async fn next_reload(reloads: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match reloads {
        Some(receiver) => match receiver.recv().await {
            Some(()) => Some(()),
            None => {
                *reloads = None;
                std::future::pending().await
            }
        },
        None => std::future::pending().await,
    }
}

/// The parameters to start with: the config's `[music]` with the saved run-time changes laid
/// over it, each named in the log with the config's value it beats. A corrupt or unreadable
/// file is reported and left alone (the next accepted change overwrites it).
fn restore_params(config: &Config, store: Option<&ParamsStore>) -> SynthesisParameters {
    let defaults = config.music.params();
    let Some(store) = store else {
        tracing::warn!("no state directory known; parameter changes will not survive a restart");
        return defaults;
    };
    let changes = match store.load() {
        Ok(Some(changes)) => changes,
        Ok(None) => return defaults,
        Err(error) => {
            tracing::warn!(%error, "starting from the config's [music] instead: {error}");
            return defaults;
        }
    };
    // `load` range-checked every value, so laying them over valid values cannot fail.
    let params = changes.over(&defaults).unwrap_or(defaults);
    let kept: Vec<String> = changes
        .params()
        .into_iter()
        .map(|p| {
            format!(
                "{p} {} (config: {})",
                params.get_as_string(p),
                defaults.get_as_string(p)
            )
        })
        .collect();
    if !kept.is_empty() {
        tracing::info!(
            file = %store.path().display(),
            "restored the changes made at run time from {}: {}; `ambientctl reset` puts the \
             config's values back",
            store.path().display(),
            kept.join(", ")
        );
    }
    params
}

fn is_transient(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || err
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE
}

/// Waits until the ring is half full (1 s of audio), so the first listeners hear no underrun.
/// (It owns the source across the waits: the ring's consumer half is `Send` but not `Sync`.)
async fn prime(source: AudioSource) -> AudioSource {
    let deadline = tokio::time::Instant::now() + PRIME_TIMEOUT;
    while source.buffered_samples() < RING_SAMPLES / 2 {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!("the ring did not fill in time; streaming anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    source
}

/// Waits for the pacer's first tick, so the first request (e.g. a socket-activated
/// `/healthz`) finds a daemon that is already streaming.
async fn first_tick(station: &Station) {
    let deadline = tokio::time::Instant::now() + PRIME_TIMEOUT;
    while station.counters().chunks.get() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Has the station report what the generation thread may not log itself (panics,
/// back-end fallbacks), every second.
async fn monitor(station: Arc<Station>, mut stop: shutdown::Stop) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = interval.tick() => station.check_engine(),
            () = shutdown::stopped(&mut stop) => return,
        }
    }
}
