//! The score: every note that is sounding or scheduled, in absolute frames, and the
//! [`Voice`] descriptors it yields for each block (exact f64 timing in, f32 per block out).

use crate::music::theory::midi_to_hz;
use crate::music::{Instrument, Phrase};

use super::timbre::{Timbre, timbre};
use super::voice::Voice;

/// Notes the score can hold at once (a phrase has at most a few hundred, plus the tails of
/// the previous one). Allocated once.
pub const MAX_SCHEDULED_NOTES: usize = 1024;
/// Voices one block can carry. Allocated once; the voice list never grows past it.
pub const MAX_VOICES: usize = 256;

/// One note placed on the absolute frame timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduledNote {
    /// Who plays it.
    pub instrument: Instrument,
    /// MIDI pitch.
    pub pitch: u8,
    /// 0.0..=1.0.
    pub velocity: f32,
    /// Frame of note-on.
    pub on: u64,
    /// Frame of note-off (the release follows).
    pub off: u64,
}

impl ScheduledNote {
    /// The first frame after its release has ended, given each instrument's release length
    /// in frames (see [`release_frames`]).
    fn silent_from(&self, release_frames: &[u64; INSTRUMENTS]) -> u64 {
        self.off + release_frames[self.instrument as usize]
    }
}

/// Each instrument's release in whole frames (rounded up), indexed by `Instrument as usize`.
/// Computed once: `voices` asks for every held note on every block.
fn release_frames(sample_rate: f64) -> [u64; INSTRUMENTS] {
    let mut frames = [0; INSTRUMENTS];
    for instrument in Instrument::ALL {
        let release = (f64::from(timbre(instrument).release_sec) * sample_rate).ceil();
        frames[instrument as usize] = release as u64;
    }
    frames
}

/// Most oscillator layers of any instrument.
const MAX_LAYERS: usize = 2;
/// Number of instruments.
const INSTRUMENTS: usize = Instrument::ALL.len();

/// What `voice` would otherwise compute again for every voice of every block: the frequency
/// (in turns per frame) of every pitch of every instrument layer, and each layer's pan gains.
/// The same expressions, evaluated once, so the voices are bit for bit the same.
#[derive(Debug, Clone)]
struct LayerTables {
    turns_per_frame: [[[f64; 128]; MAX_LAYERS]; INSTRUMENTS],
    pan_gains: [[(f32, f32); MAX_LAYERS]; INSTRUMENTS],
}

impl LayerTables {
    fn new(sample_rate: f64) -> Box<Self> {
        let mut tables = Box::new(LayerTables {
            turns_per_frame: [[[0.0; 128]; MAX_LAYERS]; INSTRUMENTS],
            pan_gains: [[(0.0, 0.0); MAX_LAYERS]; INSTRUMENTS],
        });
        for instrument in Instrument::ALL {
            let layers = timbre(instrument).layers;
            assert!(layers.len() <= MAX_LAYERS, "raise MAX_LAYERS");
            for (index, layer) in layers.iter().enumerate() {
                for pitch in 0..128u8 {
                    let hz = midi_to_hz(f64::from(pitch) + f64::from(layer.detune_cents) / 100.0);
                    tables.turns_per_frame[instrument as usize][index][usize::from(pitch)] =
                        hz / sample_rate;
                }
                // Equal-power pan.
                let angle = (layer.pan + 1.0) * std::f32::consts::FRAC_PI_4;
                tables.pan_gains[instrument as usize][index] = (angle.cos(), angle.sin());
            }
        }
        tables
    }
}

/// The notes of the current and previous phrases, on the absolute frame timeline.
#[derive(Debug, Clone)]
pub struct Score {
    notes: Vec<ScheduledNote>,
    sample_rate: f64,
    release_frames: [u64; INSTRUMENTS],
    tables: Box<LayerTables>,
}

impl Score {
    /// An empty score with its buffer allocated.
    pub fn new(sample_rate: u32) -> Self {
        Score {
            notes: Vec::with_capacity(MAX_SCHEDULED_NOTES),
            sample_rate: f64::from(sample_rate),
            release_frames: release_frames(f64::from(sample_rate)),
            tables: LayerTables::new(f64::from(sample_rate)),
        }
    }

    /// Notes held (sounding, releasing or yet to start).
    pub fn len(&self) -> usize {
        self.notes.len()
    }

    /// Whether no note is held.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// The notes held, in the order they were added.
    pub fn notes(&self) -> &[ScheduledNote] {
        &self.notes
    }

    /// Places every event of `phrase` with its first downbeat at frame `start`.
    pub fn add_phrase(&mut self, phrase: &Phrase, start: u64) {
        for event in &phrase.events {
            if self.notes.len() == self.notes.capacity() {
                debug_assert!(false, "score full: {} notes", self.notes.len());
                break; // never reallocate on the render thread; drop the excess instead
            }
            let on = start + (event.onset_sec * self.sample_rate).round() as u64;
            let length = (event.duration_sec * self.sample_rate).round().max(1.0) as u64;
            self.notes.push(ScheduledNote {
                instrument: event.instrument,
                pitch: event.pitch,
                velocity: event.velocity,
                on,
                off: on + length,
            });
        }
    }

    /// Makes `frame` a clean break: notes that would start at or after it are removed, and
    /// notes still held there are released there (their tails ring on).
    pub fn cut_at(&mut self, frame: u64) {
        self.notes.retain(|n| n.on < frame);
        for note in &mut self.notes {
            note.off = note.off.min(frame);
        }
    }

    /// Forgets notes whose release has ended before `frame`.
    pub fn retire(&mut self, frame: u64) {
        let release_frames = self.release_frames;
        self.notes
            .retain(|n| n.silent_from(&release_frames) > frame);
    }

    /// Writes into `out` (cleared first, never grown past [`MAX_VOICES`]) the voices that sound
    /// in the block `[start, start + frames)`, with the brightness gliding from
    /// `intensity.0` at its first frame to `intensity.1` after its last.
    pub fn voices(&self, start: u64, frames: usize, intensity: (f32, f32), out: &mut Vec<Voice>) {
        out.clear();
        let end = start + frames as u64;
        for note in &self.notes {
            if note.on >= end || note.silent_from(&self.release_frames) <= start {
                continue;
            }
            let timbre = timbre(note.instrument);
            for index in 0..timbre.layers.len() {
                if out.len() == out.capacity().min(MAX_VOICES) {
                    debug_assert!(false, "more than {MAX_VOICES} voices in one block");
                    return;
                }
                out.push(self.voice(note, timbre, index, start, frames, intensity));
            }
        }
    }

    fn voice(
        &self,
        note: &ScheduledNote,
        timbre: &Timbre,
        layer_index: usize,
        start: u64,
        frames: usize,
        intensity: (f32, f32),
    ) -> Voice {
        let rate = self.sample_rate;
        let layer = &timbre.layers[layer_index];
        let instrument = note.instrument as usize;
        let age = start as i64 - note.on as i64; // frames since note-on; negative: not yet
        let turns_per_frame =
            self.tables.turns_per_frame[instrument][layer_index][usize::from(note.pitch & 127)];
        // Exact phase at the block start, from the note's own start: no drift, ever.
        let carrier_phase = fraction(turns_per_frame * age as f64);
        let mod_turns = turns_per_frame * f64::from(layer.mod_ratio);
        let mod_phase = fraction(mod_turns * age as f64);

        let decay_frames = timbre.decay_sec * rate as f32;
        let index_at = |age: f32, intensity: f32| {
            let base = layer.index_calm + (layer.index_bright - layer.index_calm) * intensity;
            let since_on = age.max(0.0);
            let boost =
                1.0 + (timbre.index_attack_boost - 1.0) * decay_frames / (decay_frames + since_on);
            base * boost
        };
        let index_start = index_at(age as f32, intensity.0);
        let index_end = index_at((age + frames as i64) as f32, intensity.1);

        let (pan_l, pan_r) = self.tables.pan_gains[instrument][layer_index];
        let gain = note.velocity * timbre.gain * layer.level;
        Voice {
            carrier_phase: carrier_phase as f32,
            carrier_inc: turns_per_frame as f32,
            mod_phase: mod_phase as f32,
            mod_inc: mod_turns as f32,
            mod_index: index_start,
            mod_index_step: (index_end - index_start) / frames as f32,
            age: age as f32,
            inv_attack: 1.0 / (timbre.attack_sec * rate as f32),
            release_at: (note.off - note.on) as f32,
            inv_release: 1.0 / (timbre.release_sec * rate as f32),
            sustain: timbre.sustain,
            decay: decay_frames,
            gain_l: gain * pan_l,
            gain_r: gain * pan_r,
            bus: timbre.bus as u32,
            _pad: 0,
        }
    }
}

/// `x.rem_euclid(1.0)` without its call to a software `fmod` (a few percent of the whole
/// render): `x - floor(x)` is the same exact value rounded once, as `rem_euclid`'s
/// `fmod(x, 1) + 1` is for negative `x`, and exact for positive `x`. The one difference is
/// the sign of a zero (+0 where `rem_euclid` gives -0 for a negative whole `x`), which no
/// later sum can see: the phase is only ever added to `inc · i`, and `-0 + 0 = +0`.
#[inline]
fn fraction(x: f64) -> f64 {
    x - x.floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(on: u64, off: u64) -> ScheduledNote {
        ScheduledNote {
            instrument: Instrument::Lead,
            pitch: 69,
            velocity: 0.5,
            on,
            off,
        }
    }

    #[test]
    fn fraction_is_rem_euclid_bit_for_bit() {
        let mut x = -12_345.678_9_f64;
        for k in 0..100_000 {
            x += 0.246_813_579 * f64::from(k % 7 + 1);
            let y = x * 1e-3 * f64::from(k % 13);
            // `+ 0.0` turns -0 into +0 and leaves every other value alone.
            for v in [y, -y] {
                let expect = (v.rem_euclid(1.0) + 0.0).to_bits();
                assert_eq!(fraction(v).to_bits(), expect, "{v}");
            }
        }
        assert_eq!(
            fraction(-1e-20).to_bits(),
            (-1e-20f64).rem_euclid(1.0).to_bits()
        );
    }

    #[test]
    fn cut_releases_held_notes_and_drops_later_ones() {
        let mut score = Score::new(44_100);
        score
            .notes
            .extend([note(0, 1_000), note(500, 5_000), note(2_000, 3_000)]);
        score.cut_at(1_500);
        assert_eq!(score.notes(), &[note(0, 1_000), note(500, 1_500)]);
    }

    #[test]
    fn voices_cover_exactly_the_sounding_notes_with_exact_phase() {
        let mut score = Score::new(44_100);
        let release = (f64::from(timbre(Instrument::Lead).release_sec) * 44_100.0).ceil() as u64;
        score
            .notes
            .extend([note(1_000, 2_000), note(100_000, 200_000)]);
        let mut voices = Vec::with_capacity(MAX_VOICES);
        score.voices(0, 512, (0.5, 0.5), &mut voices);
        assert!(voices.is_empty(), "nothing sounds before the first note-on");
        score.voices(512, 512, (0.5, 0.5), &mut voices);
        assert_eq!(voices.len(), timbre(Instrument::Lead).layers.len());
        assert_eq!(voices[0].age, -488.0);
        score.voices(2_000 + release, 512, (0.5, 0.5), &mut voices);
        assert!(voices.is_empty(), "nothing sounds after the release");
        score.retire(2_000 + release);
        assert_eq!(score.len(), 1);
        // One second after note-on the phase is the frequency's fractional part.
        score.voices(144_100, 512, (0.5, 0.5), &mut voices);
        let detune = f64::from(timbre(Instrument::Lead).layers[0].detune_cents) / 100.0;
        let expect = midi_to_hz(69.0 + detune).rem_euclid(1.0); // one second of turns
        assert!((f64::from(voices[0].carrier_phase) - expect).abs() < 1e-6);
    }
}
