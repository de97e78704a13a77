//! Level figures of a stereo render (peak, EBU R128 integrated loudness, DC), measured chunk
//! by chunk as the render goes, so a render of any length is measured without being held.

use super::loudness::Loudness;
use crate::audio::CHANNELS;
use crate::synth::post::peak;

/// Level figures of a stereo render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Highest absolute sample, dBFS.
    pub peak_dbfs: f64,
    /// EBU R128 integrated loudness, LUFS.
    pub integrated_lufs: f64,
    /// Mean of each channel (DC offset), the larger of the two in absolute value.
    pub dc: f64,
}

/// Measures interleaved stereo f32 fed to it in pieces; the figures are those of the pieces
/// joined ([`measure`] of the whole gives the same).
pub struct LevelMeter {
    peak: f32,
    sums: [f64; CHANNELS],
    frames: u64,
    loudness: Loudness,
}

impl std::fmt::Debug for LevelMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelMeter")
            .field("peak", &self.peak)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Default for LevelMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl LevelMeter {
    /// A meter that has heard nothing.
    pub fn new() -> Self {
        LevelMeter {
            peak: 0.0,
            sums: [0.0; CHANNELS],
            frames: 0,
            loudness: Loudness::new(),
        }
    }

    /// Adds the next interleaved stereo frames.
    pub fn add(&mut self, samples: &[f32]) {
        self.peak = self.peak.max(peak(samples));
        self.loudness.add(samples);
        // Summed in frame order, each channel on its own: the same figure however the render
        // is cut (both chains in one pass, which the CPU overlaps).
        let [mut left, mut right] = self.sums;
        for frame in samples.chunks_exact(CHANNELS) {
            left += f64::from(frame[0]);
            right += f64::from(frame[1]);
        }
        self.sums = [left, right];
        self.frames += (samples.len() / CHANNELS) as u64;
    }

    /// The figures of everything added so far.
    pub fn levels(&self) -> Levels {
        let frames = self.frames.max(1) as f64;
        let dc = self
            .sums
            .iter()
            .map(|sum| sum / frames)
            .fold(0.0f64, |m, d| if d.abs() > m.abs() { d } else { m });
        Levels {
            peak_dbfs: 20.0 * f64::from(self.peak).log10(),
            integrated_lufs: self.loudness.integrated(),
            dc,
        }
    }
}

/// Measures peak, integrated loudness (EBU R128) and DC of interleaved stereo f32.
pub fn measure(samples: &[f32]) -> Levels {
    let mut meter = LevelMeter::new();
    meter.add(samples);
    meter.levels()
}
