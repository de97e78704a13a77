//! Pad voicings with voice leading, and the bass line: turns a progression into pad and bass
//! [`NoteEvent`]s.
//!
//! Each new chord is voiced by trying every assignment of its tones to the previous chord's
//! voices (at most 5! = 120) and keeping the one that moves the fewest semitones in total,
//! with small penalties for semitone clashes and for drifting away from the middle of the
//! pad's register. A voice that keeps its pitch is tied (the note sustains, no re-attack).
//! A chord lasts as long as the progression holds it; the bass plays each chord's root, and
//! a high shimmer layer its root and fifth.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::theory::{Scale, nearest_with_pc};
use super::{Carry, Instrument, NoteEvent, PHRASE_BARS, Phrase};

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

/// Seconds between a bass note's release and the next bass note of another pitch: the bass
/// release is shorter than this, so two roots (a semitone apart, at worst) never beat.
pub const BASS_GAP_SEC: f64 = 1.0;
/// After a cut (a change of key, tempo or seed), the old bass is released at the bar line:
/// the new one waits this long, so the two never overlap.
const BASS_ENTRY_AFTER_CUT_SEC: f64 = 1.2;

/// What the next phrase opens with, when the composer already knows it: its first chord
/// and how many bars it lasts. The last chord ties over into it when they are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextOpening {
    /// Vocabulary index of the next phrase's first chord.
    pub chord: u8,
    /// Bars it lasts.
    pub bars: usize,
}

/// Writes pad, bass and shimmer events for the phrase's progression, one set per chord (a
/// chord lasts one or more bars). The pads thin out at the phrase's edges and fill at its
/// swell; where the next phrase opens on the chord this one ends on, the last chord's pads
/// and bass are held into it (tied over) and that phrase does not strike them again.
pub fn arrange(
    phrase: &mut Phrase,
    next: Option<NextOpening>,
    rng: &mut ChaCha8Rng,
    carry: &mut Carry,
) {
    let bar_sec = phrase.bar_sec();
    let scale = phrase.progression.scale();
    let shape = phrase.shape;
    let base = pad_voices(phrase.params.intensity());
    let (low, high) = pad_range(&scale);
    let (starts, n) = phrase.progression.segments();
    let last_chord = phrase.progression.chords[PHRASE_BARS - 1];
    let tie = next.filter(|next| next.chord == last_chord && !carry.interrupted);
    let tie_sec = tie.map_or(0.0, |next| next.bars as f64 * bar_sec);

    // Voices carried from the previous phrase (re-registered if the key moved), else a
    // spread voicing of the first chord.
    let mut current = carry.voicing;
    let continues = current.len > 0 && current.as_slice().iter().all(|p| (low..=high).contains(p));
    if !continues {
        current = spread_voicing(&scale, phrase.progression.chords[0], base);
    }
    // Events of the notes sounding in the previous segment, to extend on a common tone.
    let mut open = [usize::MAX; MAX_PAD_VOICES];
    let tied = carry.tied_pads;
    for k in 0..n {
        let (start, end) = segment_span(&starts, n, k);
        let chord = phrase.progression.chords[start];
        let voices = segment_voices(base, k, n, shape.energy);
        let sized = resize(current, voices, high);
        let next = lead_voices(&scale, chord, &sized, (low, high));
        let onset = start as f64 * bar_sec;
        let mut length = (end - start) as f64 * bar_sec;
        if k + 1 == n {
            length += tie_sec;
        }
        let mut still_open = [usize::MAX; MAX_PAD_VOICES];
        for (voice, &pitch) in next.as_slice().iter().enumerate() {
            let held = open
                .iter()
                .copied()
                .find(|&i| i != usize::MAX && i32::from(phrase.events[i].pitch) == pitch);
            if let Some(index) = held {
                phrase.events[index].duration_sec = onset + length - phrase.events[index].onset_sec;
                still_open[voice] = index;
            } else if k == 0 && tied.as_slice().contains(&pitch) {
                // Still sounding, tied over from the last phrase.
            } else {
                still_open[voice] = phrase.events.len();
                // A rolled chord: each new voice a little after the one below.
                let roll = 0.09 * voice as f64;
                phrase.events.push(NoteEvent {
                    instrument: Instrument::Pad,
                    pitch: pitch as u8,
                    velocity: 0.46 + 0.12 * rng.random::<f32>(),
                    onset_sec: onset + roll,
                    duration_sec: length - roll,
                });
            }
        }
        open = still_open;
        current = next;
    }
    carry.voicing = current;
    carry.tied_pads = if tie.is_some() {
        current
    } else {
        Voicing::default()
    };
    write_bass(phrase, tie_sec, next, rng, carry);
    if shape.shimmer {
        write_shimmer(phrase, rng);
    }
}

/// Bars `[start, end)` of segment `k` of `n`.
fn segment_span(starts: &[usize; PHRASE_BARS], n: usize, k: usize) -> (usize, usize) {
    let end = if k + 1 < n {
        starts[k + 1]
    } else {
        PHRASE_BARS
    };
    (starts[k], end)
}

/// Pad voices for chord `k` of `n`: one fewer at the phrase's edges (thin), one more at a
/// full phrase's swell, two at the least.
fn segment_voices(base: usize, k: usize, n: usize, energy: f32) -> usize {
    let edge = n > 1 && (k == 0 || k + 1 == n);
    let swell = n > 2 && !edge && energy > 0.7;
    let voices = if edge {
        base - 1
    } else if swell {
        base + 1
    } else {
        base
    };
    voices.clamp(2, MAX_PAD_VOICES)
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

/// The bass: each chord's root in C2..B2, one note per chord, tied where the root stays
/// (within the phrase and, when `tie_sec > 0`, into the next). A thin phrase lets the bass
/// enter on its second chord; a phrase without bass has none (but for a tie from the last
/// one, which is still sounding). Each note ends [`BASS_GAP_SEC`] before a new root.
fn write_bass(
    phrase: &mut Phrase,
    tie_sec: f64,
    next: Option<NextOpening>,
    rng: &mut ChaCha8Rng,
    carry: &mut Carry,
) {
    let bar_sec = phrase.bar_sec();
    let scale = phrase.progression.scale();
    let (starts, n) = phrase.progression.segments();
    let shape = phrase.shape;
    let tied = carry.tied_bass.take();
    let root = |chord: u8| BASS_LOW + i32::from(scale.chord_root_pc(chord));
    let late_entry = n > 1 && shape.energy < 0.5;
    let mut open: Option<usize> = None;
    for k in 0..n {
        let (start, end) = segment_span(&starts, n, k);
        let pitch = root(phrase.progression.chords[start]);
        let mut end_sec = end as f64 * bar_sec;
        if k + 1 == n && tie_sec > 0.0 {
            // Held into the next phrase's first chord, ending before its next root.
            end_sec += (tie_sec - BASS_GAP_SEC).max(0.0);
        }
        if let Some(index) = open.filter(|&i| i32::from(phrase.events[i].pitch) == pitch) {
            phrase.events[index].duration_sec = end_sec - phrase.events[index].onset_sec;
            continue;
        }
        if let Some(index) = open.take() {
            // A new root: the old one ends early enough to be silent when this one sounds.
            let event = &mut phrase.events[index];
            let until = start as f64 * bar_sec - BASS_GAP_SEC;
            event.duration_sec = (until - event.onset_sec).max(0.25 * bar_sec);
        }
        let tied_over = k == 0 && tied == Some(pitch);
        if tied_over || !shape.bass || (k == 0 && late_entry) {
            continue;
        }
        let mut onset = start as f64 * bar_sec;
        if k == 0 && (carry.interrupted || tied.is_some()) {
            onset += BASS_ENTRY_AFTER_CUT_SEC; // let the old bass's release pass first
        }
        if onset >= end_sec - 0.5 {
            continue;
        }
        open = Some(phrase.events.len());
        phrase.events.push(NoteEvent {
            instrument: Instrument::Bass,
            pitch: pitch as u8,
            velocity: 0.5 + 0.1 * rng.random::<f32>(),
            onset_sec: onset,
            duration_sec: end_sec - onset,
        });
    }
    if let Some(index) = open {
        let last = phrase.progression.chords[PHRASE_BARS - 1];
        if tie_sec > 0.0 {
            carry.tied_bass = Some(i32::from(phrase.events[index].pitch));
        } else if next.is_none_or(|next| root(next.chord) != root(last)) {
            // The next root is another (or unknown): end before it as within the phrase.
            let event = &mut phrase.events[index];
            let until = PHRASE_BARS as f64 * bar_sec - BASS_GAP_SEC;
            event.duration_sec = (until - event.onset_sec).max(0.25 * bar_sec);
        }
    }
}

/// The shimmer: the chord's root and, often, its third, three octaves above the key's root,
/// entering slowly after each chord's attack, so a little light always sits over the
/// harmony. The third rather than the fifth: the fifth would double the partials the pads
/// already have (their third harmonic), and the third says the mode.
fn write_shimmer(phrase: &mut Phrase, rng: &mut ChaCha8Rng) {
    let bar_sec = phrase.bar_sec();
    let scale = phrase.progression.scale();
    let (starts, n) = phrase.progression.segments();
    let centre = i32::from(scale.root_midi) + 36;
    for k in 0..n {
        let (start, end) = segment_span(&starts, n, k);
        let [root, third, _] = scale.triad(phrase.progression.chords[start]);
        let onset = (start as f64 + 0.5) * bar_sec;
        let length = (end - start) as f64 * bar_sec - 0.5 * bar_sec;
        let root_pitch = nearest_with_pc(root, centre);
        for (i, pc) in [root, third].into_iter().enumerate() {
            if i == 1 && rng.random::<f32>() < 0.35 {
                continue; // sometimes the root alone
            }
            let mut pitch = nearest_with_pc(pc, root_pitch + 3);
            if i == 1 && pitch <= root_pitch {
                pitch += 12;
            }
            phrase.events.push(NoteEvent {
                instrument: Instrument::Shimmer,
                pitch: pitch as u8,
                velocity: 0.45 + 0.15 * rng.random::<f32>(),
                onset_sec: onset + 0.3 * i as f64,
                duration_sec: length.max(bar_sec),
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
