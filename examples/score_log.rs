//! The composer's own log, one JSON line per phrase, for `docs/analysis/measure.py log`:
//! chords per bar, cadence, melody notes, texture. The generator composes exactly this
//! sequence of phrases when no parameter changes.
//!
//! `cargo run --release --example score_log -- SEED MINUTES [BPM] [KEY] [INTENSITY]`

use ambientctl::SynthesisParameters;
use ambientd::music::{Composer, Instrument, Phrase};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.to_string());
    let seed: u64 = arg(0, "1").parse().expect("seed");
    let minutes: f64 = arg(1, "10").parse().expect("minutes");
    let bpm: u16 = arg(2, "70").parse().expect("bpm");
    let key = arg(3, "A minor").parse().expect("key");
    let intensity: f32 = arg(4, "0.5").parse().expect("intensity");
    let params = SynthesisParameters::new(key, bpm, intensity, seed).expect("params");
    let mut composer = Composer::new(seed);
    let mut phrase = Phrase::with_capacity();
    let mut elapsed = 0.0;
    while elapsed < minutes * 60.0 {
        composer.compose(&params, &mut phrase);
        let count = |i: Instrument| phrase.events.iter().filter(|e| e.instrument == i).count();
        println!(
            "{{\"seconds\":{:.3},\"chords\":{:?},\"cadence\":{},\"lead_notes\":{},\"bass_notes\":{},\"pad_notes\":{},\"recalled\":{},\"energy\":{:.2},\"ending\":{},\"onsets_above_c5\":{}}}",
            phrase.duration_sec(),
            phrase.progression.chords,
            phrase.progression.cadence().is_some(),
            count(Instrument::Lead),
            count(Instrument::Bass),
            count(Instrument::Pad),
            phrase.recalled,
            phrase.shape.energy,
            phrase.shape.ending,
            // Every onset at C5 or above, whoever plays it: what a pitch transcriber of the
            // audio would count as "melody" at the top (the figure).
            phrase.events.iter().filter(|e| e.pitch >= 72).count(),
        );
        elapsed += phrase.duration_sec();
    }
}
