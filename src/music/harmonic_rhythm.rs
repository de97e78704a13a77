//! Harmonic rhythm: how a phrase's 8 bars are shared among its chords, set in seconds as well
//! as bars, so a chord lasts long enough to breathe at any tempo.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::PHRASE_BARS;

/// Shortest a chord may last, seconds, whatever the tempo (the last chord of a phrase may be
/// shorter, down to two bars): the harmony breathes at 120 bpm as at 40.
pub const MIN_CHORD_SEC: f64 = 5.0;

/// Ways to split the 8 bars among the phrase's chords (harmonic rhythm), in bars.
const TEMPLATES: [&[u8]; 13] = [
    &[8],
    &[4, 4],
    &[6, 2],
    &[5, 3],
    &[3, 3, 2],
    &[4, 2, 2],
    &[2, 4, 2],
    &[2, 2, 4],
    &[4, 3, 1],
    &[2, 2, 2, 2],
    &[3, 2, 2, 1],
    &[4, 2, 1, 1],
    &[2, 2, 2, 1, 1],
];

/// Fewest bars a chord may last at `bar_sec` seconds a bar.
pub fn min_chord_bars(bar_sec: f64) -> usize {
    ((MIN_CHORD_SEC / bar_sec).ceil() as usize).clamp(1, 4)
}

/// Whether a split into `segments` (bars each) keeps every chord but the last at least
/// `min_bars` long, and the last at least two bars (or `min_bars`, if smaller).
pub(super) fn rhythm_fits(segments: &[u8], min_bars: usize) -> bool {
    let (last, rest) = segments.split_last().expect("at least one segment");
    rest.iter().all(|&s| usize::from(s) >= min_bars) && usize::from(*last) >= min_bars.min(2)
}

/// Chooses a split of the 8 bars into `segments`, returning how many chords. A closing
/// (`closes`)
/// cadence needs three chords or more (tonic, approach, tonic) or one (a tonic pedal); an
/// open or half ending two or more. Fuller phrases lean toward more chords.
pub(super) fn draw_rhythm(
    min_bars: usize,
    closes: bool,
    energy: f32,
    rng: &mut ChaCha8Rng,
    segments: &mut [u8; PHRASE_BARS],
) -> usize {
    let allowed =
        |t: &&&[u8]| rhythm_fits(t, min_bars) && if closes { t.len() != 2 } else { t.len() >= 2 };
    let target = 2.0 + 2.5 * energy;
    // Fuller phrases move more; and the tonic, first and last, is given the longer spans.
    let weight = |t: &[u8]| {
        let edges = f32::from(t[0])
            + if t.len() > 1 {
                f32::from(t[t.len() - 1])
            } else {
                0.0
            };
        (1.0 + 0.3 * edges) / (1.0 + (t.len() as f32 - target).abs().powi(2))
    };
    let total: f32 = TEMPLATES.iter().filter(allowed).map(|t| weight(t)).sum();
    let mut u = rng.random::<f32>() * total;
    let mut chosen: &[u8] = &[8];
    for template in TEMPLATES.iter().filter(allowed) {
        chosen = template;
        u -= weight(template);
        if u <= 0.0 {
            break;
        }
    }
    segments[..chosen.len()].copy_from_slice(chosen);
    chosen.len()
}
