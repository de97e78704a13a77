//! Harmony: the chord vocabularies, their Markov transition matrices, and the 8-bar
//! [`ChordProgression`] drawn from them.
//!
//! A chord lasts as long as the harmonic rhythm says (several bars, never under
//! [`MIN_CHORD_SEC`] but for a phrase's last chord), so the harmony breathes at any tempo.
//! Most phrases open on the tonic and close with a cadence (V–i or iv–i, or a tonic pedal);
//! the Markov chain fills the chords in between.

use std::fmt;

use ambientctl::Key;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::form::PhraseShape;
pub use super::harmonic_rhythm::{MIN_CHORD_SEC, min_chord_bars};
use super::harmonic_rhythm::{draw_rhythm, rhythm_fits};
use super::key::{KeyNotes, ModeNotes};
use super::theory::{self, Scale};
use super::{Carry, MusicError, PHRASE_BARS};

/// Chord symbols in minor, in matrix order.
pub const MINOR_CHORDS: [&str; 5] = ["i", "iv", "V", "VI", "III"];
/// Chord symbols in major, in matrix order.
pub const MAJOR_CHORDS: [&str; 5] = ["I", "IV", "V", "vi", "iii"];

/// Transition probabilities in minor: row = current chord, column = next chord, in the order
/// of [`MINOR_CHORDS`]. Weighted toward the slow, plagal and modal moves ambient music lives
/// on (i–VI, i–iv, VI–III), with V mostly resolving home. Self-loops are rare, and the
/// composer skips them: a chord that stays is written by the harmonic rhythm instead.
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

/// How a phrase closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// V–i (V–I).
    Authentic,
    /// iv–i (IV–I), the plagal close.
    Plagal,
    /// The tonic held through the whole phrase.
    Pedal,
}

impl ChordProgression {
    /// The cadence the phrase ends with, if it ends on the tonic after V or iv (or never
    /// leaves the tonic).
    pub fn cadence(&self) -> Option<Cadence> {
        if self.chords[PHRASE_BARS - 1] != 0 {
            return None;
        }
        match self.chords.iter().rev().find(|&&c| c != 0) {
            None => Some(Cadence::Pedal),
            Some(&theory::DOMINANT) => Some(Cadence::Authentic),
            Some(&1) => Some(Cadence::Plagal),
            Some(_) => None,
        }
    }

    /// Bars at which a new chord starts (bar 0 always), and how many there are.
    pub fn segments(&self) -> ([usize; PHRASE_BARS], usize) {
        let mut starts = [0; PHRASE_BARS];
        let mut n = 1;
        for bar in 1..PHRASE_BARS {
            if self.chords[bar] != self.chords[bar - 1] {
                starts[n] = bar;
                n += 1;
            }
        }
        (starts, n)
    }
}

/// The planned ending of a phrase, before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Authentic,
    Plagal,
    /// Ends on V: the next phrase's tonic answers it.
    Half,
    /// Wherever the chain goes.
    Open,
}

/// Draws the next progression: a harmonic rhythm (how the 8 bars split among chords, no
/// chord shorter than [`MIN_CHORD_SEC`]), an opening (the tonic, 93 times in 100, and
/// always after a change of key), a planned ending (mostly a cadence; always one at a
/// section's end), and the chords between from the Markov chain. A remembered progression
/// may come back instead, with one inner chord changed.
pub fn progression(
    key: Key,
    bar_sec: f64,
    shape: &PhraseShape,
    recall: Option<&[u8; PHRASE_BARS]>,
    rng: &mut ChaCha8Rng,
    carry: &mut Carry,
) -> ChordProgression {
    let mut progression = ChordProgression {
        chords: [0; PHRASE_BARS],
        root_midi: key.root_midi(),
        minor: key.mode() == ambientctl::Mode::Minor,
    };
    let matrix = progression.transition_matrix();
    let previous = match carry.last_chord {
        Some(chord) if carry.last_key == Some(key) => Some(chord),
        _ => None,
    };
    let min_bars = min_chord_bars(bar_sec);
    let recalled = recall.map(|chords| ChordProgression {
        chords: *chords,
        ..progression
    });
    if let Some(old) = recalled.filter(|p| recalled_fits(p, min_bars)) {
        progression.chords = vary(old, matrix, rng);
    } else {
        let ending = draw_ending(shape, rng);
        let mut segments = [0u8; PHRASE_BARS];
        let closes = matches!(ending, Ending::Authentic | Ending::Plagal);
        let n = draw_rhythm(min_bars, closes, shape.energy, rng, &mut segments);
        let mut chords = [0u8; PHRASE_BARS];
        write_chords(
            &mut chords[..n],
            ending,
            shape.opening,
            previous,
            matrix,
            rng,
        );
        let mut bar = 0;
        for (&chord, &len) in chords[..n].iter().zip(&segments[..n]) {
            progression.chords[bar..bar + usize::from(len)].fill(chord);
            bar += usize::from(len);
        }
    }
    carry.last_chord = Some(progression.chords[PHRASE_BARS - 1]);
    carry.last_key = Some(key);
    progression
}

fn draw_ending(shape: &PhraseShape, rng: &mut ChaCha8Rng) -> Ending {
    let u: f32 = rng.random();
    // A section's first and last phrases state the key plainly: they close on the tonic.
    if shape.ending || shape.opening {
        return if u < 0.7 {
            Ending::Authentic
        } else {
            Ending::Plagal
        };
    }
    match u {
        u if u < 0.42 => Ending::Authentic,
        u if u < 0.68 => Ending::Plagal,
        u if u < 0.86 => Ending::Half,
        _ => Ending::Open,
    }
}

/// Fills one chord per segment: the opening, the planned close, and Markov steps between
/// that never repeat the chord before (a repeat would only lengthen it) nor run into the
/// close's own chords.
fn write_chords(
    chords: &mut [u8],
    ending: Ending,
    opening: bool,
    previous: Option<u8>,
    matrix: &[[f64; 5]; 5],
    rng: &mut ChaCha8Rng,
) {
    let n = chords.len();
    let tonic_opening = previous.is_none() || opening || rng.random::<f32>() < 0.93;
    chords[0] = match previous {
        _ if tonic_opening || n == 1 => 0,
        Some(from) => next_chord_among(&matrix[usize::from(from)], &[1, 3, 4], rng),
        None => 0,
    };
    // The fixed tail: (approach, tonic) for a close, V for a half cadence.
    let tail: &[u8] = match ending {
        Ending::Authentic if n >= 3 => &[theory::DOMINANT, 0],
        Ending::Plagal if n >= 3 => &[1, 0],
        Ending::Half => &[theory::DOMINANT],
        _ => &[],
    };
    let free_end = n - tail.len();
    for k in 1..n {
        if k >= free_end {
            chords[k] = tail[k - free_end];
            continue;
        }
        let before = chords[k - 1];
        let after = if k + 1 == free_end {
            tail.first()
        } else {
            None
        };
        let mut allowed = [0u8; 5];
        let mut count = 0;
        for chord in 0..5u8 {
            if chord != before && Some(&chord) != after && (chord != 0 || k + 1 < free_end) {
                allowed[count] = chord;
                count += 1;
            }
        }
        chords[k] = next_chord_among(&matrix[usize::from(before)], &allowed[..count], rng);
    }
}

/// Whether a remembered progression still fits the tempo's harmonic rhythm.
fn recalled_fits(progression: &ChordProgression, min_bars: usize) -> bool {
    let (starts, n) = progression.segments();
    let mut lengths = [0u8; PHRASE_BARS];
    for k in 0..n {
        let end = if k + 1 < n {
            starts[k + 1]
        } else {
            PHRASE_BARS
        };
        lengths[k] = (end - starts[k]) as u8;
    }
    rhythm_fits(&lengths[..n], min_bars)
}

/// A remembered progression, varied: one inner chord (neither the first nor the last two)
/// drawn again from the chain, if it has one.
fn vary(old: ChordProgression, matrix: &[[f64; 5]; 5], rng: &mut ChaCha8Rng) -> [u8; 8] {
    let (starts, n) = old.segments();
    let mut chords = old.chords;
    if n >= 4 {
        let k = rng.random_range(1..n - 2);
        let (before, after) = (old.chords[starts[k - 1]], old.chords[starts[k + 1]]);
        let mut allowed = [0u8; 5];
        let mut count = 0;
        for chord in 1..5u8 {
            if chord != before && chord != after {
                allowed[count] = chord;
                count += 1;
            }
        }
        let chord = next_chord_among(&matrix[usize::from(before)], &allowed[..count], rng);
        chords[starts[k]..starts[k + 1]].fill(chord);
    }
    chords
}

/// One step of the Markov chain restricted to `allowed` columns (renormalised), so the
/// matrix still decides which of the allowed chords comes next and how often.
fn next_chord_among(row: &[f64; 5], allowed: &[u8], rng: &mut ChaCha8Rng) -> u8 {
    let total: f64 = allowed.iter().map(|&c| row[usize::from(c)]).sum();
    let mut u: f64 = rng.random::<f64>() * total;
    for &chord in allowed {
        u -= row[usize::from(chord)];
        if u < 0.0 {
            return chord;
        }
    }
    *allowed.last().unwrap_or(&0)
}

/// One step of the Markov chain: samples a column of `row`.
#[cfg(test)]
fn next_chord(row: &[f64; 5], rng: &mut ChaCha8Rng) -> u8 {
    next_chord_among(row, &[0, 1, 2, 3, 4], rng)
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
        let shape = PhraseShape::default();
        let mut draw =
            |key: Key, carry: &mut Carry| progression(key, 3.43, &shape, None, &mut rng, carry);
        let first = draw(d_minor, &mut carry);
        assert_eq!(first.chords[0], 0);
        assert_eq!(first.root_midi, 62);
        first.validate().unwrap();
        let starts: Vec<u8> = (0..50)
            .map(|_| draw(d_minor, &mut carry).chords[0])
            .collect();
        assert!(
            starts.iter().any(|&c| c != 0),
            "later phrases continue the chain"
        );
        let c_major: Key = "C".parse().unwrap();
        assert_eq!(draw(c_major, &mut carry).chords[0], 0);
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
