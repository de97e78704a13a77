//! The outputs that stream: the fan-out that shares each tick with every listener, the
//! encoders that turn a tick into each format once, and the HTTP/WebSocket front that serves
//! them. Told everything by the [`Station`]; imports nothing of music, engine, config or the
//! state file.
//!
//! ```text
//! station's pacer ──▶ fanout (encode and frame once) ──▶ sender threads ──▶ each listener's
//!                                                          socket: WebSocket, WAV, Ogg
//!                                                          (sendmsg; outbox ≤ 10 ticks
//!                                                          when it is full)
//!                                                      └─▶ each Icecast output's queue (≤ 10)
//! ```

pub mod access;
pub mod assets;
pub mod close;
pub mod encode;
pub mod fanout;
pub mod http;
pub mod http_io;
pub mod icecast;
pub mod limits;
pub mod messages;
pub mod metrics;
pub mod ogg_stream;
pub mod outbox;
mod process;
pub mod query;
mod shard;
pub mod socket_io;
pub mod status;
pub mod streamed_body;
pub mod tick;
pub mod wav;
pub mod wire;
pub mod ws;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

pub use access::{ClientOrigin, WebControl, WebPolicy};
use fanout::Fanout;
use limits::StreamLimits;
use metrics::Metrics;

use crate::station::Station;

/// The body type of every HTTP response.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// What the HTTP handlers and the listener sessions share.
#[derive(Debug)]
pub struct StreamState {
    /// The station they stream.
    pub station: Arc<Station>,
    /// The listeners.
    pub fanout: Arc<Fanout>,
    /// The outputs' counters.
    pub metrics: Arc<Metrics>,
    /// The Icecast source outputs (`[[icecast]]`) and their live state.
    pub icecast: icecast::Outputs,
    /// `[server] max_listeners` (a reload changes it).
    max_listeners: AtomicUsize,
    /// Who may `set` over the WebSocket (a reload changes it).
    web_control: RwLock<WebPolicy>,
    /// `[limits]`' share for this front (a reload changes it for new connections).
    limits: RwLock<StreamLimits>,
}

impl StreamState {
    /// The outputs of `station`, with no listener yet. The fan-out is the station's tick
    /// sink: hand it to the station's pacer.
    pub fn new(station: Arc<Station>) -> StreamState {
        let metrics = Arc::new(Metrics::default());
        StreamState {
            station,
            fanout: Fanout::new(metrics.clone(), fanout::default_senders()),
            metrics,
            icecast: icecast::Outputs::default(),
            max_listeners: AtomicUsize::new(usize::MAX),
            web_control: RwLock::default(),
            limits: RwLock::default(),
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

    /// The limits in force for new connections.
    pub fn limits(&self) -> StreamLimits {
        *self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `[limits]` (connections already open keep theirs).
    pub fn set_limits(&self, limits: StreamLimits) {
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    /// Applies `[server] web_control` and its token (connected clients keep what they got).
    pub fn set_web_policy(&self, policy: WebPolicy) {
        *self.web_control.write().unwrap_or_else(|e| e.into_inner()) = policy;
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
