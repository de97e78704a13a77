//! Property tests of the composer: every progression, melody and note event it writes obeys
//! the data model's rules, for random seeds, keys, tempos and intensities, across phrase
//! boundaries and parameter changes; and the rules of its form hold over many phrases:
//! tonic openings, cadences, harmonic rhythm in seconds, rests, ties, no beating bass.

use ambientctl::{Key, SynthesisParameters};
use ambientd::music::harmony::MIN_CHORD_SEC;
use ambientd::music::voicing::BASS_GAP_SEC;
use ambientd::music::{Composer, Instrument, NoteEvent, PHRASE_BARS, Phrase};
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
                // The bass and the lead may rest for a phrase (the form thins the texture);
                // a phrase that is not tied over from the last one strikes its pads.
                prop_assert!(
                    phrase.events.iter().any(|e| e.instrument == Instrument::Pad)
                        || phrase.progression.chords[0] == phrase.progression.chords[PHRASE_BARS - 1]
                );
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

/// Pads move smoothly: on average each voice lies at most a few semitones from a voice of
/// the chord before (sampled just after each chord's rolled attack).
#[test]
fn pad_voices_lead_smoothly() {
    let params = SynthesisParameters::default();
    let mut composer = Composer::new(11);
    let mut phrase = Phrase::with_capacity();
    let (mut moves, mut changes) = (0u32, 0u32);
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..40 {
        composer.compose(&params, &mut phrase);
        let bar = phrase.bar_sec();
        let (starts, n) = phrase.progression.segments();
        for &start in &starts[..n] {
            let t = start as f64 * bar + 0.6;
            let mut sounding: Vec<u8> = phrase
                .events
                .iter()
                .filter(|e| e.instrument == Instrument::Pad)
                .filter(|e| e.onset_sec <= t && t < e.onset_sec + e.duration_sec)
                .map(|e| e.pitch)
                .collect();
            sounding.sort_unstable();
            // Each voice against the nearest voice of the chord before (the number of
            // voices changes over a phrase: thinner at its edges, fuller at its swell).
            if !previous.is_empty() && !sounding.is_empty() {
                for pitch in &sounding {
                    let nearest = previous.iter().map(|p| p.abs_diff(*pitch)).min();
                    moves += u32::from(nearest.unwrap_or(0));
                }
                changes += sounding.len() as u32;
            }
            previous = sounding;
        }
    }
    let mean = f64::from(moves) / f64::from(changes);
    assert!(
        changes > 100 && mean < 2.5,
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
        (0..30)
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

/// `count` phrases of one seed and parameters.
fn phrases(seed: u64, params: &SynthesisParameters, count: usize) -> Vec<Phrase> {
    let mut composer = Composer::new(seed);
    (0..count)
        .map(|_| {
            let mut phrase = Phrase::with_capacity();
            composer.compose(params, &mut phrase);
            phrase
        })
        .collect()
}

/// The shares of `count` phrases that open on the tonic and that close with a cadence.
fn openings_and_cadences(seed: u64, params: &SynthesisParameters, count: usize) -> (f64, f64) {
    let list = phrases(seed, params, count);
    let share = |n: usize| n as f64 / list.len() as f64;
    let opening = list.iter().filter(|p| p.progression.chords[0] == 0).count();
    let cadence = list
        .iter()
        .filter(|p| p.progression.cadence().is_some())
        .count();
    (share(opening), share(cadence))
}

/// The goal, on average over many seeds and settings (fixed, so it cannot flake):
/// at least 80 % of phrases open on the tonic and at least 50 % close with a cadence.
#[test]
fn openings_and_cadences_meet_the_goal_on_average() {
    let (mut opening, mut cadence, mut runs) = (0.0, 0.0, 0.0);
    for seed in 0..24u64 {
        let key = ["A minor", "C major", "F# minor", "Eb major"][seed as usize % 4];
        let bpm = 40 + (seed as u16 * 13) % 81;
        let intensity = (seed % 5) as f32 / 4.0;
        let params = SynthesisParameters::new(key.parse().unwrap(), bpm, intensity, seed).unwrap();
        let (o, c) = openings_and_cadences(1_000 + seed, &params, 64);
        opening += o;
        cadence += c;
        runs += 1.0;
    }
    let (opening, cadence) = (opening / runs, cadence / runs);
    assert!(
        opening >= 0.80,
        "{:.1} % open on the tonic",
        opening * 100.0
    );
    assert!(
        cadence >= 0.50,
        "{:.1} % close with a cadence",
        cadence * 100.0
    );
}

fn of(phrase: &Phrase, instrument: Instrument) -> impl Iterator<Item = &NoteEvent> {
    phrase
        .events
        .iter()
        .filter(move |e| e.instrument == instrument)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Most phrases open on the tonic and close with a cadence, for any seed and settings.
    /// One seed's 96 phrases are a sample: the bounds leave room for its spread (about ±5
    /// points); `openings_and_cadences_meet_the_goal_on_average` holds the goal itself.
    #[test]
    fn phrases_open_on_the_tonic_and_close_with_cadences(seed in any::<u64>(), params in params_strategy()) {
        let (opening, cadence) = openings_and_cadences(seed, &params, 96);
        prop_assert!(opening >= 0.70, "{:.0} % open on the tonic", opening * 100.0);
        prop_assert!(cadence >= 0.35, "{:.0} % close with a cadence", cadence * 100.0);
    }

    /// A chord lasts at least MIN_CHORD_SEC (the phrase's last may be shorter, two bars at
    /// the least), and at 120 bpm there are at most 12 chord changes a minute.
    #[test]
    fn the_harmonic_rhythm_is_set_in_seconds(seed in any::<u64>(), params in params_strategy()) {
        let list = phrases(seed, &params, 32);
        let bar_sec = list[0].bar_sec();
        let (mut changes, mut previous) = (0usize, None);
        for phrase in &list {
            let (starts, n) = phrase.progression.segments();
            for k in 0..n {
                let end = if k + 1 < n { starts[k + 1] } else { PHRASE_BARS };
                let sec = (end - starts[k]) as f64 * bar_sec;
                let least = if k + 1 < n { MIN_CHORD_SEC } else { MIN_CHORD_SEC.min(2.0 * bar_sec) };
                prop_assert!(sec >= least - 1e-9, "chord {k} of {:?} lasts {sec} s", phrase.progression.chords);
            }
            for &chord in &phrase.progression.chords {
                changes += usize::from(previous.is_some_and(|p| p != chord));
                previous = Some(chord);
            }
        }
        let minutes = list.len() as f64 * list[0].duration_sec() / 60.0;
        prop_assert!(changes as f64 / minutes <= 12.0, "{changes} changes in {minutes:.1} min");
    }

    /// The texture breathes: over a few minutes the lead rests for whole phrases and the bass
    /// drops out for bars at a time; a melody note never lasts the whole phrase.
    #[test]
    fn voices_rest_and_return(seed in any::<u64>(), params in params_strategy()) {
        let list = phrases(seed, &params, 40);
        prop_assert!(list.iter().any(|p| of(p, Instrument::Lead).count() == 0), "the lead never rests");
        prop_assert!(list.iter().any(|p| of(p, Instrument::Lead).count() > 0), "the lead never plays");
        let bass_silent_bar = list.iter().any(|p| {
            (0..PHRASE_BARS).any(|bar| {
                let (t0, t1) = (bar as f64 * p.bar_sec(), (bar + 1) as f64 * p.bar_sec());
                !of(p, Instrument::Bass).any(|e| e.onset_sec < t1 && e.onset_sec + e.duration_sec > t0)
            })
        });
        prop_assert!(bass_silent_bar, "the bass never drops out");
        prop_assert!(list.iter().any(|p| of(p, Instrument::Bass).count() > 0), "no bass at all");
    }

    /// Bass notes of different pitch never overlap, release included (no semitone beating),
    /// within a phrase or across the boundary; a root that stays is tied, not struck again.
    #[test]
    fn the_bass_never_beats_and_ties_over(seed in any::<u64>(), params in params_strategy()) {
        let list = phrases(seed, &params, 24);
        let release = 0.9; // the bass timbre's release (BASS_GAP_SEC leaves room for it)
        prop_assert!(release < BASS_GAP_SEC);
        let mut before: Option<(f64, u8)> = None; // end of the last bass note, from this phrase's start
        for phrase in &list {
            let mut notes: Vec<&NoteEvent> = of(phrase, Instrument::Bass).collect();
            notes.sort_by(|a, b| a.onset_sec.total_cmp(&b.onset_sec));
            if let (Some((end, pitch)), Some(first)) = (before, notes.first())
                && first.pitch != pitch
            {
                prop_assert!(end + release <= first.onset_sec + 1e-6, "across a boundary");
            }
            for pair in notes.windows(2) {
                let end = pair[0].onset_sec + pair[0].duration_sec;
                prop_assert!(pair[0].pitch != pair[1].pitch, "a repeated root is struck again");
                prop_assert!(end + release <= pair[1].onset_sec + 1e-6, "{:?} then {:?}", pair[0], pair[1]);
            }
            before = notes.last().map(|n| (n.onset_sec + n.duration_sec - phrase.duration_sec(), n.pitch));
        }
    }
}

/// A chord that the next phrase opens with is held over the boundary: the pads and bass
/// sounding at the end of one phrase ring into the next, which does not strike them again.
#[test]
fn chords_tie_over_phrase_boundaries() {
    let mut ties = 0;
    for seed in 0..20 {
        let list = phrases(seed, &SynthesisParameters::default(), 20);
        for pair in list.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            let last = before.progression.chords[PHRASE_BARS - 1];
            if last != after.progression.chords[0] {
                continue;
            }
            let end = before.duration_sec();
            let held: Vec<&NoteEvent> = before
                .events
                .iter()
                .filter(|e| e.instrument != Instrument::Lead && e.instrument != Instrument::Shimmer)
                .filter(|e| e.onset_sec + e.duration_sec > end + 0.5)
                .collect();
            assert!(
                !held.is_empty(),
                "seed {seed}: nothing held over a {last} → {last} boundary"
            );
            for note in &held {
                let restruck = after.events.iter().any(|e| {
                    e.instrument == note.instrument && e.pitch == note.pitch && e.onset_sec < 0.5
                });
                assert!(
                    !restruck,
                    "seed {seed}: {note:?} struck again after the boundary"
                );
            }
            ties += 1;
        }
    }
    assert!(ties > 50, "only {ties} tied boundaries");
}

/// Memory: over an hour, some phrases bring back a remembered progression.
#[test]
fn progressions_come_back_minutes_later() {
    for seed in [3, 4] {
        let list = phrases(seed, &SynthesisParameters::default(), 130);
        let recalled: Vec<&Phrase> = list.iter().filter(|p| p.recalled).collect();
        assert!(
            recalled.len() >= 3,
            "seed {seed}: {} recalls",
            recalled.len()
        );
        assert!(
            list[..3].iter().all(|p| !p.recalled),
            "nothing to remember yet"
        );
    }
}
