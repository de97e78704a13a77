//! The CPU voice stage, the reference back-end: evaluates every [`Voice`] with the shared
//! closed-form math, vectorised over frames, with runtime CPU-feature dispatch.

use super::bus::{Bus, BusBuffers};
use super::voice::{Voice, decay_level, envelope, is_steady, oscillator, sin_turns};
use super::{RenderError, VoiceStage};
use crate::audio::BLOCK_FRAMES;

/// Which instruction set the CPU voice stage uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    /// The best the running CPU offers (AVX-512, AVX2/FMA, AVX, SSE4.1 or NEON), chosen at
    /// run time.
    Dispatch,
    /// The build's baseline only (SSE2 on x86-64), for comparison.
    Baseline,
}

/// The CPU voice stage. Holds nothing but its dispatch choice: all state is in the voices.
#[derive(Debug, Clone)]
pub struct CpuVoiceStage {
    simd: Simd,
}

impl CpuVoiceStage {
    /// A CPU voice stage using `simd`.
    pub fn new(simd: Simd) -> Self {
        CpuVoiceStage { simd }
    }
}

impl Default for CpuVoiceStage {
    fn default() -> Self {
        Self::new(Simd::Dispatch)
    }
}

impl VoiceStage for CpuVoiceStage {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn render(&mut self, voices: &[Voice], out: &mut BusBuffers) -> Result<(), RenderError> {
        for voice in voices {
            voice.debug_check();
            let bus = match voice.bus {
                0 => Bus::Pad,
                1 => Bus::Bass,
                _ => Bus::Lead,
            };
            let (left, right) = out.stereo_mut(bus);
            match self.simd {
                Simd::Dispatch => render_voice_dispatch(voice, left, right),
                Simd::Baseline => render_voice_body(voice, left, right),
            }
        }
        Ok(())
    }
}

simd_dispatch! {
    fn render_voice_dispatch(voice: &Voice, left: &mut [f32], right: &mut [f32]) {
        render_voice_body(voice, left, right);
    }
}

/// Adds one voice into a stereo pair. Inlined into each dispatch target so the loop is
/// compiled for that instruction set; the arithmetic is the same in every target (Rust does
/// not fuse or reorder float operations), so every target gives identical samples.
#[inline(always)]
fn render_voice_body(v: &Voice, left: &mut [f32], right: &mut [f32]) {
    let frames = left.len().min(right.len());
    let (left, right) = (&mut left[..frames], &mut right[..frames]);
    // Four loops, chosen once per voice, so the common cases skip work they do not need;
    // each computes exactly what `voice_sample` would (see `is_steady`).
    match (v.is_pure_sine(), is_steady(v, frames)) {
        (true, true) => mix(v, left, right, |t| decay_level(v, t) * pure_sine(v, t)),
        (true, false) => mix(v, left, right, |t| envelope(v, t) * pure_sine(v, t)),
        (false, true) => mix(v, left, right, |t| decay_level(v, t) * oscillator(v, t)),
        (false, false) => mix(v, left, right, |t| envelope(v, t) * oscillator(v, t)),
    }
}

/// The carrier alone, for voices without FM.
#[inline(always)]
fn pure_sine(v: &Voice, t: f32) -> f32 {
    sin_turns(v.carrier_phase + v.carrier_inc * t)
}

/// The frame index `i` as f32, for every frame of a block. Read from a table because
/// `usize as f32` has no packed instruction before AVX-512: the compiler would convert each
/// lane on its own, which cost as much as the oscillator. The values are exact (`i < 2²⁴`),
/// so the samples are the same as with the cast.
static FRAME_INDEX: [f32; BLOCK_FRAMES] = frame_index_table();

const fn frame_index_table() -> [f32; BLOCK_FRAMES] {
    let mut table = [0.0; BLOCK_FRAMES];
    let mut i = 0;
    while i < BLOCK_FRAMES {
        table[i] = i as f32;
        i += 1;
    }
    table
}

#[inline(always)]
fn mix(v: &Voice, left: &mut [f32], right: &mut [f32], sample: impl Fn(f32) -> f32) {
    assert!(
        left.len() <= BLOCK_FRAMES,
        "a block is at most {BLOCK_FRAMES} frames"
    );
    for ((l, r), &t) in left.iter_mut().zip(right.iter_mut()).zip(&FRAME_INDEX) {
        let s = sample(t);
        *l += s * v.gain_l;
        *r += s * v.gain_r;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::voice::voice_sample;

    fn voices() -> Vec<Voice> {
        (0..6)
            .map(|k| Voice {
                carrier_phase: 0.1 * k as f32,
                carrier_inc: (110.0 * (k + 1) as f32) / 44_100.0,
                mod_phase: 0.05,
                mod_inc: (220.0 * (k + 1) as f32) / 44_100.0,
                mod_index: if k % 2 == 0 { 0.0 } else { 0.4 },
                mod_index_step: if k % 2 == 0 { 0.0 } else { 1e-4 },
                age: -50.0 * k as f32,
                inv_attack: 1.0 / 300.0,
                release_at: 400.0,
                inv_release: 1.0 / 500.0,
                sustain: 0.6,
                decay: 200.0,
                gain_l: 0.3,
                gain_r: 0.2,
                bus: (k % 3) as u32,
                _pad: 0,
            })
            .collect()
    }

    #[test]
    fn every_dispatch_target_matches_the_scalar_formula_exactly() {
        let voices = voices();
        for simd in [Simd::Dispatch, Simd::Baseline] {
            let mut out = BusBuffers::new();
            out.clear(BLOCK_FRAMES);
            CpuVoiceStage::new(simd).render(&voices, &mut out).unwrap();
            for bus in [Bus::Pad, Bus::Bass, Bus::Lead] {
                for i in 0..BLOCK_FRAMES {
                    let mut expect = [0.0f32; 2];
                    for v in voices.iter().filter(|v| v.bus == bus as u32) {
                        let s = voice_sample(v, i as f32);
                        expect[0] += s * v.gain_l;
                        expect[1] += s * v.gain_r;
                    }
                    assert_eq!(out.channel(bus, 0)[i], expect[0], "{simd:?} {bus:?} {i}");
                    assert_eq!(out.channel(bus, 1)[i], expect[1], "{simd:?} {bus:?} {i}");
                }
            }
        }
    }
}
