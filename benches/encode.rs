//! Chunk encoding: one 100 ms stereo chunk into a wire format, which the pacer does once per
//! tick per format in use, whatever the listener count. Target: < 20 µs per chunk for the
//! seed's format (PCM16 + base64 + JSON).

use std::hint::black_box;

use ambientd::audio::CHUNK_SAMPLES;
use ambientd::stream::encode::{EncodedChunk, Encoding, Format, encode_chunk};
use criterion::{Criterion, criterion_group, criterion_main};

fn encode(c: &mut Criterion) {
    // Music-like content (not silence), so nothing is special-cased.
    let samples: Vec<f32> = (0..CHUNK_SAMPLES)
        .map(|i| (i as f32 * 0.013).sin() * 0.4)
        .collect();
    let mut group = c.benchmark_group("encode");
    let mut sequence = 0u64;
    for (name, channels, encoding) in [
        ("json_mono", 1, Encoding::Json),
        ("json_stereo", 2, Encoding::Json),
        ("binary_mono", 1, Encoding::Binary),
        ("binary_stereo", 2, Encoding::Binary),
    ] {
        let format = Format { channels, encoding };
        group.bench_function(name, |b| {
            b.iter(|| {
                sequence += 1;
                let chunk = EncodedChunk::new(black_box(&samples), sequence, 1_700_000_000_000);
                black_box(chunk.wire(format).len())
            })
        });
    }
    group.bench_function("all_four_formats", |b| {
        b.iter(|| {
            sequence += 1;
            black_box(encode_chunk(
                black_box(&samples),
                sequence,
                1_700_000_000_000,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
