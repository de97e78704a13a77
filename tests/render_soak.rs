//! The render soak, short (issue 13 "Soaks"): `ambientd render --loudness-every` reports each
//! period's loudness and the process's memory; over 20 minutes of audio the loudness holds
//! (no period strays, no drift between the halves) and the memory is flat. The audio is the
//! same on any machine (CPU back-end, fixed seed), so the bounds hold however loaded CI is;
//! nothing here is timed. The 24-hour run: `ambientd render --seconds 86400 --out /dev/null
//! --backend cpu --loudness-every 3600` (README, "Soaks"; figures in BENCHMARKS.md).

use std::process::Command;

struct Line {
    lufs: f64,
    rss_mib: f64,
    peak_rss_mib: f64,
}

/// `loudness 0-120 s: -20.27 LUFS, peak -8.70 dBFS; memory: RSS 8.4 MiB, peak RSS 8.4 MiB`
fn parse(line: &str) -> Line {
    let number = |after: &str, before: &str| -> f64 {
        let (_, rest) = line.split_once(after).unwrap_or_else(|| panic!("{line}"));
        let (value, _) = rest.split_once(before).unwrap_or_else(|| panic!("{line}"));
        value.trim().parse().unwrap_or_else(|_| panic!("{line}"))
    };
    Line {
        lufs: number(" s: ", " LUFS"),
        rss_mib: number("memory: RSS ", " MiB"),
        peak_rss_mib: number("peak RSS ", " MiB"),
    }
}

#[test]
fn twenty_minutes_rendered_hold_their_loudness_period_by_period_in_flat_memory() {
    let out = Command::new(env!("CARGO_BIN_EXE_ambientd"))
        .args(["render", "--seconds", "1200", "--loudness-every", "120"])
        .args(["--seed", "5", "--backend", "cpu", "--out", "/dev/null"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    let periods: Vec<Line> = stderr
        .lines()
        .filter(|line| line.starts_with("loudness "))
        .map(parse)
        .collect();
    assert_eq!(periods.len(), 10, "{stderr}");
    assert!(stderr.contains("loudness 1080-1200 s: "), "{stderr}");
    let whole: f64 = stdout
        .split_once("loudness ")
        .and_then(|(_, rest)| rest.split_once(" LUFS"))
        .and_then(|(value, _)| value.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        stdout.contains("loudness every 120 s, 10 periods: "),
        "{stdout}"
    );

    // The leveller holds -20 LUFS; ambient swells move a 2-minute stretch by a few LU.
    assert!((whole + 20.0).abs() < 2.0, "whole render {whole} LUFS");
    for (i, period) in periods.iter().enumerate() {
        assert!(
            (period.lufs - whole).abs() < 3.0,
            "period {i}: {} LUFS against {whole} for the whole",
            period.lufs
        );
    }
    let mean = |ps: &[Line]| ps.iter().map(|p| p.lufs).sum::<f64>() / ps.len() as f64;
    let (first, second) = periods.split_at(5);
    let drift = mean(second) - mean(first);
    assert!(
        drift.abs() < 1.5,
        "the second half is {drift:+.2} LU off the first"
    );

    // Flat memory: what the first period needed is all the render ever needs.
    let (start, end) = (&periods[0], &periods[9]);
    assert!(
        end.peak_rss_mib - start.peak_rss_mib < 4.0 && end.rss_mib - start.rss_mib < 4.0,
        "RSS {} -> {} MiB, peak {} -> {} MiB",
        start.rss_mib,
        end.rss_mib,
        start.peak_rss_mib,
        end.peak_rss_mib
    );
    assert!(end.peak_rss_mib < 40.0, "peak RSS {} MiB", end.peak_rss_mib);
}

#[test]
fn a_period_out_of_range_is_refused_with_the_range() {
    for bad in ["0", "-5", "86401"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ambientd"))
            .args(["render", "--seconds", "1", "--out", "/dev/null"])
            .args(["--loudness-every", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert_eq!(
            stderr,
            format!("ambientd: loudness-every: {bad} is out of range (allowed 1..=86400)\n")
        );
    }
}
