//! One Icecast output's life: subscribe to the shared Ogg stream, connect, stream, and on
//! any failure wait (capped exponential backoff; slowly after a refusal) and start again
//! with fresh headers. The journal hears of state changes, not of every retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::session::{self, Ended};
use super::state::OutputState;
use super::target::Target;
use crate::shutdown;
use crate::stream::fanout::Fanout;

/// The first wait after a failure; it doubles on every failure in a row...
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// ...up to this.
pub const LAST_RETRY: Duration = Duration::from_secs(60);
/// A connection that streamed this long was healthy: the next failure waits [`FIRST_RETRY`].
const HEALTHY: Duration = Duration::from_secs(30);
/// The wait after Icecast refused the credentials or the mount: an operator must act, and
/// hammering the server would fill its log (and look like a password guesser).
pub const REFUSED_RETRY: Duration = Duration::from_secs(60);

/// The waits between attempts.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: FIRST_RETRY }
    }

    /// The wait after a failure, given how long the connection had streamed (if at all).
    fn after(&mut self, ended: &Ended, streamed: Option<Duration>) -> Duration {
        if streamed.is_some_and(|d| d >= HEALTHY) {
            self.next = FIRST_RETRY;
        }
        if matches!(ended, Ended::Refused(_)) {
            return REFUSED_RETRY;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(LAST_RETRY);
        wait
    }
}

/// Runs the output until `stop` turns true. With `replaced` (the task of the output this
/// one replaces on the same mount), it first waits for that one to end.
pub async fn run(
    target: Target,
    fanout: Arc<Fanout>,
    state: Arc<OutputState>,
    mut stop: shutdown::Stop,
    replaced: Option<JoinHandle<()>>,
) {
    let url = target.endpoint.to_string();
    // Icecast may hold the mount a moment after the old source left: a refusal of the
    // first attempt then is retried soon, not in a minute.
    let mut just_replaced = replaced.is_some();
    if let Some(previous) = replaced {
        let _ = previous.await;
    }
    let mut backoff = Backoff::new();
    // The error last written to the journal: the same one again is not news.
    let mut reported: Option<String> = None;
    let mut failures_in_a_row = 0u64;
    loop {
        state.attempt();
        let mut since = None;
        let ended = session::run(&target, &fanout, &state, &mut stop, || {
            since = Some(Instant::now());
            if failures_in_a_row > 0 {
                tracing::info!(output = %url, attempts = failures_in_a_row + 1,
                    "icecast {url}: connected after {} attempts, streaming", failures_in_a_row + 1);
            } else {
                tracing::info!(output = %url, "icecast {url}: connected, streaming");
            }
            reported = None;
            failures_in_a_row = 0;
        })
        .await;
        let error = match &ended {
            Ended::Stopped => {
                state.stopped();
                return;
            }
            Ended::Refused(error) | Ended::Failed(error) => error.clone(),
        };
        state.failed(&error);
        failures_in_a_row += 1;
        let streamed = since.map(|s: Instant| s.elapsed());
        let wait = if std::mem::take(&mut just_replaced) {
            FIRST_RETRY
        } else {
            backoff.after(&ended, streamed)
        };
        if reported.as_deref() != Some(error.as_str()) {
            let retry = wait.as_secs();
            if matches!(ended, Ended::Refused(_)) {
                tracing::error!(output = %url, %error,
                    "icecast {url}: {error}; retrying every {retry} s");
            } else {
                tracing::warn!(output = %url, %error,
                    "icecast {url}: {error}; retrying in {retry} s, backing off to {} s",
                    LAST_RETRY.as_secs());
            }
            reported = Some(error);
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown::stopped(&mut stop) => {
                state.stopped();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_after_a_healthy_stream() {
        let mut backoff = Backoff::new();
        let failed = Ended::Failed("x".into());
        let waits: Vec<u64> = (0..8)
            .map(|_| backoff.after(&failed, None).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        // A short connection does not reset it; a healthy one does.
        assert_eq!(
            backoff
                .after(&failed, Some(Duration::from_secs(2)))
                .as_secs(),
            60
        );
        assert_eq!(backoff.after(&failed, Some(HEALTHY)).as_secs(), 1);
        let refused = Ended::Refused("401".into());
        assert_eq!(backoff.after(&refused, None), REFUSED_RETRY);
    }
}
