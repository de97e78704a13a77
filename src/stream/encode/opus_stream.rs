//! The one Opus stream every Opus listener shares: 44.1 kHz → 48 kHz (rubato's FFT
//! resampler, its state kept from chunk to chunk so seams have no gap), libopus in 20 ms
//! stereo frames (5 per 100 ms chunk), and the Ogg pages that carry them (one page per
//! chunk) after the stream's fixed OpusHead and OpusTags pages.
//!
//! It runs once per tick on the pacer's task while anyone listens in an Opus format,
//! whatever their number. After a pause (nobody listened), it starts afresh: the codec and
//! the resampler reset, the granule position and the page sequence go on, so a listener
//! joining later sees one continuous logical stream.

use audioadapter_buffers::direct::InterleavedSlice;
use bytes::Bytes;
use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use rubato::{Fft, FixedSync, Resampler};

use crate::audio::{CHANNELS, CHUNK_FRAMES, SAMPLE_RATE};

/// Opus's sample rate here (granule positions count it).
pub const OPUS_RATE: u32 = 48_000;
/// Samples per channel in one Opus frame (20 ms).
pub const FRAME_SAMPLES: usize = 960;
/// One 100 ms chunk at 48 kHz, per channel.
pub const CHUNK_SAMPLES_48K: usize = CHUNK_FRAMES * OPUS_RATE as usize / SAMPLE_RATE as usize;
/// Opus packets per chunk.
pub const PACKETS_PER_CHUNK: usize = CHUNK_SAMPLES_48K / FRAME_SAMPLES;
/// `[stream] opus_bitrate` when none is given, and the range allowed (bits per second).
pub const DEFAULT_BITRATE: u32 = 96_000;
/// The lowest bitrate allowed.
pub const MIN_BITRATE: u32 = 32_000;
/// The highest bitrate allowed.
pub const MAX_BITRATE: u32 = 256_000;
/// libopus's advice for the largest packet it may write.
const MAX_PACKET_BYTES: usize = 4_000;

const _: () = assert!(CHUNK_SAMPLES_48K == 4_800 && PACKETS_PER_CHUNK == 5);

/// One chunk of the Opus stream.
#[derive(Debug, Default)]
pub struct OpusChunk {
    /// The chunk's 5 Opus packets (20 ms each), in order.
    pub packets: Vec<Vec<u8>>,
    /// The Ogg page that carries them (granule position: the end of the last packet).
    pub page: Vec<u8>,
}

/// The resampler, the codec and the Ogg page writer, with the stream's fixed headers.
pub struct OpusStream {
    resampler: Fft<f32>,
    codec: opus::Encoder,
    bitrate: u32,
    pages: PacketWriter<'static, Vec<u8>>,
    serial: u32,
    headers: Bytes,
    /// 48 kHz samples per channel encoded so far, pre-skip included (the granule position).
    granule: u64,
    /// Sequence of the last chunk encoded: a gap means nobody listened in between.
    last_sequence: Option<u64>,
    resampled: Vec<f32>,
    chunk: OpusChunk,
}

impl std::fmt::Debug for OpusStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusStream")
            .field("serial", &self.serial)
            .field("bitrate", &self.bitrate)
            .field("granule", &self.granule)
            .finish_non_exhaustive()
    }
}

impl OpusStream {
    /// A stream at `bitrate` bits per second with Ogg serial number `serial`. The error
    /// says why libopus or the resampler could not be set up.
    pub fn new(bitrate: u32, serial: u32) -> Result<OpusStream, String> {
        // Tests take the encoder away here (`fail::cfg("opus-encoder", "return")`).
        #[cfg(feature = "failpoints")]
        fail::fail_point!("opus-encoder", |_| Err(
            "libopus: cannot create an encoder (failpoint opus-encoder)".to_string()
        ));
        let resampler = Fft::<f32>::new(
            SAMPLE_RATE as usize,
            OPUS_RATE as usize,
            CHUNK_FRAMES,
            CHANNELS,
            FixedSync::Both,
        )
        .map_err(|e| format!("cannot set up the 44.1 -> 48 kHz resampler: {e}"))?;
        if resampler.input_frames_next() != CHUNK_FRAMES
            || resampler.output_frames_next() != CHUNK_SAMPLES_48K
        {
            return Err(format!(
                "the resampler takes {} frames for {} (wanted {CHUNK_FRAMES} for {CHUNK_SAMPLES_48K})",
                resampler.input_frames_next(),
                resampler.output_frames_next()
            ));
        }
        let mut codec = new_codec(bitrate)?;
        let pre_skip = codec
            .get_lookahead()
            .map_err(|e| format!("libopus: cannot read the encoder's lookahead: {e}"))?;
        let pre_skip = u16::try_from(pre_skip)
            .map_err(|_| format!("libopus: lookahead {pre_skip} out of range"))?;
        let mut pages = PacketWriter::new(Vec::new());
        let header_error = |e: std::io::Error| format!("cannot write the Ogg headers: {e}");
        pages
            .write_packet(opus_head(pre_skip), serial, PacketWriteEndInfo::EndPage, 0)
            .map_err(header_error)?;
        pages
            .write_packet(opus_tags(), serial, PacketWriteEndInfo::EndPage, 0)
            .map_err(header_error)?;
        let headers = Bytes::from(std::mem::take(pages.inner_mut()));
        Ok(OpusStream {
            resampler,
            codec,
            bitrate,
            pages,
            serial,
            headers,
            granule: 0,
            last_sequence: None,
            resampled: vec![0.0; CHUNK_SAMPLES_48K * CHANNELS],
            chunk: OpusChunk::default(),
        })
    }

    /// The OpusHead and OpusTags pages (page sequence 0 and 1, the first flagged as the
    /// beginning of the stream): the same bytes for the stream's whole life.
    pub fn headers(&self) -> Bytes {
        self.headers.clone()
    }

    /// The Ogg serial number of the stream.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// The chunk [`OpusStream::encode`] made last.
    pub fn chunk(&self) -> &OpusChunk {
        &self.chunk
    }

    /// Sets the bitrate from the next chunk on (nothing in the headers depends on it).
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), String> {
        if bitrate != self.bitrate {
            self.codec
                .set_bitrate(opus::Bitrate::Bits(bitrate_i32(bitrate)?))
                .map_err(|e| format!("libopus refused opus_bitrate = {bitrate}: {e}"))?;
            self.bitrate = bitrate;
        }
        Ok(())
    }

    /// Encodes chunk `sequence` (100 ms of interleaved stereo at 44.1 kHz). On an error
    /// (libopus failing mid-stream, which it does not do for valid input) the chunk is
    /// empty and the error says why.
    pub fn encode(&mut self, sequence: u64, samples: &[f32]) -> Result<&OpusChunk, String> {
        if self
            .last_sequence
            .is_some_and(|last| sequence != last.wrapping_add(1))
        {
            // Nobody listened for a while: start the codec and the resampler afresh rather
            // than join two unrelated pieces of audio through their filter state.
            self.resampler.reset();
            let _ = self.codec.reset_state();
        }
        self.last_sequence = Some(sequence);
        self.chunk.packets.clear();
        self.chunk.page.clear();
        let input = InterleavedSlice::new(samples, CHANNELS, CHUNK_FRAMES)
            .map_err(|e| format!("chunk of the wrong size for the resampler: {e}"))?;
        let mut output =
            InterleavedSlice::new_mut(&mut self.resampled, CHANNELS, CHUNK_SAMPLES_48K)
                .map_err(|e| format!("resampler output of the wrong size: {e}"))?;
        self.resampler
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| format!("resampler: {e}"))?;
        for frame in self.resampled.chunks_exact(FRAME_SAMPLES * CHANNELS) {
            let packet = self
                .codec
                .encode_vec_float(frame, MAX_PACKET_BYTES)
                .map_err(|e| format!("libopus: {e}"))?;
            self.chunk.packets.push(packet);
        }
        for (index, packet) in self.chunk.packets.iter().enumerate() {
            self.granule += FRAME_SAMPLES as u64;
            let end = if index + 1 == PACKETS_PER_CHUNK {
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.pages
                .write_packet(packet.clone(), self.serial, end, self.granule)
                .map_err(|e| format!("Ogg page: {e}"))?;
        }
        std::mem::swap(&mut self.chunk.page, self.pages.inner_mut());
        Ok(&self.chunk)
    }
}

/// A serial number for a new stream: random, so that a listener (or an Icecast relay)
/// that sees the daemon restart sees a new logical stream, not a jump in the old one.
pub fn new_serial() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() as u32
}

fn bitrate_i32(bitrate: u32) -> Result<i32, String> {
    i32::try_from(bitrate).map_err(|_| format!("opus_bitrate {bitrate} out of range"))
}

/// A libopus encoder for music: 48 kHz stereo at `bitrate`, full complexity.
fn new_codec(bitrate: u32) -> Result<opus::Encoder, String> {
    let mut codec = opus::Encoder::new(OPUS_RATE, opus::Channels::Stereo, opus::Application::Audio)
        .map_err(|e| format!("libopus: cannot create an encoder: {e}"))?;
    codec
        .set_bitrate(opus::Bitrate::Bits(bitrate_i32(bitrate)?))
        .map_err(|e| format!("libopus refused opus_bitrate = {bitrate}: {e}"))?;
    codec
        .set_complexity(10)
        .map_err(|e| format!("libopus: cannot set the complexity: {e}"))?;
    Ok(codec)
}

/// The identification header (RFC 7845 §5.1): version 1, stereo, the pre-skip, the input
/// rate (informational), no gain, mapping family 0.
fn opus_head(pre_skip: u16) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1);
    head.push(CHANNELS as u8);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

/// The comment header (RFC 7845 §5.2): libopus's version as the vendor and one tag naming
/// the encoder. Tags never change: what plays now is in `/api/status` and `phrase`.
fn opus_tags() -> Vec<u8> {
    let vendor = opus::version();
    let tag = format!("ENCODER=ambientd {}", env!("CARGO_PKG_VERSION"));
    let mut tags = Vec::new();
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor.as_bytes());
    tags.extend_from_slice(&1u32.to_le_bytes());
    tags.extend_from_slice(&(tag.len() as u32).to_le_bytes());
    tags.extend_from_slice(tag.as_bytes());
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::CHUNK_SAMPLES;

    fn tone(chunk: u64) -> Vec<f32> {
        (0..CHUNK_SAMPLES)
            .map(|i| {
                let t = (chunk as usize * CHUNK_FRAMES + i / 2) as f32 / SAMPLE_RATE as f32;
                (t * 440.0 * std::f32::consts::TAU).sin() * 0.3
            })
            .collect()
    }

    #[test]
    fn each_chunk_is_five_packets_in_one_page_with_the_granule_at_its_end() {
        let mut stream = OpusStream::new(DEFAULT_BITRATE, 7).unwrap();
        let headers = stream.headers();
        assert_eq!(&headers[0..4], b"OggS");
        assert_eq!(headers[5], 0x02, "the first page begins the stream");
        assert_eq!(&headers[28..36], b"OpusHead");
        for sequence in 10..13u64 {
            let chunk = stream.encode(sequence, &tone(sequence)).unwrap();
            assert_eq!(chunk.packets.len(), PACKETS_PER_CHUNK);
            assert!(chunk.packets.iter().all(|p| !p.is_empty()));
            let page = &chunk.page;
            assert_eq!(&page[0..4], b"OggS");
            assert_eq!(page[5], 0, "neither first nor last, nor continued");
            let granule = u64::from_le_bytes(page[6..14].try_into().unwrap());
            assert_eq!(granule, (sequence - 9) * 4_800);
            let page_sequence = u32::from_le_bytes(page[18..22].try_into().unwrap());
            assert_eq!(
                u64::from(page_sequence),
                sequence - 10 + 2,
                "after the 2 header pages"
            );
        }
        assert_eq!(stream.headers(), headers, "the headers never change");
    }

    #[test]
    fn a_bitrate_change_takes_effect_without_new_headers() {
        let mut stream = OpusStream::new(MIN_BITRATE, 1).unwrap();
        let low: usize = (0..10u64)
            .map(|s| stream.encode(s, &tone(s)).unwrap().page.len())
            .sum();
        stream.set_bitrate(MAX_BITRATE).unwrap();
        let high: usize = (10..20u64)
            .map(|s| stream.encode(s, &tone(s)).unwrap().page.len())
            .sum();
        assert!(
            high > 2 * low,
            "{low} bytes at 32 kbit/s, {high} at 256 kbit/s"
        );
    }
}
