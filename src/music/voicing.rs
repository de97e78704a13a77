//! Pad voicings with voice leading, and the bass line: turns a progression into pad and bass
//! [`NoteEvent`]s.
//!
//! Each new chord is voiced by trying every assignment of its tones to the previous chord's
//! voices (at most 5! = 120) and keeping the one that moves the fewest semitones in total,
//! with small penalties for semitone clashes and for drifting away from the middle of the
//! pad's register. A voice that keeps its pitch is tied (the note sustains, no re-attack).

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::theory::{Scale, nearest_with_pc};
use super::{Carry, Instrument, NoteEvent, Phrase};

/// Most pad voices (at full intensity).
pub const MAX_PAD_VOICES: usize = 5;

/// Pad register, relative to the key's root: from a fifth below to a twelfth above (for A
/// minor, D3..E5), warm but clear of the bass.
const PAD_LOW: i32 = -7;
const PAD_HIGH: i32 = 19;
/// Bass register: the chord root in C2..B2.
const BASS_LOW: i32 = 36;

/// A pad voicing: `len` sounding pitches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Voicing {
    /// MIDI pitches; only the first `len` are used.
    pub pitches: [i32; MAX_PAD_VOICES],
    /// Number of voices.
    pub len: usize,
}

impl Voicing {
    /// The sounding pitches.
    pub fn as_slice(&self) -> &[i32] {
        &self.pitches[..self.len]
    }
}

/// Pad voices for an intensity: 3 at the quietest, 4 around the default, 5 at full.
pub fn pad_voices(intensity: f32) -> usize {
    (3 + (intensity * 2.0 + 0.25) as usize).min(MAX_PAD_VOICES)
}

/// Writes pad and bass events for the phrase's progression.
pub fn arrange(phrase: &mut Phrase, rng: &mut ChaCha8Rng, carry: &mut Carry) {
    let bar_sec = phrase.bar_sec();
    let scale = phrase.progression.scale();
    let voices = pad_voices(phrase.params.intensity());
    let (low, high) = pad_range(&scale);

    // Voices carried from the previous phrase (re-registered if the key moved), else a
    // spread voicing of the first chord.
    let mut previous = carry.voicing;
    let continues =
        previous.len > 0 && previous.as_slice().iter().all(|p| (low..=high).contains(p));
    if !continues {
        previous = spread_voicing(&scale, phrase.progression.chords[0], voices);
    }
    let previous = resize(previous, voices, high);

    // Index in `phrase.events` of each voice's note, to extend it on a tie.
    let mut open: [Option<usize>; MAX_PAD_VOICES] = [None; MAX_PAD_VOICES];
    let mut current = previous;
    for bar in 0..phrase.progression.length_bars() {
        let chord = phrase.progression.chords[bar];
        let next = lead_voices(&scale, chord, &current, (low, high));
        for (&pitch, open) in next.as_slice().iter().zip(open.iter_mut()) {
            let note = (Instrument::Pad, pitch, bar, bar_sec);
            hold_or_strike(&mut phrase.events, open, note, || {
                0.5 + 0.12 * rng.random::<f32>()
            });
        }
        current = next;
    }
    carry.voicing = current;
    write_bass(phrase, rng);
}

/// The pad register of a scale, as (lowest, highest) MIDI pitch.
fn pad_range(scale: &Scale) -> (i32, i32) {
    let root = i32::from(scale.root_midi);
    (root + PAD_LOW, root + PAD_HIGH)
}

/// An open voicing of `chord`: the root low in the pad register, each further tone at least
/// a minor third above the one below.
fn spread_voicing(scale: &Scale, chord: u8, voices: usize) -> Voicing {
    let tones = scale.pad_tones(chord);
    let (low, _) = pad_range(scale);
    let mut voicing = Voicing {
        len: voices,
        ..Voicing::default()
    };
    let mut floor = low + 3;
    for (voice, &pc) in tones[..voices].iter().enumerate() {
        let mut pitch = nearest_with_pc(pc, floor);
        while pitch < floor {
            pitch += 12;
        }
        voicing.pitches[voice] = pitch;
        floor = pitch + 3;
    }
    voicing
}

/// Adds voices on top or drops the highest so the voicing has `voices` voices.
fn resize(mut voicing: Voicing, voices: usize, high: i32) -> Voicing {
    voicing.pitches[..voicing.len].sort_unstable();
    while voicing.len < voices {
        let top = voicing.pitches[voicing.len - 1];
        let added = if top + 4 <= high { top + 4 } else { top - 5 };
        voicing.pitches[voicing.len] = added;
        voicing.len += 1;
    }
    voicing.len = voices;
    voicing
}

/// The voicing of `chord` nearest to `from`: tries every assignment of the chord's tones to
/// the voices, each voice taking the nearest octave of its tone.
fn lead_voices(scale: &Scale, chord: u8, from: &Voicing, (low, high): (i32, i32)) -> Voicing {
    let voices = from.len;
    let tones = scale.pad_tones(chord);
    let centre = (low + high) / 2;
    let mut order = [0usize, 1, 2, 3, 4];
    let mut best = *from;
    let mut best_cost = i32::MAX;
    for_each_permutation(&mut order[..voices], &mut |order| {
        let mut candidate = Voicing {
            len: voices,
            ..Voicing::default()
        };
        let mut cost = 0;
        for voice in 0..voices {
            let mut pitch = nearest_with_pc(tones[order[voice]], from.pitches[voice]);
            while pitch < low {
                pitch += 12;
            }
            while pitch > high {
                pitch -= 12;
            }
            candidate.pitches[voice] = pitch;
            cost += 2 * (pitch - from.pitches[voice]).abs();
        }
        cost += clash_penalty(candidate.as_slice());
        let sum: i32 = candidate.as_slice().iter().sum();
        cost += (sum - centre * voices as i32).abs() / voices as i32;
        if cost < best_cost {
            best_cost = cost;
            best = candidate;
        }
    });
    best
}

/// Penalty for voices that collide: unisons (a voice lost) and semitones (a grinding cluster).
fn clash_penalty(pitches: &[i32]) -> i32 {
    let mut penalty = 0;
    for (i, a) in pitches.iter().enumerate() {
        for b in &pitches[i + 1..] {
            penalty += match (a - b).abs() {
                0 => 40,
                1 => 12,
                _ => 0,
            };
        }
    }
    penalty
}

/// Calls `visit` with every permutation of `items` (Heap's algorithm, no allocation).
fn for_each_permutation(items: &mut [usize], visit: &mut impl FnMut(&[usize])) {
    let n = items.len();
    let mut counters = [0usize; MAX_PAD_VOICES];
    visit(items);
    let mut i = 0;
    while i < n {
        if counters[i] < i {
            if i % 2 == 0 {
                items.swap(0, i);
            } else {
                items.swap(counters[i], i);
            }
            visit(items);
            counters[i] += 1;
            i = 0;
        } else {
            counters[i] = 0;
            i += 1;
        }
    }
}

/// The bass: each bar's chord root in C2..B2, tied while the root stays.
fn write_bass(phrase: &mut Phrase, rng: &mut ChaCha8Rng) {
    let bar_sec = phrase.bar_sec();
    let scale = phrase.progression.scale();
    let mut open: Option<usize> = None;
    for bar in 0..phrase.progression.length_bars() {
        let pc = scale.chord_root_pc(phrase.progression.chords[bar]);
        let note = (Instrument::Bass, BASS_LOW + i32::from(pc), bar, bar_sec);
        hold_or_strike(&mut phrase.events, &mut open, note, || {
            0.55 + 0.1 * rng.random::<f32>()
        });
    }
}

/// Sounds `pitch` for bar `bar` (of `bar_sec` seconds): if `open` is a note of that pitch, it
/// is held one bar longer (a tie, no new attack); otherwise a new note starts and `open`
/// points at it. `velocity` is drawn only for a new note.
fn hold_or_strike(
    events: &mut Vec<NoteEvent>,
    open: &mut Option<usize>,
    (instrument, pitch, bar, bar_sec): (Instrument, i32, usize, f64),
    velocity: impl FnOnce() -> f32,
) {
    match *open {
        Some(index) if i32::from(events[index].pitch) == pitch => {
            events[index].duration_sec += bar_sec;
        }
        _ => {
            *open = Some(events.len());
            events.push(NoteEvent {
                instrument,
                pitch: pitch as u8,
                velocity: velocity(),
                onset_sec: bar as f64 * bar_sec,
                duration_sec: bar_sec,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_visits_every_permutation_once() {
        let mut items = [0, 1, 2, 3, 4];
        let mut seen = std::collections::HashSet::new();
        for_each_permutation(&mut items, &mut |p| {
            assert!(seen.insert(p.to_vec()));
        });
        assert_eq!(seen.len(), 120);
    }

    #[test]
    fn voice_leading_moves_little_and_keeps_common_tones() {
        let scale = Scale::of("C major".parse().unwrap());
        let range = pad_range(&scale);
        let c = spread_voicing(&scale, 0, 3);
        // I -> vi shares C and E: only G moves, to A (two semitones).
        let am = lead_voices(&scale, 3, &c, range);
        let moved: i32 = c
            .as_slice()
            .iter()
            .zip(am.as_slice())
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert_eq!(moved, 2, "{c:?} -> {am:?}");
    }

    #[test]
    fn voicings_stay_in_register_over_a_long_walk() {
        let scale = Scale::of("F# minor".parse().unwrap());
        let (low, high) = pad_range(&scale);
        let mut voicing = spread_voicing(&scale, 0, 5);
        for step in 0..1000u32 {
            let chord = (step * 7 % 5) as u8;
            voicing = lead_voices(&scale, chord, &voicing, (low, high));
            assert!(voicing.as_slice().iter().all(|p| (low..=high).contains(p)));
            let mut pcs: Vec<u8> = voicing.as_slice().iter().map(|p| (p % 12) as u8).collect();
            pcs.sort_unstable();
            pcs.dedup();
            let tones = scale.pad_tones(chord);
            assert!(pcs.iter().all(|pc| tones.contains(pc)));
        }
    }
}
