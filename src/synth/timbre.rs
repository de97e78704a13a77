//! How each instrument sounds: its oscillator layers (detune, FM ratio and index, pan) and
//! its envelope. The music decides what to play; this file decides the colour.

use crate::music::Instrument;

use super::bus::Bus;

/// One oscillator layer of an instrument. A note sounds one voice per layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layer {
    /// Detune from the note's pitch, in cents.
    pub detune_cents: f32,
    /// Modulator frequency as a multiple of the carrier's (whole numbers keep it harmonic).
    pub mod_ratio: f32,
    /// FM index (turns) at intensity 0 and at intensity 1; in between it is interpolated.
    pub index_calm: f32,
    /// FM index at intensity 1.
    pub index_bright: f32,
    /// Pan, -1 (left) … +1 (right).
    pub pan: f32,
    /// Level relative to the other layers.
    pub level: f32,
}

/// An instrument: layers, envelope and the bus it plays into.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timbre {
    /// The oscillator layers.
    pub layers: &'static [Layer],
    /// Attack, seconds.
    pub attack_sec: f32,
    /// Seconds for the level to fall halfway from 1 to `sustain`.
    pub decay_sec: f32,
    /// Level the decay tends to.
    pub sustain: f32,
    /// Release after note-off, seconds.
    pub release_sec: f32,
    /// How much brighter the note is at its start than once it has settled (FM index
    /// multiplier at note-on, falling to 1 over `decay_sec`); gives the lead a soft "pluck".
    pub index_attack_boost: f32,
    /// Overall level of a velocity-1 note.
    pub gain: f32,
    /// Where it is mixed.
    pub bus: Bus,
}

/// One oscillator per pad note: the width and detuned shimmer that a second, detuned and
/// panned layer would give are made once for all pads by the post stage's chorus, which
/// halves the pads' cost in the voice stage. Centred; its level makes up the power of the
/// pair (one centred oscillator has half the power of two detuned ones at the sides).
const PAD_LAYERS: &[Layer] = &[Layer {
    detune_cents: 0.0,
    mod_ratio: 1.0,
    // Opened up: more upper partials than a near-sine, so the pads have air (the post
    // stage's brightness lowpass still darkens them at low intensity).
    index_calm: 0.10,
    index_bright: 0.9,
    pan: 0.0,
    level: std::f32::consts::SQRT_2,
}];

const BASS_LAYERS: &[Layer] = &[Layer {
    detune_cents: 0.0,
    mod_ratio: 1.0,
    index_calm: 0.05,
    index_bright: 0.12,
    pan: 0.0,
    level: 1.0,
}];

/// The shimmer: a sine with an octave modulator (even partials, bell-like but soft), bright
/// only as intensity rises.
const SHIMMER_LAYERS: &[Layer] = &[Layer {
    detune_cents: 0.0,
    mod_ratio: 2.0,
    index_calm: 0.04,
    index_bright: 0.22,
    pan: 0.0,
    level: 1.0,
}];

const LEAD_LAYERS: &[Layer] = &[
    Layer {
        detune_cents: -4.0,
        mod_ratio: 1.0,
        index_calm: 0.10,
        index_bright: 0.22,
        pan: -0.25,
        level: 1.0,
    },
    Layer {
        detune_cents: 4.0,
        mod_ratio: 3.0,
        index_calm: 0.02,
        index_bright: 0.06,
        pan: 0.25,
        level: 0.6,
    },
];

/// The timbre of an instrument.
pub fn timbre(instrument: Instrument) -> &'static Timbre {
    const PAD: Timbre = Timbre {
        layers: PAD_LAYERS,
        attack_sec: 2.2,
        decay_sec: 6.0,
        sustain: 0.75,
        release_sec: 3.5,
        index_attack_boost: 1.0,
        gain: 0.08,
        bus: Bus::Pad,
    };
    // Quieter than it was (the mix was a bass-heavy wall), and a release shorter than the
    // gap the composer leaves before a new root, so two roots never beat.
    const BASS: Timbre = Timbre {
        layers: BASS_LAYERS,
        attack_sec: 0.6,
        decay_sec: 8.0,
        sustain: 0.8,
        release_sec: 0.9,
        index_attack_boost: 1.0,
        gain: 0.12,
        bus: Bus::Bass,
    };
    // Slow in and out, quiet: light over the pads rather than a line. On the pad bus, so
    // the chorus widens it and the reverb carries it.
    const SHIMMER: Timbre = Timbre {
        layers: SHIMMER_LAYERS,
        attack_sec: 3.0,
        decay_sec: 8.0,
        sustain: 0.8,
        release_sec: 4.5,
        index_attack_boost: 1.0,
        gain: 0.10,
        bus: Bus::Pad,
    };
    const LEAD: Timbre = Timbre {
        layers: LEAD_LAYERS,
        attack_sec: 0.08,
        decay_sec: 0.9,
        sustain: 0.55,
        release_sec: 1.6,
        index_attack_boost: 2.2,
        // One line against four or five pad voices: it needs to sit clearly on top.
        gain: 0.20,
        bus: Bus::Lead,
    };
    match instrument {
        Instrument::Pad => &PAD,
        Instrument::Bass => &BASS,
        Instrument::Lead => &LEAD,
        Instrument::Shimmer => &SHIMMER,
    }
}
