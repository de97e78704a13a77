//! Audio-rate rendering: note events in, stereo f32 frames out, in two stages.
//!
//! 1. The **voice stage** ([`VoiceStage`]) evaluates every sounding oscillator in closed form
//!    per frame ([`voice`]): parallel over frames, so a GPU can run it ([`cpu`] is the
//!    reference). It writes one stereo pair per [`Bus`](bus::Bus).
//! 2. The **post stage** ([`post`]) is stateful and always on the CPU: delay, reverb,
//!    loudness leveller and limiter on the bus mix.

/// Compiles the function it wraps once per instruction set the hot loops use and picks one at
/// run time (`multiversion`), so a plain release build is fast on AVX-512/AVX2 machines and
/// still runs on any x86-64 or aarch64. One list for every dispatched loop, so the voice and
/// post stages always target the same machines.
macro_rules! simd_dispatch {
    ($item:item) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512vl+avx2+fma",
            "x86_64+avx2+fma",
            "x86_64+avx",
            "x86_64+sse4.1",
            "aarch64+neon"
        ))]
        $item
    };
}

pub mod bus;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
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

    /// Blocks this stage takes in one [`VoiceStage::render_batch`] call; above 1, the
    /// generator plans that many blocks ahead and hands them over together (a GPU, whose fixed
    /// cost per launch dwarfs one block's work). The CPU takes 1: block by block, in cache.
    fn batch_capacity(&self) -> usize {
        1
    }

    /// Adds the voices of `out.len()` blocks, all of `out[0].frames()` frames: block `b` has
    /// `voices[starts[b]..starts[b + 1]]` and goes into `out[b]` (already cleared). The same
    /// samples as [`VoiceStage::render`] block by block, which is what this default does.
    fn render_batch(
        &mut self,
        voices: &[Voice],
        starts: &[u32],
        out: &mut [BusBuffers],
    ) -> Result<(), RenderError> {
        for (b, buses) in out.iter_mut().enumerate() {
            self.render(&voices[starts[b] as usize..starts[b + 1] as usize], buses)?;
        }
        Ok(())
    }

    /// What the last `Err` from `render` was about, as one line for the log ("CUDA_ERROR_…:
    /// …"). It formats, so call it off the render thread, e.g. once after a fallback.
    fn last_error(&self) -> Option<String> {
        None
    }
}

/// Which voice stage the operator asked for (`[synth] backend` in the config).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
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
    /// One line: why this stage, e.g. "cpu: no libcuda" or "cuda: NVIDIA H100 80GB HBM3".
    pub reason: String,
    /// Whether the operator asked for CUDA and did not get it (log `reason` as a warning).
    pub warning: bool,
}

impl std::fmt::Debug for SelectedStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectedStage")
            .field("stage", &self.stage.name())
            .field("reason", &self.reason)
            .field("warning", &self.warning)
            .finish()
    }
}

/// Builds the voice stage for `choice`: `Auto` and `Cuda` try the GPU (device 0) and fall back
/// to the CPU, saying why ("cpu: no libcuda", "cpu: no CUDA device (…)", "cpu: kernel load
/// failed: …"); a forced `Cuda` that falls back is flagged as a warning. Never panics.
pub fn select_stage(choice: BackendChoice) -> SelectedStage {
    let cpu = |reason: String, warning: bool| SelectedStage {
        stage: Box::new(cpu::CpuVoiceStage::default()),
        reason,
        warning,
    };
    if choice == BackendChoice::Cpu {
        return cpu("cpu: configured".to_string(), false);
    }
    let forced = choice == BackendChoice::Cuda;
    let why_not = match try_cuda() {
        Ok(selected) => return selected,
        Err(why_not) => why_not,
    };
    if forced {
        cpu(
            format!("cpu: {why_not} (backend \"cuda\" was configured)"),
            true,
        )
    } else {
        cpu(format!("cpu: {why_not}"), false)
    }
}

#[cfg(feature = "cuda")]
fn try_cuda() -> Result<SelectedStage, String> {
    let stage = cuda::CudaVoiceStage::new(0).map_err(|e| e.to_string())?;
    Ok(SelectedStage {
        reason: format!("cuda: {}", stage.device_name()),
        stage: Box::new(stage),
        warning: false,
    })
}

#[cfg(not(feature = "cuda"))]
fn try_cuda() -> Result<SelectedStage, String> {
    Err("built without the cuda feature".to_string())
}
