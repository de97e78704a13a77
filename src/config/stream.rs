//! `[stream]`: how the compressed streams are encoded (`/stream.opus`, `/ws?encoding=opus`).

use serde::{Deserialize, Deserializer, Serialize};

/// The lowest `opus_bitrate` allowed, in kbit/s.
pub const MIN_OPUS_KBITS: u32 = 32;
/// The highest `opus_bitrate` allowed, in kbit/s.
pub const MAX_OPUS_KBITS: u32 = 256;

/// `[stream]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// The Opus stream's bitrate in kbit/s (one encoder shared by every Opus listener).
    #[serde(deserialize_with = "opus_bitrate")]
    pub opus_bitrate: u32,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig { opus_bitrate: 96 }
    }
}

impl StreamConfig {
    /// `opus_bitrate` in bits per second, as libopus takes it.
    pub fn opus_bits_per_second(&self) -> u32 {
        self.opus_bitrate * 1000
    }
}

fn opus_bitrate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let raw = i64::deserialize(deserializer)?;
    u32::try_from(raw)
        .ok()
        .filter(|kbits| (MIN_OPUS_KBITS..=MAX_OPUS_KBITS).contains(kbits))
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "opus_bitrate: {raw} is out of range (allowed {MIN_OPUS_KBITS}..={MAX_OPUS_KBITS} kbit/s)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    #[test]
    fn opus_bitrate_is_kbits_within_32_to_256() {
        let config = Config::from_toml("[stream]\nopus_bitrate = 32\n").unwrap();
        assert_eq!(config.stream.opus_bits_per_second(), 32_000);
        let config = Config::from_toml("[stream]\nopus_bitrate = 256\n").unwrap();
        assert_eq!(config.stream.opus_bitrate, 256);
        assert_eq!(Config::default().stream.opus_bitrate, 96);
        for bad in ["31", "257", "0", "-96", "96000"] {
            let text = format!("# the Opus stream\n[stream]\nopus_bitrate = {bad}\n");
            match Config::from_toml(&text) {
                Err(ConfigError::Parse { line, message, .. }) => {
                    assert_eq!(line, 3, "{message}");
                    assert_eq!(
                        message,
                        format!("opus_bitrate: {bad} is out of range (allowed 32..=256 kbit/s)")
                    );
                }
                other => panic!("opus_bitrate = {bad} was not refused: {other:?}"),
            }
        }
        assert!(Config::from_toml("[stream]\nopus_bitrate = \"96k\"\n").is_err());
    }
}
