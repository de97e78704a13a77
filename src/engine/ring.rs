//! The audio ring between the generation thread and the pacer, and its sizes.
//!
//! Guarantees:
//! - One producer (the generation thread) and one consumer (the pacer task), lock-free
//!   (`ringbuf`'s SPSC ring); neither side ever blocks on the other.
//! - It holds [`RING_SECONDS`] of interleaved stereo `f32`, an exact multiple of the 100 ms
//!   chunk, so the producer always writes and the consumer always reads whole chunks.
//! - The producer never overwrites: when fewer than a chunk's worth of slots are free it waits
//!   (parks) until the consumer has taken a chunk and unparks it.
//! - The consumer never waits: when less than a chunk is there at a tick it takes what there is
//!   and sends silence for the rest (an underrun), counted and reported by the pacer.

use ringbuf::traits::Split;
use ringbuf::{HeapCons, HeapProd, HeapRb};

pub use crate::audio::CHUNK_SAMPLES;
/// 100 ms chunks the ring holds.
pub const RING_CHUNKS: usize = 20;
/// Seconds of audio the ring holds.
pub const RING_SECONDS: f64 = RING_CHUNKS as f64 / 10.0;
/// Capacity in interleaved samples.
pub const RING_SAMPLES: usize = RING_CHUNKS * CHUNK_SAMPLES;

/// The producer half, owned by the generation thread.
pub type RingWriter = HeapProd<f32>;
/// The consumer half, owned by the pacer.
pub type RingReader = HeapCons<f32>;

/// A new, empty audio ring.
pub fn audio_ring() -> (RingWriter, RingReader) {
    HeapRb::<f32>::new(RING_SAMPLES).split()
}

#[cfg(test)]
mod tests {
    use ringbuf::traits::{Consumer, Observer, Producer};

    use super::*;

    #[test]
    fn ring_holds_two_seconds_of_whole_chunks() {
        let (mut writer, mut reader) = audio_ring();
        assert_eq!(writer.capacity().get(), RING_SAMPLES);
        assert_eq!(RING_SAMPLES % CHUNK_SAMPLES, 0);
        assert_eq!(RING_SECONDS, 2.0);
        let chunk = [0.25f32; CHUNK_SAMPLES];
        for _ in 0..RING_CHUNKS {
            assert_eq!(writer.push_slice(&chunk), CHUNK_SAMPLES);
        }
        // Full: the producer is refused rather than overwriting.
        assert_eq!(writer.push_slice(&chunk), 0);
        let mut out = [0.0f32; CHUNK_SAMPLES];
        assert_eq!(reader.pop_slice(&mut out), CHUNK_SAMPLES);
        assert_eq!(writer.vacant_len(), CHUNK_SAMPLES);
    }
}
