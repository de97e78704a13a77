//! Composition at control rate: chord progressions, voicings and melodies, phrase by phrase.
//! Pure and seeded: no I/O, no threads, no clocks; same seed and parameters, same music.
//!
//! A [`Composer`] turns [`SynthesisParameters`] into one 8-bar [`Phrase`] at a time: a
//! [`ChordProgression`] (Markov chain over the mode's five chords, a chord lasting several
//! bars, most phrases opening on the tonic and closing with a cadence), pad voicings that move
//! by the fewest semitones, a bass line, a high shimmer, and a [`MelodyPhrase`] constrained
//! to the chords. Above the phrase, the [`form`] plans sections of 5–15 minutes and each
//! phrase's arc; the [`memory`] brings progressions and motifs back, varied, minutes later.
//! The phrase's [`NoteEvent`]s are what the synthesizer plays. `compose` writes into a
//! `Phrase` whose buffers were allocated once, so it can run on the render thread.

pub mod form;
pub mod harmonic_rhythm;
pub mod harmony;
pub mod key;
pub mod melody;
pub mod memory;
pub mod theory;
pub mod voicing;

use ambientctl::SynthesisParameters;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use self::key::KeyNotes;

pub use form::PhraseShape;
pub use harmony::{Cadence, ChordLabel, ChordProgression};
pub use melody::{MelodyNote, MelodyPhrase};

/// Bars in a phrase (the data model fixes 8).
pub const PHRASE_BARS: usize = 8;
/// Beats in a bar (4/4 time).
pub const BEATS_PER_BAR: usize = 4;
/// Upper bound on the note events of one phrase; `Phrase` buffers are allocated this large.
pub const MAX_PHRASE_EVENTS: usize = 256;

/// Which sound plays a note. The synthesizer owns the timbres; music only says who plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Instrument {
    /// Slow-attack sustained chord tones.
    Pad,
    /// The chord's root, low.
    Bass,
    /// The soft melody.
    Lead,
    /// High, quiet root-and-fifth tones over the pads: the air above the harmony.
    Shimmer,
}

impl Instrument {
    /// Every instrument, in `as usize` order.
    pub const ALL: [Instrument; 4] = [
        Instrument::Pad,
        Instrument::Bass,
        Instrument::Lead,
        Instrument::Shimmer,
    ];
}

/// One note to play, timed from the start of its phrase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteEvent {
    /// Who plays it.
    pub instrument: Instrument,
    /// MIDI pitch, 21..=127.
    pub pitch: u8,
    /// Loudness, 0.0..=1.0.
    pub velocity: f32,
    /// Seconds from the phrase's first downbeat to note-on (>= 0).
    pub onset_sec: f64,
    /// Seconds from note-on to note-off (> 0); the release sounds after it.
    pub duration_sec: f64,
}

/// Errors found by the `validate` methods: a generated phrase that breaks a rule of the data
/// model. They exist for tests and debug checks; generation never produces them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MusicError {
    /// A chord progression broke a rule.
    #[error("chord progression: {0}")]
    Progression(String),
    /// A melody broke a rule.
    #[error("melody: {0}")]
    Melody(String),
    /// A note event broke a rule.
    #[error("note event: {0}")]
    Event(String),
}

/// One composed 8-bar phrase: its harmony, its melody, and every note to play.
#[derive(Debug, Clone)]
pub struct Phrase {
    /// The parameters it was composed with.
    pub params: SynthesisParameters,
    /// Eight chords, one per bar (a chord that lasts several bars repeats).
    pub progression: ChordProgression,
    /// Where the phrase sits in its section: fullness, texture, arc.
    pub shape: PhraseShape,
    /// Whether its progression and first motif are a memory brought back.
    pub recalled: bool,
    /// The lead line.
    pub melody: MelodyPhrase,
    /// Everything to play, pads, bass, shimmer and lead, in onset order. Notes may ring past
    /// the phrase's end: a chord that the next phrase opens with is held into it (a tie), and
    /// the next phrase does not strike it again.
    pub events: Vec<NoteEvent>,
}

impl Phrase {
    /// An empty phrase with every buffer allocated at its maximum size.
    pub fn with_capacity() -> Self {
        Phrase {
            params: SynthesisParameters::default(),
            progression: ChordProgression::default(),
            shape: PhraseShape::default(),
            recalled: false,
            melody: MelodyPhrase::with_capacity(),
            events: Vec::with_capacity(MAX_PHRASE_EVENTS),
        }
    }

    /// Seconds per beat at this phrase's tempo.
    pub fn beat_sec(&self) -> f64 {
        60.0 / f64::from(self.params.bpm())
    }

    /// Seconds per bar at this phrase's tempo.
    pub fn bar_sec(&self) -> f64 {
        self.beat_sec() * BEATS_PER_BAR as f64
    }

    /// Seconds from the first downbeat to the end of the eighth bar.
    pub fn duration_sec(&self) -> f64 {
        self.bar_sec() * PHRASE_BARS as f64
    }

    /// Checks every rule of the data model: the progression, the melody against it, and
    /// every note event (pitch 21..=127, velocity 0..=1, onset inside the phrase, duration
    /// positive, events in onset order).
    pub fn validate(&self) -> Result<(), MusicError> {
        self.progression.validate()?;
        self.melody.validate(&self.progression)?;
        if self.progression.root_midi != self.params.key().root_midi() {
            return Err(MusicError::Progression(
                "root differs from the key's".into(),
            ));
        }
        let end = self.duration_sec();
        let mut previous = 0.0;
        for (i, event) in self.events.iter().enumerate() {
            let bad = |what: &str| Err(MusicError::Event(format!("event {i} {event:?}: {what}")));
            if !(21..=127).contains(&event.pitch) {
                return bad("pitch outside 21..=127");
            }
            if !(0.0..=1.0).contains(&event.velocity) {
                return bad("velocity outside 0..=1");
            }
            if !(event.onset_sec >= previous && event.onset_sec < end) {
                return bad("onset out of order or outside the phrase");
            }
            if !(event.duration_sec > 0.0 && event.duration_sec.is_finite()) {
                return bad("duration not positive");
            }
            previous = event.onset_sec;
        }
        if self.events.len() > MAX_PHRASE_EVENTS {
            return Err(MusicError::Event(format!("{} events", self.events.len())));
        }
        Ok(())
    }
}

/// What one phrase hands to the next so they join smoothly.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Carry {
    /// The key of the last phrase (a new key restarts the chain on its tonic).
    pub last_key: Option<ambientctl::Key>,
    /// The last chord of the last phrase, where the Markov chain continues.
    pub last_chord: Option<u8>,
    /// The pad voicing that sounded last, for voice leading across the boundary.
    pub voicing: voicing::Voicing,
    /// The last melody pitch, so the line continues stepwise.
    pub last_melody: Option<u8>,
    /// Pad pitches the last phrase holds into this one (not struck again).
    pub tied_pads: voicing::Voicing,
    /// The bass pitch the last phrase holds into this one.
    pub tied_bass: Option<i32>,
    /// The last phrase was cut short (a change of key, tempo or seed, or a skip): nothing
    /// is tied over, and the bass waits for the old one's release.
    pub interrupted: bool,
}

/// A phrase decided one phrase ahead, so the one before it knows whether to tie over.
#[derive(Debug, Clone, Copy)]
struct Plan {
    key: ambientctl::Key,
    bpm: u16,
    shape: PhraseShape,
    progression: ChordProgression,
    /// A remembered motif to open the melody with (the phrase is a recall).
    motif: Option<memory::Motif>,
}

/// Chance that a phrase (not a section's first or last) brings back a memory.
const RECALL_CHANCE: f32 = 0.22;
/// Chance that a phrase is remembered (a section's first always is).
const REMEMBER_CHANCE: f32 = 0.3;

/// Writes phrase after phrase. Holds what carries from one phrase to the next (the random
/// stream, the form, the memory, the next phrase's plan, the last pad voicing and melody
/// pitch) so phrases join smoothly and the hour has a shape.
#[derive(Debug, Clone)]
pub struct Composer {
    rng: ChaCha8Rng,
    carry: Carry,
    form: form::Form,
    memory: memory::Memory,
    next: Option<Plan>,
    /// Seconds of music composed.
    elapsed_sec: f64,
}

impl Composer {
    /// A composer whose music is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Composer {
            rng: ChaCha8Rng::seed_from_u64(seed),
            carry: Carry::default(),
            form: form::Form::default(),
            memory: memory::Memory::default(),
            next: None,
            elapsed_sec: 0.0,
        }
    }

    /// The phrase last composed was cut short (its notes released at a bar line): the next
    /// one is planned afresh, ties nothing over, and brings its bass in late.
    pub fn interrupt(&mut self) {
        self.carry.interrupted = true;
        self.carry.tied_pads = voicing::Voicing::default();
        self.carry.tied_bass = None;
        self.next = None;
    }

    /// Composes the next phrase into `out`, reusing its buffers (no allocation).
    pub fn compose(&mut self, params: &SynthesisParameters, out: &mut Phrase) {
        out.params = *params;
        out.events.clear();
        let planned = self
            .next
            .take()
            .filter(|p| p.key == params.key() && p.bpm == params.bpm());
        let plan = match planned {
            Some(plan) => plan,
            None => self.plan(params),
        };
        out.shape = plan.shape;
        out.progression = plan.progression;
        out.recalled = plan.motif.is_some();
        // Plan the next phrase now, so this one can hold its last chord into it.
        let next = self.plan(params);
        let (starts, n) = next.progression.segments();
        let opening = voicing::NextOpening {
            chord: next.progression.chords[0],
            bars: if n > 1 { starts[1] } else { PHRASE_BARS },
        };
        self.next = Some(next);
        voicing::arrange(out, Some(opening), &mut self.rng, &mut self.carry);
        let motif = melody::compose(out, plan.motif, &mut self.rng, &mut self.carry);
        // Only phrases that open on the tonic are remembered: a memory brought back should
        // hold the key as well as a new phrase does.
        let remember = plan.shape.opening || self.rng.random::<f32>() < REMEMBER_CHANCE;
        if remember && out.progression.chords[0] == 0 {
            self.memory.remember(memory::Memento {
                chords: out.progression.chords,
                minor: out.progression.minor,
                motif,
                at_sec: self.elapsed_sec,
            });
        }
        // A total order (unstable sort: no allocation), so simultaneous notes always come in
        // the same order whatever the sort algorithm does with ties.
        out.events.sort_unstable_by(|a, b| {
            (a.onset_sec.total_cmp(&b.onset_sec))
                .then((a.instrument as u8).cmp(&(b.instrument as u8)))
                .then(a.pitch.cmp(&b.pitch))
        });
        self.carry.interrupted = false;
        self.elapsed_sec += out.duration_sec();
    }

    /// Decides a phrase: its shape from the form, then its chords (a memory, sometimes).
    fn plan(&mut self, params: &SynthesisParameters) -> Plan {
        let bar_sec = 60.0 / f64::from(params.bpm()) * BEATS_PER_BAR as f64;
        let phrase_sec = bar_sec * PHRASE_BARS as f64;
        let shape = self
            .form
            .next(phrase_sec, params.intensity(), &mut self.rng);
        let minor = params.key().mode() == ambientctl::Mode::Minor;
        let memento = if !shape.opening && !shape.ending && self.rng.random::<f32>() < RECALL_CHANCE
        {
            self.memory.recall(self.elapsed_sec, minor, &mut self.rng)
        } else {
            None
        };
        let progression = harmony::progression(
            params.key(),
            bar_sec,
            &shape,
            memento.as_ref().map(|m| &m.chords),
            &mut self.rng,
            &mut self.carry,
        );
        Plan {
            key: params.key(),
            bpm: params.bpm(),
            shape,
            progression,
            motif: memento.map(|m| m.motif.varied(&mut self.rng)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phrase_at_70_bpm_lasts_27_4_seconds() {
        let mut phrase = Phrase::with_capacity();
        Composer::new(1).compose(&SynthesisParameters::default(), &mut phrase);
        assert!((phrase.duration_sec() - 27.428).abs() < 0.001);
        assert!(!phrase.events.is_empty());
    }
}
