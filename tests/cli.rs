//! `ambientd render` as a user runs it: the real binary, real files, real error messages.

use std::process::{Command, Output};

fn ambientd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .args(args)
        .output()
        .expect("run ambientd")
}

#[test]
fn render_writes_a_16_bit_stereo_wav_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.wav");
    let b = dir.path().join("b.wav");
    for path in [&a, &b] {
        let out = ambientd(&[
            "render",
            "--seconds",
            "5",
            "--out",
            path.to_str().unwrap(),
            "--seed",
            "11",
            "--bpm",
            "80",
            "--key",
            "D minor",
            "--intensity",
            "0.3",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("seed 11") && stdout.contains("LUFS"),
            "{stdout}"
        );
    }
    let reader = hound::WavReader::open(&a).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 44_100, 16)
    );
    assert_eq!(reader.duration(), 5 * 44_100);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same seed, same file"
    );
}

#[test]
fn render_without_a_seed_picks_one_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.wav");
    let out = ambientd(&["render", "--seconds", "1", "--out", path.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(", seed "));
}

#[test]
fn bad_parameters_fail_with_one_line_naming_the_field_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.wav");
    let out_arg = path.to_str().unwrap();
    for (args, expect) in [
        (
            vec!["--bpm", "130"],
            "bpm: 130 is out of range (allowed 40..=120)",
        ),
        (
            vec!["--bpm", "39"],
            "bpm: 39 is out of range (allowed 40..=120)",
        ),
        (
            vec!["--intensity", "1.5"],
            "intensity: 1.5 is out of range (allowed 0.0..=1.0)",
        ),
        (
            vec!["--intensity", "-0.5"],
            "intensity: -0.5 is out of range (allowed 0.0..=1.0)",
        ),
        (vec!["--key", "H minor"], "key: \"H minor\" is not a key"),
        (vec!["--seconds", "0"], "seconds: 0 is out of range"),
        (
            vec!["--bpm", "fast"],
            "bpm: \"fast\" is not a whole number (allowed 40..=120)",
        ),
        (
            vec!["--seed", "-3"],
            "seed: -3 is out of range (allowed 0..=18446744073709551615)",
        ),
        (
            vec!["--seed", "18446744073709551616"],
            "seed: 18446744073709551616 is out of range (allowed 0..=18446744073709551615)",
        ),
    ] {
        let mut full = vec!["render", "--out", out_arg];
        full.extend(args.iter().copied());
        let out = ambientd(&full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!path.exists(), "{args:?} wrote a file anyway");
    }
}

#[test]
fn an_unwritable_output_names_the_path() {
    let out = ambientd(&[
        "render",
        "--seconds",
        "1",
        "--out",
        "/nonexistent-dir/a.wav",
        "--seed",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-dir/a.wav"));
}
