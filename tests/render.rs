//! The engine heard from outside: determinism, levels, clicks, key and tempo of real renders.

mod common;

use ambientctl::{Key, SynthesisParameters};
use ambientd::render::{Levels, ParamChange, measure, render};
use common::analysis::{chroma, estimate_key, harmonic_motion, window_rms_dbfs, worst_click};

/// A click is a 5 ms window whose peak second difference is this many times the median
/// of its ±0.5 s neighbourhood.
const CLICK_RATIO: f64 = 8.0;

fn params(key: &str, bpm: u16, intensity: f32, seed: u64) -> SynthesisParameters {
    SynthesisParameters::new(key.parse().unwrap(), bpm, intensity, seed).unwrap()
}

fn assert_sounds_right(label: &str, audio: &[f32]) {
    assert!(
        audio.iter().all(|s| s.is_finite()),
        "{label}: NaN or infinity"
    );
    let Levels {
        peak_dbfs,
        integrated_lufs,
        dc,
    } = measure(audio);
    assert!(
        peak_dbfs <= -1.0,
        "{label}: peak {peak_dbfs:.2} dBFS > -1 dBFS"
    );
    assert!(
        (-23.0..=-17.0).contains(&integrated_lufs),
        "{label}: loudness {integrated_lufs:.1} LUFS"
    );
    assert!(dc.abs() < 0.005, "{label}: DC {dc}");
    let after_two_seconds = &audio[2 * 2 * 44_100..];
    let quietest = window_rms_dbfs(after_two_seconds, 0.5)
        .into_iter()
        .fold(f64::MAX, f64::min);
    assert!(
        quietest > -50.0,
        "{label}: a half second at {quietest:.1} dBFS is dead silence"
    );
    let (ratio, at) = worst_click(audio);
    assert!(
        ratio < CLICK_RATIO,
        "{label}: click {ratio:.1}x its neighbourhood at {at:.2} s"
    );
}

#[test]
fn same_seed_same_samples_other_seed_other_music() {
    let p = params("A minor", 70, 0.5, 42);
    let a = render(p, 20.0, &[]);
    let b = render(p, 20.0, &[]);
    assert!(a == b, "two renders of one seed differ");
    let mut other = p;
    other.set_seed(43);
    let c = render(other, 20.0, &[]);
    let differing = a.iter().zip(&c).filter(|(x, y)| x != y).count();
    assert!(
        differing > a.len() / 2,
        "seeds 42 and 43 gave nearly the same audio"
    );
}

#[test]
fn sixty_second_renders_are_clean_at_many_settings() {
    for (key, bpm, intensity, seed) in [
        ("A minor", 70, 0.5, 1),
        ("D minor", 40, 0.0, 2),
        ("C major", 120, 1.0, 3),
        ("F# minor", 90, 0.8, 4),
        ("Eb major", 55, 0.2, 5),
        ("G major", 70, 0.5, 6),
    ] {
        let audio = render(params(key, bpm, intensity, seed), 60.0, &[]);
        assert_sounds_right(
            &format!("{key} {bpm} bpm intensity {intensity} seed {seed}"),
            &audio,
        );
    }
}

#[test]
fn parameter_changes_are_smooth() {
    let start = params("A minor", 70, 0.5, 9);
    let mut changes = Vec::new();
    let mut p = start;
    p.set_key("D minor".parse::<Key>().unwrap());
    changes.push(ParamChange {
        at_sec: 11.3,
        params: p,
    });
    p.set_bpm(110).unwrap();
    changes.push(ParamChange {
        at_sec: 23.7,
        params: p,
    });
    p.set_intensity(1.0).unwrap();
    changes.push(ParamChange {
        at_sec: 31.0,
        params: p,
    });
    p.set_key("E major".parse::<Key>().unwrap());
    p.set_bpm(45).unwrap();
    p.set_intensity(0.1).unwrap();
    changes.push(ParamChange {
        at_sec: 40.2,
        params: p,
    });
    p.set_seed(99);
    changes.push(ParamChange {
        at_sec: 52.9,
        params: p,
    });
    let audio = render(start, 70.0, &changes);
    assert_sounds_right("with changes", &audio);
}

/// The detector hears a 4% step (-28 dBFS) in dark music (intensity 0), past the first two
/// seconds (the fade-in from silence). It heard 1% at intensity 0.5 before issue 11; the
/// brighter mix (FM partials, the presence shelf, the 2.5–9 kHz air band) raises its floor
/// of second differences, so at 0.5 it is now a coarse check only (see docs/music.md).
#[test]
fn the_click_detector_hears_a_small_discontinuity() {
    let full = render(params("A minor", 70, 0.0, 1), 20.0, &[]);
    let mut audio = full[2 * 2 * 44_100..].to_vec();
    assert!(worst_click(&audio).0 < CLICK_RATIO);
    for s in audio[2 * 8 * 44_100..].iter_mut().step_by(2) {
        *s += 0.04; // a 4% step in the left channel at 10 s
    }
    let (ratio, at) = worst_click(&audio);
    assert!(
        ratio > CLICK_RATIO && (at - 8.0).abs() < 0.01,
        "missed the step: {ratio} at {at}"
    );
}

/// Two one-pole lowpasses at 700 Hz, per channel. This plain chroma counts every partial as
/// a pitch class; since issue 11 opened up the pads (stronger FM partials: the third harmonic
/// is the fifth above) it would hear the dominant's pitch classes too loudly. Dimmed above
/// the pads' fundamentals it hears the fundamentals, as a listener (and essentia's
/// harmonic-weighted HPCP, docs/music.md) does.
fn darkened(stereo: &[f32]) -> Vec<f32> {
    let a = 1.0 - (-2.0 * std::f32::consts::PI * 700.0 / 44_100.0).exp();
    let mut state = [[0.0f32; 2]; 2];
    stereo
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let s = &mut state[i % 2];
            s[0] += a * (x - s[0]);
            s[1] += a * (s[0] - s[1]);
            s[1]
        })
        .collect()
}

#[test]
fn the_requested_key_is_what_is_heard() {
    for (key, seed) in [
        ("A minor", 1),
        ("D minor", 2),
        ("C major", 3),
        ("F# minor", 4),
        ("Bb major", 5),
        ("E minor", 6),
    ] {
        let requested: Key = key.parse().unwrap();
        let audio = render(params(key, 70, 0.5, seed), 60.0, &[]);
        let ((tonic, minor), r) = estimate_key(&chroma(&darkened(&audio)));
        let relative = if requested.mode() == ambientctl::Mode::Minor {
            ((requested.pitch_class() + 3) % 12, false)
        } else {
            ((requested.pitch_class() + 9) % 12, true)
        };
        let own = (
            requested.pitch_class(),
            requested.mode() == ambientctl::Mode::Minor,
        );
        assert!(
            (tonic, minor) == own || (tonic, minor) == relative,
            "{key}: heard tonic pc {tonic} minor={minor} (r = {r:.2})"
        );
    }
}

/// The harmonic rhythm is set in seconds as well as bars (a chord lasts at least 5 s): a
/// faster tempo no longer rushes the harmony along with it. (Before the form of issue 11 a
/// chord lasted one bar and the harmony moved with the tempo; this test asserted that.)
#[test]
fn a_faster_tempo_does_not_rush_the_harmony() {
    for seed in [1, 2] {
        let slow = harmonic_motion(&render(params("A minor", 45, 0.5, seed), 60.0, &[]));
        let fast = harmonic_motion(&render(params("A minor", 115, 0.5, seed), 60.0, &[]));
        assert!(
            fast < slow * 1.8,
            "seed {seed}: motion at 115 bpm {fast:.4} vs 45 bpm {slow:.4}"
        );
    }
}
