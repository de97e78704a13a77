//! Icecast source outputs: each `[[icecast]]` entry streams the shared Ogg/Opus stream to an
//! Icecast server's mount as its source, so relays and CDNs take it from there.
//!
//! ```text
//! fan-out ──(Ogg pages, bounded queue)──▶ output task ──PUT /mount──▶ Icecast master ──▶ relays
//! ```
//!
//! An output is a listener of the fan-out like any other: it starts every connection with
//! the Ogg headers, is dropped when a second behind, and never slows the local listeners.
//! [`Outputs`] holds the running ones and their live [`OutputState`], which the status
//! builders read.

mod feed;
mod output;
mod session;
mod state;
mod target;

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

pub use output::{FIRST_RETRY, LAST_RETRY, REFUSED_RETRY};
pub use session::{ANSWER_TIMEOUT, WRITE_TIMEOUT};
pub use state::{OutputState, OutputStatus};
pub use target::{Endpoint, Password, Target, header_value};

use super::fanout::Fanout;
use crate::shutdown;

/// One running output.
#[derive(Debug)]
struct Running {
    target: Target,
    state: Arc<OutputState>,
    /// Dropping or setting it stops the task.
    stop: shutdown::Trigger,
    task: JoinHandle<()>,
}

/// The running outputs, in config order.
#[derive(Debug, Default)]
pub struct Outputs {
    running: Mutex<Vec<Running>>,
}

impl Outputs {
    /// Makes the running outputs those of `targets`: an output whose target is unchanged
    /// keeps its connection and counters; a new or changed one starts (fresh counters); one
    /// no longer listed stops. Must run inside the Tokio runtime.
    pub fn apply(&self, targets: &[Target], fanout: &Arc<Fanout>) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mut old = std::mem::take(&mut *running);
        for target in targets {
            if let Some(i) = old.iter().position(|r| &r.target == target) {
                running.push(old.remove(i));
                continue;
            }
            // An edited entry (same mount, other password or names): the old connection
            // must be gone before the new one logs in, or Icecast says "Mountpoint in use".
            let replaced = old
                .iter()
                .position(|r| r.target.endpoint == target.endpoint)
                .map(|i| old.remove(i))
                .map(|previous| {
                    let _ = previous.stop.send(true);
                    previous.task
                });
            // Said before the task starts, so it comes before anything the task says.
            tracing::info!(output = %target.endpoint, "icecast {}: output started", target.endpoint);
            let state = Arc::new(OutputState::default());
            let (stop, stop_rx) = shutdown::channel();
            let task = tokio::spawn(output::run(
                target.clone(),
                fanout.clone(),
                state.clone(),
                stop_rx,
                replaced,
            ));
            running.push(Running {
                target: target.clone(),
                state,
                stop,
                task,
            });
        }
        for gone in old {
            tracing::info!(output = %gone.target.endpoint, "icecast {}: output stopped", gone.target.endpoint);
            let _ = gone.stop.send(true);
        }
    }

    /// Every output's state, in config order.
    pub fn statuses(&self) -> Vec<OutputStatus> {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|r| r.state.status(r.target.endpoint.to_string()))
            .collect()
    }

    /// Stops every output and waits for their tasks (at shutdown).
    pub async fn stop_all(&self) {
        let running = std::mem::take(&mut *self.running.lock().unwrap_or_else(|e| e.into_inner()));
        for output in running {
            let _ = output.stop.send(true);
            let _ = output.task.await;
        }
    }
}
