//! Colour: each bus's own treatment before the shared reverb. The pads pass a two-pole
//! brightness lowpass and the lead a two-pole tone lowpass, both with corners that follow
//! intensity; the lead then feeds a soft stereo ping-pong echo locked to the tempo (a dotted
//! eighth), darker with every repeat; a tempo change crossfades to the new delay time.
//!
//! All of it runs in one pass over the block. Each recursive filter waits on its own last
//! output, but not on the others', so in one loop the processor overlaps them: one pass
//! costs about what the slowest filter alone would.

use super::filter::{flush_denormal, one_pole_coefficient, ramp_index};

/// Delay time in beats: a dotted eighth.
const BEATS: f32 = 0.75;
/// Share of each echo that comes back as the next one (on the other side).
const FEEDBACK: f32 = 0.45;
/// Corner of the lowpass every echo passes through: each repeat is softer and darker.
const ECHO_TONE_HZ: f32 = 2_600.0;
/// Length of the crossfade from the old delay time to the new one after a tempo change.
const CROSSFADE_SEC: f32 = 0.15;
/// The longest delay the line can hold (a dotted eighth at 30 bpm).
const MAX_DELAY_SEC: f32 = 1.5;
/// Added to what enters the loop, so that silence never circulates as denormals.
const ANTI_DENORMAL: f32 = 1e-20;

/// A block of stereo, left and right.
type Stereo<'a> = [&'a mut [f32]; 2];

/// The two-pole lowpasses' corners for one block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Corners {
    /// Pad brightness lowpass, Hz.
    pub(super) pad_hz: f32,
    /// Lead tone lowpass, Hz.
    pub(super) lead_hz: f32,
}

/// A stereo two-pole lowpass (two one-poles in series, -6 dB at the corner, 12 dB per
/// octave above) whose coefficient glides linearly across each block to its new value.
#[derive(Debug, Clone)]
struct Lowpass {
    /// Left first pole, right first pole, left second pole, right second pole.
    state: [f32; 4],
    coefficient: f32,
}

impl Lowpass {
    fn new(hz: f32, sample_rate: f32) -> Self {
        Lowpass {
            state: [0.0; 4],
            coefficient: one_pole_coefficient(hz, sample_rate),
        }
    }

    /// Coefficient at the block's start, and its change per frame, to reach `hz` at its end.
    /// Changes too small to hear are skipped, so a steady corner gives a step of exactly 0.
    fn glide(&mut self, hz: f32, sample_rate: f32, frames: usize) -> (f32, f32) {
        let start = self.coefficient;
        let target = one_pole_coefficient(hz, sample_rate);
        if (target - start).abs() <= 1e-6 {
            return (start, 0.0);
        }
        self.coefficient = target;
        (start, (target - start) / frames.max(1) as f32)
    }

    /// One frame: `y = (1 - a)·y + a·x` for each pole (one multiply and one add on the
    /// recursive path; the second pole takes the first's previous output).
    #[inline(always)]
    fn tick(state: &mut [f32; 4], a: f32, left: f32, right: f32) -> (f32, f32) {
        // Written lane by lane so the compiler can do all four poles as one vector operation.
        let keep = 1.0 - a;
        let input = [left, right, state[0], state[1]];
        for (pole, x) in state.iter_mut().zip(input) {
            *pole = keep * *pole + a * x;
        }
        (state[2], state[3])
    }
}

/// The colour stage.
#[derive(Debug, Clone)]
pub(super) struct Colour {
    pad_tone: Lowpass,
    lead_tone: Lowpass,
    left: Vec<f32>,
    right: Vec<f32>,
    mask: usize,
    write: usize,
    /// Delay in samples now (0 before the first block).
    delay: usize,
    /// Delay being faded to; equal to `delay` when no crossfade is running.
    next_delay: usize,
    /// Samples into the running crossfade.
    fade_pos: usize,
    fade_len: usize,
    /// The echo lowpass state, left and right.
    echo_tone: [f32; 2],
    echo_coefficient: f32,
    sample_rate: f32,
}

impl Colour {
    /// A silent colour stage at `sample_rate`, its filters starting at `corners`.
    pub(super) fn new(sample_rate: f32, corners: Corners) -> Self {
        let size = ((MAX_DELAY_SEC * sample_rate) as usize + 1).next_power_of_two();
        Colour {
            pad_tone: Lowpass::new(corners.pad_hz, sample_rate),
            lead_tone: Lowpass::new(corners.lead_hz, sample_rate),
            left: vec![0.0; size],
            right: vec![0.0; size],
            mask: size - 1,
            write: 0,
            delay: 0,
            next_delay: 0,
            fade_pos: 0,
            fade_len: ((CROSSFADE_SEC * sample_rate) as usize).max(1),
            echo_tone: [0.0; 2],
            echo_coefficient: one_pole_coefficient(ECHO_TONE_HZ, sample_rate),
            sample_rate,
        }
    }

    /// The delay in samples for `bpm`, within what the line holds.
    fn delay_for(&self, bpm: f32) -> usize {
        let seconds = BEATS * 60.0 / bpm.max(1.0);
        ((seconds * self.sample_rate).round() as usize).clamp(1, self.mask)
    }

    /// Processes one block: the pads (`pad`, filtered in place), the lead (`lead`, filtered
    /// in place) and the lead's echoes at `bpm` into `echo`.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(
        &mut self,
        corners: Corners,
        bpm: f32,
        pad: [&mut [f32]; 2],
        lead: [&mut [f32]; 2],
        echo: [&mut [f32]; 2],
    ) {
        let target = self.delay_for(bpm);
        if self.delay == 0 {
            self.delay = target;
            self.next_delay = target;
        } else if self.next_delay == self.delay && target != self.delay {
            self.next_delay = target;
            self.fade_pos = 0;
        }
        let [pad_l, pad_r] = pad;
        let [lead_l, lead_r] = lead;
        let [echo_l, echo_r] = echo;
        let n = pad_l.len();
        let (pad_r, lead_l, lead_r) = (&mut pad_r[..n], &mut lead_l[..n], &mut lead_r[..n]);
        let (echo_l, echo_r) = (&mut echo_l[..n], &mut echo_r[..n]);
        let (pad_a, pad_step) = self.pad_tone.glide(corners.pad_hz, self.sample_rate, n);
        let (lead_a, lead_step) = self.lead_tone.glide(corners.lead_hz, self.sample_rate, n);
        let glides = [(pad_a, pad_step), (lead_a, lead_step)];
        let blocks = ([pad_l, pad_r], [lead_l, lead_r], [echo_l, echo_r]);
        let (pad_state, lead_state) = if pad_step == 0.0 && lead_step == 0.0 {
            self.run::<false>(glides, blocks)
        } else {
            self.run::<true>(glides, blocks)
        };
        for (filter, state) in [
            (&mut self.pad_tone, pad_state),
            (&mut self.lead_tone, lead_state),
        ] {
            filter.state = state;
            filter.state.iter_mut().for_each(flush_denormal);
        }
        self.echo_tone.iter_mut().for_each(flush_denormal);
    }

    /// The per-frame loop of [`Colour::process`]; `GLIDING` is false when neither lowpass
    /// moves in this block, which spares the coefficient ramps. Returns the lowpass states.
    #[inline(always)]
    fn run<const GLIDING: bool>(
        &mut self,
        glides: [(f32, f32); 2],
        blocks: (Stereo, Stereo, Stereo),
    ) -> ([f32; 4], [f32; 4]) {
        let [(pad_a, pad_step), (lead_a, lead_step)] = glides;
        let ([pad_l, pad_r], [lead_l, lead_r], [echo_l, echo_r]) = blocks;
        let n = pad_l.len();
        let mut pad_state = self.pad_tone.state;
        let mut lead_state = self.lead_tone.state;
        let (mask, a) = (self.mask, self.echo_coefficient);
        let keep = 1.0 - a;
        let [mut tone_l, mut tone_r] = self.echo_tone;
        let mut write = self.write;
        // Locals, not fields, in the loop: stores into the rings could otherwise alias them,
        // and the compiler would reload every field each frame. Sliced to `mask + 1` so that
        // indices `& mask` need no bounds check.
        let (mut delay, next_delay) = (self.delay, self.next_delay);
        let (mut fade_pos, fade_len) = (self.fade_pos, self.fade_len);
        let left = &mut self.left[..=mask];
        let right = &mut self.right[..=mask];
        for i in 0..n {
            let (pad_coefficient, lead_coefficient) = if GLIDING {
                let ramp = ramp_index(i + 1);
                (pad_a + pad_step * ramp, lead_a + lead_step * ramp)
            } else {
                (pad_a, lead_a)
            };
            (pad_l[i], pad_r[i]) =
                Lowpass::tick(&mut pad_state, pad_coefficient, pad_l[i], pad_r[i]);
            let (dry_l, dry_r) =
                Lowpass::tick(&mut lead_state, lead_coefficient, lead_l[i], lead_r[i]);
            lead_l[i] = dry_l;
            lead_r[i] = dry_r;
            // The echo.
            let read = write.wrapping_sub(delay) & mask;
            let (mut out_l, mut out_r) = (left[read], right[read]);
            if next_delay != delay {
                // Crossfade (rare: only after a tempo change), linear over `fade_len`.
                let other = write.wrapping_sub(next_delay) & mask;
                let f = fade_pos as f32 / fade_len as f32;
                out_l += f * (left[other] - out_l);
                out_r += f * (right[other] - out_r);
                fade_pos += 1;
                if fade_pos == fade_len {
                    delay = next_delay;
                }
            }
            tone_l = keep * tone_l + a * out_l;
            tone_r = keep * tone_r + a * out_r;
            left[write] = 0.5 * (dry_l + dry_r) + FEEDBACK * tone_r + ANTI_DENORMAL;
            right[write] = FEEDBACK * tone_l;
            echo_l[i] = tone_l;
            echo_r[i] = tone_r;
            write = (write + 1) & mask;
        }
        self.delay = delay;
        self.fade_pos = fade_pos;
        self.write = write;
        self.echo_tone = [tone_l, tone_r];
        (pad_state, lead_state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Corners = Corners {
        pad_hz: 20_000.0,
        lead_hz: 20_000.0,
    };

    /// Runs `pad` and `lead` (the same on both channels) through a colour stage in 512-frame
    /// blocks, with `bpm(block)`; returns (pad, lead, echo left, echo right).
    fn run(
        colour: &mut Colour,
        corners: Corners,
        bpm: impl Fn(usize) -> f32,
        pad: &[f32],
        lead: &[f32],
    ) -> [Vec<f32>; 4] {
        let mut out = [pad.to_vec(), lead.to_vec(), lead.to_vec(), lead.to_vec()];
        let [p, l, el, er] = &mut out;
        let mut pad_r = pad.to_vec();
        let mut lead_r = lead.to_vec();
        let blocks = p
            .chunks_mut(512)
            .zip(pad_r.chunks_mut(512))
            .zip(l.chunks_mut(512).zip(lead_r.chunks_mut(512)))
            .zip(el.chunks_mut(512).zip(er.chunks_mut(512)));
        for (k, (((pl, pr), (ll, lr)), (el, er))) in blocks.enumerate() {
            colour.process(corners, bpm(k), [pl, pr], [ll, lr], [el, er]);
        }
        out
    }

    fn sine(hz: f32, frames: usize, amplitude: f32) -> Vec<f32> {
        (0..frames)
            .map(|i| amplitude * (i as f32 * 2.0 * std::f32::consts::PI * hz / 44_100.0).sin())
            .collect()
    }

    fn loudest(x: &[f32]) -> usize {
        (0..x.len())
            .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
            .unwrap()
    }

    fn peak(x: &[f32]) -> f32 {
        x.iter().fold(0.0, |m, s| m.max(s.abs()))
    }

    #[test]
    fn echoes_alternate_sides_a_dotted_eighth_apart_and_fade() {
        let mut colour = Colour::new(44_100.0, OPEN);
        let mut lead = vec![0.0; 3 * 44_100];
        lead[0] = 1.0;
        let silence = vec![0.0; lead.len()];
        let [_, _, left, right] = run(&mut colour, OPEN, |_| 60.0, &silence, &lead);
        let d = 33_075; // 0.75 s at 60 bpm
        let first = loudest(&left[..d + 2_000]);
        assert!((d..d + 20).contains(&first), "first echo at {first}");
        let second = loudest(&right[..2 * d + 2_000]);
        assert!(
            (2 * d..2 * d + 40).contains(&second),
            "second echo at {second}"
        );
        assert!(right[..d].iter().all(|&s| s == 0.0));
        assert!(right[second].abs() < 0.6 * left[first].abs());
    }

    #[test]
    fn a_tempo_change_glides_without_a_step() {
        let mut colour = Colour::new(44_100.0, OPEN);
        // A steady tone through the delay, then the tempo changes mid-way.
        let lead = sine(220.0, 6 * 44_100, 0.5);
        let silence = vec![0.0; lead.len()];
        let bpm = |k: usize| if k < 300 { 60.0 } else { 110.0 };
        let [_, _, left, right] = run(&mut colour, OPEN, bpm, &silence, &lead);
        // The largest sample-to-sample change stays that of a smooth 220 Hz tone.
        for channel in [&left, &right] {
            let biggest_step = |x: &[f32]| {
                x.windows(2)
                    .map(|w| (w[1] - w[0]).abs())
                    .fold(0.0, f32::max)
            };
            let steady = biggest_step(&channel[2 * 44_100..3 * 44_100]);
            let around_change = biggest_step(&channel[300 * 512 - 4_410..300 * 512 + 20_000]);
            assert!(
                around_change < 1.5 * steady,
                "step {around_change} vs {steady}"
            );
        }
        assert_eq!(colour.delay, colour.delay_for(110.0));
    }

    #[test]
    fn the_lowpasses_soften_highs_keep_the_body_and_glide() {
        let corners = Corners {
            pad_hz: 1_000.0,
            lead_hz: 2_500.0,
        };
        for (hz, pad_range, lead_range) in [
            (200.0, 0.9..1.01, 0.95..1.01),
            (8_000.0, 0.0..0.05, 0.0..0.2),
        ] {
            let mut colour = Colour::new(44_100.0, corners);
            let x = sine(hz, 512 * 20, 1.0);
            let [pad, lead, _, _] = run(&mut colour, corners, |_| 70.0, &x, &x);
            let (pad, lead) = (peak(&pad[4_096..]), peak(&lead[4_096..]));
            assert!(pad_range.contains(&pad), "{hz} Hz: pad gain {pad}");
            assert!(lead_range.contains(&lead), "{hz} Hz: lead gain {lead}");
        }
        // A corner sweep across blocks changes the level smoothly, never in a step.
        let mut colour = Colour::new(44_100.0, corners);
        let x = sine(3_000.0, 512 * 40, 1.0);
        let mut pad = x.clone();
        let mut pad_r = x.clone();
        let mut rest = [x.clone(), x.clone(), x.clone(), x.clone()];
        let [a, b, c, d] = &mut rest;
        for (k, (((pl, pr), (ll, lr)), (el, er))) in pad
            .chunks_mut(512)
            .zip(pad_r.chunks_mut(512))
            .zip(a.chunks_mut(512).zip(b.chunks_mut(512)))
            .zip(c.chunks_mut(512).zip(d.chunks_mut(512)))
            .enumerate()
        {
            let hz = if k < 20 { 500.0 } else { 6_000.0 };
            let glide = Corners {
                pad_hz: hz,
                lead_hz: hz,
            };
            colour.process(glide, 70.0, [pl, pr], [ll, lr], [el, er]);
        }
        let steps = pad
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(steps < 0.45, "largest step {steps}");
    }

    #[test]
    fn silence_in_gives_finite_near_silence_out() {
        let mut colour = Colour::new(44_100.0, OPEN);
        let silence = vec![0.0; 3 * 44_100];
        let out = run(&mut colour, OPEN, |_| 70.0, &silence, &silence);
        assert!(
            out.iter()
                .flatten()
                .all(|s| s.is_finite() && s.abs() < 1e-15)
        );
    }
}
