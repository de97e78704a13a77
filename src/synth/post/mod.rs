//! The post stage: stateful effects on the bus mix (delay, filters, reverb, leveller,
//! limiter), always on the CPU. Placeholder: sums the buses.

use super::bus::{Bus, BusBuffers};

/// Continuous controls the post stage follows; it smooths them itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostControls {
    /// Intensity, 0.0..=1.0 (brightness, reverb and delay amounts).
    pub intensity: f32,
    /// Tempo, for tempo-related effect times.
    pub bpm: f32,
}

/// The post-stage chain. All buffers are allocated in `new`; `process` never allocates.
#[derive(Debug)]
pub struct PostStage {}

impl PostStage {
    /// A chain at the given sample rate, silent.
    pub fn new(_sample_rate: u32) -> Self {
        PostStage {}
    }

    /// Processes one block: reads `buses` (`buses.frames()` frames) and writes interleaved
    /// stereo into `out` (`2 * buses.frames()` samples).
    pub fn process(&mut self, buses: &BusBuffers, _controls: &PostControls, out: &mut [f32]) {
        let frames = buses.frames();
        assert_eq!(out.len(), 2 * frames);
        for ch in 0..2 {
            let pad = buses.channel(Bus::Pad, ch);
            let bass = buses.channel(Bus::Bass, ch);
            let lead = buses.channel(Bus::Lead, ch);
            for i in 0..frames {
                out[2 * i + ch] = (pad[i] + bass[i] + lead[i]) * 0.3;
            }
        }
    }
}
