//! The pacer: every 100 ms of wall-clock time it takes exactly one chunk from the ring and
//! hands it, with the events that go with it, to the station's [`TickSink`] (the outputs,
//! which encode it once for all listeners). An empty ring gives silence, not a stall.
//!
//! Ticks fall on absolute deadlines (`start + n × 100 ms`, tokio's `interval`), so the stream
//! does not drift over hours. If the process is stalled past several deadlines the missed ones
//! are skipped rather than burst out, which would overflow every listener's queue at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ringbuf::traits::{Consumer, Observer};
use tokio::time::{Instant, MissedTickBehavior};

use super::Station;
use super::event::{Event, PhraseStart, Underrun};
use crate::audio::{CHANNELS, CHUNK_FRAMES, CHUNK_SAMPLES};
use crate::clock::unix_ms;
use crate::engine::{AudioSource, PhraseInfo};
use crate::music::harmony::{MAJOR_CHORDS, MINOR_CHORDS};
use crate::shutdown::{Stop, stopped};

/// Time between ticks: one chunk of audio.
pub const TICK: Duration = Duration::from_millis(100);
/// Frames over which audio fades out into an underrun's silence and back in after it (10 ms).
const FADE_FRAMES: usize = 441;

/// One tick as the station puts it on air.
#[derive(Debug)]
pub struct Broadcast<'a> {
    /// When the pacer began the tick (for delivery-time measurement).
    pub at: std::time::Instant,
    /// The stream's chunk number: +1 per tick, the same for every listener.
    pub sequence: u64,
    /// Unix time of the tick, in milliseconds.
    pub timestamp_ms: u64,
    /// Exactly 100 ms of interleaved stereo (`CHUNK_SAMPLES`), silence-padded on underrun.
    pub samples: &'a [f32],
    /// What listeners hear of before this chunk (`Params`, `Phrase`, `Underrun`), in order.
    pub events: Vec<Event>,
}

/// Where the pacer hands each tick: the outputs. Called on the pacer's task, once per tick;
/// it must not wait (a slow listener is the output's to drop, never the pacer's to wait for).
pub trait TickSink: Send + Sync {
    /// Delivers one tick.
    fn broadcast(&self, tick: Broadcast<'_>);
}

/// The pacer's state between ticks.
pub struct Pacer {
    source: AudioSource,
    station: Arc<Station>,
    sink: Arc<dyn TickSink>,
    samples: Vec<f32>,
    sequence: u64,
    /// Generator frames taken from the ring so far (silence is not counted).
    frames_taken: u64,
    /// Phrases reported by the generator that have not started playing yet.
    phrases: VecDeque<PhraseInfo>,
    /// Whether the previous chunk ended in underrun silence (the next audio fades in).
    silent: bool,
    last_frame: [f32; CHANNELS],
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
    /// A pacer reading `source` for `station` and handing its ticks to `sink`.
    pub fn new(source: AudioSource, station: Arc<Station>, sink: Arc<dyn TickSink>) -> Pacer {
        Pacer {
            source,
            station,
            sink,
            samples: vec![0.0; CHUNK_SAMPLES],
            sequence: 0,
            frames_taken: 0,
            phrases: VecDeque::new(),
            silent: false,
            last_frame: [0.0; CHANNELS],
        }
    }

    /// Interleaved samples waiting in the ring.
    pub fn buffered_samples(&self) -> usize {
        self.source.audio.occupied_len()
    }

    /// Ticks until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: Stop) {
        let mut interval = tokio::time::interval_at(Instant::now(), TICK);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = interval.tick() => self.tick(),
                () = stopped(&mut shutdown) => break,
            }
        }
    }

    /// Produces one chunk and hands it to the sink.
    pub fn tick(&mut self) {
        let at = std::time::Instant::now();
        let timestamp_ms = unix_ms();
        let sequence = self.sequence;
        self.sequence += 1;
        let got = self.source.audio.pop_slice(&mut self.samples) / CHANNELS;
        self.source.wake_generator();

        self.station.hand_over_unsent();
        let mut events = Vec::new();
        self.phrase_events(sequence, got, &mut events);
        self.station.take_pending(&mut events);

        if self.silent && got > 0 {
            fade(&mut self.samples[..got * CHANNELS], |i| {
                i as f32 / FADE_FRAMES as f32
            });
        }
        let station = self.station.clone();
        let counters = station.counters();
        if got < CHUNK_FRAMES {
            self.fill_with_fading_silence(got);
            counters.underruns.add(1);
            let underrun = Event::Underrun(Underrun {
                sequence,
                missing_frames: CHUNK_FRAMES - got,
                total: counters.underruns.get(),
            });
            events.push(underrun.clone());
            self.station.tell(underrun);
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

        counters
            .next_sequence
            .store(sequence + 1, Ordering::Relaxed);
        self.sink.broadcast(Broadcast {
            at,
            sequence,
            timestamp_ms,
            samples: &self.samples,
            events,
        });
        counters.chunks.add(1);
        self.station.journal_tick();
        counters
            .ring_samples
            .store(self.source.audio.occupied_len() as u64, Ordering::Relaxed);
        counters
            .last_tick_unix_ms
            .store(timestamp_ms, Ordering::Relaxed);
    }

    /// `Phrase` events for phrases that start within this chunk's `got` generator frames.
    fn phrase_events(&mut self, sequence: u64, got: usize, events: &mut Vec<Event>) {
        while let Some(phrase) = self.source.phrases.try_pop() {
            self.phrases.push_back(phrase);
        }
        let end = self.frames_taken + got as u64;
        while let Some(phrase) = self.phrases.front().filter(|p| p.start_frame < end) {
            let event = Event::Phrase(PhraseStart {
                sequence,
                offset_frames: phrase.start_frame.saturating_sub(self.frames_taken),
                key: phrase.params.key(),
                bpm: phrase.params.bpm(),
                chords: chord_names(phrase),
            });
            events.push(event.clone());
            self.station.tell(event);
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

/// Chord symbols of a phrase's progression ("i", "iv", "V", ...), one per bar.
fn chord_names(phrase: &PhraseInfo) -> Vec<&'static str> {
    let progression = &phrase.progression;
    let vocabulary = if progression.minor {
        MINOR_CHORDS
    } else {
        MAJOR_CHORDS
    };
    progression
        .chords
        .iter()
        .map(|&c| vocabulary.get(usize::from(c)).copied().unwrap_or("?"))
        .collect()
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
    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::time::Instant;

    use ambientctl::SynthesisParameters;

    use super::*;
    use crate::synth::BackendChoice;

    /// Keeps each tick's events.
    struct Recorder(Mutex<mpsc::Sender<Vec<Event>>>);

    impl TickSink for Recorder {
        fn broadcast(&self, tick: Broadcast<'_>) {
            assert_eq!(tick.samples.len(), CHUNK_SAMPLES);
            let _ = self.0.lock().unwrap().send(tick.events);
        }
    }

    /// A parameter change reaches listeners as `Params` at once, and the music follows at
    /// the next bar line: a phrase in the new key arrives within a bar plus the ring's 2 s.
    #[test]
    fn parameter_changes_are_announced_and_take_effect_at_a_bar_line() {
        let params = SynthesisParameters::default();
        let (station, source) = Station::start(params, params, BackendChoice::Cpu, None).unwrap();
        let (sender, ticks) = mpsc::channel();
        let sink = Arc::new(Recorder(Mutex::new(sender)));
        let mut pacer = Pacer::new(source, station.clone(), sink);
        let deadline = Instant::now() + Duration::from_secs(20);
        // Ticks as soon as a whole chunk is buffered (faster than real time; no underruns).
        let next_tick = |pacer: &mut Pacer| {
            while pacer.buffered_samples() < CHUNK_SAMPLES {
                assert!(Instant::now() < deadline, "the generator stopped");
                std::thread::sleep(Duration::from_millis(1));
            }
            pacer.tick();
            ticks.recv().unwrap()
        };
        let first = next_tick(&mut pacer);
        let Some(Event::Phrase(phrase)) = first.first() else {
            panic!("the first phrase starts at once: {first:?}");
        };
        assert_eq!(phrase.chords.len(), 8);

        let d_minor = SynthesisParameters::new("D minor".parse().unwrap(), 90, 0.3, 0).unwrap();
        station.update_params(|_| Ok::<_, String>(d_minor)).unwrap();
        let announced = next_tick(&mut pacer);
        assert_eq!(announced.first(), Some(&Event::Params(d_minor)));
        assert_eq!(station.params(), d_minor);

        let mut ticks = 0;
        let phrase = loop {
            ticks += 1;
            assert!(ticks <= 60, "no phrase in the new key after 6 s of audio");
            let events = next_tick(&mut pacer);
            if let Some(Event::Phrase(phrase)) =
                events.into_iter().find(|e| matches!(e, Event::Phrase(_)))
            {
                break phrase;
            }
        };
        assert_eq!(phrase.key.to_string(), "D minor");
        assert_eq!(phrase.bpm, 90);
        assert_eq!(station.counters().underruns.get(), 0);
    }
}
