//! The WebSocket message parser (`classify_client_message`, `reply_to_client`): never
//! panics, and every immediate reply is one JSON object.
#![no_main]

use ambientd::stream::messages::{ClientRequest, classify_client_message, reply_to_client};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let ClientRequest::Reply(reply) = classify_client_message(text) {
        let value: serde_json::Value = serde_json::from_str(&reply).expect("a JSON reply");
        assert!(value.is_object(), "{reply}");
    }
    let reply = reply_to_client(text);
    assert!(serde_json::from_str::<serde_json::Value>(&reply).is_ok(), "{reply}");
});
