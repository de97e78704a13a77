//! The control socket's server: `ambientctl` requests ([`ambientctl::Request`]) in, replies
//! and watch events out, as the `ctl` crate documents. It only translates: parameters go
//! through [`Station::update_params`](crate::station::Station::update_params) (engine,
//! state file, listeners, watchers), events come from the station's stream, reloads go
//! through [`Core::reload`] like SIGHUP.

use std::sync::Arc;

use ambientctl::{
    Event, MAX_LINE_BYTES, PROTOCOL_VERSION, Reply, Request, Response, apply_set, encode_event,
    encode_reply, handle_line,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};

use super::Core;
use crate::shutdown::{Stop, stopped};
use crate::station::{self, TICK};

/// Accepts control connections until `stop` turns true. Each connection task holds a clone
/// of `tracker`, so shutdown can wait for them.
pub async fn serve(
    listener: UnixListener,
    core: Arc<Core>,
    mut stop: Stop,
    tracker: mpsc::Sender<()>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, core.clone(), stop.clone(), tracker.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "control socket: accept failed; retrying");
                    tokio::time::sleep(TICK).await;
                }
            },
            () = stopped(&mut stop) => return,
        }
    }
}

/// Serves one client: requests in order until it closes, or a watch until either side stops.
async fn connection(
    stream: UnixStream,
    core: Arc<Core>,
    mut stop: Stop,
    _tracker: mpsc::Sender<()>,
) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limited = (&mut reader).take(MAX_LINE_BYTES as u64 + 1);
        // A client that holds the socket and says nothing ties up a task and a descriptor.
        let idle = core.limits().control_idle_timeout();
        let read = tokio::select! {
            read = tokio::time::timeout(idle, read_line(limited, &mut line)) => match read {
                Ok(read) => read,
                Err(_) => {
                    let reason = format!(
                        "idle for {} s (see [limits] control_idle_timeout_s); closing",
                        idle.as_secs()
                    );
                    let _ = writer.write_all(encode_reply(&Err(reason)).as_bytes()).await;
                    return;
                }
            },
            () = stopped(&mut stop) => return,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = match std::str::from_utf8(&line) {
            Ok(_) if line.len() > MAX_LINE_BYTES => {
                let reason = format!("bad request: longer than {MAX_LINE_BYTES} bytes");
                let _ = writer
                    .write_all(encode_reply(&Err(reason)).as_bytes())
                    .await;
                return;
            }
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => text,
            Err(_) => {
                let reason = "bad request: not UTF-8".to_string();
                let _ = writer
                    .write_all(encode_reply(&Err(reason)).as_bytes())
                    .await;
                return;
            }
        };
        let mut watching = false;
        let mut changed = false;
        let mut reply = handle_line(text, &mut |request| {
            let wants_watch = request == Request::Watch;
            let is_set = matches!(request, Request::Set { .. });
            let reply = answer(&core, request);
            watching = wants_watch && reply.is_ok();
            changed = is_set && reply.is_ok();
            reply
        });
        // A confirmed `set` is on disk: the reply waits for the save, or says it failed.
        if changed && let Err(refusal) = core.stream.station.until_saved().await {
            reply = encode_reply(&Err(refusal));
        }
        // Subscribed before the reply goes out, so no event after it is missed.
        let events = watching.then(|| core.stream.station.subscribe());
        if writer.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
        if let Some(events) = events {
            watch_events(writer, events, &core, stop).await;
            return;
        }
    }
}

async fn read_line(
    mut reader: impl tokio::io::AsyncBufRead + Unpin,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    reader.read_until(b'\n', line).await
}

/// The reply to one request.
fn answer(core: &Core, request: Request) -> Reply {
    match request {
        Request::Version => Ok(Response::Version {
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: PROTOCOL_VERSION,
        }),
        Request::Status => Ok(Response::Status(core.status())),
        Request::Get { param } => Ok(Response::for_get(&core.stream.station.params(), param)),
        Request::Set { param, value } => core
            .stream
            .station
            .update_params(|current| apply_set(current, param, &value))
            .map(Response::Params),
        Request::Skip => {
            core.stream.station.skip().map_err(|e| e.to_string())?;
            tracing::info!("skip: a new phrase from the next bar");
            Ok(Response::Done)
        }
        Request::Watch => Ok(Response::Done),
        Request::Reload => core.reload().map(|changes| Response::Reloaded { changes }),
        Request::Reset { param } => {
            let params = core.stream.station.reset(param)?;
            let which = param.map_or("every parameter".to_string(), |p| p.to_string());
            tracing::info!("reset {which} to the config's value");
            Ok(Response::Params(params))
        }
    }
}

/// Streams events to a watcher: the parameters in force first, then each event, until the
/// client goes away or the daemon stops (`stopping` is the last line then).
async fn watch_events(
    mut writer: OwnedWriteHalf,
    mut events: broadcast::Receiver<station::Event>,
    core: &Core,
    mut stop: Stop,
) {
    let first = encode_event(&Event::Params(core.stream.station.params()));
    if writer.write_all(first.as_bytes()).await.is_err() {
        return;
    }
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => match watch_event(event) {
                    Some(event) => event,
                    None => continue,
                },
                // Events are news, not state: a watcher that fell behind skips to the present.
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a control watcher fell behind");
                    Event::Missed { events: missed }
                }
                Err(broadcast::error::RecvError::Closed) => Event::Stopping,
            },
            () = stopped(&mut stop) => Event::Stopping,
        };
        let last = event == Event::Stopping;
        if writer
            .write_all(encode_event(&event).as_bytes())
            .await
            .is_err()
            || last
        {
            return;
        }
    }
}

/// A station event as a `watch` line's event; `None` for those the protocol does not carry.
fn watch_event(event: station::Event) -> Option<Event> {
    Some(match event {
        station::Event::Params(params) => Event::Params(params),
        station::Event::Phrase(phrase) => Event::Phrase {
            chords: phrase.chords.iter().map(|c| c.to_string()).collect(),
        },
        station::Event::Underrun(underrun) => Event::Underrun {
            sequence: underrun.sequence,
        },
        station::Event::ListenerJoined {
            addr, listeners, ..
        } => Event::ListenerJoined {
            addr: addr.to_string(),
            listeners,
        },
        station::Event::ListenerLeft {
            addr,
            listeners,
            reason,
        } => Event::ListenerLeft {
            addr: addr.to_string(),
            listeners,
            reason: reason.map(str::to_string),
        },
        station::Event::Stopping => Event::Stopping,
        station::Event::BackendFellBack { .. } => return None,
    })
}
