//! FLAC for a streamed render: the 16-bit PCM of [`super::wav::pcm16`] encoded losslessly by
//! `flacenc` (pure Rust, maintained) one 4,096-frame FLAC frame at a time, so a render of any
//! length keeps the same memory. The header goes out first with the length (always known) but
//! without what only the end knows (the MD5 of the audio, the smallest and largest frame); the
//! finished header is handed back for an output that can be rewritten (a file) and is left as
//! it is on a pipe, where FLAC allows both as "unknown".
//!
//! Decoding the FLAC gives the WAV render's samples exactly: both are the same PCM16 bytes.

use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, Stream, StreamInfo};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};

use super::wav::BYTES_PER_FRAME;
use crate::audio::{CHANNELS, SAMPLE_RATE};

/// Frames per FLAC frame: flacenc's and the reference encoder's default.
const FRAME_FRAMES: usize = 4096;
/// Bits per sample of the encoded audio (the WAV render's depth).
const BITS_PER_SAMPLE: usize = 16;
/// Bytes of the header: "fLaC", the STREAMINFO block's 4-byte head and its 34 bytes.
pub const HEADER_BYTES: usize = 42;

/// Encodes a render's PCM16 into FLAC frames as it comes.
pub struct FlacEncoder {
    config: Verified<config::Encoder>,
    info: StreamInfo,
    /// The PCM16 bytes of the FLAC frame being gathered (chunks need not end on a frame).
    pending: Vec<u8>,
    /// flacenc's input buffer and its running MD5 and frame count.
    input: (FrameBuf, Context),
    sink: ByteSink,
    frames_encoded: usize,
    smallest_frame: usize,
    largest_frame: usize,
}

impl FlacEncoder {
    /// An encoder for a render of `total_frames` frames of 44.1 kHz stereo.
    pub fn new(total_frames: u64) -> Self {
        let mut config = config::Encoder::default();
        // One thread: the render thread and the writer thread already fill two cores.
        config.multithread = false;
        let config = config
            .into_verified()
            .unwrap_or_else(|(_, error)| panic!("the FLAC settings are valid: {error}"));
        let mut info = StreamInfo::new(SAMPLE_RATE as usize, CHANNELS, BITS_PER_SAMPLE)
            .expect("44.1 kHz 16-bit stereo is a valid FLAC stream");
        info.set_block_sizes(FRAME_FRAMES, FRAME_FRAMES)
            .expect("4096 is a valid FLAC block size");
        // 0 and 0 say "unknown" until the end, when the real sizes are known.
        info.set_frame_sizes(0, 0).expect("0..=0 is a valid range");
        info.set_total_samples(total_frames as usize);
        Self {
            config,
            info,
            pending: Vec::with_capacity(FRAME_FRAMES * BYTES_PER_FRAME),
            input: (
                FrameBuf::with_size(CHANNELS, FRAME_FRAMES).expect("a valid FLAC frame size"),
                Context::new(BITS_PER_SAMPLE, CHANNELS),
            ),
            sink: ByteSink::new(),
            frames_encoded: 0,
            smallest_frame: usize::MAX,
            largest_frame: 0,
        }
    }

    /// The header as it goes out first: the length, no MD5, no frame sizes.
    pub fn header(&self) -> Vec<u8> {
        stream_header(&self.info)
    }

    /// Encodes `pcm` (interleaved little-endian 16-bit stereo), appending every FLAC frame it
    /// completes to `out`; the rest waits for the next call or [`finish`](Self::finish).
    pub fn encode(&mut self, mut pcm: &[u8], out: &mut Vec<u8>) {
        let frame_bytes = FRAME_FRAMES * BYTES_PER_FRAME;
        while !pcm.is_empty() {
            let take = (frame_bytes - self.pending.len()).min(pcm.len());
            self.pending.extend_from_slice(&pcm[..take]);
            pcm = &pcm[take..];
            if self.pending.len() == frame_bytes {
                self.encode_pending(out);
            }
        }
    }

    /// Encodes what is left (the last, shorter frame) into `out` and returns the header with
    /// the MD5 and the frame sizes, the same length as [`header`](Self::header)'s.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Vec<u8> {
        if !self.pending.is_empty() {
            self.encode_pending(out);
        }
        let mut info = self.info.clone();
        info.set_md5_digest(&self.input.1.md5_digest());
        if self.frames_encoded > 0 {
            info.set_frame_sizes(self.smallest_frame, self.largest_frame)
                .expect("the smallest frame is no larger than the largest");
        }
        stream_header(&info)
    }

    fn encode_pending(&mut self, out: &mut Vec<u8>) {
        self.input
            .fill_le_bytes(&self.pending, BITS_PER_SAMPLE / 8)
            .expect("whole stereo 16-bit frames");
        self.pending.clear();
        let frame = flacenc::encode_fixed_size_frame(
            &self.config,
            &self.input.0,
            self.frames_encoded,
            &self.info,
        )
        .expect("16-bit samples always fit a 16-bit FLAC frame");
        self.sink.clear();
        frame
            .write(&mut self.sink)
            .expect("a memory sink takes any frame");
        let bytes = self.sink.as_slice();
        out.extend_from_slice(bytes);
        self.smallest_frame = self.smallest_frame.min(bytes.len());
        self.largest_frame = self.largest_frame.max(bytes.len());
        self.frames_encoded += 1;
    }
}

impl std::fmt::Debug for FlacEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlacEncoder")
            .field("frames_encoded", &self.frames_encoded)
            .field("pending_bytes", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// "fLaC" and the STREAMINFO block, marked as the last metadata block.
fn stream_header(info: &StreamInfo) -> Vec<u8> {
    let mut sink = ByteSink::new();
    Stream::with_stream_info(info.clone())
        .write(&mut sink)
        .expect("a memory sink takes the header");
    let bytes = sink.as_slice().to_vec();
    debug_assert_eq!(bytes.len(), HEADER_BYTES);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcm_of(frames: usize) -> Vec<u8> {
        (0..frames * CHANNELS)
            .flat_map(|i| (((i * 37) % 2000) as i16 - 1000).to_le_bytes())
            .collect()
    }

    #[test]
    fn the_header_is_the_magic_and_a_last_streaminfo_block_with_the_length() {
        let header = FlacEncoder::new(44_100).header();
        assert_eq!(header.len(), HEADER_BYTES);
        assert_eq!(&header[..4], b"fLaC");
        assert_eq!(header[4], 0x80, "STREAMINFO, last metadata block");
        assert_eq!(&header[5..8], &[0, 0, 34]);
        // Total samples: the low 36 bits of bytes 21..26 of the block (after 4 + 4 bytes).
        let bits = u64::from_be_bytes(header[18..26].try_into().unwrap());
        assert_eq!(bits & ((1 << 36) - 1), 44_100);
        assert_eq!(&header[26..42], &[0; 16], "no MD5 before the end");
    }

    #[test]
    fn the_output_does_not_depend_on_how_the_pcm_is_cut() {
        let pcm = pcm_of(10_000);
        let whole = {
            let mut encoder = FlacEncoder::new(10_000);
            let mut out = Vec::new();
            encoder.encode(&pcm, &mut out);
            let header = encoder.finish(&mut out);
            (out, header)
        };
        let cut = {
            let mut encoder = FlacEncoder::new(10_000);
            let mut out = Vec::new();
            for piece in pcm.chunks(4 * 777) {
                encoder.encode(piece, &mut out);
            }
            let header = encoder.finish(&mut out);
            (out, header)
        };
        assert_eq!(whole, cut);
        assert_ne!(
            &whole.1[26..42],
            &[0; 16],
            "the finished header has the MD5"
        );
    }
}
