//! Level figures of a stereo render (peak, EBU R128 integrated loudness, DC), measured chunk
//! by chunk as the render goes, so a render of any length is measured without being held.

use crate::audio::{CHANNELS, SAMPLE_RATE};

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
    loudness: ebur128::EbuR128,
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
            loudness: histogram_meter(),
        }
    }

    /// Adds the next interleaved stereo frames.
    pub fn add(&mut self, samples: &[f32]) {
        self.peak = samples.iter().fold(self.peak, |m, s| m.max(s.abs()));
        self.loudness
            .add_frames_f32(samples)
            .expect("interleaved stereo frames");
        // Summed in frame order, channel by channel: the same figure however the render is cut.
        for (ch, sum) in self.sums.iter_mut().enumerate() {
            *sum = samples
                .iter()
                .skip(ch)
                .step_by(CHANNELS)
                .fold(*sum, |acc, &s| acc + f64::from(s));
        }
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
            integrated_lufs: self.loudness.loudness_global().unwrap_or(f64::NEG_INFINITY),
            dc,
        }
    }
}

/// An EBU R128 integrated-loudness meter in constant memory: block energies go into a
/// histogram (0.1 dB bins, libebur128's), where the default mode keeps every 400 ms block
/// (10 a second: a 24-hour render would hold 7 MB of them, and the memory would grow).
pub(crate) fn histogram_meter() -> ebur128::EbuR128 {
    ebur128::EbuR128::new(
        CHANNELS as u32,
        SAMPLE_RATE,
        ebur128::Mode::I | ebur128::Mode::HISTOGRAM,
    )
    .expect("valid EBU R128 meter settings")
}

/// Measures peak, integrated loudness (EBU R128) and DC of interleaved stereo f32.
pub fn measure(samples: &[f32]) -> Levels {
    let mut meter = LevelMeter::new();
    meter.add(samples);
    meter.levels()
}
