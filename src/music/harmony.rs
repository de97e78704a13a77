//! Harmony: the chord vocabularies, their Markov transition matrices, and the 8-bar
//! [`ChordProgression`] drawn from them.

use std::fmt;

use ambientctl::Key;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::key::{KeyNotes, ModeNotes};
use super::theory::{self, Scale};
use super::{Carry, MusicError, PHRASE_BARS};

/// Chord symbols in minor, in matrix order.
pub const MINOR_CHORDS: [&str; 5] = ["i", "iv", "V", "VI", "III"];
/// Chord symbols in major, in matrix order.
pub const MAJOR_CHORDS: [&str; 5] = ["I", "IV", "V", "vi", "iii"];

/// Transition probabilities in minor: row = current chord, column = next chord, in the order
/// of [`MINOR_CHORDS`]. Weighted toward the slow, plagal and modal moves ambient music lives
/// on (i–VI, i–iv, VI–III), with V mostly resolving home; self-loops are rare because one
/// chord lasts a whole bar already.
pub const MINOR_MATRIX: [[f64; 5]; 5] = [
    // i     iv    V     VI    III
    [0.10, 0.30, 0.15, 0.30, 0.15], // i
    [0.35, 0.05, 0.25, 0.20, 0.15], // iv
    [0.50, 0.10, 0.05, 0.25, 0.10], // V
    [0.25, 0.25, 0.15, 0.05, 0.30], // VI
    [0.20, 0.30, 0.10, 0.35, 0.05], // III
];

/// Transition probabilities in major, in the order of [`MAJOR_CHORDS`].
pub const MAJOR_MATRIX: [[f64; 5]; 5] = [
    // I     IV    V     vi    iii
    [0.10, 0.35, 0.20, 0.25, 0.10], // I
    [0.35, 0.05, 0.30, 0.15, 0.15], // IV
    [0.45, 0.15, 0.05, 0.30, 0.05], // V
    [0.20, 0.35, 0.15, 0.05, 0.25], // vi
    [0.15, 0.30, 0.05, 0.45, 0.05], // iii
];

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

impl ChordProgression {
    /// Number of bars (always 8).
    pub const fn length_bars(&self) -> usize {
        PHRASE_BARS
    }

    /// The mode's transition matrix.
    pub fn transition_matrix(&self) -> &'static [[f64; 5]; 5] {
        if self.minor {
            &MINOR_MATRIX
        } else {
            &MAJOR_MATRIX
        }
    }

    /// Roman-numeral symbol of the chord in `bar`, e.g. `iv`.
    pub fn symbol(&self, bar: usize) -> &'static str {
        let vocabulary = if self.minor {
            &MINOR_CHORDS
        } else {
            &MAJOR_CHORDS
        };
        vocabulary[usize::from(self.chords[bar])]
    }

    /// Lead-sheet name of the chord in `bar`, e.g. `Dm` (formats without allocating).
    pub fn label(&self, bar: usize) -> ChordLabel {
        let chord = self.chords[bar];
        let scale = self.scale();
        let [root, third, _] = scale.triad(chord);
        ChordLabel {
            root_pc: root,
            minor: (third + 12 - root) % 12 == 3,
        }
    }

    /// The scale this progression is written in.
    pub fn scale(&self) -> Scale {
        let intervals = if self.minor {
            ambientctl::Mode::Minor.scale_intervals()
        } else {
            ambientctl::Mode::Major.scale_intervals()
        };
        Scale {
            root_midi: self.root_midi,
            intervals,
            minor: self.minor,
        }
    }

    /// Checks the data model's rules: vocabulary chords, 8 bars, a valid root, and a
    /// transition matrix whose rows are probability distributions.
    pub fn validate(&self) -> Result<(), MusicError> {
        let bad = |what: String| Err(MusicError::Progression(what));
        if !(21..=127).contains(&self.root_midi) {
            return bad(format!("root_midi {} is outside 21..=127", self.root_midi));
        }
        if let Some(bar) = self.chords.iter().position(|&c| c >= 5) {
            return bad(format!(
                "bar {bar} holds chord {} (vocabulary has 5)",
                self.chords[bar]
            ));
        }
        for (row, probabilities) in self.transition_matrix().iter().enumerate() {
            let sum: f64 = probabilities.iter().sum();
            if (sum - 1.0).abs() > 1e-9 || probabilities.iter().any(|&p| !(0.0..=1.0).contains(&p))
            {
                return bad(format!(
                    "transition matrix row {row} sums to {sum}, not 1.0"
                ));
            }
        }
        Ok(())
    }
}

/// A chord name such as `F#m` or `C`, printable without allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChordLabel {
    /// Pitch class of the chord's root.
    pub root_pc: u8,
    /// Minor triad (else major).
    pub minor: bool,
}

impl fmt::Display for ChordLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = if self.minor { "m" } else { "" };
        write!(f, "{}{suffix}", theory::pitch_name(self.root_pc))
    }
}

/// Draws the next progression. The chain continues from the previous phrase's last chord;
/// the first phrase, and the first after a change of key, start on the tonic so the new key
/// is established at once.
pub fn progression(key: Key, rng: &mut ChaCha8Rng, carry: &mut Carry) -> ChordProgression {
    let mut progression = ChordProgression {
        chords: [0; PHRASE_BARS],
        root_midi: key.root_midi(),
        minor: key.mode() == ambientctl::Mode::Minor,
    };
    let matrix = progression.transition_matrix();
    let mut previous = match carry.last_chord {
        Some(chord) if carry.last_key == Some(key) => Some(chord),
        _ => None,
    };
    for chord in progression.chords.iter_mut() {
        *chord = match previous {
            None => 0,
            Some(from) => next_chord(&matrix[usize::from(from)], rng),
        };
        previous = Some(*chord);
    }
    carry.last_chord = previous;
    carry.last_key = Some(key);
    progression
}

/// One step of the Markov chain: samples a column of `row`.
fn next_chord(row: &[f64; 5], rng: &mut ChaCha8Rng) -> u8 {
    let mut u: f64 = rng.random();
    for (chord, &p) in row.iter().enumerate() {
        if u < p {
            return chord as u8;
        }
        u -= p;
    }
    // Rounding left u a hair above the last cumulative sum: take the last chord with weight.
    row.iter().rposition(|&p| p > 0.0).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn matrix_rows_are_distributions() {
        for matrix in [&MINOR_MATRIX, &MAJOR_MATRIX] {
            for row in matrix.iter() {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                assert!(row.iter().all(|&p| p > 0.0));
            }
        }
    }

    #[test]
    fn chain_follows_the_matrix() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut counts = [0u32; 5];
        for _ in 0..100_000 {
            counts[usize::from(next_chord(&MINOR_MATRIX[2], &mut rng))] += 1;
        }
        for (count, p) in counts.iter().zip(MINOR_MATRIX[2]) {
            assert!((f64::from(*count) / 100_000.0 - p).abs() < 0.01);
        }
    }

    #[test]
    fn a_new_key_starts_on_its_tonic_and_a_continuing_one_moves_on() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut carry = Carry::default();
        let d_minor: Key = "D minor".parse().unwrap();
        let first = progression(d_minor, &mut rng, &mut carry);
        assert_eq!(first.chords[0], 0);
        assert_eq!(first.root_midi, 62);
        first.validate().unwrap();
        let starts: Vec<u8> = (0..50)
            .map(|_| progression(d_minor, &mut rng, &mut carry).chords[0])
            .collect();
        assert!(
            starts.iter().any(|&c| c != 0),
            "later phrases continue the chain"
        );
        let c_major: Key = "C".parse().unwrap();
        assert_eq!(progression(c_major, &mut rng, &mut carry).chords[0], 0);
    }

    #[test]
    fn labels_name_the_chords() {
        let progression = ChordProgression {
            chords: [0, 1, 2, 3, 4, 0, 0, 0],
            root_midi: 57,
            minor: true,
        };
        let names: Vec<String> = (0..5).map(|b| progression.label(b).to_string()).collect();
        assert_eq!(names, ["Am", "Dm", "E", "F", "C"]);
        assert_eq!(progression.symbol(2), "V");
    }
}
