//! Listening with numbers: clicks, silence, pitch-class profiles and key estimates of
//! interleaved stereo f32 at 44.1 kHz.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

pub const RATE: f64 = 44_100.0;

/// Largest ratio, over the whole signal, of a 5 ms window's peak second difference to the
/// median of the windows around it (±0.5 s). Music changes its high-frequency level slowly;
/// a click is one window far above its neighbours. Returns (ratio, time in seconds).
pub fn worst_click(stereo: &[f32]) -> (f64, f64) {
    let window = (0.005 * RATE) as usize;
    let mut worst = (0.0, 0.0);
    for ch in 0..2 {
        let x: Vec<f64> = stereo
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|&s| f64::from(s))
            .collect();
        let peaks: Vec<f64> = x
            .windows(3)
            .map(|w| (w[2] - 2.0 * w[1] + w[0]).abs())
            .collect::<Vec<_>>()
            .chunks(window)
            .map(|c| c.iter().cloned().fold(0.0, f64::max))
            .collect();
        let reach = 100; // windows on each side: ±0.5 s
        for i in 0..peaks.len() {
            let lo = i.saturating_sub(reach);
            let hi = (i + reach + 1).min(peaks.len());
            let mut around: Vec<f64> = peaks[lo..hi].to_vec();
            around.sort_by(f64::total_cmp);
            let median = around[around.len() / 2].max(1e-6);
            let ratio = peaks[i] / median;
            if ratio > worst.0 {
                worst = (ratio, (i * window) as f64 / RATE);
            }
        }
    }
    worst
}

/// RMS in dBFS of each `seconds`-long window of the mono mix.
pub fn window_rms_dbfs(stereo: &[f32], seconds: f64) -> Vec<f64> {
    let frames = (seconds * RATE) as usize;
    stereo
        .chunks(frames * 2)
        .map(|c| {
            let ms = c.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / c.len() as f64;
            10.0 * ms.max(1e-20).log10()
        })
        .collect()
}

/// Energy per pitch class (0 = C) of the mono mix between 55 Hz and 2 kHz, from a Hann-windowed
/// FFT every `hop` seconds over `[from, to)` seconds; one profile per hop.
pub fn chroma_frames(stereo: &[f32], hop: f64) -> Vec<[f64; 12]> {
    let size = 16_384;
    let mono: Vec<f32> = stereo.chunks(2).map(|f| 0.5 * (f[0] + f[1])).collect();
    let mut planner = FftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(size);
    let step = (hop * RATE) as usize;
    let mut out = Vec::new();
    let mut start = 0;
    while start + size <= mono.len() {
        let mut buf: Vec<Complex<f32>> = (0..size)
            .map(|i| {
                let w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / size as f32).cos();
                Complex::new(mono[start + i] * w, 0.0)
            })
            .collect();
        fft.process(&mut buf);
        let mut chroma = [0.0f64; 12];
        for (bin, c) in buf.iter().enumerate().take(size / 2).skip(1) {
            let hz = bin as f64 * RATE / size as f64;
            if !(55.0..=2_000.0).contains(&hz) {
                continue;
            }
            let midi = 69.0 + 12.0 * (hz / 440.0).log2();
            let pc = (midi.round() as i64).rem_euclid(12) as usize;
            chroma[pc] += f64::from(c.norm_sqr());
        }
        out.push(chroma);
        start += step;
    }
    out
}

/// The summed pitch-class profile of a whole render.
pub fn chroma(stereo: &[f32]) -> [f64; 12] {
    let mut total = [0.0; 12];
    for frame in chroma_frames(stereo, 0.5) {
        for (t, c) in total.iter_mut().zip(frame) {
            *t += c.sqrt();
        }
    }
    total
}

const KK_MAJOR: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const KK_MINOR: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

fn pearson(a: &[f64; 12], b: &[f64; 12]) -> f64 {
    let ma = a.iter().sum::<f64>() / 12.0;
    let mb = b.iter().sum::<f64>() / 12.0;
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The key (tonic pitch class, minor?) whose Krumhansl–Kessler profile correlates best with
/// `chroma`, and the correlation.
pub fn estimate_key(chroma: &[f64; 12]) -> ((u8, bool), f64) {
    let mut best = ((0, false), f64::MIN);
    for tonic in 0..12u8 {
        for minor in [false, true] {
            let profile = if minor { &KK_MINOR } else { &KK_MAJOR };
            let mut rotated = [0.0; 12];
            for (i, r) in rotated.iter_mut().enumerate() {
                *r = profile[(i + 12 - tonic as usize) % 12];
            }
            let r = pearson(chroma, &rotated);
            if r > best.1 {
                best = ((tonic, minor), r);
            }
        }
    }
    best
}

/// Mean cosine distance between pitch-class profiles one second apart: how fast the harmony
/// moves.
pub fn harmonic_motion(stereo: &[f32]) -> f64 {
    let frames = chroma_frames(stereo, 0.5);
    let cos = |a: &[f64; 12], b: &[f64; 12]| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
        dot / (na * nb).max(1e-30)
    };
    let d: Vec<f64> = frames.windows(3).map(|w| 1.0 - cos(&w[0], &w[2])).collect();
    d.iter().sum::<f64>() / d.len() as f64
}
