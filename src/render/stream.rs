//! The streamed offline render: the generator renders into a few reused chunks on the calling
//! thread while a writer thread measures, converts and writes each one, so memory stays the
//! same whatever the length and the conversion and I/O run beside the synthesis, not after it.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::flac::FlacEncoder;
use super::levels::{LevelMeter, Levels};
use super::periods::PeriodMeter;
use super::{ParamChange, change_frames, frames_in, wav};
use crate::audio::{BLOCK_FRAMES, CHANNELS};
use crate::engine::generator::Generator;
use crate::synth::post::{PostTail, TailLog};

/// Frames in one chunk handed from the renderer to the writer: 64 blocks, 256 KiB of f32
/// stereo, still in the writer's L2 cache when it reads it, and few hand-offs (each wakes
/// the writer, ~15 µs on a 2-vCPU VM: with 16-block chunks that was 8 % of the render
/// thread's time, with 64 blocks 2 %). A stage that renders larger batches gets chunks of a
/// whole batch instead ([`chunk_frames`]).
pub const CHUNK_FRAMES: usize = 64 * BLOCK_FRAMES;
/// Chunks in circulation between the two threads (all the audio memory the render holds).
const CHUNKS_IN_FLIGHT: usize = 4;

/// A chunk in circulation between the two threads: its samples, the frames of them that hold
/// audio, and what the writer's post-stage tail needs besides them.
struct Chunk {
    samples: Vec<f32>,
    frames: usize,
    tail: TailLog,
}

/// The file format of a streamed render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// 16-bit stereo WAV (RF64 past 4 GiB).
    #[default]
    Wav,
    /// FLAC of the same 16-bit samples (lossless; about half the size).
    Flac,
}

impl Format {
    /// The format a file name asks for: FLAC for a name ending in `.flac` (any case), WAV
    /// otherwise.
    pub fn for_path(path: &std::path::Path) -> Self {
        let flac = path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("flac"));
        if flac { Self::Flac } else { Self::Wav }
    }

    /// The format's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Wav => "WAV",
            Self::Flac => "FLAC",
        }
    }
}

/// How a streamed render is written, beyond its samples.
#[derive(Default)]
pub struct Options {
    /// The file format.
    pub format: Format,
    /// Measures each period of the render as well as the whole (`--loudness-every`).
    pub periods: Option<PeriodMeter>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("format", &self.format)
            .field("periods", &self.periods.is_some())
            .finish()
    }
}

/// What a finished streamed render wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Frames rendered and written.
    pub frames: u64,
    /// Bytes written, header included.
    pub bytes: u64,
    /// Levels of everything written.
    pub levels: Levels,
    /// The header completed with what only the end knows (FLAC's MD5 and frame sizes), the
    /// same length as the one written first: an output that can be rewritten (a file) gets it
    /// written over its start. `None` when the first header was already complete (WAV).
    pub final_header: Option<Vec<u8>>,
}

/// Why a streamed render stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader of a pipe went away (e.g. `| head -c 1000`): the render stops there.
    #[error("the reader closed the output after {bytes} bytes")]
    Closed {
        /// Bytes written before the pipe closed.
        bytes: u64,
    },
    /// Any other write error (disk full, I/O error).
    #[error("{source} (after {bytes} bytes)")]
    Io {
        /// Bytes written before the error.
        bytes: u64,
        /// The error of the write that failed.
        source: io::Error,
    },
}

/// Renders `seconds` through `generator`, asking for each change at its time, and writes it to
/// `out` as a 16-bit stereo WAV whose header declares the real length. `progress` is called on
/// this thread with the frames rendered so far after each chunk. The samples are those of
/// [`super::render_with`] for the same arguments, bit for bit.
pub fn render_to<W: Write + Send>(
    generator: &mut Generator,
    seconds: f64,
    changes: &[ParamChange],
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<Rendered, OutputError> {
    render_to_with(
        generator,
        seconds,
        changes,
        out,
        progress,
        Options::default(),
    )
}

/// [`render_to`] in `options.format`, also measuring each period `options.periods` is cut
/// into (on the writer thread, as the whole is measured; the last, partial period is reported
/// at the end).
pub fn render_to_with<W: Write + Send>(
    generator: &mut Generator,
    seconds: f64,
    changes: &[ParamChange],
    out: W,
    progress: &mut dyn FnMut(u64),
    options: Options,
) -> Result<Rendered, OutputError> {
    let total = frames_in(seconds);
    let chunk_frames = chunk_frames(generator);
    // A chunk's blocks: whole ones, plus a short one at each phrase end inside it.
    let chunk_blocks = chunk_frames / BLOCK_FRAMES + 16;
    // The chain from the reverb on runs on the writer thread, a chunk behind the renderer:
    // the two threads' shares of the work come out about even (the same samples; put back
    // at the end, so the generator renders whole again).
    let mut tail = generator.take_post_tail(chunk_blocks, chunk_frames);
    let (filled_tx, filled_rx) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let (free_tx, free_rx) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
    for _ in 0..CHUNKS_IN_FLIGHT {
        let chunk = Chunk {
            samples: vec![0.0; chunk_frames * CHANNELS],
            frames: 0,
            tail: TailLog::with_capacity(chunk_blocks, chunk_frames),
        };
        free_tx
            .send(chunk)
            .expect("the pool channel holds every chunk");
    }
    let writer_tail = tail.as_mut();
    let result = std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("render-writer".into())
            .spawn_scoped(scope, move || {
                write_chunks(out, total, filled_rx, free_tx, options, writer_tail)
            })
            .map_err(|source| OutputError::Io { bytes: 0, source })?;
        let mut pending = change_frames(changes, total).peekable();
        let mut done = 0u64;
        loop {
            while let Some((_, params)) = pending.next_if(|&(at, _)| at <= done) {
                generator.set_params(params);
            }
            let end = pending.peek().map_or(total, |&(at, _)| at);
            if done == end {
                break; // the end: every change due before it has been asked for
            }
            // The writer stopped (an error) once it holds no chunk and gives none back.
            let Ok(mut chunk) = free_rx.recv() else { break };
            let frames = render_chunk(generator, &mut chunk.samples, (end - done) as usize);
            chunk.frames = frames;
            generator.drain_tail_log(&mut chunk.tail);
            done += frames as u64;
            if filled_tx.send(chunk).is_err() {
                break;
            }
            progress(done);
        }
        drop(filled_tx); // the writer finishes once it has written what was sent
        writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    if let Some(tail) = tail {
        generator.restore_post_tail(tail);
    }
    result
}

/// Frames in each chunk for `generator`: [`CHUNK_FRAMES`], or one whole batch of its voice
/// stage where that is larger (each chunk is one render call, and a batch never spans two).
pub fn chunk_frames(generator: &Generator) -> usize {
    CHUNK_FRAMES.max(generator.batch_blocks() * BLOCK_FRAMES)
}

/// Renders the next chunk of a stretch with `remaining` frames to go, cut where one render
/// call for the whole stretch would cut its blocks: whole blocks while more than a chunk
/// remains, then the rest in one call.
fn render_chunk(generator: &mut Generator, chunk: &mut [f32], remaining: usize) -> usize {
    if remaining * CHANNELS <= chunk.len() {
        generator.render(&mut chunk[..remaining * CHANNELS]);
        remaining
    } else {
        generator.render_whole_blocks(chunk)
    }
}

/// The writer thread: the header, then each chunk finished by the post stage's `tail` (when
/// the renderer handed it over), measured, converted (and encoded) and written, and the
/// chunk handed back for reuse.
fn write_chunks<W: Write>(
    mut out: W,
    total: u64,
    filled: Receiver<Chunk>,
    free: SyncSender<Chunk>,
    options: Options,
    mut tail: Option<&mut PostTail>,
) -> Result<Rendered, OutputError> {
    let Options {
        format,
        mut periods,
    } = options;
    let mut meter = LevelMeter::new();
    let mut pcm = Vec::with_capacity(CHUNK_FRAMES * wav::BYTES_PER_FRAME);
    let mut flac = (format == Format::Flac).then(|| FlacEncoder::new(total));
    let mut encoded = Vec::new();
    let mut written = 0u64;
    let mut frames_written = 0u64;
    let header = match &flac {
        Some(flac) => flac.header(),
        None => wav::header(total),
    };
    write_counted(&mut out, &header, &mut written)?;
    for mut chunk in filled {
        let frames = chunk.frames;
        if let Some(tail) = tail.as_mut() {
            let finished = tail.process_interleaved(&chunk.tail, &mut chunk.samples);
            debug_assert_eq!(finished, frames, "the blocks cover the chunk's frames");
        }
        let samples = &chunk.samples[..frames * CHANNELS];
        meter.add(samples);
        if let Some(periods) = periods.as_mut() {
            periods.add(samples);
        }
        wav::pcm16(samples, &mut pcm);
        // Back to the renderer before the write, so it renders while this one waits on I/O;
        // the renderer may have stopped, in which case the chunk is just dropped.
        let _ = free.send(chunk);
        let bytes = match flac.as_mut() {
            Some(flac) => {
                encoded.clear();
                flac.encode(&pcm, &mut encoded);
                &encoded
            }
            None => &pcm,
        };
        write_counted(&mut out, bytes, &mut written)?;
        frames_written += frames as u64;
    }
    let final_header = match flac.as_mut() {
        Some(flac) => {
            encoded.clear();
            let header = flac.finish(&mut encoded); // the last, shorter frame
            write_counted(&mut out, &encoded, &mut written)?;
            Some(header)
        }
        None => None,
    };
    out.flush().map_err(|source| classify(source, written))?;
    if let Some(periods) = periods.as_mut() {
        periods.finish();
    }
    Ok(Rendered {
        frames: frames_written,
        bytes: written,
        levels: meter.levels(),
        final_header,
    })
}

fn write_counted<W: Write>(
    out: &mut W,
    bytes: &[u8],
    written: &mut u64,
) -> Result<(), OutputError> {
    out.write_all(bytes)
        .map_err(|source| classify(source, *written))?;
    *written += bytes.len() as u64;
    Ok(())
}

fn classify(source: io::Error, bytes: u64) -> OutputError {
    if source.kind() == io::ErrorKind::BrokenPipe {
        OutputError::Closed { bytes }
    } else {
        OutputError::Io { bytes, source }
    }
}
