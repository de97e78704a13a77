//! The outputs' counters, the delivery-time histogram, and the Prometheus text exposition
//! (`/metrics`) of them and the station's snapshot.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::icecast::OutputStatus;
use crate::station::Snapshot;
pub use crate::station::counters::Counter;

/// Upper bounds (seconds) of the delivery-time histogram's buckets.
/// Fine below 10 ms, where a healthy fan-out lives (the target is 5 ms at 1,000 listeners).
pub const DELIVERY_BUCKETS: [f64; 15] = [
    0.000_5, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

/// One thread's observations for a [`Histogram`], merged once per batch: a sender thread
/// observes a thousand deliveries a tick, and shared atomics would bounce between cores.
#[derive(Debug, Default)]
pub struct LocalHistogram {
    buckets: [u64; DELIVERY_BUCKETS.len() + 1],
    count: u64,
    sum_nanos: u64,
}

impl LocalHistogram {
    /// Records one duration.
    pub fn observe(&mut self, duration: Duration) {
        self.buckets[bucket_of(duration)] += 1;
        self.count += 1;
        self.sum_nanos += duration.as_nanos() as u64;
    }
}

/// A Prometheus histogram of durations over [`DELIVERY_BUCKETS`], lock-free.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative; the last slot is "above every bound").
    buckets: [AtomicU64; DELIVERY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// The bucket `duration` falls in.
fn bucket_of(duration: Duration) -> usize {
    let seconds = duration.as_secs_f64();
    DELIVERY_BUCKETS
        .iter()
        .position(|&bound| seconds <= bound)
        .unwrap_or(DELIVERY_BUCKETS.len())
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, duration: Duration) {
        self.buckets[bucket_of(duration)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(duration.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Adds what `local` gathered (and empties it).
    pub fn merge(&self, local: &mut LocalHistogram) {
        for (shared, count) in self.buckets.iter().zip(&mut local.buckets) {
            if *count > 0 {
                shared.fetch_add(std::mem::take(count), Ordering::Relaxed);
            }
        }
        self.count
            .fetch_add(std::mem::take(&mut local.count), Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(std::mem::take(&mut local.sum_nanos), Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in DELIVERY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// The outputs' counters (the station keeps its own: ticks, underruns, the ring).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Chunks handed to listener sockets, all listeners together.
    pub listener_chunks_sent: Counter,
    /// Listeners dropped for falling a second behind.
    pub listeners_dropped: Counter,
    /// Listeners refused because `max_listeners` were connected.
    pub listeners_refused: Counter,
    /// WebSocket connections accepted.
    pub websocket_connections: Counter,
    /// `/stream.wav` responses started.
    pub wav_connections: Counter,
    /// WebSocket `set`s refused for coming faster than `[limits] sets_per_second`.
    pub sets_refused: Counter,
    /// Time from a tick to its chunk written to a listener's socket (live chunks; an HTTP
    /// stream listener gets three ticks a write, so its older two wait 100–200 ms).
    pub delivery: Histogram,
}

/// The single-valued families, in the order `/metrics` lists them: name, type, help.
const FAMILIES: [(&str, &str, &str); 21] = [
    (
        "ambientd_listeners",
        "gauge",
        "Listeners connected (WebSocket and WAV).",
    ),
    (
        "ambientd_chunks_total",
        "counter",
        "100 ms chunks produced by the pacer.",
    ),
    (
        "ambientd_listener_chunks_sent_total",
        "counter",
        "Chunks written to listener connections, all listeners together.",
    ),
    (
        "ambientd_underruns_total",
        "counter",
        "Chunks padded with silence because the generator fell behind.",
    ),
    (
        "ambientd_listeners_dropped_total",
        "counter",
        "Listeners dropped for falling 1 s behind.",
    ),
    (
        "ambientd_listeners_refused_total",
        "counter",
        "Listeners refused because max_listeners were connected.",
    ),
    (
        "ambientd_websocket_connections_total",
        "counter",
        "WebSocket listeners accepted.",
    ),
    (
        "ambientd_wav_connections_total",
        "counter",
        "WAV stream listeners accepted.",
    ),
    (
        "ambientd_sets_refused_total",
        "counter",
        "WebSocket set messages refused for exceeding [limits] sets_per_second.",
    ),
    (
        "ambientd_ring_fill_ratio",
        "gauge",
        "Fill of the 2 s audio ring after the latest tick (0 to 1).",
    ),
    (
        "ambientd_render_blocks_total",
        "counter",
        "100 ms blocks rendered by the generation thread.",
    ),
    (
        "ambientd_render_seconds_total",
        "counter",
        "Seconds the generation thread spent rendering.",
    ),
    (
        "ambientd_render_block_seconds",
        "gauge",
        "Seconds the latest 100 ms block took to render.",
    ),
    (
        "ambientd_realtime_factor",
        "gauge",
        "Audio seconds rendered per second of rendering.",
    ),
    (
        "ambientd_backend_fallbacks_total",
        "counter",
        "Times the primary voice stage failed and the CPU took over.",
    ),
    (
        "ambientd_render_panics_total",
        "counter",
        "Render panics recovered with silence and a new phrase.",
    ),
    (
        "ambientd_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
    ),
    (
        "ambientd_config_last_reload_successful",
        "gauge",
        "1 when the latest config reload applied (or none was asked for), 0 when it was refused.",
    ),
    (
        "ambientd_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Unix time of the latest successful config reload, or of the start.",
    ),
    (
        "ambientd_config_reloads_total",
        "counter",
        "Config reloads that applied the file.",
    ),
    (
        "ambientd_config_reload_failures_total",
        "counter",
        "Config reloads refused because the file was invalid (the running config stays).",
    ),
];

/// The value of each of [`FAMILIES`], in order.
fn values(station: &Snapshot, metrics: &Metrics) -> [String; 21] {
    let render = &station.render;
    [
        station.listeners.to_string(),
        station.chunks.to_string(),
        metrics.listener_chunks_sent.get().to_string(),
        station.underruns.to_string(),
        metrics.listeners_dropped.get().to_string(),
        metrics.listeners_refused.get().to_string(),
        metrics.websocket_connections.get().to_string(),
        metrics.wav_connections.get().to_string(),
        metrics.sets_refused.get().to_string(),
        station.ring_fill.to_string(),
        render.blocks.to_string(),
        render.seconds.to_string(),
        render.last_block_seconds.to_string(),
        render.realtime_factor.to_string(),
        station.fallbacks.to_string(),
        station.panics.to_string(),
        station.uptime.as_secs_f64().to_string(),
        u8::from(!station.reloads.last_failed).to_string(),
        (station.reloads.last_success_unix_ms as f64 / 1000.0).to_string(),
        station.reloads.succeeded.to_string(),
        station.reloads.failed.to_string(),
    ]
}

/// The Prometheus text exposition format (version 0.0.4).
pub fn render_prometheus(
    station: &Snapshot,
    metrics: &Metrics,
    icecast: &[OutputStatus],
) -> String {
    let mut out = String::with_capacity(4096);
    for ((name, kind, help), value) in FAMILIES.iter().zip(values(station, metrics)) {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    metrics.delivery.render(
        &mut out,
        "ambientd_delivery_seconds",
        "Time from a chunk being due to a listener to its write to the socket: due when made (WebSocket), or with the third of three ticks an HTTP stream listener gets a write.",
    );
    let version = env!("CARGO_PKG_VERSION");
    let _ = writeln!(
        out,
        "# HELP ambientd_build_info Version and voice stage.\n# TYPE ambientd_build_info gauge\n\
         ambientd_build_info{{version=\"{version}\",backend=\"{}\"}} 1",
        station.backend
    );
    render_icecast(&mut out, icecast);
    super::process::render(&mut out);
    out
}

/// A per-output family: name, type, help, and the figure it shows.
type IcecastFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&OutputStatus) -> u64,
);

/// One series per Icecast output (label `output`: its URL), for each of its figures.
fn render_icecast(out: &mut String, outputs: &[OutputStatus]) {
    if outputs.is_empty() {
        return;
    }
    let families: [IcecastFamily; 4] = [
        (
            "ambientd_icecast_connected",
            "gauge",
            "1 while the Icecast source output streams, else 0.",
            |o| u64::from(o.connected),
        ),
        (
            "ambientd_icecast_bytes_sent_total",
            "counter",
            "Bytes of Ogg written to the Icecast server.",
            |o| o.bytes_sent,
        ),
        (
            "ambientd_icecast_attempts_total",
            "counter",
            "Connection attempts to the Icecast server, successful or not.",
            |o| o.attempts,
        ),
        (
            "ambientd_icecast_reconnects_total",
            "counter",
            "Times the output connected again after a connection ended.",
            |o| o.reconnects,
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for output in outputs {
            // A URL holds no `"` or `\\` (the config refuses control characters; quotes
            // are escaped all the same, as the format asks).
            let label = output.url.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(out, "{name}{{output=\"{label}\"}} {}", value(output));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_renders_cumulative_buckets() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(300));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(2));
        let mut out = String::new();
        histogram.render(&mut out, "d", "help");
        assert!(out.contains("# TYPE d histogram\n"));
        assert!(out.contains("d_bucket{le=\"0.0005\"} 1\n"));
        assert!(out.contains("d_bucket{le=\"0.005\"} 2\n"));
        assert!(out.contains("d_bucket{le=\"1\"} 2\n"));
        assert!(out.contains("d_bucket{le=\"+Inf\"} 3\n"));
        assert!(out.contains("d_count 3\n"));
    }
}
