//! `[music]` and `[synth]`: the parameters the daemon starts with and the voice-stage back-end.

use ambientctl::params::{self, BPM_DEFAULT, INTENSITY_DEFAULT};
use ambientctl::{Key, SynthesisParameters};
use serde::{Deserialize, Deserializer, Serialize};

use crate::synth::BackendChoice;

/// `[music]`: validated with the same rules as every other way of setting parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MusicConfig {
    /// Key, e.g. "A minor", "F#m", "Bb major".
    pub key: Key,
    /// Tempo in beats per minute.
    #[serde(deserialize_with = "bpm")]
    pub bpm: u16,
    /// Density and brightness, 0.0..=1.0.
    #[serde(deserialize_with = "intensity")]
    pub intensity: f32,
    /// Composition seed: the same seed and parameters give the same music.
    #[serde(deserialize_with = "ambientctl::exact::deserialize_seed")]
    pub seed: u64,
}

impl Default for MusicConfig {
    fn default() -> Self {
        MusicConfig {
            key: Key::A_MINOR,
            bpm: BPM_DEFAULT,
            intensity: INTENSITY_DEFAULT,
            seed: 0,
        }
    }
}

impl MusicConfig {
    /// The parameters the daemon starts with.
    pub fn params(&self) -> SynthesisParameters {
        // Both numbers were validated when the config was built or parsed; fall back to the
        // defaults rather than panic if a caller built an invalid `MusicConfig` by hand.
        SynthesisParameters::new(self.key, self.bpm, self.intensity, self.seed).unwrap_or_default()
    }
}

fn bpm<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let raw = i64::deserialize(deserializer).map_err(|e| {
        serde::de::Error::custom(format!(
            "bpm: {e} (allowed a whole number {}..={})",
            params::BPM_MIN,
            params::BPM_MAX
        ))
    })?;
    u16::try_from(raw)
        .map_err(|_| params::ParamError::Bpm(raw.to_string()))
        .and_then(params::validate_bpm)
        .map_err(serde::de::Error::custom)
}

fn intensity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    let raw = f64::deserialize(deserializer).map_err(|e| {
        serde::de::Error::custom(format!("intensity: {e} (allowed a number 0.0..=1.0)"))
    })?;
    params::validate_intensity(raw as f32).map_err(serde::de::Error::custom)
}

/// `[synth]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthConfig {
    /// `auto` (CUDA when usable, else CPU), `cuda` or `cpu`.
    pub backend: BackendChoice,
}
