//! Audio-rate rendering: note events in, stereo f32 frames out, in two stages.
//!
//! 1. The **voice stage** ([`VoiceStage`]) evaluates every sounding oscillator in closed form
//!    per frame ([`voice`]): parallel over frames, so a GPU can run it ([`cpu`] is the
//!    reference). It writes one stereo pair per [`Bus`](bus::Bus).
//! 2. The **post stage** ([`post`]) is stateful and always on the CPU: delay, reverb,
//!    loudness leveller and limiter on the bus mix.

pub mod bus;
pub mod cpu;
pub mod post;
pub mod score;
pub mod timbre;
pub mod voice;

use bus::BusBuffers;
use voice::Voice;

/// A voice-stage failure. `Copy` and allocation-free: it is raised on the render thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The GPU back-end failed; the caller falls back to the CPU for this block.
    #[error("the GPU voice stage failed")]
    Device,
}

/// Something that evaluates a block of voices into bus buffers.
pub trait VoiceStage: Send {
    /// Short name for logs and status ("cpu", "cuda").
    fn name(&self) -> &'static str;

    /// Adds every voice's samples for `out.frames()` frames into `out` (already cleared).
    fn render(&mut self, voices: &[Voice], out: &mut BusBuffers) -> Result<(), RenderError>;
}
