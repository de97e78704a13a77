//! The process's own figures in Prometheus's standard names (`process_*`), read from
//! `/proc/self`: open descriptors against their limit (what runs out first under many
//! listeners), resident memory, CPU time, start time. Absent where `/proc` is not Linux's.

use std::fmt::Write as _;

/// Appends the `process_*` families that can be read now.
pub fn render(out: &mut String) {
    let mut family = |name: &str, kind: &str, help: &str, value: f64| {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        // The directory's own descriptor, open while it is read, is not counted.
        let open = entries.count().saturating_sub(1);
        family(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            open as f64,
        );
    }
    if let Some(limit) = soft_fd_limit() {
        family(
            "process_max_fds",
            "gauge",
            "The soft limit on open file descriptors.",
            limit,
        );
    }
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else {
        return;
    };
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    // Linux reports times in clock ticks of 1/100 s (USER_HZ) and RSS in pages of 4 KiB on
    // every architecture this daemon is built for.
    const TICKS: f64 = 100.0;
    const PAGE: f64 = 4096.0;
    if let (Some(user), Some(system)) = (field(14), field(15)) {
        family(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            (user + system) / TICKS,
        );
    }
    if let Some(pages) = field(24) {
        family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory, in bytes.",
            pages * PAGE,
        );
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time()) {
        family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            boot + start / TICKS,
        );
    }
}

/// The soft `Max open files` of `/proc/self/limits`.
fn soft_fd_limit() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Seconds since the epoch at which the machine booted (`btime` of `/proc/stat`).
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}
