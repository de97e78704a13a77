//! The pacer: every 100 ms of wall-clock time it takes exactly one chunk from the ring,
//! encodes it once and hands it to the fan-out. An empty ring gives silence, not a stall.
//!
//! Ticks fall on absolute deadlines (`start + n × 100 ms`, tokio's `interval`), so the stream
//! does not drift over hours. If the process is stalled past several deadlines the missed ones
//! are skipped rather than burst out, which would overflow every listener's queue at once.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::unix_ms;
use crate::shutdown::stopped;

use ambientctl::Event;
use ringbuf::traits::{Consumer, Observer};
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::encode::{EncodedChunk, Format};
use super::fanout::{Fanout, Tick};
use super::messages;
use super::metrics::Metrics;
use crate::audio::CHUNK_SAMPLES;
use crate::audio::{CHANNELS, CHUNK_FRAMES};
use crate::engine::{AudioSource, PhraseInfo};

/// Time between ticks: one chunk of audio.
pub const TICK: Duration = Duration::from_millis(100);
/// Frames over which audio fades out into an underrun's silence and back in after it (10 ms).
const FADE_FRAMES: usize = 441;

/// Text messages waiting to go out with the next tick (e.g. `params` after a change).
#[derive(Debug, Default)]
pub struct EventQueue(Mutex<Vec<Utf8Bytes>>);

impl EventQueue {
    /// Queues a message for the next tick.
    pub fn push(&self, message: Utf8Bytes) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }

    fn take_into(&self, out: &mut Vec<Utf8Bytes>) {
        out.append(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The pacer's state between ticks.
pub struct Pacer {
    source: AudioSource,
    fanout: Arc<Fanout>,
    metrics: Arc<Metrics>,
    events: Arc<EventQueue>,
    samples: Vec<f32>,
    sequence: u64,
    /// Generator frames taken from the ring so far (silence is not counted).
    frames_taken: u64,
    /// Phrases reported by the generator that have not started playing yet.
    phrases: VecDeque<PhraseInfo>,
    /// Whether the previous chunk ended in underrun silence (the next audio fades in).
    silent: bool,
    last_frame: [f32; CHANNELS],
    /// Control-socket watchers, told about phrases and underruns.
    watchers: Option<broadcast::Sender<Event>>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("sequence", &self.sequence)
            .field("silent", &self.silent)
            .finish_non_exhaustive()
    }
}

impl Pacer {
    /// A pacer reading `source` and feeding `fanout`.
    pub fn new(
        source: AudioSource,
        fanout: Arc<Fanout>,
        metrics: Arc<Metrics>,
        events: Arc<EventQueue>,
    ) -> Pacer {
        Pacer {
            source,
            fanout,
            metrics,
            events,
            samples: vec![0.0; CHUNK_SAMPLES],
            sequence: 0,
            frames_taken: 0,
            phrases: VecDeque::new(),
            silent: false,
            last_frame: [0.0; CHANNELS],
            watchers: None,
        }
    }

    /// Also tells `watchers` about each phrase start and underrun.
    pub fn with_watchers(mut self, watchers: broadcast::Sender<Event>) -> Pacer {
        self.watchers = Some(watchers);
        self
    }

    fn tell_watchers(&self, event: impl FnOnce() -> Event) {
        if let Some(watchers) = self.watchers.as_ref().filter(|w| w.receiver_count() > 0) {
            let _ = watchers.send(event());
        }
    }

    /// Interleaved samples waiting in the ring.
    pub fn buffered_samples(&self) -> usize {
        self.source.audio.occupied_len()
    }

    /// Ticks until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut interval = tokio::time::interval_at(Instant::now(), TICK);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = interval.tick() => self.tick(),
                () = stopped(&mut shutdown) => break,
            }
        }
    }

    /// Produces one chunk and hands it to every listener.
    pub fn tick(&mut self) {
        let at = std::time::Instant::now();
        let timestamp_ms = unix_ms();
        let sequence = self.sequence;
        self.sequence += 1;
        let got = self.source.audio.pop_slice(&mut self.samples) / CHANNELS;
        self.source.wake_generator();

        let mut events = Vec::new();
        self.phrase_events(sequence, got, &mut events);
        self.events.take_into(&mut events);

        if self.silent && got > 0 {
            fade(&mut self.samples[..got * CHANNELS], |i| {
                i as f32 / FADE_FRAMES as f32
            });
        }
        if got < CHUNK_FRAMES {
            self.fill_with_fading_silence(got);
            let total = self.metrics.underruns.get() + 1;
            self.metrics.underruns.add(1);
            events.push(messages::underrun(sequence, CHUNK_FRAMES - got, total));
            self.tell_watchers(|| Event::Underrun { sequence });
            if !self.silent {
                tracing::warn!(
                    sequence,
                    missing_frames = CHUNK_FRAMES - got,
                    "underrun: the generator fell behind; sending silence"
                );
            }
            self.silent = true;
        } else if self.silent {
            tracing::info!(sequence, "generator caught up; audio resumes");
            self.silent = false;
        }
        self.last_frame
            .copy_from_slice(&self.samples[CHUNK_SAMPLES - CHANNELS..]);

        let chunk = EncodedChunk::new(&self.samples, sequence, timestamp_ms);
        let in_use = self.fanout.formats_in_use();
        for format in Format::ALL.into_iter().filter(|f| in_use[f.index()]) {
            chunk.prepare(format);
        }
        self.fanout
            .broadcast(Arc::new(Tick::new(at, chunk, events)));
        self.metrics.chunks.add(1);
        self.metrics
            .ring_samples
            .store(self.source.audio.occupied_len() as u64, Ordering::Relaxed);
        self.metrics
            .last_tick_unix_ms
            .store(timestamp_ms, Ordering::Relaxed);
    }

    /// `phrase` messages for phrases that start within this chunk's `got` generator frames.
    fn phrase_events(&mut self, sequence: u64, got: usize, events: &mut Vec<Utf8Bytes>) {
        while let Some(phrase) = self.source.phrases.try_pop() {
            self.phrases.push_back(phrase);
        }
        let end = self.frames_taken + got as u64;
        while let Some(phrase) = self.phrases.front().filter(|p| p.start_frame < end) {
            let offset = phrase.start_frame.saturating_sub(self.frames_taken);
            events.push(messages::phrase(phrase, sequence, offset));
            let chords = messages::chord_names(&phrase.progression);
            self.tell_watchers(|| Event::Phrase {
                chords: chords.iter().map(|c| c.to_string()).collect(),
            });
            self.phrases.pop_front();
        }
        self.frames_taken = end;
    }

    /// After `got` frames of audio, fades from the last sample to zero and fills with zeros.
    fn fill_with_fading_silence(&mut self, got: usize) {
        let from = if got > 0 {
            let at = (got - 1) * CHANNELS;
            [self.samples[at], self.samples[at + 1]]
        } else {
            self.last_frame
        };
        for (i, frame) in self.samples[got * CHANNELS..]
            .chunks_exact_mut(CHANNELS)
            .enumerate()
        {
            let gain = 1.0 - ((i + 1) as f32 / FADE_FRAMES as f32).min(1.0);
            frame[0] = from[0] * gain;
            frame[1] = from[1] * gain;
        }
    }
}

/// Multiplies each frame `i` of `samples` by `gain(i)` over the first `FADE_FRAMES` frames.
fn fade(samples: &mut [f32], gain: impl Fn(usize) -> f32) {
    for (i, frame) in samples
        .chunks_exact_mut(CHANNELS)
        .take(FADE_FRAMES)
        .enumerate()
    {
        let g = gain(i);
        frame[0] *= g;
        frame[1] *= g;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use ambientctl::SynthesisParameters;

    use super::*;
    use crate::engine::Engine;
    use crate::stream::StreamState;
    use crate::synth::BackendChoice;

    fn text_events(tick: &Tick) -> Vec<serde_json::Value> {
        tick.events
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect()
    }

    /// A parameter change reaches listeners as `params` at once, and the music follows at the
    /// next bar line: a `phrase` in the new key arrives within a bar plus the ring's 2 s.
    #[test]
    fn parameter_changes_are_announced_and_take_effect_at_a_bar_line() {
        let params = SynthesisParameters::default();
        let (engine, source) = Engine::start(params, BackendChoice::Cpu).unwrap();
        let metrics = Arc::new(Metrics::default());
        let state = StreamState::new(engine, params, None, metrics.clone());
        let mut pacer = Pacer::new(
            source,
            state.fanout.clone(),
            metrics.clone(),
            state.events.clone(),
        );
        let mut listener = state.fanout.subscribe(Default::default(), None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Ticks as soon as a whole chunk is buffered (faster than real time; no underruns).
        let mut next_tick = |pacer: &mut Pacer| {
            while pacer.buffered_samples() < CHUNK_SAMPLES {
                assert!(Instant::now() < deadline, "the generator stopped");
                std::thread::sleep(Duration::from_millis(1));
            }
            pacer.tick();
            listener.ticks.blocking_recv().unwrap()
        };
        let first = text_events(&next_tick(&mut pacer));
        assert_eq!(
            first[0]["type"], "phrase",
            "the first phrase starts at once"
        );
        assert_eq!(first[0]["chords"].as_array().unwrap().len(), 8);

        let d_minor = SynthesisParameters::new("D minor".parse().unwrap(), 90, 0.3, 0).unwrap();
        state.update_params(|_| Ok::<_, String>(d_minor)).unwrap();
        let announced = text_events(&next_tick(&mut pacer));
        assert_eq!(announced[0]["type"], "params");
        assert_eq!(announced[0]["params"]["key"], "D minor");
        assert_eq!(state.params(), d_minor);

        let mut ticks = 0;
        let phrase = loop {
            ticks += 1;
            assert!(ticks <= 60, "no phrase in the new key after 6 s of audio");
            let events = text_events(&next_tick(&mut pacer));
            if let Some(phrase) = events.into_iter().find(|e| e["type"] == "phrase") {
                break phrase;
            }
        };
        assert_eq!(phrase["key"], "D minor");
        assert_eq!(phrase["bpm"], 90);
        assert_eq!(metrics.underruns.get(), 0);
    }
}
