//! `encoding=opus`: `sequence` u64 LE, `timestamp` u64 LE (Unix ms), the packet count (u8,
//! 5), then each 20 ms Opus packet (48 kHz stereo) as its length (u16 LE) and its bytes.

use super::{Audio, Encoder};

/// Bytes before the first packet: sequence, timestamp, packet count.
pub const HEADER_BYTES: usize = 17;

/// The Opus audio message (stateful: the packets come from the running Opus stream).
#[derive(Debug, Default)]
pub struct OpusPackets;

impl Encoder for OpusPackets {
    fn encode(&mut self, audio: &Audio<'_>, out: &mut Vec<u8>) {
        let packets = audio.opus.map_or(&[][..], |opus| &opus.packets[..]);
        out.reserve(HEADER_BYTES + packets.iter().map(|p| 2 + p.len()).sum::<usize>());
        out.extend_from_slice(&audio.sequence.to_le_bytes());
        out.extend_from_slice(&audio.timestamp_ms.to_le_bytes());
        out.push(packets.len() as u8);
        for packet in packets {
            // libopus writes at most 1,275 bytes per frame: the length fits.
            out.extend_from_slice(&(packet.len() as u16).to_le_bytes());
            out.extend_from_slice(packet);
        }
    }
}
