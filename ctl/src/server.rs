//! The daemon's half of the protocol, free of any runtime: turn a request line into a reply
//! line ([`handle_line`]), or serve a whole blocking connection ([`serve_connection`]).

use std::io::{self, BufRead, Read, Write};

use crate::protocol::{MAX_LINE_BYTES, Reply, Request, decode_request, encode_reply};

/// Answers one request line with one reply line (newline included): decodes the request,
/// hands it to `handler`, encodes what it returns. A line that is not a request gets an
/// `{"error":"bad request: ..."}` reply and never reaches the handler.
///
/// The daemon's handler sees [`Request::Watch`] like any other request; when it answers
/// `Ok`, the daemon writes the reply and then streams events on that connection with
/// [`crate::encode_event`].
pub fn handle_line(line: &str, handler: &mut impl FnMut(Request) -> Reply) -> String {
    let reply = match decode_request(line) {
        Ok(request) => handler(request),
        Err(err) => Err(err.to_string()),
    };
    encode_reply(&reply)
}

/// How a connection served by [`serve_connection`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The client closed its side; nothing more to do.
    Closed,
    /// The client asked to watch and the handler agreed: the caller now owns the writer and
    /// sends event lines on it until a write fails (the client went away).
    Watch,
}

/// Serves requests on a blocking connection until the client closes it or a watch begins.
/// Several requests may come on one connection, each answered in order.
///
/// A line longer than [`crate::MAX_LINE_BYTES`] or one that is not UTF-8 is answered with an
/// error and ends the connection (there is no telling where the next request would start).
pub fn serve_connection<R: BufRead, W: Write>(
    mut reader: R,
    writer: &mut W,
    mut handler: impl FnMut(Request) -> Reply,
) -> io::Result<Served> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .by_ref()
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(Served::Closed);
        }
        let text = match std::str::from_utf8(&line) {
            Ok(_) if line.len() > MAX_LINE_BYTES => {
                refuse(
                    writer,
                    &format!("bad request: longer than {MAX_LINE_BYTES} bytes"),
                )?;
                return Ok(Served::Closed);
            }
            Ok(text) => text,
            Err(_) => {
                refuse(writer, "bad request: not UTF-8")?;
                return Ok(Served::Closed);
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let mut watching = false;
        let reply = handle_line(text, &mut |request| {
            let wants_watch = request == Request::Watch;
            let reply = handler(request);
            watching = wants_watch && reply.is_ok();
            reply
        });
        writer.write_all(reply.as_bytes())?;
        writer.flush()?;
        if watching {
            return Ok(Served::Watch);
        }
    }
}

/// Writes one error reply.
fn refuse<W: Write>(writer: &mut W, reason: &str) -> io::Result<()> {
    writer.write_all(encode_reply(&Err(reason.to_string())).as_bytes())?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Response;

    fn echo_version(request: Request) -> Reply {
        match request {
            Request::Version => Ok(Response::Version {
                version: "9.9.9".into(),
                protocol: 1,
            }),
            Request::Watch | Request::Skip => Ok(Response::Done),
            other => Err(format!("not here: {other:?}")),
        }
    }

    #[test]
    fn handle_line_answers_requests_and_refuses_garbage() {
        let mut handler = echo_version;
        assert_eq!(
            handle_line("{\"type\":\"version\"}\n", &mut handler),
            "{\"ok\":{\"type\":\"version\",\"version\":\"9.9.9\",\"protocol\":1}}\n"
        );
        let reply = handle_line("{\"type\":\"dance\"}", &mut handler);
        assert!(
            reply.starts_with("{\"error\":\"bad request: unknown variant `dance`"),
            "{reply}"
        );
        assert!(reply.ends_with("\"}\n") && reply.matches('\n').count() == 1);
    }

    #[test]
    fn a_connection_serves_requests_in_order_until_closed() {
        let input = b"{\"type\":\"version\"}\n\n{\"type\":\"skip\"}\n{\"type\":\"status\"}\n";
        let mut out = Vec::new();
        let end = serve_connection(&input[..], &mut out, echo_version).unwrap();
        assert_eq!(end, Served::Closed);
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].contains("9.9.9") && lines[1] == r#"{"ok":{"type":"done"}}"#);
        assert!(lines[2].starts_with(r#"{"error":"not here: Status"#));
    }

    #[test]
    fn an_accepted_watch_hands_the_connection_back() {
        let input = b"{\"type\":\"watch\"}\n{\"type\":\"version\"}\n";
        let mut out = Vec::new();
        let end = serve_connection(&input[..], &mut out, echo_version).unwrap();
        assert_eq!(end, Served::Watch);
        assert_eq!(
            out, b"{\"ok\":{\"type\":\"done\"}}\n",
            "nothing read past the watch"
        );
    }

    #[test]
    fn oversized_and_non_utf8_lines_end_the_connection_with_an_error() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.push(b'\n');
        let mut out = Vec::new();
        assert_eq!(
            serve_connection(&input[..], &mut out, echo_version).unwrap(),
            Served::Closed
        );
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("longer than 65536 bytes")
        );
        let mut out = Vec::new();
        serve_connection(&b"\xff\xfe\n"[..], &mut out, echo_version).unwrap();
        assert_eq!(out, b"{\"error\":\"bad request: not UTF-8\"}\n");
    }
}
