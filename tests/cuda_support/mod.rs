//! Helpers for the CUDA tests: a C/C++ compiler through the `cc` crate (for the host build of
//! the kernel and the stub libcuda), voice blocks (random and from real scores), and sample
//! comparison.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

use ambientctl::SynthesisParameters;
use ambientd::audio::{BLOCK_FRAMES, SAMPLE_RATE};
use ambientd::music::{Composer, Phrase};
use ambientd::synth::bus::{Bus, BusBuffers};
use ambientd::synth::score::{MAX_VOICES, Score};
use ambientd::synth::voice::Voice;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The host's C or C++ compiler, found the way a build script would find it.
fn compiler(cpp: bool) -> Command {
    // Integration tests get no TARGET/HOST/OPT_LEVEL from cargo, so name them.
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    cc::Build::new()
        .cpp(cpp)
        .target(&triple)
        .host(&triple)
        .opt_level(2)
        .cargo_metadata(false)
        .get_compiler()
        .to_command()
}

/// Compiles `sources` into the shared library `out` with `args`; panics with the compiler's
/// output if it fails.
pub fn build_shared_library(cpp: bool, sources: &[&Path], args: &[&str], out: &Path) {
    let mut command = compiler(cpp);
    command.args(["-shared", "-fPIC"]).args(args);
    command.args(sources).arg("-o").arg(out);
    let output = command.output().expect("run the C compiler");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds the kernel for the host in `dir`: voice_stage.cu as C++ with the shim header,
/// IEEE float semantics (no contraction into FMA, like the GPU build and like Rust).
pub fn build_host_kernel(dir: &Path) -> PathBuf {
    let support = repo_root().join("tests/cuda_support");
    let kernel_dir = repo_root().join("src/synth/cuda");
    let shim = support.join("shim.h");
    let out = dir.join("libvoice_stage_host.so");
    build_shared_library(
        true,
        &[&support.join("launch.cpp")],
        &[
            "-std=c++14",
            "-ffp-contract=off",
            "-fno-fast-math",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-include",
            shim.to_str().unwrap(),
            "-I",
            kernel_dir.to_str().unwrap(),
        ],
        &out,
    );
    out
}

/// A libcuda.so.1 in `dir` whose `cuInit` returns CUDA_ERROR_NO_DEVICE (100), as a machine
/// with the driver's library but no GPU does. Returns `dir`, for LD_LIBRARY_PATH.
pub fn build_stub_libcuda(dir: &Path) -> PathBuf {
    let source = dir.join("stub_libcuda.c");
    std::fs::write(
        &source,
        r#"/* cudarc resolves symbols lazily: cuInit fails, and its error is formatted. */
int cuInit(unsigned int flags) { (void)flags; return 100; /* CUDA_ERROR_NO_DEVICE */ }
int cuGetErrorString(int e, const char **s) { (void)e; *s = "no CUDA-capable device is detected"; return 0; }
int cuGetErrorName(int e, const char **s) { (void)e; *s = "CUDA_ERROR_NO_DEVICE"; return 0; }
"#,
    )
    .unwrap();
    build_shared_library(false, &[&source], &[], &dir.join("libcuda.so.1"));
    dir.to_path_buf()
}

/// A random but well-formed voice: any phase, audible frequencies, FM or a pure sine, and an
/// age that puts the block before, in, or after the attack and the release.
pub fn random_voice(rng: &mut ChaCha8Rng) -> Voice {
    let hz = 30.0 * 2f32.powf(rng.random_range(0.0..6.0));
    let fm = rng.random_range(0..3) != 0;
    let attack = rng.random_range(1.0f32..40_000.0);
    let release_at = rng.random_range(0.0f32..300_000.0);
    Voice {
        carrier_phase: rng.random_range(0.0..1.0),
        carrier_inc: hz / SAMPLE_RATE as f32,
        mod_phase: rng.random_range(0.0..1.0),
        mod_inc: hz * rng.random_range(0.5..4.0) / SAMPLE_RATE as f32,
        mod_index: if fm { rng.random_range(0.0..3.0) } else { 0.0 },
        mod_index_step: if fm {
            rng.random_range(-1e-4..1e-4)
        } else {
            0.0
        },
        age: match rng.random_range(0..4) {
            0 => rng.random_range(-600.0..0.0),
            1 => rng.random_range(0.0..attack + 600.0),
            2 => release_at + rng.random_range(-600.0..60_000.0),
            _ => rng.random_range(0.0..release_at),
        },
        inv_attack: 1.0 / attack,
        release_at,
        inv_release: 1.0 / rng.random_range(1.0f32..80_000.0),
        sustain: rng.random_range(0.0..=1.0),
        decay: rng.random_range(1.0..200_000.0),
        gain_l: rng.random_range(0.0..0.3),
        gain_r: rng.random_range(0.0..0.3),
        bus: rng.random_range(0..3),
        _pad: 0,
    }
}

/// A random block: up to `MAX_VOICES` voices (usually a few dozen) and, now and then, a
/// short block as the generator makes at a phrase boundary.
pub fn random_block(rng: &mut ChaCha8Rng) -> (Vec<Voice>, usize) {
    let count = match rng.random_range(0..10) {
        0 => 0,
        1 => MAX_VOICES,
        _ => rng.random_range(1..64),
    };
    let frames = if rng.random_range(0..5) == 0 {
        rng.random_range(1..=BLOCK_FRAMES)
    } else {
        BLOCK_FRAMES
    };
    ((0..count).map(|_| random_voice(rng)).collect(), frames)
}

/// The voices of `blocks` consecutive full blocks of real music (phrases from `params`).
pub fn score_blocks(params: SynthesisParameters, blocks: usize) -> Vec<Vec<Voice>> {
    let mut composer = Composer::new(params.seed());
    let mut phrase = Phrase::with_capacity();
    let mut score = Score::new(SAMPLE_RATE);
    let mut next_phrase = 0u64;
    let mut out = Vec::with_capacity(blocks);
    for b in 0..blocks as u64 {
        let frame = b * BLOCK_FRAMES as u64;
        if frame >= next_phrase {
            composer.compose(&params, &mut phrase);
            score.add_phrase(&phrase, next_phrase);
            next_phrase += (phrase.duration_sec() * f64::from(SAMPLE_RATE)).round() as u64;
        }
        score.retire(frame);
        let mut voices = Vec::with_capacity(MAX_VOICES);
        let intensity = params.intensity();
        score.voices(frame, BLOCK_FRAMES, (intensity, intensity), &mut voices);
        out.push(voices);
    }
    out
}

/// Largest absolute difference between two buffers' samples, and how many are bit-identical.
pub fn compare(a: &BusBuffers, b: &BusBuffers) -> (f32, usize) {
    let mut worst = 0.0f32;
    let mut identical = 0;
    for bus in [Bus::Pad, Bus::Bass, Bus::Lead] {
        for channel in 0..2 {
            for (x, y) in a.channel(bus, channel).iter().zip(b.channel(bus, channel)) {
                assert!(x.is_finite() && y.is_finite(), "{x} vs {y}");
                worst = worst.max((x - y).abs());
                identical += usize::from(x.to_bits() == y.to_bits());
            }
        }
    }
    (worst, identical)
}
