//! `SynthesisParameters`: the musical controls (key, tempo, intensity, seed), their parsing
//! and validation. One type shared by the config file, the daemon, the CLI and the WebSocket.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Lowest accepted tempo, in beats per minute.
pub const BPM_MIN: u16 = 40;
/// Highest accepted tempo, in beats per minute.
pub const BPM_MAX: u16 = 120;
/// Tempo when none is given.
pub const BPM_DEFAULT: u16 = 70;
/// Intensity when none is given (0.0 sparse and dark … 1.0 dense and bright).
pub const INTENSITY_DEFAULT: f32 = 0.5;
/// The MIDI note of the tonic of A minor / A major (A3); other tonics take the octave nearest it.
pub const ROOT_MIDI_A: u8 = 57;

/// A rejected parameter value. The message names the field, the value and what is allowed,
/// so it can be shown to a user as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A tempo outside `BPM_MIN..=BPM_MAX`.
    #[error("bpm: {0} is out of range (allowed {BPM_MIN}..={BPM_MAX})")]
    Bpm(String),
    /// An intensity outside `0.0..=1.0` (or not a number).
    #[error("intensity: {0} is out of range (allowed 0.0..=1.0)")]
    Intensity(String),
    /// A key that does not parse.
    #[error(
        "key: {0:?} is not a key (allowed: tonic A-G with optional #/b, then minor or major, \
         e.g. \"D minor\", \"F#m\", \"Bb major\", \"C\")"
    )]
    Key(String),
    /// A seed that is not an unsigned 64-bit integer.
    #[error("seed: {0:?} is not a seed (allowed 0..=18446744073709551615)")]
    Seed(String),
    /// A parameter name that does not exist.
    #[error("unknown parameter {0:?} (allowed: key, bpm, intensity, seed)")]
    UnknownParam(String),
}

/// Major or minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Natural minor with a major dominant (i iv V VI III).
    Minor,
    /// Major (I IV V vi iii).
    Major,
}

impl Mode {
    /// Semitones of the seven scale degrees above the tonic.
    pub const fn scale_intervals(self) -> [u8; 7] {
        match self {
            Mode::Minor => [0, 2, 3, 5, 7, 8, 10],
            Mode::Major => [0, 2, 4, 5, 7, 9, 11],
        }
    }

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

    /// MIDI note of the tonic: A3 (57) for A, and for other tonics the octave nearest to A3
    /// (ties go down), so every key's root lies in 51..=62.
    pub const fn root_midi(self) -> u8 {
        let up = (self.pitch_class() as i16 - 9).rem_euclid(12); // semitones above A
        let root = if up > 6 {
            ROOT_MIDI_A as i16 + up - 12
        } else {
            ROOT_MIDI_A as i16 + up
        };
        // A tie (6 semitones, E♭/D♯) goes down.
        let root = if up == 6 { root - 12 } else { root };
        root as u8
    }

    /// Semitones of the seven scale degrees above the tonic.
    pub const fn scale_intervals(self) -> [u8; 7] {
        self.mode.scale_intervals()
    }

    /// The same tonic in another mode.
    pub const fn with_mode(self, mode: Mode) -> Key {
        Key { mode, ..self }
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

/// Checks a tempo.
pub fn validate_bpm(bpm: u16) -> Result<u16, ParamError> {
    if (BPM_MIN..=BPM_MAX).contains(&bpm) {
        Ok(bpm)
    } else {
        Err(ParamError::Bpm(bpm.to_string()))
    }
}

/// Checks an intensity (NaN is rejected).
pub fn validate_intensity(intensity: f32) -> Result<f32, ParamError> {
    if (0.0..=1.0).contains(&intensity) {
        Ok(intensity)
    } else {
        Err(ParamError::Intensity(intensity.to_string()))
    }
}

/// Parses and checks a tempo written as text.
pub fn parse_bpm(text: &str) -> Result<u16, ParamError> {
    let text = text.trim();
    validate_bpm(
        text.parse()
            .map_err(|_| ParamError::Bpm(text.to_string()))?,
    )
}

/// Parses and checks an intensity written as text.
pub fn parse_intensity(text: &str) -> Result<f32, ParamError> {
    let text = text.trim();
    validate_intensity(
        text.parse()
            .map_err(|_| ParamError::Intensity(text.to_string()))?,
    )
}

/// Parses a seed written as text.
pub fn parse_seed(text: &str) -> Result<u64, ParamError> {
    let text = text.trim();
    text.parse().map_err(|_| ParamError::Seed(text.to_string()))
}

/// The names of the parameters that can be read and set one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Param {
    /// The key, e.g. "D minor".
    Key,
    /// The tempo in beats per minute.
    Bpm,
    /// Density and brightness, 0.0..=1.0.
    Intensity,
    /// The composition seed.
    Seed,
}

impl Param {
    /// Every parameter, in display order.
    pub const ALL: [Param; 4] = [Param::Key, Param::Bpm, Param::Intensity, Param::Seed];

    /// The parameter's name as written on the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Param::Key => "key",
            Param::Bpm => "bpm",
            Param::Intensity => "intensity",
            Param::Seed => "seed",
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Param {
    type Err = ParamError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Param::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| ParamError::UnknownParam(text.to_string()))
    }
}

/// What the music is made from. Every value is valid by construction: build it with
/// [`SynthesisParameters::new`], the setters, or by deserializing (which validates).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawParameters", into = "RawParameters")]
pub struct SynthesisParameters {
    key: Key,
    bpm: u16,
    intensity: f32,
    seed: u64,
}

impl Default for SynthesisParameters {
    fn default() -> Self {
        SynthesisParameters {
            key: Key::A_MINOR,
            bpm: BPM_DEFAULT,
            intensity: INTENSITY_DEFAULT,
            seed: 0,
        }
    }
}

impl SynthesisParameters {
    /// Validated parameters.
    pub fn new(key: Key, bpm: u16, intensity: f32, seed: u64) -> Result<Self, ParamError> {
        Ok(SynthesisParameters {
            key,
            bpm: validate_bpm(bpm)?,
            intensity: validate_intensity(intensity)?,
            seed,
        })
    }

    /// The key.
    pub fn key(&self) -> Key {
        self.key
    }
    /// Tempo in beats per minute, within `BPM_MIN..=BPM_MAX`.
    pub fn bpm(&self) -> u16 {
        self.bpm
    }
    /// Intensity within 0.0..=1.0.
    pub fn intensity(&self) -> f32 {
        self.intensity
    }
    /// The composition seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Sets the key.
    pub fn set_key(&mut self, key: Key) {
        self.key = key;
    }
    /// Sets the tempo, or says why not.
    pub fn set_bpm(&mut self, bpm: u16) -> Result<(), ParamError> {
        self.bpm = validate_bpm(bpm)?;
        Ok(())
    }
    /// Sets the intensity, or says why not.
    pub fn set_intensity(&mut self, intensity: f32) -> Result<(), ParamError> {
        self.intensity = validate_intensity(intensity)?;
        Ok(())
    }
    /// Sets the seed.
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// Sets one parameter from its text form, as typed on a command line.
    pub fn set_from_str(&mut self, param: Param, value: &str) -> Result<(), ParamError> {
        let value = value.trim();
        match param {
            Param::Key => self.key = value.parse()?,
            Param::Bpm => {
                let bpm = value
                    .parse::<u16>()
                    .map_err(|_| ParamError::Bpm(value.to_string()))?;
                self.set_bpm(bpm)?;
            }
            Param::Intensity => {
                let intensity = value
                    .parse::<f32>()
                    .map_err(|_| ParamError::Intensity(value.to_string()))?;
                self.set_intensity(intensity)?;
            }
            Param::Seed => {
                self.seed = value
                    .parse()
                    .map_err(|_| ParamError::Seed(value.to_string()))?;
            }
        }
        Ok(())
    }

    /// One parameter's value in its text form.
    pub fn get_as_string(&self, param: Param) -> String {
        match param {
            Param::Key => self.key.to_string(),
            Param::Bpm => self.bpm.to_string(),
            Param::Intensity => self.intensity.to_string(),
            Param::Seed => self.seed.to_string(),
        }
    }
}

/// The unvalidated wire form of [`SynthesisParameters`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameters {
    key: Key,
    bpm: u16,
    intensity: f32,
    seed: u64,
}

impl TryFrom<RawParameters> for SynthesisParameters {
    type Error = ParamError;
    fn try_from(raw: RawParameters) -> Result<Self, Self::Error> {
        SynthesisParameters::new(raw.key, raw.bpm, raw.intensity, raw.seed)
    }
}

impl From<SynthesisParameters> for RawParameters {
    fn from(p: SynthesisParameters) -> Self {
        RawParameters {
            key: p.key,
            bpm: p.bpm,
            intensity: p.intensity,
            seed: p.seed,
        }
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

    #[test]
    fn out_of_range_values_are_rejected_with_the_range() {
        let mut p = SynthesisParameters::default();
        assert_eq!(
            p.set_bpm(39).unwrap_err().to_string(),
            "bpm: 39 is out of range (allowed 40..=120)"
        );
        assert!(p.set_bpm(121).is_err());
        assert!(p.set_bpm(40).is_ok() && p.set_bpm(120).is_ok());
        assert_eq!(
            p.set_intensity(1.5).unwrap_err().to_string(),
            "intensity: 1.5 is out of range (allowed 0.0..=1.0)"
        );
        assert!(p.set_intensity(-0.1).is_err());
        assert!(p.set_intensity(f32::NAN).is_err());
        assert!(
            p.set_from_str(Param::Bpm, "fast")
                .unwrap_err()
                .to_string()
                .starts_with("bpm: ")
        );
        assert!(
            p.set_from_str(Param::Seed, "-1")
                .unwrap_err()
                .to_string()
                .starts_with("seed: ")
        );
        assert!(
            p.set_from_str(Param::Intensity, "x")
                .unwrap_err()
                .to_string()
                .contains("0.0..=1.0")
        );
        assert_eq!(
            "tempo".parse::<Param>().unwrap_err().to_string(),
            "unknown parameter \"tempo\" (allowed: key, bpm, intensity, seed)"
        );
        assert_eq!(p.bpm(), 120, "a rejected value leaves the old one");
    }

    #[test]
    fn parameters_round_trip_through_json_and_validate_on_the_way_in() {
        let p = SynthesisParameters::new(key("F# minor"), 80, 0.3, 7).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"key":"F# minor","bpm":80,"intensity":0.3,"seed":7}"#
        );
        assert_eq!(
            serde_json::from_str::<SynthesisParameters>(&json).unwrap(),
            p
        );
        let err = serde_json::from_str::<SynthesisParameters>(
            r#"{"key":"A minor","bpm":300,"intensity":0.3,"seed":7}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("bpm: 300 is out of range"),
            "{err}"
        );
    }
}
