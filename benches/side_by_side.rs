//! ambientd's half of the side-by-side with torchsynth (`benches/side_by_side.sh` alternates
//! it with `../shared/anchors/torchsynth_bench.py`): the anchor's cases at the same audio
//! seconds, timed by the anchor's rules (construction outside the timing, 1 warm-up, then
//! repeats, median and min). Not criterion: one short fixed run whose JSON the script pairs
//! with torchsynth's.
//!
//! Two figures per case:
//! - `engine`: the generator alone, one thread, 100 ms chunks into one reused buffer (the
//!   daemon's generation thread);
//! - `render`: what `ambientd render` does, `render::stream::render_to` (the render thread
//!   plus its writer thread: loudness, PCM16, WAV) into a sink, so no disk in the figure.
//!
//! A case of N notes is N independent renders of 4 s from N seeds (the whole music: several
//! voices, delay and reverb, stereo), so ambientd's audio seconds are the anchor's
//! voice-seconds and its work is a superset of it. `cargo bench --bench side_by_side -- --json`
//! prints one JSON line on stdout; the table goes to stderr.

use std::time::Instant;

use ambientctl::SynthesisParameters;
use ambientd::audio::{BLOCK_FRAMES, CHANNELS, CHUNK_FRAMES, SAMPLE_RATE};
use ambientd::engine::generator::Generator;
use ambientd::render::stream::render_to;

const REPEATS: usize = 5;
const BLOCK_CALLS: usize = 400;

fn params(seed: u64) -> SynthesisParameters {
    SynthesisParameters::new("A minor".parse().unwrap(), 70, 0.5, seed).unwrap()
}

/// Median and min of `f` over `REPEATS` timed runs after one warm-up; `setup` runs outside.
fn time<S>(mut setup: impl FnMut(usize) -> S, mut f: impl FnMut(S)) -> (f64, f64) {
    f(setup(0));
    let mut times: Vec<f64> = (1..=REPEATS)
        .map(|repeat| {
            let state = setup(repeat);
            let start = Instant::now();
            f(state);
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[REPEATS / 2], times[0])
}

fn engine(generators: Vec<Generator>, seconds: f64) {
    let mut chunk = vec![0.0f32; CHUNK_FRAMES * CHANNELS];
    let frames = (seconds * f64::from(SAMPLE_RATE)).round() as usize;
    for mut generator in generators {
        let mut done = 0;
        while done < frames {
            let n = CHUNK_FRAMES.min(frames - done);
            generator.render(&mut chunk[..n * CHANNELS]);
            done += n;
        }
        assert!(chunk.iter().all(|s| s.is_finite()));
    }
}

fn render(generators: Vec<Generator>, seconds: f64) {
    for mut generator in generators {
        let rendered = render_to(&mut generator, seconds, &[], std::io::sink(), &mut |_| {})
            .expect("a sink takes everything");
        assert!(rendered.levels.integrated_lufs.is_finite(), "silent render");
    }
}

struct Case {
    label: String,
    notes: usize,
    seconds: f64,
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let mut cases: Vec<Case> = [1, 8, 32]
        .into_iter()
        .map(|notes| Case {
            label: format!("voice 4s b{notes}"),
            notes,
            seconds: 4.0,
        })
        .collect();
    cases.push(Case {
        label: "pad 1 note 30s".into(),
        notes: 1,
        seconds: 30.0,
    });
    cases.push(Case {
        label: "pad 4-note chord 30s".into(),
        notes: 4,
        seconds: 30.0,
    });
    // The render a user runs, for the goal against the engine's chunked speed.
    cases.push(Case {
        label: "music 600s".into(),
        notes: 1,
        seconds: 600.0,
    });
    eprintln!(
        "{:<22}{:>9}{:>12}{:>11}{:>12}{:>11}",
        "case", "audio s", "engine s", "engine RTF", "render s", "render RTF"
    );
    let mut rows = Vec::new();
    for case in &cases {
        let audio = case.notes as f64 * case.seconds;
        let generators = |repeat: usize| -> Vec<Generator> {
            (0..case.notes)
                .map(|n| Generator::new(params((repeat * 1000 + n) as u64)))
                .collect()
        };
        let (engine_s, engine_min) = time(generators, |g| engine(g, case.seconds));
        let (render_s, render_min) = time(generators, |g| render(g, case.seconds));
        eprintln!(
            "{:<22}{:>9.1}{:>12.4}{:>11.1}{:>12.4}{:>11.1}",
            case.label,
            audio,
            engine_s,
            audio / engine_s,
            render_s,
            audio / render_s
        );
        rows.push(format!(
            "{{\"label\":\"{}\",\"audio_seconds\":{audio},\"engine_median_s\":{engine_s:.6},\
             \"engine_min_s\":{engine_min:.6},\"engine_rtf_median\":{:.2},\
             \"render_median_s\":{render_s:.6},\"render_min_s\":{render_min:.6},\
             \"render_rtf_median\":{:.2}}}",
            case.label,
            audio / engine_s,
            audio / render_s
        ));
    }
    let (block_median, block_min) = block_times();
    let block_audio = BLOCK_FRAMES as f64 / f64::from(SAMPLE_RATE);
    eprintln!(
        "block {BLOCK_FRAMES} frames: median {:.1} µs (min {:.1}), RTF {:.0}",
        block_median * 1e6,
        block_min * 1e6,
        block_audio / block_median
    );
    if json {
        println!(
            "{{\"bench\":\"ambientd_side_by_side\",\"schema\":1,\"threads\":{{\"engine\":1,\
             \"render\":2}},\"cases\":[{}],\"block\":{{\"frames\":{BLOCK_FRAMES},\
             \"median_s\":{block_median:.9},\"min_s\":{block_min:.9},\"rtf_median\":{:.1}}}}}",
            rows.join(","),
            block_audio / block_median
        );
    }
}

/// One 512-frame block per call, `BLOCK_CALLS` calls timed one by one after a 30 s warm-up
/// (the first phrase composed, the reverb filled): median and min per call.
fn block_times() -> (f64, f64) {
    let mut generator = Generator::new(params(1));
    let mut block = vec![0.0f32; BLOCK_FRAMES * CHANNELS];
    for _ in 0..(30 * SAMPLE_RATE as usize / BLOCK_FRAMES) {
        generator.render(&mut block);
    }
    let mut times: Vec<f64> = (0..BLOCK_CALLS)
        .map(|_| {
            let start = Instant::now();
            generator.render(&mut block);
            start.elapsed().as_secs_f64()
        })
        .collect();
    assert!(block.iter().all(|s| s.is_finite()));
    times.sort_by(f64::total_cmp);
    (times[BLOCK_CALLS / 2], times[0])
}
