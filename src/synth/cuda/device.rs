//! [`CudaVoiceStage`]: context, stream, module, device buffers and pinned staging buffers made
//! once; per block, one upload of the voice descriptors, one launch (one thread per frame) and
//! one download of the bus buffers, with no allocation and no lock on the render path.
// cudarc's launch and device-memory calls are `unsafe`; each use says why it holds.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::Arc;

use cudarc::driver::sys::{CUevent_flags, cudaError_enum};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr,
    DevicePtrMut, DeviceRepr, DriverError, PinnedHostSlice, ValidAsZeroBits, result,
};
use cudarc::nvrtc::Ptx;

use super::{BATCH_CAPACITY, CudaUnavailable, THREADS_PER_BLOCK, VOICE_STAGE_PTX};
use crate::audio::BLOCK_FRAMES;
use crate::synth::bus::{BusBuffers, NUM_BUSES};
use crate::synth::score::MAX_VOICES;
use crate::synth::voice::Voice;
use crate::synth::{RenderError, VoiceStage};

// SAFETY: `Voice` is `#[repr(C)]`, 64 bytes of f32/u32 with no padding the GPU could misread,
// laid out exactly as `struct Voice` in voice_stage.cu; every bit pattern (all zeros included)
// is a valid value.
unsafe impl DeviceRepr for Voice {}
// SAFETY: as above; zero bits are `Voice::default()`.
unsafe impl ValidAsZeroBits for Voice {}

/// Floats in one block's bus image (`BusBuffers::raw_mut`).
const BUS_FLOATS: usize = NUM_BUSES * 2 * BLOCK_FRAMES;

/// CUDA blocks per audio block.
const GRID_X: u32 = (BLOCK_FRAMES as u32).div_ceil(THREADS_PER_BLOCK);

/// GPU-side times of one profiled call, from CUDA events, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StageTimings {
    /// Host-to-device copy of the voice descriptors.
    pub upload_us: f64,
    /// The kernel.
    pub kernel_us: f64,
    /// Device-to-host copy of the bus buffers.
    pub download_us: f64,
}

/// The voice stage on an NVIDIA GPU. Gives the CPU stage's samples bit for bit (the kernel is
/// compiled without FMA contraction and sums voices in the CPU's order).
pub struct CudaVoiceStage {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    _module: Arc<CudaModule>,
    block_kernel: CudaFunction,
    batch_kernel: CudaFunction,
    /// Descriptors: `MAX_VOICES` per block, `BATCH_CAPACITY` blocks.
    voices: CudaSlice<Voice>,
    /// Batch offsets into `voices` (`BATCH_CAPACITY + 1`).
    starts: CudaSlice<u32>,
    /// Bus images: `BUS_FLOATS` per block, `BATCH_CAPACITY` blocks.
    out: CudaSlice<f32>,
    /// Page-locked staging for the uploads (write-combined: the host only writes it). DMA
    /// from pinned memory skips the driver's bounce buffer, which halves a block's round trip.
    upload_host: PinnedHostSlice<Voice>,
    /// Page-locked staging for the downloads (cached: the host reads it).
    download_host: PinnedHostSlice<f32>,
    /// Timing events for the profiling calls (never used by `render`).
    marks: [CudaEvent; 4],
    device_name: String,
    last_error: Option<DriverError>,
}

impl std::fmt::Debug for CudaVoiceStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaVoiceStage")
            .field("device", &self.device_name)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

/// `DriverError` as one line; `Display` would print the same through `Debug`, with quotes.
fn describe(e: DriverError) -> String {
    match e.error_string() {
        Ok(text) => format!("{:?}: {}", e.0, text.to_string_lossy()),
        Err(_) => format!("{:?}", e.0),
    }
}

impl CudaVoiceStage {
    /// Sets up the stage on device `ordinal`: context, stream, kernel, buffers. Never panics,
    /// even with no libcuda on the system.
    pub fn new(ordinal: usize) -> Result<Self, CudaUnavailable> {
        // SAFETY: only dlopen()s the candidate library names and drops the handle. This must
        // come first: every other cudarc call panics when libcuda cannot be loaded.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(CudaUnavailable::NoLibrary);
        }
        let no_device = |e: DriverError| CudaUnavailable::NoDevice(describe(e));
        let ctx = CudaContext::new(ordinal).map_err(no_device)?;
        let device_name = ctx.name().map_err(no_device)?;
        let stream = ctx.default_stream();

        let load = |e: DriverError| CudaUnavailable::KernelLoad(describe(e));
        let module = ctx
            .load_module(Ptx::from_src(VOICE_STAGE_PTX))
            .map_err(load)?;
        let block_kernel = module.load_function("voice_stage_block").map_err(load)?;
        let batch_kernel = module.load_function("voice_stage_batch").map_err(load)?;

        let setup = |e: DriverError| CudaUnavailable::Setup(describe(e));
        let voices = stream
            .alloc_zeros::<Voice>(MAX_VOICES * BATCH_CAPACITY)
            .map_err(setup)?;
        let starts = stream
            .alloc_zeros::<u32>(BATCH_CAPACITY + 1)
            .map_err(setup)?;
        let out = stream
            .alloc_zeros::<f32>(BUS_FLOATS * BATCH_CAPACITY)
            .map_err(setup)?;
        // SAFETY: page-locked memory of the right size and alignment; its contents start
        // undefined, so both are zero-filled below before anything reads them.
        let (mut upload_host, mut download_host) = unsafe {
            (
                ctx.alloc_pinned::<Voice>(MAX_VOICES * BATCH_CAPACITY)
                    .map_err(setup)?,
                ctx.alloc_pinned_with_flags::<f32>(BUS_FLOATS * BATCH_CAPACITY, 0)
                    .map_err(setup)?,
            )
        };
        upload_host
            .as_mut_slice()
            .map_err(setup)?
            .fill(Voice::default());
        download_host.as_mut_slice().map_err(setup)?.fill(0.0);
        let event = || ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT));
        let marks = [
            event().map_err(setup)?,
            event().map_err(setup)?,
            event().map_err(setup)?,
            event().map_err(setup)?,
        ];
        let mut stage = CudaVoiceStage {
            ctx,
            stream,
            _module: module,
            block_kernel,
            batch_kernel,
            voices,
            starts,
            out,
            upload_host,
            download_host,
            marks,
            device_name,
            last_error: None,
        };
        // One real block now, so a driver that loads the module but cannot run it fails here
        // (and the daemon starts on the CPU) rather than on the first block of the stream.
        let silent = Voice {
            inv_attack: 1.0,
            inv_release: 1.0,
            decay: 1.0,
            ..Voice::default()
        };
        let mut probe = BusBuffers::new();
        probe.clear(BLOCK_FRAMES);
        stage.run_block(&[silent], &mut probe).map_err(setup)?;
        Ok(stage)
    }

    /// The GPU's name, e.g. "NVIDIA H100 80GB HBM3".
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Upload, launch, download for one block; no allocation.
    fn run_block(&mut self, voices: &[Voice], out: &mut BusBuffers) -> Result<(), DriverError> {
        if voices.len() > MAX_VOICES {
            // The score never sends more; refuse rather than overrun the device buffer.
            return Err(DriverError(cudaError_enum::CUDA_ERROR_INVALID_VALUE));
        }
        // The render thread may not be the one that made the context.
        self.ctx.bind_to_thread()?;
        self.upload(voices)?;
        self.launch_block(voices.len(), out.frames())?;
        self.queue_download(BUS_FLOATS)?;
        self.finish_download(out.raw_mut())
    }

    /// Stages `voices` in pinned memory and queues their copy to the device.
    fn upload(&mut self, voices: &[Voice]) -> Result<(), DriverError> {
        let staged = &mut self.upload_host.as_mut_slice()?[..voices.len()];
        staged.copy_from_slice(voices);
        let (device, _written) = self.voices.device_ptr_mut(&self.stream);
        // SAFETY: `device` holds at least `voices.len()` descriptors (callers check); the
        // staging buffer is not touched again until the stream has been synchronised.
        unsafe { result::memcpy_htod_async(device, staged, self.stream.cu_stream()) }
    }

    /// Queues the copy of the first `floats` output floats into the pinned download buffer.
    fn queue_download(&mut self, floats: usize) -> Result<(), DriverError> {
        let (device, _read) = self.out.device_ptr(&self.stream);
        let staged = &mut self.download_host.as_mut_slice()?[..floats];
        // SAFETY: `out` and the staging buffer both hold at least `floats` floats; the staging
        // buffer is read only after the stream has been synchronised.
        unsafe { result::memcpy_dtoh_async(staged, device, self.stream.cu_stream()) }
    }

    /// Waits for the stream (surfacing any error the kernel raised asynchronously, and any
    /// that cudarc recorded on the context) and copies the download into `out`.
    fn finish_download(&mut self, out: &mut [f32]) -> Result<(), DriverError> {
        self.stream.synchronize()?;
        self.ctx.check_err()?;
        out.copy_from_slice(&self.download_host.as_slice()?[..out.len()]);
        Ok(())
    }

    fn launch_block(&mut self, count: usize, frames: usize) -> Result<(), DriverError> {
        let (voices, _voices_read) = self.voices.device_ptr(&self.stream);
        let (out, _out_written) = self.out.device_ptr_mut(&self.stream);
        let count = count as u32;
        let frames = frames as u32;
        // Kernel parameters by address, in the kernel's order, on the stack (cudarc's launch
        // builder would allocate a Vec per launch).
        let mut params: [*mut c_void; 4] = [
            (&raw const voices).cast_mut().cast(),
            (&raw const count).cast_mut().cast(),
            (&raw const frames).cast_mut().cast(),
            (&raw const out).cast_mut().cast(),
        ];
        // SAFETY: the parameters match `voice_stage_block(const Voice*, unsigned, unsigned,
        // float*)`; `voices` holds at least `count` descriptors (checked by the caller) and
        // `out` at least BUS_FLOATS floats; the grid covers BLOCK_FRAMES threads and the kernel
        // ignores the rest. The pointers outlive the launch's enqueueing.
        unsafe {
            result::launch_kernel(
                self.block_kernel.cu_function(),
                (GRID_X, 1, 1),
                (THREADS_PER_BLOCK, 1, 1),
                0,
                self.stream.cu_stream(),
                &mut params,
            )
        }
    }

    /// Like `render`, with CUDA-event timings of the three steps (benchmarks only).
    pub fn profile_block(
        &mut self,
        voices: &[Voice],
        out: &mut BusBuffers,
    ) -> Result<StageTimings, RenderError> {
        self.try_profile_block(voices, out)
            .map_err(|e| self.fail(e))
    }

    fn try_profile_block(
        &mut self,
        voices: &[Voice],
        out: &mut BusBuffers,
    ) -> Result<StageTimings, DriverError> {
        if voices.len() > MAX_VOICES {
            return Err(DriverError(cudaError_enum::CUDA_ERROR_INVALID_VALUE));
        }
        self.ctx.bind_to_thread()?;
        self.marks[0].record(&self.stream)?;
        self.upload(voices)?;
        self.marks[1].record(&self.stream)?;
        self.launch_block(voices.len(), out.frames())?;
        self.marks[2].record(&self.stream)?;
        self.queue_download(BUS_FLOATS)?;
        self.marks[3].record(&self.stream)?;
        self.finish_download(out.raw_mut())?;
        self.read_marks()
    }

    /// Renders `starts.len() - 1` blocks of `frames` frames in one launch: block `b` has the
    /// voices `voices[starts[b]..starts[b + 1]]` and its bus image goes to
    /// `out[b * 3072..(b + 1) * 3072]` (the layout of `BusBuffers::raw_mut`), with CUDA-event
    /// timings of the steps (benchmarks only; the generator uses `render_batch`).
    pub fn profile_batch(
        &mut self,
        voices: &[Voice],
        starts: &[u32],
        frames: usize,
        out: &mut [f32],
    ) -> Result<StageTimings, RenderError> {
        let blocks = starts.len().saturating_sub(1);
        if !self.batch_fits(voices, starts, frames) || out.len() != blocks * BUS_FLOATS {
            return Err(RenderError::Device);
        }
        self.try_profile_batch(voices, starts, frames, out)
            .map_err(|e| self.fail(e))
    }

    fn try_profile_batch(
        &mut self,
        voices: &[Voice],
        starts: &[u32],
        frames: usize,
        out: &mut [f32],
    ) -> Result<StageTimings, DriverError> {
        self.ctx.bind_to_thread()?;
        self.marks[0].record(&self.stream)?;
        self.upload_batch(voices, starts)?;
        self.marks[1].record(&self.stream)?;
        self.launch_batch(starts.len() - 1, frames)?;
        self.marks[2].record(&self.stream)?;
        self.queue_download(out.len())?;
        self.marks[3].record(&self.stream)?;
        self.finish_download(out)?;
        self.read_marks()
    }

    /// Whether a batch fits the device buffers and the kernel's contract.
    fn batch_fits(&self, voices: &[Voice], starts: &[u32], frames: usize) -> bool {
        let blocks = starts.len().saturating_sub(1);
        (1..=BATCH_CAPACITY).contains(&blocks)
            && starts.windows(2).all(|w| w[0] <= w[1])
            && starts[blocks] as usize == voices.len()
            && voices.len() <= self.voices.len()
            && frames <= BLOCK_FRAMES
    }

    /// Queues the copies of a batch's voices and offsets.
    fn upload_batch(&mut self, voices: &[Voice], starts: &[u32]) -> Result<(), DriverError> {
        self.upload(voices)?;
        self.stream
            .memcpy_htod(starts, &mut self.starts.slice_mut(..starts.len()))
    }

    fn launch_batch(&mut self, blocks: usize, frames: usize) -> Result<(), DriverError> {
        let (voices_ptr, _voices_read) = self.voices.device_ptr(&self.stream);
        let (starts_ptr, _starts_read) = self.starts.device_ptr(&self.stream);
        let (out_ptr, _out_written) = self.out.device_ptr_mut(&self.stream);
        let frames = frames as u32;
        let mut params: [*mut c_void; 4] = [
            (&raw const voices_ptr).cast_mut().cast(),
            (&raw const starts_ptr).cast_mut().cast(),
            (&raw const frames).cast_mut().cast(),
            (&raw const out_ptr).cast_mut().cast(),
        ];
        // SAFETY: parameters match `voice_stage_batch(const Voice*, const unsigned*,
        // unsigned, float*)`; `starts` is non-decreasing and ends at `voices.len()`, all
        // within the buffers (checked by the caller, `batch_fits`); grid.y = blocks <=
        // BATCH_CAPACITY. The pointers outlive the launch's enqueueing.
        unsafe {
            result::launch_kernel(
                self.batch_kernel.cu_function(),
                (GRID_X, blocks as u32, 1),
                (THREADS_PER_BLOCK, 1, 1),
                0,
                self.stream.cu_stream(),
                &mut params,
            )
        }
    }

    /// One launch for the blocks of a batch, each image copied into its block's buffers.
    fn run_batch(
        &mut self,
        voices: &[Voice],
        starts: &[u32],
        out: &mut [BusBuffers],
    ) -> Result<(), DriverError> {
        let frames = out[0].frames();
        self.ctx.bind_to_thread()?;
        self.upload_batch(voices, starts)?;
        self.launch_batch(out.len(), frames)?;
        self.queue_download(out.len() * BUS_FLOATS)?;
        self.stream.synchronize()?;
        self.ctx.check_err()?;
        let staged = self.download_host.as_slice()?;
        for (image, buses) in staged.chunks_exact(BUS_FLOATS).zip(out.iter_mut()) {
            buses.raw_mut().copy_from_slice(image);
        }
        Ok(())
    }

    /// Reads the three intervals between the four marks (the stream is synchronised).
    fn read_marks(&self) -> Result<StageTimings, DriverError> {
        let us = |a: usize| {
            self.marks[a]
                .elapsed_ms(&self.marks[a + 1])
                .map(|ms| f64::from(ms) * 1e3)
        };
        Ok(StageTimings {
            upload_us: us(0)?,
            kernel_us: us(1)?,
            download_us: us(2)?,
        })
    }

    /// Keeps the error for `last_error` and reports the block as failed.
    fn fail(&mut self, e: DriverError) -> RenderError {
        self.last_error = Some(e);
        RenderError::Device
    }
}

impl VoiceStage for CudaVoiceStage {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.map(describe)
    }

    fn render(&mut self, voices: &[Voice], out: &mut BusBuffers) -> Result<(), RenderError> {
        // Tests make the GPU fail mid-stream here (`fail::cfg("cuda-voice-stage", "return")`).
        #[cfg(feature = "failpoints")]
        fail::fail_point!("cuda-voice-stage", |_| Err(RenderError::Device));
        if voices.is_empty() {
            return Ok(()); // `out` is already cleared: silence needs no GPU round trip
        }
        self.run_block(voices, out).map_err(|e| self.fail(e))
    }

    fn batch_capacity(&self) -> usize {
        BATCH_CAPACITY
    }

    fn render_batch(
        &mut self,
        voices: &[Voice],
        starts: &[u32],
        out: &mut [BusBuffers],
    ) -> Result<(), RenderError> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("cuda-voice-stage", |_| Err(RenderError::Device));
        let Some(frames) = out.first().map(BusBuffers::frames) else {
            return Ok(());
        };
        if !self.batch_fits(voices, starts, frames) || starts.len() != out.len() + 1 {
            return Err(RenderError::Device);
        }
        if voices.is_empty() {
            return Ok(()); // every block is silent and already cleared
        }
        self.run_batch(voices, starts, out)
            .map_err(|e| self.fail(e))
    }
}
