//! Streaming: the pacer that turns the ring into 100 ms chunks on the wall clock, the fan-out
//! that shares each chunk with every listener, and the HTTP/WebSocket front that serves them.
//!
//! ```text
//! ring ──▶ pacer (encode once) ──▶ fanout ──▶ per-listener queue (≤ 10) ──▶ ws / wav session
//! ```

pub mod encode;
pub mod fanout;
pub mod http;
pub mod messages;
pub mod metrics;
pub mod pacer;
pub mod wav;
pub mod ws;

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ambientctl::SynthesisParameters;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

use crate::audio::engine::{Command, Engine, EngineError};
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
    /// The parameters most recently set.
    params: Mutex<SynthesisParameters>,
    /// `[server] max_listeners`.
    pub max_listeners: usize,
    /// When the daemon started.
    pub started: Instant,
}

impl StreamState {
    /// State for a daemon whose engine started with `params`.
    pub fn new(
        engine: Engine,
        params: SynthesisParameters,
        max_listeners: usize,
        metrics: Arc<Metrics>,
    ) -> StreamState {
        StreamState {
            fanout: Fanout::new(metrics.clone()),
            metrics,
            events: Arc::default(),
            engine,
            params: Mutex::new(params),
            max_listeners,
            started: Instant::now(),
        }
    }

    /// The parameters most recently set.
    pub fn params(&self) -> SynthesisParameters {
        *self.params.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for new parameters (they apply at the next bar line) and tells every listener.
    pub fn set_params(&self, params: SynthesisParameters) -> Result<(), EngineError> {
        self.engine.send(Command::SetParams(params))?;
        *self.params.lock().unwrap_or_else(|e| e.into_inner()) = params;
        self.events.push(messages::params(&params));
        Ok(())
    }

    /// Starts a new phrase at the next bar line.
    pub fn skip(&self) -> Result<(), EngineError> {
        self.engine.send(Command::Skip)
    }

    /// What a `hello` says besides the format.
    pub fn hello_info(&self, next_sequence: u64) -> messages::HelloInfo {
        messages::HelloInfo {
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
        if !starting && pacer::unix_ms().saturating_sub(last_tick) > window {
            return Some("the pacer is not ticking");
        }
        None
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
