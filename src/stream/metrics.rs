//! Stream counters and their Prometheus text exposition (`/metrics`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::audio::SAMPLE_RATE;
use crate::engine::EngineStats;
use crate::engine::ring::RING_SAMPLES;

/// A monotonically rising count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

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

/// The stream side's counters (the generation thread keeps its own in [`EngineStats`]).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Chunks the pacer produced (ticks).
    pub chunks: Counter,
    /// Chunks handed to listener sockets, all listeners together.
    pub listener_chunks_sent: Counter,
    /// Chunks that were (partly) silence because the ring ran dry.
    pub underruns: Counter,
    /// Listeners dropped for falling a second behind.
    pub listeners_dropped: Counter,
    /// Listeners refused because `max_listeners` were connected.
    pub listeners_refused: Counter,
    /// WebSocket connections accepted.
    pub websocket_connections: Counter,
    /// `/stream.wav` responses started.
    pub wav_connections: Counter,
    /// Interleaved samples in the ring after the latest tick.
    pub ring_samples: AtomicU64,
    /// Unix ms of the latest tick (0 before the first).
    pub last_tick_unix_ms: AtomicU64,
    /// Time from a tick to its chunk written to a WebSocket listener's socket (live chunks).
    pub delivery: Histogram,
}

/// Everything `/metrics` reports besides [`Metrics`] and [`EngineStats`].
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Listeners connected now.
    pub listeners: usize,
    /// Seconds since the daemon started.
    pub uptime_seconds: f64,
    /// Voice stage chosen at start.
    pub backend: &'static str,
}

/// The ring's fill, 0.0..=1.0.
pub fn ring_fill(metrics: &Metrics) -> f64 {
    metrics.ring_samples.load(Ordering::Relaxed) as f64 / RING_SAMPLES as f64
}

/// Audio seconds rendered per second of rendering (how much faster than real time).
pub fn realtime_factor(engine: &EngineStats) -> f64 {
    let frames = engine.frames_rendered.load(Ordering::Relaxed) as f64;
    let nanos = engine.render_nanos.load(Ordering::Relaxed) as f64;
    if nanos == 0.0 {
        0.0
    } else {
        (frames / f64::from(SAMPLE_RATE)) / (nanos / 1e9)
    }
}

/// The Prometheus text exposition format (version 0.0.4).
pub fn render_prometheus(metrics: &Metrics, engine: &EngineStats, gauges: Gauges) -> String {
    let mut out = String::with_capacity(4096);
    let mut family = |name: &str, kind: &str, help: &str, value: String| {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    family(
        "ambientd_listeners",
        "gauge",
        "Listeners connected (WebSocket and WAV).",
        gauges.listeners.to_string(),
    );
    family(
        "ambientd_chunks_total",
        "counter",
        "100 ms chunks produced by the pacer.",
        metrics.chunks.get().to_string(),
    );
    family(
        "ambientd_listener_chunks_sent_total",
        "counter",
        "Chunks written to listener connections, all listeners together.",
        metrics.listener_chunks_sent.get().to_string(),
    );
    family(
        "ambientd_underruns_total",
        "counter",
        "Chunks padded with silence because the generator fell behind.",
        metrics.underruns.get().to_string(),
    );
    family(
        "ambientd_listeners_dropped_total",
        "counter",
        "Listeners dropped for falling 1 s behind.",
        metrics.listeners_dropped.get().to_string(),
    );
    family(
        "ambientd_listeners_refused_total",
        "counter",
        "Listeners refused because max_listeners were connected.",
        metrics.listeners_refused.get().to_string(),
    );
    family(
        "ambientd_websocket_connections_total",
        "counter",
        "WebSocket listeners accepted.",
        metrics.websocket_connections.get().to_string(),
    );
    family(
        "ambientd_wav_connections_total",
        "counter",
        "WAV stream listeners accepted.",
        metrics.wav_connections.get().to_string(),
    );
    family(
        "ambientd_ring_fill_ratio",
        "gauge",
        "Fill of the 2 s audio ring after the latest tick (0 to 1).",
        ring_fill(metrics).to_string(),
    );
    let blocks = load(&engine.blocks_rendered);
    family(
        "ambientd_render_blocks_total",
        "counter",
        "100 ms blocks rendered by the generation thread.",
        blocks.to_string(),
    );
    family(
        "ambientd_render_seconds_total",
        "counter",
        "Seconds the generation thread spent rendering.",
        (load(&engine.render_nanos) as f64 / 1e9).to_string(),
    );
    family(
        "ambientd_render_block_seconds",
        "gauge",
        "Seconds the latest 100 ms block took to render.",
        (load(&engine.last_render_nanos) as f64 / 1e9).to_string(),
    );
    family(
        "ambientd_realtime_factor",
        "gauge",
        "Audio seconds rendered per second of rendering.",
        realtime_factor(engine).to_string(),
    );
    family(
        "ambientd_backend_fallbacks_total",
        "counter",
        "Times the primary voice stage failed and the CPU took over.",
        load(&engine.stage_failures).to_string(),
    );
    family(
        "ambientd_render_panics_total",
        "counter",
        "Render panics recovered with silence and a new phrase.",
        load(&engine.panics).to_string(),
    );
    family(
        "ambientd_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        gauges.uptime_seconds.to_string(),
    );
    metrics.delivery.render(
        &mut out,
        "ambientd_delivery_seconds",
        "Time from a tick to its chunk written to a WebSocket listener's socket.",
    );
    let version = env!("CARGO_PKG_VERSION");
    let _ = writeln!(
        out,
        "# HELP ambientd_build_info Version and voice stage.\n# TYPE ambientd_build_info gauge\n\
         ambientd_build_info{{version=\"{version}\",backend=\"{}\"}} 1",
        gauges.backend
    );
    out
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
