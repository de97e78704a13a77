//! The public face of ambientd's control plane: the musical parameters and the control-socket
//! protocol that the daemon, its config file, its WebSocket and the `ambientctl` client share.
//! This documentation is the protocol's specification.
//!
//! # Guarantees
//!
//! - One definition: [`Request`], [`Response`], [`Reply`], [`Event`], [`PROTOCOL_VERSION`] and
//!   the default socket path live here and nowhere else; the daemon depends on this crate with
//!   default features off (no clap), the CLI with the `cli` feature, whose subcommands *are*
//!   [`Request`]'s variants.
//! - Every value crossing the socket is validated on the way in: parameters are
//!   [`SynthesisParameters`] (valid by construction), and `set` values go through
//!   [`apply_set`] on both sides.
//! - Every error the daemon sends is one line of text, meant to be shown to a person as is.
//!
//! # Transport
//!
//! A Unix stream socket. The daemon listens on [`default_socket_path`] unless told otherwise:
//!
//! 1. `$RUNTIME_DIRECTORY/control.sock` — what systemd's `RuntimeDirectory=ambientd` gives,
//!    i.e. `/run/ambientd/control.sock` for the packaged service;
//! 2. else `$XDG_RUNTIME_DIR/ambientd/control.sock` — a daemon run by hand in a user session;
//! 3. else `/run/ambientd/control.sock`.
//!
//! `ambientctl` resolves the same default ([`resolve_socket_path`]), after `--socket PATH`
//! and `$AMBIENTD_SOCKET`; from a user shell whose default does not exist it falls back to
//! the system service's socket, so both setups work with no flags. Access control is the
//! socket file's mode and group (the service makes it 0660, group `ambientd`).
//!
//! # Framing
//!
//! Both directions carry UTF-8 JSON, one compact object per line, each line ending in `\n`
//! and at most [`MAX_LINE_BYTES`] long. It can be spoken by hand:
//!
//! ```text
//! $ echo '{"type":"get","param":"bpm"}' | socat - UNIX-CONNECT:/run/ambientd/control.sock
//! {"ok":{"type":"value","param":"bpm","value":70}}
//! ```
//!
//! # The exchange, step by step
//!
//! 1. The client connects.
//! 2. The client sends one request line, `{"type":"<verb>", ...}` ([`Request`]). A client that
//!    is unsure whom it talks to sends `{"type":"version"}` first; that request is the first
//!    variant and will be understood by every protocol version.
//! 3. The daemon answers with exactly one reply line ([`Reply`]): `{"ok":<response>}` where
//!    `<response>` is `{"type":"<kind>", ...}` ([`Response`]), or `{"error":"<one line>"}`
//!    when the request was malformed or refused (bad value, invalid config on reload, ...).
//! 4. The client may send further requests on the same connection; each gets its reply, in
//!    order. Closing the connection ends the session; the daemon keeps no per-client state.
//! 5. After a `watch` request answered with `{"ok":{"type":"done"}}`, the connection turns
//!    into a stream of event lines ([`Event`]), `{"type":"<event>", ...}`, starting with a
//!    `params` event carrying the current values, until the client disconnects. The daemon
//!    reads nothing more from a watching client. A watcher that reads too slowly skips ahead
//!    and is told how many events it missed (`missed`). When the daemon shuts down it sends
//!    `{"type":"stopping"}` and closes; a stream that ends without it was lost.
//!
//! # Messages
//!
//! | request line | reply line on success |
//! | --- | --- |
//! | `{"type":"version"}` | `{"ok":{"type":"version","version":"0.1.0","protocol":1}}` |
//! | `{"type":"status"}` | `{"ok":{"type":"status","params":{…},"backend":"cpu",…}}` ([`Status`]) |
//! | `{"type":"get"}` | `{"ok":{"type":"params","key":"A minor","bpm":70,"intensity":0.5,"seed":0}}` |
//! | `{"type":"get","param":"bpm"}` | `{"ok":{"type":"value","param":"bpm","value":70}}` |
//! | `{"type":"set","param":"bpm","value":"+5"}` | `{"ok":{"type":"params","key":"A minor","bpm":75,…}}` |
//! | `{"type":"skip"}` | `{"ok":{"type":"done"}}` (a new phrase from the next bar) |
//! | `{"type":"watch"}` | `{"ok":{"type":"done"}}`, then event lines |
//! | `{"type":"reload"}` | `{"ok":{"type":"done"}}` |
//!
//! Parameter names are `key`, `bpm`, `intensity`, `seed`. A `set` value is the text the user
//! typed: `"D minor"`, `"80"`, `"0.3"`, or a relative step `"+5"`/`"-0.1"` (bpm, intensity,
//! seed); the daemon applies it with [`apply_set`] and answers with all parameters now in
//! force, or with the error, e.g.
//! `{"error":"bpm: 123 (118+5) is out of range (allowed 40..=120)"}`.
//!
//! Event lines during a watch:
//!
//! ```text
//! {"type":"params","key":"D minor","bpm":80,"intensity":0.3,"seed":42}
//! {"type":"phrase","chords":["i","iv","V","i","VI","III","iv","V"]}
//! {"type":"underrun","sequence":1234}
//! {"type":"listener_joined","addr":"192.0.2.7:51234","listeners":1}
//! {"type":"listener_left","addr":"192.0.2.7:51234","listeners":0,"reason":"too slow"}
//! {"type":"missed","events":12}
//! {"type":"stopping"}
//! ```
//!
//! # Versioning and compatibility
//!
//! [`PROTOCOL_VERSION`] (now 1) names the protocol; `version` reports it next to the daemon's
//! package version, and `ambientctl version` warns when either differs from its own.
//!
//! - **Compatible changes keep the number**: a new request verb, a new response or event
//!   kind, a new field. Receivers ignore fields they do not know; fields added later have
//!   defaults, so a newer client reads an older daemon's [`Status`]; an unknown event kind
//!   decodes to [`Event::Unknown`] and is skipped; an unknown request verb gets an
//!   `{"error":"bad request: unknown variant ..."}` reply, not a dropped connection.
//! - **Incompatible changes raise the number**: removing or renaming a verb, kind or field,
//!   or changing what a value means or its type. `{"type":"version"}` and its reply's
//!   `version` and `protocol` fields never change, so any two versions can detect each other.
//!
//! # Using it
//!
//! Client side, [`Client`]:
//!
//! ```no_run
//! use ambientctl::{Client, Param, Request, Response, resolve_socket_path};
//!
//! let mut client = Client::connect(&resolve_socket_path(None))?;
//! let reply = client.call(&Request::Set { param: Param::Bpm, value: "+5".into() })?;
//! if let Response::Params(params) = reply {
//!     println!("bpm is now {}", params.bpm());
//! }
//! # Ok::<(), ambientctl::ClientError>(())
//! ```
//!
//! Daemon side: bind the socket with [`bind_control_socket`] (stale file replaced, live
//! daemon refused, mode 0660) and hold a [`RemoveOnDrop`] for it; answer each request line
//! with [`handle_line`] (any I/O model), or serve a blocking connection with
//! [`serve_connection`]; events go out with [`encode_event`]. A blocking daemon in full:
//!
//! ```no_run
//! use std::io::{BufReader, Write};
//! use std::os::unix::net::UnixStream;
//!
//! use ambientctl::{Event, PROTOCOL_VERSION, Request, Response, Served, SynthesisParameters};
//!
//! fn serve(stream: UnixStream, params: &mut SynthesisParameters) -> std::io::Result<()> {
//!     let mut writer = stream.try_clone()?;
//!     let served = ambientctl::serve_connection(BufReader::new(stream), &mut writer, |request| {
//!         match request {
//!             Request::Version => Ok(Response::Version {
//!                 version: env!("CARGO_PKG_VERSION").into(),
//!                 protocol: PROTOCOL_VERSION,
//!             }),
//!             Request::Get { param } => Ok(Response::for_get(params, param)),
//!             Request::Set { param, value } => {
//!                 *params = ambientctl::apply_set(params, param, &value).map_err(|e| e.to_string())?;
//!                 Ok(Response::Params(*params))
//!             }
//!             Request::Watch => Ok(Response::Done),
//!             other => Err(format!("{other:?} is not supported here")),
//!         }
//!     })?;
//!     if served == Served::Watch {
//!         writer.write_all(ambientctl::encode_event(&Event::Params(*params)).as_bytes())?;
//!         // ... then one line per event, until a write fails (the client left).
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

pub mod bind;
pub mod client;
pub mod display;
pub mod exact;
pub mod key;
#[cfg(feature = "manpage")]
pub mod manpage;
pub mod params;
pub mod protocol;
pub mod server;
pub mod set;
pub mod socket;
pub mod sources;
pub mod status;

pub use bind::{BindError, RemoveOnDrop, SOCKET_MODE, bind_control_socket};
pub use client::{Client, ClientError, Events, WatchLine};
pub use params::{Key, Mode, Param, ParamError, SynthesisParameters};
pub use protocol::{
    DecodeError, Event, MAX_LINE_BYTES, PROTOCOL_VERSION, Reply, Request, Response, Status,
    decode_event, decode_reply, decode_request, encode_event, encode_reply, encode_request,
};
pub use server::{Served, handle_line, serve_connection};
pub use set::{apply_set, check_set_value, is_relative};
pub use socket::{
    SOCKET_ENV, SOCKET_FILE_NAME, SYSTEM_SOCKET_PATH, default_socket_path, resolve_socket_path,
    socket_path_from,
};
pub use sources::{ParamChanges, ParamSources, Source};
