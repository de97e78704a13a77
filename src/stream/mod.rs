//! Streaming: the pacer that turns the ring into 100 ms chunks on the wall clock, the fan-out
//! that shares each chunk with every listener, and the HTTP/WebSocket front that serves them.
//!
//! ```text
//! ring ──▶ pacer (encode and frame once) ──▶ fanout ──▶ sender threads ──▶ each WebSocket's
//!                                                                  socket (sendmsg; outbox ≤ 10
//!                                                                  ticks when it is full)
//!                                                              └─▶ each WAV body's queue (≤ 10)
//! ```

pub mod access;
pub mod assets;
pub mod close;
pub mod encode;
pub mod fanout;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod outbox;
pub mod pacer;
pub mod socket_io;
pub mod tick;
pub mod wav;
pub mod wire;
pub mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ambientctl::{Event, SynthesisParameters};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::broadcast;

use crate::engine::{Command, Engine, EngineError};
use crate::station::store::{ParamsSaver, ParamsStore};
pub use access::{ClientOrigin, WebControl, WebPolicy};
use fanout::Fanout;
use metrics::Metrics;
use pacer::EventQueue;

/// The body type of every HTTP response.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// How long the generator or the pacer may go without progress before `/healthz` says 503.
pub const HEALTH_WINDOW: Duration = Duration::from_secs(2);

/// State shared by the pacer, the HTTP handlers and the listener sessions.
#[derive(Debug)]
pub struct StreamState {
    /// The listeners.
    pub fanout: Arc<Fanout>,
    /// Stream counters.
    pub metrics: Arc<Metrics>,
    /// Messages for the next tick.
    pub events: Arc<EventQueue>,
    /// The generation thread.
    pub engine: Engine,
    /// The parameters most recently set. Held while a change is applied and saved, so
    /// concurrent relative changes (`+5` twice) never lose one and the file keeps the last.
    params: Mutex<SynthesisParameters>,
    /// `[server] max_listeners` (a reload changes it).
    max_listeners: AtomicUsize,
    /// Who may `set` over the WebSocket (a reload changes it).
    web_control: RwLock<WebPolicy>,
    /// Events for control-socket watchers (params, phrases, underruns, listeners).
    pub watchers: broadcast::Sender<Event>,
    /// Saves accepted parameter changes off the async runtime; `None`: nowhere.
    saver: Option<ParamsSaver>,
    /// When the daemon started.
    pub started: Instant,
}

impl StreamState {
    /// State for a daemon whose engine started with `params`; accepted changes are saved
    /// in `store`.
    pub fn new(
        engine: Engine,
        params: SynthesisParameters,
        store: Option<ParamsStore>,
        metrics: Arc<Metrics>,
    ) -> StreamState {
        StreamState {
            fanout: Fanout::new(metrics.clone(), fanout::default_senders()),
            metrics,
            events: Arc::default(),
            engine,
            params: Mutex::new(params),
            max_listeners: AtomicUsize::new(usize::MAX),
            web_control: RwLock::default(),
            watchers: broadcast::channel(256).0,
            saver: store.and_then(|store| {
                ParamsSaver::start(store)
                    .inspect_err(|error| {
                        tracing::error!(%error, "cannot start the saving thread; changes will not survive a restart");
                    })
                    .ok()
            }),
            started: Instant::now(),
        }
    }

    /// The parameters most recently set.
    pub fn params(&self) -> SynthesisParameters {
        *self.params.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the parameters to what `change` makes of the current ones: the engine takes
    /// them at the next bar line, they are saved (on the saving thread), every listener gets `params` and every
    /// watcher [`Event::Params`]. A refusal from `change` (e.g. [`ambientctl::apply_set`]'s
    /// out-of-range message) changes nothing. A failed save is logged, not refused: the
    /// music changed, only its memory did not.
    pub fn update_params<E: std::fmt::Display>(
        &self,
        change: impl FnOnce(&SynthesisParameters) -> Result<SynthesisParameters, E>,
    ) -> Result<SynthesisParameters, String> {
        let mut current = self.params.lock().unwrap_or_else(|e| e.into_inner());
        let next = change(&current).map_err(|e| e.to_string())?;
        if next == *current {
            return Ok(next);
        }
        self.engine
            .send(Command::SetParams(next))
            .map_err(|e| e.to_string())?;
        *current = next;
        // Queued under the lock, so the file ends with the last change applied.
        if let Some(saver) = &self.saver {
            saver.save(next);
        }
        drop(current);
        tracing::info!(key = %next.key(), bpm = next.bpm(), intensity = f64::from(next.intensity()), seed = next.seed(), "parameters changed");
        self.events.push(messages::params(&next));
        let _ = self.watchers.send(Event::Params(next));
        Ok(next)
    }

    /// Writes any parameter change not yet saved and stops saving (shutdown).
    pub fn finish_saving(&self) {
        if let Some(saver) = &self.saver {
            saver.finish();
        }
    }

    /// `[server] max_listeners` in force.
    pub fn max_listeners(&self) -> usize {
        self.max_listeners.load(Ordering::Relaxed)
    }

    /// Applies `[server] max_listeners` (connected listeners above it stay).
    pub fn set_max_listeners(&self, max: usize) {
        self.max_listeners.store(max, Ordering::Relaxed);
    }

    /// The web-control policy in force.
    pub fn web_policy(&self) -> WebPolicy {
        self.web_control
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies `[server] web_control` and its token (connected clients keep what they got).
    pub fn set_web_policy(&self, policy: WebPolicy) {
        *self.web_control.write().unwrap_or_else(|e| e.into_inner()) = policy;
    }

    /// Logs a listener's arrival and tells watchers.
    pub fn listener_joined(&self, addr: SocketAddr, kind: &'static str) {
        let listeners = self.fanout.listeners() as u32;
        tracing::info!(listener = %addr, kind, listeners, "listener joined");
        let _ = self.watchers.send(Event::ListenerJoined {
            addr: addr.to_string(),
            listeners,
        });
    }

    /// Logs a listener's departure and tells watchers (`listeners` already excludes it).
    pub fn listener_left(&self, addr: SocketAddr, reason: Option<&'static str>) {
        let listeners = self.fanout.listeners() as u32;
        tracing::info!(listener = %addr, reason = reason.unwrap_or("left"), listeners, "listener left");
        let _ = self.watchers.send(Event::ListenerLeft {
            addr: addr.to_string(),
            listeners,
            reason: reason.map(str::to_string),
        });
    }

    /// Starts a new phrase at the next bar line.
    pub fn skip(&self) -> Result<(), EngineError> {
        self.engine.send(Command::Skip)
    }

    /// What a `hello` says besides the format.
    pub fn hello_info(&self, next_sequence: u64, web_control: bool) -> messages::HelloInfo {
        messages::HelloInfo {
            web_control,
            params: self.params(),
            backend: self.engine.backend(),
            backend_reason: self.engine.backend_reason().to_string(),
            next_sequence,
        }
    }

    /// `None` when the generator and the pacer are making progress, else why not.
    pub fn unhealthy(&self) -> Option<&'static str> {
        if !self.engine.is_alive(HEALTH_WINDOW) {
            return Some("the generation thread is not making progress");
        }
        let last_tick = self.metrics.last_tick_unix_ms.load(Ordering::Relaxed);
        let window = HEALTH_WINDOW.as_millis() as u64;
        // Just started: the pacer's first tick may not have run yet.
        let starting = last_tick == 0 && self.started.elapsed() < HEALTH_WINDOW;
        if !starting && crate::clock::unix_ms().saturating_sub(last_tick) > window {
            return Some("the pacer is not ticking");
        }
        None
    }
}

/// A connected listener: holds its place, announces it on creation and its departure when
/// dropped (to the log and to control-socket watchers).
#[derive(Debug)]
pub struct Presence {
    state: Arc<StreamState>,
    addr: SocketAddr,
    place: Option<fanout::ListenerPlace>,
    reason: Option<&'static str>,
}

impl Presence {
    /// Announces a listener from `addr` that took `place`.
    pub fn join(
        state: Arc<StreamState>,
        addr: SocketAddr,
        place: fanout::ListenerPlace,
        kind: &'static str,
    ) -> Presence {
        state.listener_joined(addr, kind);
        Presence {
            state,
            addr,
            place: Some(place),
            reason: None,
        }
    }

    /// Why the server let the listener go (e.g. "too slow"), for the departure notice.
    pub fn set_reason(&mut self, reason: &'static str) {
        self.reason = Some(reason);
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        // Free the place first, so the count in the notice excludes this listener.
        drop(self.place.take());
        self.state.listener_left(self.addr, self.reason);
    }
}

/// Unsubscribes a listener from the fan-out when its session or response ends.
#[derive(Debug)]
pub struct SubscriptionGuard {
    fanout: Arc<Fanout>,
    id: u64,
}

impl SubscriptionGuard {
    /// A guard for subscription `id`.
    pub fn new(fanout: Arc<Fanout>, id: u64) -> SubscriptionGuard {
        SubscriptionGuard { fanout, id }
    }
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.fanout.unsubscribe(self.id);
    }
}
