//! The journal's view of the station's events: one log line per event worth a line, with
//! its facts as structured fields.

use super::event::Event;

/// Logs `event` (phrases and underruns are logged by the pacer, once per run).
pub fn log(event: &Event) {
    match event {
        Event::Params(next) => tracing::info!(
            key = %next.key(),
            bpm = next.bpm(),
            intensity = %next.intensity(),
            seed = next.seed(),
            "parameters changed"
        ),
        Event::ListenerJoined {
            addr,
            kind,
            listeners,
        } => tracing::info!(listener = %addr, kind, listeners, "listener joined"),
        Event::ListenerLeft {
            addr,
            listeners,
            reason,
        } => tracing::info!(
            listener = %addr,
            reason = reason.unwrap_or("left"),
            listeners,
            "listener left"
        ),
        Event::BackendFellBack { backend, error } => tracing::warn!(
            backend,
            %error,
            "the voice stage failed; rendering on the CPU from now on"
        ),
        Event::Phrase(_) | Event::Underrun(_) | Event::Stopping => {}
    }
}
