//! Loudness period by period during a render (`ambientd render --loudness-every SECONDS`):
//! each period's own EBU R128 integrated loudness and peak, reported as soon as it ends, so
//! a 24-hour soak shows any drift hour by hour without holding or re-reading the audio.

use super::loudness::Loudness;
use crate::audio::{CHANNELS, SAMPLE_RATE};

/// One finished period of a render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// Seconds from the start of the render at which the period began.
    pub start_sec: f64,
    /// Its length in seconds (the last one may be shorter).
    pub seconds: f64,
    /// EBU R128 integrated loudness of the period alone, LUFS (−∞ when it is all silence
    /// or shorter than one 400 ms block).
    pub integrated_lufs: f64,
    /// Highest absolute sample of the period, dBFS.
    pub peak_dbfs: f64,
}

/// Cuts interleaved stereo f32 fed to it in pieces into periods of a fixed length and hands
/// each finished one to `report`. Memory is the same for any length: the meter keeps a
/// histogram of block energies, not the blocks.
pub struct PeriodMeter {
    every_frames: u64,
    frames: u64,
    started: u64,
    peak: f32,
    loudness: Loudness,
    report: Box<dyn FnMut(&Period) + Send>,
}

impl std::fmt::Debug for PeriodMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeriodMeter")
            .field("every_frames", &self.every_frames)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl PeriodMeter {
    /// A meter reporting every `seconds` (at least one frame).
    pub fn new(seconds: f64, report: impl FnMut(&Period) + Send + 'static) -> Self {
        PeriodMeter {
            every_frames: super::frames_in(seconds).max(1),
            frames: 0,
            started: 0,
            peak: 0.0,
            loudness: Loudness::new(),
            report: Box::new(report),
        }
    }

    /// Adds the next frames, reporting each period that ends inside them.
    pub fn add(&mut self, mut samples: &[f32]) {
        while !samples.is_empty() {
            let room = (self.every_frames - self.frames) as usize;
            let (now, rest) = samples.split_at((room * CHANNELS).min(samples.len()));
            self.peak = self.peak.max(crate::synth::post::peak(now));
            self.loudness.add(now);
            self.frames += (now.len() / CHANNELS) as u64;
            if self.frames == self.every_frames {
                self.close();
            }
            samples = rest;
        }
    }

    /// Reports the period under way, if it holds anything (the end of the render).
    pub fn finish(&mut self) {
        if self.frames > 0 {
            self.close();
        }
    }

    fn close(&mut self) {
        let rate = f64::from(SAMPLE_RATE);
        let period = Period {
            start_sec: self.started as f64 / rate,
            seconds: self.frames as f64 / rate,
            integrated_lufs: self.loudness.integrated(),
            peak_dbfs: 20.0 * f64::from(self.peak).log10(),
        };
        (self.report)(&period);
        self.started += self.frames;
        self.frames = 0;
        self.peak = 0.0;
        self.loudness.reset();
    }
}

impl Period {
    /// The period as one report line, with the process's memory now and at its peak (from
    /// `/proc/self/status`, where there is one), e.g. `loudness 0-3600 s: -17.93 LUFS, peak
    /// -4.21 dBFS; memory: RSS 9.1 MiB, peak RSS 9.3 MiB`.
    pub fn line(&self) -> String {
        let end = self.start_sec + self.seconds;
        let memory = match memory_kib() {
            Some((rss, peak)) => format!(
                "; memory: RSS {:.1} MiB, peak RSS {:.1} MiB",
                rss as f64 / 1024.0,
                peak as f64 / 1024.0
            ),
            None => String::new(),
        };
        format!(
            "loudness {}-{} s: {:.2} LUFS, peak {:.2} dBFS{memory}",
            self.start_sec, end, self.integrated_lufs, self.peak_dbfs
        )
    }
}

/// This process's resident memory and its peak, KiB (`VmRSS`, `VmHWM`); `None` off Linux.
pub fn memory_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The range of the periods' loudness: how far it drifts over a render.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    /// Periods counted (those with a finite loudness).
    pub periods: u32,
    /// The quietest period, LUFS.
    pub min_lufs: f64,
    /// The loudest period, LUFS.
    pub max_lufs: f64,
}

impl Spread {
    /// Counts `period` in.
    pub fn add(&mut self, period: &Period) {
        let lufs = period.integrated_lufs;
        if !lufs.is_finite() {
            return;
        }
        if self.periods == 0 {
            (self.min_lufs, self.max_lufs) = (lufs, lufs);
        }
        self.min_lufs = self.min_lufs.min(lufs);
        self.max_lufs = self.max_lufs.max(lufs);
        self.periods += 1;
    }

    /// The spread as one line, e.g. `24 periods: -18.12 to -17.80 LUFS (spread 0.32 LU)`.
    pub fn line(&self) -> String {
        format!(
            "{} period{}: {:.2} to {:.2} LUFS (spread {:.2} LU)",
            self.periods,
            if self.periods == 1 { "" } else { "s" },
            self.min_lufs,
            self.max_lufs,
            self.max_lufs - self.min_lufs
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn tone(frames: usize, amplitude: f32) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let s = amplitude * (i as f32 * 440.0 * std::f32::consts::TAU / 44_100.0).sin();
                [s, s]
            })
            .collect()
    }

    #[test]
    fn each_period_is_measured_alone_however_the_input_is_cut() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let mut meter = PeriodMeter::new(2.0, move |p| sink.lock().unwrap().push(*p));
        let loud = tone(3 * 44_100, 0.5);
        let quiet = tone(3 * 44_100, 0.05);
        // Fed in odd pieces: a period boundary falls inside a piece.
        for piece in loud
            .chunks(7_000 * CHANNELS)
            .chain(quiet.chunks(9_999 * CHANNELS))
        {
            meter.add(piece);
        }
        meter.finish();
        let seen = seen.lock().unwrap();
        let starts: Vec<f64> = seen.iter().map(|p| p.start_sec).collect();
        assert_eq!(starts, [0.0, 2.0, 4.0]);
        assert_eq!(seen[2].seconds, 2.0);
        // 0–2 s loud, 2–4 s half and half, 4–6 s quiet: 20 dB apart at the ends.
        let drop = seen[0].integrated_lufs - seen[2].integrated_lufs;
        assert!((drop - 20.0).abs() < 0.2, "{seen:?}");
        assert!((seen[0].peak_dbfs - 20.0 * 0.5f64.log10()).abs() < 0.01);
    }
}
