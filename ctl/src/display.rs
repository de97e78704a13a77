//! How `ambientctl` shows responses and events to a person: aligned `name  value` lines.
//! Pure functions from protocol values to text, so the wording is tested without a socket.

use std::fmt::Write as _;

use crate::params::{Param, SynthesisParameters};
use crate::protocol::{Event, Status};
use crate::sources::Source;

/// Width of the name column; the longest name ("underruns", "intensity") plus two spaces.
const NAME_WIDTH: usize = 11;

/// One aligned line, newline included.
fn line(out: &mut String, name: &str, value: impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{name:<NAME_WIDTH$}{value}");
}

/// All parameters, one per line in [`Param::ALL`] order.
pub fn params(params: &SynthesisParameters) -> String {
    let mut out = String::new();
    for param in Param::ALL {
        line(&mut out, param.name(), params.get_as_string(param));
    }
    out
}

/// One parameter as `name  value`.
pub fn param(params: &SynthesisParameters, param: Param) -> String {
    let mut out = String::new();
    line(&mut out, param.name(), params.get_as_string(param));
    out
}

/// The `status` report: each parameter with where its value comes from (when the daemon
/// says), the chord playing, then how the daemon is doing.
pub fn status(status: &Status) -> String {
    let mut out = String::new();
    for param in Param::ALL {
        let value = status.params.get_as_string(param);
        let origin = match (&status.sources, &status.config) {
            (Some(sources), Some(config)) if sources.get(param) == Source::Changed => format!(
                "  (changed at run time; config {}: `ambientctl reset {param}`)",
                config.get_as_string(param)
            ),
            (Some(sources), _) => format!("  ({})", sources.get(param).describe()),
            _ => String::new(),
        };
        line(&mut out, param.name(), format!("{value}{origin}"));
    }
    if let (Some(bar), Some(chord)) = (
        status.bar,
        status.bar.and_then(|b| status.chords.get(b as usize)),
    ) {
        line(
            &mut out,
            "chord",
            format!(
                "{chord}  (bar {} of {}: {})",
                bar + 1,
                status.chords.len(),
                status.chords.join(" ")
            ),
        );
    }
    let backend = match &status.backend_reason {
        Some(reason) => format!("{} ({reason})", status.backend),
        None => status.backend.clone(),
    };
    line(&mut out, "backend", backend);
    if let Some(listen) = &status.listen {
        line(&mut out, "listen", format!("http://{listen}/"));
    }
    line(&mut out, "listeners", status.listeners);
    line(
        &mut out,
        "ring",
        format!(
            "{:.0}% of {:.1} s",
            f64::from(status.ring_fill.clamp(0.0, 1.0)) * 100.0,
            f64::from(status.ring_capacity_ms) / 1000.0
        ),
    );
    line(&mut out, "underruns", status.underruns);
    line(&mut out, "sequence", status.sequence);
    line(&mut out, "uptime", duration(status.uptime_s));
    out
}

/// `3723` → `1h 02m 03s`; `59` → `59s`; `90061` → `1d 01h 01m 01s`.
pub fn duration(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds:02}s"),
        (0, _, _) => format!("{hours}h {minutes:02}m {seconds:02}s"),
        _ => format!("{days}d {hours:02}h {minutes:02}m {seconds:02}s"),
    }
}

/// The answer to `reload`: what changed, one line each.
pub fn reloaded(changes: &[String]) -> String {
    if changes.is_empty() {
        return "reloaded the configuration: nothing changed\n".to_string();
    }
    let mut out = String::from("reloaded the configuration:\n");
    for change in changes {
        let _ = writeln!(out, "  {change}");
    }
    out
}

/// The kinds of watch event, for `ambientctl watch --only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum EventKind {
    /// Parameter changes.
    Params,
    /// A new phrase starts (its chords).
    Phrase,
    /// Silence sent because the generator fell behind.
    Underrun,
    /// Listeners joining and leaving.
    Listeners,
    /// Events skipped because this watcher fell behind.
    Missed,
    /// Event kinds newer than this client.
    Other,
}

impl EventKind {
    /// The kind of `event` (`stopping` always shows, whatever the filter).
    pub fn of(event: &Event) -> EventKind {
        match event {
            Event::Params(_) => EventKind::Params,
            Event::Phrase { .. } => EventKind::Phrase,
            Event::Underrun { .. } => EventKind::Underrun,
            Event::ListenerJoined { .. } | Event::ListenerLeft { .. } => EventKind::Listeners,
            Event::Missed { .. } => EventKind::Missed,
            Event::Stopping | Event::Unknown => EventKind::Other,
        }
    }
}

/// One watch event as a line (newline included), or `None` for kinds this client does not
/// know (shown only with `--json`).
pub fn event(event: &Event) -> Option<String> {
    let mut out = String::new();
    match event {
        Event::Params(p) => line(
            &mut out,
            "params",
            format!(
                "key {}, bpm {}, intensity {}, seed {}",
                p.key(),
                p.bpm(),
                p.intensity(),
                p.seed()
            ),
        ),
        Event::Phrase { chords } => line(&mut out, "phrase", chords.join(" ")),
        Event::Underrun { sequence } => line(&mut out, "underrun", format!("chunk {sequence}")),
        Event::ListenerJoined { addr, listeners } => line(
            &mut out,
            "joined",
            format!("{addr} ({listeners} listening)"),
        ),
        Event::ListenerLeft {
            addr,
            listeners,
            reason,
        } => {
            let why = reason
                .as_deref()
                .map(|r| format!(", {r}"))
                .unwrap_or_default();
            line(
                &mut out,
                "left",
                format!("{addr} ({listeners} listening{why})"),
            )
        }
        Event::Missed { events } => line(
            &mut out,
            "missed",
            format!("{events} events skipped: this watcher fell behind"),
        ),
        Event::Stopping => line(&mut out, "stopping", "ambientd is shutting down"),
        Event::Unknown => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_aligned_and_complete() {
        let report = Status {
            params: SynthesisParameters::new("D minor".parse().unwrap(), 80, 0.3, 42).unwrap(),
            backend: "cpu".into(),
            backend_reason: Some("no CUDA device".into()),
            listen: Some("127.0.0.1:8700".into()),
            listeners: 2,
            ring_fill: 0.875,
            ring_capacity_ms: 2000,
            underruns: 0,
            sequence: 1234,
            uptime_s: 3723,
            sources: Some(crate::ParamSources {
                key: Source::Config,
                bpm: Source::Changed,
                ..Default::default()
            }),
            config: Some(
                SynthesisParameters::new("D minor".parse().unwrap(), 70, 0.3, 42).unwrap(),
            ),
            chords: vec!["i".into(), "iv".into(), "V".into(), "i".into()],
            bar: Some(1),
        };
        assert_eq!(
            status(&report),
            "key        D minor  (config)\n\
             bpm        80  (changed at run time; config 70: `ambientctl reset bpm`)\n\
             intensity  0.3  (default)\n\
             seed       42  (default)\n\
             chord      iv  (bar 2 of 4: i iv V i)\n\
             backend    cpu (no CUDA device)\n\
             listen     http://127.0.0.1:8700/\n\
             listeners  2\n\
             ring       88% of 2.0 s\n\
             underruns  0\n\
             sequence   1234\n\
             uptime     1h 02m 03s\n"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m 01s");
        assert_eq!(duration(3723), "1h 02m 03s");
        assert_eq!(duration(90_061), "1d 01h 01m 01s");
    }

    #[test]
    fn events_read_as_one_line_each() {
        let left = Event::ListenerLeft {
            addr: "192.0.2.7:5".into(),
            listeners: 0,
            reason: Some("too slow".into()),
        };
        assert_eq!(
            event(&left).unwrap(),
            "left       192.0.2.7:5 (0 listening, too slow)\n"
        );
        let phrase = Event::Phrase {
            chords: vec!["i".into(), "VI".into()],
        };
        assert_eq!(event(&phrase).unwrap(), "phrase     i VI\n");
        assert_eq!(event(&Event::Unknown), None);
    }
}
