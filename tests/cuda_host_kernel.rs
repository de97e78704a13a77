//! The CUDA kernel's math, checked without a GPU: `voice_stage.cu` compiled for the host (a
//! shim header maps `__global__`, `threadIdx`, `blockIdx` … onto loops), called through FFI and
//! compared sample by sample with the Rust CPU voice stage on random and real blocks.

mod counting_alloc;
mod cuda_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ambientctl::SynthesisParameters;
use ambientd::audio::BLOCK_FRAMES;
use ambientd::engine::generator::Generator;
use ambientd::render::stream::render_to;
use ambientd::synth::bus::{BusBuffers, NUM_BUSES};
use ambientd::synth::cpu::CpuVoiceStage;
use ambientd::synth::voice::Voice;
use ambientd::synth::{RenderError, VoiceStage};
use counting_alloc::allocations;
use cuda_support::{build_host_kernel, compare, random_block, score_blocks};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The bound: 1e-5 of full scale.
const MAX_ERROR: f32 = 1e-5;
const BUS_FLOATS: usize = NUM_BUSES * 2 * BLOCK_FRAMES;

type BlockFn = unsafe extern "C" fn(*const Voice, u32, u32, *mut f32, u32);
type BatchFn = unsafe extern "C" fn(*const Voice, *const u32, u32, u32, *mut f32, u32);

/// The host build of the kernel, loaded.
struct HostKernel {
    _dir: tempfile::TempDir,
    lib: libloading::Library,
}

impl HostKernel {
    fn build() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = build_host_kernel(dir.path());
        // SAFETY: our own library, just built; its initialisers do nothing.
        #[allow(unsafe_code)]
        let lib = unsafe { libloading::Library::new(&path) }.expect("load the host kernel");
        HostKernel { _dir: dir, lib }
    }

    /// `voice_stage_block` over one block, into `out` (whose layout the kernel writes).
    fn block(&self, voices: &[Voice], out: &mut BusBuffers, threads: u32) {
        out.clear(out.frames());
        // SAFETY: the signature is launch.cpp's; `voices` has `len` descriptors of the
        // kernel's layout (both #[repr(C)] / C structs of 16 four-byte fields) and `out`
        // holds a full BusBuffers image, all the kernel writes.
        #[allow(unsafe_code)]
        unsafe {
            let f = self.lib.get::<BlockFn>(b"host_voice_stage_block").unwrap();
            let frames = out.frames() as u32;
            f(
                voices.as_ptr(),
                voices.len() as u32,
                frames,
                out.raw_mut().as_mut_ptr(),
                threads,
            );
        }
    }

    /// `voice_stage_batch` over several blocks of `frames` frames.
    fn batch(&self, voices: &[Voice], starts: &[u32], frames: usize, out: &mut [f32]) {
        assert_eq!(out.len(), (starts.len() - 1) * BUS_FLOATS);
        assert_eq!(*starts.last().unwrap() as usize, voices.len());
        // SAFETY: as in `block`; `starts` has blocks + 1 non-decreasing offsets into `voices`
        // and `out` one image per block.
        #[allow(unsafe_code)]
        unsafe {
            let f = self.lib.get::<BatchFn>(b"host_voice_stage_batch").unwrap();
            f(
                voices.as_ptr(),
                starts.as_ptr(),
                (starts.len() - 1) as u32,
                frames as u32,
                out.as_mut_ptr(),
                threads_per_block(),
            );
        }
    }
}

/// The GPU launch's block size (`synth::cuda::THREADS_PER_BLOCK`; this test needs no cuda
/// feature, so it names the number and checks it when it can).
fn threads_per_block() -> u32 {
    #[cfg(feature = "cuda")]
    assert_eq!(ambientd::synth::cuda::THREADS_PER_BLOCK, 64);
    64
}

fn cpu_reference(voices: &[Voice], frames: usize) -> BusBuffers {
    let mut out = BusBuffers::new();
    out.clear(frames);
    CpuVoiceStage::default().render(voices, &mut out).unwrap();
    out
}

#[test]
fn the_kernel_matches_the_cpu_stage_on_random_blocks() {
    let kernel = HostKernel::build();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut worst, mut identical, mut samples) = (0.0f32, 0usize, 0usize);
    for _ in 0..600 {
        let (voices, frames) = random_block(&mut rng);
        let expected = cpu_reference(&voices, frames);
        let mut got = BusBuffers::new();
        got.clear(frames);
        kernel.block(&voices, &mut got, threads_per_block());
        let (err, same) = compare(&expected, &got);
        worst = worst.max(err);
        identical += same;
        samples += NUM_BUSES * 2 * frames;
        // Past `frames` the kernel must leave silence: the download copies the whole image.
        let raw = got.raw_mut();
        for lane in raw.chunks(BLOCK_FRAMES) {
            assert!(lane[frames..].iter().all(|&s| s == 0.0));
        }
    }
    println!("random blocks: {samples} samples, max error {worst:e}, {identical} bit-identical");
    assert!(worst <= MAX_ERROR, "max error {worst}");
    // Stronger than the bound: both sides round every operation the same IEEE way (no FMA
    // contraction, correctly rounded division), so the GPU math is the CPU's, bit for bit.
    assert_eq!(identical, samples);
}

#[test]
fn the_kernel_matches_the_cpu_stage_on_real_music() {
    let kernel = HostKernel::build();
    let params = SynthesisParameters::new("D minor".parse().unwrap(), 64, 0.9, 3).unwrap();
    let (mut worst, mut identical, mut samples) = (0.0f32, 0usize, 0usize);
    // 2,600 blocks: 30 s, more than one 8-bar phrase, so notes start, hold and release.
    for voices in score_blocks(params, 2_600) {
        let expected = cpu_reference(&voices, BLOCK_FRAMES);
        let mut got = BusBuffers::new();
        got.clear(BLOCK_FRAMES);
        kernel.block(&voices, &mut got, threads_per_block());
        let (err, same) = compare(&expected, &got);
        worst = worst.max(err);
        identical += same;
        samples += NUM_BUSES * 2 * BLOCK_FRAMES;
    }
    println!("real music: {samples} samples, max error {worst:e}, {identical} bit-identical");
    assert!(worst <= MAX_ERROR, "max error {worst}");
}

#[test]
fn the_grid_shape_does_not_change_the_result() {
    let kernel = HostKernel::build();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for _ in 0..40 {
        let (voices, frames) = random_block(&mut rng);
        let mut reference = BusBuffers::new();
        reference.clear(frames);
        kernel.block(&voices, &mut reference, threads_per_block());
        for threads in [1, 32, 100, 512, 1024] {
            let mut got = BusBuffers::new();
            got.clear(frames);
            kernel.block(&voices, &mut got, threads);
            assert_eq!(
                compare(&reference, &got).1,
                NUM_BUSES * 2 * frames,
                "{threads}"
            );
        }
    }
}

#[test]
fn the_batch_kernel_renders_each_block_as_the_block_kernel_does() {
    let kernel = HostKernel::build();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let frames = BLOCK_FRAMES - 7;
    let blocks: Vec<Vec<Voice>> = (0..12).map(|_| random_block(&mut rng).0).collect();
    let mut starts = vec![0u32];
    for block in &blocks {
        starts.push(starts.last().unwrap() + block.len() as u32);
    }
    let all: Vec<Voice> = blocks.concat();
    let mut out = vec![f32::NAN; blocks.len() * BUS_FLOATS];
    kernel.batch(&all, &starts, frames, &mut out);
    for (b, voices) in blocks.iter().enumerate() {
        let mut expected = cpu_reference(voices, frames);
        let image = &out[b * BUS_FLOATS..(b + 1) * BUS_FLOATS];
        for (e, g) in expected.raw_mut().iter().zip(image) {
            assert!((e - g).abs() <= MAX_ERROR, "block {b}: {e} vs {g}");
        }
    }
}

/// A voice stage that takes 64 blocks a call, as the CUDA stage does: through the host build
/// of the batch kernel, or the CPU stage block by block; it can fail on a given call.
struct Batching {
    kernel: Option<HostKernel>,
    cpu: CpuVoiceStage,
    scratch: Vec<f32>,
    calls: usize,
    fail_on_call: Option<usize>,
    largest: Arc<AtomicUsize>,
}

impl Batching {
    fn new(kernel: Option<HostKernel>, fail_on_call: Option<usize>) -> (Self, Arc<AtomicUsize>) {
        let largest = Arc::new(AtomicUsize::new(0));
        let stage = Batching {
            kernel,
            cpu: CpuVoiceStage::default(),
            scratch: vec![0.0; 64 * BUS_FLOATS],
            calls: 0,
            fail_on_call,
            largest: Arc::clone(&largest),
        };
        (stage, largest)
    }
}

impl VoiceStage for Batching {
    fn name(&self) -> &'static str {
        "batching"
    }

    fn render(&mut self, voices: &[Voice], out: &mut BusBuffers) -> Result<(), RenderError> {
        self.cpu.render(voices, out)
    }

    fn batch_capacity(&self) -> usize {
        64
    }

    fn render_batch(
        &mut self,
        voices: &[Voice],
        starts: &[u32],
        out: &mut [BusBuffers],
    ) -> Result<(), RenderError> {
        self.calls += 1;
        self.largest.fetch_max(out.len(), Ordering::Relaxed);
        if self.fail_on_call == Some(self.calls) {
            out[0].raw_mut()[0] = 1.0; // a half-written result the generator must drop
            return Err(RenderError::Device);
        }
        let frames = out[0].frames();
        match &self.kernel {
            Some(kernel) => {
                let images = &mut self.scratch[..out.len() * BUS_FLOATS];
                kernel.batch(voices, starts, frames, images);
                for (image, buses) in images.chunks_exact(BUS_FLOATS).zip(out.iter_mut()) {
                    buses.raw_mut().copy_from_slice(image);
                }
            }
            None => {
                for (b, buses) in out.iter_mut().enumerate() {
                    let block = &voices[starts[b] as usize..starts[b + 1] as usize];
                    self.cpu.render(block, buses)?;
                }
            }
        }
        Ok(())
    }
}

fn music() -> SynthesisParameters {
    SynthesisParameters::new("F# minor".parse().unwrap(), 97, 0.8, 31).unwrap()
}

/// Renders `seconds` in calls of `chunk` frames (the daemon's 100 ms, or one long call).
fn render_in_chunks(generator: &mut Generator, seconds: usize, chunk: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; seconds * 44_100 * 2];
    for piece in out.chunks_mut(chunk * 2) {
        generator.render(piece);
    }
    out
}

/// The generator plans blocks ahead for a batching stage (runs of equal blocks, cut at phrase
/// ends) and gives the samples of block by block exactly: in the daemon's 100 ms calls and in
/// one call for everything (runs of 64 blocks).
#[test]
fn planning_blocks_ahead_for_a_batching_stage_changes_no_sample() {
    for chunk in [4_410, 60 * 44_100] {
        let reference = render_in_chunks(&mut Generator::new(music()), 60, chunk);
        let (stage, largest) = Batching::new(None, None);
        let mut generator = Generator::with_stage(music(), Box::new(stage));
        let batched = render_in_chunks(&mut generator, 60, chunk);
        assert!(
            generator.phrases_started() >= 2,
            "crosses a phrase boundary"
        );
        assert_eq!(generator.stage_failures(), 0);
        assert!(batched == reference, "chunks of {chunk}: samples differ");
        let expect = if chunk == 4_410 { 8 } else { 64 };
        assert_eq!(largest.load(Ordering::Relaxed), expect, "blocks per batch");
    }
}

/// The host build of the batch kernel as the generator's stage: a minute of music, 64 blocks a
/// launch, gives the CPU render bit for bit (the kernel sums in the CPU's order, no FMA).
#[test]
fn the_batch_kernel_as_the_generators_stage_matches_the_cpu_render() {
    let (stage, largest) = Batching::new(Some(HostKernel::build()), None);
    let mut generator = Generator::with_stage(music(), Box::new(stage));
    let batched = render_in_chunks(&mut generator, 60, 60 * 44_100);
    let reference = render_in_chunks(&mut Generator::new(music()), 60, 60 * 44_100);
    assert_eq!(largest.load(Ordering::Relaxed), 64);
    let worst = batched
        .iter()
        .zip(&reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let identical = batched
        .iter()
        .zip(&reference)
        .filter(|(a, b)| a == b)
        .count();
    println!(
        "batched host kernel vs CPU: max error {worst:e}, {identical} of {} identical",
        reference.len()
    );
    assert!(batched == reference, "max error {worst}: not bit for bit");
}

/// `ambientd render`'s streamed path (chunks of whole blocks) batches too: with a batching
/// stage its chunks are a whole batch, each rendered in runs of 64 blocks, and the file is
/// the CPU render's byte for byte.
#[test]
fn the_streamed_render_batches_and_writes_the_cpu_render() {
    let seconds = 75.0;
    let mut reference = Vec::new();
    render_to(
        &mut Generator::new(music()),
        seconds,
        &[],
        &mut reference,
        &mut |_| {},
    )
    .unwrap();
    let (stage, largest) = Batching::new(None, None);
    let mut generator = Generator::with_stage(music(), Box::new(stage));
    let mut batched = Vec::new();
    render_to(&mut generator, seconds, &[], &mut batched, &mut |_| {}).unwrap();
    assert!(
        generator.phrases_started() >= 2,
        "crosses a phrase boundary"
    );
    assert_eq!(generator.stage_failures(), 0);
    assert_eq!(largest.load(Ordering::Relaxed), 64, "blocks per batch");
    assert!(batched == reference, "the batched streamed render differs");
}

/// A batch that fails (after writing into its buffers) is rendered again on the CPU, which
/// then carries on: the samples are those of a CPU render exactly, the failure counted once.
#[test]
fn a_failed_batch_falls_back_to_the_cpu_with_the_same_samples() {
    let (stage, _) = Batching::new(None, Some(40));
    let mut generator = Generator::with_stage(music(), Box::new(stage));
    let got = render_in_chunks(&mut generator, 30, 4_410);
    assert_eq!(generator.stage_failures(), 1);
    assert_eq!(generator.stage_name(), "cpu");
    let reference = render_in_chunks(&mut Generator::new(music()), 30, 4_410);
    assert!(got == reference, "the fallback changed the samples");
}

/// Planning ahead allocates nothing on the render thread: 5 minutes in 100 ms calls.
#[test]
fn the_batched_render_path_allocates_nothing() {
    let (stage, _) = Batching::new(None, None);
    let mut generator = Generator::with_stage(music(), Box::new(stage));
    let mut chunk = vec![0.0f32; 2 * 4_410];
    generator.render(&mut chunk);
    let before = allocations();
    for _ in 0..3_000 {
        generator.render(&mut chunk);
    }
    assert_eq!(allocations() - before, 0, "the batched path allocated");
    assert!(generator.phrases_started() > 8);
}
