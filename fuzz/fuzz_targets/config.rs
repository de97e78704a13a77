//! The config parser (`Config::from_toml`): never panics, and a refusal is one line naming
//! where (`<string>:LINE:COLUMN: ...`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = ambientd::config::Config::from_toml(text) {
        let message = error.to_string();
        assert!(message.starts_with("<string>:"), "{message}");
    }
});
