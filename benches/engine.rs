//! Engine benchmarks: composing a phrase, rendering a whole 8-bar phrase through the full
//! chain on one core (dispatched SIMD and the SSE2 baseline), the voice stage alone, and the
//! post stage alone. "SSE2 baseline" is the voice stage's choice; the post stage always
//! dispatches (AVX-512, AVX2, … at run time), so the baseline phrase figure is SSE2 voices
//! plus dispatched post.

use std::hint::black_box;

use ambientctl::SynthesisParameters;
use ambientd::audio::{BLOCK_FRAMES, CHANNELS, CHUNK_FRAMES, SAMPLE_RATE};
use ambientd::engine::generator::Generator;
use ambientd::music::{Composer, Phrase};
use ambientd::synth::VoiceStage;
use ambientd::synth::bus::BusBuffers;
use ambientd::synth::cpu::{CpuVoiceStage, Simd};
use ambientd::synth::post::{PostControls, PostStage};
use ambientd::synth::score::{MAX_VOICES, Score};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn params() -> SynthesisParameters {
    SynthesisParameters::new("A minor".parse().unwrap(), 70, 0.5, 7).unwrap()
}

/// Frames in one 8-bar phrase at 70 bpm (27.4 s).
fn phrase_frames() -> usize {
    let mut phrase = Phrase::with_capacity();
    Composer::new(7).compose(&params(), &mut phrase);
    (phrase.duration_sec() * f64::from(SAMPLE_RATE)).round() as usize
}

fn compose(c: &mut Criterion) {
    let mut composer = Composer::new(7);
    let mut phrase = Phrase::with_capacity();
    let p = params();
    c.bench_function(
        "compose one 8-bar phrase (chords, voicings, bass, melody)",
        |b| b.iter(|| composer.compose(black_box(&p), &mut phrase)),
    );
}

fn render_phrase(c: &mut Criterion) {
    let frames = phrase_frames();
    let mut group = c.benchmark_group("render one 8-bar phrase at 70 bpm, full chain, one core");
    group.sample_size(10);
    for (label, simd) in [
        ("dispatched SIMD", Simd::Dispatch),
        ("SSE2 baseline", Simd::Baseline),
    ] {
        // Each iteration renders the same phrase from a fresh generator, as the daemon would
        // render its first phrase; the construction is outside the timing.
        let mut out = vec![0.0f32; frames * CHANNELS];
        let mut probe = Generator::with_stage(params(), Box::new(CpuVoiceStage::new(simd)));
        probe.render(&mut out);
        let voice_frames = probe.voice_frames();
        println!("{label}: {frames} frames, {voice_frames} voice-frames per phrase");
        group.throughput(Throughput::Elements(frames as u64));
        group.bench_function(label, |b| {
            b.iter_batched_ref(
                || Generator::with_stage(params(), Box::new(CpuVoiceStage::new(simd))),
                |generator| generator.render(&mut out),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    // The same phrase rendered the way the daemon's generation thread renders: 100 ms chunks
    // into one reused buffer (which it then copies into the 2 s ring). The rows above write
    // the whole 9.7 MB phrase to memory, which costs about a millisecond of its own.
    let mut chunk = vec![0.0f32; CHUNK_FRAMES * CHANNELS];
    group.bench_function(
        "dispatched SIMD, in 100 ms chunks as the daemon renders",
        |b| {
            b.iter_batched_ref(
                || Generator::with_stage(params(), Box::new(CpuVoiceStage::new(Simd::Dispatch))),
                |generator| {
                    for _ in 0..frames.div_ceil(CHUNK_FRAMES) {
                        generator.render(&mut chunk);
                    }
                },
                criterion::BatchSize::LargeInput,
            )
        },
    );
    group.finish();
}

fn voice_stage(c: &mut Criterion) {
    // The voices of a block in the middle of a phrase (chord + bass + lead + tails).
    let mut phrase = Phrase::with_capacity();
    Composer::new(7).compose(&params(), &mut phrase);
    let mut score = Score::new(SAMPLE_RATE);
    score.add_phrase(&phrase, 0);
    let start = 10 * u64::from(SAMPLE_RATE);
    let mut voices = Vec::with_capacity(MAX_VOICES);
    score.voices(start, BLOCK_FRAMES, (0.5, 0.5), &mut voices);
    let mut buses = BusBuffers::new();
    let mut group = c.benchmark_group(format!("voice stage, one {BLOCK_FRAMES}-frame block"));
    group.throughput(Throughput::Elements((voices.len() * BLOCK_FRAMES) as u64));
    for (label, simd) in [
        ("dispatched SIMD", Simd::Dispatch),
        ("SSE2 baseline", Simd::Baseline),
    ] {
        let mut stage = CpuVoiceStage::new(simd);
        group.bench_function(format!("{label}, {} voices", voices.len()), |b| {
            b.iter(|| {
                buses.clear(BLOCK_FRAMES);
                stage.render(black_box(&voices), &mut buses).unwrap();
            })
        });
    }
    group.finish();
}

fn post_stage(c: &mut Criterion) {
    // Real bus audio: the voices of a block in the middle of a phrase, as in `voice_stage`.
    let mut phrase = Phrase::with_capacity();
    Composer::new(7).compose(&params(), &mut phrase);
    let mut score = Score::new(SAMPLE_RATE);
    score.add_phrase(&phrase, 0);
    let mut voices = Vec::with_capacity(MAX_VOICES);
    score.voices(
        10 * u64::from(SAMPLE_RATE),
        BLOCK_FRAMES,
        (0.5, 0.5),
        &mut voices,
    );
    let mut buses = BusBuffers::new();
    CpuVoiceStage::default()
        .render(&voices, &mut buses)
        .unwrap();
    let controls = PostControls::new(0.5, 70.0);
    let mut post = PostStage::new(SAMPLE_RATE);
    let mut out = vec![0.0f32; BLOCK_FRAMES * CHANNELS];
    // Ten seconds first, so the reverb, delay and leveller are in their steady state.
    for _ in 0..10 * SAMPLE_RATE as usize / BLOCK_FRAMES {
        post.process(&buses, &controls, &mut out);
    }
    let mut group = c.benchmark_group("post stage, one block");
    // Elements are stereo frames: the time per element is the time per frame.
    group.throughput(Throughput::Elements(BLOCK_FRAMES as u64));
    group.bench_function(format!("{BLOCK_FRAMES} frames"), |b| {
        b.iter(|| post.process(black_box(&buses), &controls, &mut out))
    });
    group.finish();
}

criterion_group!(benches, compose, render_phrase, voice_stage, post_stage);
criterion_main!(benches);
