//! `/stream.opus`: the endless Ogg/Opus stream (48 kHz stereo) as a listener gets it (its
//! bytes reach the socket through [`super::streamed_body`]), and the same stream for an
//! in-process consumer (an Icecast source output).
//!
//! Every listener gets the stream's header pages (OpusHead, OpusTags: made once, never
//! changed), then a burst of the most recent pages (up to [`BURST_TICKS`], so a player
//! starts at once), then each tick's page as the fan-out shares it. All listeners get the
//! same page bytes; one joining mid-stream sees page sequence numbers and granule positions
//! jump from the headers to its first page, as with any live Ogg stream (Icecast's too).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::encode::OGG_OPUS;
use super::fanout::{Fanout, Subscription, Tick};

/// Recent pages a new listener gets at once (1 s of audio, ~12 kB at 96 kbit/s).
pub const BURST_TICKS: usize = 10;

/// A new consumer of the Ogg/Opus stream: write `headers`, then `burst` in order, then the
/// page of every tick from `subscription.ticks` ([`page`]); the bytes form one valid Ogg
/// stream. Unsubscribe (`Fanout::unsubscribe(subscription.id)`) when done.
#[derive(Debug)]
pub struct OggListener {
    /// The OpusHead and OpusTags pages (the same for the daemon's whole life).
    pub headers: Bytes,
    /// The most recent pages, oldest first (at most [`BURST_TICKS`]; none when nobody
    /// listened in Opus just before).
    pub burst: Vec<Bytes>,
    /// The live ticks, starting just after the burst. Its `backlog` is empty (the burst
    /// holds what of it has pages). A consumer a second behind is dropped (`close` fires
    /// with `TooSlow`), like any listener.
    pub subscription: Subscription,
}

/// Subscribes a consumer of the Ogg/Opus stream. The error says why it cannot be had: no
/// Opus encoder in this daemon (with libopus's reason), or the daemon shutting down.
pub fn subscribe(fanout: &Fanout) -> Result<OggListener, String> {
    let headers = fanout
        .opus_headers()
        .map_err(|why| format!("no Opus stream: {why}"))?;
    let resume_after = fanout.next_sequence().checked_sub(BURST_TICKS as u64 + 1);
    let mut subscription = fanout
        .subscribe(OGG_OPUS, Some(resume_after.unwrap_or(0)))
        .ok_or_else(|| "server shutting down".to_string())?;
    let backlog = std::mem::take(&mut subscription.backlog);
    let burst = burst(backlog.iter());
    Ok(OggListener {
        headers,
        burst,
        subscription,
    })
}

/// The Ogg page of `tick` (`None` if the Opus stream had none for it: it failed).
pub fn page(tick: &Tick) -> Option<&Bytes> {
    tick.chunk.get(OGG_OPUS).map(|encoded| &encoded.payload)
}

/// What a new `/stream.opus` listener gets before the live pages: the header pages, then
/// the burst of the most recent pages in `history` (oldest first).
pub fn preamble(headers: Bytes, history: &VecDeque<Arc<Tick>>) -> Vec<Bytes> {
    let mut preamble = vec![headers];
    preamble.extend(burst(history.iter()));
    preamble
}

/// The unbroken run of pages at the end of `ticks`, at most [`BURST_TICKS`], oldest first:
/// older ones belong to an earlier stretch of the stream (before a pause without
/// listeners).
fn burst<'a>(ticks: impl DoubleEndedIterator<Item = &'a Arc<Tick>>) -> Vec<Bytes> {
    let mut burst: Vec<Bytes> = ticks
        .rev()
        .map_while(|tick| page(tick).cloned())
        .take(BURST_TICKS)
        .collect();
    burst.reverse();
    burst
}
