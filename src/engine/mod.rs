//! The render engine: the generation thread, which owns the [`Generator`], keeps the audio
//! [`ring`] topped up, takes parameter changes from a lock-free queue and publishes phrase
//! starts and statistics. Above `music` and `synth`, below the station.
//!
//! Nothing on the thread allocates, locks, logs or touches the network while it renders.
//! A panic inside the generator is caught: the chunk it was rendering fades to silence, a
//! fresh CPU generator continues with a new phrase, and a counter tells the async side (which
//! logs it). The stream never dies.

pub mod generator;
pub mod ring;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use ambientctl::SynthesisParameters;
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use self::generator::Generator;
use self::ring::{RingReader, RingWriter};
use crate::audio::{CHANNELS, CHUNK_FRAMES, CHUNK_SAMPLES};
use crate::music::ChordProgression;
use crate::synth::{BackendChoice, VoiceStage, select_stage};

/// How long the thread sleeps when the ring is full and nobody wakes it (a safety net: the
/// pacer unparks it after every chunk it takes).
const IDLE_PARK: Duration = Duration::from_millis(20);
/// Frames over which audio fades to silence when a render panics.
const PANIC_FADE_FRAMES: usize = 256;

/// A request to the generation thread. Small and `Copy`: it crosses a lock-free queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// New parameters (applied as [`Generator::set_params`] defines: at the next bar line).
    SetParams(SynthesisParameters),
    /// Start a new phrase at the next bar line.
    Skip,
}

/// A phrase that began, as the generation thread saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhraseInfo {
    /// Frame of the stream (counted from the first rendered frame) at which it starts.
    pub start_frame: u64,
    /// Its parameters.
    pub params: SynthesisParameters,
    /// Its chords.
    pub progression: ChordProgression,
}

/// Counters the generation thread updates and anyone may read.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Frames pushed into the ring.
    pub frames_rendered: AtomicU64,
    /// Chunks rendered.
    pub blocks_rendered: AtomicU64,
    /// Nanoseconds spent rendering, all chunks together.
    pub render_nanos: AtomicU64,
    /// Nanoseconds the most recent chunk took.
    pub last_render_nanos: AtomicU64,
    /// Render panics caught (each one replaced by silence and a new phrase).
    pub panics: AtomicU64,
    /// Times the primary voice stage failed and the CPU took over.
    pub stage_failures: AtomicU64,
    /// Milliseconds since the engine started at the thread's latest loop turn.
    pub heartbeat_ms: AtomicU64,
}

/// Why the engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The OS refused to start the thread.
    #[error("cannot start the generation thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The command queue is full (the thread is not taking commands).
    #[error("the generation thread is not taking commands (queue full)")]
    Busy,
}

/// Handle to the generation thread. Dropping it stops and joins the thread.
pub struct Engine {
    /// The running thread; taken (and joined) by [`Engine::shutdown`].
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The thread, to unpark it.
    generation_thread: Thread,
    commands: Mutex<HeapProd<Command>>,
    /// The primary voice stage after it failed, for the async side to log and drop.
    failed_stage: Mutex<HeapCons<Box<dyn VoiceStage>>>,
    stop: Arc<AtomicBool>,
    stats: Arc<EngineStats>,
    started: Instant,
    backend: &'static str,
    backend_reason: String,
}

/// What the pacer reads: rendered audio and phrase starts.
pub struct AudioSource {
    /// The audio ring's consumer half.
    pub audio: RingReader,
    /// Phrase starts, oldest first.
    pub phrases: HeapCons<PhraseInfo>,
    generation_thread: Thread,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("backend", &self.backend)
            .field("backend_reason", &self.backend_reason)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AudioSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioSource")
            .field("buffered_samples", &self.audio.occupied_len())
            .finish_non_exhaustive()
    }
}

impl AudioSource {
    /// Wakes the generation thread (after taking audio, so it can refill).
    pub fn wake_generator(&self) {
        self.generation_thread.unpark();
    }

    /// Interleaved samples waiting in the ring.
    pub fn buffered_samples(&self) -> usize {
        self.audio.occupied_len()
    }
}

impl Engine {
    /// Chooses the voice stage, starts the generation thread and returns its handle and the
    /// audio it produces.
    pub fn start(
        params: SynthesisParameters,
        backend: BackendChoice,
    ) -> Result<(Engine, AudioSource), EngineError> {
        let selected = select_stage(backend);
        let backend_name = selected.stage.name();
        let generator = Generator::with_stage(params, selected.stage);
        let (audio_writer, audio) = ring::audio_ring();
        let (phrase_writer, phrases) = HeapRb::<PhraseInfo>::new(16).split();
        let (commands, command_reader) = HeapRb::<Command>::new(64).split();
        let (failed_stage_writer, failed_stage) = HeapRb::<Box<dyn VoiceStage>>::new(1).split();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(EngineStats::default());
        let started = Instant::now();
        let mut thread = GenerationThread {
            generator,
            audio: audio_writer,
            phrases: phrase_writer,
            commands: command_reader,
            failed_stage: failed_stage_writer,
            stop: stop.clone(),
            stats: stats.clone(),
            started,
            frames_before_generator: 0,
            phrases_seen: 0,
            last_frame: [0.0; CHANNELS],
        };
        let handle = thread::Builder::new()
            .name("ambientd-gen".into())
            .spawn(move || thread.run())
            .map_err(EngineError::Spawn)?;
        let source = AudioSource {
            audio,
            phrases,
            generation_thread: handle.thread().clone(),
        };
        let engine = Engine {
            generation_thread: handle.thread().clone(),
            thread: Mutex::new(Some(handle)),
            commands: Mutex::new(commands),
            failed_stage: Mutex::new(failed_stage),
            stop,
            stats,
            started,
            backend: backend_name,
            backend_reason: selected.reason,
        };
        Ok((engine, source))
    }

    /// Sends a command to the generation thread.
    pub fn send(&self, command: Command) -> Result<(), EngineError> {
        let mut commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        commands.try_push(command).map_err(|_| EngineError::Busy)?;
        drop(commands);
        self.generation_thread.unpark();
        Ok(())
    }

    /// The primary voice stage, once, after it failed (see [`EngineStats::stage_failures`]):
    /// call [`VoiceStage::last_error`] on it for the log, then drop it here, off the render
    /// thread.
    pub fn take_failed_stage(&self) -> Option<Box<dyn VoiceStage>> {
        self.failed_stage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_pop()
    }

    /// The counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// The voice stage chosen at start ("cpu", "cuda").
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Why that stage was chosen.
    pub fn backend_reason(&self) -> &str {
        &self.backend_reason
    }

    /// Whether the thread is running and turned its loop within `within`.
    pub fn is_alive(&self, within: Duration) -> bool {
        let running = self
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished());
        let now_ms = self.started.elapsed().as_millis() as u64;
        let beat_ms = self.stats.heartbeat_ms.load(Ordering::Relaxed);
        running && now_ms.saturating_sub(beat_ms) <= within.as_millis() as u64
    }
}

impl Engine {
    /// Stops the thread and waits for it to end. Idempotent.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Everything the generation thread owns.
struct GenerationThread {
    generator: Generator,
    audio: RingWriter,
    phrases: HeapProd<PhraseInfo>,
    commands: HeapCons<Command>,
    failed_stage: HeapProd<Box<dyn VoiceStage>>,
    stop: Arc<AtomicBool>,
    stats: Arc<EngineStats>,
    started: Instant,
    /// Stream frames rendered by generators replaced after a panic (phrase frames are
    /// counted from each generator's own start).
    frames_before_generator: u64,
    phrases_seen: u64,
    last_frame: [f32; CHANNELS],
}

impl GenerationThread {
    fn run(&mut self) {
        // The only buffer the loop uses, sized once here.
        let mut chunk = vec![0.0f32; CHUNK_SAMPLES];
        while !self.stop.load(Ordering::Acquire) {
            let now_ms = self.started.elapsed().as_millis() as u64;
            self.stats.heartbeat_ms.store(now_ms, Ordering::Relaxed);
            while let Some(command) = self.commands.try_pop() {
                match command {
                    Command::SetParams(params) => self.generator.set_params(params),
                    Command::Skip => self.generator.skip(),
                }
            }
            if self.audio.vacant_len() < CHUNK_SAMPLES {
                thread::park_timeout(IDLE_PARK);
                continue;
            }
            self.render_chunk(&mut chunk);
            self.audio.push_slice(&chunk);
        }
    }

    fn render_chunk(&mut self, chunk: &mut [f32]) {
        let began = Instant::now();
        let generator = &mut self.generator;
        let rendered = catch_unwind(AssertUnwindSafe(|| {
            #[cfg(feature = "failpoints")]
            fail::fail_point!("engine::render");
            generator.render(chunk);
        }));
        if rendered.is_err() {
            self.recover_from_panic(chunk);
        }
        let nanos = began.elapsed().as_nanos() as u64;
        let stats = &self.stats;
        stats.render_nanos.fetch_add(nanos, Ordering::Relaxed);
        stats.last_render_nanos.store(nanos, Ordering::Relaxed);
        stats.blocks_rendered.fetch_add(1, Ordering::Relaxed);
        stats
            .frames_rendered
            .fetch_add(CHUNK_FRAMES as u64, Ordering::Relaxed);
        let failures = self.generator.stage_failures();
        if let Some(failed) = self.generator.take_failed_stage() {
            // Capacity 1 and at most one failure per generator: the push succeeds.
            let _ = self.failed_stage.try_push(failed);
        }
        stats.stage_failures.fetch_max(failures, Ordering::Relaxed);
        self.last_frame
            .copy_from_slice(&chunk[CHUNK_SAMPLES - CHANNELS..]);

        if self.generator.phrases_started() != self.phrases_seen {
            self.phrases_seen = self.generator.phrases_started();
            let phrase = self.generator.phrase();
            // A full queue means nobody is listening for phrases; dropping one is harmless.
            let _ = self.phrases.try_push(PhraseInfo {
                start_frame: self.frames_before_generator + self.generator.phrase_start(),
                params: phrase.params,
                progression: phrase.progression,
            });
        }
    }

    /// Replaces the chunk with a fade from the last good frame to silence and starts a fresh
    /// CPU generator on a new seed (the old one's state is suspect after a panic). This path
    /// allocates: it is the rare recovery path, and a stream that keeps going is worth it.
    fn recover_from_panic(&mut self, chunk: &mut [f32]) {
        for (frame, out) in chunk.chunks_exact_mut(CHANNELS).enumerate() {
            let gain = 1.0 - (frame as f32 / PANIC_FADE_FRAMES as f32).min(1.0);
            for (sample, last) in out.iter_mut().zip(self.last_frame) {
                *sample = last * gain;
            }
        }
        let panics = self.stats.panics.fetch_add(1, Ordering::Relaxed) + 1;
        let mut params = *self.generator.requested();
        params.set_seed(params.seed().wrapping_add(panics));
        let frames_done = self.stats.frames_rendered.load(Ordering::Relaxed);
        self.frames_before_generator = frames_done + CHUNK_FRAMES as u64;
        self.generator = Generator::new(params);
        self.phrases_seen = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !condition() {
            assert!(Instant::now() < deadline, "condition not met in 20 s");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn fills_the_ring_reports_phrases_and_stops_on_drop() {
        let params = SynthesisParameters::default();
        let (engine, mut source) = Engine::start(params, BackendChoice::Cpu).unwrap();
        assert_eq!(engine.backend(), "cpu");
        wait_for(|| source.audio.is_full());
        let phrase = source
            .phrases
            .try_pop()
            .expect("the first phrase is reported");
        assert_eq!(phrase.start_frame, 0);
        assert_eq!(phrase.params, params);
        assert!(engine.is_alive(Duration::from_secs(5)));

        // The audio is the generator's, sample for sample.
        let mut reference = Generator::new(params);
        let mut expected = vec![0.0f32; CHUNK_SAMPLES];
        let mut got = vec![0.0f32; CHUNK_SAMPLES];
        for _ in 0..3 {
            reference.render(&mut expected);
            assert_eq!(source.audio.pop_slice(&mut got), CHUNK_SAMPLES);
            assert_eq!(got, expected);
            source.wake_generator();
        }
        wait_for(|| source.audio.is_full());
        engine.send(Command::Skip).unwrap();
        drop(engine); // joins; a hang here fails the test by timeout
    }
}
