//! Offline rendering: the generator's output into memory or a 16-bit stereo WAV file, with
//! optional parameter changes at given times, and a loudness summary of the result.

use std::path::Path;

use ambientctl::SynthesisParameters;

use crate::audio::{CHANNELS, SAMPLE_RATE, f32_to_i16};
use crate::engine::generator::Generator;

/// A parameter change during an offline render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamChange {
    /// Seconds from the start of the render at which the change is asked for.
    pub at_sec: f64,
    /// The new parameters (they apply as `Generator::set_params` says).
    pub params: SynthesisParameters,
}

/// Renders `seconds` of interleaved stereo f32 from `params`, asking for each change at its
/// time. Same arguments, same samples.
pub fn render(params: SynthesisParameters, seconds: f64, changes: &[ParamChange]) -> Vec<f32> {
    render_with(&mut Generator::new(params), seconds, changes)
}

/// Like [`render`], with a generator the caller made (e.g. on another back-end).
pub fn render_with(generator: &mut Generator, seconds: f64, changes: &[ParamChange]) -> Vec<f32> {
    let total = (seconds * f64::from(SAMPLE_RATE)).round() as usize;
    let mut out = vec![0.0f32; total * CHANNELS];
    let mut changes: Vec<ParamChange> = changes.to_vec();
    changes.sort_by(|a, b| a.at_sec.total_cmp(&b.at_sec));
    let mut done = 0;
    for change in changes {
        let at = ((change.at_sec * f64::from(SAMPLE_RATE)).round() as usize).min(total);
        if at > done {
            generator.render(&mut out[done * CHANNELS..at * CHANNELS]);
            done = at;
        }
        generator.set_params(change.params);
    }
    generator.render(&mut out[done * CHANNELS..]);
    out
}

/// Writes interleaved stereo f32 as a 16-bit PCM WAV file at 44.1 kHz.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: CHANNELS as u16,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    let mut pcm = writer.get_i16_writer(samples.len() as u32);
    for &sample in samples {
        pcm.write_sample(f32_to_i16(sample));
    }
    pcm.flush()?;
    writer.finalize()
}

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

/// Measures peak, integrated loudness (EBU R128) and DC of interleaved stereo f32.
pub fn measure(samples: &[f32]) -> Levels {
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let mut meter = ebur128::EbuR128::new(CHANNELS as u32, SAMPLE_RATE, ebur128::Mode::I)
        .expect("valid EBU R128 meter settings");
    meter
        .add_frames_f32(samples)
        .expect("interleaved stereo frames");
    let integrated_lufs = meter.loudness_global().unwrap_or(f64::NEG_INFINITY);
    let frames = (samples.len() / CHANNELS).max(1) as f64;
    let dc = (0..CHANNELS)
        .map(|ch| {
            samples
                .iter()
                .skip(ch)
                .step_by(CHANNELS)
                .map(|&s| f64::from(s))
                .sum::<f64>()
                / frames
        })
        .fold(0.0f64, |m, d| if d.abs() > m.abs() { d } else { m });
    Levels {
        peak_dbfs: 20.0 * f64::from(peak).log10(),
        integrated_lufs,
        dc,
    }
}
