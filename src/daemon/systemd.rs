//! Keeping systemd informed while the daemon runs: `STATUS=` refreshed every few seconds, and
//! `WATCHDOG=1` at half the watchdog timeout, sent only while the generation thread and the
//! pacer both make progress (a stalled generator stops the pings and systemd restarts us).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::Core;
use crate::daemon::notify::ProgressGate;
use crate::shutdown::{Stop, stopped};

/// How often `STATUS=` is refreshed.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Sends `STATUS=` and gated `WATCHDOG=1` until `stop` turns true.
pub async fn keep_informed(core: Arc<Core>, mut stop: Stop) {
    let mut status = tokio::time::interval(STATUS_EVERY);
    status.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Without a watchdog the second arm never fires.
    let watchdog_every = core.notifier().watchdog_interval();
    let mut watchdog = tokio::time::interval(watchdog_every.unwrap_or(Duration::from_secs(3600)));
    watchdog.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut gate = ProgressGate::<2>::new();
    let mut was_stalled = false;
    loop {
        tokio::select! {
            _ = status.tick() => core.notifier().status(&core.status_line()),
            _ = watchdog.tick(), if watchdog_every.is_some() => {
                let station = core.stream.station.snapshot();
                let counters = [station.render.blocks, station.chunks];
                if gate.admit(counters) {
                    core.notifier().watchdog();
                    if was_stalled {
                        tracing::info!("progress again; feeding the watchdog");
                        was_stalled = false;
                    }
                } else if !was_stalled {
                    was_stalled = true;
                    tracing::error!(
                        generated = counters[0],
                        sent = counters[1],
                        "no progress since the last watchdog ping; withholding WATCHDOG=1"
                    );
                    core.notifier().status(&core.status_line());
                }
            }
            () = stopped(&mut stop) => return,
        }
    }
}
