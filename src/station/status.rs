//! One status snapshot of the station, taken at once, from which every output builds its
//! own view: `ambientctl status`, `/api/status`, `/metrics`, systemd's `STATUS=`.

use std::time::Duration;

use ambientctl::SynthesisParameters;

use super::event::PhraseStart;
use crate::audio::{CHUNK_FRAMES, SAMPLE_RATE};
use crate::music::BEATS_PER_BAR;

/// The station as it stands at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The parameters most recently set (the music follows at the next bar line).
    pub params: SynthesisParameters,
    /// The voice stage chosen at start (`"cuda"` or `"cpu"`).
    pub backend: &'static str,
    /// Why it was chosen ("cpu: no libcuda"); empty when there is nothing to say.
    pub backend_reason: String,
    /// Times the primary voice stage failed and the CPU took over.
    pub fallbacks: u64,
    /// Render panics recovered with silence and a new phrase.
    pub panics: u64,
    /// Listener places taken (every transport together).
    pub listeners: usize,
    /// The ring's fill after the latest tick, 0.0..=1.0.
    pub ring_fill: f64,
    /// The ring's capacity in milliseconds of audio.
    pub ring_capacity_ms: u32,
    /// Chunks padded with silence since start.
    pub underruns: u64,
    /// Ticks since start.
    pub chunks: u64,
    /// Sequence the next tick will carry.
    pub next_sequence: u64,
    /// Time since the station started.
    pub uptime: Duration,
    /// `None` while the generator and the pacer make progress, else why not.
    pub unhealthy: Option<&'static str>,
    /// The generation thread's figures.
    pub render: RenderFigures,
    /// The phrase playing now (the latest to start); `None` before the first.
    pub phrase: Option<PhraseStart>,
    /// Config reloads.
    pub reloads: ReloadFigures,
}

/// Config reloads and how the latest went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReloadFigures {
    /// Reloads that applied the file.
    pub succeeded: u64,
    /// Reloads refused.
    pub failed: u64,
    /// Whether the latest reload was refused.
    pub last_failed: bool,
    /// Unix ms of the latest successful reload, or of the start.
    pub last_success_unix_ms: u64,
}

/// What the generation thread has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RenderFigures {
    /// 100 ms blocks rendered.
    pub blocks: u64,
    /// Seconds spent rendering, all blocks together.
    pub seconds: f64,
    /// Seconds the latest block took.
    pub last_block_seconds: f64,
    /// Audio seconds rendered per second of rendering (0 before the first block).
    pub realtime_factor: f64,
}

impl Snapshot {
    /// The sequence of the last chunk sent (0 before the first).
    pub fn last_sequence(&self) -> u64 {
        self.next_sequence.saturating_sub(1)
    }

    /// The bar of [`Snapshot::phrase`] playing in the latest chunk (0-based; it stays on the
    /// last bar if the next phrase is late) and its chord.
    pub fn bar(&self) -> Option<(usize, &'static str)> {
        let phrase = self.phrase.as_ref()?;
        let chunks = self.last_sequence().checked_sub(phrase.sequence)?;
        let frames = (chunks * CHUNK_FRAMES as u64).saturating_sub(phrase.offset_frames);
        let bar_frames =
            f64::from(SAMPLE_RATE) * 60.0 / f64::from(phrase.bpm.max(1)) * BEATS_PER_BAR as f64;
        let bar = ((frames as f64 / bar_frames) as usize).min(phrase.chords.len().checked_sub(1)?);
        Some((bar, phrase.chords[bar]))
    }
}
