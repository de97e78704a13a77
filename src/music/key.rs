//! What a key means in notes: the semitones of its mode's scale and the MIDI note of its
//! tonic. The protocol's [`Key`] only names a key; this is where the theory lives.

use ambientctl::{Key, Mode};

/// The MIDI note of the tonic of A minor / A major (A3); other tonics take the octave
/// nearest it.
pub const ROOT_MIDI_A: u8 = 57;

/// The notes of a mode.
pub trait ModeNotes {
    /// Semitones of the seven scale degrees above the tonic: minor `[0,2,3,5,7,8,10]`,
    /// major `[0,2,4,5,7,9,11]`.
    fn scale_intervals(self) -> [u8; 7];
}

impl ModeNotes for Mode {
    fn scale_intervals(self) -> [u8; 7] {
        match self {
            Mode::Minor => [0, 2, 3, 5, 7, 8, 10],
            Mode::Major => [0, 2, 4, 5, 7, 9, 11],
        }
    }
}

/// The notes of a key.
pub trait KeyNotes {
    /// MIDI note of the tonic: A3 (57) for A, and for other tonics the octave nearest to A3
    /// (ties go down), so every key's root lies in 51..=62.
    fn root_midi(self) -> u8;

    /// Semitones of the seven scale degrees above the tonic.
    fn scale_intervals(self) -> [u8; 7];
}

impl KeyNotes for Key {
    fn root_midi(self) -> u8 {
        let up = (i16::from(self.pitch_class()) - 9).rem_euclid(12); // semitones above A
        let root = if up > 6 {
            i16::from(ROOT_MIDI_A) + up - 12
        } else {
            i16::from(ROOT_MIDI_A) + up
        };
        // A tie (6 semitones, E♭/D♯) goes down.
        let root = if up == 6 { root - 12 } else { root };
        root as u8
    }

    fn scale_intervals(self) -> [u8; 7] {
        self.mode().scale_intervals()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        s.parse().unwrap()
    }

    #[test]
    fn root_midi_is_the_octave_nearest_a3() {
        assert_eq!(key("A minor").root_midi(), 57);
        assert_eq!(key("C major").root_midi(), 60);
        assert_eq!(key("D minor").root_midi(), 62);
        assert_eq!(key("E minor").root_midi(), 52);
        assert_eq!(key("Eb").root_midi(), 51);
        assert_eq!(key("G#m").root_midi(), 56);
        assert_eq!(key("B").root_midi(), 59);
        assert_eq!(key("Cb").root_midi(), 59);
        for letter in [
            "C", "C#", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
        ] {
            let root = key(letter).root_midi();
            assert!((51..=62).contains(&root), "{letter}: {root}");
            assert_eq!(root % 12, key(letter).pitch_class());
        }
    }
}
