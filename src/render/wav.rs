//! The WAV container for a streamed render: a header that declares the real length up front
//! (the length of a render is always known), so the file can go to a pipe, which cannot seek
//! back to patch it, and the PCM16 body written chunk by chunk. Past 4 GiB of audio (6 h 45
//! min of 16-bit stereo at 44.1 kHz) a RIFF size no longer fits in 32 bits, so the header is
//! RF64 (EBU Tech 3306, what `ffmpeg -rf64 auto` writes and ffmpeg, sox and most editors read).
//!
//! Written here rather than with `hound`: `hound` needs a seekable writer (it patches the sizes
//! at the end) and writes no RF64.

use crate::audio::{CHANNELS, SAMPLE_RATE};

/// Bytes per sample of the body (16-bit PCM).
const BYTES_PER_SAMPLE: usize = 2;
/// Bytes per frame of the body.
pub const BYTES_PER_FRAME: usize = CHANNELS * BYTES_PER_SAMPLE;
/// The `fmt ` chunk's size field (plain PCM).
const FMT_SIZE: u32 = 16;
/// The `ds64` chunk's size field: RIFF size, data size, sample count, empty table.
const DS64_SIZE: u32 = 28;
/// The 32-bit size that says "see the ds64 chunk".
const SEE_DS64: u32 = u32::MAX;

/// The header of a WAV file holding `frames` frames of 16-bit stereo PCM at 44.1 kHz: 44 bytes
/// of RIFF, or 80 of RF64 when the sizes do not fit in 32 bits.
pub fn header(frames: u64) -> Vec<u8> {
    let data_bytes = frames * BYTES_PER_FRAME as u64;
    // RIFF size = everything after its own 8 bytes: "WAVE", the fmt chunk, the data chunk.
    let riff_bytes = 4 + (8 + u64::from(FMT_SIZE)) + 8 + data_bytes;
    let mut out = Vec::with_capacity(80);
    match (u32::try_from(riff_bytes), u32::try_from(data_bytes)) {
        (Ok(riff), Ok(data)) => {
            chunk_head(&mut out, b"RIFF", riff);
            out.extend_from_slice(b"WAVE");
            fmt_chunk(&mut out);
            chunk_head(&mut out, b"data", data);
        }
        _ => {
            let riff_bytes = riff_bytes + 8 + u64::from(DS64_SIZE);
            chunk_head(&mut out, b"RF64", SEE_DS64);
            out.extend_from_slice(b"WAVE");
            chunk_head(&mut out, b"ds64", DS64_SIZE);
            out.extend_from_slice(&riff_bytes.to_le_bytes());
            out.extend_from_slice(&data_bytes.to_le_bytes());
            out.extend_from_slice(&frames.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes()); // no table of other chunk sizes
            fmt_chunk(&mut out);
            chunk_head(&mut out, b"data", SEE_DS64);
        }
    }
    out
}

fn chunk_head(out: &mut Vec<u8>, id: &[u8; 4], size: u32) {
    out.extend_from_slice(id);
    out.extend_from_slice(&size.to_le_bytes());
}

fn fmt_chunk(out: &mut Vec<u8>) {
    let block_align = BYTES_PER_FRAME as u16;
    chunk_head(out, b"fmt ", FMT_SIZE);
    out.extend_from_slice(&1u16.to_le_bytes()); // WAVE_FORMAT_PCM
    out.extend_from_slice(&(CHANNELS as u16).to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(SAMPLE_RATE * u32::from(block_align)).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&(8 * BYTES_PER_SAMPLE as u16).to_le_bytes());
}

/// Converts interleaved f32 to little-endian 16-bit PCM into `bytes` (cleared first; it keeps
/// its capacity, so a reused buffer stops allocating after the first chunk). The values are
/// [`f32_to_i16`](crate::audio::f32_to_i16)'s, computed by a loop that vectorises.
pub fn pcm16(samples: &[f32], bytes: &mut Vec<u8>) {
    bytes.clear();
    bytes.resize(samples.len() * BYTES_PER_SAMPLE, 0);
    pcm16_dispatch(samples, bytes);
}

#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "x86_64+avx",
    "x86_64+sse4.1",
    "aarch64+neon"
))]
fn pcm16_dispatch(samples: &[f32], bytes: &mut [u8]) {
    for (out, &sample) in bytes.chunks_exact_mut(BYTES_PER_SAMPLE).zip(samples) {
        let [low, high] = to_i16(sample).to_le_bytes();
        out[0] = low;
        out[1] = high;
    }
}

/// [`f32_to_i16`](crate::audio::f32_to_i16) (round half away from zero, then saturate; NaN gives 0) spelled with
/// `trunc`, which has a packed instruction where `round` has none (it is a call to `roundf`,
/// which kept the loop scalar and cost a third of the writer thread). `scaled - whole` is
/// exact, so the result is the same for every input (tested against `f32_to_i16`).
#[inline(always)]
fn to_i16(sample: f32) -> i16 {
    let scaled = sample * 32767.0;
    let whole = scaled.trunc();
    let rounded = if (scaled - whole).abs() >= 0.5 {
        whole + 1.0f32.copysign(scaled)
    } else {
        whole
    };
    let clamped = rounded.clamp(-32768.0, 32767.0);
    let finite = if clamped.is_nan() { 0.0 } else { clamped };
    // SAFETY: `finite` is a whole number in -32768..=32767, never NaN, so it converts exactly;
    // unlike `as`, whose NaN and range checks kept the loop's conversions scalar (a third of
    // this loop's time), this has a packed instruction.
    #[allow(unsafe_code)]
    let whole = unsafe { finite.to_int_unchecked::<i32>() };
    whole as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::f32_to_i16;

    #[test]
    fn a_short_render_gets_the_canonical_44_byte_riff_header() {
        let h = header(44_100);
        assert_eq!(h.len(), 44);
        assert_eq!(&h[0..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(h[4..8].try_into().unwrap()),
            36 + 176_400
        );
        assert_eq!(&h[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(h[28..32].try_into().unwrap()), 176_400);
        assert_eq!(&h[36..40], b"data");
        assert_eq!(u32::from_le_bytes(h[40..44].try_into().unwrap()), 176_400);
    }

    #[test]
    fn past_4_gib_the_header_is_rf64_with_64_bit_sizes() {
        let frames = 24 * 3600 * 44_100u64;
        let h = header(frames);
        assert_eq!(h.len(), 80);
        assert_eq!(&h[0..4], b"RF64");
        assert_eq!(&h[8..16], b"WAVEds64");
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap());
        assert_eq!(u64_at(28), frames * 4, "data size");
        assert_eq!(u64_at(20), 72 + frames * 4, "RIFF size = file size - 8");
        assert_eq!(u64_at(36), frames);
        assert_eq!(&h[48..52], b"fmt ");
        assert_eq!(&h[72..80], b"data\xff\xff\xff\xff");
    }

    #[test]
    fn the_largest_riff_and_the_smallest_rf64() {
        let largest = (u64::from(u32::MAX) - 36) / 4;
        assert_eq!(header(largest).len(), 44);
        assert_eq!(header(largest + 1).len(), 80);
    }

    #[test]
    fn the_vectorised_conversion_is_f32_to_i16_for_every_kind_of_input() {
        let mut edges = vec![
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1.0,
            -1.0,
            1.000_001,
            -1.000_001,
        ];
        // Every value whose scaled form sits at or next to a half: the rounding boundary.
        for k in -70_000..70_000 {
            let half = (k as f32 + 0.5) / 32767.0;
            edges.extend([half, half.next_up(), half.next_down()]);
        }
        // And a stride through all 2^32 bit patterns.
        edges.extend((0..u32::MAX).step_by(4_099).map(f32::from_bits));
        let mut bytes = Vec::new();
        pcm16(&edges, &mut bytes);
        for (i, &sample) in edges.iter().enumerate() {
            let got = i16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]);
            assert_eq!(
                got,
                f32_to_i16(sample),
                "{sample:e} ({:#x})",
                sample.to_bits()
            );
        }
    }

    #[test]
    fn pcm16_is_little_endian_and_uses_the_shared_conversion() {
        let mut bytes = vec![9; 3];
        pcm16(&[0.5, -1.0, 2.0], &mut bytes);
        assert_eq!(bytes, [0x00, 0x40, 0x01, 0x80, 0xff, 0x7f]);
    }
}
