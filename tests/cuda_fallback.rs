//! The CPU fallback, without a GPU: at start (no libcuda; a stub libcuda with no device; a
//! forced `cuda` backend) the music plays on the CPU and says why, and a voice stage that fails
//! mid-stream is replaced for that very block, with output identical to a CPU-only render.
#![cfg(feature = "cuda")]

mod cuda_support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ambientctl::SynthesisParameters;
use ambientd::engine::generator::Generator;
use ambientd::render::render_with;
use ambientd::synth::bus::{Bus, BusBuffers};
use ambientd::synth::cpu::CpuVoiceStage;
use ambientd::synth::cuda::{CudaUnavailable, CudaVoiceStage};
use ambientd::synth::voice::Voice;
use ambientd::synth::{BackendChoice, RenderError, VoiceStage, select_stage};
use cuda_support::build_stub_libcuda;

fn params() -> SynthesisParameters {
    SynthesisParameters::new("E minor".parse().unwrap(), 76, 0.7, 12).unwrap()
}

/// Whether this machine has no libcuda at all (then the no-library path is what runs here).
fn no_libcuda_here() -> bool {
    matches!(CudaVoiceStage::new(0), Err(CudaUnavailable::NoLibrary))
}

/// `ambientd render` for 3 s into `dir/<name>.wav`, with `LD_LIBRARY_PATH` set if given.
fn render_cli(dir: &Path, name: &str, backend: &str, library_path: Option<&Path>) -> Output {
    let out = dir.join(format!("{name}.wav"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_ambientd"));
    command.args([
        "render",
        "--seconds",
        "3",
        "--seed",
        "4",
        "--backend",
        backend,
    ]);
    command.arg("--out").arg(&out);
    if let Some(path) = library_path {
        command.env("LD_LIBRARY_PATH", path);
    }
    let output = command.output().expect("run ambientd");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn wav(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(format!("{name}.wav"))).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_cpu_backend_is_taken_as_configured() {
    let selected = select_stage(BackendChoice::Cpu);
    assert_eq!(selected.stage.name(), "cpu");
    assert_eq!(selected.reason, "cpu: configured");
    assert!(!selected.warning);
}

#[test]
fn without_libcuda_auto_starts_on_the_cpu_and_says_so() {
    if !no_libcuda_here() {
        println!("skipped: this machine has a libcuda");
        return;
    }
    let selected = select_stage(BackendChoice::Auto);
    assert_eq!(selected.stage.name(), "cpu");
    assert_eq!(selected.reason, "cpu: no libcuda");
    assert!(
        !selected.warning,
        "auto falling back is normal, not a warning"
    );

    let mut generator = Generator::with_stage(params(), selected.stage);
    let samples = render_with(&mut generator, 5.0, &[]);
    assert_eq!(samples, ambientd::render::render(params(), 5.0, &[]));
    assert!(samples.iter().any(|&s| s != 0.0), "the music plays");
}

#[test]
fn without_libcuda_a_forced_cuda_backend_warns_and_plays_on_the_cpu() {
    if !no_libcuda_here() {
        println!("skipped: this machine has a libcuda");
        return;
    }
    let selected = select_stage(BackendChoice::Cuda);
    assert_eq!(selected.stage.name(), "cpu");
    assert!(selected.warning);
    assert_eq!(
        selected.reason,
        "cpu: no libcuda (backend \"cuda\" was configured)"
    );

    let dir = tempfile::tempdir().unwrap();
    let forced = render_cli(dir.path(), "forced", "cuda", None);
    assert!(
        text(&forced.stderr).contains("warning: voice stage cpu: no libcuda"),
        "{}",
        text(&forced.stderr)
    );
    render_cli(dir.path(), "cpu", "cpu", None);
    assert_eq!(wav(dir.path(), "forced"), wav(dir.path(), "cpu"));
}

#[test]
fn a_libcuda_without_a_device_falls_back_to_identical_cpu_output() {
    let dir = tempfile::tempdir().unwrap();
    let stub = build_stub_libcuda(dir.path());

    let cpu = render_cli(dir.path(), "cpu", "cpu", None);
    assert!(
        text(&cpu.stdout).contains("voice stage cpu: configured"),
        "{}",
        text(&cpu.stdout)
    );

    let auto = render_cli(dir.path(), "auto", "auto", Some(&stub));
    let no_device =
        "cpu: no CUDA device (CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected)";
    assert!(
        text(&auto.stdout).contains(&format!("voice stage {no_device}")),
        "{}",
        text(&auto.stdout)
    );
    assert!(
        !text(&auto.stderr).contains("warning"),
        "{}",
        text(&auto.stderr)
    );
    assert_eq!(wav(dir.path(), "auto"), wav(dir.path(), "cpu"));

    let forced = render_cli(dir.path(), "forced", "cuda", Some(&stub));
    assert!(
        text(&forced.stderr).contains(&format!(
            "warning: voice stage {no_device} (backend \"cuda\" was configured)"
        )),
        "{}",
        text(&forced.stderr)
    );
    assert_eq!(wav(dir.path(), "forced"), wav(dir.path(), "cpu"));
}

/// A GPU stand-in: renders like the CPU until block `fail_at`, where it scribbles over the
/// buffers and fails, as a GPU that dies mid-copy would.
struct FailingStage {
    calls: Arc<AtomicUsize>,
    fail_at: usize,
    cpu: CpuVoiceStage,
}

impl VoiceStage for FailingStage {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn render(&mut self, voices: &[Voice], out: &mut BusBuffers) -> Result<(), RenderError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        if call >= self.fail_at {
            for bus in [Bus::Pad, Bus::Bass, Bus::Lead] {
                out.channel_mut(bus, 0).fill(f32::NAN);
                out.channel_mut(bus, 1).fill(1.0);
            }
            return Err(RenderError::Device);
        }
        self.cpu.render(voices, out)
    }

    fn last_error(&self) -> Option<String> {
        Some("CUDA_ERROR_LAUNCH_FAILED: unspecified launch failure".into())
    }
}

#[test]
fn a_stage_failing_mid_stream_is_replaced_for_that_block_with_no_trace_in_the_audio() {
    let calls = Arc::new(AtomicUsize::new(0));
    let stage = FailingStage {
        calls: Arc::clone(&calls),
        fail_at: 700, // about 8 s in, mid-phrase with notes sounding
        cpu: CpuVoiceStage::default(),
    };
    let mut generator = Generator::with_stage(params(), Box::new(stage));
    assert_eq!(generator.stage_name(), "cuda");
    let samples = render_with(&mut generator, 20.0, &[]);

    assert_eq!(generator.stage_failures(), 1, "counted once");
    assert_eq!(generator.stage_name(), "cpu");
    assert_eq!(
        calls.load(Ordering::Relaxed),
        701,
        "the failed stage is not asked again"
    );
    let failed = generator
        .take_failed_stage()
        .expect("the failed stage is handed over");
    assert_eq!(
        failed.last_error().as_deref(),
        Some("CUDA_ERROR_LAUNCH_FAILED: unspecified launch failure")
    );
    assert!(generator.take_failed_stage().is_none(), "only once");
    assert_eq!(generator.stage_name(), "cpu");
    assert!(samples.iter().all(|s| s.is_finite()));
    // No gap and no click: the output is the CPU-only render, sample for sample.
    let reference = ambientd::render::render(params(), 20.0, &[]);
    assert_eq!(samples.len(), reference.len());
    let first_difference = samples
        .iter()
        .zip(&reference)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first_difference, None);
}
