//! The daemon as a library call: [`run`] restores the saved parameters, starts the
//! generation thread, primes the ring, starts the pacer, serves HTTP/WebSocket listeners and
//! the control socket on already-bound sockets, keeps systemd informed, and reloads the
//! config on request until the shutdown future completes; then it stops everything in order.
//!
//! Shutdown order: `STOPPING=1` → stop accepting → watchers get `stopping` → every listener
//! is told to go (WebSocket close 1001) → wait for the connections (bounded) → stop the
//! pacer → join the generation thread. The caller removes the control socket file.

pub mod control;
mod core;
pub mod logging;
pub mod notify;
pub mod signals;
mod systemd;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ambientctl::{Event, SynthesisParameters};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch};

pub use self::core::Core;
use crate::config::{Config, Overrides};
use crate::daemon::logging::LevelHandle;
use crate::daemon::notify::Notifier;
use crate::engine::ring::RING_SAMPLES;
use crate::engine::{AudioSource, Engine, EngineError, EngineStats};
use crate::shutdown::stopped;
use crate::station::store::ParamsStore;
use crate::stream::metrics::Metrics;
use crate::stream::pacer::{Pacer, TICK};
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

/// Runs the daemon on `listeners` until `shutdown` completes.
pub async fn run(
    config: Config,
    listeners: Listeners,
    hooks: Hooks,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let store = config.state.dir().map(|dir| ParamsStore::in_dir(&dir));
    let params = restore_params(&config, store.as_ref());
    let (engine, source) = Engine::start(params, config.synth.backend)?;
    tracing::info!(
        backend = engine.backend(),
        reason = engine.backend_reason(),
        "voice stage chosen"
    );
    let source = prime(source).await;

    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(StreamState::new(engine, params, store, metrics.clone()));
    state.set_max_listeners(config.server.max_listeners);
    state.set_web_policy(WebPolicy {
        mode: config.server.web_control,
        token: config.server.web_control_token.clone(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let pacer = Pacer::new(source, state.fanout.clone(), metrics, state.events.clone())
        .with_watchers(state.watchers.clone());
    let pacer = tokio::spawn(pacer.run(stop_rx.clone()));
    first_tick(&state).await;
    let monitor = tokio::spawn(monitor(state.clone(), stop_rx.clone()));
    // Every connection task holds a clone; when all are dropped, `recv` returns None.
    let (tracker, mut all_done) = mpsc::channel::<()>(1);

    let http = listeners.http;
    let listen = http.local_addr().ok();
    if let Some(address) = listen {
        tracing::info!(%address, "listening (/ws, /stream.wav, /metrics, /healthz)");
    }
    let core = Arc::new(Core::new(
        state.clone(),
        config,
        listen.map(|a: SocketAddr| a.to_string()),
        hooks.config_path,
        hooks.overrides,
        hooks.notifier,
        hooks.log_level,
    ));
    let control = tokio::spawn(crate::daemon::control::serve(
        listeners.control,
        core.clone(),
        stop_rx.clone(),
        tracker.clone(),
    ));
    let systemd = tokio::spawn(systemd::keep_informed(core.clone(), stop_rx.clone()));
    core.notifier().ready(&core.status_line());
    tracing::info!("ready");

    let mut reloads = hooks.reloads;
    tokio::pin!(shutdown);
    let outcome = loop {
        tokio::select! {
            accepted = http.accept() => match accepted {
                Ok((stream, _)) => {
                    let task = http::serve_connection(
                        stream,
                        state.clone(),
                        stop_rx.clone(),
                        tracker.clone(),
                    );
                    tokio::spawn(task);
                }
                // Out of file descriptors and the like: back off briefly, keep serving.
                Err(err) if is_transient(&err) => {
                    tracing::warn!(error = %err, "accept failed; retrying");
                    tokio::time::sleep(TICK).await;
                }
                Err(err) => break Err(DaemonError::Accept(err)),
            },
            Some(()) = next_reload(&mut reloads) => {
                // The outcome is logged and put in STATUS= by the reload itself.
                let _ = core.reload();
            }
            () = &mut shutdown => break Ok(()),
        }
    };

    tracing::info!("shutting down");
    core.notifier().stopping();
    drop(http);
    let _ = state.watchers.send(Event::Stopping);
    state.fanout.close_all();
    let _ = stop_tx.send(true);
    drop(tracker);
    if tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    let _ = pacer.await;
    let _ = monitor.await;
    let _ = control.await;
    let _ = systemd.await;
    state.finish_saving();
    state.engine.shutdown();
    tracing::info!("stopped");
    outcome
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

/// The parameters to start with: the saved ones when there are any and they parse, else
/// the config's `[music]`. A corrupt or unreadable file is reported and left alone (the
/// next accepted change overwrites it).
fn restore_params(config: &Config, store: Option<&ParamsStore>) -> SynthesisParameters {
    let defaults = config.music.params();
    let Some(store) = store else {
        tracing::warn!("no state directory known; parameter changes will not survive a restart");
        return defaults;
    };
    match store.load() {
        Ok(Some(saved)) => {
            tracing::info!(file = %store.path().display(), "restored the saved parameters");
            saved
        }
        Ok(None) => defaults,
        Err(error) => {
            tracing::warn!(%error, "starting from the config's [music] instead");
            defaults
        }
    }
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
async fn first_tick(state: &StreamState) {
    let deadline = tokio::time::Instant::now() + PRIME_TIMEOUT;
    while state.metrics.chunks.get() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Logs what the generation thread may not log itself (panics, back-end fallbacks).
async fn monitor(state: Arc<StreamState>, mut stop: watch::Receiver<bool>) {
    let stats: &EngineStats = state.engine.stats();
    let (mut panics, mut fallbacks) = (0, 0);
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = stopped(&mut stop) => return,
        }
        let now = stats.panics.load(Ordering::Relaxed);
        if now > panics {
            tracing::error!(
                total = now,
                "the generator panicked; replaced the chunk with silence and started a new phrase"
            );
            panics = now;
        }
        let now = stats.stage_failures.load(Ordering::Relaxed);
        if now > fallbacks {
            let error = state
                .engine
                .take_failed_stage()
                .and_then(|stage| stage.last_error())
                .unwrap_or_else(|| "no detail".into());
            tracing::warn!(
                backend = state.engine.backend(),
                %error,
                "the voice stage failed; rendering on the CPU from now on"
            );
            fallbacks = now;
        }
    }
}
