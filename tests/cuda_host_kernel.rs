//! The CUDA kernel's math, checked without a GPU: `voice_stage.cu` compiled for the host (a
//! shim header maps `__global__`, `threadIdx`, `blockIdx` … onto loops), called through FFI and
//! compared sample by sample with the Rust CPU voice stage on random and real blocks.

mod cuda_support;

use ambientctl::SynthesisParameters;
use ambientd::audio::BLOCK_FRAMES;
use ambientd::synth::VoiceStage;
use ambientd::synth::bus::{BusBuffers, NUM_BUSES};
use ambientd::synth::cpu::CpuVoiceStage;
use ambientd::synth::voice::Voice;
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
