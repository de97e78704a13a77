//! Pitch arithmetic: scales, MIDI numbers and frequencies.

/// Frequency in Hz of a (possibly fractional) MIDI note, A4 = 69 = 440 Hz.
pub fn midi_to_hz(midi: f64) -> f64 {
    440.0 * ((midi - 69.0) / 12.0).exp2()
}
