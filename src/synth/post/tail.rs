//! The post stage's tail: what follows the dry mix (the reverb fed by its send, air, DC
//! blocker, softener, presence, leveller, swell, limiter), one block at a time. It is its own
//! part so that an offline render can run it on its writer thread, a chunk behind the rest of
//! the chain (each of its effects depends only on its own input and state, so the samples are
//! the same); the daemon runs it inside [`PostStage::process`](super::PostStage::process).

use super::air::Air;
use super::filter::{DcBlocker, Softener};
use super::leveller::Leveller;
use super::limiter::Limiter;
use super::presence::Presence;
use super::reverb::Reverb;
use super::swell::Swell;
use crate::audio::BLOCK_FRAMES;

/// What the tail needs of one block besides its audio: its length and two controls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailBlock {
    /// Frames in the block (at most `BLOCK_FRAMES`).
    pub frames: usize,
    /// Intensity, clamped to 0.0..=1.0 (air and presence).
    pub intensity: f32,
    /// The composer's fader, dB.
    pub swell_db: f32,
}

/// What the tail needs of the blocks rendered without it: each block's [`TailBlock`], and the
/// reverb send of all their frames, back to back (their mix goes with the audio).
#[derive(Debug, Default)]
pub struct TailLog {
    blocks: Vec<TailBlock>,
    sends: Vec<f32>,
}

impl TailLog {
    /// Room for `blocks` blocks of `frames` frames in all (more grows it).
    pub fn with_capacity(blocks: usize, frames: usize) -> Self {
        TailLog {
            blocks: Vec::with_capacity(blocks),
            sends: Vec::with_capacity(frames),
        }
    }

    pub(super) fn push(&mut self, block: TailBlock, send: &[f32]) {
        self.blocks.push(block);
        self.sends.extend_from_slice(send);
    }

    /// Empties it, keeping its room.
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.sends.clear();
    }
}

/// The tail chain, and room to run it on a block handed over interleaved. All buffers are
/// allocated in `new`; processing never allocates.
#[derive(Debug)]
pub struct PostTail {
    pub(super) chain: TailChain,
    /// One block per channel.
    planar: [Vec<f32>; 2],
}

/// The effects of the tail, in order.
#[derive(Debug)]
pub(super) struct TailChain {
    reverb: Reverb,
    air: Air,
    dc_blocker: DcBlocker,
    softener: Softener,
    presence: Presence,
    leveller: Leveller,
    swell: Swell,
    limiter: Limiter,
}

impl TailChain {
    /// Processes one block: the reverb of `send` onto the dry mix (planar, changed in
    /// place), then the rest, into interleaved `out`.
    #[inline(always)] // compiled into each SIMD target of its callers
    pub(super) fn process_body(
        &mut self,
        block: &TailBlock,
        send: &[f32],
        mix_l: &mut [f32],
        mix_r: &mut [f32],
        out: &mut [f32],
    ) {
        // The reverb adds its return on top of the dry mix.
        self.reverb.process(send, super::REVERB_WET, mix_l, mix_r);
        self.air.add(block.intensity, [&mut *mix_l, &mut *mix_r]);
        self.dc_blocker.process(mix_l, mix_r);
        self.softener.process(mix_l, mix_r);
        self.presence.process(block.intensity, mix_l, mix_r);
        self.leveller.process(mix_l, mix_r);
        self.swell.process(block.swell_db, mix_l, mix_r);
        self.limiter.process(mix_l, mix_r, out);
    }
}

impl PostTail {
    pub(super) fn new(rate: f32) -> Self {
        PostTail {
            chain: TailChain {
                reverb: Reverb::new(rate),
                air: Air::new(rate),
                dc_blocker: DcBlocker::new(rate),
                softener: Softener::new(BLOCK_FRAMES),
                presence: Presence::new(rate, 0.5),
                leveller: Leveller::new(rate),
                swell: Swell::new(rate),
                limiter: Limiter::new(rate),
            },
            planar: [vec![0.0; BLOCK_FRAMES], vec![0.0; BLOCK_FRAMES]],
        }
    }

    /// Processes the blocks `log` describes, in order, in place: `audio` holds them back to
    /// back as the interleaved dry mix [`PostStage::process`](super::PostStage::process)
    /// wrote after [`PostStage::take_tail`](super::PostStage::take_tail), and gets the
    /// finished samples. Returns the frames processed.
    pub fn process_interleaved(&mut self, log: &TailLog, audio: &mut [f32]) -> usize {
        tail_dispatch(self, log, audio)
    }
}

simd_dispatch! {
    fn tail_dispatch(tail: &mut PostTail, log: &TailLog, audio: &mut [f32]) -> usize {
        let PostTail { chain, planar: [left, right] } = tail;
        let mut done = 0;
        for block in &log.blocks {
            let n = block.frames;
            let out = &mut audio[2 * done..2 * (done + n)];
            let (left, right) = (&mut left[..n], &mut right[..n]);
            for (i, frame) in out.chunks_exact(2).enumerate() {
                left[i] = frame[0];
                right[i] = frame[1];
            }
            let send = &log.sends[done..done + n];
            chain.process_body(block, send, left, right, out);
            done += n;
        }
        done
    }
}
