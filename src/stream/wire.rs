//! WebSocket frames made once and shared: a server's frames are unmasked, so a message's
//! bytes on the wire are the same for every listener and can be framed once per tick.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

/// A whole, final text frame holding `text`.
pub fn text(text: Utf8Bytes) -> Bytes {
    frame(text.into(), OpCode::Data(Data::Text))
}

/// A whole, final binary frame holding `payload`.
pub fn binary(payload: Bytes) -> Bytes {
    frame(payload, OpCode::Data(Data::Binary))
}

/// Writes the header of a whole, final, unmasked frame for a payload of `len` bytes (text or
/// binary) at the end of `headroom`, and returns where it starts: the payload that follows
/// the headroom is then a frame without being copied. `headroom` must hold 10 bytes (the
/// longest header).
pub fn header_into(headroom: &mut [u8], len: usize, text: bool) -> usize {
    let header = FrameHeader {
        opcode: OpCode::Data(if text { Data::Text } else { Data::Binary }),
        ..FrameHeader::default()
    };
    let mut bytes = Vec::with_capacity(10);
    // Formatting into a Vec cannot fail: a Vec takes every write.
    let _ = header.format(len as u64, &mut bytes);
    let start = headroom.len() - bytes.len();
    headroom[start..].copy_from_slice(&bytes);
    start
}

/// The payload of a frame made here (a view of the same bytes).
pub fn payload(frame: &Bytes) -> Bytes {
    let header = match frame.get(1).map(|b| b & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    };
    frame.slice(header.min(frame.len())..)
}

fn frame(payload: Bytes, opcode: OpCode) -> Bytes {
    let frame = Frame::message(payload, opcode, true);
    let mut wire = Vec::with_capacity(frame.len());
    // Formatting into a Vec cannot fail: a Vec takes every write.
    let _ = frame.format(&mut wire);
    Bytes::from(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_final_unmasked_and_carry_the_payload() {
        let short = text(Utf8Bytes::from("hi"));
        assert_eq!(&short[..], &[0x81, 2, b'h', b'i']);
        let payload = Bytes::from(vec![7u8; 17_656]);
        let long = binary(payload.clone());
        assert_eq!(long[0], 0x82, "FIN + binary");
        assert_eq!(long[1], 126, "unmasked, 16-bit length follows");
        assert_eq!(u16::from_be_bytes([long[2], long[3]]), 17_656);
        assert_eq!(long.slice(4..), payload);
        assert_eq!(super::payload(&long), payload);
        assert_eq!(&super::payload(&short)[..], b"hi");
        for length in [2usize, 200, 17_656, 70_000] {
            let payload = vec![7u8; length];
            let mut buffer = vec![0u8; 10];
            buffer.extend_from_slice(&payload);
            let start = header_into(&mut buffer[..10], length, false);
            assert_eq!(
                &buffer[start..],
                &binary(Bytes::from(payload))[..],
                "a header in the headroom frames the same ({length} bytes)"
            );
        }
        let mut buffer = [0u8; 12];
        buffer[10..].copy_from_slice(b"hi");
        let start = header_into(&mut buffer[..10], 2, true);
        assert_eq!(&buffer[start..], &short[..]);
    }
}
