//! Chunk encoding: one 100 ms stereo chunk into every wire format (mono and stereo PCM16,
//! base64 JSON and binary), which the pacer does once per tick whatever the listener count.
//! Target: < 20 µs per chunk.

use std::hint::black_box;

use ambientd::audio::ring::CHUNK_SAMPLES;
use ambientd::stream::encode::encode_chunk;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn encode(c: &mut Criterion) {
    // Music-like content (not silence), so nothing is special-cased.
    let samples: Vec<f32> = (0..CHUNK_SAMPLES)
        .map(|i| (i as f32 * 0.013).sin() * 0.4)
        .collect();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    let mut sequence = 0u64;
    group.bench_function("chunk_all_four_formats", |b| {
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
criterion_main!(benches, parts_group);

fn parts(c: &mut Criterion) {
    use base64::Engine as _;
    let samples: Vec<f32> = (0..CHUNK_SAMPLES)
        .map(|i| (i as f32 * 0.013).sin() * 0.4)
        .collect();
    c.bench_function("parts/convert_stereo", |b| {
        b.iter(|| {
            let v: Vec<i16> = black_box(&samples)
                .iter()
                .map(|&s| ambientd::audio::f32_to_i16(s))
                .collect();
            black_box(v)
        })
    });
    let bytes = vec![7u8; 17_640];
    c.bench_function("parts/base64_stereo", |b| {
        b.iter(|| black_box(base64::engine::general_purpose::STANDARD.encode(black_box(&bytes))))
    });
}
criterion_group!(parts_group, parts);
