//! The parameter parsers (`apply_set` for every parameter, `Key` and the saved file's JSON
//! shape): never panic, and whatever is accepted is in range.
#![no_main]

use ambientctl::{Param, SynthesisParameters};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let current = SynthesisParameters::default();
    for param in Param::ALL {
        if let Ok(next) = ambientctl::apply_set(&current, param, text) {
            assert!((40..=120).contains(&next.bpm()), "{text:?}");
            assert!((0.0..=1.0).contains(&next.intensity()), "{text:?}");
        }
    }
    let _ = text.parse::<ambientctl::Key>();
    if let Ok(params) = serde_json::from_str::<SynthesisParameters>(text) {
        assert!((40..=120).contains(&params.bpm()), "{text:?}");
    }
});
