//! The `/ws` query parser (`parse_ws_query`: percent-decoding, duplicates, formats, resume):
//! never panics, and a refusal is one non-empty line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(message) = ambientd::stream::query::parse_ws_query(Some(query)) {
        assert!(!message.is_empty() && !message.contains('\n'), "{message:?}");
    }
});
