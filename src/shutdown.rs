//! Shutdown as data flow: one `watch` flag that the daemon turns true once, which every task
//! (pacer, connections, control socket, systemd loop) awaits with [`stopped`].

use tokio::sync::watch;

/// The daemon's side of the flag: [`Trigger::stop`] tells every task at once.
pub type Trigger = watch::Sender<bool>;
/// A task's side of the flag.
pub type Stop = watch::Receiver<bool>;

/// A new flag, not yet set.
pub fn channel() -> (Trigger, Stop) {
    watch::channel(false)
}

/// Completes once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut Stop) {
    // The guard `wait_for` returns must not live across an await (it is not `Send`).
    let _ = stop.wait_for(|stop| *stop).await;
}
