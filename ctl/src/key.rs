//! A musical key as the user names it: a spelled tonic and a mode, with its parsing ("D
//! minor", "F#m", "Bb") and display. What a key means in notes (scales, the tonic's octave)
//! is the daemon's music theory (`ambientd::music::theory`), not the protocol's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::params::ParamError;

/// Major or minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Natural minor with a major dominant (i iv V VI III).
    Minor,
    /// Major (I IV V vi iii).
    Major,
}

impl Mode {
    /// The word used in key names.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Minor => "minor",
            Mode::Major => "major",
        }
    }
}

/// A key: a spelled tonic (letter and accidental) and a mode, e.g. F♯ minor.
///
/// Two spellings of one pitch (F♯, G♭) are different `Key` values that sound the same; the
/// spelling is kept only so the key is shown back the way the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    letter: u8,
    accidental: i8,
    mode: Mode,
}

impl Key {
    /// A minor, the default key.
    pub const A_MINOR: Key = Key {
        letter: b'A',
        accidental: 0,
        mode: Mode::Minor,
    };

    /// The mode.
    pub const fn mode(self) -> Mode {
        self.mode
    }

    /// Pitch class of the tonic, 0 = C … 11 = B.
    pub const fn pitch_class(self) -> u8 {
        let natural: i8 = match self.letter {
            b'C' => 0,
            b'D' => 2,
            b'E' => 4,
            b'F' => 5,
            b'G' => 7,
            b'A' => 9,
            _ => 11, // B; the constructor admits only A-G
        };
        (natural + self.accidental).rem_euclid(12) as u8
    }
}

impl Default for Key {
    fn default() -> Self {
        Key::A_MINOR
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let accidental = match self.accidental {
            1 => "#",
            -1 => "b",
            _ => "",
        };
        write!(
            f,
            "{}{} {}",
            self.letter as char,
            accidental,
            self.mode.name()
        )
    }
}

impl FromStr for Key {
    type Err = ParamError;

    /// Accepts `"D minor"`, `"Dm"`, `"d min"`, `"F# major"`, `"F♯"`, `"Gb"`, `"C"` (major),
    /// `"A minor"`; case-insensitive, spaces optional.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParamError::Key(text.to_string());
        let mut chars = text.trim().chars().peekable();
        let letter = chars.next().ok_or_else(bad)?.to_ascii_uppercase();
        if !('A'..='G').contains(&letter) {
            return Err(bad());
        }
        let accidental = match chars.peek() {
            Some('#' | '♯') => 1,
            Some('b' | '♭') => -1,
            _ => 0,
        };
        if accidental != 0 {
            chars.next();
        }
        let rest: String = chars.collect();
        let rest = rest.trim();
        let mode = match rest {
            "" | "M" => Mode::Major,
            "m" => Mode::Minor,
            _ => match rest.to_ascii_lowercase().as_str() {
                "maj" | "major" => Mode::Major,
                "min" | "minor" => Mode::Minor,
                _ => return Err(bad()),
            },
        };
        Ok(Key {
            letter: letter as u8,
            accidental,
            mode,
        })
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        s.parse().unwrap()
    }

    #[test]
    fn keys_parse_in_every_accepted_spelling() {
        assert_eq!(key("D minor"), key("Dm"));
        assert_eq!(key("d min"), key("Dm"));
        assert_eq!(key("C"), key("C major"));
        assert_eq!(key("CM"), key("C maj"));
        assert_eq!(key("F♯ minor"), key("F#m"));
        assert_eq!(key("G♭"), key("Gb major"));
        assert_eq!(key("F#").pitch_class(), key("Gb").pitch_class());
        assert_eq!(key("Dm").mode(), Mode::Minor);
        assert_eq!(key("Bb").to_string(), "Bb major");
        assert_eq!(key("f# minor").to_string(), "F# minor");
    }

    #[test]
    fn bad_keys_name_the_field_and_the_rule() {
        for bad in ["", "H", "H minor", "C dorian", "Cmm", "#C", "A minr"] {
            let err = bad.parse::<Key>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("key: "), "{msg}");
            assert!(msg.contains("A-G"), "{msg}");
        }
    }
}
