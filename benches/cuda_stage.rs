//! The voice stage on the CPU and on a CUDA GPU: time per 512-frame block by voice count
//! (GPU: upload, kernel and download from CUDA events, plus the wall time of a whole
//! `render`), a batched launch, and real music through the generator (the voice stage's
//! real-time factor and its share of the full render). Prints "skipped: no CUDA device (…)"
//! for the GPU columns where there is none.
//!
//! `cargo bench --bench cuda_stage` (a fixed, short run, so it fits a borrowed GPU's time).

#[path = "../tests/cuda_support/mod.rs"]
mod cuda_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ambientctl::SynthesisParameters;
use ambientd::audio::{BLOCK_FRAMES, SAMPLE_RATE};
use ambientd::engine::generator::Generator;
use ambientd::render::render_with;
use ambientd::synth::bus::{BusBuffers, NUM_BUSES};
use ambientd::synth::cpu::CpuVoiceStage;
use ambientd::synth::cuda::{BATCH_CAPACITY, CudaVoiceStage, StageTimings};
use ambientd::synth::voice::Voice;
use ambientd::synth::{RenderError, VoiceStage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const REPS: usize = 300;
const BLOCK_MS: f64 = BLOCK_FRAMES as f64 * 1e3 / SAMPLE_RATE as f64;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median microseconds of `f` over `REPS` calls, after a few unmeasured ones.
fn time_us(mut f: impl FnMut()) -> f64 {
    for _ in 0..10 {
        f();
    }
    median(
        (0..REPS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    )
}

fn median_timings(samples: &[StageTimings]) -> StageTimings {
    StageTimings {
        upload_us: median(samples.iter().map(|t| t.upload_us).collect()),
        kernel_us: median(samples.iter().map(|t| t.kernel_us).collect()),
        download_us: median(samples.iter().map(|t| t.download_us).collect()),
    }
}

fn random_voices(count: usize, rng: &mut ChaCha8Rng) -> Vec<Voice> {
    (0..count)
        .map(|_| cuda_support::random_voice(rng))
        .collect()
}

fn per_block(gpu: &mut Option<CudaVoiceStage>) {
    println!("\n== one 512-frame block ({BLOCK_MS:.2} ms of audio), median of {REPS}");
    println!(
        "voices | cpu us  (rtf)   | gpu render us (rtf) | upload us | kernel us | download us"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut cpu = CpuVoiceStage::default();
    let mut out = BusBuffers::new();
    for count in [8, 32, 64, 128, 256] {
        let voices = random_voices(count, &mut rng);
        let cpu_us = time_us(|| {
            out.clear(BLOCK_FRAMES);
            cpu.render(&voices, &mut out).unwrap();
        });
        let cpu_rtf = BLOCK_MS * 1e3 / cpu_us;
        let Some(stage) = gpu.as_mut() else {
            println!("{count:6} | {cpu_us:7.1} ({cpu_rtf:6.0}x) | skipped");
            continue;
        };
        let gpu_us = time_us(|| {
            out.clear(BLOCK_FRAMES);
            stage.render(&voices, &mut out).unwrap();
        });
        let profiled: Vec<StageTimings> = (0..REPS)
            .map(|_| stage.profile_block(&voices, &mut out).unwrap())
            .collect();
        let t = median_timings(&profiled);
        println!(
            "{count:6} | {cpu_us:7.1} ({cpu_rtf:6.0}x) | {gpu_us:9.1} ({:6.0}x) | {:9.1} | {:9.1} | {:11.1}",
            BLOCK_MS * 1e3 / gpu_us,
            t.upload_us,
            t.kernel_us,
            t.download_us
        );
    }
}

fn batched(gpu: &mut Option<CudaVoiceStage>) {
    println!("\n== a batch of {BATCH_CAPACITY} blocks in one launch (real music), median of 50");
    let Some(stage) = gpu.as_mut() else {
        println!("skipped: no CUDA device");
        return;
    };
    let params = SynthesisParameters::new("A minor".parse().unwrap(), 70, 1.0, 7).unwrap();
    let blocks = cuda_support::score_blocks(params, 3_000);
    let blocks = &blocks[3_000 - BATCH_CAPACITY..];
    let voices: usize = blocks.iter().map(Vec::len).sum();
    let mut starts = vec![0u32];
    for block in blocks {
        starts.push(starts.last().unwrap() + block.len() as u32);
    }
    let all = blocks.concat();
    let mut out = vec![0.0f32; BATCH_CAPACITY * NUM_BUSES * 2 * BLOCK_FRAMES];
    let samples: Vec<StageTimings> = (0..60)
        .map(|_| {
            stage
                .profile_batch(&all, &starts, BLOCK_FRAMES, &mut out)
                .unwrap()
        })
        .skip(10)
        .collect();
    let t = median_timings(&samples);
    let total = t.upload_us + t.kernel_us + t.download_us;
    println!(
        "{} voices in {BATCH_CAPACITY} blocks ({:.0} ms of audio): upload {:.1} us, kernel {:.1} us \
         ({:.2} us per block), download {:.1} us; {:.2} us per block in all (rtf {:.0}x)",
        voices,
        BLOCK_MS * BATCH_CAPACITY as f64,
        t.upload_us,
        t.kernel_us,
        t.kernel_us / BATCH_CAPACITY as f64,
        t.download_us,
        total / BATCH_CAPACITY as f64,
        BLOCK_MS * 1e3 * BATCH_CAPACITY as f64 / total
    );
}

/// A voice stage that adds the time it spends to a shared counter.
struct Timed {
    inner: Box<dyn VoiceStage>,
    nanos: Arc<AtomicU64>,
}

impl VoiceStage for Timed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn render(&mut self, voices: &[Voice], out: &mut BusBuffers) -> Result<(), RenderError> {
        let start = Instant::now();
        let result = self.inner.render(voices, out);
        let spent = start.elapsed().as_nanos() as u64;
        self.nanos.fetch_add(spent, Ordering::Relaxed);
        result
    }

    // Forwarded, so the generator batches for the GPU as it would without the timer.
    fn batch_capacity(&self) -> usize {
        self.inner.batch_capacity()
    }

    fn render_batch(
        &mut self,
        voices: &[Voice],
        starts: &[u32],
        out: &mut [BusBuffers],
    ) -> Result<(), RenderError> {
        let start = Instant::now();
        let result = self.inner.render_batch(voices, starts, out);
        let spent = start.elapsed().as_nanos() as u64;
        self.nanos.fetch_add(spent, Ordering::Relaxed);
        result
    }
}

/// Renders `seconds` of real music on `stage`; prints the voice stage's and the whole
/// render's real-time factors. Returns the samples.
fn real_music(label: &str, stage: Box<dyn VoiceStage>, intensity: f32) -> Vec<f32> {
    let seconds = 60.0;
    let params = SynthesisParameters::new("D minor".parse().unwrap(), 64, intensity, 3).unwrap();
    let nanos = Arc::new(AtomicU64::new(0));
    let timed = Timed {
        inner: stage,
        nanos: Arc::clone(&nanos),
    };
    let mut generator = Generator::with_stage(params, Box::new(timed));
    let start = Instant::now();
    let samples = render_with(&mut generator, seconds, &[]);
    let total = start.elapsed().as_secs_f64();
    let stage_s = nanos.load(Ordering::Relaxed) as f64 * 1e-9;
    let blocks = (seconds * f64::from(SAMPLE_RATE) / BLOCK_FRAMES as f64).ceil();
    println!(
        "{label:4} intensity {intensity}: {:.2} voices/frame avg; voice stage {:.1} us/block, \
         rtf {:.0}x; whole render rtf {:.0}x; voice stage = {:.0}% of the render{}",
        generator.voice_frames() as f64 / (seconds * f64::from(SAMPLE_RATE)),
        stage_s * 1e6 / blocks,
        seconds / stage_s,
        seconds / total,
        100.0 * stage_s / total,
        if generator.stage_failures() > 0 {
            " (FELL BACK TO THE CPU)"
        } else {
            ""
        }
    );
    samples
}

fn end_to_end() {
    println!(
        "\n== 60 s of real music through the generator (one thread; the GPU in batches of up \
         to {BATCH_CAPACITY} blocks)"
    );
    for intensity in [0.5, 1.0] {
        let cpu = real_music("cpu", Box::new(CpuVoiceStage::default()), intensity);
        match CudaVoiceStage::new(0) {
            Ok(stage) => {
                let gpu = real_music("cuda", Box::new(stage), intensity);
                let identical = gpu == cpu;
                println!("     cuda output identical to cpu: {identical}");
            }
            Err(why) => println!("cuda intensity {intensity}: skipped: no CUDA device ({why})"),
        }
    }
}

fn main() {
    let start = Instant::now();
    let mut gpu = match CudaVoiceStage::new(0) {
        Ok(stage) => {
            println!(
                "GPU: {} (set up in {:?})",
                stage.device_name(),
                start.elapsed()
            );
            Some(stage)
        }
        Err(why) => {
            println!("GPU: skipped: no CUDA device ({why})");
            None
        }
    };
    per_block(&mut gpu);
    batched(&mut gpu);
    drop(gpu);
    end_to_end();
}
