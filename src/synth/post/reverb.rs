//! The reverb: pre-delay, input diffusion and an 8-line feedback delay network (FDN) with
//! damping in the loop. A mono send in, a long, smooth, decorrelated stereo tail out.
//!
//! Every delay in it is at least as long as the stretch processed at once, so each stage
//! works on whole stretches with loops the compiler vectorises (see [`BlockRing`]).

use super::ring::BlockRing;
use crate::audio::BLOCK_FRAMES;

const LINES: usize = 8;
/// FDN line lengths at 44.1 kHz: distinct primes from 32 to 73 ms, so the lines' echoes never
/// line up and the modes are spread evenly.
const LINE_LENGTHS_44K: [usize; LINES] = [1433, 1601, 1867, 2053, 2311, 2617, 2909, 3203];
/// Series allpass diffusers before the network (Dattorro's, scaled to 44.1 kHz): they smear
/// a lead note's attack into a cloud before it reaches the lines.
const DIFFUSER_LENGTHS_44K: [usize; 4] = [211, 157, 563, 409];
const DIFFUSER_GAINS: [f32; 4] = [0.75, 0.75, 0.625, 0.625];
/// Gap between the dry sound and the tail: keeps the attack clear in the wash.
const PREDELAY_SEC: f32 = 0.035;
/// Decay to -60 dB at low frequencies, and at the top of the spectrum (damping).
const RT60_SEC: f32 = 6.0;
/// High damping is light: the tail carries 2–8 kHz (the air of a large room), not only
/// the warm low end.
const RT60_HIGH_SEC: f32 = 3.0;
/// Added to the send: keeps every value circulating in the network far above the denormal
/// range during silence. It leaves as a DC of ~1e-19, which the output's DC blocker removes.
const ANTI_DENORMAL: f32 = 1e-20;
/// How the send enters the lines: a row of the 8×8 Hadamard matrix. Left and right are
/// taken out through two other rows (see `network`), so all three are orthogonal and the
/// outputs decorrelated.
const INPUT_SIGNS: [f32; LINES] = [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0];
/// Output scale at `wet` = 1: white noise into the send gives about its own RMS out of each
/// side.
const OUTPUT_GAIN: f32 = 0.5;

/// The reverb. All buffers are allocated in `new`.
#[derive(Debug, Clone)]
pub(super) struct Reverb {
    predelay: BlockRing,
    diffusers: Vec<BlockRing>,
    lines: Vec<BlockRing>,
    /// Per line, the loop's two-tap damping filter `now * x[i] + before * x[i-1]`, with the
    /// line's decay gain and the Hadamard matrix's 1/√8 folded in.
    damp_now: [f32; LINES],
    damp_before: [f32; LINES],
    /// Per line, the last sample read (the damping filter's memory).
    last_read: [f32; LINES],
    /// The longest stretch the network may process at once: its shortest line.
    chunk: usize,
    send: Vec<f32>,
    /// Per line, `BLOCK_FRAMES` samples: the damped, mixed samples to write back.
    feedback: Vec<f32>,
}

fn is_prime(n: usize) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

/// `len_44k` scaled to `sample_rate`, moved up to the next prime.
fn scaled_prime(len_44k: usize, sample_rate: f32) -> usize {
    let mut n = ((len_44k as f32 * sample_rate / 44_100.0).round() as usize).max(2);
    while !is_prime(n) {
        n += 1;
    }
    n
}

impl Reverb {
    /// A silent reverb at `sample_rate`.
    pub(super) fn new(sample_rate: f32) -> Self {
        let lengths = LINE_LENGTHS_44K.map(|len| scaled_prime(len, sample_rate));
        let hadamard_scale = 1.0 / (LINES as f32).sqrt();
        let mut damp_now = [0.0; LINES];
        let mut damp_before = [0.0; LINES];
        for (l, &len) in lengths.iter().enumerate() {
            // Gains per pass that give the wanted RT60 at DC and at Nyquist; the two-tap
            // filter (1-k) + k z⁻¹ has gain 1 at DC and 1-2k at Nyquist.
            let gain_low = 10f32.powf(-3.0 * len as f32 / (RT60_SEC * sample_rate));
            let gain_high = 10f32.powf(-3.0 * len as f32 / (RT60_HIGH_SEC * sample_rate));
            let k = 0.5 * (1.0 - gain_high / gain_low);
            damp_now[l] = gain_low * (1.0 - k) * hadamard_scale;
            damp_before[l] = gain_low * k * hadamard_scale;
        }
        let chunk = lengths.iter().copied().min().unwrap_or(1).min(BLOCK_FRAMES);
        Reverb {
            predelay: BlockRing::new(((PREDELAY_SEC * sample_rate) as usize).max(1)),
            diffusers: DIFFUSER_LENGTHS_44K
                .iter()
                .map(|&len| BlockRing::new(scaled_prime(len, sample_rate)))
                .collect(),
            lines: lengths.iter().map(|&len| BlockRing::new(len)).collect(),
            damp_now,
            damp_before,
            last_read: [0.0; LINES],
            chunk,
            send: vec![0.0; BLOCK_FRAMES],
            feedback: vec![0.0; LINES * BLOCK_FRAMES],
        }
    }

    /// Adds the reverb of the mono `send` (at most `BLOCK_FRAMES` samples), times `wet`, into
    /// `out_l` and `out_r`.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(&mut self, send: &[f32], wet: f32, out_l: &mut [f32], out_r: &mut [f32]) {
        let n = send.len();
        assert!(n <= BLOCK_FRAMES && out_l.len() >= n && out_r.len() >= n);
        let buf = &mut self.send[..n];
        for (b, &x) in buf.iter_mut().zip(send) {
            *b = x + ANTI_DENORMAL;
        }
        self.predelay.advance(n, |stretch, offset| {
            for (slot, x) in stretch.iter_mut().zip(&mut buf[offset..]) {
                std::mem::swap(slot, x);
            }
        });
        for (diffuser, &gain) in self.diffusers.iter_mut().zip(&DIFFUSER_GAINS) {
            // Schroeder allpass: v = x + g·v[n-D], y = v[n-D] - g·v; the ring holds v.
            diffuser.advance(n, |stretch, offset| {
                for (slot, x) in stretch.iter_mut().zip(&mut buf[offset..]) {
                    let delayed = *slot;
                    let v = *x + gain * delayed;
                    *slot = v;
                    *x = delayed - gain * v;
                }
            });
        }
        let mut start = 0;
        while start < n {
            let m = self.chunk.min(n - start);
            let out = [&mut out_l[start..start + m], &mut out_r[start..start + m]];
            self.network(start, m, wet * OUTPUT_GAIN, out);
            start += m;
        }
    }

    /// Runs the network over `m` samples (no more than its shortest line) of the diffused
    /// send, from `start`, adding its output (times `wet`) into `out`.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    fn network(&mut self, start: usize, m: usize, wet: f32, out: [&mut [f32]; 2]) {
        let rows = self.feedback.chunks_exact_mut(BLOCK_FRAMES);
        for (l, (row, line)) in rows.zip(&self.lines).enumerate() {
            // Damped straight from the ring, in its one or two stretches.
            let (first, second) = line.delayed(m);
            let (now, before) = (self.damp_now[l], self.damp_before[l]);
            let (row_first, row_second) = row[..m].split_at_mut(first.len());
            let mut last = self.last_read[l];
            for (stretch, out) in [(first, row_first), (second, row_second)] {
                damp(stretch, last, now, before, out);
                last = stretch.last().copied().unwrap_or(last);
            }
            self.last_read[l] = last;
        }
        let [out_l, out_r] = out;
        let (out_l, out_r) = (&mut out_l[..m], &mut out_r[..m]);
        let input = &self.send[start..start + m];
        let [r0, r1, r2, r3, r4, r5, r6, r7] = rows_of(&mut self.feedback, m);
        for i in 0..m {
            // The 8-point fast Walsh–Hadamard transform (Sylvester order). Its rows 1 and 2
            // are the output taps: left = Σ (-1)^j d_j, right = Σ (-1)^(j/2) d_j.
            let (a0, a1) = (r0[i] + r1[i], r0[i] - r1[i]);
            let (a2, a3) = (r2[i] + r3[i], r2[i] - r3[i]);
            let (a4, a5) = (r4[i] + r5[i], r4[i] - r5[i]);
            let (a6, a7) = (r6[i] + r7[i], r6[i] - r7[i]);
            let (b0, b2) = (a0 + a2, a0 - a2);
            let (b1, b3) = (a1 + a3, a1 - a3);
            let (b4, b6) = (a4 + a6, a4 - a6);
            let (b5, b7) = (a5 + a7, a5 - a7);
            let h = [
                b0 + b4,
                b1 + b5,
                b2 + b6,
                b3 + b7,
                b0 - b4,
                b1 - b5,
                b2 - b6,
                b3 - b7,
            ];
            out_l[i] += wet * h[1];
            out_r[i] += wet * h[2];
            let x = input[i];
            r0[i] = h[0] + INPUT_SIGNS[0] * x;
            r1[i] = h[1] + INPUT_SIGNS[1] * x;
            r2[i] = h[2] + INPUT_SIGNS[2] * x;
            r3[i] = h[3] + INPUT_SIGNS[3] * x;
            r4[i] = h[4] + INPUT_SIGNS[4] * x;
            r5[i] = h[5] + INPUT_SIGNS[5] * x;
            r6[i] = h[6] + INPUT_SIGNS[6] * x;
            r7[i] = h[7] + INPUT_SIGNS[7] * x;
        }
        for (row, line) in self
            .feedback
            .chunks_exact(BLOCK_FRAMES)
            .zip(&mut self.lines)
        {
            line.push(&row[..m]);
        }
    }
}

/// The two-tap damping `out[i] = now * x[i] + before * x[i-1]`, where `x[-1]` is `previous`.
#[inline(always)]
fn damp(x: &[f32], previous: f32, now: f32, before: f32, out: &mut [f32]) {
    let (Some(&first), Some(out_first)) = (x.first(), out.first_mut()) else {
        return;
    };
    *out_first = now * first + before * previous;
    for ((o, &x_now), &x_before) in out[1..].iter_mut().zip(&x[1..]).zip(x) {
        *o = now * x_now + before * x_before;
    }
}

/// The first `m` samples of each line's row of `feedback`.
fn rows_of(feedback: &mut [f32], m: usize) -> [&mut [f32]; LINES] {
    let mut rows = feedback
        .chunks_exact_mut(BLOCK_FRAMES)
        .map(|row| &mut row[..m]);
    std::array::from_fn(|_| rows.next().expect("one row per line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(reverb: &mut Reverb, send: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut left = vec![0.0; send.len()];
        let mut right = vec![0.0; send.len()];
        for ((s, l), r) in send
            .chunks(BLOCK_FRAMES)
            .zip(left.chunks_mut(BLOCK_FRAMES))
            .zip(right.chunks_mut(BLOCK_FRAMES))
        {
            reverb.process(s, 1.0, l, r);
        }
        (left, right)
    }

    fn energy(x: &[f32]) -> f64 {
        x.iter().map(|&s| f64::from(s) * f64::from(s)).sum()
    }

    #[test]
    fn line_lengths_are_distinct_primes_longer_than_a_block() {
        let lengths = LINE_LENGTHS_44K.map(|len| scaled_prime(len, 44_100.0));
        assert_eq!(lengths, LINE_LENGTHS_44K);
        assert!(
            lengths
                .iter()
                .all(|&len| is_prime(len) && len >= BLOCK_FRAMES)
        );
        let at_48k = LINE_LENGTHS_44K.map(|len| scaled_prime(len, 48_000.0));
        assert!(at_48k.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn an_impulse_decays_smoothly_near_the_wanted_rt60_and_stays_finite() {
        let mut reverb = Reverb::new(44_100.0);
        let rate = 44_100;
        let mut send = vec![0.0f32; 12 * rate];
        send[0] = 1.0;
        let (left, right) = run(&mut reverb, &send);
        assert!(left.iter().chain(&right).all(|s| s.is_finite()));
        // Energy per 0.5 s window, from 0.5 s (after the build-up) on.
        let windows: Vec<f64> = left
            .chunks(rate / 2)
            .zip(right.chunks(rate / 2))
            .map(|(l, r)| energy(l) + energy(r))
            .collect();
        assert!(windows[1..].windows(2).all(|w| w[1] < w[0]), "{windows:?}");
        // dB lost per second between 1 s and 5 s: 60 dB over RT60, the damping makes the
        // broadband decay a little faster.
        let per_sec = 10.0 * (windows[2] / windows[10]).log10() / 4.0;
        let rt60 = 60.0 / per_sec;
        assert!((3.5..7.0).contains(&rt60), "RT60 {rt60:.2} s");
        let correlation: f64 = left
            .iter()
            .zip(&right)
            .map(|(&a, &b)| f64::from(a * b))
            .sum();
        let normalised = correlation / (energy(&left) * energy(&right)).sqrt();
        assert!(
            normalised.abs() < 0.3,
            "left/right correlation {normalised}"
        );
    }

    #[test]
    fn steady_noise_comes_out_at_about_its_own_level() {
        let mut reverb = Reverb::new(44_100.0);
        let mut state = 1u32;
        let send: Vec<f32> = (0..10 * 44_100)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as i32) as f32 / 2_147_483_648.0
            })
            .collect();
        let (left, _) = run(&mut reverb, &send);
        let ratio = (energy(&left[44_100 * 8..]) / energy(&send[44_100 * 8..])).sqrt();
        assert!((0.5..2.0).contains(&ratio), "gain {ratio}");
    }

    #[test]
    fn silence_in_gives_finite_near_silence_out() {
        let mut reverb = Reverb::new(44_100.0);
        let (left, right) = run(&mut reverb, &vec![0.0; 5 * 44_100]);
        assert!(
            left.iter()
                .chain(&right)
                .all(|s| s.is_finite() && s.abs() < 1e-15)
        );
    }
}
