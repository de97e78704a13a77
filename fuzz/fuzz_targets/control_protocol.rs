//! The control protocol's request parser (`ambientctl::decode_request`, and `handle_line`
//! as the daemon calls it): never panics, a decoded request re-encodes to itself, and every
//! reply is exactly one line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = ambientctl::decode_request(line) {
        let encoded = ambientctl::encode_request(&request);
        let again = ambientctl::decode_request(encoded.trim_end()).expect("re-decodes");
        assert_eq!(again, request);
    }
    let reply = ambientctl::handle_line(line, &mut |_request| Ok(ambientctl::Response::Done));
    assert!(reply.ends_with('\n') && reply.matches('\n').count() == 1, "{reply:?}");
    let _ = ambientctl::decode_reply(line);
    let _ = ambientctl::decode_event(line);
});
