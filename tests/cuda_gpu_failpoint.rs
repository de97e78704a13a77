//! Runtime fallback on a real GPU: the `cuda-voice-stage` fail point makes the CUDA stage
//! return an error mid-stream; the generator renders that very block and the rest on the CPU,
//! with no gap or click (the output equals a CPU-only render). Needs `--features failpoints`
//! and a GPU, so it is `#[ignore]`d (listed as ignored, never as passed, without one); on a GPU
//! machine: `cargo test --all-features --test cuda_gpu_failpoint -- --ignored`. Its own test
//! binary, because fail points are process-wide.
#![cfg(all(feature = "cuda", feature = "failpoints"))]

use ambientctl::SynthesisParameters;
use ambientd::engine::generator::Generator;
use ambientd::render::render_with;
use ambientd::synth::cuda::CudaVoiceStage;

#[test]
#[ignore = "needs a CUDA GPU: cargo test --all-features --test cuda_gpu_failpoint -- --ignored"]
fn a_cuda_error_mid_stream_switches_to_the_cpu_for_that_very_block() {
    let stage = CudaVoiceStage::new(0)
        .unwrap_or_else(|why| panic!("needs a CUDA device, and there is none ({why})"));
    println!("on {}", stage.device_name());
    let params = SynthesisParameters::new("C major".parse().unwrap(), 90, 0.8, 31).unwrap();
    let scenario = fail::FailScenario::setup();
    // 900 good blocks (about 10 s), then every call fails.
    fail::cfg("cuda-voice-stage", "900*off->return").unwrap();
    let mut generator = Generator::with_stage(params, Box::new(stage));
    let samples = render_with(&mut generator, 20.0, &[]);
    scenario.teardown();

    assert_eq!(generator.stage_failures(), 1);
    assert_eq!(generator.stage_name(), "cpu");
    assert!(samples.iter().all(|s| s.is_finite()));
    let cpu = ambientd::render::render(params, 20.0, &[]);
    let worst = samples
        .iter()
        .zip(&cpu)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let largest_step = samples
        .chunks(2)
        .zip(samples.chunks(2).skip(1))
        .fold(0.0f32, |m, (a, b)| m.max((a[0] - b[0]).abs()));
    println!(
        "after the fail point: max difference from the CPU render {worst:e}, largest step {largest_step:e}"
    );
    assert!(worst <= 1e-4, "{worst}");
}
