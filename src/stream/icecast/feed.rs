//! An output's end of the shared Ogg/Opus stream: the stream's header pages, then each
//! tick's pages, exactly as a `/stream.opus` listener gets them, through the fan-out's
//! bounded queue (an output a second behind is dropped there and reconnects; it never holds
//! the fan-out back).

use std::sync::Arc;

use bytes::Bytes;

use crate::stream::SubscriptionGuard;
use crate::stream::encode::Format;
use crate::stream::fanout::{CloseReason, Fanout, Subscription};

/// Where the shared Ogg stream comes from: its format in the fan-out and its header pages.
#[derive(Debug, Clone, Copy)]
pub struct OggSource {
    /// The fan-out format whose per-tick payload is that tick's Ogg pages.
    pub format: Format,
    /// The stream's header pages (OpusHead, OpusTags), the same for the stream's life.
    pub headers: fn() -> Bytes,
}

/// One subscription to the shared Ogg stream.
#[derive(Debug)]
pub struct Feed {
    subscription: Subscription,
    source: OggSource,
    _guard: SubscriptionGuard,
}

impl Feed {
    /// Subscribes to `fanout`'s Ogg stream; `None` once the fan-out closed (shutdown).
    pub fn subscribe(fanout: &Arc<Fanout>, source: OggSource) -> Option<Feed> {
        let subscription = fanout.subscribe(source.format, None)?;
        let guard = SubscriptionGuard::new(fanout.clone(), subscription.id);
        Some(Feed {
            subscription,
            source,
            _guard: guard,
        })
    }

    /// The header pages every connection starts with.
    pub fn headers(&self) -> Bytes {
        (self.source.headers)()
    }

    /// The next tick's pages; an error when the fan-out let this output go.
    pub async fn next(&mut self) -> Result<Bytes, String> {
        loop {
            tokio::select! {
                biased;
                reason = &mut self.subscription.close => {
                    return Err(match reason {
                        Ok(CloseReason::TooSlow) => "Icecast took the stream too slowly \
                            (a second behind); reconnecting".to_string(),
                        Ok(CloseReason::ShuttingDown) | Err(_) => "the daemon is stopping".to_string(),
                    });
                }
                tick = self.subscription.ticks.recv() => {
                    let Some(tick) = tick else {
                        return Err("the daemon is stopping".to_string());
                    };
                    // A tick made before the format had a listener carries no pages: skip it.
                    if let Some(encoded) = tick.chunk.get(self.source.format) {
                        return Ok(encoded.payload.clone());
                    }
                }
            }
        }
    }
}
