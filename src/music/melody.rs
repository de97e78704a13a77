//! The lead line: sparse, stepwise, in the scale, chord tones on strong beats.
//!
//! The phrase is four 2-bar cells. A cell's rhythm is drawn on a grid of beats (half beats at
//! high intensity) with a breath at its end, at a density set in notes per second (so the
//! line stays sparse at any tempo) that follows the phrase's arc; later cells often repeat
//! the first cell's motif, rhythm and contour, from where the line has got to (a sequence). Pitches walk by scale steps; a note on a strong beat
//! (beats 1 and 3 of the bar) snaps to the nearest tone of the bar's chord.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::form::PhraseShape;
use super::harmony::ChordProgression;
use super::memory::Motif;
use super::theory::Scale;
use super::{BEATS_PER_BAR, Carry, Instrument, MusicError, NoteEvent, PHRASE_BARS, Phrase};

/// Grid slots per beat (half beats).
const SLOTS_PER_BEAT: usize = 2;
/// Bars in a rhythmic cell.
const CELL_BARS: usize = 2;
/// Grid slots in a cell.
const CELL_SLOTS: usize = CELL_BARS * BEATS_PER_BAR * SLOTS_PER_BEAT;
/// Most melody notes in a phrase (one per grid slot).
pub const MAX_MELODY_NOTES: usize = PHRASE_BARS * BEATS_PER_BAR * SLOTS_PER_BEAT;
/// Melody register relative to the key's root, in scale steps: from the fourth degree above
/// the root to the third degree two octaves up (for A minor, D4..C6; mostly E4..A5).
const LOW_INDEX: i32 = 3;
const HIGH_INDEX: i32 = 16;

/// One melody note, as the data model writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MelodyNote {
    /// Seconds from the phrase start.
    pub onset_sec: f64,
    /// MIDI pitch.
    pub pitch_midi: u8,
    /// 0.0..=1.0.
    pub velocity: f32,
    /// Seconds.
    pub duration_sec: f64,
}

/// A phrase's melody, with what is needed to check it against its harmony.
#[derive(Debug, Clone, Default)]
pub struct MelodyPhrase {
    /// The notes in onset order.
    pub notes: Vec<MelodyNote>,
    /// Bars the melody spans (8).
    pub bars: usize,
    /// Seconds per bar.
    pub bar_sec: f64,
    /// Semitones of the scale's degrees above the root.
    pub scale_intervals: [u8; 7],
}

impl MelodyPhrase {
    /// An empty melody with its buffer allocated.
    pub fn with_capacity() -> Self {
        MelodyPhrase {
            notes: Vec::with_capacity(MAX_MELODY_NOTES),
            ..MelodyPhrase::default()
        }
    }

    /// Empties it for a new phrase of `bar_sec` seconds a bar in a scale of `intervals`.
    pub fn reset(&mut self, bar_sec: f64, intervals: [u8; 7]) {
        self.notes.clear();
        self.bars = PHRASE_BARS;
        self.bar_sec = bar_sec;
        self.scale_intervals = intervals;
    }

    /// Checks the data model's rules against the phrase's chords: pitches 21..=127 and in
    /// the scale, chord tones on strong beats, velocities 0..=1, onsets inside the bars and
    /// in order, positive durations.
    pub fn validate(&self, progression: &ChordProgression) -> Result<(), MusicError> {
        let bad = |what: String| Err(MusicError::Melody(what));
        let scale = progression.scale();
        if self.bars != PHRASE_BARS || self.bar_sec.is_nan() || self.bar_sec <= 0.0 {
            return bad(format!("{} bars of {} s", self.bars, self.bar_sec));
        }
        if self.scale_intervals != scale.intervals {
            return bad("scale differs from the progression's".into());
        }
        let beat_sec = self.bar_sec / BEATS_PER_BAR as f64;
        let end = self.bar_sec * self.bars as f64;
        let mut previous_onset = 0.0;
        for (i, note) in self.notes.iter().enumerate() {
            let pitch = i32::from(note.pitch_midi);
            if !(21..=127).contains(&pitch) {
                return bad(format!("note {i}: pitch {pitch} is outside 21..=127"));
            }
            if !scale.contains(pitch) {
                return bad(format!("note {i}: pitch {pitch} is not in the scale"));
            }
            if !(0.0..=1.0).contains(&note.velocity) {
                return bad(format!(
                    "note {i}: velocity {} is outside 0..=1",
                    note.velocity
                ));
            }
            if !(note.onset_sec >= previous_onset && note.onset_sec < end) {
                return bad(format!(
                    "note {i}: onset {} s is out of order or past {end} s",
                    note.onset_sec
                ));
            }
            if !(note.duration_sec > 0.0 && note.duration_sec.is_finite()) {
                return bad(format!("note {i}: duration {} s", note.duration_sec));
            }
            let beats = note.onset_sec / beat_sec;
            let beat = beats.round();
            let on_beat = (beats - beat).abs() < 1e-6;
            if on_beat && is_strong_beat(beat as usize % BEATS_PER_BAR) {
                let bar = (beat as usize) / BEATS_PER_BAR;
                if !scale.is_chord_tone(progression.chords[bar], pitch) {
                    return bad(format!(
                        "note {i}: pitch {pitch} on a strong beat of bar {bar} is not a tone of {}",
                        progression.label(bar)
                    ));
                }
            }
            previous_onset = note.onset_sec;
        }
        Ok(())
    }
}

/// Beats 1 and 3 of a 4/4 bar (0-based 0 and 2).
fn is_strong_beat(beat_in_bar: usize) -> bool {
    beat_in_bar.is_multiple_of(2)
}

/// The lead's densest rate, notes per second, at intensity 1 and the phrase's swell: the
/// melody stays sparse at any tempo (at most 40 notes a minute where it is busiest).
const MAX_NOTES_PER_SEC: f32 = 0.72;

/// Writes the melody of the phrase into `phrase.melody` and its lead events, and returns its
/// first motif (for the composer's memory). A phrase without lead is a rest: no notes. The
/// first cell may rest in a thin phrase; a phrase that closes on the tonic ends with a long
/// tonic note on the cadence's arrival, and nothing after it. `recalled` brings back an old
/// motif: its rhythm and contour open the phrase.
pub fn compose(
    phrase: &mut Phrase,
    recalled: Option<Motif>,
    rng: &mut ChaCha8Rng,
    carry: &mut Carry,
) -> Motif {
    let progression = phrase.progression;
    let scale = progression.scale();
    let intensity = phrase.params.intensity();
    let shape = phrase.shape;
    let bar_sec = phrase.bar_sec();
    let slot_sec = phrase.beat_sec() / SLOTS_PER_BEAT as f64;
    let (low, high) = (LOW_INDEX + shape.register, HIGH_INDEX + shape.register);
    let melody = &mut phrase.melody;
    melody.reset(bar_sec, scale.intervals);

    let mut motif = recalled.unwrap_or_default();
    if !shape.lead {
        return motif;
    }
    // Where the melody stops: the cadence's arrival, if the phrase closes on the tonic.
    let (starts, n) = progression.segments();
    let arrival_bar = if progression.cadence().is_some() && n > 1 {
        starts[n - 1]
    } else {
        PHRASE_BARS
    };
    let mut index = starting_index(carry.last_melody, &scale, (low, high), rng);
    let rests_first = shape.energy < 0.5 && rng.random::<f32>() < 0.6;
    for cell in 0..PHRASE_BARS / CELL_BARS {
        if cell == 0 && rests_first && recalled.is_none() {
            continue;
        }
        let density = cell_density(intensity, &shape, cell, slot_sec);
        let (rhythm, contour) = if (cell == 0 && recalled.is_some())
            || (cell > 0 && motif.len > 0 && rng.random::<f32>() < 0.45)
        {
            // The motif again, from where the line is now (a sequence).
            (motif.rhythm, Some(motif.contour))
        } else {
            let mut rhythm = [false; CELL_SLOTS];
            draw_rhythm(&mut rhythm, density, intensity, rng);
            (rhythm, None)
        };
        let start_index = index;
        let mut count = 0u8;
        let mut steps = [0i8; CELL_SLOTS];
        for (slot, _) in rhythm.iter().enumerate().filter(|(_, on)| **on) {
            let global = cell * CELL_SLOTS + slot;
            let beat_slot = global.is_multiple_of(SLOTS_PER_BEAT);
            let beat = global / SLOTS_PER_BEAT;
            let bar = beat / BEATS_PER_BAR;
            if bar >= arrival_bar {
                break;
            }
            index = match contour {
                Some(c) => (start_index + i32::from(c[usize::from(count)])).clamp(low, high),
                None => step(index, (low, high), rng),
            };
            if beat_slot && is_strong_beat(beat % BEATS_PER_BAR) {
                index = snap_to_chord(&scale, progression.chords[bar], index, (low, high));
            }
            steps[usize::from(count)] = (index - start_index).clamp(-20, 20) as i8;
            count += 1;
            let accent = if beat_slot { 0.08 } else { 0.0 };
            melody.notes.push(MelodyNote {
                onset_sec: global as f64 * slot_sec,
                pitch_midi: scale.pitch(index) as u8,
                velocity: 0.36 + accent + 0.2 * rng.random::<f32>(),
                duration_sec: 0.0, // set below, once the next onset is known
            });
        }
        if motif.len == 0 && count > 0 {
            motif = Motif {
                rhythm,
                contour: steps,
                len: count,
            };
        }
    }
    if arrival_bar < PHRASE_BARS {
        // The close: the tonic, nearest the line, on the arrival's downbeat.
        let tonic = nearest_tonic(index, (low, high));
        index = tonic;
        melody.notes.push(MelodyNote {
            onset_sec: arrival_bar as f64 * bar_sec,
            pitch_midi: scale.pitch(tonic) as u8,
            velocity: 0.4 + 0.1 * rng.random::<f32>(),
            duration_sec: 0.0,
        });
    }
    set_durations(&mut melody.notes, phrase_end(bar_sec), slot_sec);
    if !melody.notes.is_empty() {
        carry.last_melody = Some(scale.pitch(index) as u8);
    }
    push_lead_events(phrase);
    motif
}

/// Where the line starts: where the last phrase's left off (in this register), else the
/// root or third an octave up.
fn starting_index(
    last: Option<u8>,
    scale: &Scale,
    (low, high): (i32, i32),
    rng: &mut ChaCha8Rng,
) -> i32 {
    match last {
        Some(pitch) => scale.index_at_or_below(i32::from(pitch)).clamp(low, high),
        None => 7 + 2 * rng.random_range(0..2),
    }
}

/// The tonic (scale index 0, 7, 14 or 21) nearest `index` within the register.
fn nearest_tonic(index: i32, (low, high): (i32, i32)) -> i32 {
    [7, 14, 0, 21]
        .into_iter()
        .filter(|i| (low - 2..=high + 2).contains(i))
        .min_by_key(|i| (i - index).abs())
        .unwrap_or(7)
}

/// Chance of a note on each beat of cell `cell`: the lead's rate (notes a second) scaled by
/// intensity, the phrase's arc at the cell and its energy, turned into a per-beat chance.
fn cell_density(intensity: f32, shape: &PhraseShape, cell: usize, slot_sec: f64) -> f32 {
    let x = (cell as f64 + 0.5) / (PHRASE_BARS / CELL_BARS) as f64;
    let rate = MAX_NOTES_PER_SEC
        * (0.2 + 0.8 * intensity)
        * (0.55 + 0.45 * shape.arc(x))
        * (0.6 + 0.4 * shape.energy);
    (rate * slot_sec as f32 * SLOTS_PER_BEAT as f32).min(0.9)
}

/// The melody's notes as lead events.
fn push_lead_events(phrase: &mut Phrase) {
    for note in &phrase.melody.notes {
        phrase.events.push(NoteEvent {
            instrument: Instrument::Lead,
            pitch: note.pitch_midi,
            velocity: note.velocity,
            onset_sec: note.onset_sec,
            duration_sec: note.duration_sec,
        });
    }
}

fn phrase_end(bar_sec: f64) -> f64 {
    bar_sec * PHRASE_BARS as f64
}

/// Draws which grid slots of a cell start a note: on-beats with probability `density`
/// (strong beats a little likelier), off-beats only at high intensity; the cell's last two
/// beats thin out (the breath). A cell never stays empty, so the motif exists.
fn draw_rhythm(
    rhythm: &mut [bool; CELL_SLOTS],
    density: f32,
    intensity: f32,
    rng: &mut ChaCha8Rng,
) {
    let off_beat = (intensity - 0.6).max(0.0) * 0.2 * density;
    for (slot, on) in rhythm.iter_mut().enumerate() {
        let beat = slot / SLOTS_PER_BEAT;
        let mut p = if slot.is_multiple_of(SLOTS_PER_BEAT) {
            density
        } else {
            off_beat
        };
        if slot.is_multiple_of(SLOTS_PER_BEAT) && is_strong_beat(beat % BEATS_PER_BAR) {
            p *= 1.3;
        }
        if beat >= CELL_SLOTS / SLOTS_PER_BEAT - 2 {
            p *= 0.25;
        }
        *on = rng.random::<f32>() < p;
    }
    if !rhythm.iter().any(|&on| on) {
        rhythm[0] = true;
    }
}

/// A melodic step: mostly by one scale step, sometimes two or a repeat, turning back at the
/// edges of the register.
fn step(index: i32, (low, high): (i32, i32), rng: &mut ChaCha8Rng) -> i32 {
    let r: f32 = rng.random();
    let delta = match r {
        r if r < 0.12 => -2,
        r if r < 0.45 => -1,
        r if r < 0.55 => 0,
        r if r < 0.88 => 1,
        _ => 2,
    };
    let next = index + delta;
    if (low..=high).contains(&next) {
        next
    } else {
        index - delta
    }
}

/// The scale index nearest `index` whose pitch is a tone of `chord` and in the scale (the
/// raised third of the minor V is not: the melody uses its root and fifth). Ties go down.
fn snap_to_chord(scale: &Scale, chord: u8, index: i32, (low, high): (i32, i32)) -> i32 {
    for distance in 0..7 {
        for candidate in [index - distance, index + distance] {
            let in_register = (low - 2..=high + 2).contains(&candidate);
            if in_register && scale.is_chord_tone(chord, scale.pitch(candidate)) {
                return candidate;
            }
        }
    }
    index
}

/// Each note lasts until just before the next (legato, with a breath), at most 3 beats; the
/// last note of the phrase rings on for up to a bar.
fn set_durations(notes: &mut [MelodyNote], end: f64, slot_sec: f64) {
    let beat_sec = slot_sec * SLOTS_PER_BEAT as f64;
    for i in 0..notes.len() {
        let next = notes
            .get(i + 1)
            .map_or(end + 2.0 * beat_sec, |n| n.onset_sec);
        let gap = next - notes[i].onset_sec;
        notes[i].duration_sec = (gap * 0.9).clamp(0.5 * slot_sec, 3.0 * beat_sec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn snapping_reaches_a_chord_tone_in_the_scale() {
        let scale = Scale::of("A minor".parse().unwrap());
        for index in LOW_INDEX..=HIGH_INDEX {
            for chord in 0..5 {
                let snapped = snap_to_chord(&scale, chord, index, (LOW_INDEX, HIGH_INDEX));
                let pitch = scale.pitch(snapped);
                assert!(scale.is_chord_tone(chord, pitch) && scale.contains(pitch));
                assert!((snapped - index).abs() <= 2);
            }
        }
    }

    #[test]
    fn density_follows_intensity() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut count = |intensity: f32| -> usize {
            (0..200)
                .map(|_| {
                    let mut rhythm = [false; CELL_SLOTS];
                    draw_rhythm(&mut rhythm, 0.12 + 0.45 * intensity, intensity, &mut rng);
                    rhythm.iter().filter(|&&on| on).count()
                })
                .sum()
        };
        let sparse = count(0.0);
        let dense = count(1.0);
        assert!(dense > 3 * sparse, "{sparse} notes at 0, {dense} at 1");
    }
}
