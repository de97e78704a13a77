//! The daemon as a library call: [`run`] starts the generation thread, primes the ring,
//! starts the pacer and serves HTTP/WebSocket listeners on an already-bound socket until the
//! shutdown future completes, then stops everything in order.
//!
//! Shutdown order: stop accepting → every listener is told to go (WebSocket close 1001) →
//! wait for the connections (bounded) → stop the pacer → join the generation thread.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::audio::engine::{AudioSource, Engine, EngineError, EngineStats};
use crate::audio::ring::RING_SAMPLES;
use crate::config::Config;
use crate::stream::metrics::Metrics;
use crate::stream::pacer::{Pacer, TICK, stopped};
use crate::stream::{StreamState, http};

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

/// Runs the daemon on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let params = config.music.params();
    let (engine, source) = Engine::start(params, config.synth.backend)?;
    tracing::info!(
        backend = engine.backend(),
        reason = engine.backend_reason(),
        "voice stage chosen"
    );
    let source = prime(source).await;

    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(StreamState::new(
        engine,
        params,
        config.server.max_listeners,
        metrics.clone(),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let pacer = Pacer::new(source, state.fanout.clone(), metrics, state.events.clone());
    let pacer = tokio::spawn(pacer.run(stop_rx.clone()));
    let monitor = tokio::spawn(monitor(state.clone(), stop_rx.clone()));
    // Every connection task holds a clone; when all are dropped, `recv` returns None.
    let (tracker, mut all_done) = mpsc::channel::<()>(1);

    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "listening (/ws, /stream.wav, /metrics, /healthz)");
    }
    tokio::pin!(shutdown);
    let outcome = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
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
            () = &mut shutdown => break Ok(()),
        }
    };

    tracing::info!("shutting down");
    drop(listener);
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
    state.engine.shutdown();
    tracing::info!("stopped");
    outcome
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
