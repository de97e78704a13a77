//! Chunk encoding: one 100 ms stereo chunk into a wire format, which the pacer does once per
//! tick per format in use, whatever the listener count. Target: < 20 µs per chunk for the
//! seed's format (PCM16 + base64 + JSON).

use std::hint::black_box;

use ambientd::audio::CHUNK_SAMPLES;
use ambientd::stream::encode::{Encoders, Encoding, FORMATS, Format, OGG_OPUS, OPUS, WAV};
use ambientd::stream::wire;
use criterion::{Criterion, criterion_group, criterion_main};

fn encode(c: &mut Criterion) {
    // Music-like content (not silence), so nothing is special-cased.
    let samples: Vec<f32> = (0..CHUNK_SAMPLES)
        .map(|i| (i as f32 * 0.013).sin() * 0.4)
        .collect();
    let mut group = c.benchmark_group("encode");
    let mut sequence = 0u64;
    let mut encoders = Encoders::default();
    // What a tick costs the pacer when only this format has listeners: PCM16 conversion,
    // the format's encoder, and its WebSocket frame header.
    for (name, format) in [
        ("json_mono", Format::default()),
        (
            "json_stereo",
            Format {
                channels: 2,
                encoding: Encoding::Json,
            },
        ),
        (
            "binary_mono",
            Format {
                channels: 1,
                encoding: Encoding::Binary,
            },
        ),
        (
            "binary_stereo",
            Format {
                channels: 2,
                encoding: Encoding::Binary,
            },
        ),
        ("wav", WAV),
        // The shared Opus stream (resample to 48 kHz, libopus at 96 kbit/s, the Ogg page)
        // and the format's framing: what one Opus stream costs per 100 ms tick, whatever
        // the number of its listeners. Divide by 100 ms for the share of one core.
        ("ogg_opus", OGG_OPUS),
        ("opus_ws", OPUS),
    ] {
        let mut in_use = [false; FORMATS];
        in_use[format.index()] = true;
        group.bench_function(name, |b| {
            b.iter(|| {
                sequence += 1;
                let chunk = encoders.encode(
                    black_box(&samples),
                    sequence,
                    1_700_000_000_000,
                    &in_use,
                    wire::header_into,
                );
                black_box(chunk.get(format).map(|encoded| encoded.framed.len()))
            })
        });
    }
    // Every format, the Opus stream included (before issue 12 this row had no Opus).
    group.bench_function("all_formats", |b| {
        b.iter(|| {
            sequence += 1;
            black_box(encoders.encode(
                black_box(&samples),
                sequence,
                1_700_000_000_000,
                &[true; FORMATS],
                wire::header_into,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
