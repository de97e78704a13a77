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

/// Which voice stage the operator asked for (`[synth] backend` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// CUDA when a usable GPU is there, else the CPU.
    #[default]
    Auto,
    /// CUDA; if it cannot start, the CPU with a warning.
    Cuda,
    /// The CPU only.
    Cpu,
}

/// The voice stage that was chosen, and why (for logs, status and the `hello` message).
pub struct SelectedStage {
    /// The stage to render with.
    pub stage: Box<dyn VoiceStage>,
    /// One line: why this stage, e.g. "cpu: no libcuda" or "cuda: NVIDIA H100".
    pub reason: String,
}

impl std::fmt::Debug for SelectedStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectedStage")
            .field("stage", &self.stage.name())
            .field("reason", &self.reason)
            .finish()
    }
}

/// Builds the voice stage for `choice`, falling back to the CPU when CUDA cannot be used.
pub fn select_stage(choice: BackendChoice) -> SelectedStage {
    let reason = match choice {
        BackendChoice::Cpu => "cpu: chosen in the config".to_string(),
        BackendChoice::Auto | BackendChoice::Cuda => {
            "cpu: CUDA support is not built yet".to_string()
        }
    };
    SelectedStage {
        stage: Box::new(cpu::CpuVoiceStage::default()),
        reason,
    }
}
