//! The render path never allocates: a counting global allocator watches the generator render
//! minutes of music through phrase boundaries, key/tempo/seed changes and skips.

mod counting_alloc;
use counting_alloc::allocations;

use ambientctl::SynthesisParameters;
use ambientd::engine::generator::Generator;

#[test]
fn rendering_allocates_nothing_after_construction() {
    let start = SynthesisParameters::new("A minor".parse().unwrap(), 70, 0.5, 5).unwrap();
    let mut generator = Generator::new(start);
    let mut block = vec![0.0f32; 2 * 4_410]; // one 100 ms chunk, as the daemon renders
    let changes = {
        let mut p = start;
        let mut list = Vec::new();
        p.set_key("C# minor".parse().unwrap());
        list.push(p);
        p.set_bpm(120).unwrap();
        list.push(p);
        p.set_intensity(1.0).unwrap();
        list.push(p);
        p.set_seed(77);
        list.push(p);
        p.set_intensity(0.0).unwrap();
        p.set_bpm(40).unwrap();
        list.push(p);
        list
    };
    let before = allocations();
    for chunk in 0..3_000u32 {
        // five minutes of audio
        if chunk % 500 == 250 && chunk < 2_500 {
            generator.set_params(changes[(chunk / 500) as usize]);
        }
        if chunk == 2_900 {
            generator.skip();
        }
        generator.render(&mut block);
    }
    let during = allocations() - before;
    assert!(generator.phrases_started() > 8);
    assert_eq!(
        during, 0,
        "the render path allocated or freed {during} times"
    );
    let probe: Vec<u8> = Vec::with_capacity(16);
    std::hint::black_box(&probe);
    assert!(allocations() > before, "the counter counts");
}
