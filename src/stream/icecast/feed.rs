//! An output's end of the shared Ogg/Opus stream, exactly as a `/stream.opus` listener gets
//! it: the header pages, a burst of recent pages, then each tick's page, through the
//! fan-out's bounded queue (an output a second behind is dropped there and reconnects; it
//! never holds the fan-out back).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::stream::SubscriptionGuard;
use crate::stream::fanout::{CloseReason, Fanout, Subscription};
use crate::stream::ogg_stream;

/// One subscription to the shared Ogg stream.
#[derive(Debug)]
pub struct Feed {
    /// Headers and burst, not yet handed out.
    pending: VecDeque<Bytes>,
    subscription: Subscription,
    _guard: SubscriptionGuard,
}

impl Feed {
    /// Subscribes to `fanout`'s Ogg stream; the error says why there is none (no Opus
    /// encoder in this build, or the daemon stopping).
    pub fn subscribe(fanout: &Arc<Fanout>) -> Result<Feed, String> {
        let listener = ogg_stream::subscribe(fanout)?;
        let guard = SubscriptionGuard::new(fanout.clone(), listener.subscription.id);
        let mut pending = VecDeque::with_capacity(1 + listener.burst.len());
        pending.push_back(listener.headers);
        pending.extend(listener.burst);
        Ok(Feed {
            pending,
            subscription: listener.subscription,
            _guard: guard,
        })
    }

    /// The next bytes to send: the headers and burst first, then one tick's page at a
    /// time; an error when the fan-out let this output go.
    pub async fn next(&mut self) -> Result<Bytes, String> {
        if let Some(bytes) = self.pending.pop_front() {
            return Ok(bytes);
        }
        loop {
            tokio::select! {
                biased;
                reason = &mut self.subscription.close => {
                    return Err(match reason {
                        Ok(CloseReason::TooSlow) => "Icecast took the stream too slowly \
                            (a second behind)".to_string(),
                        Ok(CloseReason::ShuttingDown) | Err(_) => "the daemon is stopping".to_string(),
                    });
                }
                tick = self.subscription.ticks.recv() => {
                    let Some(tick) = tick else {
                        return Err("the daemon is stopping".to_string());
                    };
                    // A tick the Opus stream had no page for (it failed) is skipped, as
                    // `/stream.opus` skips it.
                    if let Some(page) = ogg_stream::page(&tick) {
                        return Ok(page.clone());
                    }
                }
            }
        }
    }
}
