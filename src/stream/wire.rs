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

/// The header of a whole, final binary frame of `length` bytes, in a buffer with room for
/// the payload (which the caller appends: no copy of it afterwards).
pub fn binary_header(length: usize) -> Vec<u8> {
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Binary),
        ..FrameHeader::default()
    };
    let mut wire = Vec::with_capacity(header.len(length as u64) + length);
    // Formatting into a Vec cannot fail: a Vec takes every write.
    let _ = header.format(length as u64, &mut wire);
    wire
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
        let mut built = binary_header(payload.len());
        built.extend_from_slice(&payload);
        assert_eq!(built, &long[..], "a header built alone frames the same");
    }
}
