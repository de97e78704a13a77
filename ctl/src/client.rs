//! A small blocking client for the control socket (std only, no async runtime): connect,
//! send requests, read replies, follow a watch.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::{
    DecodeError, Event, MAX_LINE_BYTES, Request, Response, decode_event, decode_reply,
    encode_request,
};
use crate::socket::SOCKET_ENV;

/// How long a request waits for its reply before giving up, so a wedged daemon cannot hang
/// a script. Watches wait for events without limit.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to the daemon. Every message names the socket.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be connected to (no daemon, wrong path, no permission).
    #[error(
        "cannot reach ambientd at {}: {} (is the daemon running? set --socket or {SOCKET_ENV})",
        path.display(), os_reason(source)
    )]
    Connect {
        /// The socket path tried.
        path: PathBuf,
        /// Why connecting failed.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the connection failed (including a reply timeout).
    #[error("talking to ambientd at {}: {}", path.display(), os_reason(source))]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The daemon closed the connection before replying.
    #[error("ambientd at {} closed the connection without replying", path.display())]
    Closed {
        /// The socket path.
        path: PathBuf,
    },
    /// The daemon sent a line this client cannot read: usually a version mismatch.
    #[error(
        "ambientd at {} sent a reply this ambientctl does not understand ({source}); \
         compare versions with `ambientctl version`", path.display()
    )]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What did not parse.
        #[source]
        source: DecodeError,
    },
    /// The daemon understood the request and refused it; the reason is its one-line error.
    #[error("ambientd refused: {reason}")]
    Refused {
        /// The daemon's reason.
        reason: String,
    },
}

/// An I/O error's message without Rust's " (os error N)" suffix, so a user sees
/// "No such file or directory" as other tools print it.
fn os_reason(err: &io::Error) -> String {
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

/// One connection to the daemon.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
        })
    }

    /// The socket this client is connected to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends `request` and returns the daemon's response; a refusal is
    /// [`ClientError::Refused`] carrying the daemon's one-line reason.
    pub fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        self.set_timeout(Some(REPLY_TIMEOUT))?;
        let stream = self.reader.get_mut();
        stream
            .write_all(encode_request(request).as_bytes())
            .map_err(|source| self.io(source))?;
        let line = self.read_line()?.ok_or_else(|| ClientError::Closed {
            path: self.path.clone(),
        })?;
        decode_reply(&line)
            .map_err(|source| ClientError::Protocol {
                path: self.path.clone(),
                source,
            })?
            .map_err(|reason| ClientError::Refused { reason })
    }

    /// Starts a watch: sends [`Request::Watch`], checks the reply, and returns the event
    /// stream, which ends when the daemon closes the connection.
    pub fn watch(mut self) -> Result<Events, ClientError> {
        self.call(&Request::Watch)?;
        self.set_timeout(None)?;
        Ok(Events { client: self })
    }

    fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|source| self.io(source))
    }

    /// Reads one line, bounded by [`MAX_LINE_BYTES`]; `None` at end of stream.
    fn read_line(&mut self) -> Result<Option<String>, ClientError> {
        let mut line = String::new();
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_line(&mut line)
            .map_err(|source| self.io(source))?;
        if read == 0 {
            return Ok(None);
        }
        if line.len() > MAX_LINE_BYTES {
            let too_long = io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a line longer than {MAX_LINE_BYTES} bytes"),
            );
            return Err(self.io(too_long));
        }
        Ok(Some(line))
    }

    fn io(&self, source: io::Error) -> ClientError {
        ClientError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// One event of a watch, with the line it came from (for `--json`, which passes lines
/// through untouched, unknown kinds included).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchLine {
    /// The decoded event ([`Event::Unknown`] for kinds newer than this client).
    pub event: Event,
    /// The JSON line as received, without its newline.
    pub json: String,
}

/// The events of a watch, in the order the daemon sent them. Ends (`None`) when the daemon
/// closes the connection; after [`Event::Stopping`] that is a clean end, otherwise the
/// connection was lost.
#[derive(Debug)]
pub struct Events {
    client: Client,
}

impl Iterator for Events {
    type Item = Result<WatchLine, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.client.read_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(err) => return Some(Err(err)),
            };
            let json = line.trim_end_matches(['\n', '\r']);
            if json.trim().is_empty() {
                continue;
            }
            return Some(match decode_event(json) {
                Ok(event) => Ok(WatchLine {
                    event,
                    json: json.to_string(),
                }),
                Err(source) => Err(ClientError::Protocol {
                    path: self.client.path.clone(),
                    source,
                }),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_name_the_socket_and_the_reason_in_one_line() {
        let dir = std::env::temp_dir().join(format!("ambientctl-test-{}", std::process::id()));
        let path = dir.join("control.sock");
        let err = Client::connect(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "cannot reach ambientd at {}: No such file or directory \
                 (is the daemon running? set --socket or AMBIENTD_SOCKET)",
                path.display()
            )
        );
    }
}
