//! The post stage: the stateful effects on the bus mix, always on the CPU.
//!
//! Pads through a brightness lowpass and a chorus (`chorus.rs`: their width and detune), the lead through a tone lowpass and a tempo-synced
//! ping-pong echo (`colour.rs`); the bass kept dry and nearly mono. Pads, lead and echoes (and
//! a little bass) feed a large reverb (`reverb.rs`); quiet noise (`air.rs`) lies under it all.
//! Then a DC blocker and a top-end softener (`filter.rs`), a high shelf that rises with
//! brightness (`presence.rs`), the loudness leveller
//! (`leveller.rs`, slowly toward -20 LUFS), the swell (`swell.rs`: the composer's phrase
//! arcs and section levels on a gliding fader) and the master limiter (`limiter.rs`,
//! -1.5 dBFS peak).
//!
//! Each effect is one file; this one wires them. Every buffer is allocated in
//! [`PostStage::new`]; [`PostStage::process`] never allocates, locks or logs, and the same
//! input gives the same output, bit for bit.

mod air;
mod chorus;
mod colour;
mod filter;
mod leveller;
mod limiter;
mod presence;
mod reverb;
mod ring;
mod swell;
mod tail;

use super::bus::{Bus, BusBuffers};
use crate::audio::BLOCK_FRAMES;
use chorus::Chorus;
use colour::{Colour, Corners};
pub(crate) use filter::peak;
pub use tail::{PostTail, TailBlock, TailLog};

/// Brightness: the corners of the pad and lead two-pole lowpasses at brightness 0 and 1
/// (they glide between, on a log scale). Open enough at the default that the pads, the
/// shimmer on their bus and the reverb they feed carry 2–8 kHz; dark at 0.
const PAD_CUTOFF_CALM_HZ: f32 = 1_200.0;
const PAD_CUTOFF_BRIGHT_HZ: f32 = 10_000.0;
const LEAD_CUTOFF_CALM_HZ: f32 = 1_800.0;
const LEAD_CUTOFF_BRIGHT_HZ: f32 = 8_000.0;
/// The dry lead's level: a little under the pads, so the line sits in the space (the reverb
/// and echoes carry it) rather than on top of it.
const LEAD_DRY: f32 = 0.8;
/// Echo level against the dry lead at intensity 0 and 1.
const ECHO_MIX_CALM: f32 = 0.18;
const ECHO_MIX_BRIGHT: f32 = 0.32;
/// How much of the bass's stereo difference is kept (0 = mono).
const BASS_WIDTH: f32 = 0.3;
/// Sends into the reverb.
const PAD_SEND: f32 = 0.75;
const LEAD_SEND: f32 = 0.7;
const ECHO_SEND: f32 = 0.5;
const BASS_SEND: f32 = 0.06;
/// Reverb return level.
const REVERB_WET: f32 = 0.6;

/// Continuous controls the post stage follows; it smooths them itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostControls {
    /// Intensity, 0.0..=1.0 (echo and air amounts).
    pub intensity: f32,
    /// Brightness, 0.0..=1.0: the filter corners (the intensity, moved by the form).
    pub brightness: f32,
    /// The composer's fader, dB (the phrase's arc and the section's level).
    pub swell_db: f32,
    /// Tempo, for tempo-related effect times.
    pub bpm: f32,
}

impl PostControls {
    /// Controls with the brightness at the intensity and the fader at 0 dB.
    pub fn new(intensity: f32, bpm: f32) -> Self {
        PostControls {
            intensity,
            brightness: intensity,
            swell_db: 0.0,
            bpm,
        }
    }
}

/// The post-stage chain. All buffers are allocated in `new`; `process` never allocates.
#[derive(Debug)]
pub struct PostStage {
    colour: Colour,
    chorus: Chorus,
    /// The chain from the reverb on, or, while an offline render runs it elsewhere
    /// ([`PostStage::take_tail`]), what the blocks processed since hand to it.
    tail: Tail,
    /// Echo mix reached at the end of the last block (it glides with intensity).
    echo_mix: f32,
    /// Scratch, one block each: filtered pads and lead, echoes, reverb send, and the mix.
    pad: [Vec<f32>; 2],
    lead_dry: [Vec<f32>; 2],
    echo: [Vec<f32>; 2],
    send: Vec<f32>,
    mix: [Vec<f32>; 2],
}

/// Where the post stage's tail is.
#[derive(Debug)]
enum Tail {
    /// Here: [`PostStage::process`] runs it (boxed: it is large, the log is small).
    Here(Box<PostTail>),
    /// On another thread, which gets the log of what it needs.
    Elsewhere(TailLog),
}

/// The lowpass corners for `intensity`: on a log scale between their calm and bright ends.
fn corners(intensity: f32) -> Corners {
    let t = intensity.clamp(0.0, 1.0);
    let between = |calm: f32, bright: f32| calm * (bright / calm).powf(t);
    Corners {
        pad_hz: between(PAD_CUTOFF_CALM_HZ, PAD_CUTOFF_BRIGHT_HZ),
        lead_hz: between(LEAD_CUTOFF_CALM_HZ, LEAD_CUTOFF_BRIGHT_HZ),
    }
}

fn echo_mix(intensity: f32) -> f32 {
    ECHO_MIX_CALM + (ECHO_MIX_BRIGHT - ECHO_MIX_CALM) * intensity.clamp(0.0, 1.0)
}

impl PostStage {
    /// A chain at the given sample rate, silent.
    pub fn new(sample_rate: u32) -> Self {
        let rate = sample_rate as f32;
        let block = || vec![0.0f32; BLOCK_FRAMES];
        PostStage {
            colour: Colour::new(rate, corners(0.5)),
            chorus: Chorus::new(rate),
            tail: Tail::Here(Box::new(PostTail::new(rate))),
            echo_mix: echo_mix(0.5),
            pad: [block(), block()],
            lead_dry: [block(), block()],
            echo: [block(), block()],
            send: block(),
            mix: [block(), block()],
        }
    }

    /// Takes the chain from the reverb on out, to be run elsewhere (an offline render's
    /// writer thread) with [`PostTail::process_interleaved`]: from now on
    /// [`PostStage::process`] writes the dry mix that goes into it, interleaved, and logs the
    /// rest of what it needs (room for `blocks` blocks, `frames` frames, before
    /// [`PostStage::drain_tail_log`]). `None` if already taken.
    pub fn take_tail(&mut self, blocks: usize, frames: usize) -> Option<PostTail> {
        let log = Tail::Elsewhere(TailLog::with_capacity(blocks, frames));
        match std::mem::replace(&mut self.tail, log) {
            Tail::Here(tail) => Some(*tail),
            elsewhere => {
                self.tail = elsewhere;
                None
            }
        }
    }

    /// Puts a tail taken with [`PostStage::take_tail`] back, to carry on where it left off.
    pub fn restore_tail(&mut self, tail: PostTail) {
        self.tail = Tail::Here(Box::new(tail));
    }

    /// Hands what was logged since the last call over in `into`, whose room the log keeps
    /// (a swap: nothing is copied or allocated when the two have the same room).
    /// Nothing is logged while the tail is here.
    pub fn drain_tail_log(&mut self, into: &mut TailLog) {
        into.clear();
        if let Tail::Elsewhere(log) = &mut self.tail {
            std::mem::swap(into, log);
        }
    }

    /// Processes one block: reads `buses` (`buses.frames()` frames) and writes interleaved
    /// stereo into `out` (`2 * buses.frames()` samples).
    ///
    /// Runs with the best SIMD the CPU offers: every effect is inlined into each target, so
    /// the block loops (reverb, diffusers, mixes) use its full vector width. The samples are
    /// the same on every target (Rust neither fuses nor reorders float operations).
    pub fn process(&mut self, buses: &BusBuffers, controls: &PostControls, out: &mut [f32]) {
        process_dispatch(self, buses, controls, out);
    }

    #[inline(always)]
    fn process_body(&mut self, buses: &BusBuffers, controls: &PostControls, out: &mut [f32]) {
        let n = buses.frames();
        assert_eq!(out.len(), 2 * n);
        let intensity = controls.intensity.clamp(0.0, 1.0);
        let bass = [buses.channel(Bus::Bass, 0), buses.channel(Bus::Bass, 1)];
        let [pad_l, pad_r] = &mut self.pad;
        let (pad_l, pad_r) = (&mut pad_l[..n], &mut pad_r[..n]);
        let [lead_l, lead_r] = &mut self.lead_dry;
        let (lead_l, lead_r) = (&mut lead_l[..n], &mut lead_r[..n]);
        let [echo_l, echo_r] = &mut self.echo;
        let (echo_l, echo_r) = (&mut echo_l[..n], &mut echo_r[..n]);
        self.colour.process(
            corners(controls.brightness.clamp(0.0, 1.0)),
            controls.bpm,
            buses,
            [&mut *pad_l, &mut *pad_r],
            [&mut *lead_l, &mut *lead_r],
            [&mut *echo_l, &mut *echo_r],
        );
        self.chorus.process(pad_l, pad_r);

        let send = &mut self.send[..n];
        let [mix_l, mix_r] = &mut self.mix;
        let (mix_l, mix_r) = (&mut mix_l[..n], &mut mix_r[..n]);
        let start_mix = self.echo_mix;
        let target_mix = echo_mix(intensity);
        let mix_step = (target_mix - start_mix) / n.max(1) as f32;
        for i in 0..n {
            send[i] = 0.5
                * (PAD_SEND * (pad_l[i] + pad_r[i])
                    + LEAD_SEND * (lead_l[i] + lead_r[i])
                    + ECHO_SEND * (echo_l[i] + echo_r[i])
                    + BASS_SEND * (bass[0][i] + bass[1][i]));
            let echo = start_mix + mix_step * filter::ramp_index(i + 1);
            let bass_mid = 0.5 * (bass[0][i] + bass[1][i]);
            let bass_side = 0.5 * (bass[0][i] - bass[1][i]) * BASS_WIDTH;
            mix_l[i] = pad_l[i] + LEAD_DRY * lead_l[i] + echo * echo_l[i] + bass_mid + bass_side;
            mix_r[i] = pad_r[i] + LEAD_DRY * lead_r[i] + echo * echo_r[i] + bass_mid - bass_side;
        }
        self.echo_mix = target_mix;
        let block = TailBlock {
            frames: n,
            intensity,
            swell_db: controls.swell_db,
        };
        match &mut self.tail {
            Tail::Here(tail) => tail.chain.process_body(&block, send, mix_l, mix_r, out),
            Tail::Elsewhere(log) => {
                for (i, frame) in out.chunks_exact_mut(2).enumerate() {
                    frame[0] = mix_l[i];
                    frame[1] = mix_r[i];
                }
                log.push(block, send);
            }
        }
    }
}

simd_dispatch! {
    fn process_dispatch(
        stage: &mut PostStage,
        buses: &BusBuffers,
        controls: &PostControls,
        out: &mut [f32],
    ) {
        stage.process_body(buses, controls, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `seconds` of buses filled by `fill(bus, channel, frame)` through a fresh stage.
    fn run(seconds: f32, intensity: f32, fill: impl Fn(Bus, usize, usize) -> f32) -> Vec<f32> {
        let mut post = PostStage::new(44_100);
        let mut buses = BusBuffers::new();
        let frames = (seconds * 44_100.0) as usize;
        let mut out = vec![0.0; 2 * frames];
        let controls = PostControls::new(intensity, 70.0);
        for (k, block) in out.chunks_mut(2 * BLOCK_FRAMES).enumerate() {
            let n = block.len() / 2;
            buses.clear(n);
            for bus in [Bus::Pad, Bus::Bass, Bus::Lead] {
                for channel in 0..2 {
                    for (i, x) in buses.channel_mut(bus, channel).iter_mut().enumerate() {
                        *x = fill(bus, channel, k * BLOCK_FRAMES + i);
                    }
                }
            }
            post.process(&buses, &controls, block);
        }
        out
    }

    fn chord(bus: Bus, channel: usize, frame: usize, level: f32) -> f32 {
        let t = frame as f32 / 44_100.0;
        let hz = match bus {
            Bus::Pad => 220.0,
            Bus::Bass => 55.0,
            Bus::Lead => 660.0,
        };
        let pan = if channel == 0 { 1.0 } else { 0.9 };
        level * pan * (2.0 * std::f32::consts::PI * hz * t).sin()
    }

    #[test]
    fn same_input_same_output_bit_for_bit() {
        let a = run(3.0, 0.7, |b, c, f| chord(b, c, f, 0.1));
        let b = run(3.0, 0.7, |b, c, f| chord(b, c, f, 0.1));
        assert!(a == b);
        assert!(a.iter().any(|&s| s != 0.0));
    }

    #[test]
    fn silence_in_gives_finite_near_silence_out() {
        let out = run(20.0, 0.0, |_, _, _| 0.0);
        assert!(out.iter().all(|s| s.is_finite()));
        let rms = (out.iter().map(|s| s * s).sum::<f32>() / out.len() as f32).sqrt();
        assert!(rms < 10f32.powf(-55.0 / 20.0), "rms {rms}");
    }

    #[test]
    fn loud_buses_are_levelled_and_never_pass_the_ceiling() {
        let out = run(20.0, 1.0, |b, c, f| chord(b, c, f, 0.6));
        let ceiling = 10f32.powf(limiter::CEILING_DBFS / 20.0);
        assert!(filter::peak(&out) <= ceiling * 1.000_01);
        // After the leveller has settled the level is near -20 LUFS, far below what went in.
        let tail = &out[2 * 15 * 44_100..];
        let rms = (tail.iter().map(|s| s * s).sum::<f32>() / tail.len() as f32).sqrt();
        assert!((0.03..0.2).contains(&rms), "rms {rms}");
    }
}
