//! The generator: composer and synthesizer joined on one frame timeline, phrase after phrase,
//! with parameter changes at bar lines. Deterministic, single-threaded, and allocation-free
//! after [`Generator::new`], so the daemon's render thread and the offline renderer share it.

use ambientctl::SynthesisParameters;

use crate::audio::{BLOCK_FRAMES, CHANNELS, SAMPLE_RATE};
use crate::music::{Composer, Phrase};
use crate::synth::VoiceStage;
use crate::synth::bus::BusBuffers;
use crate::synth::cpu::CpuVoiceStage;
use crate::synth::post::{PostControls, PostStage, PostTail, TailLog};
use crate::synth::score::{MAX_VOICES, Score};
use crate::synth::voice::Voice;

/// Seconds for the audible intensity to cover ~63% of the way to a new value.
const INTENSITY_GLIDE_SEC: f32 = 2.0;

/// Renders endless music for a set of parameters.
///
/// Guarantees: the same parameters (seed included) and the same sequence of `set_params`
/// calls at the same frames give the same samples, bit for bit, on the CPU back-end. A new
/// key, tempo or seed begins a new phrase at the next bar line; notes held there are released
/// into their natural tails and the reverb carries on, so the change never clicks or gaps.
/// A new intensity glides in at once and shapes the next phrase's density.
pub struct Generator {
    /// Parameters of the phrase playing now.
    playing: SynthesisParameters,
    /// Parameters most recently asked for; they become `playing` at `boundary`.
    requested: SynthesisParameters,
    composer: Composer,
    phrase: Phrase,
    phrase_start: u64,
    bar_frames: f64,
    /// Frame at which the next phrase begins.
    boundary: u64,
    /// Whether `boundary` was brought forward (a change or a skip): the score is cut there.
    cut_at_boundary: bool,
    phrases_started: u64,
    score: Score,
    voices: Vec<Voice>,
    buses: BusBuffers,
    /// The primary voice stage; `None` once it failed and was handed off to be logged and
    /// dropped away from the render thread ([`Generator::take_failed_stage`]).
    stage: Option<Box<dyn VoiceStage>>,
    cpu: CpuVoiceStage,
    stage_failures: u64,
    /// Room to plan blocks ahead when the primary stage renders batches (`None` for the CPU).
    batch: Option<Batch>,
    post: PostStage,
    /// The intensity heard now (glides toward `requested.intensity()`).
    intensity: f32,
    /// The brightness heard now (glides toward the intensity plus the form's offset).
    brightness: f32,
    frame: u64,
    /// Sum over blocks of voices × frames: the voice stage's work so far.
    voice_frames: u64,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("playing", &self.playing)
            .field("requested", &self.requested)
            .field("frame", &self.frame)
            .field("stage", &self.stage_name())
            .finish_non_exhaustive()
    }
}

impl Generator {
    /// A generator on the CPU back-end.
    pub fn new(params: SynthesisParameters) -> Self {
        Self::with_stage(params, Box::new(CpuVoiceStage::default()))
    }

    /// A generator whose voice stage is `stage`; on any error from it the block is rendered
    /// again on the CPU and the CPU is used from then on.
    pub fn with_stage(params: SynthesisParameters, stage: Box<dyn VoiceStage>) -> Self {
        Generator {
            playing: params,
            requested: params,
            composer: Composer::new(params.seed()),
            phrase: Phrase::with_capacity(),
            phrase_start: 0,
            bar_frames: 0.0,
            boundary: 0,
            cut_at_boundary: false,
            phrases_started: 0,
            score: Score::new(SAMPLE_RATE),
            voices: Vec::with_capacity(MAX_VOICES),
            buses: BusBuffers::new(),
            batch: Batch::for_stage(stage.as_ref()),
            stage: Some(stage),
            cpu: CpuVoiceStage::default(),
            stage_failures: 0,
            post: PostStage::new(SAMPLE_RATE),
            intensity: params.intensity(),
            brightness: params.intensity(),
            frame: 0,
            voice_frames: 0,
        }
    }

    /// Frames rendered so far.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// Voice-frames rendered so far (each sounding oscillator counts once per frame).
    pub fn voice_frames(&self) -> u64 {
        self.voice_frames
    }

    /// The parameters of the phrase playing now.
    pub fn playing(&self) -> &SynthesisParameters {
        &self.playing
    }

    /// The parameters most recently asked for (playing from the next bar line at the latest).
    pub fn requested(&self) -> &SynthesisParameters {
        &self.requested
    }

    /// The phrase playing now (or the next one, if none has started yet).
    pub fn phrase(&self) -> &Phrase {
        &self.phrase
    }

    /// Frame of the current phrase's first downbeat.
    pub fn phrase_start(&self) -> u64 {
        self.phrase_start
    }

    /// Phrases begun so far (a number that changes exactly when a new phrase starts).
    pub fn phrases_started(&self) -> u64 {
        self.phrases_started
    }

    /// The voice stage in use ("cpu" after a fallback).
    pub fn stage_name(&self) -> &'static str {
        match &self.stage {
            Some(stage) if self.stage_failures == 0 => stage.name(),
            _ => self.cpu.name(),
        }
    }

    /// Blocks the voice stage takes in one call (1 when it renders block by block): a call
    /// of at least this many blocks lets a batching stage fill its batches.
    pub fn batch_blocks(&self) -> usize {
        self.batch.as_ref().map_or(1, |batch| batch.buses.len())
    }

    /// Takes the post stage's tail (what follows the reverb) out, to run on another thread:
    /// from now on [`Generator::render`] writes the mix that goes into it and logs each
    /// block for it ([`PostStage::take_tail`]). For offline renders.
    pub fn take_post_tail(&mut self, blocks: usize, frames: usize) -> Option<PostTail> {
        self.post.take_tail(blocks, frames)
    }

    /// Puts the tail back ([`PostStage::restore_tail`]): renders are whole again.
    pub fn restore_post_tail(&mut self, tail: PostTail) {
        self.post.restore_tail(tail);
    }

    /// The blocks rendered since the last call, for the tail ([`PostStage::drain_tail_log`]).
    pub fn drain_tail_log(&mut self, into: &mut TailLog) {
        self.post.drain_tail_log(into);
    }

    /// How many times the primary voice stage failed (after the first, the CPU renders).
    pub fn stage_failures(&self) -> u64 {
        self.stage_failures
    }

    /// The primary voice stage once it has failed, handed over (once) so that its error can
    /// be formatted and its resources (a GPU context) released off the render thread.
    /// Moving the box does not allocate.
    pub fn take_failed_stage(&mut self) -> Option<Box<dyn VoiceStage>> {
        if self.stage_failures > 0 {
            self.stage.take()
        } else {
            None
        }
    }

    /// Asks for new parameters. Key, tempo and seed take effect at the next bar line (a new
    /// phrase starts there); intensity starts gliding at once.
    pub fn set_params(&mut self, params: SynthesisParameters) {
        let structural = params.key() != self.playing.key()
            || params.bpm() != self.playing.bpm()
            || params.seed() != self.playing.seed();
        self.requested = params;
        if structural {
            self.start_new_phrase_at_next_bar();
        }
    }

    /// Starts a new phrase at the next bar line with the current parameters.
    pub fn skip(&mut self) {
        self.start_new_phrase_at_next_bar();
    }

    fn start_new_phrase_at_next_bar(&mut self) {
        if self.phrases_started == 0 {
            return; // nothing is playing yet: the first phrase will use the new values
        }
        let into_phrase = (self.frame - self.phrase_start) as f64;
        let bars = (into_phrase / self.bar_frames).ceil();
        let bar_line = self.phrase_start + (bars * self.bar_frames).round() as u64;
        if bar_line < self.boundary {
            self.boundary = bar_line.max(self.frame);
            self.cut_at_boundary = true;
        }
    }

    /// Renders the next `out.len() / 2` frames as interleaved stereo.
    pub fn render(&mut self, out: &mut [f32]) {
        debug_assert_eq!(out.len() % CHANNELS, 0);
        if self.batch.is_some() && self.stage_failures == 0 {
            return self.render_batched(out);
        }
        let mut done = 0;
        let total = out.len() / CHANNELS;
        while done < total {
            if self.frame == self.boundary {
                self.begin_phrase();
            }
            let until_boundary = (self.boundary - self.frame) as usize;
            let frames = BLOCK_FRAMES.min(total - done).min(until_boundary);
            self.render_block(&mut out[done * CHANNELS..(done + frames) * CHANNELS]);
            done += frames;
        }
    }

    /// Renders as many whole blocks as fit into `out` (interleaved stereo) and returns the
    /// frames written: the blocks end exactly where [`Generator::render`] would end them when
    /// asked for more than `out` holds, so rendering a long stretch through this, and its last
    /// part through `render`, gives the same samples as one `render` call for all of it. At
    /// least one block is written when `out` holds `BLOCK_FRAMES` frames.
    pub fn render_whole_blocks(&mut self, out: &mut [f32]) -> usize {
        debug_assert_eq!(out.len() % CHANNELS, 0);
        if self.batch.is_some() && self.stage_failures == 0 {
            return self.render_whole_blocks_batched(out);
        }
        let room = out.len() / CHANNELS;
        let mut done = 0;
        loop {
            // At a phrase boundary the next block is a whole one (a phrase is longer than a
            // block); decide before composing, so that a call that stops here leaves the
            // phrase to begin in the next call, after any `set_params` in between.
            let next = if self.frame == self.boundary {
                BLOCK_FRAMES
            } else {
                BLOCK_FRAMES.min((self.boundary - self.frame) as usize)
            };
            if done + next > room {
                return done;
            }
            if self.frame == self.boundary {
                self.begin_phrase();
            }
            let frames = BLOCK_FRAMES.min((self.boundary - self.frame) as usize);
            self.render_block(&mut out[done * CHANNELS..(done + frames) * CHANNELS]);
            done += frames;
        }
    }

    /// [`Generator::render_whole_blocks`] for a stage that renders batches: the same blocks,
    /// handed to [`Generator::render_batched`] a phrase's stretch at a time. Each stretch ends
    /// at the phrase's end (its short last block included) or at the last whole block that
    /// fits, so the batched path cuts exactly where block by block would.
    fn render_whole_blocks_batched(&mut self, out: &mut [f32]) -> usize {
        let room = out.len() / CHANNELS;
        let mut done = 0;
        loop {
            if self.frame == self.boundary {
                if done + BLOCK_FRAMES > room {
                    return done;
                }
                self.begin_phrase();
            }
            let left_in_phrase = (self.boundary - self.frame) as usize;
            let frames = if left_in_phrase <= room - done {
                left_in_phrase
            } else {
                (room - done) / BLOCK_FRAMES * BLOCK_FRAMES
            };
            if frames == 0 {
                return done;
            }
            self.render_batched(&mut out[done * CHANNELS..(done + frames) * CHANNELS]);
            done += frames;
        }
    }

    fn begin_phrase(&mut self) {
        if self.requested.seed() != self.playing.seed() {
            self.composer = Composer::new(self.requested.seed());
        }
        // A new key, tempo or seed cuts the old phrase even when its change falls on the
        // phrase's own end: the old phrase may hold its last chord into a next phrase that
        // will not come, and its notes must be released here instead.
        let structural = self.requested.key() != self.playing.key()
            || self.requested.bpm() != self.playing.bpm()
            || self.requested.seed() != self.playing.seed();
        if self.phrases_started > 0 && (self.cut_at_boundary || structural) {
            self.score.cut_at(self.frame);
            self.cut_at_boundary = false;
            self.composer.interrupt();
        }
        self.playing = self.requested;
        self.composer.compose(&self.playing, &mut self.phrase);
        self.score.add_phrase(&self.phrase, self.frame);
        self.phrase_start = self.frame;
        self.bar_frames = self.phrase.bar_sec() * f64::from(SAMPLE_RATE);
        self.boundary =
            self.frame + (self.phrase.duration_sec() * f64::from(SAMPLE_RATE)).round() as u64;
        self.phrases_started += 1;
    }

    /// Everything of one block that does not depend on audio: the score's voices into
    /// `self.voices`, the glides, and the post stage's controls, which it returns. It moves
    /// the frame on, so blocks can be planned ahead of their voice and post stages.
    fn plan_block(&mut self, frames: usize) -> PostControls {
        self.score.retire(self.frame);

        let glide = 1.0 - (-(frames as f32) / (INTENSITY_GLIDE_SEC * SAMPLE_RATE as f32)).exp();
        self.intensity += (self.requested.intensity() - self.intensity) * glide;

        // Where the block ends in its phrase: the phrase's arc there sets the fader, and a
        // little of the brightness (brighter at the swell).
        let shape = &self.phrase.shape;
        let into = (self.frame + frames as u64 - self.phrase_start) as f64;
        let x = into / (self.phrase.duration_sec() * f64::from(SAMPLE_RATE));
        let target_brightness =
            (self.intensity + shape.brightness + 0.12 * (shape.arc(x) - 0.5)).clamp(0.0, 1.0);
        let start_brightness = self.brightness;
        self.brightness += (target_brightness - self.brightness) * glide;
        self.score.voices(
            self.frame,
            frames,
            (start_brightness, self.brightness),
            &mut self.voices,
        );
        self.voice_frames += (self.voices.len() * frames) as u64;
        self.frame += frames as u64;
        PostControls {
            intensity: self.intensity,
            brightness: self.brightness,
            swell_db: self.phrase.shape.swell_db(x),
            bpm: f32::from(self.playing.bpm()),
        }
    }

    fn render_block(&mut self, out: &mut [f32]) {
        let frames = out.len() / CHANNELS;
        let controls = self.plan_block(frames);
        self.buses.clear(frames);
        let primary = self.stage.as_mut().filter(|_| self.stage_failures == 0);
        let on_primary = primary.is_some();
        if primary.is_none_or(|stage| stage.render(&self.voices, &mut self.buses).is_err()) {
            if on_primary {
                self.buses.clear(frames); // drop whatever the failed stage half-wrote
                self.stage_failures += 1;
            }
            // The CPU stage cannot fail; its result is what the primary would have given.
            let _ = self.cpu.render(&self.voices, &mut self.buses);
        }
        self.post.process(&self.buses, &controls, out);
    }

    /// [`Generator::render`] for a stage that renders batches: the blocks of this call (cut
    /// exactly as block by block) are planned ahead in runs of equal length, each run's voices
    /// go to the stage in one call, and the post stage then takes the blocks in order. Nothing
    /// from outside can reach the generator during one call, so planning ahead within it
    /// changes no sample. On a failure the run is rendered again on the CPU, which then
    /// carries on, as block by block.
    fn render_batched(&mut self, out: &mut [f32]) {
        let total = out.len() / CHANNELS;
        let mut done = 0;
        while done < total {
            let (run_start, frames) = (done, self.plan_run(&mut done, total));
            let mut batch = self.batch.take().expect("a batching stage has its batch");
            let blocks = batch.controls.len();
            for buses in &mut batch.buses[..blocks] {
                buses.clear(frames);
            }
            let primary = self.stage.as_mut().filter(|_| self.stage_failures == 0);
            let on_primary = primary.is_some();
            let failed = primary.is_none_or(|stage| {
                stage
                    .render_batch(&batch.voices, &batch.starts, &mut batch.buses[..blocks])
                    .is_err()
            });
            if failed {
                if on_primary {
                    self.stage_failures += 1;
                }
                for (b, buses) in batch.buses[..blocks].iter_mut().enumerate() {
                    buses.clear(frames); // drop whatever the failed stage half-wrote
                    let voices =
                        &batch.voices[batch.starts[b] as usize..batch.starts[b + 1] as usize];
                    let _ = self.cpu.render(voices, buses);
                }
            }
            for (b, (buses, controls)) in batch.buses.iter().zip(&batch.controls).enumerate() {
                let start = (run_start + b * frames) * CHANNELS;
                self.post
                    .process(buses, controls, &mut out[start..start + frames * CHANNELS]);
            }
            self.batch = Some(batch);
        }
    }

    /// Plans the next run of blocks of one length (at most the batch's capacity) into the
    /// batch, moving `done` on; returns the run's block length.
    fn plan_run(&mut self, done: &mut usize, total: usize) -> usize {
        let mut batch = self.batch.take().expect("a batching stage has its batch");
        batch.clear();
        let mut run_frames = 0;
        while *done < total && batch.controls.len() < batch.controls.capacity() {
            if self.frame == self.boundary {
                self.begin_phrase();
            }
            let frames = BLOCK_FRAMES
                .min(total - *done)
                .min((self.boundary - self.frame) as usize);
            if run_frames != 0 && frames != run_frames {
                break; // a short block (a phrase's end): it starts the next run
            }
            run_frames = frames;
            let controls = self.plan_block(frames);
            batch.push(&self.voices, controls);
            *done += frames;
        }
        self.batch = Some(batch);
        run_frames
    }
}

/// Blocks planned ahead for a batching voice stage, allocated once: each block's voices (block
/// `b`'s are `voices[starts[b]..starts[b + 1]]`), bus buffers and post controls.
struct Batch {
    voices: Vec<Voice>,
    starts: Vec<u32>,
    buses: Vec<BusBuffers>,
    controls: Vec<PostControls>,
}

impl Batch {
    /// Room for the blocks `stage` takes per call, or `None` when it takes one at a time.
    fn for_stage(stage: &dyn VoiceStage) -> Option<Batch> {
        let blocks = stage.batch_capacity();
        (blocks > 1).then(|| Batch {
            voices: Vec::with_capacity(blocks * MAX_VOICES),
            starts: Vec::with_capacity(blocks + 1),
            buses: (0..blocks).map(|_| BusBuffers::new()).collect(),
            controls: Vec::with_capacity(blocks),
        })
    }

    fn clear(&mut self) {
        self.voices.clear();
        self.starts.clear();
        self.starts.push(0);
        self.controls.clear();
    }

    /// Adds a planned block (within the capacities: no allocation).
    fn push(&mut self, voices: &[Voice], controls: PostControls) {
        self.voices.extend_from_slice(voices);
        self.starts.push(self.voices.len() as u32);
        self.controls.push(controls);
    }
}
