//! Property tests of the composer: every progression, melody and note event it writes obeys
//! the data model's rules, for random seeds, keys, tempos and intensities, across phrase
//! boundaries and parameter changes.

use ambientctl::{Key, SynthesisParameters};
use ambientd::music::{Composer, Instrument, PHRASE_BARS, Phrase};
use proptest::prelude::*;

const TONICS: [&str; 17] = [
    "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B",
];

fn key_strategy() -> impl Strategy<Value = Key> {
    (0..TONICS.len(), any::<bool>()).prop_map(|(tonic, minor)| {
        let mode = if minor { " minor" } else { " major" };
        format!("{}{mode}", TONICS[tonic]).parse().unwrap()
    })
}

fn params_strategy() -> impl Strategy<Value = SynthesisParameters> {
    (key_strategy(), 40u16..=120, 0.0f32..=1.0, any::<u64>()).prop_map(
        |(key, bpm, intensity, seed)| SynthesisParameters::new(key, bpm, intensity, seed).unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_phrase_validates(seed in any::<u64>(), settings in prop::collection::vec(params_strategy(), 1..6)) {
        let mut composer = Composer::new(seed);
        let mut phrase = Phrase::with_capacity();
        for params in &settings {
            for _ in 0..3 {
                composer.compose(params, &mut phrase);
                prop_assert!(phrase.validate().is_ok(), "{:?}", phrase.validate());
                prop_assert_eq!(phrase.progression.length_bars(), PHRASE_BARS);
                prop_assert!(phrase.events.iter().any(|e| e.instrument == Instrument::Pad));
                prop_assert!(phrase.events.iter().any(|e| e.instrument == Instrument::Bass));
                prop_assert!(!phrase.melody.notes.is_empty());
            }
        }
    }

    #[test]
    fn same_seed_same_music(seed in any::<u64>(), params in params_strategy()) {
        let mut a = (Composer::new(seed), Phrase::with_capacity());
        let mut b = (Composer::new(seed), Phrase::with_capacity());
        for _ in 0..3 {
            a.0.compose(&params, &mut a.1);
            b.0.compose(&params, &mut b.1);
            prop_assert_eq!(&a.1.events, &b.1.events);
        }
    }
}

/// Pads move smoothly: on average each voice moves at most a few semitones per chord change.
#[test]
fn pad_voices_lead_smoothly() {
    let params = SynthesisParameters::default();
    let mut composer = Composer::new(11);
    let mut phrase = Phrase::with_capacity();
    let (mut moves, mut changes) = (0u32, 0u32);
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..20 {
        composer.compose(&params, &mut phrase);
        let bar = phrase.bar_sec();
        for b in 0..PHRASE_BARS {
            let t = b as f64 * bar + 1e-6;
            let mut sounding: Vec<u8> = phrase
                .events
                .iter()
                .filter(|e| e.instrument == Instrument::Pad)
                .filter(|e| e.onset_sec <= t && t < e.onset_sec + e.duration_sec)
                .map(|e| e.pitch)
                .collect();
            sounding.sort_unstable();
            if previous.len() == sounding.len() {
                moves += previous
                    .iter()
                    .zip(&sounding)
                    .map(|(a, b)| a.abs_diff(*b) as u32)
                    .sum::<u32>();
                changes += sounding.len() as u32;
            }
            previous = sounding;
        }
    }
    let mean = f64::from(moves) / f64::from(changes);
    assert!(
        changes > 400 && mean < 2.5,
        "mean movement {mean} semitones per voice over {changes}"
    );
}

/// Intensity sets density: more melody notes and more pad voices when it is high.
#[test]
fn intensity_sets_density() {
    let count = |intensity: f32| {
        let params = SynthesisParameters::new(Key::A_MINOR, 70, intensity, 5).unwrap();
        let mut composer = Composer::new(5);
        let mut phrase = Phrase::with_capacity();
        (0..10)
            .map(|_| {
                composer.compose(&params, &mut phrase);
                phrase.melody.notes.len()
            })
            .sum::<usize>()
    };
    let (sparse, dense) = (count(0.0), count(1.0));
    assert!(
        dense > 2 * sparse,
        "{sparse} melody notes at 0, {dense} at 1"
    );
}
