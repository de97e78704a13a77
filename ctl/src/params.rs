//! `SynthesisParameters`: the musical controls (key, tempo, intensity, seed), their parsing
//! and validation. One type shared by the config file, the daemon, the CLI and the WebSocket.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::key::{Key, Mode};

/// Lowest accepted tempo, in beats per minute.
pub const BPM_MIN: u16 = 40;
/// Highest accepted tempo, in beats per minute.
pub const BPM_MAX: u16 = 120;
/// Tempo when none is given.
pub const BPM_DEFAULT: u16 = 70;
/// Intensity when none is given (0.0 sparse and dark … 1.0 dense and bright).
pub const INTENSITY_DEFAULT: f32 = 0.5;
/// A rejected parameter value. The message names the field, the value and what is allowed,
/// so it can be shown to a user as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A tempo outside `BPM_MIN..=BPM_MAX`.
    #[error("bpm: {0} is out of range (allowed {BPM_MIN}..={BPM_MAX})")]
    Bpm(String),
    /// A tempo that is not a whole number ("fast", "80.5").
    #[error("bpm: {0:?} is not a whole number (allowed {BPM_MIN}..={BPM_MAX})")]
    BpmNotWhole(String),
    /// An intensity outside `0.0..=1.0`.
    #[error("intensity: {0} is out of range (allowed 0.0..=1.0)")]
    Intensity(String),
    /// An intensity that is not a number ("loud").
    #[error("intensity: {0:?} is not a number (allowed 0.0..=1.0)")]
    IntensityNotNumber(String),
    /// A key that does not parse.
    #[error(
        "key: {0:?} is not a key (allowed: tonic A-G with optional #/b, then minor or major, \
         e.g. \"D minor\", \"F#m\", \"Bb major\", \"C\")"
    )]
    Key(String),
    /// A whole-number seed outside `0..=u64::MAX` (`18446744073709551616`, `-1`), as typed.
    #[error("seed: {0} is out of range (allowed 0..=18446744073709551615)")]
    Seed(String),
    /// A seed that is not a whole number written in digits ("abc", "1.5", "1e3").
    #[error("seed: {0:?} is not a whole number in digits (allowed 0..=18446744073709551615)")]
    SeedNotWhole(String),
    /// A parameter name that does not exist.
    #[error("unknown parameter {0:?} (allowed: key, bpm, intensity, seed)")]
    UnknownParam(String),
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

/// Parses and checks a tempo written as text: a whole number out of range ("300", "-5") is
/// out of range; anything else that is not a `u16` ("fast", "80.5") is not a whole number.
pub fn parse_bpm(text: &str) -> Result<u16, ParamError> {
    let text = text.trim();
    match text.parse::<u16>() {
        Ok(bpm) => validate_bpm(bpm),
        Err(_) if text.parse::<i128>().is_ok() => Err(ParamError::Bpm(text.to_string())),
        Err(_) => Err(ParamError::BpmNotWhole(text.to_string())),
    }
}

/// Parses and checks an intensity written as text.
pub fn parse_intensity(text: &str) -> Result<f32, ParamError> {
    let text = text.trim();
    let intensity = text
        .parse()
        .map_err(|_| ParamError::IntensityNotNumber(text.to_string()))?;
    // Out of range: shown as typed, not as the f32 it became ("1e19", not 9999999980506448000).
    validate_intensity(intensity).map_err(|_| ParamError::Intensity(text.to_string()))
}

/// Parses a seed written as text. A whole number past the range ("18446744073709551616",
/// "-3", "1e400") is out of range, named as typed; anything else that is not a `u64` ("abc",
/// "1.5") is not a whole number.
pub fn parse_seed(text: &str) -> Result<u64, ParamError> {
    let text = text.trim();
    if let Ok(seed) = text.parse() {
        return Ok(seed);
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let whole = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    // A float this large is out of range whatever its digits; smaller ones are not seeds.
    let huge = text
        .parse::<f64>()
        .is_ok_and(|x| x.is_infinite() || x.abs() >= 18_446_744_073_709_551_616.0);
    if whole || huge {
        Err(ParamError::Seed(text.to_string()))
    } else {
        Err(ParamError::SeedNotWhole(text.to_string()))
    }
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

    /// What the parameter accepts, as its errors say it.
    pub const fn allowed(self) -> &'static str {
        match self {
            Param::Key => "a tonic A-G with optional #/b, then minor or major, e.g. \"D minor\"",
            Param::Bpm => "40..=120",
            Param::Intensity => "0.0..=1.0",
            Param::Seed => crate::exact::SEED_RANGE,
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
            Param::Bpm => self.bpm = parse_bpm(value)?,
            Param::Intensity => self.intensity = parse_intensity(value)?,
            Param::Seed => self.seed = parse_seed(value)?,
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
    #[serde(deserialize_with = "crate::exact::deserialize_seed")]
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
