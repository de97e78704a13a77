//! `BusBuffers`: the voice stage's output for one block, a stereo pair per instrument bus.

use crate::audio::BLOCK_FRAMES;

/// The mixing buses the voice stage writes into; the post stage treats each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Bus {
    /// Pads: wide, dark, into the reverb.
    Pad = 0,
    /// Bass: centred, mostly dry.
    Bass = 1,
    /// Lead: echoed by the delay, into the reverb.
    Lead = 2,
}

/// Number of buses.
pub const NUM_BUSES: usize = 3;

/// One block of bus audio: `NUM_BUSES` × (left, right) × `BLOCK_FRAMES`, allocated once.
#[derive(Debug, Clone)]
pub struct BusBuffers {
    data: Vec<f32>,
    frames: usize,
}

impl Default for BusBuffers {
    fn default() -> Self {
        Self::new()
    }
}

impl BusBuffers {
    /// Zeroed buffers for a full block.
    pub fn new() -> Self {
        BusBuffers {
            data: vec![0.0; NUM_BUSES * 2 * BLOCK_FRAMES],
            frames: BLOCK_FRAMES,
        }
    }

    /// Frames in the current block (at most `BLOCK_FRAMES`).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Zeroes every channel and sets the block length.
    pub fn clear(&mut self, frames: usize) {
        assert!(
            frames <= BLOCK_FRAMES,
            "block of {frames} frames exceeds {BLOCK_FRAMES}"
        );
        self.frames = frames;
        self.data.fill(0.0);
    }

    /// One channel (0 = left, 1 = right) of one bus, `frames()` long.
    pub fn channel(&self, bus: Bus, channel: usize) -> &[f32] {
        let start = (bus as usize * 2 + channel) * BLOCK_FRAMES;
        &self.data[start..start + self.frames]
    }

    /// One channel of one bus, mutable.
    pub fn channel_mut(&mut self, bus: Bus, channel: usize) -> &mut [f32] {
        let start = (bus as usize * 2 + channel) * BLOCK_FRAMES;
        &mut self.data[start..start + self.frames]
    }

    /// Both channels of one bus, mutable.
    pub fn stereo_mut(&mut self, bus: Bus) -> (&mut [f32], &mut [f32]) {
        let start = bus as usize * 2 * BLOCK_FRAMES;
        let (left, right) = self.data[start..start + 2 * BLOCK_FRAMES].split_at_mut(BLOCK_FRAMES);
        (&mut left[..self.frames], &mut right[..self.frames])
    }

    /// The whole buffer in its fixed layout (bus-major, then channel, then frame, with a
    /// stride of `BLOCK_FRAMES`), as a GPU copy wants it.
    pub fn raw_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }
}
