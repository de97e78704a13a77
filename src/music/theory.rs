//! Pitch arithmetic: frequencies, scale steps, and the chords of the two vocabularies.
//!
//! Pitches are MIDI numbers. Scale positions are "scale indices": index 0 is the key's root
//! (`root_midi`), 7 is the root an octave up, -1 the seventh degree below it. Working in
//! scale indices makes stepwise melody and diatonic chords plain integer arithmetic.

use ambientctl::{Key, Mode};

use super::key::KeyNotes;

/// Frequency in Hz of a (possibly fractional) MIDI note, A4 = 69 = 440 Hz.
pub fn midi_to_hz(midi: f64) -> f64 {
    440.0 * ((midi - 69.0) / 12.0).exp2()
}

/// Scale degree (0-based, 0 = tonic) of the root of each chord of a mode's vocabulary,
/// in vocabulary order: minor `i iv V VI III`, major `I IV V vi iii`.
pub const CHORD_DEGREES: [i32; 5] = [0, 3, 4, 5, 2];

/// Index of the dominant (V) in both vocabularies; in minor its third is raised.
pub const DOMINANT: u8 = 2;

/// Names of the twelve pitch classes, C = 0.
pub const PITCH_NAMES: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

/// The scale of a key, ready for index arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// MIDI note of scale index 0.
    pub root_midi: u8,
    /// Semitones of the seven degrees above the root.
    pub intervals: [u8; 7],
    /// Whether the key is minor (its V chord borrows the raised seventh).
    pub minor: bool,
}

impl Scale {
    /// The scale of `key`, rooted at the key's root MIDI note.
    pub fn of(key: Key) -> Self {
        Scale {
            root_midi: key.root_midi(),
            intervals: key.scale_intervals(),
            minor: key.mode() == Mode::Minor,
        }
    }

    /// MIDI pitch of a scale index.
    pub fn pitch(&self, index: i32) -> i32 {
        let octave = index.div_euclid(7);
        let degree = index.rem_euclid(7) as usize;
        i32::from(self.root_midi) + 12 * octave + i32::from(self.intervals[degree])
    }

    /// The scale index of `pitch`, or of the nearest scale pitch below it if it is not in
    /// the scale.
    pub fn index_at_or_below(&self, pitch: i32) -> i32 {
        let rel = pitch - i32::from(self.root_midi);
        let octave = rel.div_euclid(12);
        let semis = rel.rem_euclid(12);
        let degree = self
            .intervals
            .iter()
            .rposition(|&i| i32::from(i) <= semis)
            .unwrap_or(0) as i32;
        7 * octave + degree
    }

    /// Whether the pitch class of `pitch` belongs to the scale.
    pub fn contains(&self, pitch: i32) -> bool {
        let semis = (pitch - i32::from(self.root_midi)).rem_euclid(12);
        self.intervals.iter().any(|&i| i32::from(i) == semis)
    }

    /// Pitch class of the root of vocabulary chord `chord`.
    pub fn chord_root_pc(&self, chord: u8) -> u8 {
        (self.pitch(CHORD_DEGREES[usize::from(chord)]).rem_euclid(12)) as u8
    }

    /// Pitch classes of the triad of vocabulary chord `chord`: root, third, fifth.
    /// In minor, V takes the raised (major) third, the harmonic-minor dominant.
    pub fn triad(&self, chord: u8) -> [u8; 3] {
        let degree = CHORD_DEGREES[usize::from(chord)];
        let pc = |index: i32| self.pitch(index).rem_euclid(12) as u8;
        let mut third = pc(degree + 2);
        if self.minor && chord == DOMINANT {
            third = (third + 1) % 12;
        }
        [pc(degree), third, pc(degree + 4)]
    }

    /// Whether `pitch` is a tone of the triad of `chord`.
    pub fn is_chord_tone(&self, chord: u8, pitch: i32) -> bool {
        let pc = pitch.rem_euclid(12) as u8;
        self.triad(chord).contains(&pc)
    }

    /// Pitch classes a pad plays for `chord`, in the order voices take them (a pad of `n`
    /// voices uses the first `n`): the triad, then colour tones in order of softness: the added ninth (unless it would be a minor ninth,
    /// which grinds), the seventh, and, if one is still missing, the root again.
    pub fn pad_tones(&self, chord: u8) -> [u8; 5] {
        let degree = CHORD_DEGREES[usize::from(chord)];
        let [root, third, fifth] = self.triad(chord);
        let pc = |index: i32| self.pitch(index).rem_euclid(12) as u8;
        let ninth = pc(degree + 1);
        let seventh = pc(degree + 6);
        let mut tones = [root, third, fifth, root, root];
        let mut n = 3;
        if (ninth + 12 - root) % 12 != 1 {
            tones[n] = ninth;
            n += 1;
        }
        tones[n] = seventh;
        tones
    }
}

/// The name of a pitch class, e.g. `A`, `F#`, `Bb`.
pub fn pitch_name(pc: u8) -> &'static str {
    PITCH_NAMES[usize::from(pc % 12)]
}

/// Of the pitches with pitch class `pc`, the one nearest `near` (ties go down).
pub fn nearest_with_pc(pc: u8, near: i32) -> i32 {
    let below = near - (near - i32::from(pc)).rem_euclid(12);
    if near - below <= below + 12 - near {
        below
    } else {
        below + 12
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Key {
        text.parse().unwrap()
    }

    #[test]
    fn scale_indices_round_trip() {
        let scale = Scale::of(key("A minor"));
        assert_eq!(scale.pitch(0), 57);
        assert_eq!(scale.pitch(2), 60);
        assert_eq!(scale.pitch(7), 69);
        assert_eq!(scale.pitch(-1), 55);
        for index in -20..20 {
            assert_eq!(scale.index_at_or_below(scale.pitch(index)), index);
        }
        // G# is not in A minor: the index below it is G.
        assert_eq!(scale.index_at_or_below(56), -1);
    }

    #[test]
    fn minor_dominant_has_a_raised_third() {
        let scale = Scale::of(key("A minor"));
        assert_eq!(scale.triad(0), [9, 0, 4]); // A C E
        assert_eq!(scale.triad(DOMINANT), [4, 8, 11]); // E G# B
        let major = Scale::of(key("C major"));
        assert_eq!(major.triad(DOMINANT), [7, 11, 2]); // G B D
        assert_eq!(major.triad(3), [9, 0, 4]); // vi = A minor
    }

    #[test]
    fn pad_tones_avoid_minor_ninths() {
        let major = Scale::of(key("C major"));
        // iii = E minor: its scale ninth would be F (a minor ninth), so the seventh D comes next.
        assert_eq!(major.pad_tones(4)[3], 2);
        // I: add9 = D, then the seventh B.
        assert_eq!(&major.pad_tones(0)[3..], &[2, 11]);
    }

    #[test]
    fn nearest_pitch_class() {
        assert_eq!(nearest_with_pc(9, 60), 57);
        assert_eq!(nearest_with_pc(0, 60), 60);
        assert_eq!(nearest_with_pc(6, 60), 54); // tritone tie goes down
        assert_eq!(nearest_with_pc(2, 60), 62);
    }
}
