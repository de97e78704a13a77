//! Offline rendering (`ambientd render`): the generator's output, with optional parameter
//! changes at given times, into memory ([`render`]) or streamed to a writer in constant
//! memory ([`stream::render_to`]) as WAV ([`wav`]) or FLAC ([`flac`]), with its loudness
//! measured as it goes ([`levels`]), for the whole and, on request, period by period
//! ([`periods`]).

pub mod flac;
pub mod levels;
pub mod loudness;
pub mod periods;
pub mod stream;
pub mod wav;

use ambientctl::SynthesisParameters;

use crate::audio::{CHANNELS, SAMPLE_RATE};
use crate::engine::generator::Generator;

pub use levels::{LevelMeter, Levels, measure};

/// A parameter change during an offline render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamChange {
    /// Seconds from the start of the render at which the change is asked for.
    pub at_sec: f64,
    /// The new parameters (they apply as `Generator::set_params` says).
    pub params: SynthesisParameters,
}

/// Frames in a render of `seconds` (rounded to the nearest frame).
pub fn frames_in(seconds: f64) -> u64 {
    (seconds * f64::from(SAMPLE_RATE)).round() as u64
}

/// Renders `seconds` of interleaved stereo f32 from `params` into memory, asking for each
/// change at its time. Same arguments, same samples; [`stream::render_to`] writes the same
/// samples without holding them.
pub fn render(params: SynthesisParameters, seconds: f64, changes: &[ParamChange]) -> Vec<f32> {
    render_with(&mut Generator::new(params), seconds, changes)
}

/// Like [`render`], with a generator the caller made (e.g. on another back-end).
pub fn render_with(generator: &mut Generator, seconds: f64, changes: &[ParamChange]) -> Vec<f32> {
    let total = frames_in(seconds) as usize;
    let mut out = vec![0.0f32; total * CHANNELS];
    let mut done = 0;
    for (at, params) in change_frames(changes, total as u64) {
        let at = at as usize;
        if at > done {
            generator.render(&mut out[done * CHANNELS..at * CHANNELS]);
            done = at;
        }
        generator.set_params(params);
    }
    generator.render(&mut out[done * CHANNELS..]);
    out
}

/// The changes in time order, each at its frame (at most `total`).
fn change_frames(
    changes: &[ParamChange],
    total: u64,
) -> impl Iterator<Item = (u64, SynthesisParameters)> {
    let mut changes: Vec<ParamChange> = changes.to_vec();
    changes.sort_by(|a, b| a.at_sec.total_cmp(&b.at_sec));
    changes
        .into_iter()
        .map(move |change| (frames_in(change.at_sec).min(total), change.params))
}
