//! Harmony: the Markov chord progression, pad voicings with voice leading, and the bass.

use ambientctl::{Key, Mode};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{Instrument, NoteEvent, PHRASE_BARS, Phrase};

/// Chord symbols in minor, in matrix order.
pub const MINOR_CHORDS: [&str; 5] = ["i", "iv", "V", "VI", "III"];
/// Chord symbols in major, in matrix order.
pub const MAJOR_CHORDS: [&str; 5] = ["I", "IV", "V", "vi", "iii"];

/// Eight chords, one per bar, as indices into the mode's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChordProgression {
    /// Vocabulary index (0..5) of each bar's chord.
    pub chords: [u8; PHRASE_BARS],
    /// MIDI note of the key's tonic.
    pub root_midi: u8,
    /// Whether the vocabulary is the minor or the major one.
    pub minor: bool,
}

/// What carries from one phrase to the next.
#[derive(Debug, Clone, Default)]
pub struct Carry {}

/// Draws the next progression.
pub fn progression(key: Key, rng: &mut ChaCha8Rng, _carry: &mut Carry) -> ChordProgression {
    let mut chords = [0u8; PHRASE_BARS];
    for bar in 1..PHRASE_BARS {
        chords[bar] = rng.random_range(0..5);
    }
    ChordProgression {
        chords,
        root_midi: key.root_midi(),
        minor: key.mode() == Mode::Minor,
    }
}

/// Writes pad and bass events for the phrase's progression.
pub fn arrange(phrase: &mut Phrase, _rng: &mut ChaCha8Rng, _carry: &mut Carry) {
    let bar = phrase.bar_sec();
    let scale = phrase.params.key().scale_intervals();
    let degrees: [usize; 5] = [0, 3, 4, 5, 2];
    for (i, &c) in phrase.progression.chords.iter().enumerate() {
        let degree = degrees[c as usize];
        for third in 0..3 {
            let step = degree + 2 * third;
            let pitch =
                phrase.progression.root_midi as usize + scale[step % 7] as usize + 12 * (step / 7);
            phrase.events.push(NoteEvent {
                instrument: Instrument::Pad,
                pitch: pitch as u8,
                velocity: 0.6,
                onset_sec: i as f64 * bar,
                duration_sec: bar,
            });
        }
        let bass = phrase.progression.root_midi as usize + scale[degree] as usize - 24;
        phrase.events.push(NoteEvent {
            instrument: Instrument::Bass,
            pitch: bass as u8,
            velocity: 0.6,
            onset_sec: i as f64 * bar,
            duration_sec: bar,
        });
    }
}
