//! Colour: each bus's own treatment before the shared reverb. The pads pass a two-pole
//! brightness lowpass and the lead a two-pole tone lowpass, both with corners that follow
//! intensity; the lead then feeds a soft stereo ping-pong echo locked to the tempo (a dotted
//! eighth), darker with every repeat; a tempo change crossfades to the new delay time.
//!
//! A block runs in three passes. The echo's delay (a dotted eighth, over 16,000 frames) is
//! longer than a block, so none of a block's echoes depend on its own lead: first the
//! block's delayed samples are read from the ring, then the recursive filters run frame by
//! frame, then the new lead and feedback are written back. The copies vectorise, and the
//! frame loop is left with only the recursions, all ten of them (four lowpass poles per
//! bus, the echo tone's two), written lane by lane in two eight-lane arrays so the compiler
//! can keep them in vector registers. Each waits on its own last output, not on the
//! others', so the processor overlaps them: a frame costs about one multiply and one add.

use super::filter::{flush_denormal, one_pole_coefficient, ramp_index};
use crate::audio::BLOCK_FRAMES;
use crate::synth::bus::{Bus, BusBuffers};

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

/// Lanes of the frame loop's two state vectors. `first` holds the first pole of each
/// lowpass and the echo tone, `second` the second poles (which take the first poles'
/// previous outputs); the lanes past them stay zero.
const PAD_L: usize = 0;
const PAD_R: usize = 1;
const LEAD_L: usize = 2;
const LEAD_R: usize = 3;
const ECHO_L: usize = 4;
const ECHO_R: usize = 5;
const LANES: usize = 8;
type Lanes = [f32; LANES];

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
/// Each pole is `y = (1 - a)·y + a·x` (one multiply and one add on the recursive path); the
/// second takes the first's previous output.
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
        // Room for the longest delay and a block besides: a block's reads and writes never
        // meet (see `delay_for`).
        let longest = (MAX_DELAY_SEC * sample_rate) as usize + 1;
        let size = (longest + BLOCK_FRAMES).next_power_of_two();
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

    /// The delay in samples for `bpm`. At least a block and at most the ring less a block,
    /// so a block's delayed samples are all read before any of its own are written (at
    /// 40..=120 bpm and 44.1 kHz it is 16,538..=49,613 frames: the bounds never bind).
    fn delay_for(&self, bpm: f32) -> usize {
        let seconds = BEATS * 60.0 / bpm.max(1.0);
        let size = self.mask + 1;
        ((seconds * self.sample_rate).round() as usize).clamp(BLOCK_FRAMES, size - BLOCK_FRAMES)
    }

    /// Processes one block: the pads and the lead of `buses`, filtered into `pad` and `lead`,
    /// and the lead's echoes at `bpm` into `echo`. At most `BLOCK_FRAMES` frames.
    #[inline(always)] // compiled into each SIMD target of `PostStage::process`
    pub(super) fn process(
        &mut self,
        corners: Corners,
        bpm: f32,
        buses: &BusBuffers,
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
        assert!(
            n <= BLOCK_FRAMES,
            "a block is at most {BLOCK_FRAMES} frames"
        );
        let (pad_r, lead_l, lead_r) = (&mut pad_r[..n], &mut lead_l[..n], &mut lead_r[..n]);
        let (echo_l, echo_r) = (&mut echo_l[..n], &mut echo_r[..n]);
        self.read_echoes([&mut *echo_l, &mut *echo_r]);
        let (pad_a, pad_step) = self.pad_tone.glide(corners.pad_hz, self.sample_rate, n);
        let (lead_a, lead_step) = self.lead_tone.glide(corners.lead_hz, self.sample_rate, n);
        let glides = [(pad_a, pad_step), (lead_a, lead_step)];
        let inputs = [Bus::Pad, Bus::Lead].map(|bus| [0, 1].map(|c| &buses.channel(bus, c)[..n]));
        let blocks = (
            [pad_l, pad_r],
            [&mut *lead_l, &mut *lead_r],
            [&mut *echo_l, &mut *echo_r],
        );
        if pad_step == 0.0 && lead_step == 0.0 {
            self.filter::<false>(glides, inputs, blocks);
        } else {
            self.filter::<true>(glides, inputs, blocks);
        }
        self.write_echoes([lead_l, lead_r], [echo_l, echo_r]);
        for filter in [&mut self.pad_tone, &mut self.lead_tone] {
            filter.state.iter_mut().for_each(flush_denormal);
        }
        self.echo_tone.iter_mut().for_each(flush_denormal);
    }

    /// Fills `delayed` with the samples leaving the ring in this block, crossfaded from the
    /// old delay to the new one while a tempo change is fading in.
    #[inline(always)]
    fn read_echoes(&mut self, delayed: Stereo) {
        let [out_l, out_r] = delayed;
        let n = out_l.len();
        let mask = self.mask;
        let from = self.write.wrapping_sub(self.delay) & mask;
        let mut done = 0;
        while done < n {
            let at = (from + done) & mask;
            let take = (n - done).min(mask + 1 - at);
            out_l[done..done + take].copy_from_slice(&self.left[at..at + take]);
            out_r[done..done + take].copy_from_slice(&self.right[at..at + take]);
            done += take;
        }
        if self.next_delay == self.delay {
            return;
        }
        // Crossfade (rare: only after a tempo change), linear over `fade_len`; once it is
        // over, the rest of the block reads at the new delay alone.
        for i in 0..n {
            let other = (self.write + i).wrapping_sub(self.next_delay) & mask;
            let (to_l, to_r) = (self.left[other], self.right[other]);
            if self.next_delay == self.delay {
                (out_l[i], out_r[i]) = (to_l, to_r);
                continue;
            }
            let f = self.fade_pos as f32 / self.fade_len as f32;
            out_l[i] += f * (to_l - out_l[i]);
            out_r[i] += f * (to_r - out_r[i]);
            self.fade_pos += 1;
            if self.fade_pos == self.fade_len {
                self.delay = self.next_delay;
            }
        }
    }

    /// The recursive filters, frame by frame: the pads and the lead (`inputs`) through their
    /// lowpasses into `blocks.0` and `blocks.1`, and the delayed samples in `blocks.2`
    /// through the echo tone, in place.
    /// `GLIDING` is false when neither lowpass moves in this block, which spares the
    /// coefficient ramps.
    #[inline(always)]
    fn filter<const GLIDING: bool>(
        &mut self,
        glides: [(f32, f32); 2],
        inputs: [[&[f32]; 2]; 2],
        blocks: (Stereo, Stereo, Stereo),
    ) {
        let [(pad_a, pad_step), (lead_a, lead_step)] = glides;
        let [[pad_in_l, pad_in_r], [lead_in_l, lead_in_r]] = inputs;
        let ([pad_l, pad_r], [lead_l, lead_r], [echo_l, echo_r]) = blocks;
        let n = pad_l.len();
        let (pad_r, lead_l, lead_r) = (&mut pad_r[..n], &mut lead_l[..n], &mut lead_r[..n]);
        let (echo_l, echo_r) = (&mut echo_l[..n], &mut echo_r[..n]);
        let (pad_in_l, pad_in_r) = (&pad_in_l[..n], &pad_in_r[..n]);
        let (lead_in_l, lead_in_r) = (&lead_in_l[..n], &lead_in_r[..n]);
        let echo_a = self.echo_coefficient;
        // Coefficients per lane at the block's start, and their steps per frame. The second
        // poles' spare lanes have coefficient 0 (keep 1), so they stay 0.
        let start_first: Lanes = [pad_a, pad_a, lead_a, lead_a, echo_a, echo_a, 0.0, 0.0];
        let start_second: Lanes = [pad_a, pad_a, lead_a, lead_a, 0.0, 0.0, 0.0, 0.0];
        let step: Lanes = [pad_step, pad_step, lead_step, lead_step, 0.0, 0.0, 0.0, 0.0];
        let [pad1_l, pad1_r, pad2_l, pad2_r] = self.pad_tone.state;
        let [lead1_l, lead1_r, lead2_l, lead2_r] = self.lead_tone.state;
        let [tone_l, tone_r] = self.echo_tone;
        let mut first: Lanes = [pad1_l, pad1_r, lead1_l, lead1_r, tone_l, tone_r, 0.0, 0.0];
        let mut second: Lanes = [pad2_l, pad2_r, lead2_l, lead2_r, 0.0, 0.0, 0.0, 0.0];
        let keep = |a: &Lanes| a.map(|a| 1.0 - a);
        let (keep_first, keep_second) = (keep(&start_first), keep(&start_second));
        for i in 0..n {
            let (a_first, a_second, keep_first, keep_second) = if GLIDING {
                // Exactly what a scalar ramp gives: the fixed lanes add 0 · ramp = 0.
                let ramp = ramp_index(i + 1);
                let at = |start: &Lanes| std::array::from_fn(|k| start[k] + step[k] * ramp);
                let (a_first, a_second): (Lanes, Lanes) = (at(&start_first), at(&start_second));
                (a_first, a_second, keep(&a_first), keep(&a_second))
            } else {
                (start_first, start_second, keep_first, keep_second)
            };
            let input: Lanes = [
                pad_in_l[i],
                pad_in_r[i],
                lead_in_l[i],
                lead_in_r[i],
                echo_l[i],
                echo_r[i],
                0.0,
                0.0,
            ];
            // The second poles first: they take the first poles' outputs of the last frame.
            for k in 0..LANES {
                second[k] = keep_second[k] * second[k] + a_second[k] * first[k];
            }
            for k in 0..LANES {
                first[k] = keep_first[k] * first[k] + a_first[k] * input[k];
            }
            (pad_l[i], pad_r[i]) = (second[PAD_L], second[PAD_R]);
            (lead_l[i], lead_r[i]) = (second[LEAD_L], second[LEAD_R]);
            (echo_l[i], echo_r[i]) = (first[ECHO_L], first[ECHO_R]);
        }
        self.pad_tone.state = [first[PAD_L], first[PAD_R], second[PAD_L], second[PAD_R]];
        self.lead_tone.state = [first[LEAD_L], first[LEAD_R], second[LEAD_L], second[LEAD_R]];
        self.echo_tone = [first[ECHO_L], first[ECHO_R]];
    }

    /// Writes the block's input to the echo ring: the filtered lead (`dry`, in mono) into the
    /// left side with the right's echo (`echo`) fed back, the left's echo into the right.
    #[inline(always)]
    fn write_echoes(&mut self, dry: [&[f32]; 2], echo: [&[f32]; 2]) {
        let [dry_l, dry_r] = dry;
        let [echo_l, echo_r] = echo;
        let n = dry_l.len();
        let mask = self.mask;
        let mut done = 0;
        while done < n {
            let at = (self.write + done) & mask;
            let take = (n - done).min(mask + 1 - at);
            let left = &mut self.left[at..at + take];
            let right = &mut self.right[at..at + take];
            let range = done..done + take;
            let sources = dry_l[range.clone()]
                .iter()
                .zip(&dry_r[range.clone()])
                .zip(&echo_l[range.clone()])
                .zip(&echo_r[range]);
            for ((l, r), (((&dry_l, &dry_r), &tone_l), &tone_r)) in
                left.iter_mut().zip(right.iter_mut()).zip(sources)
            {
                *l = 0.5 * (dry_l + dry_r) + FEEDBACK * tone_r + ANTI_DENORMAL;
                *r = FEEDBACK * tone_l;
            }
            done += take;
        }
        self.write = (self.write + n) & mask;
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
    /// blocks, with `corners(block)` and `bpm(block)`; returns (pad, lead, echo left, echo
    /// right).
    fn run_with(
        colour: &mut Colour,
        corners: impl Fn(usize) -> Corners,
        bpm: impl Fn(usize) -> f32,
        pad: &[f32],
        lead: &[f32],
    ) -> [Vec<f32>; 4] {
        let mut buses = BusBuffers::new();
        let mut out: [Vec<f32>; 4] = Default::default();
        let mut scratch = [[0.0f32; 512]; 6];
        for (k, (pad, lead)) in pad.chunks(512).zip(lead.chunks(512)).enumerate() {
            let n = pad.len();
            buses.clear(n);
            for c in 0..2 {
                buses.channel_mut(Bus::Pad, c).copy_from_slice(pad);
                buses.channel_mut(Bus::Lead, c).copy_from_slice(lead);
            }
            let [pl, pr, ll, lr, el, er] = &mut scratch;
            let (pad, lead) = ([&mut pl[..n], &mut pr[..n]], [&mut ll[..n], &mut lr[..n]]);
            let echo = [&mut el[..n], &mut er[..n]];
            colour.process(corners(k), bpm(k), &buses, pad, lead, echo);
            for (out, got) in out.iter_mut().zip([&pl, &ll, &el, &er]) {
                out.extend_from_slice(&got[..n]);
            }
        }
        out
    }

    /// [`run_with`] at fixed corners.
    fn run(
        colour: &mut Colour,
        corners: Corners,
        bpm: impl Fn(usize) -> f32,
        pad: &[f32],
        lead: &[f32],
    ) -> [Vec<f32>; 4] {
        run_with(colour, |_| corners, bpm, pad, lead)
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
        let sweep = |k: usize| {
            let hz = if k < 20 { 500.0 } else { 6_000.0 };
            Corners {
                pad_hz: hz,
                lead_hz: hz,
            }
        };
        let [pad, _, _, _] = run_with(&mut colour, sweep, |_| 70.0, &x, &x);
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
