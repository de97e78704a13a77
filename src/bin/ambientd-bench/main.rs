//! `ambientd-bench`: N WebSocket listeners against a running daemon. Measures delivery latency
//! (the chunk's server timestamp to client receipt), cadence gaps, dropped listeners, and the
//! daemon's CPU and RSS (from `/proc/PID`), so capacity can be measured, not guessed.
//!
//! ```text
//! ambientd-bench --listeners 1000 --seconds 20 --spawn target/release/ambientd
//! ambientd-bench --url ws://127.0.0.1:8700/ws --pid $(pidof ambientd) --listeners 100
//! ```
//!
//! Latency resolution: the server's `timestamp` is whole Unix milliseconds (floor), so each
//! figure reads 0-1 ms high; client and server must share a clock (same host).

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use tokio::sync::Semaphore;

mod listener;

use listener::{Listener, Received};

/// Many WebSocket listeners against an ambientd, with latency and resource figures.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Listeners to open.
    #[arg(long, default_value_t = 100)]
    listeners: usize,
    /// Seconds to measure once every listener is connected and has warmed up.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Seconds after connecting before measuring.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// WebSocket URL of a running daemon (query included, e.g. `?channels=2`).
    #[arg(long, default_value = "ws://127.0.0.1:8700/ws")]
    url: String,
    /// PID of the daemon, for CPU and RSS (found automatically with --spawn).
    #[arg(long)]
    pid: Option<u32>,
    /// Start this ambientd binary on a free loopback port (CPU back-end, room for the
    /// listeners), measure it, and stop it afterwards.
    #[arg(long)]
    spawn: Option<PathBuf>,
    /// Query for the WebSocket URL when spawning (e.g. "channels=2&encoding=binary").
    #[arg(long, default_value = "channels=1")]
    query: String,
    /// Connections opened at once while ramping up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
}

/// Counters every listener task adds to.
#[derive(Debug, Default)]
struct Totals {
    connected: AtomicU64,
    chunks: AtomicU64,
    gaps: AtomicU64,
    dropped: AtomicU64,
    underruns: AtomicU64,
    connect_failures: AtomicU64,
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One audio message as a listener got it.
#[derive(Debug, Clone, Copy)]
struct Receipt {
    sequence: u64,
    /// Unix µs at receipt.
    received_us: u64,
    /// The message's `timestamp` (Unix ms of the tick, rounded down).
    timestamp_ms: u64,
}

/// One listener: reads until `stop_at`, recording what arrives after `measure_from`.
async fn listen(
    url: String,
    totals: Arc<Totals>,
    measure_from: Arc<AtomicU64>,
    stop_at: Arc<AtomicU64>,
    connect_gate: Arc<Semaphore>,
) -> Vec<Receipt> {
    let permit = connect_gate.acquire_owned().await;
    let connected = Listener::connect(&url).await;
    drop(permit);
    let Ok(mut listener) = connected else {
        totals.connect_failures.fetch_add(1, Ordering::Relaxed);
        return Vec::new();
    };
    totals.connected.fetch_add(1, Ordering::Relaxed);
    let mut receipts = Vec::with_capacity(1024);
    let mut last_sequence: Option<u64> = None;
    while unix_micros() < stop_at.load(Ordering::Relaxed) {
        let next = listener.next(Duration::from_millis(500)).await;
        let (sequence, timestamp_ms) = match next {
            Ok(Some(Received::Audio {
                sequence,
                timestamp_ms,
            })) => (sequence, timestamp_ms),
            Ok(Some(Received::Underrun)) => {
                totals.underruns.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(Some(Received::Other)) | Ok(None) => continue,
            Ok(Some(Received::Closed)) | Err(_) => {
                totals.dropped.fetch_add(1, Ordering::Relaxed);
                return receipts;
            }
        };
        let received = unix_micros();
        if received >= measure_from.load(Ordering::Relaxed) {
            totals.chunks.fetch_add(1, Ordering::Relaxed);
            if last_sequence.is_some_and(|last| sequence != last + 1) {
                totals.gaps.fetch_add(1, Ordering::Relaxed);
            }
            receipts.push(Receipt {
                sequence,
                received_us: received,
                timestamp_ms,
            });
        }
        last_sequence = Some(sequence);
    }
    listener.close().await;
    receipts
}

/// Latencies (µs, sorted) two ways: from each message's whole-ms `timestamp` (reads 0-1 ms
/// high: an upper bound), and from the first receipt of the same chunk by any listener (the
/// tick came before it: a lower bound, short by the fastest delivery).
fn latencies(receipts: &[Receipt]) -> (Vec<u32>, Vec<u32>) {
    let mut first: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    for receipt in receipts {
        first
            .entry(receipt.sequence)
            .and_modify(|at| *at = (*at).min(receipt.received_us))
            .or_insert(receipt.received_us);
    }
    let clamp = |us: u64| us.min(u64::from(u32::MAX)) as u32;
    let mut from_timestamp: Vec<u32> = receipts
        .iter()
        .map(|r| clamp(r.received_us.saturating_sub(r.timestamp_ms * 1000)))
        .collect();
    let mut from_first: Vec<u32> = receipts
        .iter()
        .map(|r| clamp(r.received_us - first[&r.sequence]))
        .collect();
    from_timestamp.sort_unstable();
    from_first.sort_unstable();
    (from_timestamp, from_first)
}

/// The daemon's `ambientd_delivery_seconds` histogram: `(upper bound s, cumulative count)`.
async fn delivery_histogram(ws_url: &str) -> Option<Vec<(f64, u64)>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = ws_url.strip_prefix("ws://")?.split('/').next()?;
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.ok()?;
    let buckets = text
        .lines()
        .filter_map(|line| line.strip_prefix("ambientd_delivery_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (bound, count) = rest.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect();
    Some(buckets)
}

/// The duration (ms) under which fraction `p` of the observations between two scrapes fall,
/// interpolated linearly inside its bucket as Prometheus' `histogram_quantile` does.
fn histogram_quantile(before: &[(f64, u64)], after: &[(f64, u64)], p: f64) -> f64 {
    let deltas: Vec<(f64, u64)> = after
        .iter()
        .zip(before)
        .map(|(&(bound, a), &(_, b))| (bound, a.saturating_sub(b)))
        .collect();
    let total = deltas.last().map_or(0, |&(_, n)| n);
    let rank = total as f64 * p;
    let mut lower = (0.0, 0u64);
    for &(bound, cumulative) in &deltas {
        if cumulative as f64 >= rank && cumulative > lower.1 {
            if bound.is_infinite() {
                return lower.0 * 1000.0;
            }
            let within = (rank - lower.1 as f64) / (cumulative - lower.1) as f64;
            return (lower.0 + (bound - lower.0) * within) * 1000.0;
        }
        lower = (bound, cumulative);
    }
    f64::NAN
}

/// CPU seconds (user + system) and RSS bytes of a process.
fn process_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    // USER_HZ is 100 on every Linux configuration in use.
    Some((ticks as f64 / 100.0, rss_kib * 1024))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// Starts the daemon binary on a free port with room for `listeners`.
fn spawn_daemon(
    binary: &PathBuf,
    listeners: usize,
    dir: &std::path::Path,
) -> anyhow::Result<(Child, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        format!(
            // Every bench listener comes from 127.0.0.1: lift the per-address cap with the total.
            "[server]\nlisten = \"127.0.0.1:{port}\"\nmax_listeners = {}\n[control]\nsocket = \"{}\"\n[synth]\nbackend = \"cpu\"\n[log]\nlevel = \"warn\"\n[limits]\nconnections_per_address = {}\n",
            listeners + 16,
            dir.join("control.sock").display(),
            listeners + 16
        ),
    )?;
    let child = Command::new(binary)
        .arg("--config")
        .arg(&config)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    Ok((child, port))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    let (_spawned, url, pid) = match &args.spawn {
        Some(binary) => {
            let temp = std::env::temp_dir().join(format!("ambientd-bench-{}", std::process::id()));
            std::fs::create_dir_all(&temp)?;
            let (child, port) = spawn_daemon(binary, args.listeners, &temp)?;
            let pid = child.id();
            (
                Some(Spawned { child, dir: temp }),
                format!("ws://127.0.0.1:{port}/ws?{}", args.query),
                Some(pid),
            )
        }
        None => (None, args.url.clone(), args.pid),
    };
    runtime.block_on(run(&args, url, pid))
}

/// A daemon this tool started: stopped, and its directory removed, however the tool ends
/// (an error, a panic, a closed stdout).
struct Spawned {
    child: Child,
    dir: PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // SIGTERM would be kinder, but std has no portable way; the daemon has nothing to save.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn run(args: &Args, url: String, pid: Option<u32>) -> anyhow::Result<()> {
    // Wait for the daemon to serve (when spawned it needs a moment to prime its ring).
    let deadline = Instant::now() + Duration::from_secs(20);
    while Listener::connect(&url).await.is_err() {
        if Instant::now() > deadline {
            bail!("cannot connect to {url}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let baseline = pid.and_then(process_usage);
    let totals = Arc::new(Totals::default());
    let measure_from = Arc::new(AtomicU64::new(u64::MAX));
    let stop_at = Arc::new(AtomicU64::new(u64::MAX));
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.listeners)
        .map(|_| {
            tokio::spawn(listen(
                url.clone(),
                totals.clone(),
                measure_from.clone(),
                stop_at.clone(),
                gate.clone(),
            ))
        })
        .collect();
    let settled = || {
        totals.connected.load(Ordering::Relaxed) + totals.connect_failures.load(Ordering::Relaxed)
    };
    while settled() < args.listeners as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ramp = started.elapsed();
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let window_start = unix_micros();
    measure_from.store(window_start, Ordering::Relaxed);
    let before = pid.and_then(process_usage);
    let histogram_before = delivery_histogram(&url).await;
    let self_before = process_usage(std::process::id());
    let window = Duration::from_secs_f64(args.seconds);
    stop_at.store(window_start + window.as_micros() as u64, Ordering::Relaxed);
    tokio::time::sleep(window).await;
    let after = pid.and_then(process_usage);
    let histogram_after = delivery_histogram(&url).await;
    let self_after = process_usage(std::process::id());

    let mut receipts = Vec::new();
    for task in tasks {
        receipts.extend(task.await.unwrap_or_default());
    }
    report(
        args,
        &url,
        &totals,
        &Window {
            ramp,
            receipts,
            histograms: (histogram_before, histogram_after),
            daemon_usage: (baseline, before, after),
            self_usage: (self_before, self_after),
        },
    );
    Ok(())
}

/// A process's (CPU seconds, RSS bytes), if it could be read.
type Usage = Option<(f64, u64)>;
/// The daemon's delivery histogram (bucket bound, cumulative count), if it could be read.
type Buckets = Option<Vec<(f64, u64)>>;

/// What one measurement window gathered.
struct Window {
    /// How long connecting every listener took.
    ramp: Duration,
    receipts: Vec<Receipt>,
    /// The daemon's delivery histogram at the window's start and end.
    histograms: (Buckets, Buckets),
    /// The daemon's (CPU seconds, RSS bytes): idle, at the window's start and end.
    daemon_usage: (Usage, Usage, Usage),
    /// This process's CPU at the window's start and end.
    self_usage: (Usage, Usage),
}

/// Prints the figures of one window.
fn report(args: &Args, url: &str, totals: &Totals, window: &Window) {
    let ramp = window.ramp;
    let (histogram_before, histogram_after) = &window.histograms;
    let (baseline, before, after) = window.daemon_usage;
    let (self_before, self_after) = window.self_usage;
    let (latencies, spread) = latencies(&window.receipts);
    let expected = args.listeners as f64 * args.seconds * 10.0;
    let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let chunks = count(&totals.chunks);
    println!("listeners            {}", args.listeners);
    println!("url                  {url}");
    println!("connect ramp         {:.2} s", ramp.as_secs_f64());
    println!("connect failures     {}", count(&totals.connect_failures));
    println!("dropped listeners    {}", count(&totals.dropped));
    println!(
        "chunks received      {chunks} of {expected:.0} expected ({:.1}%)",
        chunks as f64 * 100.0 / expected
    );
    println!("sequence gaps        {}", count(&totals.gaps));
    println!("underrun messages    {}", count(&totals.underruns));
    let quantiles = |sorted: &[u32]| {
        format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            percentile(sorted, 0.50),
            percentile(sorted, 0.90),
            percentile(sorted, 0.99),
            percentile(sorted, 0.999),
            percentile(sorted, 1.0),
        )
    };
    println!("latency ms           {}", quantiles(&latencies));
    println!(
        "  after 1st listener {} (lower bound: tick <= first receipt)",
        quantiles(&spread)
    );
    if let (Some(before), Some(after)) = (histogram_before, histogram_after)
        && !after.is_empty()
    {
        println!(
            "server tick->written p50 {:.2}  p99 {:.2} ms (daemon's histogram, interpolated)",
            histogram_quantile(before, after, 0.50),
            histogram_quantile(before, after, 0.99),
        );
    }
    if let (Some((cpu0, rss0)), Some((cpu1, _)), Some((cpu2, rss2))) = (baseline, before, after) {
        let _ = cpu0;
        let cpu_percent = (cpu2 - cpu1) / args.seconds * 100.0;
        let per_listener_kib = (rss2 as f64 - rss0 as f64) / 1024.0 / args.listeners as f64;
        println!(
            "daemon CPU           {cpu_percent:.1}% of one core ({:.3}% per listener)",
            cpu_percent / args.listeners as f64
        );
        println!(
            "daemon RSS           {:.1} MiB (idle {:.1} MiB; {per_listener_kib:.1} KiB per listener)",
            rss2 as f64 / 1048576.0,
            rss0 as f64 / 1048576.0
        );
    }
    if let (Some((c1, _)), Some((c2, _))) = (self_before, self_after) {
        println!(
            "bench client CPU     {:.1}% of one core",
            (c2 - c1) / args.seconds * 100.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{Receipt, histogram_quantile, latencies};

    #[test]
    fn latency_bounds_come_from_the_timestamp_and_from_the_first_receipt() {
        let receipt = |sequence, received_us| Receipt {
            sequence,
            received_us,
            timestamp_ms: 1_000 + sequence * 100,
        };
        // Chunk 0 ticked at 1_000.4 ms (stamped 1_000), chunk 1 at 1_100.9 ms (stamped 1_100).
        let receipts = [
            receipt(0, 1_000_700),
            receipt(0, 1_002_400),
            receipt(1, 1_101_000),
            receipt(1, 1_103_000),
        ];
        let (from_timestamp, from_first) = latencies(&receipts);
        assert_eq!(from_timestamp, [700, 1_000, 2_400, 3_000]);
        assert_eq!(from_first, [0, 0, 1_700, 2_000]);
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let before = [(0.001, 0), (0.002, 0), (0.004, 0), (f64::INFINITY, 0)];
        let after = [(0.001, 10), (0.002, 50), (0.004, 100), (f64::INFINITY, 100)];
        assert!((histogram_quantile(&before, &after, 0.3) - 1.5).abs() < 1e-9);
        assert!((histogram_quantile(&before, &after, 0.99) - 3.96).abs() < 1e-9);
        assert!((histogram_quantile(&before, &after, 0.05) - 0.5).abs() < 1e-9);
    }
}
